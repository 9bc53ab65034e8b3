/* sgdsync-bench-shim-overhead: the same trivial loop through the C shim (here) and directly in
 * C++ (bench_shim_overhead.cc), registered side by side: their times differ by what the shim
 * costs per iteration. */

#include <stdint.h>

#include "harness/bench.h"
#include "harness/bench_shim_overhead.h"

static void loop_c(bench_state *st)
{
	uint64_t x = 0;
	BENCH_LOOP(st)
		SHIM_OVERHEAD_BODY(x);
}

static void batch_c(bench_state *st)
{
	uint64_t x = 0;
	while (bench_keep_running_batch(st, SHIM_OVERHEAD_BATCH))
		for (int i = 0; i < SHIM_OVERHEAD_BATCH; i++)
			SHIM_OVERHEAD_BODY(x);
}

static void register_all(const bench_options *opts)
{
	(void)opts;
	bench_register("shim/loop/c", loop_c, NULL, 0);
	shim_overhead_register_cxx_loop("shim/loop/cxx");
	bench_register("shim/batch/c", batch_c, NULL, 0);
	shim_overhead_register_cxx_batch("shim/batch/cxx");
}

int main(int argc, char **argv) { return bench_main(argc, argv, register_all); }
