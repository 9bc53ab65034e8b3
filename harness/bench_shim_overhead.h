#ifndef SGDSYNC_HARNESS_BENCH_SHIM_OVERHEAD_H
#define SGDSYNC_HARNESS_BENCH_SHIM_OVERHEAD_H

/* The loop bodies both sides of sgdsync-bench-shim-overhead run. The empty asm makes x opaque,
 * so the compiler keeps every step and cannot fold the loop.
 *   add  one dependent add per iteration (1 cycle): loop control shows through; at this size
 *        code alignment alone moves the result by tens of percent either way
 *   mul  x = x * K + 1 (a multiply and an add: a 4-cycle dependency chain): the body a shim must not slow down */
#define SHIM_OVERHEAD_ADD(x) \
	do { \
		(x)++; \
		__asm__ __volatile__("" : "+r"(x)); \
	} while (0)

#define SHIM_OVERHEAD_MUL(x) \
	do { \
		(x) = (x) * 0x9e3779b97f4a7c15ull + 1; \
		__asm__ __volatile__("" : "+r"(x)); \
	} while (0)

#define SHIM_OVERHEAD_BATCH 64

#ifdef __cplusplus
extern "C" {
#endif

/* Registers the C++ twins (shim/.../cxx) straight on Google Benchmark. */
void shim_overhead_register_cxx(void);

#ifdef __cplusplus
}
#endif

#endif
