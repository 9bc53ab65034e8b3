// The C API of harness/bench.h over Google Benchmark 1.7.1: the only C++ file of sgdsync.

#include "harness/bench.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <strings.h>
#include <unistd.h>
#include <vector>

extern "C" {
#include <cjson/cJSON.h>

#include "harness/counters.h"
#include "harness/env.h"
#include "harness/jsonfile.h"
#include "primitives/cacheline.h"
}

namespace {

static_assert(BENCH_RATE == benchmark::Counter::kIsRate, "flag values follow Google Benchmark's");
static_assert(BENCH_AVG_THREADS == benchmark::Counter::kAvgThreads, "");
static_assert(BENCH_ITERATION_INVARIANT == benchmark::Counter::kIsIterationInvariant, "");
static_assert(BENCH_AVG_ITERATIONS == benchmark::Counter::kAvgIterations, "");
static_assert(BENCH_INVERT == (unsigned)benchmark::Counter::kInvert, "");

// Threads of one run wait here for each other (outside the timed region). Runs of a family
// follow each other, so one barrier per family serves all of them.
class RunBarrier {
      public:
	void wait(int n)
	{
		std::unique_lock<std::mutex> lock(mutex_);
		uint64_t generation = generation_;
		if (++waiting_ == n) {
			waiting_ = 0;
			generation_++;
			cond_.notify_all();
			return;
		}
		cond_.wait(lock, [&] { return generation_ != generation; });
	}

      private:
	std::mutex mutex_;
	std::condition_variable cond_;
	int waiting_ = 0;
	uint64_t generation_ = 0;
};

bench_options g_opts;
bool g_counting_enabled; // --counters other than none
const char *const g_counter_slots[] = {"bench"};

double now_seconds()
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

} // namespace

struct bench_family {
	benchmark::internal::Benchmark *gb = nullptr;
	bench_fn fn = nullptr;
	std::vector<unsigned char> arg_copy;
	const void *arg = nullptr;
	bench_setup_fn setup = nullptr;
	bench_teardown_fn teardown = nullptr;
	size_t local_size = 0;
	int nargs = 0; // the arguments of each of its benchmarks (Google Benchmark needs one count)

	// Benchmarks (threads, then arguments) a run of which has failed, with the first message.
	// Google Benchmark 1.7.1 crashes computing the aggregates of repetitions when the first
	// failed and two or more others did not (google/benchmark#1406, fixed after 1.9): so once
	// a run fails, the later repetitions of that benchmark fail with it, not run again.
	std::map<std::vector<int64_t>, std::string> failed;
	std::mutex run_error_mutex;
	std::string run_error; // the current run's first error, from any thread

	// The current run: written by thread 0 before the start barrier, read after it.
	RunBarrier barrier;
	void *shared = nullptr;
	unsigned char *locals = nullptr;
	size_t local_stride = 0;
	std::string setup_error;
};

struct bench_state {
	benchmark::State *gb;
	bench_family *f;
	counter_set *counters = nullptr;
	int pu = -1;
	bool in_setup = false;
	bool started = false;  // the loop has begun
	bool finished = false; // the loop has ended (or never began because of an error)
	bool counting = false; // counters are running
	int64_t consumed = 0;  // iterations handed out by keep_running_batch
	double t_begin = 0, t_end = 0;
};

