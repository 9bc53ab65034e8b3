#ifndef SGDSYNC_WORKLOADS_BLAS_CORE_H
#define SGDSYNC_WORKLOADS_BLAS_CORE_H

/* Which OpenBLAS kernels ("core") this process runs on, and why.
 *
 * A DYNAMIC_ARCH OpenBLAS picks its core by CPU model when it loads; on a model it does not know
 * it falls back to an older core (Debian's 0.3.21 runs SSE3 Prescott kernels on some AVX-512
 * Xeons, AVX2 Haswell kernels on AVX-512 EPYCs). It reads OPENBLAS_CORETYPE only at load time,
 * so blas_core.c, from a constructor that runs before main in every binary that links
 * workloads, compares the loaded core with the best one the CPU's features (cpufeat.h) and this
 * build allow; where it is lower, it sets OPENBLAS_CORETYPE, says so once on stderr and
 * re-executes the program (/proc/self/exe, same arguments). SGDSYNC_BLAS_CORE=DETECTED>CHOSEN
 * marks the new process (and its children) so they know the library's own choice. A user's
 * OPENBLAS_CORETYPE is never changed. A chosen core must pass a small sgemm check against a
 * reference first; one that fails is dropped for the library's own, with a warning. */

#include "workloads/cpufeat.h"

typedef enum {
	BLAS_CORE_LIBRARY, /* OpenBLAS's own choice, kept */
	BLAS_CORE_SGDSYNC, /* chosen by sgdsync (OPENBLAS_CORETYPE set by blas_core.c) */
	BLAS_CORE_USER     /* OPENBLAS_CORETYPE given by the user */
} blas_core_source;

typedef struct {
	char detected[32]; /* the core OpenBLAS chose by itself; "" when the user chose first */
	char used[32];     /* openblas_get_corename() */
	char best[32];     /* the best core the CPU and this build support; "" when none is known */
	blas_core_source source;
	char note[256];    /* one line on how `used` came about */
} blas_core_info;

/* What this process runs on (filled before main). */
const blas_core_info *blas_core_get(void);
/* "library", "sgdsync", "user". Inline: the harness's environment, which does not link
 * workloads, names the source too. */
static inline const char *blas_core_source_name(blas_core_source s)
{
	return s == BLAS_CORE_USER ? "user" : s == BLAS_CORE_SGDSYNC ? "sgdsync" : "library";
}

/* Order of OpenBLAS x86-64 cores by the widest vector ISA their kernels use (SSE3 < SSSE3/SSE4
 * < AVX < AVX2 < AVX-512 < AVX-512 BF16 < AMX), case-insensitive; -1 for a name it does not know
 * (any other architecture's). Zen is AVX2-class, as Haswell. */
int blas_core_rank(const char *core);
/* The highest-ranked core that features f support and available(core) says this build has;
 * NULL when none (not x86-64). Sapphire Rapids is never proposed (its AMX state needs the
 * kernel's permission first). */
const char *blas_core_best(const cpufeat *f, int (*available)(const char *core));

#endif
