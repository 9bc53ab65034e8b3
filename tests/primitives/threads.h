#ifndef SGDSYNC_TESTS_THREADS_H
#define SGDSYNC_TESTS_THREADS_H

/* Runs fn(arg_i) on n threads, args spaced `stride` bytes apart, and joins them all. */

#include <pthread.h>
#include <stdlib.h>

static inline void run_threads(int n, void *(*fn)(void *), void *args, size_t stride)
{
	pthread_t *t = malloc((size_t)n * sizeof(*t));
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, (char *)args + (size_t)i * stride) != 0)
			abort();
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	free(t);
}

#endif
