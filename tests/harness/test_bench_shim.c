/* The shim end to end: runs bench_shim_bin (BENCH_SHIM_BIN) as a user would, with Google
 * Benchmark's JSON output, and checks the exact names, counters and values in that JSON:
 * counter flags as Google Benchmark combines them over threads, setup before and teardown after
 * every thread, per-thread records, pinning by policy, skipping, the sgdsync context, and the
 * shim's own per-operation counters present exactly when a backend measured them. */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bench_exec.h"

static char dir[] = "/tmp/sgdsync-test-bench-shim-XXXXXX";

/* Google Benchmark's own keys of a benchmark entry; every other key is a user counter. */
static const char *const gb_keys[] = {
	"name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
	"repetition_index", "threads", "iterations", "real_time", "cpu_time", "time_unit",
	"error_occurred", "error_message", "label", "aggregate_name", "aggregate_unit",
};

static int is_gb_key(const char *k)
{
	for (size_t i = 0; i < sizeof gb_keys / sizeof *gb_keys; i++)
		if (strcmp(k, gb_keys[i]) == 0)
			return 1;
	return 0;
}

/* Runs the binary with the given pinning and counters, then `extra` flags (NULL-terminated). */
static cJSON *run_json_with(const char *name, const char *pin, const char *counters, char *const *extra)
{
	char out[256], err[256], pin_flag[64], counters_flag[64];
	snprintf(out, sizeof out, "%s/%s.json", dir, name);
	snprintf(err, sizeof err, "%s/%s.err", dir, name);
	snprintf(pin_flag, sizeof pin_flag, "--pin=%s", pin);
	snprintf(counters_flag, sizeof counters_flag, "--counters=%s", counters);
	char *argv[8] = {BENCH_SHIM_BIN, pin_flag, counters_flag, "--benchmark_min_time=0.01"};
	for (int i = 0; extra[i]; i++)
		argv[4 + i] = extra[i];
	return bench_exec_json(argv, out, err);
}

static cJSON *run_json(const char *name, const char *pin, const char *counters)
{
	char *none[] = {NULL};
	return run_json_with(name, pin, counters, none);
}

static int close_to(double a, double b) { return fabs(a - b) <= 1e-6 * fmax(1.0, fabs(b)); }

/* The user counters of b are exactly `expected`, plus, when a counter backend ran
 * (with_backends), the shim's "<event>/op" counters. */
static void check_counter_keys(cJSON *b, const char *const *expected, int n, int with_backends)
{
	const char *name = bench_name(b);
	int found = 0;
	cJSON *kv;
	cJSON_ArrayForEach(kv, b)
	{
		if (is_gb_key(kv->string))
			continue;
		int known = 0;
		for (int i = 0; i < n; i++)
			known |= strcmp(kv->string, expected[i]) == 0;
		size_t len = strlen(kv->string);
		int shim_counter = with_backends && len > 3 && strcmp(kv->string + len - 3, "/op") == 0;
		CHECK(known || shim_counter, "%s: unexpected counter %s", name, kv->string);
		found += known;
	}
	CHECK(found == n, "%s: %d of the %d expected counters", name, found, n);
}

static void check_context(cJSON *doc, const char *pin, const char *counters)
{
	cJSON *ctx = cJSON_GetObjectItemCaseSensitive(doc, "context");
	CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(ctx, "sgdsync_format")->valuestring, "sgdsync-bench") == 0,
	      "sgdsync_format");
	CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(ctx, "sgdsync_version")->valuestring, "1") == 0,
	      "sgdsync_version is the string \"1\"");
	cJSON *env_text = cJSON_GetObjectItemCaseSensitive(ctx, "sgdsync_environment");
	CHECK(cJSON_IsString(env_text), "sgdsync_environment is a JSON string");
	cJSON *env = cJSON_Parse(env_text->valuestring);
	CHECK(env && cJSON_IsObject(env), "sgdsync_environment holds a JSON object");
	static const char *const keys[] = {"cpu_model", "kernel", "hostname", "compiler", "cflags",
					   "build_type", "topology", "placement", "versions", "counters",
					   "git_commit", "date", "command_line"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		CHECK(cJSON_HasObjectItem(env, keys[i]), "environment has %s", keys[i]);
	cJSON *placement = cJSON_GetObjectItemCaseSensitive(env, "placement");
	CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(placement, "pinning")->valuestring, pin) == 0, "pinning %s", pin);
	cJSON *cnt = cJSON_GetObjectItemCaseSensitive(env, "counters");
	CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(cnt, "requested")->valuestring, counters) == 0,
	      "counters requested %s", counters);
	CHECK(strstr(cJSON_GetObjectItemCaseSensitive(env, "command_line")->valuestring, "--benchmark_min_time=0.01"),
	      "command line recorded as typed");
	cJSON_Delete(env);
}

typedef struct {
	int perf; /* the perf backend ran */
	int any;  /* some backend beyond the primitives' software counters ran */
} backends;

/* Which counter backends the environment says this run used. */
static backends backends_used(cJSON *doc)
{
	cJSON *ctx = cJSON_GetObjectItemCaseSensitive(doc, "context");
	cJSON *env = cJSON_Parse(cJSON_GetObjectItemCaseSensitive(ctx, "sgdsync_environment")->valuestring);
	backends b = {0, 0};
	cJSON *u;
	cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(env, "counters"), "used"))
	{
		b.perf |= strcmp(u->valuestring, "perf") == 0;
		b.any |= strcmp(u->valuestring, "software") != 0;
	}
	cJSON_Delete(env);
	return b;
}

