/* sgdsync-train and sgdsync-sweep as a user runs them: bad options, the run's JSON (every key
 * of formats §3), divergence, Fashion-MNIST accuracy, and sweeps that crash, hang, are killed
 * midway and resumed. The binaries' paths come from CMake (TRAIN_EXE, SWEEP_EXE).
 *
 * Runs use the synthetic data, mlp:1x16 and a few hundred updates: about half a second each in
 * a release build, a few seconds under ThreadSanitizer (mostly generating the data). */

#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "harness/bench_exec.h"
#include "harness/topology.h"

static char dir[64];

static char *path_in(const char *name)
{
	static char buf[8][320];
	static int next;
	char *p = buf[next++ % 8];
	snprintf(p, 320, "%s/%s", dir, name);
	return p;
}

static const cJSON *get(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	CHECK(v, "missing key \"%s\"", key);
	return v;
}

static void has_keys(const cJSON *o, const char *what, const char *const *keys)
{
	CHECK(cJSON_IsObject(o), "%s is an object", what);
	for (int i = 0; keys[i]; i++)
		CHECK(cJSON_GetObjectItemCaseSensitive(o, keys[i]), "%s lacks \"%s\"", what, keys[i]);
}

/* Runs a tool with args (NULL-terminated after argv[0]); returns the exit status. */
static int tool(const char *exe, const char *const *args, const char *out)
{
	char *argv[64];
	int n = 0;
	argv[n++] = (char *)exe;
	for (int i = 0; args[i]; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	return bench_exec(argv, out, path_in("stderr.txt"));
}

static char *stderr_text(void)
{
	char *t = bench_exec_slurp(path_in("stderr.txt"));
	CHECK(t, "no stderr file");
	return t;
}

/* ---- sgdsync-train ---- */

static void test_bad_options(void)
{
	const char *const bad[][4] = {
		{"--batch", "0", "--batch", NULL},     {"--method", "spin", "--method", NULL},
		{"--eta", "-1", "--eta", NULL},        {"--backoff", "exp:bse=1", "--backoff", NULL},
		{"--data", "/nonexistent", "--data", NULL}, {"--arch", "mlp:9", "--arch", NULL},
		{"--targets", "0.5,3", "--targets", NULL}, {"--step-policy", "tails", "--step-policy", NULL},
		{"--frobnicate", "1", "frobnicate", NULL}, {"--counters", "papi", "--counters", NULL},
		{"--output", "/nonexistent/run.json", "--output", NULL}, {"--output", "/tmp", "--output", NULL},
		{"--targets", ",", "--targets", NULL},  {"--eta", "1e-50", "--eta", NULL},
		{"--seed", " -1", "--seed", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[] = {bad[i][0], bad[i][1], NULL};
		int st = tool(TRAIN_EXE, args, NULL);
		char *err = stderr_text();
		CHECK(st == 2, "%s %s: exit %d, want 2", bad[i][0], bad[i][1], st);
		CHECK(strstr(err, bad[i][2]), "%s %s: the message names the option: %s", bad[i][0],
		      bad[i][1], err);
		free(err);
	}
	const char *help[] = {"--help", NULL};
	CHECK(tool(TRAIN_EXE, help, path_in("help.txt")) == 0, "--help exits 0");
	char *text = bench_exec_slurp(path_in("help.txt"));
	const char *options[] = {"--method", "--threads", "--backoff", "--lock", "--persistence",
				 "--alloc", "--batch", "--eta", "--epochs", "--steps ",
				 "--steps-per-epoch", "--arch", "--data", "--pinning", "--placement",
				 "--step-policy", "--seed", "--targets", "--counters", "--time-limit",
				 "--output", "--quiet", NULL};
	for (int i = 0; options[i]; i++)
		CHECK(strstr(text, options[i]), "--help documents %s", options[i]);
	int defaults = 0;
	for (const char *p = text; (p = strstr(p, "(default: ")); p++)
		defaults++;
	CHECK(defaults >= 22, "--help gives every default (%d)", defaults);
	free(text);
}

/* A budget whose per-epoch bookkeeping exceeds half the machine's memory is refused before
 * anything runs, by both tools (2^40 epochs of about 100 bytes: 110 TB; it failed to allocate
 * after loading the data, or was overcommitted and killed). 10^6 epochs (about 100 MB) pass. */
static void test_budget_bound(void)
{
	const char *train[] = {"--data", "synthetic", "--steps", "1099511627776", "--steps-per-epoch",
			       "1", "--quiet", NULL};
	int st = tool(TRAIN_EXE, train, NULL);
	char *err = stderr_text();
	CHECK(st == 2 && strstr(err, "--steps 1099511627776") && strstr(err, "1099511627776 epochs") &&
		      strstr(err, "half this machine's memory"),
	      "sgdsync-train refuses the budget: exit %d: %s", st, err);
	free(err);
	const char *sweep[] = {"--output", path_in("budget.jsonl"), "--data=synthetic",
			       "--steps=100,1099511627776", "--steps-per-epoch=1", "--quiet", NULL};
	st = tool(SWEEP_EXE, sweep, NULL);
	err = stderr_text();
	CHECK(st == 2 && strstr(err, "--steps=1099511627776") && strstr(err, "half this machine's memory"),
	      "the sweep refuses it up front: exit %d: %s", st, err);
	free(err);
	CHECK(access(path_in("budget.jsonl"), F_OK) != 0, "and runs nothing");
	const char *fits[] = {"--output", path_in("budget.jsonl"), "--data=synthetic",
			      "--steps=1000000", "--steps-per-epoch=1", "--dry-run", NULL};
	CHECK(tool(SWEEP_EXE, fits, NULL) == 0, "10^6 epochs fit: %s", stderr_text());
}

static void check_histogram(const cJSON *h, const char *what)
{
	static const char *const keys[] = {"counts", "overflow", "overflow_from", "mean", "p50",
					   "p99", "max", NULL};
	has_keys(h, what, keys);
}

/* Every key of formats §3, at every level. */
static void check_run_document(const cJSON *d, const char *method)
{
	static const char *const top[] = {"format", "version", "environment", "config", "outcome",
					  "outcome_detail", "initial_loss", "epochs", "curve",
					  "targets", "totals", "staleness", "cas_attempts",
					  "per_thread", "memory", "counters", NULL};
	static const char *const config[] = {"method", "threads", "backoff", "lock", "persistence",
					     "alloc", "batch", "eta", "step_policy", "arch", "data",
					     "epochs", "steps_per_epoch", "seed", "targets",
					     "pinning", "placement", "counters", "time_limit_s",
					     "lock_clusters", NULL};
	static const char *const env[] = {"cpu_model", "kernel", "hostname", "compiler", "cflags",
					  "build_type", "topology", "placement", "versions",
					  "counters", "git_commit", "date", "command_line", NULL};
	static const char *const epoch[] = {"epoch", "updates", "wall_s", "train_loss", "test_loss",
					    "test_accuracy", "updates_per_s", NULL};
	static const char *const point[] = {"updates", "wall_s", "loss", NULL};
	static const char *const target[] = {"fraction", "loss", "reached", "wall_s", "updates", NULL};
	static const char *const totals[] = {"applied", "dropped", "wall_s", "updates_per_s", NULL};
	static const char *const thread[] = {"thread", "applied", "cpu", NULL};
	static const char *const memory[] = {"peak_rss_bytes", "peak_live_vectors", NULL};
	static const char *const counters[] = {"per_update", "unavailable", NULL};
	has_keys(d, "the run", top);
	CHECK(strcmp(get(d, "format")->valuestring, "sgdsync-train") == 0 &&
		      get(d, "version")->valueint == 1,
	      "format and version");
	has_keys(get(d, "config"), "config", config);
	has_keys(get(d, "environment"), "environment", env);
	CHECK(strcmp(get(get(d, "config"), "method")->valuestring, method) == 0, "config method");
	const cJSON *e;
	cJSON_ArrayForEach(e, get(d, "epochs")) has_keys(e, "an epoch", epoch);
	cJSON_ArrayForEach(e, get(d, "curve")) has_keys(e, "a curve point", point);
	cJSON_ArrayForEach(e, get(d, "targets")) has_keys(e, "a target", target);
	cJSON_ArrayForEach(e, get(d, "per_thread")) has_keys(e, "a thread", thread);
	has_keys(get(d, "totals"), "totals", totals);
	has_keys(get(d, "memory"), "memory", memory);
	has_keys(get(d, "counters"), "counters", counters);
	check_histogram(get(d, "staleness"), "staleness");
	if (strcmp(method, "leashed") == 0)
		check_histogram(get(d, "cas_attempts"), "cas_attempts");
	else
		CHECK(cJSON_IsNull(get(d, "cas_attempts")), "cas_attempts null for %s", method);
	CHECK(cJSON_GetArraySize(get(d, "targets")) == 2, "two default targets");
}

static void test_run_json(void)
{
	const char *methods[] = {"mutex", "leashed"};
	for (int m = 0; m < 2; m++) {
		const char *args[] = {"--method", methods[m], "--threads", "1", "--data", "synthetic",
				      "--arch", "mlp:1x16", "--batch", "16", "--eta", "0.05",
				      "--steps", "300", "--steps-per-epoch", "100", "--counters",
				      m == 0 ? "auto" : "none", "--output", path_in("run.json"), NULL};
		int st = tool(TRAIN_EXE, args, NULL);
		char *err = stderr_text();
		CHECK(st == 0, "%s run: exit %d: %s", methods[m], st, err);
		free(err);
		cJSON *d = bench_exec_load_json(path_in("run.json"));
		check_run_document(d, methods[m]);
		const cJSON *tot = get(d, "totals"), *stale = get(d, "staleness");
		CHECK(get(tot, "applied")->valuedouble == 300, "300 updates applied");
		CHECK(get(stale, "max")->valuedouble == 0 && cJSON_GetArraySize(get(stale, "counts")) == 1 &&
			      cJSON_GetArrayItem(get(stale, "counts"), 0)->valuedouble == 300,
		      "%s, one thread: staleness 0 for all 300 updates", methods[m]);
		CHECK(cJSON_GetArraySize(get(d, "epochs")) == 3, "3 epochs");
		if (m == 0) {
			const cJSON *per = get(get(d, "counters"), "per_update");
			CHECK(cJSON_GetObjectItemCaseSensitive(per, "read") &&
				      cJSON_GetObjectItemCaseSensitive(per, "gradient") &&
				      cJSON_GetObjectItemCaseSensitive(per, "apply"),
			      "counters per phase");
			CHECK(get(get(per, "primitive"), "lock-acquisitions")->valuedouble == 2,
			      "a read and an apply lock per update");
		}
		cJSON_Delete(d);
	}
}

/* --lock cohort gets a cluster per NUMA node when pinned, one when not, and the run says so. */
static void test_cohort_clusters(void)
{
	const char *pinnings[] = {"compact", "scatter", "none"};
	for (int p = 0; p < 3; p++) {
		const char *args[] = {"--method", "mutex", "--lock", "cohort", "--threads", "2",
				      "--pinning", pinnings[p], "--data", "synthetic", "--arch",
				      "mlp:1x16", "--steps", "200", "--counters", "none", "--output",
				      path_in("cohort.json"), NULL};
		int st = tool(TRAIN_EXE, args, NULL);
		char *err = stderr_text();
		CHECK(st == 0, "--lock cohort --pinning %s: exit %d: %s", pinnings[p], st, err);
		free(err);
		cJSON *d = bench_exec_load_json(path_in("cohort.json"));
		int clusters = get(get(d, "config"), "lock_clusters")->valueint;
		int expected = p < 2 ? topology_get()->numa_nodes : 1;
		CHECK(clusters == expected, "--pinning %s: %d lock clusters, %d expected", pinnings[p],
		      clusters, expected);
		CHECK(get(get(d, "totals"), "applied")->valuedouble >= 200, "200 updates under cohort");
		cJSON_Delete(d);
	}
}

/* --placement reaches the model: the run records the policy's nodes for its shared pages. */
static void test_placement_record(void)
{
	const double params = 784 * 16 + 16 + 16 * 10 + 10; /* mlp:1x16 */
	const char *methods[] = {"sync", "leashed"}, *specs[] = {"interleave", "node:"};
	char node_spec[32];
	int nodes = topology_get()->numa_nodes;
	placement first = {PLACEMENT_LOCAL, -1};
	for (int n = 0; n < 1024 && first.kind != PLACEMENT_NODE; n++) {
		char err[256];
		snprintf(node_spec, sizeof node_spec, "node:%d", n);
		placement_parse(node_spec, &first, err, sizeof err);
	}
	CHECK(first.kind == PLACEMENT_NODE, "no NUMA node below 1024");
	for (int m = 0; m < 2; m++)
		for (int s = 0; s < 2; s++) {
			const char *spec = s ? node_spec : specs[s];
			const char *args[] = {"--method", methods[m], "--threads", "2", "--data",
					      "synthetic", "--arch", "mlp:1x16", "--steps", "200",
					      "--placement", spec, "--counters", "none",
					      "--output", path_in("placed.json"), NULL};
			int st = tool(TRAIN_EXE, args, NULL);
			char *err = stderr_text();
			CHECK(st == 0, "%s --placement %s: exit %d: %s", methods[m], spec, st, err);
			free(err);
			cJSON *d = bench_exec_load_json(path_in("placed.json"));
			const cJSON *pl = get(get(d, "environment"), "placement");
			const cJSON *model = get(pl, "model");
			CHECK(strcmp(get(pl, "memory")->valuestring, spec) == 0, "memory %s", spec);
			double regions = get(model, "shared_regions")->valuedouble;
			CHECK(m == 0 ? regions == 2 : regions >= 1, "%s: %g shared regions", methods[m],
			      regions);
			CHECK(get(model, "shared_bytes")->valuedouble >= regions * params * 4,
			      "%s: shared bytes", methods[m]);
			CHECK(cJSON_IsString(get(model, "shared_vectors")) &&
				      cJSON_IsString(get(model, "private")),
			      "what is placed");
			CHECK(strcmp(get(model, "shared_policy")->valuestring, s ? "bind" : "interleave") == 0,
			      "%s --placement %s: the OS holds policy %s", methods[m], spec,
			      get(model, "shared_policy")->valuestring);
			const cJSON *bound = get(model, "shared_policy_nodes");
			int nbound = cJSON_GetArraySize(bound);
			CHECK(s ? nbound == 1 && cJSON_GetArrayItem(bound, 0)->valueint == first.node
				: nbound == nodes,
			      "%s --placement %s: bound to %d nodes", methods[m], spec, nbound);
			const cJSON *on = get(model, "shared_nodes"), *node;
			int count = cJSON_GetArraySize(on);
			CHECK(s ? count == 1 && cJSON_GetArrayItem(on, 0)->valueint == first.node
				: count >= 1 && count <= nodes,
			      "%s --placement %s: pages on %d nodes", methods[m], spec, count);
			cJSON_ArrayForEach(node, on) {
				char one[32], perr[256];
				placement any;
				snprintf(one, sizeof one, "node:%d", node->valueint);
				CHECK(placement_parse(one, &any, perr, sizeof perr) == 0,
				      "a page on node %d, not a node of this machine", node->valueint);
			}
			cJSON_Delete(d);
		}
}

/* An IDX split of count side x side images, labels i % classes, in folder sub of the test dir. */
static void write_split(const char *sub, const char *split, int count, int side, int classes)
{
	char name[96];
	unsigned char head[16];
	const uint32_t img_head[4] = {0x803, (uint32_t)count, (uint32_t)side, (uint32_t)side};
	const uint32_t lab_head[2] = {0x801, (uint32_t)count};
	mkdir(path_in(sub), 0755);
	for (int file = 0; file < 2; file++) {
		snprintf(name, sizeof name, "%s/%s-%s", sub, split, file ? "labels-idx1-ubyte" : "images-idx3-ubyte");
		FILE *f = fopen(path_in(name), "wb");
		CHECK(f, "creating %s", name);
		const uint32_t *h = file ? lab_head : img_head;
		int words = file ? 2 : 4;
		for (int w = 0; w < words; w++)
			for (int b = 0; b < 4; b++)
				head[4 * w + b] = (unsigned char)(h[w] >> (24 - 8 * b));
		fwrite(head, 4, (size_t)words, f);
		for (int i = 0; i < count; i++)
			for (int k = 0; k < (file ? 1 : side * side); k++)
				fputc(file ? i % classes : (i * 31 + k * 7) % 256, f);
		CHECK(fclose(f) == 0, "writing %s", name);
	}
}

/* A t10k split that does not fit the train split: images of another size are refused before
 * training; a label only t10k has is a class of the net (evaluation used to abort on it). */
static void test_mismatched_splits(void)
{
	write_split("sizes", "train", 64, 6, 2);
	write_split("sizes", "t10k", 16, 5, 2);
	const char *a1[] = {"--data", path_in("sizes"), "--arch", "mlp:1x4", "--steps", "20", "--quiet", NULL};
	CHECK(tool(TRAIN_EXE, a1, NULL) == 1, "images of two sizes: exit 1");
	char *err = stderr_text();
	CHECK(strstr(err, "t10k images are 5x5 but train images are 6x6"), "names both sizes: %s", err);
	free(err);

	write_split("labels", "train", 64, 6, 2);
	write_split("labels", "t10k", 16, 6, 5);
	const char *a2[] = {"--data", path_in("labels"), "--arch", "mlp:1x4", "--steps", "20", "--quiet",
			    "--output", path_in("labels.json"), NULL};
	CHECK(tool(TRAIN_EXE, a2, NULL) == 0, "a label only in t10k: exit 0");
	cJSON *d = bench_exec_load_json(path_in("labels.json"));
	const cJSON *epochs = get(d, "epochs");
	double acc = get(cJSON_GetArrayItem(epochs, cJSON_GetArraySize(epochs) - 1), "test_accuracy")->valuedouble;
	CHECK(acc >= 0 && acc <= 1, "held-out accuracy %g", acc);
	cJSON_Delete(d);
}

static void test_diverged_run(void)
{
	const char *args[] = {"--method", "hogwild", "--threads", "2", "--data", "synthetic", "--arch",
			      "mlp:1x16", "--eta", "10000", "--steps", "2000", "--counters", "none",
			      "--output", path_in("diverged.json"), NULL};
	int st = tool(TRAIN_EXE, args, NULL);
	CHECK(st == 0, "a diverged run is a completed run: exit %d", st);
	cJSON *d = bench_exec_load_json(path_in("diverged.json"));
	CHECK(strcmp(get(d, "outcome")->valuestring, "diverged") == 0, "outcome %s (%s)",
	      get(d, "outcome")->valuestring, get(d, "outcome_detail")->valuestring);
	CHECK(get(get(d, "totals"), "applied")->valuedouble < 2000, "stopped early");
	cJSON_Delete(d);
}

static void test_fashion_mnist(void)
{
	struct stat st;
	if (stat(DATASET_DIR "/train-images-idx3-ubyte.gz", &st) != 0) {
		printf("Fashion-MNIST not installed in %s: skipping its run\n", DATASET_DIR);
		return;
	}
	const char *args[] = {"--method", "leashed", "--threads", "2", "--arch", "mlp:1x32", "--batch",
			      "64", "--eta", "0.05", "--steps", "600", "--steps-per-epoch", "600",
			      "--counters", "none", "--output", path_in("fashion.json"), NULL};
	int rc = tool(TRAIN_EXE, args, NULL);
	CHECK(rc == 0, "Fashion-MNIST run: exit %d", rc);
	cJSON *d = bench_exec_load_json(path_in("fashion.json"));
	const cJSON *ep = cJSON_GetArrayItem(get(d, "epochs"), 0);
	double acc = get(ep, "test_accuracy")->valuedouble;
	printf("Fashion-MNIST, mlp:1x32, 600 updates of 64: held-out accuracy %.3f\n", acc);
	CHECK(acc > 0.6, "held-out accuracy %g, chance 0.1", acc);
	cJSON_Delete(d);
}

/* ---- sgdsync-sweep ---- */

typedef struct {
	int n;
	char keys[64][128];
	cJSON *records[64];
} sweep_file;

static void read_sweep(const char *path, sweep_file *f)
{
	char *text = bench_exec_slurp(path);
	CHECK(text, "cannot read %s", path);
	f->n = 0;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		CHECK(f->n < 64, "too many records");
		cJSON *r = cJSON_Parse(line);
		CHECK(r, "record %d parses", f->n + 1);
		CHECK(strcmp(get(r, "format")->valuestring, "sgdsync-sweep") == 0, "record format");
		static const char *const keys[] = {"format", "version", "key", "config", "repetition",
						   "outcome", "exit_status", "signal", "wall_s",
						   "result", NULL};
		has_keys(r, "a record", keys);
		snprintf(f->keys[f->n], sizeof f->keys[0], "%s", get(r, "key")->valuestring);
		f->records[f->n++] = r;
	}
	free(text);
}

static void free_sweep(sweep_file *f)
{
	for (int i = 0; i < f->n; i++)
		cJSON_Delete(f->records[i]);
	f->n = 0;
}

static void write_bytes(const char *path, const char *bytes, size_t len)
{
	FILE *f = fopen(path, "w");
	CHECK(f, "cannot write %s", path);
	CHECK(fwrite(bytes, 1, len, f) == len && fclose(f) == 0, "writing %s", path);
}

static void write_file(const char *path, const char *text)
{
	write_bytes(path, text, strlen(text));
}

/* A sweep tool run that must fail with exit 2 and a message holding every one of words. */
static void check_sweep_refuses(const char *const *args, const char *what, const char *const *words)
{
	int st = tool(SWEEP_EXE, args, NULL);
	char *err = stderr_text();
	CHECK(st == 2, "%s: exit %d, want 2: %s", what, st, err);
	for (int i = 0; words[i]; i++)
		CHECK(strstr(err, words[i]), "%s: the message names %s: %s", what, words[i], err);
	free(err);
}

/* A record without a result carries the environment of its run (its own command line). */
static void check_run_environment(const cJSON *r, const char *arg)
{
	static const char *const env[] = {"cpu_model", "kernel", "hostname", "compiler", "cflags",
					  "build_type", "topology", "placement", "versions",
					  "counters", "git_commit", "date", "command_line", NULL};
	const cJSON *e = get(r, "environment");
	has_keys(e, "a crashed or timed-out run's environment", env);
	CHECK(strstr(get(e, "command_line")->valuestring, arg) &&
		      strstr(get(e, "command_line")->valuestring, "sgdsync-train"),
	      "the run's command line: %s", get(e, "command_line")->valuestring);
	CHECK(strcmp(get(get(e, "counters"), "requested")->valuestring, "none") == 0,
	      "the run's counters request");
}

static void test_sweep_crash_and_hang(void)
{
	const char *out = path_in("crash.jsonl"), *conf = path_in("crash.conf");
	write_file(conf, "# one run aborts at update 40, the other completes\nmethods = leashed\n"
			 "debug-abort-at-update = 0, 40   # test hook\nthreads = 2\n");
	const char *args[] = {"--output", out, "--config", conf, "--data=synthetic", "--arch=mlp:1x16",
			      "--steps=300", "--batch=16", "--counters=none", "--quiet", NULL};
	int st = tool(SWEEP_EXE, args, NULL);
	CHECK(st == 0, "sweep with crashing runs: exit %d", st);
	sweep_file f;
	read_sweep(out, &f);
	CHECK(f.n == 2, "2 records, %d", f.n);
	int crashed = 0, completed = 0;
	cJSON *completed_env = NULL;
	for (int i = 0; i < f.n; i++) {
		const cJSON *r = f.records[i];
		int aborts = cJSON_GetObjectItemCaseSensitive(get(r, "config"), "debug_abort_at_update") != NULL;
		const char *outcome = get(r, "outcome")->valuestring;
		if (aborts) {
			crashed++;
			CHECK(strcmp(outcome, "crashed") == 0 && cJSON_IsNull(get(r, "result")) &&
				      cJSON_IsNull(get(r, "exit_status")) &&
				      strcmp(get(r, "signal")->valuestring, "SIGABRT") == 0,
			      "an aborting run is recorded crashed by SIGABRT (%s)", outcome);
			check_run_environment(r, "--debug-abort-at-update=40");
		} else {
			completed++;
			CHECK(cJSON_IsObject(get(r, "result")) && get(r, "exit_status")->valueint == 0 &&
				      strcmp(outcome, "crashed") != 0,
			      "the other runs complete (%s)", outcome);
			CHECK(!cJSON_GetObjectItemCaseSensitive(r, "environment"),
			      "a result carries the environment, the record not again");
			completed_env = cJSON_Duplicate(get(get(r, "result"), "environment"), 1);
		}
	}
	CHECK(crashed == 1 && completed == 1, "%d crashed, %d completed", crashed, completed);
	/* The same machine for the reports: the counters as the completed run opened them. */
	const cJSON *crashed_env = NULL;
	for (int i = 0; i < f.n; i++)
		if (cJSON_GetObjectItemCaseSensitive(f.records[i], "environment"))
			crashed_env = get(f.records[i], "environment");
	CHECK(cJSON_Compare(get(crashed_env, "counters"), get(completed_env, "counters"), 1) &&
		      cJSON_Compare(get(crashed_env, "topology"), get(completed_env, "topology"), 1),
	      "the crashed run's counters and topology are the completed run's");
	cJSON_Delete(completed_env);
	free_sweep(&f);

	const char *hang_out = path_in("hang.jsonl");
	const char *hang[] = {"--output", hang_out, "--method=hogwild", "--threads=2",
			      "--data=synthetic", "--arch=mlp:1x16", "--steps=1000000",
			      "--counters=none", "--time-limit=1", "--grace=1",
			      "--debug-hang-at-update=20", "--quiet", NULL};
	st = tool(SWEEP_EXE, hang, NULL);
	CHECK(st == 0, "sweep with a hanging run: exit %d", st);
	read_sweep(hang_out, &f);
	CHECK(f.n == 1 && strcmp(get(f.records[0], "outcome")->valuestring, "timeout") == 0 &&
		      strcmp(get(f.records[0], "signal")->valuestring, "SIGKILL") == 0,
	      "a hung run is killed and recorded as timeout");
	check_run_environment(f.records[0], "--debug-hang-at-update=20");
	free_sweep(&f);
}

static int count_lines(const char *path)
{
	char *text = bench_exec_slurp(path);
	int n = 0;
	for (char *p = text; p && *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* A whole last record without its newline is kept (it was cut off and run again), and the next
 * record starts a line of its own. */
static void test_sweep_unterminated_record(void)
{
	const char *out = path_in("unterminated.jsonl");
	const char *one[] = {"--output", out, "--method=sync", "--threads=1", "--data=synthetic",
			     "--arch=mlp:1x16", "--steps=20", "--counters=none", "--quiet", NULL};
	CHECK(tool(SWEEP_EXE, one, NULL) == 0, "first sweep: %s", stderr_text());
	char *text = bench_exec_slurp(out);
	size_t len = strlen(text);
	CHECK(len > 0 && text[len - 1] == '\n' && count_lines(out) == 1, "one record");
	text[len - 1] = '\0';
	write_file(out, text);
	const char *two[] = {"--output", out, "--method=sync", "--threads=1,2", "--data=synthetic",
			     "--arch=mlp:1x16", "--steps=20", "--counters=none", "--quiet", NULL};
	CHECK(tool(SWEEP_EXE, two, NULL) == 0, "resumed sweep: %s", stderr_text());
	char *after = bench_exec_slurp(out);
	CHECK(strncmp(after, text, len - 1) == 0 && after[len - 1] == '\n',
	      "the record is kept as it was, its newline added");
	sweep_file f;
	read_sweep(out, &f);
	CHECK(f.n == 2 && count_lines(out) == 2, "two records on two lines (%d)", f.n);
	free_sweep(&f);
	free(text);
	free(after);
}

/* Starts argv (argv[0] a path), stdout to /dev/null, stderr to err_path (NULL: /dev/null),
 * files limited to fsize bytes (RLIM_INFINITY: no limit); returns its pid. */
static pid_t start_tool(const char *const *argv, const char *err_path, rlim_t fsize)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		int err = err_path ? open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : null;
		dup2(null, 1);
		dup2(err, 2);
		struct rlimit lim = {fsize, fsize};
		signal(SIGXFSZ, SIG_IGN); /* a write past fsize fails with EFBIG instead */
		setrlimit(RLIMIT_FSIZE, &lim);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	CHECK(pid > 0, "fork");
	return pid;
}

/* The runs a sweep has started: its log has a "=== KEY: ARGV" line for each. */
static int count_runs_started(const char *log)
{
	char *text = bench_exec_slurp(log);
	int n = 0;
	for (char *p = text; p && (p = strstr(p, "=== ")); p++)
		n++;
	free(text);
	return n;
}

static int wait_status(pid_t pid)
{
	int status;
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The results folder stops being one mid-sweep (a file takes its place: that stops root too). The run's result cannot be written: the sweep stops (exit 1) naming the path and
 * the error, without a record for that run, and a resume redoes it (it was recorded crashed,
 * the sweep exited 0, and a resume never redid it). */
static void test_sweep_unwritable_results(void)
{
	char out[320], results[320], moved[330];
	snprintf(out, sizeof out, "%s", path_in("unwritable.jsonl"));
	snprintf(results, sizeof results, "%s", path_in("results"));
	snprintf(moved, sizeof moved, "%s.moved", results);
	/* The second run lasts its 2 s time limit, the first a fraction of that. */
	const char *argv[] = {SWEEP_EXE, "--output", out, "--results-dir", results, "--method=sync",
			      "--threads=1", "--data=synthetic", "--arch=mlp:1x16",
			      "--steps=200,100000000", "--time-limit=2", "--counters=none", "--quiet",
			      NULL};
	char log[330];
	snprintf(log, sizeof log, "%s.log", out);
	pid_t pid = start_tool(argv, path_in("stderr.txt"), RLIM_INFINITY);
	struct timespec tick = {0, 10000000};
	for (int waited = 0; count_runs_started(log) < 2 && waited < 60000; waited += 10)
		nanosleep(&tick, NULL);
	CHECK(count_lines(out) == 1, "the first run recorded, the second started");
	CHECK(rename(results, moved) == 0, "moving the results away");
	write_file(results, "");
	int st = wait_status(pid);
	char *err = stderr_text();
	CHECK(st == 1 && strstr(err, "not recorded") && strstr(err, results) &&
		      strstr(err, "Not a directory"),
	      "the sweep stops, naming the result and the error: exit %d: %s", st, err);
	free(err);
	CHECK(count_lines(out) == 1, "no record for the run whose result was lost");

	CHECK(unlink(results) == 0 && rename(moved, results) == 0, "restoring the results");
	CHECK(bench_exec((char **)argv, NULL, path_in("stderr.txt")) == 0, "the resume: %s",
	      stderr_text());
	sweep_file f;
	read_sweep(out, &f);
	CHECK(f.n == 2, "both runs recorded after the resume (%d)", f.n);
	for (int i = 0; i < f.n; i++)
		CHECK(cJSON_IsObject(get(f.records[i], "result")), "run %d has its result", i);
	free_sweep(&f);
}

/* Waits up to 30 s for path to exist. */
static int wait_for_file(const char *path)
{
	struct timespec tick = {0, 10000000};
	for (int waited = 0; access(path, F_OK) != 0 && waited < 30000; waited += 10)
		nanosleep(&tick, NULL);
	return access(path, F_OK) == 0;
}

/* Writes that fail once the run is over (files limited to 3000 bytes: EFBIG, for root too):
 * sgdsync-train says so by its exit status 3, and the sweep stops without a record for the run
 * (exit 1), so that a resume redoes it (the run was recorded crashed). */
static void test_result_write_fails(void)
{
	char out[320], json[320];
	snprintf(out, sizeof out, "%s", path_in("efbig.jsonl"));
	snprintf(json, sizeof json, "%s", path_in("efbig.json"));
	const char *train[] = {TRAIN_EXE, "--method=sync", "--threads=1", "--data=synthetic",
			       "--arch=mlp:1x16", "--steps=20", "--counters=none", "--quiet",
			       "--output", json, NULL};
	int st = wait_status(start_tool(train, path_in("stderr.txt"), 3000));
	char *err = stderr_text();
	CHECK(st == 3 && strstr(err, json) && strstr(err, "File too large"),
	      "sgdsync-train: exit %d, want 3, naming the path and the error: %s", st, err);
	free(err);
	const char *sweep[] = {SWEEP_EXE, "--output", out, "--method=sync", "--threads=1",
			       "--data=synthetic", "--arch=mlp:1x16", "--steps=20", "--counters=none",
			       "--quiet", NULL};
	st = wait_status(start_tool(sweep, path_in("stderr.txt"), 3000));
	err = stderr_text();
	CHECK(st == 1 && strstr(err, "not recorded") && strstr(err, "exit 3"),
	      "the sweep stops: exit %d: %s", st, err);
	free(err);
	CHECK(count_lines(out) == 0, "no record for the run");
	CHECK(bench_exec((char **)sweep, NULL, path_in("stderr.txt")) == 0 && count_lines(out) == 1,
	      "a resume without the limit records the run");
}

/* Two sweeps on one output: the second is refused while the first runs (they ran everything
 * twice), and named; the lock dies with its holder. */
static void test_sweep_lock(void)
{
	char out[320], lock[330];
	snprintf(out, sizeof out, "%s", path_in("locked.jsonl"));
	snprintf(lock, sizeof lock, "%s.lock", out);
	const char *first[] = {SWEEP_EXE, "--output", out, "--method=hogwild", "--threads=1",
			       "--data=synthetic", "--arch=mlp:1x16", "--steps=1000000",
			       "--counters=none", "--time-limit=60", "--debug-hang-at-update=20",
			       "--quiet", NULL};
	pid_t pid = start_tool(first, NULL, RLIM_INFINITY);
	CHECK(wait_for_file(lock), "the first sweep says who holds %s", out);
	const char *second[] = {"--output", out, "--method=sync", "--threads=1", "--data=synthetic",
				"--arch=mlp:1x16", "--steps=20", "--counters=none", "--quiet", NULL};
	char holder[64];
	snprintf(holder, sizeof holder, "in use by sweep pid %d (started ", (int)pid);
	check_sweep_refuses(second, "a second sweep on the output",
			    (const char *[]){"locked.jsonl", holder, NULL});
	kill(pid, SIGKILL);
	wait_status(pid);
	CHECK(tool(SWEEP_EXE, second, NULL) == 0, "the lock went with its holder: %s", stderr_text());
	CHECK(count_lines(out) == 1 && access(lock, F_OK) != 0,
	      "one record, and no lock file after the sweep");
}

/* Kills the sweep after k records, restarts it, and counts keys: none repeated, none missing. */
static void test_sweep_resume(void)
{
	const char *out = path_in("resume.jsonl");
	const char *argv[] = {SWEEP_EXE, "--output", out, "--methods=sync,leashed",
			      "--threads=1,2", "--data=synthetic", "--arch=mlp:1x16", "--steps=200",
			      "--batch=16", "--counters=none", "--quiet", NULL};
	pid_t pid = start_tool(argv, NULL, RLIM_INFINITY);
	struct timespec tick = {0, 10000000};
	for (int waited = 0; count_lines(out) < 2 && waited < 30000; waited += 10)
		nanosleep(&tick, NULL);
	CHECK(count_lines(out) >= 2, "two records before the kill");
	kill(pid, SIGKILL);
	wait_status(pid);
	int before = count_lines(out);
	CHECK(before < 4, "killed midway (%d of 4 records)", before);

	/* A torn last line, as if the machine had gone down mid-write: left as it is by a dry run,
	 * cut off on resume. A blank line first, as an editor may leave: skipped. */
	FILE *f = fopen(out, "a");
	fputs("{\"format\":\"sgdsync-sweep\",\"key\":\"torn", f);
	fclose(f);
	char *torn = bench_exec_slurp(out);
	const char *dry[] = {SWEEP_EXE, "--output", out, "--methods=sync,leashed",
			     "--threads=1,2", "--data=synthetic", "--arch=mlp:1x16", "--steps=200",
			     "--batch=16", "--counters=none", "--dry-run", NULL};
	CHECK(bench_exec((char **)dry, NULL, path_in("stderr.txt")) == 0, "dry run of a torn file");
	char *after_dry = bench_exec_slurp(out);
	CHECK(strcmp(torn, after_dry) == 0, "a dry run leaves the torn line");
	f = fopen(out, "w");
	fprintf(f, "\n%s", torn);
	fclose(f);
	free(torn);
	free(after_dry);

	CHECK(bench_exec((char **)argv, NULL, path_in("stderr.txt")) == 0, "the resumed sweep exits 0");
	sweep_file s;
	read_sweep(out, &s);
	CHECK(s.n == 4, "4 records after the resume, %d", s.n);
	for (int i = 0; i < s.n; i++)
		for (int j = i + 1; j < s.n; j++)
			CHECK(strcmp(s.keys[i], s.keys[j]) != 0, "key %s recorded twice", s.keys[i]);
	/* Every configuration of the grid is there: the dry run lists the keys, all done. */
	CHECK(bench_exec((char **)dry, path_in("dry.txt"), path_in("stderr.txt")) == 0, "dry run");
	char *list = bench_exec_slurp(path_in("dry.txt"));
	int listed = 0;
	for (char *p = list; (p = strstr(p, " (done) ")); p++)
		listed++;
	CHECK(listed == 4, "the dry run finds all 4 keys done (%d)", listed);
	free(list);
	free_sweep(&s);
}

static void test_sweep_bad_config(void)
{
	char conf[320], out[320]; /* path_in's buffers are reused by the checks */
	snprintf(conf, sizeof conf, "%s", path_in("bad.conf"));
	snprintf(out, sizeof out, "%s", path_in("x.jsonl"));
	const char *args[] = {"--output", out, "--config", conf, NULL};
	write_file(conf, "# a sweep\nmethods = mutex, leashed\n\nthreads = 1, 2\nbogus = 3\n");
	check_sweep_refuses(args, "unknown key", (const char *[]){"bad.conf:5:", "bogus", NULL});
	write_file(conf, "methods = mutex\neta = 0.01, fast\n");
	check_sweep_refuses(args, "bad value",
			    (const char *[]){"bad.conf:2:", "--eta", "fast", NULL});
	write_file(conf, "methods = mutex\nthreads = 1,,2\n");
	check_sweep_refuses(args, "empty list value",
			    (const char *[]){"bad.conf:2:", "threads", "empty", NULL});
	write_file(conf, "methods = mutex\nthreads = 1\nmethods = leashed\n");
	check_sweep_refuses(args, "key given twice",
			    (const char *[]){"bad.conf:3:", "methods", "twice", NULL});

	/* A comment longer than the read buffer, then a key: the line named is the long one. */
	char long_line[6000];
	memset(long_line, 'x', sizeof long_line);
	memcpy(long_line, "methods = mutex\n# ", 18);
	snprintf(long_line + sizeof long_line - 16, 16, "\nthreads = 1\n");
	write_file(conf, long_line);
	check_sweep_refuses(args, "over-long line",
			    (const char *[]){"bad.conf:2:", "longer", NULL});

	/* A NUL byte is named as such where it stands (it was an over-long line). */
	static const char nul[] = "methods = mutex\nthreads = 1\0002\n";
	write_bytes(conf, nul, sizeof nul - 1);
	check_sweep_refuses(args, "a NUL byte",
			    (const char *[]){"bad.conf:2:", "NUL byte at column 12", NULL});

	/* A directory is no config (it read as an empty one). */
	const char *adir[] = {"--output", out, "--config", dir, NULL};
	check_sweep_refuses(adir, "--config a directory",
			    (const char *[]){"--config", dir, "Is a directory", NULL});

	/* A flag overrides the config wherever it stands, before --config too. */
	write_file(conf, "threads = 2\nmethods = mutex\n");
	const char *before[] = {"--threads=1", "--config", conf, "--output", out, "--steps=5",
				"--dry-run", NULL};
	CHECK(tool(SWEEP_EXE, before, path_in("dry.txt")) == 0, "dry run with a flag before --config");
	char *list = bench_exec_slurp(path_in("dry.txt"));
	CHECK(strstr(list, " --threads=1") && !strstr(list, "--threads=2"),
	      "--threads=1 before --config overrides threads = 2: %s", list);
	free(list);
}

/* 65536 repetitions of 8 options of 64 values each: 2^64 runs, which wrapped to 0 ("0 runs
 * recorded", exit 0); one more option wrapped to a wrong count. */
static void test_sweep_grid_overflow(void)
{
	static char values[64 * 3];
	int at = 0;
	for (int v = 1; v <= 64; v++)
		at += snprintf(values + at, sizeof values - (size_t)at, v > 1 ? ",%d" : "%d", v);
	static const char *const keys[] = {"--seed", "--threads", "--batch", "--persistence", "--epochs",
					   "--steps", "--steps-per-epoch", "--debug-hang-at-update",
					   "--debug-abort-at-update"};
	for (int extra = 0; extra < 2; extra++) {
		const char *args[32] = {"--output", path_in("x.jsonl"), "--repetitions", "65536", "--quiet"};
		int n = 5;
		for (int k = 0; k < 8 + extra; k++) {
			args[n++] = keys[k];
			args[n++] = values;
		}
		args[n] = NULL;
		check_sweep_refuses(args, extra ? "2^70 runs" : "2^64 runs",
				    (const char *[]){"more than", "64 seed (--seed)",
						     "65536 repetitions", NULL});
	}
	CHECK(access(path_in("x.jsonl"), F_OK) != 0, "nothing was recorded");
}

static void test_sweep_bad_input(void)
{
	const char *a2[] = {"--output", path_in("x.jsonl"), "--threads=1,zero", NULL};
	check_sweep_refuses(a2, "bad flag value", (const char *[]){"--threads", "zero", NULL});
	const char *a3[] = {"--methods=mutex", NULL};
	CHECK(tool(SWEEP_EXE, a3, NULL) == 2, "no output: exit 2");
	static char long_threads[5000];
	memset(long_threads, '1', sizeof long_threads - 1);
	const char *a6[] = {"--output", path_in("x.jsonl"), "--threads", long_threads, NULL};
	check_sweep_refuses(a6, "a value over 4 KB", (const char *[]){"--threads", "longer than", NULL});

	/* A --results-dir that is a file would make every run crash. */
	write_file(path_in("afile"), "");
	const char *a5[] = {"--output", path_in("x.jsonl"), "--methods=mutex", "--steps=5",
			    "--results-dir", path_in("afile"), NULL};
	check_sweep_refuses(a5, "--results-dir a file",
			    (const char *[]){"--results-dir", "afile", "not a directory", NULL});

	/* A file that is not ours is never appended to, nor cut, even its last line without a
	 * newline, with --dry-run or without. */
	const char *const foreign[] = {"{\"hello\": 1}\n", "hello world"};
	for (int i = 0; i < 2; i++) {
		write_file(path_in("notours.jsonl"), foreign[i]);
		for (int dry_run = 0; dry_run < 2; dry_run++) {
			const char *a4[] = {"--output", path_in("notours.jsonl"), "--methods=mutex",
					    "--steps=5", dry_run ? "--dry-run" : "--quiet", NULL};
			check_sweep_refuses(a4, foreign[i],
					    (const char *[]){"notours.jsonl", "not a sweep file", NULL});
			char *text = bench_exec_slurp(path_in("notours.jsonl"));
			CHECK(strcmp(text, foreign[i]) == 0, "foreign output untouched: '%s'", text);
			free(text);
		}
	}
}

/* A backoff where nothing waits on it is refused by sgdsync-train, skipped by the sweep. */
static void test_backoff_without_effect(void)
{
	const char *const ignored[][6] = {
		{"--method", "hogwild", "--backoff", "exp", NULL, "method hogwild"},
		{"--method", "sync", "--backoff", "yield", NULL, "method sync"},
		{"--method=mutex", "--lock=mutex", "--backoff", "exp", NULL, "lock mutex"},
		{"--method=rwlock", "--lock=pthread-rw", "--backoff", "const:base=8", NULL, "lock pthread-rw"},
	};
	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
		int st = tool(TRAIN_EXE, ignored[i], NULL);
		char *err = stderr_text();
		CHECK(st == 2, "%s %s: exit %d, want 2", ignored[i][0], ignored[i][1], st);
		CHECK(strstr(err, "--backoff") && strstr(err, "no effect") && strstr(err, ignored[i][5]),
		      "the message names the backoff and %s: %s", ignored[i][5], err);
		free(err);
	}
	char out[320];
	snprintf(out, sizeof out, "%s", path_in("skip.jsonl"));
	const char *grid[] = {"--output", out, "--methods=hogwild,mutex", "--backoff=none,exp",
			      "--lock=default", "--dry-run", NULL};
	CHECK(tool(SWEEP_EXE, grid, path_in("skip.txt")) == 0, "a grid crossing hogwild with backoffs runs");
	char *list = bench_exec_slurp(path_in("skip.txt")), *err = stderr_text();
	CHECK(strstr(list, "--method=hogwild --backoff=none") && strstr(list, "--method=mutex --backoff=exp") &&
		      !strstr(list, "--method=hogwild --backoff=exp"),
	      "hogwild with exp skipped, the rest kept: %s", list);
	CHECK(strstr(err, "skipping 1 of 4") && strstr(err, "hogwild"), "the note: %s", err);
	free(list);
	free(err);
	const char *none_left[] = {"--output", out, "--methods=hogwild", "--backoff=exp", "--dry-run", NULL};
	check_sweep_refuses(none_left, "a grid of refused configurations", (const char *[]){"every configuration", "hogwild", NULL});
}

static void remove_dir(void)
{
	char cmd[96];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "removing %s", dir);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/sgdsync-test-tools-XXXXXX");
	CHECK(mkdtemp(dir), "temporary directory");
	test_bad_options();
	test_budget_bound();
	test_run_json();
	test_cohort_clusters();
	test_placement_record();
	test_mismatched_splits();
	test_diverged_run();
	test_fashion_mnist();
	test_sweep_bad_config();
	test_sweep_bad_input();
	test_backoff_without_effect();
	test_sweep_grid_overflow();
	test_sweep_crash_and_hang();
	test_sweep_resume();
	test_sweep_lock();
	test_sweep_unterminated_record();
	test_sweep_unwritable_results();
	test_result_write_fails();
	remove_dir();
	CHECK_DONE();
}
