// The C++ side of sgdsync-bench-shim-overhead: Google Benchmark used directly, each thread
// pinned as the shim pins its own, so that both sides run where --pin says.

#include <benchmark/benchmark.h>

#include <cstdint>

#include "harness/bench.h"
#include "harness/bench_shim_overhead.h"

template <void (*step)(uint64_t &)> static void loop_cxx(benchmark::State &state)
{
	pin_self(bench_options_get()->pin, state.thread_index());
	uint64_t x = 0;
	for (auto _ : state)
		step(x);
}

template <void (*step)(uint64_t &)> static void batch_cxx(benchmark::State &state)
{
	pin_self(bench_options_get()->pin, state.thread_index());
	uint64_t x = 0;
	while (state.KeepRunningBatch(SHIM_OVERHEAD_BATCH))
		for (int i = 0; i < SHIM_OVERHEAD_BATCH; i++)
			step(x);
}

static inline void add(uint64_t &x) { SHIM_OVERHEAD_ADD(x); }
static inline void mul(uint64_t &x) { SHIM_OVERHEAD_MUL(x); }

extern "C" void shim_overhead_register_cxx(void)
{
	benchmark::RegisterBenchmark("shim/loop/add/cxx", loop_cxx<add>);
	benchmark::RegisterBenchmark("shim/loop/mul/cxx", loop_cxx<mul>);
	benchmark::RegisterBenchmark("shim/batch/add/cxx", batch_cxx<add>);
	benchmark::RegisterBenchmark("shim/batch/mul/cxx", batch_cxx<mul>);
}
