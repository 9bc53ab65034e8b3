/* The benchmark binaries on a narrow filter, briefly, with 1 and 3 threads (3 oversubscribes
 * a 2-core machine): what they report must hold whatever the timings are.
 *   locks:   Jain's index in [1/T, 1], min share <= 1/T <= max share, wait p50 <= p99; our locks
 *            report contention per operation in [0, 1], the peers report none (absent, not 0).
 *   chain:   every publish makes at least one CAS attempt, failures = attempts - 1 per publish,
 *            nothing dropped with unbounded persistence, live vectors never above 2T + 1.
 *   atomics: one thread alone never loses a CAS. */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bench_exec.h"

static char dir[] = "/tmp/sgdsync-test-bench-binaries-XXXXXX";

static cJSON *run(const char *bin, const char *filter)
{
	char out[256], err[256], filter_flag[512];
	snprintf(out, sizeof out, "%s/out.json", dir);
	snprintf(err, sizeof err, "%s/err", dir);
	snprintf(filter_flag, sizeof filter_flag, "--benchmark_filter=%s", filter);
	char *argv[] = {(char *)bin, "--counters=none", "--threads=1,3", "--benchmark_min_time=0.01", filter_flag, NULL};
	return bench_exec_json(argv, out, err);
}

static int skipped(const cJSON *b) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "error_occurred")); }

static void check_locks(void)
{
	cJSON *doc = run(BENCH_LOCKS_BIN, "^locks/(ttas/backoff:exp/cs:16|rw/backoff:exp/cs:1024|ck_fas/backoff:ck_eb/cs:16|"
					  "pthread_mutex/backoff:none/cs:16)/");
	int n = 0;
	cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
	{
		const char *name = bench_name(b);
		int ck = strstr(name, "/ck_") != NULL;
		n++;
		if (skipped(b)) {
			/* Only ck's locks skip, and only where TSan cannot see their inline assembly. */
			CHECK(ck && strstr(cJSON_GetObjectItemCaseSensitive(b, "error_message")->valuestring, "ThreadSanitizer"),
			      "%s skipped", name);
			continue;
		}
		double t = bench_num(b, "threads"), eps = 1e-9;
		double jain = bench_num(b, "fairness_jain"), lo = bench_num(b, "share_min"), hi = bench_num(b, "share_max");
		CHECK(jain >= 1 / t - eps && jain <= 1 + eps, "%s: Jain's index %g outside [1/T, 1]", name, jain);
		CHECK(lo <= 1 / t + eps && hi >= 1 / t - eps && lo <= hi, "%s: shares %g..%g around 1/T", name, lo, hi);
		CHECK(bench_num(b, "wait_ns_p50") <= bench_num(b, "wait_ns_p99"), "%s: wait p50 <= p99", name);
		CHECK(bench_num(b, "items_per_second") > 0, "%s: throughput", name);
		int ours = strncmp(name, "locks/ttas/", 11) == 0 || strncmp(name, "locks/rw/", 9) == 0;
		if (ours) {
			double c = bench_num(b, "contended/op");
			CHECK(c >= 0 && c <= 1, "%s: contended/op %g outside [0, 1]", name, c);
		} else {
			CHECK(!cJSON_HasObjectItem(b, "contended/op"), "%s: a peer reports no contention count", name);
		}
	}
	CHECK(n == 8, "locks: %d benchmarks, expected 4 locks x 2 thread counts", n);
	cJSON_Delete(doc);
}

static void check_chain(void)
{
	cJSON *doc = run(BENCH_CHAIN_BIN, "^chain/(publish/alloc:pool/backoff:(none|exp)/persist:inf/size:1024/work_ns:0|"
					  "readers/alloc:pool/size:16384|memcpy/size:1024)/");
	int n = 0;
	cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
	{
		const char *name = bench_name(b);
		double t = bench_num(b, "threads");
		n++;
		CHECK(!skipped(b), "%s skipped", name);
		if (strncmp(name, "chain/memcpy/", 13) == 0) {
			CHECK(fabs(bench_num(b, "bytes_per_second") - 4096 * bench_num(b, "items_per_second")) <=
				      1e-6 * bench_num(b, "bytes_per_second"),
			      "%s: bytes = 4 KiB per copy", name);
			continue;
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
	/* publish: 2 policies x 2 thread counts; memcpy: 2; readers: 3 threads only. */
	CHECK(n == 7, "chain: %d benchmarks, expected 7", n);
	cJSON_Delete(doc);
}

static void check_atomics(void)
{
	cJSON *doc = run(BENCH_ATOMICS_BIN, "^atomics/(cas_ok|faa)/order:seq_cst/");
	int n = 0;
	cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
	{
		const char *name = bench_name(b);
		n++;
		CHECK(!skipped(b), "%s skipped", name);
		CHECK(bench_num(b, "items_per_second") > 0 && bench_num(b, "latency_ns/op") > 0, "%s: timed", name);
		if (strstr(name, "/cas_ok/") && bench_num(b, "threads") == 1)
			CHECK(bench_num(b, "cas_failures/op") == 0, "%s: a lone thread never loses a CAS", name);
	}
	CHECK(n == 12, "atomics: %d benchmarks, expected 2 ops x 3 slots x 2 thread counts", n);
	cJSON_Delete(doc);
}

int main(void)
{
	CHECK(mkdtemp(dir), "mkdtemp");
	check_locks();
	check_chain();
	check_atomics();
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0, "clean up %s", dir);
	CHECK_DONE();
}
