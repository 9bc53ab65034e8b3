/* The benchmark binaries on a narrow filter, briefly, with 1 and 3 threads (3 oversubscribes
 * a 2-core machine): what they report must hold whatever the timings are.
 *   locks:   Jain's index in [1/T, 1], min share <= 1/T <= max share, wait p50 <= p99; our locks
 *            report contention per operation in [0, 1], the peers report none (absent, not 0).
 *   chain:   every publish makes at least one CAS attempt, failures = attempts - 1 per publish,
 *            nothing dropped with unbounded persistence, live vectors never above 2T + 1.
 *   atomics: one thread alone never loses a CAS.
 *   hogwild: one thread only, whatever --threads says; floats and bytes counted per call.
 *   model:   every iteration of every thread is one update (sync's rounds did not stall), staleness
 *            0 for a lone thread and for sync, leashed makes at least one CAS attempt per update
 *            (exactly one alone) and drops nothing unbounded, lock contention a fraction.
 * And the FIFO locks at 128 threads stop near --run-limit (or, ck's, are refused up front). */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "bench_exec.h"

static char dir[] = "/tmp/sgdsync-test-bench-binaries-XXXXXX";

static int skipped(const cJSON *b) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "error_occurred")); }

/* Runs bin on filter at the thread counts of threads_flag (plus extra flags, or NULL: "--a --b"
 * passed as two; a later flag overrides an earlier one) and applies check to every benchmark of
 * its JSON; returns how many. */
static int run_threads_and_check(const char *bin, const char *filter, const char *threads_flag,
				 const char *extra, void (*check)(const cJSON *b, const char *name))
{
	char out[256], err[256], filter_flag[512];
	snprintf(out, sizeof out, "%s/out.json", dir);
	snprintf(err, sizeof err, "%s/err", dir);
	snprintf(filter_flag, sizeof filter_flag, "--benchmark_filter=%s", filter);
	char extras[256] = "", *second = NULL;
	snprintf(extras, sizeof extras, "%s", extra ? extra : "");
	if ((second = strchr(extras, ' ')))
		*second++ = '\0';
	char *argv[] = {(char *)bin, "--counters=none", (char *)threads_flag, filter_flag, "--benchmark_min_time=0.01",
			extra ? extras : NULL, second, NULL};
	cJSON *doc = bench_exec_json(argv, out, err);
	int n = 0;
	cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
	{
		check(b, bench_name(b));
		n++;
	}
	cJSON_Delete(doc);
	return n;
}

static int run_and_check(const char *bin, const char *filter, const char *extra,
			 void (*check)(const cJSON *b, const char *name))
{
	return run_threads_and_check(bin, filter, "--threads=1,3", extra, check);
}

static void check_lock(const cJSON *b, const char *name)
{
	if (skipped(b)) {
		/* Only ck's locks skip, and only where TSan cannot see their inline assembly. */
		CHECK(strstr(name, "/ck_") &&
			      strstr(cJSON_GetObjectItemCaseSensitive(b, "error_message")->valuestring, "ThreadSanitizer"),
		      "%s skipped", name);
		return;
	}
	double t = bench_num(b, "threads"), eps = 1e-9;
	double jain = bench_num(b, "fairness_jain"), lo = bench_num(b, "share_min"), hi = bench_num(b, "share_max");
	CHECK(jain >= 1 / t - eps && jain <= 1 + eps, "%s: Jain's index %g outside [1/T, 1]", name, jain);
	CHECK(lo <= 1 / t + eps && hi >= 1 / t - eps && lo <= hi, "%s: shares %g..%g around 1/T", name, lo, hi);
	CHECK(bench_num(b, "wait_ns_p50") <= bench_num(b, "wait_ns_p99"), "%s: wait p50 <= p99", name);
	CHECK(bench_num(b, "items_per_second") > 0, "%s: throughput", name);
	if (strncmp(name, "locks/ttas/", 11) == 0 || strncmp(name, "locks/rw/", 9) == 0) {
		double c = bench_num(b, "contended/op");
		CHECK(c >= 0 && c <= 1, "%s: contended/op %g outside [0, 1]", name, c);
	} else {
		CHECK(!cJSON_HasObjectItem(b, "contended/op"), "%s: a peer reports no contention count", name);
	}
}

