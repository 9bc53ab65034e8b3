#include "primitives/model.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "primitives/hogwild.h"
#include "primitives/syncround.h"

/* One table row per method: how a worker reads θ and applies a gradient. */
typedef struct {
	const char *name;
	int (*create)(model *m, const float *init, char *err, size_t errlen);
	void (*destroy)(model *m);
	const float *(*read)(model_worker *w, uint64_t *version);
	void (*apply)(model_worker *w, const float *g, float eta, model_update *out);
	void (*snapshot)(model *m, float *out);
	uint64_t (*updates)(model *m);
} model_ops;

struct model {
	model_config cfg;
	const model_ops *ops;
	size_t n;
	float *theta;             /* mutex, rwlock */
	uint64_t updates;         /* mutex, rwlock: written under the lock */
	hogwild_float *shared;    /* hogwild */
	chain *chain;             /* leashed */
	syncround round;          /* sync */
	lock_t lock;              /* mutex, rwlock */
	/* hogwild: its own line, every apply increments it. */
	CACHELINE_ALIGNED _Atomic uint64_t hogwild_updates;
};

struct model_worker {
	model *m;
	int id;
	uint64_t read_version;
	float *buf;               /* mutex, rwlock, hogwild: the worker's copy of θ */
	uint64_t kept_version;    /* hogwild: buf holds what this worker's last apply stored, and */
	int kept;                 /* θ had this many updates then (see hogwild_read_m) */
	lock_ctx lock;
	chain_worker chain;
	model_stats stats;
} CACHELINE_ALIGNED;

static float step_of(const model *m, float eta, uint64_t tau)
{
	const model_config *c = &m->cfg;
	return c->step_scale ? eta * c->step_scale(c->step_scale_arg, tau) : eta;
}

static void axpy(float *x, float a, const float *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] += a * g[i];
}

static void record(model_worker *w, model_update *out, int applied, uint32_t attempts, uint64_t tau)
{
	out->applied = applied;
	out->attempts = attempts;
	out->tau = tau;
	if (applied) {
		w->stats.applied++;
		histogram_add(&w->stats.staleness, tau);
	} else {
		w->stats.dropped++;
	}
}

/* ---- mutex and rwlock: θ and an update counter behind one lock ---- */

static int locked_create(model *m, const float *init, char *err, size_t errlen)
{
	int rw = m->cfg.method == MODEL_RWLOCK;
	int kind = m->cfg.lock;
	if (kind < 0) {
		int backoff = m->cfg.backoff.kind != BACKOFF_NONE;
		kind = rw ? (backoff ? LOCK_RW : LOCK_PTHREAD_RW) : (backoff ? LOCK_TRYMUTEX : LOCK_MUTEX);
	}
	if (kind >= LOCK_KIND_COUNT || (rw && !lock_kind_is_rw((lock_kind)kind))) {
		snprintf(err, errlen, "method rwlock needs a read-write lock (pthread-rw or rw), not \"%s\"",
			 kind < LOCK_KIND_COUNT ? lock_kind_name((lock_kind)kind) : "?");
		return -1;
	}
	m->theta = memory_shared(m->cfg.memory, m->n * sizeof(float));
	if (!m->theta) {
		snprintf(err, errlen, "out of memory for %zu parameters", m->n);
		return -1;
	}
	if (lock_init_clusters(&m->lock, (lock_kind)kind,
			       m->cfg.lock_clusters ? m->cfg.lock_clusters : 1) != 0) {
		snprintf(err, errlen, "cannot initialise the %s lock", lock_kind_name((lock_kind)kind));
		memory_free(m->cfg.memory, m->theta, m->n * sizeof(float));
		return -1;
	}
	memcpy(m->theta, init, m->n * sizeof(float));
	m->cfg.lock = kind;
	return 0;
}

static void locked_destroy(model *m)
{
	lock_destroy(&m->lock);
	memory_free(m->cfg.memory, m->theta, m->n * sizeof(float));
}

static const float *locked_read(model_worker *w, uint64_t *version)
{
	model *m = w->m;
	lock_acquire_read(&m->lock, &w->lock);
	memcpy(w->buf, m->theta, m->n * sizeof(float));
	*version = m->updates;
	lock_release_read(&m->lock, &w->lock);
	return w->buf;
}

static void locked_apply(model_worker *w, const float *g, float eta, model_update *out)
{
	model *m = w->m;
	lock_acquire(&m->lock, &w->lock);
	uint64_t tau = m->updates - w->read_version;
	axpy(m->theta, -step_of(m, eta, tau), g, m->n);
	m->updates++;
	lock_release(&m->lock, &w->lock);
	record(w, out, 1, 1, tau);
}

