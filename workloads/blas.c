#include "workloads/blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <cblas.h>

static int blas_serial;

static void blas_check_once(void)
{
	/* openblas_get_parallel: 0 sequential build, 1 pthreads, 2 OpenMP. */
	blas_serial = openblas_get_parallel() == 0;
	if (blas_serial)
		return;
	openblas_set_num_threads(1);
	fprintf(stderr,
		"sgdsync: warning: the loaded OpenBLAS is a threaded build (%s); limited to one "
		"thread per caller. Its idle pool threads remain; install libopenblas0-serial.\n",
		openblas_get_config());
}

int blas_single_thread(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, blas_check_once);
	return blas_serial;
}

const char *blas_config(void)
{
	return openblas_get_config();
}

/* Debian's serial OpenBLAS (0.3.21+ds-4) is built without USE_LOCKING: its scratch-buffer
 * allocator claims a free slot with an unlocked test-then-set, so two threads in sgemm at once
 * can be handed the same buffer and silently compute wrong products (measured: up to 6% of the
 * products of 8 threads on 2 cores wrong). OpenBLAS calls its allocator through the PLT, so
 * these definitions, exported from the executable, take its place. A thread's first buffer
 * comes from the library's allocator under one mutex and then stays the thread's own until it
 * exits: its later sgemm calls take no lock at all, however many workers run (a shared lock
 * would be one more synchronization point inside every gradient). A second buffer held at the
 * same time, rare, goes through the mutex each time. The threaded builds lock in there
 * themselves; this is then merely redundant. The link option --undefined=blas_memory_alloc
 * (workloads/CMakeLists.txt) makes every binary carry these. */
void *blas_memory_alloc(int procpos);
void blas_memory_free(void *buffer);

static pthread_mutex_t blas_memory_lock = PTHREAD_MUTEX_INITIALIZER;
static void *(*blas_memory_alloc_next)(int);
static void (*blas_memory_free_next)(void *);
static pthread_key_t blas_memory_key; /* its destructor returns a thread's buffer */
static _Thread_local void *blas_buffer;
static _Thread_local int blas_buffer_busy;

static void *blas_memory_alloc_locked(int procpos)
{
	void *buffer;

	pthread_mutex_lock(&blas_memory_lock);
	buffer = blas_memory_alloc_next(procpos);
	pthread_mutex_unlock(&blas_memory_lock);
	return buffer;
}

static void blas_memory_free_locked(void *buffer)
{
	pthread_mutex_lock(&blas_memory_lock);
	blas_memory_free_next(buffer);
	pthread_mutex_unlock(&blas_memory_lock);
}

static void blas_memory_setup(void)
{
	/* POSIX: a dlsym result converts to a function pointer through an object pointer */
	*(void **)&blas_memory_alloc_next = dlsym(RTLD_NEXT, "blas_memory_alloc");
	*(void **)&blas_memory_free_next = dlsym(RTLD_NEXT, "blas_memory_free");
	if (!blas_memory_alloc_next || !blas_memory_free_next ||
	    pthread_key_create(&blas_memory_key, blas_memory_free_locked)) {
		fprintf(stderr, "sgdsync: cannot wrap OpenBLAS's blas_memory_alloc/free: %s\n",
			dlerror());
		abort();
	}
}

void *blas_memory_alloc(int procpos)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	void *buffer;

	if (blas_buffer && !blas_buffer_busy) {
		blas_buffer_busy = 1;
		return blas_buffer;
	}
	pthread_once(&once, blas_memory_setup);
	buffer = blas_memory_alloc_locked(procpos);
	if (!blas_buffer && buffer) {
		blas_buffer = buffer;
		blas_buffer_busy = 1;
		pthread_setspecific(blas_memory_key, buffer);
	}
	return buffer;
}

void blas_memory_free(void *buffer)
{
	if (buffer == blas_buffer)
		blas_buffer_busy = 0;
	else
		blas_memory_free_locked(buffer);
}
