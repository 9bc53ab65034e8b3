#include "harness/delay.h"

#include <stdio.h>
#include <time.h>

#include "harness/bench.h"

static double delay_iters_per_ns;

static double seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void delay_calibrate(void)
{
	const uint64_t iters = 20 * 1000 * 1000;
	double best = 1e30;
	for (int i = 0; i < 5; i++) {
		double t0 = seconds_now();
		delay_spin(iters);
		double dt = seconds_now() - t0;
		best = dt < best ? dt : best;
	}
	delay_iters_per_ns = (double)iters / (best * 1e9);
	char text[64];
	snprintf(text, sizeof text, "%.4f", delay_iters_per_ns);
	bench_add_context("sgdsync_delay_iters_per_ns", text);
}

uint64_t delay_iters(int64_t ns) { return (uint64_t)((double)ns * delay_iters_per_ns + 0.5); }
