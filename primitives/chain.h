#ifndef SGDSYNC_PRIMITIVES_CHAIN_H
#define SGDSYNC_PRIMITIVES_CHAIN_H

/* The Leashed-SGD parameter chain: one atomic pointer `latest` to an immutable published
 * vector. Readers take a counted reference to it; a writer copies the latest vector into a
 * private one, applies its update there and publishes it with one CAS, retried up to the
 * persistence bound. A superseded vector is reclaimed exactly once, when it is stale and no
 * reader holds it.
 *
 * Reclamation: vector headers are type-stable. They come from a pool that never returns them
 * to the allocator while the chain lives (blocks of headers, a lock-free stack of the reclaimed
 * ones beside a small cache per worker: no lock on any path), so a late reader that increments the count of a
 * vector reclaimed under it touches valid memory; it then re-validates (the vector is still
 * `latest`) and backs out otherwise. The reader count and the stale and reclaimed flags share
 * one atomic word, so "stale, no reader, not yet reclaimed" is decided by a single CAS.
 *
 * Live vectors (allocated, not reclaimed; pooled ones do not count) never exceed 2n + 1 for n
 * workers: one referenced and one private per worker, plus `latest`. */

#include <stddef.h>
#include <stdint.h>

#include "primitives/backoff.h"
#include "primitives/cacheline.h"
#include "primitives/histogram.h"
#include "primitives/memory.h"

typedef struct chain chain;
typedef struct chain_vec chain_vec;

typedef enum {
	CHAIN_POOL,   /* reclaimed vectors are recycled, data buffers included */
	CHAIN_MALLOC, /* data buffers are malloc'ed per vector and freed on reclaim */
} chain_alloc;

typedef struct {
	uint64_t publishes;      /* successful CAS */
	uint64_t attempts;       /* CAS attempts, won or lost */
	uint64_t dropped;        /* updates given up after `persistence` lost CAS */
	uint64_t read_retries;   /* reference attempts that found their vector superseded */
	histogram attempts_hist; /* CAS attempts of each successful publish */
	backoff_stats backoff;
} chain_stats;

#define CHAIN_WORKER_CACHE 4

typedef struct CACHELINE_ALIGNED {
	chain *c;
	chain_vec *held;                        /* the vector read by chain_acquire, or NULL */
	chain_vec *cache[CHAIN_WORKER_CACHE];   /* reclaimed vectors kept for reuse */
	int ncache;
	backoff_state backoff;
	chain_stats stats;
} chain_worker;

typedef struct {
	int published;      /* 1 published, 0 dropped */
	uint32_t attempts;  /* CAS attempts made */
	uint64_t base_t;    /* timestamp of the vector the update was applied to (last attempt) */
} chain_publish_result;

/* dst := the update applied to src (both n floats). base_t is src's timestamp, so that the
 * caller can compute staleness, and from it a step size, for each attempt. */
typedef void (*chain_update_fn)(float *dst, const float *src, size_t n, uint64_t base_t, void *arg);

/* persistence: most CAS attempts per publish, 0 for unbounded. backoff: after a lost CAS.
 * mem: where vector data lives (NULL: memory_default), each vector's allocated on the thread
 * that first needs it (the creator for the first, then a publisher); it must outlive c. */
chain *chain_create(size_t n, const float *init, chain_alloc alloc, uint32_t persistence,
		    const backoff_policy *backoff, const memory_ops *mem);
/* Frees every vector. No worker may still use the chain. */
void chain_destroy(chain *c);

void chain_worker_init(chain_worker *w, chain *c, uint64_t seed);
/* Drops a held reference and hands cached vectors back to the chain's pool. */
void chain_worker_finish(chain_worker *w);

/* References the latest vector; its floats stay valid and unchanged until chain_release. */
const float *chain_acquire(chain_worker *w, uint64_t *timestamp);
void chain_release(chain_worker *w);

/* Publishes fn(latest) as the new latest vector. The worker must hold no reference. */
void chain_publish(chain_worker *w, chain_update_fn fn, void *arg, chain_publish_result *r);

size_t chain_size(const chain *c);
/* The data of the i-th vector that has data (live, pooled or in a worker's cache), as
 * allocated: 0 and *p, *bytes, or -1 past the last. For tests and records; call it when no
 * worker is inside chain_publish. */
int chain_memory(chain *c, size_t i, void **p, size_t *bytes);
uint64_t chain_timestamp(chain *c);
size_t chain_live(chain *c);
size_t chain_live_peak(chain *c);
/* Vector headers made so far, live or not: the pool's size. At most 7n + 1 for n workers (2n + 1
 * live, CHAIN_WORKER_CACHE = 4 cached and one being recycled per worker). */
size_t chain_headers(chain *c);
/* Headers in the shared pool, SIZE_MAX if a header is in it twice. Only while no worker runs:
 * after chain_worker_finish of all of them, every header but latest's is pooled. */
size_t chain_pooled(chain *c);
/* Copies the latest vector out; safe while workers run (it takes a reference). */
uint64_t chain_snapshot(chain *c, float *out);

/* This worker's counters, its backoff's included. */
const chain_stats *chain_worker_stats(chain_worker *w);
/* Zeroes them (after a warm-up that is not to be counted). */
void chain_worker_reset_stats(chain_worker *w);
void chain_stats_add(chain_stats *a, const chain_stats *b);

#endif
