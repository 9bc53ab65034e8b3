// The C++ side of sgdsync-bench-shim-overhead: Google Benchmark used directly, pinned like the
// shim pins its threads so that both sides run where --pin says.

#include <benchmark/benchmark.h>

#include <cstdint>

#include "harness/bench.h"
#include "harness/bench_shim_overhead.h"

static void loop_cxx(benchmark::State &state)
{
	pin_self(bench_options_get()->pin, state.thread_index());
	uint64_t x = 0;
	for (auto _ : state)
		SHIM_OVERHEAD_BODY(x);
}

static void batch_cxx(benchmark::State &state)
{
	pin_self(bench_options_get()->pin, state.thread_index());
	uint64_t x = 0;
	while (state.KeepRunningBatch(SHIM_OVERHEAD_BATCH))
		for (int i = 0; i < SHIM_OVERHEAD_BATCH; i++)
			SHIM_OVERHEAD_BODY(x);
}

extern "C" void shim_overhead_register_cxx_loop(const char *name) { benchmark::RegisterBenchmark(name, loop_cxx); }
extern "C" void shim_overhead_register_cxx_batch(const char *name) { benchmark::RegisterBenchmark(name, batch_cxx); }
