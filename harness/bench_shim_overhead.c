/* sgdsync-bench-shim-overhead: the same trivial loops through the C shim (here) and directly in
 * C++ (bench_shim_overhead.cc), registered side by side: shim/<loop|batch>/<add|mul>/<c|cxx>.
 * Their times differ by what the shim costs per iteration. */

#include <stdint.h>

#include "harness/bench.h"
#include "harness/bench_shim_overhead.h"

#define DEFINE_LOOP(body, BODY) \
	static void loop_##body(bench_state *st) \
	{ \
		uint64_t x = 0; \
		BENCH_LOOP(st) \
			BODY(x); \
	}

#define DEFINE_BATCH(body, BODY) \
	static void batch_##body(bench_state *st) \
	{ \
		uint64_t x = 0; \
		BENCH_LOOP_BATCH(st, SHIM_OVERHEAD_BATCH) \
			for (int i = 0; i < SHIM_OVERHEAD_BATCH; i++) \
				BODY(x); \
	}

DEFINE_LOOP(add, SHIM_OVERHEAD_ADD)
DEFINE_LOOP(mul, SHIM_OVERHEAD_MUL)
DEFINE_BATCH(add, SHIM_OVERHEAD_ADD)
DEFINE_BATCH(mul, SHIM_OVERHEAD_MUL)

static void register_all(const bench_options *opts)
{
	(void)opts;
	bench_register("shim/loop/add/c", loop_add, NULL, 0);
	bench_register("shim/loop/mul/c", loop_mul, NULL, 0);
	bench_register("shim/batch/add/c", batch_add, NULL, 0);
	bench_register("shim/batch/mul/c", batch_mul, NULL, 0);
	shim_overhead_register_cxx();
}

int main(int argc, char **argv) { return bench_main(argc, argv, register_all); }
