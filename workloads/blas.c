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
 * can be handed the same buffer and silently compute wrong products (measured: 3-6% of the
 * results of 8 threads wrong). OpenBLAS calls its allocator through the PLT, so these
 * definitions, exported from the executable, take its place: each runs the library's own under
 * one mutex, which also orders one thread's last use of a buffer before another's first. The
 * threaded builds lock there themselves; this lock is then merely redundant. The link option
 * --undefined=blas_memory_alloc (workloads/CMakeLists.txt) makes every binary carry them. */
void *blas_memory_alloc(int procpos);
void blas_memory_free(void *buffer);

static pthread_mutex_t blas_memory_lock = PTHREAD_MUTEX_INITIALIZER;
static void *(*blas_memory_alloc_next)(int);
static void (*blas_memory_free_next)(void *);

/* Under blas_memory_lock. */
static void blas_memory_resolve(void)
{
	if (blas_memory_alloc_next)
		return;
	/* POSIX: a dlsym result converts to a function pointer through an object pointer */
	*(void **)&blas_memory_alloc_next = dlsym(RTLD_NEXT, "blas_memory_alloc");
	*(void **)&blas_memory_free_next = dlsym(RTLD_NEXT, "blas_memory_free");
	if (blas_memory_alloc_next && blas_memory_free_next)
		return;
	fprintf(stderr, "sgdsync: OpenBLAS's blas_memory_alloc/free not found: %s\n", dlerror());
	abort();
}

void *blas_memory_alloc(int procpos)
{
	void *buffer;

	pthread_mutex_lock(&blas_memory_lock);
	blas_memory_resolve();
	buffer = blas_memory_alloc_next(procpos);
	pthread_mutex_unlock(&blas_memory_lock);
	return buffer;
}

void blas_memory_free(void *buffer)
{
	pthread_mutex_lock(&blas_memory_lock);
	blas_memory_resolve();
	blas_memory_free_next(buffer);
	pthread_mutex_unlock(&blas_memory_lock);
}
