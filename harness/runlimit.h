#ifndef SGDSYNC_HARNESS_RUNLIMIT_H
#define SGDSYNC_HARNESS_RUNLIMIT_H

/* --run-limit for one benchmark run: a timer thread raises a flag when the limit has passed,
 * and every benchmark thread reads the flag before each operation, so that each stops after the
 * one operation it is in. Checking the clock in the loop instead (once per 64 operations, to
 * keep it cheap) let a FIFO lock handed to preempted threads run on for 64 rounds of every
 * thread: 64 s at 32 threads for a 5 s limit. The threads queued at the limit still take the
 * lock in turn, which stays slow when the waiters far outnumber the cores (each handover waits
 * until its one successor is scheduled). The flag sits on its own cache lines and is written
 * once, so reading it costs a load from the reader's cache. */

#include <pthread.h>
#include <stdatomic.h>

#include "primitives/cacheline.h"

typedef struct {
	CACHELINE_ALIGNED _Atomic int expired;
	CACHELINE_ALIGNED pthread_t timer;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;  /* under mu */
	double limit_s;
} run_limit;

/* Starts the timer: the flag rises limit_s seconds from now. Returns 0 or an errno value. */
int run_limit_start(run_limit *rl, double limit_s);
/* Stops and joins the timer (whether or not the flag has risen). */
void run_limit_stop(run_limit *rl);

/* Relaxed: the flag only says when to stop; it publishes nothing. */
static inline int run_limit_expired(const run_limit *rl)
{
	return atomic_load_explicit(&rl->expired, memory_order_relaxed);
}

#endif