static void locked_snapshot(model *m, float *out)
{
	lock_ctx ctx;
	lock_ctx_init(&ctx, &backoff_none, 0);
	lock_acquire_read(&m->lock, &ctx);
	memcpy(out, m->theta, m->n * sizeof(float));
	lock_release_read(&m->lock, &ctx);
	lock_ctx_destroy(&ctx);
}

static uint64_t locked_updates(model *m)
{
	lock_ctx ctx;
	lock_ctx_init(&ctx, &backoff_none, 0);
	lock_acquire_read(&m->lock, &ctx);
	uint64_t u = m->updates;
	lock_release_read(&m->lock, &ctx);
	lock_ctx_destroy(&ctx);
	return u;
}

/* ---- hogwild: no synchronization, a relaxed counter only for staleness ---- */

static int hogwild_create_m(model *m, const float *init, char *err, size_t errlen)
{
	m->shared = hogwild_create(m->n, init, m->cfg.memory);
	if (!m->shared) {
		snprintf(err, errlen, "out of memory for %zu parameters", m->n);
		return -1;
	}
	atomic_init(&m->hogwild_updates, 0);
	return 0;
}

static void hogwild_destroy_m(model *m)
{
	hogwild_destroy(m->shared, m->n, m->cfg.memory);
}

/* The copy is skipped when the worker's last apply kept what it stored and no update has begun
 * since: buf is then what the copy would give (bit for bit single-threaded; at most missing the
 * tail of an update begun before this worker's last read and still being written). */
static const float *hogwild_read_m(model_worker *w, uint64_t *version)
{
	model *m = w->m;
	/* Relaxed: staleness is a count, HOGWILD! orders nothing. */
	*version = atomic_load_explicit(&m->hogwild_updates, memory_order_relaxed);
	if (!w->kept || *version != w->kept_version)
		hogwild_read(m->shared, w->buf, m->n);
	return w->buf;
}

static void hogwild_apply_m(model_worker *w, const float *g, float eta, model_update *out)
{
	model *m = w->m;
	uint64_t now = atomic_fetch_add_explicit(&m->hogwild_updates, 1, memory_order_relaxed);
	uint64_t tau = now - w->read_version;
	/* Alone since its read, the worker is likely alone at its next: keep what it stores. */
	w->kept = tau == 0;
	w->kept_version = now + 1;
	hogwild_axpy(m->shared, -step_of(m, eta, tau), g, w->kept ? w->buf : NULL, m->n);
	record(w, out, 1, 1, tau);
}

static void hogwild_snapshot_m(model *m, float *out)
{
	hogwild_read(m->shared, out, m->n);
}

static uint64_t hogwild_updates_m(model *m)
{
	return atomic_load_explicit(&m->hogwild_updates, memory_order_relaxed);
}

/* ---- leashed: the parameter chain ---- */

static int leashed_create(model *m, const float *init, char *err, size_t errlen)
{
	m->chain = chain_create(m->n, init, m->cfg.alloc, m->cfg.persistence, &m->cfg.backoff,
				m->cfg.memory);
	if (!m->chain) {
		snprintf(err, errlen, "out of memory for %zu parameters", m->n);
		return -1;
	}
	return 0;
}

static void leashed_destroy(model *m)
{
	chain_destroy(m->chain);
}

static const float *leashed_read(model_worker *w, uint64_t *version)
{
	return chain_acquire(&w->chain, version);
}

typedef struct {
	model_worker *w;
	const float *g;
	float eta;
} leashed_update;

static void leashed_step(float *dst, const float *src, size_t n, uint64_t base_t, void *arg)
{
	const leashed_update *u = arg;
	float a = -step_of(u->w->m, u->eta, base_t - u->w->read_version);
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] + a * u->g[i];
}

static void leashed_apply(model_worker *w, const float *g, float eta, model_update *out)
{
	leashed_update u = {w, g, eta};
	chain_publish_result r;
	chain_release(&w->chain); /* the gradient is computed: drop the vector it was read from */
	chain_publish(&w->chain, leashed_step, &u, &r);
	record(w, out, r.published, r.attempts, r.base_t - w->read_version);
}

static void leashed_snapshot(model *m, float *out)
{
	chain_snapshot(m->chain, out);
}

static uint64_t leashed_updates(model *m)
{
	return chain_timestamp(m->chain);
}

/* ---- sync: barrier rounds ---- */

