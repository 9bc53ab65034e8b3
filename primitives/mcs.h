#ifndef SGDSYNC_PRIMITIVES_MCS_H
#define SGDSYNC_PRIMITIVES_MCS_H

/* The MCS queue lock (Mellor-Crummey and Scott), the LOCK_MCS kind of lock.h: FIFO; the lock is
 * a tail pointer, each thread enqueues the node in its lock_ctx and spins on that node only, so
 * a handover writes one line that one waiter reads. Waiters re-read their node with their
 * lock_ctx policy (pause with none). lock_acquire dispatches here; a benchmark may call these
 * directly on a lock_t initialised by lock_init(l, LOCK_MCS). */

#include <stdatomic.h>

#include "primitives/spinlock.h"

void mcs_acquire_slow(lock_ctx *ctx, mcs_node *pred);
void mcs_release_slow(lock_ctx *ctx);

static inline void mcs_acquire(lock_t *l, lock_ctx *ctx)
{
	mcs_node *me = &ctx->mcs;

	/* Relaxed: the exchange below publishes both stores to the successor. */
	atomic_store_explicit(&me->next, NULL, memory_order_relaxed);
	atomic_store_explicit(&me->locked, 1, memory_order_relaxed);
	/* Release: our node's reset precedes the successor's link into it. Acquire: an empty queue
	 * means the last holder's release CAS happens-before our section. */
	mcs_node *pred = atomic_exchange_explicit(&l->u.mcs_tail, me, memory_order_acq_rel);

	if (__builtin_expect(pred == NULL, 1))
		ctx->stats.acquisitions++;
	else
		mcs_acquire_slow(ctx, pred);
}

static inline void mcs_release(lock_t *l, lock_ctx *ctx)
{
	mcs_node *me = &ctx->mcs;
	mcs_node *expected = me;

	/* Acquire: the successor's reset of its node (its `locked`) precedes our clearing it. */
	mcs_node *next = atomic_load_explicit(&me->next, memory_order_acquire);

	if (next == NULL) {
		/* Release: the section happens-before the next acquirer's exchange that finds NULL. */
		if (atomic_compare_exchange_strong_explicit(&l->u.mcs_tail, &expected, NULL,
							    memory_order_release, memory_order_relaxed))
			return;
		mcs_release_slow(ctx);
		return;
	}
	/* Release: the section happens-before the successor's acquire load of `locked`. */
	atomic_store_explicit(&next->locked, 0, memory_order_release);
}

#endif