namespace {

std::vector<std::unique_ptr<bench_family>> g_families;

std::vector<int64_t> run_key(const bench_family *f, const benchmark::State &gs)
{
	std::vector<int64_t> key{gs.threads()};
	for (int i = 0; i < f->nargs; i++)
		key.push_back(gs.range(i));
	return key;
}

void run_begin(bench_family *f, bench_state *st, int threads)
{
	f->setup_error.clear();
	f->run_error.clear();
	f->shared = nullptr;
	auto earlier = f->failed.find(run_key(f, *st->gb));
	if (earlier != f->failed.end()) {
		f->setup_error = earlier->second + " (in an earlier repetition; not run again)";
		st->gb->SkipWithError(f->setup_error.c_str());
		return;
	}
	f->local_stride = (f->local_size + CACHELINE_PAD - 1) / CACHELINE_PAD * CACHELINE_PAD;
	f->locals = nullptr;
	if (f->local_stride) {
		size_t bytes = f->local_stride * (size_t)threads;
		f->locals = static_cast<unsigned char *>(aligned_alloc(CACHELINE_PAD, bytes));
		if (!f->locals) {
			f->setup_error = "out of memory for the per-thread records";
			st->gb->SkipWithError(f->setup_error.c_str());
			return;
		}
		memset(f->locals, 0, bytes);
	}
	if (f->setup) {
		st->in_setup = true;
		f->shared = f->setup(st);
		st->in_setup = false;
	}
}

void run_end(bench_family *f, bench_state *st)
{
	if (f->teardown && f->setup_error.empty())
		f->teardown(st);
	if (!f->run_error.empty())
		f->failed.emplace(run_key(f, *st->gb), f->run_error);
	free(f->locals);
	f->locals = nullptr;
	f->shared = nullptr;
}

void counters_begin(bench_state *st)
{
	st->t_begin = now_seconds();
	if (!st->counters)
		return;
	// Counter reads are syscalls: keep them out of the timed region.
	st->gb->PauseTiming();
	counter_set_start(st->counters, 0);
	st->counting = true;
	st->gb->ResumeTiming();
}

void counters_end(bench_state *st)
{
	// After an error the timer has stopped already; pausing it again is a checked error.
	bool timed = !st->gb->error_occurred();
	if (st->counting) {
		if (timed)
			st->gb->PauseTiming();
		counter_set_stop(st->counters);
		st->counting = false;
		if (timed)
			st->gb->ResumeTiming();
	}
	st->t_end = now_seconds();
}

// Every event the backends measured over this thread's loop, per operation of all threads.
void counters_report(bench_state *st)
{
	counter_totals totals;
	counter_set_totals(st->counters, 0, &totals);
	for (int i = 0; i < totals.n; i++)
		st->gb->counters[std::string(totals.v[i].name) + "/op"] =
			benchmark::Counter(totals.v[i].value, benchmark::Counter::kAvgIterations);
}

// A thread that skipped before its loop or broke out of it still has to pass Google
// Benchmark's start and stop barriers, or the other threads of the run would wait for it
// forever. After an error the library's loop ends at once; after a plain break the remaining
// iterations run empty.
void leave_loop(bench_state *st)
{
	if (st->counting) {
		counter_set_stop(st->counters);
		st->counting = false;
	}
	while (st->gb->KeepRunningBatch(1)) {
	}
	st->finished = true;
}

void run_thread(bench_family *f, benchmark::State &gs)
{
	bench_state st;
	st.gb = &gs;
	st.f = f;
	st.pu = pin_self(g_opts.pin, gs.thread_index());
	int threads = gs.threads();

	if (gs.thread_index() == 0)
		run_begin(f, &st, threads);
	f->barrier.wait(threads);

	if (!f->setup_error.empty()) {
		if (gs.thread_index() != 0)
			gs.SkipWithError(f->setup_error.c_str());
	} else {
		if (g_counting_enabled)
			st.counters = counter_set_create(g_counter_slots, 1);
		f->fn(&st);
		bool completed = st.finished;
		if (!completed)
			leave_loop(&st);
		if (st.counters && completed && !gs.error_occurred())
			counters_report(&st);
		if (st.counters)
			counter_set_destroy(st.counters);
	}

	f->barrier.wait(threads);
	if (gs.thread_index() == 0)
		run_end(f, &st);
}

// ---- Flags ----

const char *g_prog = "sgdsync-bench";

[[noreturn]] void die_flag(const char *arg, const char *why)
{
	fprintf(stderr, "%s: %s: %s\n", g_prog, arg, why);
	exit(2);
}

// An exception that reaches the shim (Google Benchmark's, or one thrown under the C benchmark
// code, on any thread) ends the process with its message and exit 1: never an abort.
[[noreturn]] void die_exception(const char *what)
{
	fprintf(stderr, "%s: internal error: %s\n", g_prog, what);
	fflush(nullptr);
	_exit(1); // other threads may still run: no atexit handlers under them
}

[[noreturn]] void die_current_exception()
{
	try {
		throw;
	} catch (const std::exception &e) {
		die_exception(e.what());
	} catch (...) {
		die_exception("an exception that is not a std::exception");
	}
}

[[noreturn]] void on_terminate()
{
	if (std::current_exception())
		die_current_exception();
	die_exception("std::terminate without an exception");
}

void print_help()
{
	benchmark::PrintDefaultHelp();
	fprintf(stdout,
		"\nsgdsync flags (before Google Benchmark's):\n"
		"  --pin=compact|scatter|none      where benchmark thread i runs (default compact)\n"
		"  --placement=local|interleave|node:N  where shared benchmark memory lives (default local)\n"
		"  --counters=auto|likwid[:GROUP]|perf|none  hardware/software counters per operation (default auto)\n"
		"  --grid=default|full             the default grid, or the full cartesian grid\n"
		"  --threads=N[,N...]              thread counts (default: the grid's list)\n"
		"  --run-limit=SECONDS             a run that can stall gives up after this long\n"
		"                                  (default: 5, or 4 x --benchmark_min_time if longer)\n");
}

void add_thread_count(bench_options *o, int t)
{
	for (int i = 0; i < o->nthreads; i++)
		if (o->threads[i] == t)
			return;
	if (o->nthreads < BENCH_MAX_THREAD_COUNTS)
		o->threads[o->nthreads++] = t;
}

// default: 1, 2, the PU count and 4x it (oversubscribed); full: powers of two up to
// max(64, 4 x PUs), and the PU count.
void grid_thread_counts(bench_options *o)
{
	int pus = topology_get()->pus;
	o->nthreads = 0;
	if (o->full_grid) {
		int top = std::max(64, 4 * pus);
		for (int t = 1; t <= top; t *= 2)
			add_thread_count(o, t);
		add_thread_count(o, pus);
	} else {
		add_thread_count(o, 1);
		add_thread_count(o, 2);
		add_thread_count(o, pus);
		add_thread_count(o, 4 * pus);
	}
	std::sort(o->threads, o->threads + o->nthreads);
}

void parse_thread_list(const char *arg, const char *list, bench_options *o)
{
	o->nthreads = 0;
	const char *p = list;
	while (*p) {
		char *end;
		long t = strtol(p, &end, 10);
		if (end == p || t < 1 || t > 4096 || (*end && *end != ','))
			die_flag(arg, "expected a comma-separated list of thread counts in 1..4096");
		add_thread_count(o, (int)t);
		p = *end ? end + 1 : end;
	}
	if (o->nthreads == 0)
		die_flag(arg, "expected at least one thread count");
}

// ---- Google Benchmark's flags: checked before the library sees them. Its own parser takes
//      any word for a boolean, prints the help and exits 0 on a bad format, and a negative
//      repetition count aborts it (std::length_error) ----

// Each returns nullptr for a value Google Benchmark 1.7.1 takes as meant, else why not.
const char *gb_bool(const char *v)
{
	static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "1", "0"};
	for (const char *w : words)
		if (strcasecmp(v, w) == 0)
			return nullptr;
	return "expected true or false";
}

