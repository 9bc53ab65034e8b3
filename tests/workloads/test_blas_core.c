/* OpenBLAS core selection (workloads/blas_core.h): the ranks order the cores by ISA, the best
 * core follows the CPU's features and what the build has, the features agree with the kernel's
 * /proc/cpuinfo flags, and end to end, in child processes with their own environment: a core the
 * library chose below the best is replaced before main (the program runs again with the same
 * arguments, says so once, and records both cores), a user's OPENBLAS_CORETYPE is kept (and
 * noted once when lower), a stale mark is no claim, and the core used is what OpenBLAS says. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cblas.h>

#include "check.h"
#include "workloads/blas_core.h"

static void check_ranks(void)
{
	static const char *const order[] = {"Prescott", "Core2", "Sandybridge", "Haswell",
					    "SkylakeX", "Cooperlake", "SapphireRapids"};

	for (size_t i = 1; i < sizeof order / sizeof order[0]; i++)
		CHECK(blas_core_rank(order[i - 1]) < blas_core_rank(order[i]), "%s < %s", order[i - 1],
		      order[i]);
	CHECK(blas_core_rank("Zen") == blas_core_rank("Haswell"), "Zen is AVX2-class");
	CHECK(blas_core_rank("skylakex") == blas_core_rank("SkylakeX"), "case-insensitive");
	CHECK(blas_core_rank("ARMV8") == -1 && blas_core_rank("") == -1, "unknown names");
}

static int all_cores(const char *core)
{
	(void)core;
	return 1;
}

static int no_cooperlake(const char *core)
{
	return strcmp(core, "Cooperlake") != 0;
}

static void check_best(void)
{
	cpufeat f = {.sse3 = true, .ssse3 = true, .sse4_1 = true, .avx = true, .fma = true,
		     .avx2 = true, .avx512f = true, .avx512bw = true, .avx512dq = true,
		     .avx512vl = true, .avx512_bf16 = true};

	CHECK(strcmp(blas_core_best(&f, all_cores), "Cooperlake") == 0, "AVX-512 BF16");
	CHECK(strcmp(blas_core_best(&f, no_cooperlake), "SkylakeX") == 0, "build without Cooperlake");
	f.avx512bw = false; /* AVX-512F alone (Knights Landing): not SkylakeX's kernels */
	CHECK(strcmp(blas_core_best(&f, all_cores), "Haswell") == 0, "AVX-512F without BW");
	f.avx512f = f.avx512dq = f.avx512vl = f.avx512_bf16 = false;
	f.fma = false;
	CHECK(strcmp(blas_core_best(&f, all_cores), "Sandybridge") == 0, "AVX2 without FMA");
	f.avx = f.avx2 = false;
	CHECK(strcmp(blas_core_best(&f, all_cores), "Nehalem") == 0, "SSE4.1");
	memset(&f, 0, sizeof f);
	CHECK(blas_core_best(&f, all_cores) == NULL, "no feature known: no proposal");
}

/* Each feature is set exactly when the kernel lists its flag (it hides what the OS disabled;
 * SSE3 is "pni" there). */
static void check_features(void)
{
	char line[8192] = "";
	FILE *fp = fopen("/proc/cpuinfo", "r");
	cpufeat f;

	CHECK(fp, "/proc/cpuinfo");
	while (fgets(line, sizeof line, fp) && strncmp(line, "flags", 5) != 0)
		;
	fclose(fp);
	cpufeat_detect(&f);
	const struct {
		const char *flag;
		bool have;
	} flags[] = {{" pni ", f.sse3}, {" ssse3 ", f.ssse3}, {" sse4_1 ", f.sse4_1},
		     {" avx ", f.avx}, {" fma ", f.fma}, {" avx2 ", f.avx2}, {" avx512f ", f.avx512f},
		     {" avx512bw ", f.avx512bw}, {" avx512dq ", f.avx512dq},
		     {" avx512vl ", f.avx512vl}, {" avx512_bf16 ", f.avx512_bf16}};

	line[strcspn(line, "\n")] = ' ';
	if (strncmp(line, "flags", 5) != 0) {
		printf("no flags line in /proc/cpuinfo (not x86): feature check skipped\n");
		return;
	}
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
		CHECK((strstr(line, flags[i].flag) != NULL) == flags[i].have, "%s: cpuid/xgetbv say %d",
		      flags[i].flag, flags[i].have);
}

/* This process: the core used is OpenBLAS's, and never below the best unless the user chose. */
static void check_self(void)
{
	const blas_core_info *c = blas_core_get();
	const char *user = getenv("OPENBLAS_CORETYPE");

	CHECK(strcmp(c->used, openblas_get_corename()) == 0, "used %s", c->used);
	if (c->source == BLAS_CORE_USER)
		CHECK(user && strcasecmp(user, c->used) == 0, "user's %s, used %s", user, c->used);
	else if (c->best[0])
		CHECK(blas_core_rank(c->used) >= blas_core_rank(c->best), "used %s below best %s",
		      c->used, c->best);
	printf("this process: %s (detected %s, best %s, chosen by %s: %s)\n", c->used,
	       c->detected[0] ? c->detected : "-", c->best[0] ? c->best : "-",
	       blas_core_source_name(c->source), c->note);
}

