#include "primitives/chain.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* A vector's state word: the reader count above two flags. One word, so that one CAS can see
 * "stale, no reader, not reclaimed" at once and claim the vector. */
#define VEC_STALE 1ull
#define VEC_RECLAIMED 2ull
#define VEC_READER 4ull
#define VEC_READERS(s) ((s) >> 2)

struct chain_vec {
	_Atomic uint64_t state;
	uint64_t t;        /* updates applied since the start; written before publication */
	float *data;
	chain_vec *next;   /* pool link */
	chain_vec *all;    /* every header ever made, for chain_destroy */
} CACHELINE_ALIGNED;

struct chain {
	CACHELINE_ALIGNED _Atomic(chain_vec *) latest;
	CACHELINE_ALIGNED _Atomic size_t live;
	_Atomic size_t live_peak;
	CACHELINE_ALIGNED pthread_mutex_t pool_lock;
	chain_vec *pool;   /* reclaimed vectors beyond the workers' caches */
	chain_vec *all;
	size_t n;
	chain_alloc alloc;
	uint32_t persistence;
	backoff_policy backoff;
	const memory_ops *mem; /* every vector's data is shared memory of it */
};

/* On the calling thread: under a "local" placement, the publisher's node. */
static float *data_alloc(chain *c)
{
	float *p = memory_shared(c->mem, c->n * sizeof(float));
	if (!p)
		abort();
	return p;
}

static void data_free(chain *c, chain_vec *v)
{
	memory_free(c->mem, v->data, c->n * sizeof(float));
	v->data = NULL;
}

static void live_add(chain *c)
{
	/* Relaxed: a statistic; pool hand-over through the mutex orders a reclaim before reuse. */
	size_t now = atomic_fetch_add_explicit(&c->live, 1, memory_order_relaxed) + 1;
	size_t peak = atomic_load_explicit(&c->live_peak, memory_order_relaxed);
	while (now > peak &&
	       !atomic_compare_exchange_weak_explicit(&c->live_peak, &peak, now, memory_order_relaxed,
						      memory_order_relaxed))
		;
}

static chain_vec *pool_pop(chain *c)
{
	pthread_mutex_lock(&c->pool_lock);
	chain_vec *v = c->pool;
	if (v)
		c->pool = v->next;
	else {
		v = aligned_alloc(CACHELINE_PAD, sizeof(*v));
		if (!v)
			abort();
		atomic_init(&v->state, 0);
		v->data = NULL;
		v->all = c->all;
		c->all = v;
	}
	pthread_mutex_unlock(&c->pool_lock);
	return v;
}

static void pool_push(chain *c, chain_vec *v)
{
	pthread_mutex_lock(&c->pool_lock);
	v->next = c->pool;
	c->pool = v;
	pthread_mutex_unlock(&c->pool_lock);
}

/* A private vector for a writer. Its flags are cleared but its reader count is kept: a late
 * reader of an earlier life may still be about to back out of it. */
static chain_vec *vec_alloc(chain *c, chain_worker *w)
{
	chain_vec *v = (w && w->ncache) ? w->cache[--w->ncache] : pool_pop(c);
	if (!v->data)
		v->data = data_alloc(c);
	/* Relaxed: private until published by a release CAS; still an RMW (see vec_ref_latest). */
	atomic_fetch_and_explicit(&v->state, ~(VEC_STALE | VEC_RECLAIMED), memory_order_relaxed);
	live_add(c);
	return v;
}

/* Back to the worker's cache, or the pool; the vector is no longer live. */
static void vec_recycle(chain *c, chain_worker *w, chain_vec *v)
{
	atomic_fetch_sub_explicit(&c->live, 1, memory_order_relaxed);
	if (c->alloc == CHAIN_MALLOC)
		data_free(c, v);
	if (w && w->ncache < CHAIN_WORKER_CACHE)
		w->cache[w->ncache++] = v;
	else
		pool_push(c, v);
}

/* Claims v if it is stale, unreferenced and unclaimed; `seen` is a recent value of its state. */
static void vec_try_reclaim(chain *c, chain_worker *w, chain_vec *v, uint64_t seen)
{
	while ((seen & VEC_STALE) && !(seen & VEC_RECLAIMED) && VEC_READERS(seen) == 0) {
		/* Acquire: the last reader's release of its reference happens before we reuse v. */
		if (atomic_compare_exchange_weak_explicit(&v->state, &seen, seen | VEC_RECLAIMED,
							  memory_order_acquire, memory_order_relaxed)) {
			vec_recycle(c, w, v);
			return;
		}
	}
}

static void vec_unref(chain *c, chain_worker *w, chain_vec *v)
{
	/* Release: our reads of v's data happen before whoever reclaims it. */
	uint64_t s = atomic_fetch_sub_explicit(&v->state, VEC_READER, memory_order_release) - VEC_READER;
	vec_try_reclaim(c, w, v, s);
}

/* A counted reference to the latest vector. Every write of a state word is a read-modify-write,
 * so each one continues the release sequence of the vec_supersede that marked the vector stale.
 * Acquire on the increment: if it lands after that (the vector superseded, perhaps reclaimed and
 * reused), the CAS that replaced it happens before the re-read of `latest`, which cannot then
 * return it unless it was published again; if it lands before, no one can reclaim it until we
 * drop the count. Acquire on the loads of `latest`: the publisher's writes of data and t. */
