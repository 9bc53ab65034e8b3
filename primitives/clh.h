#ifndef SGDSYNC_PRIMITIVES_CLH_H
#define SGDSYNC_PRIMITIVES_CLH_H

/* The CLH queue lock (Craig; Landin and Hagersten), the LOCK_CLH kind of lock.h: FIFO; the lock
 * is a tail pointer to the last node enqueued, and each waiter spins on its predecessor's node.
 * A releasing thread cannot reuse its own node (its successor may still read it), so it takes
 * its predecessor's: nodes migrate between threads and the lock, and therefore live on the heap,
 * one per lock_ctx (allocated on its first CLH acquisition, freed by lock_ctx_destroy) plus the
 * one the lock owns while it is free (lock_init, freed by lock_destroy). Waiters re-read the
 * node with their lock_ctx policy (pause with none). lock_acquire dispatches here; a benchmark
 * may call these directly on a lock_t initialised by lock_init(l, LOCK_CLH). */

#include <stdatomic.h>

#include "primitives/spinlock.h"

/* A node on its own cache lines, not waiting; NULL when out of memory. */
clh_node *clh_node_new(void);
/* The context's first node; stops the process when out of memory (an acquisition cannot fail). */
clh_node *clh_ctx_node(lock_ctx *ctx);
void clh_acquire_slow(lock_ctx *ctx, clh_node *pred);

static inline void clh_acquire(lock_t *l, lock_ctx *ctx)
{
	clh_node *me = __builtin_expect(ctx->clh != NULL, 1) ? ctx->clh : clh_ctx_node(ctx);

	/* Relaxed: the exchange below publishes it to the successor. */
	atomic_store_explicit(&me->wait, 1, memory_order_relaxed);
	/* Release: our `wait` = 1 precedes the successor's reads of it. Acquire: the predecessor's
	 * `wait` = 1 is seen, not an older 0 of the node's previous use. */
	clh_node *pred = atomic_exchange_explicit(&l->u.clh_tail, me, memory_order_acq_rel);

	ctx->clh_pred = pred;
	/* Acquire: a predecessor that has released enters the section. */
	if (__builtin_expect(!atomic_load_explicit(&pred->wait, memory_order_acquire), 1))
		ctx->stats.acquisitions++;
	else
		clh_acquire_slow(ctx, pred);
}

static inline void clh_release(lock_ctx *ctx)
{
	/* Release: the section happens-before the successor's acquire load of `wait`. */
	atomic_store_explicit(&ctx->clh->wait, 0, memory_order_release);
	ctx->clh = ctx->clh_pred;
}

#endif
