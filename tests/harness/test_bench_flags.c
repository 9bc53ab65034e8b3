/* The benchmark binaries' command lines: every bad flag, Google Benchmark's included, is
 * refused with exit status 2 and a message naming it, and good ones pass; --benchmark_list_tests
 * lists the documented names, and --grid=full lists more than the default grid. Nothing here
 * runs a benchmark. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_exec.h"
#include "check.h"

static char dir[] = "/tmp/sgdsync-test-bench-flags-XXXXXX";
static char out_path[256], err_path[256];

static const char *const binaries[] = {BENCH_ATOMICS_BIN, BENCH_CHAIN_BIN, BENCH_LOCKS_BIN};

/* The flag must be refused with status 2 and a message on stderr naming it. */
static void check_refused(const char *bin, const char *flag)
{
	char *argv[] = {(char *)bin, (char *)flag, "--benchmark_list_tests", NULL};
	int status = bench_exec(argv, out_path, err_path);
	char *err = bench_exec_slurp(err_path);
	CHECK(status == 2, "%s %s: exit status %d, expected 2 (stderr: %s)", bin, flag, status, err ? err : "");
	CHECK(err && strstr(err, flag), "%s %s: stderr does not name the flag: %s", bin, flag, err ? err : "");
	free(err);
}

/* Lists the benchmarks; returns how many there are, and checks `expected` is one of them. */
static int list_tests(const char *bin, const char *grid, const char *expected)
{
	char *argv[] = {(char *)bin, (char *)grid, "--counters=none", "--benchmark_list_tests", NULL};
	int status = bench_exec(argv, out_path, err_path);
	CHECK(status == 0, "%s %s --benchmark_list_tests: exit status %d", bin, grid, status);
	char *out = bench_exec_slurp(out_path);
	CHECK(out, "no output");
	int lines = 0, found = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		lines++;
		found |= strcmp(line, expected) == 0;
	}
	CHECK(found, "%s %s lists no %s", bin, grid, expected);
	free(out);
	return lines;
}

int main(void)
{
	CHECK(mkdtemp(dir), "mkdtemp");
	snprintf(out_path, sizeof out_path, "%s/out", dir);
	snprintf(err_path, sizeof err_path, "%s/err", dir);

	static const char *const bad_flags[] = {
		"--pin=bogus", "--pin", "--placement=node:9999", "--placement=everywhere", "--counters=nope",
		"--counters=likwid:NO_SUCH_GROUP", "--grid=huge", "--threads=0", "--threads=2,x", "--run-limit=0",
		"--run-limit=soon", "--no_such_flag",
		/* Google Benchmark's own, checked before the library misreads them */
		"--benchmark_repetitions=-1", "--benchmark_repetitions=0", "--benchmark_repetitions=1x",
		"--benchmark_repetitions=2000000000", "--benchmark_min_time=-1", "--benchmark_min_time=nan",
		"--benchmark_min_time=inf", "--benchmark_min_warmup_time=-0.5", "--benchmark_format=xml",
		"--benchmark_out_format=html", "--benchmark_enable_random_interleaving=maybe",
		"--benchmark_report_aggregates_only=2", "--benchmark_color=purple", "--benchmark_time_unit=yr",
		"--benchmark_filter=[", "--benchmark_filter", "--benchmark_out=/nonexistent/dir/out.json",
	};
	for (size_t i = 0; i < sizeof binaries / sizeof *binaries; i++)
		for (size_t f = 0; f < sizeof bad_flags / sizeof *bad_flags; f++)
			check_refused(binaries[i], bad_flags[f]);

	int def = list_tests(BENCH_ATOMICS_BIN, "--grid=default", "atomics/faa/order:seq_cst/slot:padded/real_time/threads:2");
	int full = list_tests(BENCH_ATOMICS_BIN, "--grid=full", "atomics/faa/order:relaxed/slot:packed/real_time/threads:64");
	CHECK(full > def, "atomics: the full grid (%d) is larger than the default (%d)", full, def);
	def = list_tests(BENCH_CHAIN_BIN, "--grid=default",
			 "chain/publish/alloc:pool/backoff:none/persist:inf/size:131072/work_ns:0/real_time/threads:1");
	list_tests(BENCH_CHAIN_BIN, "--grid=default", "chain/memcpy/size:131072/real_time/threads:1");
	full = list_tests(BENCH_CHAIN_BIN, "--grid=full",
			  "chain/publish/alloc:malloc/backoff:jitter/persist:4/size:1024/work_ns:1000/real_time/threads:4");
	CHECK(full > def, "chain: the full grid (%d) is larger than the default (%d)", full, def);
	def = list_tests(BENCH_LOCKS_BIN, "--grid=default", "locks/ttas/backoff:exp/cs:16/real_time/threads:2");
	list_tests(BENCH_LOCKS_BIN, "--grid=default", "locks/ck_fas/backoff:ck_eb/cs:16/real_time/threads:2");
	list_tests(BENCH_LOCKS_BIN, "--grid=default", "locks/rw/backoff:exp/cs:1024/read_pct:90/real_time/threads:2");
	full = list_tests(BENCH_LOCKS_BIN, "--grid=full", "locks/ticket/backoff:sleep/cs:4096/real_time/threads:32");
	CHECK(full > def, "locks: the full grid (%d) is larger than the default (%d)", full, def);
	CHECK(list_tests(BENCH_LOCKS_BIN, "--threads=3,5", "locks/tas/backoff:none/cs:16/real_time/threads:5") > 0,
	      "--threads sets the thread counts");

	char out_flag[300];
	snprintf(out_flag, sizeof out_flag, "--benchmark_out=%s/gb.json", dir);
	char *good[] = {BENCH_ATOMICS_BIN, "--counters=none", "--benchmark_repetitions=3", "--benchmark_min_time=0.01",
			"--benchmark_min_warmup_time=0", "--benchmark_format=json", "--benchmark_out_format=csv",
			"--benchmark_enable_random_interleaving=true", "--benchmark_color=auto", "--benchmark_time_unit=us",
			"--benchmark_filter=-^atomics/load", "--benchmark_counters_tabular", out_flag,
			"--benchmark_list_tests", NULL};
	int status = bench_exec(good, out_path, err_path);
	CHECK(status == 0, "good Google Benchmark flags: exit status %d", status);

	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0, "clean up %s", dir);
	CHECK_DONE();
}
