#include "primitives/chain.h"

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
	uint64_t t;              /* updates applied since the start; written before publication */
	float *data;
	_Atomic uint32_t next;   /* pool link: the next pooled header's index + 1, 0 at the bottom */
	uint32_t index;          /* where it lives in the chain's blocks */
} CACHELINE_ALIGNED;

/* Headers are made in blocks that live as long as the chain (type-stable memory) and are named
 * by index, so that the pool's head fits an index and an ABA tag in one 64-bit word. */
#define POOL_BLOCK 64
#define POOL_BLOCKS 1024 /* 65536 headers: 7n + 1 (chain_headers) for n up to 9362 workers */
#define POOL_EMPTY 0u

struct chain {
	CACHELINE_ALIGNED _Atomic(chain_vec *) latest;
	CACHELINE_ALIGNED _Atomic size_t live;
	_Atomic size_t live_peak;
	/* A Treiber stack of reclaimed vectors beyond the workers' caches: a tag bumped by every
	 * change (high 32 bits) above the top header's index + 1 (low 32, POOL_EMPTY for none).
	 * The tag defeats ABA: a pop's CAS fails if the top was popped and pushed back meanwhile,
	 * unless exactly a multiple of 2^32 changes happened during one pop. */
	CACHELINE_ALIGNED _Atomic uint64_t pool;
	CACHELINE_ALIGNED _Atomic uint32_t headers;     /* headers made so far */
	_Atomic(chain_vec *) blocks[POOL_BLOCKS];
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
	/* Relaxed: a statistic; the pool's release and acquire order a reclaim before reuse. */
	size_t now = atomic_fetch_add_explicit(&c->live, 1, memory_order_relaxed) + 1;
	size_t peak = atomic_load_explicit(&c->live_peak, memory_order_relaxed);
	while (now > peak &&
	       !atomic_compare_exchange_weak_explicit(&c->live_peak, &peak, now, memory_order_relaxed,
						      memory_order_relaxed))
		;
}

static chain_vec *block_alloc(uint32_t first)
{
	chain_vec *b = aligned_alloc(CACHELINE_PAD, POOL_BLOCK * sizeof(chain_vec));
	if (!b)
		abort();
	for (uint32_t i = 0; i < POOL_BLOCK; i++) {
		atomic_init(&b[i].state, 0);
		atomic_init(&b[i].next, POOL_EMPTY);
		b[i].t = 0;
		b[i].data = NULL;
		b[i].index = first + i;
	}
	return b;
}

static chain_vec *vec_at(chain *c, uint32_t index)
{
	/* Acquire: the CAS that installed the block, and with it the headers' initialisation. */
	chain_vec *b = atomic_load_explicit(&c->blocks[index / POOL_BLOCK], memory_order_acquire);
	return &b[index % POOL_BLOCK];
}

/* A header never used before. */
static chain_vec *vec_new(chain *c)
{
	/* Relaxed: it only hands out distinct indices; the block's CAS publishes the headers. */
	uint32_t i = atomic_fetch_add_explicit(&c->headers, 1, memory_order_relaxed);
	if (i >= POOL_BLOCK * POOL_BLOCKS)
		abort(); /* more than 7n + 1 headers: n above 9362 workers */
	_Atomic(chain_vec *) *slot = &c->blocks[i / POOL_BLOCK];
	/* Acquire: a block another thread installed, with its headers initialised. */
	chain_vec *b = atomic_load_explicit(slot, memory_order_acquire);
	if (!b) {
		chain_vec *fresh = block_alloc(i - i % POOL_BLOCK);
		/* Release: our initialisation of the block; acquire on failure: the winner's. */
		if (atomic_compare_exchange_strong_explicit(slot, &b, fresh, memory_order_acq_rel,
							    memory_order_acquire))
			b = fresh;
		else
			free(fresh);
	}
	return &b[i % POOL_BLOCK];
}

static uint64_t pool_word(uint64_t old, uint32_t top)
{
	return ((old >> 32) + 1) << 32 | top;
}

static chain_vec *pool_pop(chain *c)
{
	/* Acquire: the push that put the top there, and its writes to that header. */
	uint64_t head = atomic_load_explicit(&c->pool, memory_order_acquire);
	while ((uint32_t)head != POOL_EMPTY) {
		chain_vec *v = vec_at(c, (uint32_t)head - 1);
		/* Relaxed: if v was popped and pushed again since, the tag makes our CAS fail. */
		uint32_t next = atomic_load_explicit(&v->next, memory_order_relaxed);
		/* Acquire on failure too: the loop reads the new top's link. */
		if (atomic_compare_exchange_weak_explicit(&c->pool, &head, pool_word(head, next),
							  memory_order_acquire, memory_order_acquire))
			return v;
	}
	return vec_new(c);
}

static void pool_push(chain *c, chain_vec *v)
{
	uint64_t head = atomic_load_explicit(&c->pool, memory_order_relaxed);
	do
		/* Relaxed: the release CAS below publishes it with the rest of v. */
		atomic_store_explicit(&v->next, (uint32_t)head, memory_order_relaxed);
	/* Release: our writes to v (its data, its link) happen before the popper uses it. */
	while (!atomic_compare_exchange_weak_explicit(&c->pool, &head, pool_word(head, v->index + 1),
						      memory_order_release, memory_order_relaxed));
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
	atomic_init(&c->pool, POOL_EMPTY);
	atomic_init(&c->headers, 0);
	for (int b = 0; b < POOL_BLOCKS; b++)
		atomic_init(&c->blocks[b], NULL);
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
	for (int b = 0; b < POOL_BLOCKS; b++) {
		chain_vec *block = atomic_load_explicit(&c->blocks[b], memory_order_relaxed);
		for (int i = 0; block && i < POOL_BLOCK; i++)
			data_free(c, &block[i]);
		free(block);
	}
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
	/* Relaxed, acquire in vec_at: the caller guarantees that no worker publishes meanwhile. */
	uint32_t made = atomic_load_explicit(&c->headers, memory_order_relaxed);
	for (uint32_t k = 0; k < made; k++) {
		chain_vec *v = vec_at(c, k);
		if (v->data && i-- == 0) {
			*p = v->data;
			*bytes = memory_rounded(c->n * sizeof(float));
			return 0;
		}
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

size_t chain_headers(chain *c)
{
	return atomic_load_explicit(&c->headers, memory_order_relaxed);
}

size_t chain_pooled(chain *c)
{
	size_t made = chain_headers(c), count = 0;
	/* Relaxed: the caller guarantees that no worker runs. */
	uint32_t top = (uint32_t)atomic_load_explicit(&c->pool, memory_order_relaxed);
	for (; top != POOL_EMPTY; count++) {
		if (count == made)
			return SIZE_MAX; /* longer than every header: a cycle, a header pushed twice */
		top = atomic_load_explicit(&vec_at(c, top - 1)->next, memory_order_relaxed);
	}
	return count;
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
