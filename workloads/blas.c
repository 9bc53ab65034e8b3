#include "workloads/blas.h"

#include <pthread.h>
#include <stdio.h>

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