static void check_chain(const cJSON *b, const char *name)
{
	double t = bench_num(b, "threads");
	CHECK(!skipped(b), "%s skipped", name);
	if (strncmp(name, "chain/memcpy/", 13) == 0) {
		double bytes = bench_num(b, "bytes_per_second");
		CHECK(fabs(bytes - 4096 * bench_num(b, "items_per_second")) <= 1e-6 * bytes, "%s: 4 KiB per copy", name);
		return;
	}
	double peak = bench_num(b, "live_vectors_peak");
	CHECK(peak >= 1 && peak <= 2 * t + 1, "%s: %g live vectors, bound 2T+1 = %g", name, peak, 2 * t + 1);
	if (strncmp(name, "chain/publish/", 14) == 0) {
		double attempts = bench_num(b, "cas_attempts/op"), failures = bench_num(b, "cas_failures/op");
		CHECK(attempts >= 1, "%s: %g CAS attempts per publish", name, attempts);
		CHECK(fabs(failures - (attempts - 1)) < 1e-9, "%s: failures = attempts - 1", name);
		CHECK(bench_num(b, "dropped/op") == 0, "%s: unbounded persistence drops nothing", name);
	} else {
		CHECK(bench_num(b, "publishes/s") > 0 && bench_num(b, "reads/s") > 0, "%s: both roles ran", name);
	}
}

static void check_hogwild(const cJSON *b, const char *name)
{
	CHECK(!skipped(b), "%s skipped", name);
	CHECK(bench_num(b, "threads") == 1, "%s: one thread", name);
	double items = bench_num(b, "items_per_second"), bytes = bench_num(b, "bytes_per_second");
	CHECK(items > 0 && fabs(bytes - 4 * items) <= 1e-6 * bytes, "%s: 4 bytes per float", name);
}

static void check_model(const cJSON *b, const char *name)
{
	CHECK(!skipped(b), "%s skipped", name);
	double t = bench_num(b, "threads"), updates = bench_num(b, "updates");
	CHECK(updates > 0 && updates == bench_num(b, "iterations"), "%s: %g updates, %g iterations of all threads",
	      name, updates, bench_num(b, "iterations"));
	if (t == 1 || strncmp(name, "model/sync/", 11) == 0)
		CHECK(bench_num(b, "staleness_mean") == 0 && bench_num(b, "staleness_p99") == 0, "%s: staleness 0",
		      name);
	if (strncmp(name, "model/leashed/", 14) == 0) {
		double attempts = bench_num(b, "cas_attempts/op");
		CHECK(attempts >= 1 && (t > 1 || attempts == 1), "%s: %g CAS attempts per update", name, attempts);
		if (strstr(name, "/persist:inf/"))
			CHECK(bench_num(b, "dropped/op") == 0, "%s: unbounded persistence drops nothing", name);
	} else {
		CHECK(bench_num(b, "dropped/op") == 0, "%s: only leashed drops", name);
	}
	if (strncmp(name, "model/mutex/", 12) == 0 || strncmp(name, "model/rwlock/", 13) == 0) {
		double c = bench_num(b, "lock_contended_fraction");
		CHECK(c >= 0 && c <= 1 && (t > 1 || c == 0), "%s: contended fraction %g", name, c);
	}
}

/* With a run limit far below the minimum time (5 ms against 1 s, so that a timer thread late by
 * a scheduler round on a loaded machine is still early), a run stops at the limit. */
static void check_gave_up(const cJSON *b, const char *name)
{
	CHECK(skipped(b) && strstr(cJSON_GetObjectItemCaseSensitive(b, "error_message")->valuestring, "--run-limit"),
	      "%s: did not give up at --run-limit", name);
}

/* Far more threads than PUs: a FIFO lock either finished, gave up at the limit, or (the ck
 * peers above 16 threads per PU, or under TSan) was refused up front. Says which. */
