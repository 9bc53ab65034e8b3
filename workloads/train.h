#ifndef SGDSYNC_WORKLOADS_TRAIN_H
#define SGDSYNC_WORKLOADS_TRAIN_H

/* Asynchronous parallel SGD: N worker threads train one network through one shared model
 * (primitives/model.h). Each worker repeats
 *     θ = model_read(); gather its next mini-batch; g = ∇loss(θ, batch); model_apply(g)
 * until the update budget is spent, the time limit passes, or the loss diverges.
 *
 * Sampling: each worker walks its own permutation of the training set (seeded by the run's seed
 * and the worker's id), reshuffled whenever it has been walked through.
 *
 * Numbering: an applied update's number is the model version it was applied to (the version it
 * read plus its staleness τ); for sync, where a round's n gradients make one update, it is the
 * round times n plus the worker's place in the round, so that every method counts gradients.
 * An epoch is `steps_per_epoch` numbers (default: training-set size / batch); each applied
 * update adds its batch loss to the epoch its number falls in (per-worker accumulators,
 * merged after the run). Updates still in flight when the budget is reached (at most n - 1)
 * are counted in the totals but in no epoch.
 *
 * Held-out evaluation never runs beside the workers: the worker whose update closes an epoch
 * copies the parameters it reads next (its own consistent copy, or the published vector) into
 * that epoch's snapshot, and the snapshots are evaluated on the test set after the run
 * (TRAIN_EVAL_POINTS of them at most).
 * So epoch wall times and updates/s measure training alone.
 *
 * Initial loss: the mean loss of the initial parameters over a fixed sample of the training set
 * (TRAIN_INITIAL_SAMPLE examples evenly spaced through it, independent of the seed).
 * Targets: the first epoch whose epoch loss is <= fraction x initial loss; time and updates
 * are those at the end of that epoch.
 * Divergence: a non-finite batch loss, or a worker's moving average of its batch losses (weight
 * 1/8 per update) above `diverge_factor` x the initial loss, stops the run. */

#include <stddef.h>
#include <stdint.h>

#include "primitives/histogram.h"
#include "primitives/model.h"
#include "workloads/dataset.h"
#include "workloads/net.h"
#include "workloads/stepsize.h"

#define TRAIN_INITIAL_SAMPLE 2048
#define TRAIN_MAX_TARGETS 8
#define TRAIN_CURVE_POINTS 200
/* Held-out evaluation of at most this many epochs: all of them, or every k-th and the last
 * (k = ceil(epochs / TRAIN_EVAL_POINTS)); the others have no test loss. Bounds the snapshots'
 * memory (one parameter vector each). */
#define TRAIN_EVAL_POINTS 64

typedef enum {
	TRAIN_CONVERGED,     /* every target reached */
	TRAIN_NOT_CONVERGED, /* budget or time spent first */
	TRAIN_DIVERGED,      /* stopped early: loss not finite or far above the initial */
	TRAIN_OUTCOME_COUNT
} train_outcome;

/* What a worker does between phase calls. */
typedef enum {
	TRAIN_PHASE_READ,     /* model_read */
	TRAIN_PHASE_GRADIENT, /* gather the batch, loss and gradient */
	TRAIN_PHASE_APPLY,    /* model_apply */
	TRAIN_PHASE_OTHER,    /* bookkeeping between updates */
	TRAIN_PHASE_COUNT
} train_phase;

typedef struct {
	uint64_t updates;      /* model version now */
	uint64_t total;        /* the budget */
	uint64_t epoch;        /* epochs completed */
	uint64_t epochs;       /* epochs in the budget */
	double elapsed_s;
	double loss;           /* mean of the workers' moving averages of their batch losses */
} train_progress;

/* Callbacks for what workloads may not do itself (pinning, counters, NUMA placement). Every
 * member may be NULL. The worker callbacks run on the worker thread. */
typedef struct {
	void *arg;
	/* First thing on worker `id`'s thread, before it joins the model. */
	void (*worker_start)(void *arg, int id);
	/* Last thing on it, after it has left the model. */
	void (*worker_stop)(void *arg, int id);
	/* The worker now enters `phase`: what was counted since its previous call belongs to the
	 * previous phase. Called four times per update; OTHER last. */
	void (*phase)(void *arg, int id, train_phase phase);
	/* Memory for the initial parameter vector (n floats), e.g. placed on a NUMA node. */
	float *(*alloc_params)(void *arg, size_t n);
	void (*free_params)(void *arg, float *params, size_t n);
	/* Once the workers have left, before the model is destroyed, on the thread that called
	 * train_run: e.g. to see where its memory lies (model_shared_memory). */
	void (*model_done)(void *arg, model *m);
	/* About every progress_interval_s on the thread that called train_run. */
	void (*progress)(void *arg, const train_progress *p);
} train_hooks;

