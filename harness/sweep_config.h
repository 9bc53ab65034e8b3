#ifndef SGDSYNC_HARNESS_SWEEP_CONFIG_H
#define SGDSYNC_HARNESS_SWEEP_CONFIG_H

/* What sgdsync-sweep runs: a grid of sgdsync-train option values and the sweep's own keys,
 * from flags and from config files ('key = v1, v2, ...' lines, # comments). Every value is
 * checked by sgdsync-train's own option table before anything runs; an error names its origin
 * ("--flag" or "FILE:LINE") and what is wrong. */

#include <limits.h>
#include <stddef.h>

#include "harness/train_options.h"

#define SWEEP_CONFIG_MAX_DIMS 32
#define SWEEP_CONFIG_MAX_VALUES 64
#define SWEEP_CONFIG_MAX_LINE 4094 /* characters of a config line, its newline not counted */

/* One option of sgdsync-train with the values the sweep gives it. */
typedef struct {
	const train_option *opt;
	char *values[SWEEP_CONFIG_MAX_VALUES];
	int n;
	char origin[PATH_MAX + 16]; /* "--flag" or "FILE:LINE", for messages */
} sweep_dim;

typedef struct {
	sweep_dim dims[SWEEP_CONFIG_MAX_DIMS];
	int ndims;
	char output[PATH_MAX];
	char results_dir[PATH_MAX];
	int repetitions;
	double grace_s;
} sweep_config;

void sweep_config_init(sweep_config *c);
void sweep_config_free(sweep_config *c);
/* key = value list (a flag, or a config line's); a later one replaces an earlier one. -1 with
 * "ORIGIN: what is wrong" in err. */
int sweep_config_set(sweep_config *c, const char *key, const char *value, const char *origin,
		     char *err, size_t errlen);
/* The text of a config file, len bytes (NUL bytes are refused), named name in messages
 * (name:LINE). Each key once per file. */
int sweep_config_parse(sweep_config *c, const char *text, size_t len, const char *name, char *err,
		       size_t errlen);
/* Reads path (a file, a pipe: not a directory) and parses it. */
int sweep_config_read(sweep_config *c, const char *path, char *err, size_t errlen);
/* The number of runs: repetitions times every dimension's values; -1 with the dimensions
 * listed in err when the product does not fit in a size_t. */
int sweep_config_grid_size(const sweep_config *c, size_t *runs, char *err, size_t errlen);

#endif
