#ifndef SGDSYNC_PRIMITIVES_MODEL_H
#define SGDSYNC_PRIMITIVES_MODEL_H

/* One shared model θ, many workers, five ways to synchronize them (DESIGN.md):
 *   sync     barrier rounds; the gradients of a round are averaged into one update
 *   mutex    read and apply under one lock
 *   rwlock   read under a shared lock, apply under the exclusive lock
 *   hogwild  no synchronization: element-wise relaxed loads and stores (HOGWILD!); a worker
 *            that applied with no other update since its read keeps what it stored, and its
 *            next read skips the copy if still no other update has begun
 *   leashed  the Leashed-SGD chain: counted reference to read, copy-update-CAS to apply
 *
 * A worker repeats: p = model_read(); compute gradient g from p; model_apply(g).
 * Staleness τ of an applied update = updates that landed between its read and its apply. */

#include <stddef.h>
#include <stdint.h>

#include "primitives/backoff.h"
#include "primitives/cacheline.h"
#include "primitives/chain.h"
#include "primitives/histogram.h"
#include "primitives/lock.h"
#include "primitives/memory.h"

typedef enum {
	MODEL_SYNC,
	MODEL_MUTEX,
	MODEL_RWLOCK,
	MODEL_HOGWILD,
	MODEL_LEASHED,
	MODEL_METHOD_COUNT
} model_method;

/* Step-size factor s(τ): the update applied is θ -= eta * s(τ) * g. NULL means s = 1. */
typedef float (*model_step_scale_fn)(void *arg, uint64_t tau);

typedef struct {
	model_method method;
	int workers;              /* how many workers will join (sync waits for all of them) */
	backoff_policy backoff;   /* after a busy lock or a lost CAS */
	int lock;                 /* mutex, rwlock: a lock_kind, or -1 to choose from the backoff */
	uint32_t lock_clusters;   /* cohort lock: clusters (NUMA nodes); 0 means 1 */
	const uint32_t *lock_cluster_of; /* cohort lock: worker id -> cluster, read by model_join;
				   * NULL puts every worker in cluster 0 */
	uint32_t persistence;     /* leashed: CAS attempts per update, 0 = unbounded */
	chain_alloc alloc;        /* leashed: pool or malloc */
	model_step_scale_fn step_scale;
	void *step_scale_arg;
	/* Where the model's memory comes from (NULL: memory_default); it must outlive the model.
	 * Shared: θ (mutex, rwlock, hogwild), θ and the round's sum (sync), every chain vector
	 * (leashed). Private: each worker's copy of θ (mutex, rwlock, hogwild), on its thread. */
	const memory_ops *memory;
} model_config;

typedef struct {
	uint64_t reads;
	uint64_t applied;
	uint64_t dropped;         /* leashed: updates given up at the persistence bound */
	histogram staleness;      /* τ of each applied update */
	lock_stats lock;          /* mutex, rwlock */
	chain_stats chain;        /* leashed */
	backoff_stats backoff;    /* mutex, rwlock; leashed's is in chain */
} model_stats;

typedef struct {
	int applied;              /* 1 applied, 0 dropped */
	uint32_t attempts;        /* leashed: CAS attempts; 1 for the others */
	uint64_t tau;             /* staleness of the applied update */
} model_update;

typedef struct model model;
typedef struct model_worker model_worker;

/* "sync", "mutex", "rwlock", "hogwild", "leashed". */
const char *model_method_name(model_method m);
/* Returns -1 for an unknown name, with a message listing the valid ones in err. */
int model_method_parse(const char *name, model_method *out, char *err, size_t errlen);
/* A config with the method's defaults: no backoff, default lock, unbounded persistence, pool. */
model_config model_config_default(model_method method, int workers);

/* 0 if cfg's backoff has an effect; -1 with a message naming the method or lock, and why, if
 * a policy other than none goes to one that never waits on it: sync (its workers wait at a
 * barrier), hogwild (nothing waits), mutex or rwlock on a blocking lock (lock_kind_uses_backoff).
 * model_create refuses such a config. */
int model_check_backoff(const model_config *cfg, char *err, size_t errlen);

/* θ starts as a copy of init (n floats). Returns NULL with a message in err on bad config. */
model *model_create(const model_config *cfg, size_t n, const float *init, char *err, size_t errlen);
void model_destroy(model *m);
size_t model_size(const model *m);
const model_config *model_get_config(const model *m);

/* Each worker thread joins once, with its own id in [0, workers), and leaves once. Leaving
 * lets a sync round complete without the leaver, and frees the worker: read its stats first. */
model_worker *model_join(model *m, int id, uint64_t seed);
void model_leave(model_worker *w);

/* The parameters to compute a gradient from, valid until this worker's next model_apply or
 * model_leave: the worker's own copy (mutex, rwlock, hogwild), the referenced published
 * vector (leashed, no copy) or θ itself, stable until every worker has applied (sync).
 * *version: the number of updates applied to θ when it was read. */
const float *model_read(model_worker *w, uint64_t *version);

/* θ -= eta * s(τ) * grad. For sync, blocks until the round ends (all workers applied). */
void model_apply(model_worker *w, const float *grad, float eta, model_update *out);

const model_stats *model_worker_stats(model_worker *w);
/* Zeroes the worker's stats: warm-up updates before a measurement then do not count. */
void model_worker_reset_stats(model_worker *w);
void model_stats_add(model_stats *a, const model_stats *b);

/* Updates applied so far. */
uint64_t model_updates(model *m);
/* Copies θ out; call when no worker is inside read or apply (leashed: any time). */
void model_snapshot(model *m, float *out);
/* Leashed: live parameter vectors now and at peak; 0 for the other methods, which own one θ. */
size_t model_live_vectors(model *m);
size_t model_live_vectors_peak(model *m);

/* The model's own shared memory, region by region, as allocated (for tests and records of
 * where it was placed): θ (mutex, rwlock, hogwild), θ then the round's sum (sync), every chain
 * vector with data, pooled and cached ones included (leashed). Returns 0 and sets *p and
 * *bytes for region i, -1 past the last. Call it when no worker is inside read or apply. */
int model_shared_memory(model *m, size_t i, void **p, size_t *bytes);
/* The worker's private copy of θ: 0 and *p, *bytes; -1 for sync and leashed, which have none. */
int model_worker_memory(const model_worker *w, void **p, size_t *bytes);

#endif