static void check_stopped(const cJSON *b, const char *name)
{
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(b, "error_message");

	if (!skipped(b)) {
		CHECK(bench_num(b, "items_per_second") > 0, "%s: finished without throughput", name);
		printf("%s: finished\n", name);
		return;
	}
	CHECK(cJSON_IsString(msg) &&
		      (strstr(msg->valuestring, "gave up after --run-limit") ||
		       (strstr(name, "/ck_") &&
			(strstr(msg->valuestring, "refused: ") || strstr(msg->valuestring, "ThreadSanitizer")))),
	      "%s: skipped for another reason", name);
	printf("%s: %s\n", name, msg->valuestring);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The FIFO locks, ours and ck's, at 128 threads with --run-limit=1: each run ends near its limit
 * (before waiting threads yielded past the limit, ticket, mcs and clh took 20-180 s here). */
static void check_fifo_stop(void)
{
	double t0 = now_s();
	int n = run_threads_and_check(BENCH_LOCKS_BIN,
				      "^locks/(ticket|mcs|clh|cohort|ck_ticket|ck_mcs|ck_clh)/backoff:none/cs:16/",
				      "--threads=128", "--run-limit=1", check_stopped);
	double wall = now_s() - t0;

	CHECK(n == 7, "FIFO locks at 128 threads: %d benchmarks, expected 7", n);
	CHECK(wall < 30, "FIFO locks at 128 threads with --run-limit=1 took %.1f s, bound 30 s", wall);
	printf("FIFO locks at 128 threads, --run-limit=1: %.1f s for %d benchmarks\n", wall, n);
}

static void check_atomic(const cJSON *b, const char *name)
{
	CHECK(!skipped(b), "%s skipped", name);
	CHECK(bench_num(b, "items_per_second") > 0 && bench_num(b, "latency_ns/op") > 0, "%s: timed", name);
	if (strstr(name, "/cas_ok/") && bench_num(b, "threads") == 1)
		CHECK(bench_num(b, "cas_failures/op") == 0, "%s: a lone thread never loses a CAS", name);
}

int main(void)
{
	CHECK(mkdtemp(dir), "mkdtemp");
	int n = run_and_check(BENCH_LOCKS_BIN,
			      "^locks/(ttas/backoff:exp/cs:16|rw/backoff:exp/cs:1024|ck_fas/backoff:ck_eb/cs:16|"
			      "pthread_mutex/backoff:none/cs:16)/",
			      NULL, check_lock);
	CHECK(n == 8, "locks: %d benchmarks, expected 4 locks x 2 thread counts", n);
	n = run_and_check(BENCH_CHAIN_BIN,
			  "^chain/(publish/alloc:pool/backoff:(none|exp)/persist:inf/size:1024/work_ns:0|"
			  "readers/alloc:pool/size:16384|memcpy/size:1024)/",
			  NULL, check_chain);
	/* publish: 2 policies x 2 thread counts; memcpy: 2; readers: 3 threads only. */
	CHECK(n == 7, "chain: %d benchmarks, expected 7", n);
	n = run_and_check(BENCH_CHAIN_BIN, "^hogwild/(axpy/impl:scalar|read/impl:scalar|saxpy)/size:4096/", NULL,
			  check_hogwild);
	CHECK(n == 3, "hogwild: %d benchmarks, expected 3", n);
	n = run_and_check(BENCH_MODEL_BIN, "^model/.*/size:16384/work_ns:0/", NULL, check_model);
	/* sync, hogwild; mutex, rwlock x 2 backoffs; leashed x 2 backoffs x 2 bounds; x 2 thread counts. */
	CHECK(n == 20, "model: %d benchmarks, expected 10 cases x 2 thread counts", n);
	n = run_and_check(BENCH_LOCKS_BIN, "^locks/ttas/backoff:none/cs:16/", "--run-limit=0.005 --benchmark_min_time=1",
			  check_gave_up);
	CHECK(n == 2, "run limit: %d benchmarks, expected 2", n);
	check_fifo_stop();
	n = run_and_check(BENCH_ATOMICS_BIN, "^atomics/(cas_ok|faa)/order:seq_cst/", NULL, check_atomic);
	CHECK(n == 12, "atomics: %d benchmarks, expected 2 ops x 3 slots x 2 thread counts", n);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0, "clean up %s", dir);
	CHECK_DONE();
}