static int sync_create(model *m, const float *init, char *err, size_t errlen)
{
	if (syncround_init(&m->round, m->n, init, m->cfg.workers, m->cfg.memory) != 0) {
		snprintf(err, errlen, "out of memory for %zu parameters", m->n);
		return -1;
	}
	return 0;
}

static void sync_destroy(model *m)
{
	syncround_destroy(&m->round);
}

static const float *sync_read(model_worker *w, uint64_t *version)
{
	*version = syncround_rounds(&w->m->round);
	return w->m->round.theta;
}

static void sync_apply(model_worker *w, const float *g, float eta, model_update *out)
{
	syncround_contribute(&w->m->round, -step_of(w->m, eta, 0), g);
	record(w, out, 1, 1, 0);
}

static void sync_snapshot(model *m, float *out)
{
	syncround_copy(&m->round, out);
}

static uint64_t sync_updates(model *m)
{
	return syncround_rounds(&m->round);
}

static const model_ops methods[MODEL_METHOD_COUNT] = {
	[MODEL_SYNC] = {"sync", sync_create, sync_destroy, sync_read, sync_apply, sync_snapshot,
			sync_updates},
	[MODEL_MUTEX] = {"mutex", locked_create, locked_destroy, locked_read, locked_apply,
			 locked_snapshot, locked_updates},
	[MODEL_RWLOCK] = {"rwlock", locked_create, locked_destroy, locked_read, locked_apply,
			  locked_snapshot, locked_updates},
	[MODEL_HOGWILD] = {"hogwild", hogwild_create_m, hogwild_destroy_m, hogwild_read_m,
			   hogwild_apply_m, hogwild_snapshot_m, hogwild_updates_m},
	[MODEL_LEASHED] = {"leashed", leashed_create, leashed_destroy, leashed_read, leashed_apply,
			   leashed_snapshot, leashed_updates},
};

/* ---- the interface ---- */

const char *model_method_name(model_method m)
{
	return m < MODEL_METHOD_COUNT ? methods[m].name : "?";
}

int model_method_parse(const char *name, model_method *out, char *err, size_t errlen)
{
	for (int i = 0; i < MODEL_METHOD_COUNT; i++)
		if (strcmp(name, methods[i].name) == 0) {
			*out = (model_method)i;
			return 0;
		}
	snprintf(err, errlen, "unknown method \"%s\" (valid: sync, mutex, rwlock, hogwild, leashed)", name);
	return -1;
}

model_config model_config_default(model_method method, int workers)
{
	model_config c = {
		.method = method,
		.workers = workers,
		.backoff = backoff_none,
		.lock = -1,
		.persistence = 0,
		.alloc = CHAIN_POOL,
	};
	return c;
}

int model_check_backoff(const model_config *cfg, char *err, size_t errlen)
{
	char spec[128];
	const char *why = NULL;
	if (cfg->backoff.kind == BACKOFF_NONE)
		return 0;
	if (cfg->method == MODEL_SYNC)
		why = "method sync: its workers wait at a barrier, never on a lock or a CAS";
	else if (cfg->method == MODEL_HOGWILD)
		why = "method hogwild: it takes no lock and makes no CAS, nothing waits or retries";
	else if ((cfg->method == MODEL_MUTEX || cfg->method == MODEL_RWLOCK) && cfg->lock >= 0 &&
		 cfg->lock < LOCK_KIND_COUNT && !lock_kind_uses_backoff((lock_kind)cfg->lock))
		why = cfg->method == MODEL_MUTEX
			      ? "lock mutex: it blocks in the kernel (trymutex, tas, ttas and ticket back off; "
				"the default lock follows the backoff)"
			      : "lock pthread-rw: it blocks in the kernel (rw backs off; the default lock "
				"follows the backoff)";
	if (!why)
		return 0;
	backoff_format(&cfg->backoff, spec, sizeof spec);
	snprintf(err, errlen, "backoff %s has no effect with %s", spec, why);
	return -1;
}

model *model_create(const model_config *cfg, size_t n, const float *init, char *err, size_t errlen)
{
	if (cfg->method >= MODEL_METHOD_COUNT) {
		snprintf(err, errlen, "unknown method %d", (int)cfg->method);
		return NULL;
	}
	if (cfg->workers < 1) {
		snprintf(err, errlen, "workers must be at least 1, not %d", cfg->workers);
		return NULL;
	}
	if (model_check_backoff(cfg, err, errlen) != 0)
		return NULL;
	model *m = aligned_alloc(CACHELINE_PAD, sizeof(model));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
	m->ops = &methods[cfg->method];
	m->n = n;
	if (m->ops->create(m, init, err, errlen) != 0) {
		free(m);
		return NULL;
	}
	return m;
}

