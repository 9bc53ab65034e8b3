#ifndef SGDSYNC_HARNESS_TRAIN_OPTIONS_H
#define SGDSYNC_HARNESS_TRAIN_OPTIONS_H

/* The options of sgdsync-train, in one table that both tools use: sgdsync-train parses its
 * command line with it, sgdsync-sweep checks every grid value and fixed option against it
 * before running anything, and both write a run's "config" object (formats §3) from it. */

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "harness/topology.h"
#include "primitives/model.h"
#include "workloads/stepsize.h"
#include "workloads/train.h"

/* --data synthetic: examples generated, of which the last are held out. */
#define TRAIN_SYNTHETIC_EXAMPLES 6000
#define TRAIN_SYNTHETIC_HELD_OUT 1000

typedef struct {
	model_method method;
	int threads;
	backoff_policy backoff;
	int lock;                  /* a lock_kind, or -1 for the method's default */
	uint32_t persistence;      /* 0 = unbounded */
	chain_alloc alloc;
	int batch;
	double eta;
	uint64_t epochs;
	uint64_t steps;            /* 0: epochs decide */
	uint64_t steps_per_epoch;  /* 0: training-set size / batch */
	char arch[64];
	char data[PATH_MAX];       /* "fashion-mnist", "synthetic" or a directory */
	pin_policy pinning;
	placement memory;
	step_spec step;
	uint64_t seed;
	double targets[TRAIN_MAX_TARGETS];
	int ntargets;
	char counters[64];
	double time_limit_s;       /* 0: none */
	char output[PATH_MAX];     /* "" or "-": stdout */
	int quiet;
	uint64_t abort_at_update;  /* test hook: abort() there */
	uint64_t hang_at_update;   /* test hook: a worker hangs there */
} train_options;

typedef struct {
	const char *name;          /* the long option, without "--" */
	const char *metavar;       /* NULL for a flag */
	const char *fallback;      /* the default, as --help shows it */
	const char *help;
	int (*set)(train_options *o, const char *value, char *err, size_t errlen);
	int list;                  /* sgdsync-sweep may give several values */
} train_option;

extern const train_option train_option_table[];
extern const size_t train_option_count;

void train_options_default(train_options *o);
/* NULL if no option has that name. */
const train_option *train_option_find(const char *name);
/* Sets one option; -1 with a message naming the option and the valid values in err. */
int train_option_set(train_options *o, const char *name, const char *value, char *err,
		     size_t errlen);
/* Options that are valid alone but not together: -1 with a message in err (a backoff given to
 * a method or lock that ignores it, model_check_backoff). */
int train_options_check(const train_options *o, char *err, size_t errlen);
/* Parses argv[1..argc): "--name value" or "--name=value", then checks the options together.
 * Returns 0, 1 when --help was asked (nothing else is parsed), or -1 with a message in err. */
int train_options_parse(train_options *o, int argc, char *const *argv, char *err, size_t errlen);
void train_options_usage(FILE *f, const char *program);

/* Whether the run's budget fits: the engine keeps train_bytes_per_epoch (workloads/train.h) per
 * epoch of the budget, and more than half this machine's memory is refused (-1, the message
 * names the options, the memory and the limit). The epochs come from the training set's size
 * (a directory's labels header) unless --steps-per-epoch fixes them; data that cannot be read
 * passes here and fails where the run loads it. */
int train_options_check_budget(const train_options *o, char *err, size_t errlen);

/* The "config" object of formats §3; epochs and steps_per_epoch as the run resolves them
 * (0 for "not known yet": the sweep, before the data is loaded, passes the options' values). */
cJSON *train_options_config_json(const train_options *o, uint64_t epochs, uint64_t steps_per_epoch);

#endif
