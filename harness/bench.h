#ifndef SGDSYNC_HARNESS_BENCH_H
#define SGDSYNC_HARNESS_BENCH_H

/* Google Benchmark (Debian's 1.7.1) for benchmarks written in C.
 *
 * A binary registers its benchmarks from a callback and hands its command line to bench_main:
 *
 *	static void run_faa(bench_state *st)
 *	{
 *		_Atomic uint64_t *slot = bench_state_shared(st);
 *		BENCH_LOOP(st)
 *			atomic_fetch_add_explicit(slot, 1, memory_order_relaxed);
 *		bench_set_items_processed(st, bench_state_iterations(st));
 *	}
 *	static void register_all(const bench_options *o)
 *	{
 *		bench_family *b = bench_register("atomics/faa/slot:shared", run_faa, NULL, 0);
 *		bench_setup(b, slot_alloc, slot_free);
 *		bench_threads_default(b);
 *		bench_use_real_time(b);
 *	}
 *	int main(int argc, char **argv) { return bench_main(argc, argv, register_all); }
 *
 * Flags: bench_main takes sgdsync's own flags (--pin, --placement, --counters, --grid,
 * --threads, --run-limit; see bench_main) out of argv and hands the rest to Google Benchmark, so that
 * --benchmark_filter, --benchmark_repetitions, --benchmark_min_time, --benchmark_out=F
 * --benchmark_out_format=json, ... work unchanged. The JSON context carries the environment
 * object (formats §1) as "sgdsync_environment", with "sgdsync_format" and "sgdsync_version".
 *
 * A run (one measurement of one benchmark with T threads; Google Benchmark makes several per
 * benchmark while it sizes the iteration count, and one per repetition) goes:
 *   1. T fresh threads start (1.7.1 has no thread-runner hook); thread i pins itself by --pin;
 *   2. thread 0 allocates T zeroed per-thread records (bench_local_size) and calls setup, whose
 *      result every thread reads with bench_state_shared;
 *   3. every thread waits for the others, then runs the benchmark function;
 *   4. every thread waits for the others; thread 0 calls teardown, which sees every thread's
 *      record and may set counters (they are thread 0's, so they count once), then frees.
 * Setup, teardown and the waits are outside the timed region, which is the benchmark loop.
 *
 * Counters: Google Benchmark sums each counter over the run's threads, then applies its flags:
 *   BENCH_TOTAL           the sum                                  (a total)
 *   BENCH_RATE            sum / wall seconds of the run            (a total rate, per second)
 *   BENCH_AVG_THREADS     sum / threads                            (a per-thread figure)
 *   BENCH_AVG_ITERATIONS  sum / iterations of all threads          (a per-operation figure)
 *   BENCH_ITERATION_INVARIANT  sum * iterations (value was per iteration)
 * and combinations (BENCH_RATE | BENCH_AVG_THREADS: per-thread rate). Our names say which:
 * "x/op" per operation, "x/thread" per thread, "x/s" a rate, no suffix a total. Wall seconds are
 * real time only for families with bench_use_real_time (all of ours); CPU time otherwise.
 * With --counters, the shim itself adds one "<counter>/op" per measured hardware or software
 * event (e.g. "context-switches/op", "task-clock-ns/op"), counted over each thread's loop;
 * events not measured are absent, never 0. */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "harness/topology.h"
#include "workloads/blas_core.h"

/* ---- Options (bench_main's flags) ---- */

#define BENCH_MAX_THREAD_COUNTS 32

typedef struct {
	pin_policy pin;         /* --pin=compact|scatter|none (default compact) */
	placement memory;       /* --placement=local|interleave|node:N (default local) */
	const char *counters;   /* --counters=auto|likwid[:GROUP]|perf|none (default auto) */
	int full_grid;          /* --grid=full; 0 for --grid=default */
	int nthreads;           /* thread counts: --threads=LIST, else the grid's list */
	int threads[BENCH_MAX_THREAD_COUNTS];
	double run_limit_s;     /* --run-limit=S (default max(5, 4 x --benchmark_min_time)):
				 * benchmarks that can stall (a lock handed to preempted threads)
				 * give up a run after S seconds */
} bench_options;

