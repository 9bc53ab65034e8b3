/* A benchmark binary on the shim whose JSON output test_bench_shim checks: every value it
 * reports is known in advance, so the test can check what the shim and Google Benchmark made of
 * it (names, argument names, thread counts, counter flags, setup/teardown, per-thread records,
 * pinning, skipping). */

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness/bench.h"

#define SHARED_MAGIC 0x5eedu

typedef struct {
	unsigned magic;
} shared_data;

typedef struct {
	int64_t iterations;
} thread_record;

static void *setup_shared(bench_state *st)
{
	shared_data *s = malloc(sizeof *s);
	if (!s) {
		bench_skip_with_error(st, "out of memory");
		return NULL;
	}
	s->magic = SHARED_MAGIC;
	return s;
}

/* Sums what every thread left in its record: only right if teardown runs after all of them. */
static void teardown_shared(bench_state *st)
{
	int64_t sum = 0;
	for (int i = 0; i < bench_state_threads(st); i++)
		sum += ((thread_record *)bench_state_local_of(st, i))->iterations;
	bench_counter(st, "teardown_iterations", (double)sum, BENCH_TOTAL);
	free(bench_state_shared(st));
}

/* Each thread: one loop, then counters whose combined values the test predicts. */
static void run_counters(bench_state *st)
{
	const shared_data *s = bench_state_shared(st);
	int idx = bench_state_thread_index(st);
	uint64_t x = 0;
	BENCH_LOOP(st)
		__asm__ __volatile__("" : "+r"(x));
	int64_t iters = bench_state_iterations(st);
	int pu = bench_state_pu(st);
	pin_policy pin = bench_options_get()->pin;

	((thread_record *)bench_state_local(st))->iterations = iters;
	bench_counter(st, "total", 1.0, BENCH_TOTAL);
	bench_counter(st, "per_thread", (double)(idx + 1), BENCH_AVG_THREADS);
	bench_counter(st, "per_op", (double)iters, BENCH_AVG_ITERATIONS);
	bench_counter(st, "invariant", 2.0, BENCH_ITERATION_INVARIANT);
	bench_counter(st, "rate", 3.0, BENCH_RATE);
	bench_counter(st, "shared_ok", s && s->magic == SHARED_MAGIC, BENCH_TOTAL);
	bench_counter(st, "pinned_ok", pin == PIN_NONE ? pu == -1 : (pu == pin_pu_for(pin, idx) && sched_getcpu() == pu),
		      BENCH_TOTAL);
	bench_set_items_processed(st, iters);
}

/* Batches of 10: the iterations counted include the overshoot of the last batch. A pause in
 * the first batch must not disturb the count. */
static void run_batch(bench_state *st)
{
	int64_t batches = 0;
	BENCH_LOOP_BATCH(st, 10) {
		if (batches++ == 0) {
			bench_pause_timing(st);
			bench_resume_timing(st);
		}
	}
	bench_counter(st, "batches_x10_per_op", (double)(batches * 10), BENCH_AVG_ITERATIONS);
}

static void run_args(bench_state *st)
{
	int64_t a = bench_state_range(st, 0), b = bench_state_range(st, 1);
	BENCH_LOOP(st) {}
	bench_counter(st, "arg_sum", (double)(a + b), BENCH_AVG_THREADS);
}

static void *setup_refuse(bench_state *st)
{
	bench_skip_with_error(st, "setup refused on purpose");
	return NULL;
}

static void run_never(bench_state *st)
{
	BENCH_LOOP(st) {}
	bench_counter(st, "ran", 1.0, BENCH_TOTAL);
}

/* Thread 1 gives up inside its loop and leaves it, thread 2 gives up before it, thread 3 gives
 * up inside it and runs on to the end: none may leave the others waiting. */
static void run_skip_some(bench_state *st)
{
	int idx = bench_state_thread_index(st);
	if (idx == 2) {
		bench_skip_with_error(st, "thread 2 skipped before its loop");
		return;
	}
	int skipped = 0;
	BENCH_LOOP(st)
	{
		if (idx == 1) {
			bench_skip_with_error(st, "thread 1 skipped inside its loop");
			break;
		}
		if (idx == 3 && !skipped) {
			bench_skip_with_error(st, "thread 3 skipped inside its loop");
			skipped = 1;
		}
	}
}

/* Thread 1 of the process's first run of this benchmark fails; every later run works. Google
 * Benchmark 1.7.1 crashes computing the aggregates of such repetitions, so the shim fails the
 * later ones with the first. */
static int fail_first_runs; /* written by setup before the start barrier */

static void *setup_fail_first(bench_state *st)
{
	(void)st;
	fail_first_runs++;
	return &fail_first_runs;
}

static void run_fail_first(bench_state *st)
{
	if (fail_first_runs == 1 && bench_state_thread_index(st) == 1) {
		bench_skip_with_error(st, "the first run failed on purpose");
		return;
	}
	BENCH_LOOP(st) {}
}

static void register_all(const bench_options *o)
{
	(void)o;
	bench_family *b = bench_register("shimtest/counters", run_counters, NULL, 0);
	bench_setup(b, setup_shared, teardown_shared);
	bench_local_size(b, sizeof(thread_record));
	bench_threads(b, 1);
	bench_threads(b, 3);
	bench_threads(b, 8);
	bench_use_real_time(b);

	b = bench_register("shimtest/batch", run_batch, NULL, 0);
	bench_threads(b, 2);
	bench_use_real_time(b);

	b = bench_register("shimtest/args", run_args, NULL, 0);
	bench_arg_names(b, "cs", "read_pct");
	bench_args_product(b, BENCH_LIST(16, 1024), BENCH_LIST(50));
	bench_use_real_time(b);

	b = bench_register("shimtest/skip_some", run_skip_some, NULL, 0);
	bench_threads(b, 4);

	b = bench_register("shimtest/skip", run_never, NULL, 0);
	bench_setup(b, setup_refuse, NULL);
	bench_threads(b, 2);

	b = bench_register("shimtest/fail_first", run_fail_first, NULL, 0);
	bench_setup(b, setup_fail_first, NULL);
	bench_threads(b, 2);
}

int main(int argc, char **argv) { return bench_main(argc, argv, register_all); }
