#include "workloads/blas_core.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>

#define BLAS_CORE_MARK "SGDSYNC_BLAS_CORE"

static const struct {
	const char *name;
	int rank;
} core_ranks[] = {
	{"Katmai", 0},      {"Coppermine", 0}, {"Northwood", 0},   {"Banias", 0},
	{"Athlon", 0},      {"Opteron", 0},    {"Prescott", 1},    {"Opteron(SSE3)", 1},
	{"Nano", 1},        {"Core2", 2},      {"Penryn", 2},      {"Dunnington", 2},
	{"Nehalem", 2},     {"Atom", 2},       {"Barcelona", 2},   {"Bobcat", 2},
	{"Sandybridge", 3}, {"Bulldozer", 3},  {"Piledriver", 3},  {"Steamroller", 3},
	{"Excavator", 3},   {"Haswell", 4},    {"Zen", 4},         {"SkylakeX", 5},
	{"Cooperlake", 6},  {"SapphireRapids", 7},
};

int blas_core_rank(const char *core)
{
	for (size_t i = 0; i < sizeof core_ranks / sizeof core_ranks[0]; i++)
		if (strcasecmp(core, core_ranks[i].name) == 0)
			return core_ranks[i].rank;
	return -1;
}

const char *blas_core_best(const cpufeat *f, int (*available)(const char *core))
{
	bool avx512 = f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl;
	const struct {
		const char *core;
		bool supported;
	} order[] = {
		{"Cooperlake", avx512 && f->avx512_bf16},
		{"SkylakeX", avx512},
		{"Haswell", f->avx2 && f->fma},
		{"Sandybridge", f->avx},
		{"Nehalem", f->sse4_1},
		{"Core2", f->ssse3},
		{"Prescott", f->sse3},
	};

	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (order[i].supported && available(order[i].core))
			return order[i].core;
	return NULL;
}

/* A DYNAMIC_ARCH build exports one gotoblas_<CORE> table per core it was built with. */
static int core_in_build(const char *core)
{
	char symbol[64] = "gotoblas_";
	size_t at = strlen(symbol);

	for (; *core && at + 1 < sizeof symbol; core++)
		symbol[at++] = (char)(*core >= 'a' && *core <= 'z' ? *core - 'a' + 'A' : *core);
	symbol[at] = '\0';
	return dlsym(RTLD_DEFAULT, symbol) != NULL;
}

/* A 37 x 29 x 41 product (every kernel's edge cases) against a double-precision loop. */
static bool sgemm_correct(void)
{
	enum { M = 37, N = 29, K = 41 };
	static float a[M * K], b[K * N], c[M * N];

	for (int i = 0; i < M * K; i++)
		a[i] = (float)((i * 7 % 13) - 6) / 8;
	for (int i = 0; i < K * N; i++)
		b[i] = (float)((i * 5 % 11) - 5) / 4;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			double want = 0;

			for (int k = 0; k < K; k++)
				want += (double)a[i * K + k] * b[k * N + j];
			if (fabs(c[i * N + j] - want) > 1e-4 * (1 + fabs(want)))
				return false;
		}
	return true;
}

static blas_core_info core;