/* The options bench_main parsed; valid from the registration callback on. */
const bench_options *bench_options_get(void);

/* Parses sgdsync's flags, then Google Benchmark's, opens the counters, registers the binary's
 * benchmarks with register_all and runs those --benchmark_filter selects. Returns the exit
 * status: 0, or 2 for a bad or unknown flag (with a message naming it on stderr). */
int bench_main(int argc, char **argv, void (*register_all)(const bench_options *opts));

/* Adds key: value to the JSON context (Google Benchmark's AddCustomContext). */
void bench_add_context(const char *key, const char *value);
/* From register_all, in a binary that runs on OpenBLAS: its openblas_get_config() string becomes
 * the environment's versions.openblas (null otherwise). */
void bench_environment_blas(const char *openblas_config);
/* From register_all, in such a binary: blas_core_get() becomes the environment's "blas". */
void bench_environment_blas_core(const blas_core_info *core);

/* ---- Registration ---- */

typedef struct bench_state bench_state;   /* one per thread per run; see below */
typedef struct bench_family bench_family; /* a registered benchmark with its options */

typedef void (*bench_fn)(bench_state *st);
/* Thread 0, before any thread starts: returns the run's shared data. It may call
 * bench_skip_with_error; then every thread of the run skips with that message. */
typedef void *(*bench_setup_fn)(bench_state *st);
/* Thread 0, after every thread's bench_fn returned. */
typedef void (*bench_teardown_fn)(bench_state *st);

typedef struct {
	const int64_t *v;
	int n;
} bench_list;

typedef struct {
	int64_t lo, hi;
} bench_range;

#define BENCH_COUNT_(type, ...) ((int)(sizeof((type[]){__VA_ARGS__}) / sizeof(type)))
/* A list of int64 values: BENCH_LIST(1, 2, 8). */
#define BENCH_LIST(...) ((bench_list){(const int64_t[]){__VA_ARGS__}, BENCH_COUNT_(int64_t, __VA_ARGS__)})

/* Registers fn under name. arg (arg_size bytes) is copied and handed to every run through
 * bench_state_arg; with arg_size 0 the pointer itself is kept. */
bench_family *bench_register(const char *name, bench_fn fn, const void *arg, size_t arg_size);
void bench_setup(bench_family *b, bench_setup_fn setup, bench_teardown_fn teardown);
/* Per-thread records of bytes each, zeroed at the start of every run, each on its own cache
 * lines: bench_state_local, bench_state_local_of. */
void bench_local_size(bench_family *b, size_t bytes);

/* One argument tuple: bench_args(b, 64, 1024). */
#define bench_args(b, ...) bench_args_n((b), (const int64_t[]){__VA_ARGS__}, BENCH_COUNT_(int64_t, __VA_ARGS__))
void bench_args_n(bench_family *b, const int64_t *args, int n);
/* Every combination of the lists: bench_args_product(b, BENCH_LIST(1, 2), BENCH_LIST(64, 4096)). */
#define bench_args_product(b, ...) \
	bench_args_product_n((b), (const bench_list[]){__VA_ARGS__}, BENCH_COUNT_(bench_list, __VA_ARGS__))
void bench_args_product_n(bench_family *b, const bench_list *lists, int n);
/* Powers of the range multiplier (default 8) between lo and hi, both included, per argument. */
#define bench_ranges(b, ...) \
	bench_ranges_n((b), (const bench_range[]){__VA_ARGS__}, BENCH_COUNT_(bench_range, __VA_ARGS__))
void bench_ranges_n(bench_family *b, const bench_range *ranges, int n);
void bench_range_multiplier(bench_family *b, int multiplier);
/* Names shown in the benchmark name as name:value: bench_arg_names(b, "cs", "read_pct"). */
#define bench_arg_names(b, ...) \
	bench_arg_names_n((b), (const char *const[]){__VA_ARGS__}, BENCH_COUNT_(const char *, __VA_ARGS__))
void bench_arg_names_n(bench_family *b, const char *const *names, int n);

/* Thread counts; any count, also above the number of cores. */
void bench_threads(bench_family *b, int threads);
/* Powers of two from lo to hi, both included. */
void bench_thread_range(bench_family *b, int lo, int hi);
/* The thread counts of the options (--threads, or the grid's list). */
void bench_threads_default(bench_family *b);

