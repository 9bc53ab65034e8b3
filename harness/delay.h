#ifndef SGDSYNC_HARNESS_DELAY_H
#define SGDSYNC_HARNESS_DELAY_H

/* A calibrated busy delay of a given number of nanoseconds: the stand-in for a gradient's
 * computation in the benchmarks (work_ns), which is what spaces the updates out in SGD. */

#include <stdint.h>

/* Times the spin loop (the fastest of a few runs: on a loaded machine a slower one was
 * preempted) and records the rate in the JSON context as sgdsync_delay_iters_per_ns. Call it
 * once from register_all, before any delay_iters. */
void delay_calibrate(void);
/* Spin iterations that take ns nanoseconds. */
uint64_t delay_iters(int64_t ns);

static inline void delay_spin(uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++)
		__asm__ __volatile__("");
}

#endif