const char *gb_color(const char *v)
{
	return strcmp(v, "auto") == 0 || !gb_bool(v) ? nullptr : "expected auto, true or false";
}

const char *gb_one_of(const char *v, const char *const *words, const char *why)
{
	for (; *words; words++)
		if (strcmp(v, *words) == 0)
			return nullptr;
	return why;
}

const char *gb_format(const char *v)
{
	static const char *const formats[] = {"console", "json", "csv", nullptr};
	return gb_one_of(v, formats, "expected console, json or csv");
}

const char *gb_time_unit(const char *v)
{
	static const char *const units[] = {"ns", "us", "ms", "s", nullptr};
	return gb_one_of(v, units, "expected ns, us, ms or s");
}

// A plain decimal number, finite (strtod alone takes "nan", "inf" and hex).
bool gb_number(const char *v, double *out)
{
	char *end;
	if (!*v || strspn(v, "0123456789.eE+-") != strlen(v))
		return false;
	*out = strtod(v, &end);
	return end != v && *end == '\0' && std::isfinite(*out);
}

const char *gb_min_time(const char *v)
{
	double t;
	return gb_number(v, &t) && t > 0 ? nullptr : "expected a positive number of seconds";
}

const char *gb_warmup_time(const char *v)
{
	double t;
	return gb_number(v, &t) && t >= 0 ? nullptr : "expected a number of seconds, 0 or more";
}

