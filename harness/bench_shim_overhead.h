#ifndef SGDSYNC_HARNESS_BENCH_SHIM_OVERHEAD_H
#define SGDSYNC_HARNESS_BENCH_SHIM_OVERHEAD_H

/* The loop body both sides of sgdsync-bench-shim-overhead run: one add the compiler must keep
 * (the empty asm makes x opaque), about one cycle. */
#define SHIM_OVERHEAD_BODY(x) \
	do { \
		(x)++; \
		__asm__ __volatile__("" : "+r"(x)); \
	} while (0)

#define SHIM_OVERHEAD_BATCH 64

#ifdef __cplusplus
extern "C" {
#endif

/* Register the C++ twins of the C benchmarks, straight on Google Benchmark. */
void shim_overhead_register_cxx_loop(const char *name);
void shim_overhead_register_cxx_batch(const char *name);

#ifdef __cplusplus
}
#endif

#endif