void model_destroy(model *m)
{
	m->ops->destroy(m);
	free(m);
}

size_t model_size(const model *m)
{
	return m->n;
}

const model_config *model_get_config(const model *m)
{
	return &m->cfg;
}

model_worker *model_join(model *m, int id, uint64_t seed)
{
	model_worker *w = aligned_alloc(CACHELINE_PAD, sizeof(model_worker));
	if (!w)
		return NULL;
	memset(w, 0, sizeof(*w));
	w->m = m;
	w->id = id;
	lock_ctx_init(&w->lock, &m->cfg.backoff, seed);
	if (m->cfg.lock_cluster_of)
		lock_ctx_set_cluster(&w->lock, m->cfg.lock_cluster_of[id]);
	if (m->cfg.method == MODEL_LEASHED)
		chain_worker_init(&w->chain, m->chain, seed);
	if (m->cfg.method != MODEL_LEASHED && m->cfg.method != MODEL_SYNC) {
		w->buf = memory_private(m->cfg.memory, m->n * sizeof(float), id);
		if (!w->buf) {
			free(w);
			return NULL;
		}
	}
	return w;
}

void model_leave(model_worker *w)
{
	if (w->m->cfg.method == MODEL_LEASHED)
		chain_worker_finish(&w->chain);
	if (w->m->cfg.method == MODEL_SYNC)
		syncround_leave(&w->m->round);
	lock_ctx_destroy(&w->lock);
	memory_free(w->m->cfg.memory, w->buf, w->m->n * sizeof(float));
	free(w);
}

const float *model_read(model_worker *w, uint64_t *version)
{
	const float *p = w->m->ops->read(w, &w->read_version);
	w->stats.reads++;
	if (version)
		*version = w->read_version;
	return p;
}

void model_apply(model_worker *w, const float *grad, float eta, model_update *out)
{
	model_update ignored;
	w->m->ops->apply(w, grad, eta, out ? out : &ignored);
}

const model_stats *model_worker_stats(model_worker *w)
{
	w->stats.lock = w->lock.stats;
	w->stats.backoff = w->lock.backoff.stats;
	w->stats.chain = *chain_worker_stats(&w->chain);
	return &w->stats;
}

void model_worker_reset_stats(model_worker *w)
{
	memset(&w->stats, 0, sizeof w->stats);
	memset(&w->lock.stats, 0, sizeof w->lock.stats);
	memset(&w->lock.backoff.stats, 0, sizeof w->lock.backoff.stats);
	chain_worker_reset_stats(&w->chain);
}

void model_stats_add(model_stats *a, const model_stats *b)
{
	a->reads += b->reads;
	a->applied += b->applied;
	a->dropped += b->dropped;
	histogram_merge(&a->staleness, &b->staleness);
	lock_stats_add(&a->lock, &b->lock);
	chain_stats_add(&a->chain, &b->chain);
	backoff_stats_add(&a->backoff, &b->backoff);
}

uint64_t model_updates(model *m)
{
	return m->ops->updates(m);
}

void model_snapshot(model *m, float *out)
{
	m->ops->snapshot(m, out);
}

size_t model_live_vectors(model *m)
{
	return m->chain ? chain_live(m->chain) : 0;
}

size_t model_live_vectors_peak(model *m)
{
	return m->chain ? chain_live_peak(m->chain) : 0;
}

/* One region of n floats at p, or -1 when p is NULL (no such region). */
static int region(void *p, size_t n, void **out, size_t *bytes)
{
	if (!p)
		return -1;
	*out = p;
	*bytes = memory_rounded(n * sizeof(float));
	return 0;
}

int model_shared_memory(model *m, size_t i, void **p, size_t *bytes)
{
	switch (m->cfg.method) {
	case MODEL_LEASHED:
		return chain_memory(m->chain, i, p, bytes);
	case MODEL_SYNC:
		return region(i == 0 ? m->round.theta : i == 1 ? m->round.sum : NULL, m->n, p, bytes);
	case MODEL_HOGWILD:
		return region(i == 0 ? (void *)m->shared : NULL, m->n, p, bytes);
	default:
		return region(i == 0 ? m->theta : NULL, m->n, p, bytes);
	}
}

int model_worker_memory(const model_worker *w, void **p, size_t *bytes)
{
	return region(w->buf, w->m->n, p, bytes);
}