void bench_use_real_time(bench_family *b);

typedef enum { BENCH_NS, BENCH_US, BENCH_MS, BENCH_S } bench_time_unit;
void bench_unit(bench_family *b, bench_time_unit unit);

/* ---- Inside a run ---- */

int bench_state_thread_index(const bench_state *st);
int bench_state_threads(const bench_state *st);
/* Argument i of the current tuple. */
int64_t bench_state_range(const bench_state *st, int i);
/* Iterations each thread runs in this run (Google Benchmark sizes it). */
int64_t bench_state_max_iterations(const bench_state *st);
/* Iterations this thread has run (after the loop: all of them). */
int64_t bench_state_iterations(const bench_state *st);
const void *bench_state_arg(const bench_state *st);
void *bench_state_shared(const bench_state *st);
void *bench_state_local(const bench_state *st);
void *bench_state_local_of(const bench_state *st, int thread_index);
/* Wall seconds of this thread's loop, pauses included; 0 before the loop has ended. */
double bench_state_loop_seconds(const bench_state *st);
/* The PU this thread was pinned to, -1 when unpinned. */
int bench_state_pu(const bench_state *st);

/* Memory placed by --placement (page-aligned, untouched: with local, the first thread to write a
 * page places it). On failure returns NULL and skips the run with the reason. Free with
 * bench_placed_free and the same size. */
void *bench_placed_alloc(bench_state *st, size_t bytes);
void bench_placed_free(void *p, size_t bytes);
/* A model's memory (primitives/memory.h) placed as sgdsync-train places it (placement_memory in
 * harness/topology.h: shared vectors by --placement, private ones on their thread's node by
 * --pin), for chain_create and model_config.memory. */
const memory_ops *bench_placed_memory(void);

/* The loop. Either
 *	BENCH_LOOP(st) { body }
 * which costs what Google Benchmark's `for (auto _ : state)` costs (a down-counter), or
 *	BENCH_LOOP_BATCH(st, k) { k iterations of work }
 * the same down-counter stepping by k: the iterations are rounded up to a multiple of k, and
 * those are the ones counted. A thread that calls bench_skip_with_error inside the loop should
 * leave it with break (otherwise it runs on to the end of its iterations); break for any other
 * reason is a mistake: the iterations left are counted as run. */
int64_t bench_loop_begin(bench_state *st, int64_t k);
void bench_loop_end(bench_state *st);

static inline int bench_loop_next_(bench_state *st, int64_t *left, int64_t k)
{
	if (__builtin_expect(*left > 0, 1)) {
		*left -= k;
		return 1;
	}
	bench_loop_end(st);
	return 0;
}

#define BENCH_LOOP(st) BENCH_LOOP_BATCH(st, 1)
#define BENCH_LOOP_BATCH(st, k) \
	for (int64_t bench_left_ = bench_loop_begin((st), (k)); bench_loop_next_((st), &bench_left_, (k));)

/* Inside the loop only: stop and restart this thread's timer and counters (costly: keep them
 * out of short loops). */
void bench_pause_timing(bench_state *st);
void bench_resume_timing(bench_state *st);

void bench_skip_with_error(bench_state *st, const char *msg);
int bench_error_occurred(const bench_state *st);

/* ---- Results ---- */

#define BENCH_TOTAL 0u
#define BENCH_RATE 1u
#define BENCH_AVG_THREADS 2u
#define BENCH_ITERATION_INVARIANT 4u
#define BENCH_AVG_ITERATIONS 8u
#define BENCH_INVERT (1u << 31)
/* Display with 1024 per k (bytes) instead of 1000. */
#define BENCH_BASE_1024 (1u << 30)

/* Sets this thread's value of a counter (it is summed over threads, then flags apply). */
void bench_counter(bench_state *st, const char *name, double value, unsigned flags);
/* Google Benchmark's items_per_second and bytes_per_second: totals per wall second. */
void bench_set_items_processed(bench_state *st, int64_t items);
void bench_set_bytes_processed(bench_state *st, int64_t bytes);
void bench_set_label(bench_state *st, const char *label);

#ifdef __cplusplus
}
#endif

#endif