static chain_vec *vec_ref_latest(chain *c, chain_worker *w)
{
	for (;;) {
		chain_vec *v = atomic_load_explicit(&c->latest, memory_order_acquire);
		uint64_t s = atomic_fetch_add_explicit(&v->state, VEC_READER, memory_order_acquire);
		if (!(s & VEC_STALE) && atomic_load_explicit(&c->latest, memory_order_acquire) == v)
			return v;
		if (w)
			w->stats.read_retries++;
		vec_unref(c, w, v);
	}
}

chain *chain_create(size_t n, const float *init, chain_alloc alloc, uint32_t persistence,
		    const backoff_policy *backoff, const memory_ops *mem)
{
	chain *c = aligned_alloc(CACHELINE_PAD, sizeof(*c));
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->pool_lock, NULL);
	c->n = n;
	c->alloc = alloc;
	c->persistence = persistence;
	c->backoff = backoff ? *backoff : backoff_none;
	c->mem = mem;
	chain_vec *first = vec_alloc(c, NULL);
	memcpy(first->data, init, n * sizeof(float));
	first->t = 0;
	atomic_init(&c->latest, first);
	return c;
}

void chain_destroy(chain *c)
{
	for (chain_vec *v = c->all, *next; v; v = next) {
		next = v->all;
		data_free(c, v);
		free(v);
	}
	pthread_mutex_destroy(&c->pool_lock);
	free(c);
}

void chain_worker_init(chain_worker *w, chain *c, uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	w->c = c;
	backoff_init(&w->backoff, &c->backoff, seed);
}

void chain_worker_finish(chain_worker *w)
{
	chain_release(w);
	while (w->ncache)
		pool_push(w->c, w->cache[--w->ncache]);
}

const chain_stats *chain_worker_stats(chain_worker *w)
{
	w->stats.backoff = w->backoff.stats;
	return &w->stats;
}

void chain_worker_reset_stats(chain_worker *w)
{
	memset(&w->stats, 0, sizeof w->stats);
	memset(&w->backoff.stats, 0, sizeof w->backoff.stats);
}

const float *chain_acquire(chain_worker *w, uint64_t *timestamp)
{
	chain_release(w);
	w->held = vec_ref_latest(w->c, w);
	if (timestamp)
		*timestamp = w->held->t;
	return w->held->data;
}

void chain_release(chain_worker *w)
{
	if (!w->held)
		return;
	vec_unref(w->c, w, w->held);
	w->held = NULL;
}

/* p was superseded by our CAS: mark it stale and drop our reference in one step. */
static void vec_supersede(chain *c, chain_worker *w, chain_vec *p)
{
	/* Release: as in vec_unref, our reads of p happen before its reclamation. */
	uint64_t s = atomic_fetch_add_explicit(&p->state, VEC_STALE - VEC_READER, memory_order_release);
	vec_try_reclaim(c, w, p, s + VEC_STALE - VEC_READER);
}

void chain_publish(chain_worker *w, chain_update_fn fn, void *arg, chain_publish_result *r)
{
	chain *c = w->c;
	chain_vec *q = vec_alloc(c, w);
	uint32_t attempts = 0;
	r->published = 0;
	for (;;) {
		/* p stays referenced until after the CAS: it cannot be reclaimed and reused at the
		 * same address meanwhile, so a successful CAS really replaced the vector we read. */
		chain_vec *p = vec_ref_latest(c, w);
		fn(q->data, p->data, c->n, p->t, arg);
		q->t = p->t + 1;
		r->base_t = p->t;
		attempts++;
		chain_vec *expected = p;
		/* Release: q's data and t are visible to whoever loads it from `latest`. */
		if (atomic_compare_exchange_strong_explicit(&c->latest, &expected, q, memory_order_release,
							    memory_order_relaxed)) {
			vec_supersede(c, w, p);
			r->published = 1;
			break;
		}
		vec_unref(c, w, p);
		if (c->persistence && attempts >= c->persistence)
			break;
		backoff_wait(&w->backoff);
	}
	backoff_reset(&w->backoff);
	r->attempts = attempts;
	w->stats.attempts += attempts;
	if (r->published) {
		w->stats.publishes++;
		histogram_add(&w->stats.attempts_hist, attempts);
	} else {
		w->stats.dropped++;
		vec_recycle(c, w, q);
	}
}

size_t chain_size(const chain *c)
{
	return c->n;
}

int chain_memory(chain *c, size_t i, void **p, size_t *bytes)
{
	for (chain_vec *v = c->all; v; v = v->all)
		if (v->data && i-- == 0) {
			*p = v->data;
			*bytes = memory_rounded(c->n * sizeof(float));
			return 0;
		}
	return -1;
}

uint64_t chain_snapshot(chain *c, float *out)
{
	chain_vec *v = vec_ref_latest(c, NULL);
	uint64_t t = v->t;
	if (out)
		memcpy(out, v->data, c->n * sizeof(float));
	vec_unref(c, NULL, v);
	return t;
}

uint64_t chain_timestamp(chain *c)
{
	return chain_snapshot(c, NULL);
}

size_t chain_live(chain *c)
{
	return atomic_load_explicit(&c->live, memory_order_relaxed);
}

size_t chain_live_peak(chain *c)
{
	return atomic_load_explicit(&c->live_peak, memory_order_relaxed);
}

void chain_stats_add(chain_stats *a, const chain_stats *b)
{
	a->publishes += b->publishes;
	a->attempts += b->attempts;
	a->dropped += b->dropped;
	a->read_retries += b->read_retries;
	histogram_merge(&a->attempts_hist, &b->attempts_hist);
	backoff_stats_add(&a->backoff, &b->backoff);
}