static void check_counters_bench(cJSON *doc, int threads, backends used)
{
	char name[96];
	snprintf(name, sizeof name, "shimtest/counters/real_time/threads:%d", threads);
	cJSON *b = bench_find(doc, name);
	double t = threads, iters = bench_num(b, "iterations");
	CHECK(bench_num(b, "threads") == t, "%s: threads", name);
	CHECK(bench_num(b, "total") == t, "%s: BENCH_TOTAL sums over threads", name);
	CHECK(close_to(bench_num(b, "per_thread"), (t + 1) / 2), "%s: BENCH_AVG_THREADS is the mean", name);
	CHECK(close_to(bench_num(b, "per_op"), 1.0), "%s: BENCH_AVG_ITERATIONS divides by all threads' iterations", name);
	CHECK(close_to(bench_num(b, "invariant"), 2 * t * iters), "%s: BENCH_ITERATION_INVARIANT", name);
	double seconds = bench_num(b, "real_time") * iters * 1e-9;
	CHECK(close_to(bench_num(b, "rate") * seconds, 3 * t), "%s: BENCH_RATE is the sum per wall second", name);
	CHECK(bench_num(b, "shared_ok") == t, "%s: every thread saw setup's data", name);
	CHECK(bench_num(b, "pinned_ok") == t, "%s: every thread runs where its policy puts it", name);
	CHECK(bench_num(b, "teardown_iterations") == iters, "%s: teardown saw every thread's record", name);
	CHECK(close_to(bench_num(b, "items_per_second") * seconds, iters), "%s: items_per_second", name);

	const char *keys[16] = {"total", "per_thread", "per_op", "invariant", "rate", "shared_ok",
				"pinned_ok", "teardown_iterations", "items_per_second"};
	int n = 9;
	if (used.perf) { /* perf's software events are there whatever the PMU exposes */
		keys[n++] = "task-clock-ns/op";
		keys[n++] = "context-switches/op";
		keys[n++] = "cpu-migrations/op";
		keys[n++] = "page-faults/op";
		CHECK(bench_num(b, "task-clock-ns/op") > 0, "%s: perf measured a task clock", name);
	}
	check_counter_keys(b, keys, n, used.any);
}

static void check_run(cJSON *doc, backends used)
{
	static const char *const names[] = {
		"shimtest/counters/real_time/threads:1", "shimtest/counters/real_time/threads:3",
		"shimtest/counters/real_time/threads:8", "shimtest/batch/real_time/threads:2",
		"shimtest/args/cs:16/read_pct:50/real_time", "shimtest/args/cs:1024/read_pct:50/real_time",
		"shimtest/skip_some/threads:4", "shimtest/skip/threads:2", "shimtest/fail_first/threads:2",
	};
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "benchmarks")) == 9, "9 benchmarks");
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		bench_find(doc, names[i]);

	check_counters_bench(doc, 1, used);
	check_counters_bench(doc, 3, used);
	check_counters_bench(doc, 8, used);

	cJSON *b = bench_find(doc, "shimtest/batch/real_time/threads:2");
	CHECK(close_to(bench_num(b, "batches_x10_per_op"), 1.0), "batch overshoot counted in iterations");
	CHECK(close_to(bench_num(bench_find(doc, "shimtest/args/cs:16/read_pct:50/real_time"), "arg_sum"), 66),
	      "arguments reach the run");
	CHECK(close_to(bench_num(bench_find(doc, "shimtest/args/cs:1024/read_pct:50/real_time"), "arg_sum"), 1074),
	      "arguments reach the run");

	b = bench_find(doc, "shimtest/skip/threads:2");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "error_occurred")), "skip: error_occurred");
	CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(b, "error_message")->valuestring, "setup refused on purpose") == 0,
	      "skip: setup's message");
	CHECK(!cJSON_HasObjectItem(b, "ran"), "skip: no thread ran the benchmark");

	/* Reaching here at all means no thread waited forever for a skipping one. */
	b = bench_find(doc, "shimtest/skip_some/threads:4");
	CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "error_occurred")), "skip_some: error_occurred");
	CHECK(strstr(cJSON_GetObjectItemCaseSensitive(b, "error_message")->valuestring, "skipped"), "skip_some: message");
}

/* Three repetitions of a benchmark whose first run fails: Google Benchmark 1.7.1 dereferenced the
 * failed run's statistics (a segmentation fault) unless the later repetitions fail with it. */
static void check_failed_repetitions(void)
{
	char *extra[] = {"--benchmark_filter=shimtest/fail_first", "--benchmark_repetitions=3", NULL};
	cJSON *doc = run_json_with("fail_first", "none", "none", extra);
	cJSON *b;
	int runs = 0;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
	{
		const char *msg = cJSON_GetObjectItemCaseSensitive(b, "error_message")->valuestring;
		CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "error_occurred")), "fail_first: every repetition failed");
		CHECK(strncmp(msg, "the first run failed on purpose", 31) == 0, "fail_first: the first run's message");
		CHECK((runs == 0) == (strstr(msg, "earlier repetition") == NULL),
		      "fail_first: repetition %d says whether it ran (%s)", runs, msg);
		runs++;
	}
	CHECK(runs == 3, "fail_first: 3 repetitions reported (%d)", runs);
	cJSON_Delete(doc);
}

int main(void)
{
	CHECK(mkdtemp(dir), "mkdtemp");

	cJSON *doc = run_json("compact_none", "compact", "none");
	check_context(doc, "compact", "none");
	check_run(doc, (backends){0, 0});
	cJSON_Delete(doc);

	doc = run_json("none_auto", "none", "auto");
	check_context(doc, "none", "auto");
	check_run(doc, backends_used(doc));
	cJSON_Delete(doc);

	check_failed_repetitions();

	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0, "clean up %s", dir);
	CHECK_DONE();
}
