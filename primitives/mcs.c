#include "primitives/mcs.h"

/* Links behind the predecessor and spins on our own node until it hands over. */
void mcs_acquire_slow(lock_ctx *ctx, mcs_node *pred)
{
	mcs_node *me = &ctx->mcs;

	ctx->stats.contended++;
	/* Release: our `locked` = 1 precedes the predecessor's store of 0 into it. */
	atomic_store_explicit(&pred->next, me, memory_order_release);
	/* Acquire: the handover enters the critical section. */
	while (atomic_load_explicit(&me->locked, memory_order_acquire))
		spinlock_wait(ctx);
	backoff_reset(&ctx->backoff);
	ctx->stats.acquisitions++;
}

/* A successor swapped itself in as tail but has not linked yet: it will within a few
 * instructions unless preempted, so wait with pause only, or by yielding once the context's
 * yield flag is set (its link then waits for a time slice). */
void mcs_release_slow(lock_ctx *ctx)
{
	mcs_node *next;

	/* Acquire: as in mcs_release. */
	while (!(next = atomic_load_explicit(&ctx->mcs.next, memory_order_acquire))) {
		if (lock_ctx_yielding(ctx))
			backoff_yield(&ctx->backoff);
		else
			cpu_relax();
	}
	/* Release: the section happens-before the successor's acquire load of `locked`. */
	atomic_store_explicit(&next->locked, 0, memory_order_release);
}