static void copy_name(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* Sets OPENBLAS_CORETYPE and the mark, then runs this program again: returns only if it cannot. */
static void reexec_on(const char *detected, const char *chosen, char **argv)
{
	char mark[80];

	snprintf(mark, sizeof mark, "%s>%s", detected, chosen);
	if (argv && argv[0] && setenv("OPENBLAS_CORETYPE", chosen, 1) == 0 &&
	    setenv(BLAS_CORE_MARK, mark, 1) == 0) {
		fflush(NULL);
		execv("/proc/self/exe", argv);
	}
	fprintf(stderr, "sgdsync: warning: cannot run again on OpenBLAS's %s kernels (%s); staying on %s\n",
		chosen, argv && argv[0] ? "execv /proc/self/exe failed" : "no argv", core.used);
	unsetenv("OPENBLAS_CORETYPE");
	unsetenv(BLAS_CORE_MARK);
}

/* OPENBLAS_CORETYPE was set before this process started, by us (the mark names the same core
 * after a detected one) or by the user (a mark ">CORE" says the user's choice was reported). */
static void core_preset(const char *requested, char **argv)
{
	const char *mark = getenv(BLAS_CORE_MARK);
	const char *gt = mark ? strchr(mark, '>') : NULL;
	bool ours = gt && strcmp(gt + 1, requested) == 0;

	if (ours && gt > mark) {
		snprintf(core.detected, sizeof core.detected, "%.*s", (int)(gt - mark), mark);
		core.source = BLAS_CORE_SGDSYNC;
		if (strcmp(core.detected, requested) == 0)
			snprintf(core.note, sizeof core.note,
				 "OpenBLAS's %s kernels kept: %s failed sgdsync's sgemm check on this CPU",
				 core.detected, core.best);
		else if (!sgemm_correct()) {
			fprintf(stderr, "sgdsync: warning: OpenBLAS's %s kernels compute a wrong sgemm on "
					"this CPU; back to its own choice, %s\n", core.used, core.detected);
			reexec_on(core.detected, core.detected, argv);
		} else
			snprintf(core.note, sizeof core.note,
				 "OPENBLAS_CORETYPE=%s set by sgdsync: OpenBLAS chose %s", requested,
				 core.detected);
		return;
	}
	core.source = BLAS_CORE_USER;
	bool below = core.best[0] && blas_core_rank(core.used) < blas_core_rank(core.best);
	snprintf(core.note, sizeof core.note, "OPENBLAS_CORETYPE=%s set by the user%s%s%s", requested,
		 below ? "; below " : "", below ? core.best : "",
		 below ? ", the best core this CPU and OpenBLAS build run" : "");
	if (!below || ours)
		return;
	fprintf(stderr, "sgdsync: note: OPENBLAS_CORETYPE=%s runs OpenBLAS's %s kernels; this CPU "
			"runs %s (unset OPENBLAS_CORETYPE to let sgdsync choose)\n",
		requested, core.used, core.best);
	char once[40];
	snprintf(once, sizeof once, ">%s", requested);
	setenv(BLAS_CORE_MARK, once, 1); /* child processes say it no more */
}

/* glibc calls an executable's constructors with main's arguments. OpenBLAS's own constructor,
 * in a library, has run already: no BLAS call can come before this one. The test hook
 * SGDSYNC_BLAS_CORE_DEBUG_DETECTED=CORE makes it act as if OpenBLAS had chosen CORE. */
__attribute__((constructor)) static void blas_core_select(int argc, char **argv)
{
	const char *requested = getenv("OPENBLAS_CORETYPE");
	const char *pretend = getenv("SGDSYNC_BLAS_CORE_DEBUG_DETECTED");
	cpufeat f;

	(void)argc;
	cpufeat_detect(&f);
	copy_name(core.used, sizeof core.used, openblas_get_corename());
	copy_name(core.best, sizeof core.best, blas_core_best(&f, core_in_build));
	if (requested && requested[0]) {
		core_preset(requested, argv);
		return;
	}
	copy_name(core.detected, sizeof core.detected, pretend ? pretend : core.used);
	core.source = BLAS_CORE_LIBRARY;
	/* a core sgdsync cannot rank (a newer OpenBLAS's) is kept: it may well be the best */
	int rank = blas_core_rank(core.detected);
	if (!core.best[0] || !strstr(openblas_get_config(), "DYNAMIC_ARCH") || rank < 0 ||
	    blas_core_rank(core.best) <= rank) {
		snprintf(core.note, sizeof core.note, "OpenBLAS's own choice%s",
			 !core.best[0] ? " (no x86-64 vector features known to sgdsync)"
			 : rank < 0    ? " (a core sgdsync does not rank)"
				       : "");
		return;
	}
	fprintf(stderr, "sgdsync: OpenBLAS chose its %s kernels on a CPU that runs %s (%s); using %s "
			"(OPENBLAS_CORETYPE=%s; set it yourself to choose another)\n",
		core.detected, core.best, cpufeat_fma_isa(&f), core.best, core.best);
	reexec_on(core.detected, core.best, argv);
}

const blas_core_info *blas_core_get(void)
{
	return &core;
}