// The library reserves room for every repetition up front.
const char *gb_repetitions(const char *v)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	bool ok = v[0] >= '0' && v[0] <= '9' && *end == '\0' && errno == 0 && n >= 1 && n <= 100000;
	return ok ? nullptr : "expected an integer in 1..100000";
}

// The library compiles the filter as a POSIX extended std::regex; a leading '-' negates it.
const char *gb_filter(const char *v)
{
	try {
		std::regex re(v[0] == '-' ? v + 1 : v, std::regex::extended);
	} catch (const std::regex_error &) {
		return "not a valid extended regular expression";
	}
	return nullptr;
}

const char *gb_out(const char *v)
{
	static char err[512];
	return jsonfile_check_writable(v, err, sizeof err) == 0 ? nullptr : err;
}

struct gb_flag {
	const char *name;
	const char *(*check)(const char *value);
	bool boolean; // may stand alone, meaning true
};

const gb_flag gb_flags[] = {
	{"--benchmark_list_tests", gb_bool, true},
	{"--benchmark_filter", gb_filter, false},
	{"--benchmark_min_time", gb_min_time, false},
	{"--benchmark_min_warmup_time", gb_warmup_time, false},
	{"--benchmark_repetitions", gb_repetitions, false},
	{"--benchmark_enable_random_interleaving", gb_bool, true},
	{"--benchmark_report_aggregates_only", gb_bool, true},
	{"--benchmark_display_aggregates_only", gb_bool, true},
	{"--benchmark_format", gb_format, false},
	{"--benchmark_out", gb_out, false},
	{"--benchmark_out_format", gb_format, false},
	{"--benchmark_color", gb_color, true},
	{"--benchmark_counters_tabular", gb_bool, true},
	{"--benchmark_time_unit", gb_time_unit, false},
};

// Exits 2 naming arg if it is one of Google Benchmark's flags with a value the library would
// misread; flags it does not know, it refuses itself (ReportUnrecognizedArguments).
void check_gb_flag(const char *arg)
{
	for (const gb_flag &f : gb_flags) {
		size_t n = strlen(f.name);
		if (strncmp(arg, f.name, n) != 0 || (arg[n] != '=' && arg[n] != '\0'))
			continue;
		if (arg[n] == '\0' && !f.boolean)
			die_flag(arg, "needs a value (--flag=value)");
		const char *why = arg[n] == '=' ? f.check(arg + n + 1) : nullptr;
		if (why)
			die_flag(arg, why);
		return;
	}
}

const char *flag_value(const char *arg, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(arg, name, n) != 0)
		return nullptr;
	if (arg[n] == '=')
		return arg + n + 1;
	if (arg[n] == '\0')
		die_flag(arg, "needs a value (--flag=value)");
	return nullptr;
}

