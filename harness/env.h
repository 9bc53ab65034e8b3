#ifndef SGDSYNC_HARNESS_ENV_H
#define SGDSYNC_HARNESS_ENV_H

/* The environment object every result file carries (formats §1): machine, build, versions,
 * topology, placement, counters, git commit, date and command line; the OS settings that move
 * figures (env_system.h) and the OpenBLAS core (workloads/blas_core.h).
 *
 * Build facts (compiler, flags, build type, versions, git commit at configure time) come from
 * CMake. The harness does not link OpenBLAS: a binary that does passes its openblas_get_config()
 * string in env_options, and its blas_core_get(); otherwise "versions.openblas" and "blas" are
 * null. Counters come from
 * counters_status_json (call counters_open first to have them). Write result documents with
 * jsonfile_write_atomic (harness/jsonfile.h). */

#include <cjson/cJSON.h>

#include "harness/topology.h"
#include "workloads/blas_core.h"

typedef struct {
	pin_policy pinning;
	placement memory;
	const char *openblas_config; /* openblas_get_config(), or NULL when not linked */
	const blas_core_info *blas_core; /* blas_core_get(), or NULL when not linked */
	int argc;                    /* the command line, recorded as typed (arguments joined by */
	char *const *argv;           /* spaces, quoted when they hold spaces or quotes) */
} env_options;

/* The environment object; NULL only if out of memory. The caller owns the result. */
cJSON *env_json(const env_options *o);

#endif