typedef struct {
	char out[1024], err[4096];
} child_run;

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
	unlink(path);
}

/* Runs this test as a child ("child ARG") with env[] = {NAME, VALUE or NULL to unset, ...}. */
static void run_child(const char *const *env, child_run *r)
{
	char out[64], err[64];

	snprintf(out, sizeof out, "/tmp/test_blas_core.%d.out", (int)getpid());
	snprintf(err, sizeof err, "/tmp/test_blas_core.%d.err", (int)getpid());
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		char *argv[] = {"test_blas_core", "child", "an argument with spaces", NULL};

		CHECK(freopen(out, "w", stdout) && freopen(err, "w", stderr), "redirect");
		for (int i = 0; env[i]; i += 2)
			CHECK(env[i + 1] ? setenv(env[i], env[i + 1], 1) == 0 : unsetenv(env[i]) == 0,
			      "%s", env[i]);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "child status %d", status);
	slurp(out, r->out, sizeof r->out);
	slurp(err, r->err, sizeof r->err);
}

static int count(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

static void check_children(void)
{
	const blas_core_info *c = blas_core_get();
	child_run r;
	char want[256];

	/* The library's own choice, with nothing set: never below the best. */
	const char *const clean[] = {"OPENBLAS_CORETYPE", NULL, "SGDSYNC_BLAS_CORE", NULL, NULL};
	run_child(clean, &r);
	CHECK(strstr(r.out, "arg=an argument with spaces\n"), "child out: %s", r.out);
	if (!c->best[0]) {
		printf("no x86-64 core known for this CPU: re-execution not tested\n");
		return;
	}
	/* A library that chose Prescott (the test hook says so): the best core, one message. */
	const char *const low[] = {"OPENBLAS_CORETYPE", NULL, "SGDSYNC_BLAS_CORE", NULL,
				   "SGDSYNC_BLAS_CORE_DEBUG_DETECTED", "Prescott", NULL};
	run_child(low, &r);
	snprintf(want, sizeof want, "detected=Prescott used=%s best=%s by=sgdsync\n", c->best, c->best);
	CHECK(strstr(r.out, want), "low: %s", r.out);
	CHECK(strstr(r.out, "arg=an argument with spaces\n"), "arguments kept: %s", r.out);
	CHECK(count(r.err, "sgdsync: OpenBLAS chose its Prescott kernels") == 1, "said once: %s", r.err);

	/* A core sgdsync does not rank (a newer OpenBLAS's): kept, silently. */
	const char *const newer[] = {"OPENBLAS_CORETYPE", NULL, "SGDSYNC_BLAS_CORE", NULL,
				     "SGDSYNC_BLAS_CORE_DEBUG_DETECTED", "Zen9", NULL};
	run_child(newer, &r);
	CHECK(strstr(r.out, "detected=Zen9 ") && strstr(r.out, "by=library") && r.err[0] == '\0',
	      "unranked: %s / %s", r.out, r.err);

	/* The user's choice, lower than the best: kept, noted once; with the mark, not again. */
	const char *const user[] = {"OPENBLAS_CORETYPE", "Prescott", "SGDSYNC_BLAS_CORE", NULL, NULL};
	run_child(user, &r);
	CHECK(strstr(r.out, "detected= used=Prescott") && strstr(r.out, "by=user"), "user: %s", r.out);
	CHECK(count(r.err, "OPENBLAS_CORETYPE=Prescott runs") == 1, "noted once: %s", r.err);
	const char *const noted[] = {"OPENBLAS_CORETYPE", "Prescott", "SGDSYNC_BLAS_CORE", ">Prescott",
				     NULL};
	run_child(noted, &r);
	CHECK(strstr(r.out, "by=user") && r.err[0] == '\0', "noted before: %s / %s", r.out, r.err);

	/* A mark for another core is stale (the user changed OPENBLAS_CORETYPE since): the user's. */
	const char *const stale[] = {"OPENBLAS_CORETYPE", "Prescott", "SGDSYNC_BLAS_CORE",
				     "Haswell>SkylakeX", NULL};
	run_child(stale, &r);
	CHECK(strstr(r.out, "used=Prescott") && strstr(r.out, "by=user"), "stale: %s", r.out);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "child") == 0) {
		const blas_core_info *c = blas_core_get();

		check_self();
		printf("detected=%s used=%s best=%s by=%s\narg=%s\n", c->detected, c->used, c->best,
		       blas_core_source_name(c->source), argv[2]);
		return 0;
	}
	check_ranks();
	check_best();
	check_features();
	check_self();
	check_children();
	CHECK_DONE();
}