// Takes sgdsync's flags out of argv; exits 2 on a bad value.
void parse_own_flags(int *argc, char **argv, bench_options *o)
{
	char err[512];
	const char *threads = nullptr;
	o->pin = PIN_COMPACT;
	o->memory = placement{PLACEMENT_LOCAL, 0};
	o->counters = "auto";
	o->full_grid = 0;
	o->run_limit_s = 0;
	double min_time = 0.5; // Google Benchmark's default; its flag stays in argv for it
	int kept = 1;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i], *v;
		if ((v = flag_value(a, "--pin"))) {
			if (pin_parse(v, &o->pin, err, sizeof err) != 0)
				die_flag(a, err);
		} else if ((v = flag_value(a, "--placement"))) {
			if (placement_parse(v, &o->memory, err, sizeof err) != 0)
				die_flag(a, err);
		} else if ((v = flag_value(a, "--counters"))) {
			o->counters = v;
		} else if ((v = flag_value(a, "--grid"))) {
			if (strcmp(v, "default") == 0)
				o->full_grid = 0;
			else if (strcmp(v, "full") == 0)
				o->full_grid = 1;
			else
				die_flag(a, "unknown grid; valid: default, full");
		} else if ((v = flag_value(a, "--threads"))) {
			threads = a;
		} else if ((v = flag_value(a, "--run-limit"))) {
			char *end;
			o->run_limit_s = strtod(v, &end);
			if (end == v || *end || !(o->run_limit_s > 0))
				die_flag(a, "expected a positive number of seconds");
		} else {
			check_gb_flag(a);
			if ((v = flag_value(a, "--benchmark_min_time")))
				min_time = strtod(v, nullptr);
			argv[kept++] = argv[i];
		}
	}
	*argc = kept;
	if (o->run_limit_s == 0)
		o->run_limit_s = std::max(5.0, 4 * min_time);
	argv[kept] = nullptr;
	if (threads)
		parse_thread_list(threads, threads + strlen("--threads="), o);
	else
		grid_thread_counts(o);
}

const char *g_openblas_config; // set by bench_environment_blas
const blas_core_info *g_blas_core; // set by bench_environment_blas_core

void add_environment_context(int argc, char **argv)
{
	env_options eo = {};
	eo.pinning = g_opts.pin;
	eo.memory = g_opts.memory;
	eo.openblas_config = g_openblas_config;
	eo.blas_core = g_blas_core;
	eo.argc = argc;
	eo.argv = argv;
	cJSON *env = env_json(&eo);
	char *text = env ? cJSON_PrintUnformatted(env) : nullptr;
	if (!text) {
		fprintf(stderr, "%s: out of memory building the environment object\n", g_prog);
		exit(1);
	}
	benchmark::AddCustomContext("sgdsync_format", "sgdsync-bench");
	benchmark::AddCustomContext("sgdsync_version", "1");
	benchmark::AddCustomContext("sgdsync_environment", text);
	cJSON_free(text);
	cJSON_Delete(env);
}

// bench_main without its exception guard.
int run_main(int argc, char **argv, void (*register_all)(const bench_options *opts))
{
	std::vector<char *> original(argv, argv + argc);

	parse_own_flags(&argc, argv, &g_opts);
	benchmark::Initialize(&argc, argv, print_help);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 2;

	char err[512];
	if (counters_open(g_opts.counters, err, sizeof err) != 0) {
		fprintf(stderr, "%s: --counters=%s: %s\n", g_prog, g_opts.counters, err);
		return 2;
	}
	g_counting_enabled = strcmp(g_opts.counters, "none") != 0;
	register_all(&g_opts);
	add_environment_context((int)original.size(), original.data());
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	counters_close();
	return 0;
}

} // namespace

// ---- C API ----

