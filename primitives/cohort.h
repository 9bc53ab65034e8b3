#ifndef SGDSYNC_PRIMITIVES_COHORT_H
#define SGDSYNC_PRIMITIVES_COHORT_H

/* A NUMA-aware cohort lock (Dice, Marathe and Shavit), the LOCK_COHORT kind of lock.h:
 * ticket-over-ticket. Each cluster (a NUMA node: the harness tells each thread its node with
 * lock_ctx_set_cluster) has a local ticket lock; the holder of a local lock also needs the
 * global ticket lock, unless its cluster already holds it. A releaser that sees a waiter in its
 * own cluster passes the global lock on with the local one, at most COHORT_PASS_LIMIT
 * acquisitions in a row, so the lock and the data it guards stay on one node while other
 * clusters wait their turn. Ticket waits back off in proportion to the tickets ahead
 * (spinlock.h). lock_acquire dispatches here; a benchmark may call these directly on a lock_t
 * initialised by lock_init_clusters(l, LOCK_COHORT, n). */

#include "primitives/spinlock.h"

/* Acquisitions of one cluster in a row while another may wait for the global lock. */
#define COHORT_PASS_LIMIT 64

typedef struct cohort_cluster {
	CACHELINE_ALIGNED ticket_pair local;
	/* The local holder's state, apart from the line its waiters poll. Plain: only the holder of
	 * the local lock touches it, and the local lock orders one holder after the other. */
	CACHELINE_ALIGNED struct {
		uint32_t passes; /* acquisitions in the present global tenure */
		int global_held; /* the cluster holds the global lock */
	} owner;
} cohort_cluster;

int cohort_init(lock_t *l, uint32_t clusters);
void cohort_destroy(lock_t *l);

static inline cohort_cluster *cohort_cluster_of(lock_t *l, const lock_ctx *ctx)
{
	uint32_t n = l->u.cohort.nclusters;

	return &l->u.cohort.clusters[ctx->cluster < n ? ctx->cluster : ctx->cluster % n];
}

static inline void cohort_acquire(lock_t *l, lock_ctx *ctx)
{
	cohort_cluster *c = cohort_cluster_of(l, ctx);
	int waited = spinlock_ticket_take(&c->local, ctx);

	if (!c->owner.global_held) {
		waited |= spinlock_ticket_take(&l->u.cohort.global, ctx);
		c->owner.global_held = 1;
		c->owner.passes = 0;
	}
	c->owner.passes++;
	ctx->stats.contended += (uint64_t)waited;
	ctx->stats.acquisitions++;
}

static inline void cohort_release(lock_t *l, lock_ctx *ctx)
{
	cohort_cluster *c = cohort_cluster_of(l, ctx);
	/* Relaxed: `serving` is ours to write; `next` only hints that a local waiter has a ticket
	 * (tickets are never given back, so a waiter seen is a waiter that will come). */
	uint32_t serving = atomic_load_explicit(&c->local.serving, memory_order_relaxed);
	uint32_t next = atomic_load_explicit(&c->local.next, memory_order_relaxed);

	if (next - serving > 1 && c->owner.passes < COHORT_PASS_LIMIT) {
		ctx->stats.local_passes++;
	} else {
		c->owner.global_held = 0;
		spinlock_ticket_give(&l->u.cohort.global);
	}
	spinlock_ticket_give(&c->local);
}

#endif
