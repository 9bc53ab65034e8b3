#include "harness/peak.h"

#include <time.h>

#include "workloads/cpufeat.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define PEAK_TRIALS 12
#define PEAK_TRIAL_S 0.002

/* acc = acc * m + c converges to c / (1 - m): no overflow, no denormal. */
#define PEAK_M 0.9999f
#define PEAK_C 1e-4f

typedef float (*peak_loop)(long iters);

/* A sanitizer build would keep the accumulators in instrumented memory: a tenth of the peak. */
#define PEAK_LOOP __attribute__((no_sanitize("address", "thread", "undefined"))) static

#if defined(__x86_64__)
/* 24 of the 32 ZMM registers: latency 4 x 2 FMA pipes needs 8, wider cores more. */
__attribute__((target("avx512f"))) PEAK_LOOP float loop_avx512(long iters)
{
	enum { ACC = 24 };
	__m512 acc[ACC], m = _mm512_set1_ps(PEAK_M), c = _mm512_set1_ps(PEAK_C);

	for (int i = 0; i < ACC; i++)
		acc[i] = _mm512_set1_ps((float)i);
	for (long k = 0; k < iters; k++) {
#pragma GCC unroll 24
		for (int i = 0; i < ACC; i++)
			acc[i] = _mm512_fmadd_ps(acc[i], m, c);
	}
	for (int i = 1; i < ACC; i++)
		acc[0] = _mm512_add_ps(acc[0], acc[i]);
	return _mm512_reduce_add_ps(acc[0]);
}

/* 12 accumulators and the two constants fill the 16 YMM registers without a spill. */
__attribute__((target("avx2,fma"))) PEAK_LOOP float loop_avx2(long iters)
{
	enum { ACC = 12 };
	__m256 acc[ACC], m = _mm256_set1_ps(PEAK_M), c = _mm256_set1_ps(PEAK_C);
	float out[8];

	for (int i = 0; i < ACC; i++)
		acc[i] = _mm256_set1_ps((float)i);
	for (long k = 0; k < iters; k++) {
#pragma GCC unroll 12
		for (int i = 0; i < ACC; i++)
			acc[i] = _mm256_fmadd_ps(acc[i], m, c);
	}
	for (int i = 1; i < ACC; i++)
		acc[0] = _mm256_add_ps(acc[0], acc[i]);
	_mm256_storeu_ps(out, acc[0]);
	return out[0];
}

/* No FMA: a multiply and an add per lane, issued to separate pipes. */
PEAK_LOOP float loop_sse(long iters)
{
	enum { ACC = 12 };
	__m128 acc[ACC], m = _mm_set1_ps(PEAK_M), c = _mm_set1_ps(PEAK_C);

	for (int i = 0; i < ACC; i++)
		acc[i] = _mm_set1_ps((float)i);
	for (long k = 0; k < iters; k++) {
#pragma GCC unroll 12
		for (int i = 0; i < ACC; i++)
			acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], m), c);
	}
	for (int i = 1; i < ACC; i++)
		acc[0] = _mm_add_ps(acc[0], acc[i]);
	return _mm_cvtss_f32(acc[0]);
}
#endif

/* Another architecture: the compiler vectorises what it can; a lower bound on the peak. */
PEAK_LOOP float loop_scalar(long iters)
{
	enum { ACC = 32 };
	float acc[ACC];

	for (int i = 0; i < ACC; i++)
		acc[i] = (float)i;
	for (long k = 0; k < iters; k++)
		for (int i = 0; i < ACC; i++)
			acc[i] = acc[i] * PEAK_M + PEAK_C;
	for (int i = 1; i < ACC; i++)
		acc[0] += acc[i];
	return acc[0];
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile float peak_sink; /* the loops' results go here, so that they stay */

/* Seconds for iters iterations. */
static double time_loop(peak_loop loop, long iters)
{
	double t0 = cpu_now();

	peak_sink = loop(iters);
	return cpu_now() - t0;
}

peak_fp32 peak_fp32_measure(void)
{
	peak_fp32 p = {0, "scalar"};
	peak_loop loop = loop_scalar;
	double flops_per_iter = 2.0 * 32;
	cpufeat f;

	cpufeat_detect(&f);
	p.isa = cpufeat_fma_isa(&f);
#if defined(__x86_64__)
	if (f.avx512f)
		loop = loop_avx512, flops_per_iter = 2.0 * 16 * 24;
	else if (f.avx2 && f.fma)
		loop = loop_avx2, flops_per_iter = 2.0 * 8 * 12;
	else
		loop = loop_sse, flops_per_iter = 2.0 * 4 * 12;
#endif
	long iters = 1000;
	double s;
	while ((s = time_loop(loop, iters)) < PEAK_TRIAL_S / 4 && iters < (1L << 40))
		iters *= 2;
	iters = (long)((double)iters * PEAK_TRIAL_S / (s > 0 ? s : PEAK_TRIAL_S)) + 1;
	for (int t = 0; t < PEAK_TRIALS; t++) {
		double rate = flops_per_iter * (double)iters / time_loop(loop, iters);

		p.flops = rate > p.flops ? rate : p.flops;
	}
	return p;
}