extern "C" {

const bench_options *bench_options_get(void) { return &g_opts; }

void bench_add_context(const char *key, const char *value) { benchmark::AddCustomContext(key, value); }

void bench_environment_blas(const char *openblas_config) { g_openblas_config = openblas_config; }

void bench_environment_blas_core(const blas_core_info *core) { g_blas_core = core; }

int bench_main(int argc, char **argv, void (*register_all)(const bench_options *opts))
{
	const char *slash = strrchr(argv[0], '/');
	g_prog = slash ? slash + 1 : argv[0];
	std::set_terminate(on_terminate);
	try {
		return run_main(argc, argv, register_all);
	} catch (...) {
		die_current_exception();
	}
}

bench_family *bench_register(const char *name, bench_fn fn, const void *arg, size_t arg_size)
{
	g_families.push_back(std::make_unique<bench_family>());
	bench_family *f = g_families.back().get();
	f->fn = fn;
	if (arg_size) {
		const unsigned char *bytes = static_cast<const unsigned char *>(arg);
		f->arg_copy.assign(bytes, bytes + arg_size);
		f->arg = f->arg_copy.data();
	} else {
		f->arg = arg;
	}
	f->gb = benchmark::RegisterBenchmark(name, [f](benchmark::State &gs) { run_thread(f, gs); });
	return f;
}

void bench_setup(bench_family *b, bench_setup_fn setup, bench_teardown_fn teardown)
{
	b->setup = setup;
	b->teardown = teardown;
}

void bench_local_size(bench_family *b, size_t bytes) { b->local_size = bytes; }

void bench_args_n(bench_family *b, const int64_t *args, int n)
{
	b->nargs = n;
	b->gb->Args(std::vector<int64_t>(args, args + n));
}

void bench_args_product_n(bench_family *b, const bench_list *lists, int n)
{
	std::vector<std::vector<int64_t>> product;
	b->nargs = n;
	for (int i = 0; i < n; i++)
		product.emplace_back(lists[i].v, lists[i].v + lists[i].n);
	b->gb->ArgsProduct(product);
}

void bench_ranges_n(bench_family *b, const bench_range *ranges, int n)
{
	std::vector<std::pair<int64_t, int64_t>> r;
	b->nargs = n;
	for (int i = 0; i < n; i++)
		r.emplace_back(ranges[i].lo, ranges[i].hi);
	b->gb->Ranges(r);
}

void bench_range_multiplier(bench_family *b, int multiplier) { b->gb->RangeMultiplier(multiplier); }

void bench_arg_names_n(bench_family *b, const char *const *names, int n)
{
	b->gb->ArgNames(std::vector<std::string>(names, names + n));
}

void bench_threads(bench_family *b, int threads) { b->gb->Threads(threads); }

void bench_thread_range(bench_family *b, int lo, int hi) { b->gb->ThreadRange(lo, hi); }

void bench_threads_default(bench_family *b)
{
	for (int i = 0; i < g_opts.nthreads; i++)
		b->gb->Threads(g_opts.threads[i]);
}

void bench_use_real_time(bench_family *b) { b->gb->UseRealTime(); }

void bench_unit(bench_family *b, bench_time_unit unit)
{
	static const benchmark::TimeUnit units[] = {benchmark::kNanosecond, benchmark::kMicrosecond,
						    benchmark::kMillisecond, benchmark::kSecond};
	b->gb->Unit(units[unit]);
}

int bench_state_thread_index(const bench_state *st) { return st->gb->thread_index(); }
int bench_state_threads(const bench_state *st) { return st->gb->threads(); }
int64_t bench_state_range(const bench_state *st, int i) { return st->gb->range((size_t)i); }
int64_t bench_state_max_iterations(const bench_state *st) { return st->gb->max_iterations; }
int64_t bench_state_iterations(const bench_state *st) { return st->gb->iterations(); }
const void *bench_state_arg(const bench_state *st) { return st->f->arg; }
void *bench_state_shared(const bench_state *st) { return st->f->shared; }
void *bench_state_local(const bench_state *st) { return bench_state_local_of(st, st->gb->thread_index()); }

void *bench_state_local_of(const bench_state *st, int thread_index)
{
	return st->f->locals ? st->f->locals + st->f->local_stride * (size_t)thread_index : nullptr;
}

double bench_state_loop_seconds(const bench_state *st) { return st->finished ? st->t_end - st->t_begin : 0.0; }
int bench_state_pu(const bench_state *st) { return st->pu; }

void *bench_placed_alloc(bench_state *st, size_t bytes)
{
	char err[256];
	void *p = placement_alloc(&g_opts.memory, bytes, err, sizeof err);
	if (!p)
		bench_skip_with_error(st, err);
	return p;
}

void bench_placed_free(void *p, size_t bytes)
{
	if (p)
		placement_free(p, bytes);
}

const memory_ops *bench_placed_memory(void)
{
	// Made on first use, after the flags are parsed, and kept for the process's life.
	static placement_memory *pm = placement_memory_create(&g_opts.memory, g_opts.pin);
	if (!pm) {
		fprintf(stderr, "%s: out of memory\n", g_prog);
		exit(1);
	}
	return placement_memory_ops(pm);
}

// Hands out n more iterations of Google Benchmark's; 0 when the loop is over.
static int keep_running_batch(bench_state *st, int64_t n)
{
	if (st->finished)
		return 0;
	if (st->started && st->consumed >= st->gb->max_iterations) {
		counters_end(st);
		st->gb->KeepRunningBatch(n); // false: the loop ends
		st->finished = true;
		return 0;
	}
	if (!st->gb->KeepRunningBatch(n)) { // skipped with an error before the loop began
		st->finished = true;
		return 0;
	}
	if (!st->started) {
		st->started = true;
		counters_begin(st);
	}
	st->consumed += n;
	return 1;
}

// All the iterations at once, as one batch rounded up to a multiple of k: Google Benchmark counts
// the overshoot of a batch among the iterations.
int64_t bench_loop_begin(bench_state *st, int64_t k)
{
	int64_t n = (st->gb->max_iterations + k - 1) / k * k;
	return keep_running_batch(st, n) ? n : 0;
}

void bench_loop_end(bench_state *st) { keep_running_batch(st, 1); }

void bench_pause_timing(bench_state *st)
{
	st->gb->PauseTiming();
	if (st->counting)
		counter_set_stop(st->counters);
}

void bench_resume_timing(bench_state *st)
{
	if (st->counting)
		counter_set_start(st->counters, 0);
	st->gb->ResumeTiming();
}

void bench_skip_with_error(bench_state *st, const char *msg)
{
	{
		std::lock_guard<std::mutex> lock(st->f->run_error_mutex);
		if (st->f->run_error.empty())
			st->f->run_error = msg;
	}
	if (st->in_setup)
		st->f->setup_error = msg;
	st->gb->SkipWithError(st->in_setup ? st->f->setup_error.c_str() : msg);
}

int bench_error_occurred(const bench_state *st) { return st->gb->error_occurred(); }

void bench_counter(bench_state *st, const char *name, double value, unsigned flags)
{
	unsigned gb_flags = flags & ~BENCH_BASE_1024;
	st->gb->counters[name] = benchmark::Counter(value, static_cast<benchmark::Counter::Flags>(gb_flags),
						    (flags & BENCH_BASE_1024) ? benchmark::Counter::kIs1024
									      : benchmark::Counter::kIs1000);
}

void bench_set_items_processed(bench_state *st, int64_t items) { st->gb->SetItemsProcessed(items); }
void bench_set_bytes_processed(bench_state *st, int64_t bytes) { st->gb->SetBytesProcessed(bytes); }
void bench_set_label(bench_state *st, const char *label) { st->gb->SetLabel(label); }

} // extern "C"
