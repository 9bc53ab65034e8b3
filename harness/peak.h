#ifndef SGDSYNC_HARNESS_PEAK_H
#define SGDSYNC_HARNESS_PEAK_H

/* The calling core's FP32 peak: a loop of independent multiply-adds at the widest vector width
 * the CPU and OS allow (workloads/cpufeat.h), chosen at run time, so the binary still runs on
 * any x86-64. Enough accumulators to cover the FMA latency of two pipes; timed on the thread's
 * CPU clock (time spent preempted is no part of it); the best of several trials of about 2 ms
 * each, the first of which warm the core up. Off x86-64 a scalar loop, which says so. */

typedef struct {
	double flops;    /* per second: 2 per multiply-add and lane */
	const char *isa; /* "avx512", "avx2+fma", "sse" (mul + add) or "scalar" */
} peak_fp32;

peak_fp32 peak_fp32_measure(void);

#endif
