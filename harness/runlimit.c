#include "harness/runlimit.h"

#include <errno.h>
#include <time.h>

static void *timer_main(void *arg)
{
	run_limit *rl = arg;
	struct timespec at;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &at);
	at.tv_sec += (time_t)rl->limit_s;
	at.tv_nsec += (long)((rl->limit_s - (double)(time_t)rl->limit_s) * 1e9);
	if (at.tv_nsec >= 1000000000L) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&rl->mu);
	while (!rl->stopping && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&rl->cv, &rl->mu, &at);
	if (!rl->stopping)
		/* Relaxed: see run_limit_expired. */
		atomic_store_explicit(&rl->expired, 1, memory_order_relaxed);
	pthread_mutex_unlock(&rl->mu);
	return NULL;
}

int run_limit_start(run_limit *rl, double limit_s)
{
	pthread_condattr_t attr;
	int rc;

	atomic_init(&rl->expired, 0);
	rl->stopping = 0;
	rl->limit_s = limit_s;
	if ((rc = pthread_condattr_init(&attr)) != 0)
		return rc;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0 && (rc = pthread_cond_init(&rl->cv, &attr)) == 0) {
		pthread_mutex_init(&rl->mu, NULL);
		if ((rc = pthread_create(&rl->timer, NULL, timer_main, rl)) != 0) {
			pthread_mutex_destroy(&rl->mu);
			pthread_cond_destroy(&rl->cv);
		}
	}
	pthread_condattr_destroy(&attr);
	return rc;
}

void run_limit_stop(run_limit *rl)
{
	pthread_mutex_lock(&rl->mu);
	rl->stopping = 1;
	pthread_cond_signal(&rl->cv);
	pthread_mutex_unlock(&rl->mu);
	pthread_join(rl->timer, NULL);
	pthread_mutex_destroy(&rl->mu);
	pthread_cond_destroy(&rl->cv);
}