typedef struct {
	model_config model;        /* method, workers, backoff, lock, persistence, alloc, memory
				    * (also the workers' batch and gradient buffers, as private
				    * memory); step_scale is set from step */
	step_spec step;
	const net *net;
	const dataset *train;
	const dataset *test;       /* may be NULL: no held-out figures */
	int batch;
	float eta;
	uint64_t epochs;           /* the budget is epochs x steps_per_epoch numbered updates */
	uint64_t steps_per_epoch;  /* 0: training-set size / batch */
	uint64_t max_steps;        /* > 0: the budget instead, in numbered updates; epochs is then
				    * ignored and the last epoch may be shorter */
	uint64_t seed;             /* parameters and sampling */
	double targets[TRAIN_MAX_TARGETS]; /* fractions of the initial loss */
	int ntargets;
	double diverge_factor;     /* 0: 10 */
	double time_limit_s;       /* 0: none */
	double progress_interval_s;/* 0: 0.25 */
	uint64_t abort_at_update;  /* test hook: abort() once this many updates are applied; 0 off */
	uint64_t hang_at_update;   /* test hook: the worker that applies it never returns; 0 off */
	train_hooks hooks;
} train_config;

typedef struct {
	uint64_t epoch;            /* from 1 */
	uint64_t updates;          /* numbered updates up to the end of this epoch */
	double wall_s;             /* since the start, at the end of the epoch */
	double train_loss;         /* NaN if not finite or no update */
	double test_loss;          /* NaN without a test set */
	double test_accuracy;
	double updates_per_s;      /* over this epoch */
} train_epoch;

typedef struct {
	uint64_t updates;
	double wall_s;
	double loss;               /* mean batch loss of the updates since the previous point */
} train_point;

typedef struct {
	double fraction;
	double loss;
	int reached;
	double wall_s;
	uint64_t updates;
} train_target;

typedef struct {
	uint64_t applied;
	int cpu;                   /* where the worker last ran, -1 if unknown */
} train_thread;

typedef struct {
	train_outcome outcome;
	char detail[256];
	double initial_loss;
	train_epoch *epochs;
	size_t nepochs;
	train_point *curve;
	size_t ncurve;
	train_target targets[TRAIN_MAX_TARGETS];
	int ntargets;
	uint64_t steps_per_epoch;  /* as used */
	uint64_t budget;           /* numbered updates asked for */
	uint64_t epochs_planned;   /* epochs in the budget, the last maybe shorter */
	uint64_t applied, dropped;
	double wall_s, updates_per_s;
	model_stats stats;         /* all workers' stats merged: staleness, chain (CAS), locks */
	train_thread *threads;
	int nthreads;
	uint64_t peak_rss_bytes;
	size_t peak_live_vectors;  /* leashed only, else 0 */
} train_result;

/* train and test become views of all: the first count - holdout examples and the last holdout
 * (a synthetic set made once then split, so both halves share its classes). Free only all. */
void train_split_holdout(const dataset *all, size_t holdout, dataset *train, dataset *test);

const char *train_outcome_name(train_outcome o);

/* Defaults: the method's model defaults, step policy none, batch 64, eta 0.01, 5 epochs,
 * targets 0.5 and 0.25, seed 1; net and data unset. */
train_config train_config_default(model_method method, int workers);

/* The budget as train_run works it out: numbered updates per epoch (steps_per_epoch, or
 * examples / batch, at least 1) and the epochs they make (epochs, or max_steps of them when
 * not 0, the last epoch maybe shorter). */
void train_budget(uint64_t epochs, uint64_t max_steps, uint64_t steps_per_epoch, int batch,
		  size_t examples, uint64_t *spe, uint64_t *nepochs);
/* The engine's memory per epoch of the budget with `workers` workers: per-slice losses (one
 * accumulator per worker and one for the run), slice end times, snapshot flags and the
 * epoch's row of the result. A run of E epochs takes E times this. */
size_t train_bytes_per_epoch(int workers);

/* Runs the training. Returns -1 with a message in err for a config or setup error (nothing
 * ran); 0 otherwise, with every outcome, divergence included, in *res. */
int train_run(const train_config *cfg, train_result *res, char *err, size_t errlen);
void train_result_free(train_result *res);

#endif
