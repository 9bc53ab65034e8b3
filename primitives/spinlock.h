#ifndef SGDSYNC_PRIMITIVES_SPINLOCK_H
#define SGDSYNC_PRIMITIVES_SPINLOCK_H

/* The spinning kinds of lock.h, TAS, TTAS and ticket, with inline fast paths: an uncontended
 * acquire is one atomic instruction and a counter increment; the waiting loops are out of line.
 * lock_acquire dispatches here; a benchmark may call these directly on a lock_t initialised by
 * lock_init with the matching kind. The wait loop helpers also serve trymutex and rw.
 *
 * Waiting: after each failed attempt a thread counts a spin and waits as its lock_ctx policy
 * says; with no policy ("none") it executes one pause instruction instead, which counts as
 * the spin only (no backoff, no pause_iters). Once the context's yield flag has risen, every
 * wait is a counted yield, whatever the policy (lock_ctx_yield_when). The ticket lock waits in proportion to its place
 * in the queue instead (spinlock.c). */

#include <stdatomic.h>
#include <stdint.h>

#include "primitives/lock.h"

/* One failed attempt: count it, then yield (lock_ctx_yield_when), pause or back off. */
static inline void spinlock_wait(lock_ctx *ctx)
{
	ctx->stats.spins++;
	if (__builtin_expect(lock_ctx_yielding(ctx), 0))
		backoff_yield(&ctx->backoff);
	else if (ctx->backoff.policy->kind == BACKOFF_NONE)
		cpu_relax();
	else
		backoff_wait(&ctx->backoff);
}

/* The wait loop of an acquisition whose first attempt failed: waits and retries `attempt`
 * until it succeeds, then counts the contended acquisition. */
static inline void spinlock_retry(lock_t *l, lock_ctx *ctx, int (*attempt)(lock_t *))
{
	ctx->stats.contended++;
	do
		spinlock_wait(ctx);
	while (!attempt(l));
	backoff_reset(&ctx->backoff);
	ctx->stats.acquisitions++;
}

/* One first attempt; if it fails, the wait loop retrying with `retry`. */
static inline void spinlock_acquire_with(lock_t *l, lock_ctx *ctx, int (*first)(lock_t *),
					 int (*retry)(lock_t *))
{
	if (__builtin_expect(first(l), 1))
		ctx->stats.acquisitions++;
	else
		spinlock_retry(l, ctx, retry);
}

/* One exchange: 1 if the word was free and is now ours. Acquire: the critical section cannot
 * be reordered before the exchange that took the lock. */
static inline int spinlock_word_try(lock_t *l)
{
	return atomic_exchange_explicit(&l->u.word, 1, memory_order_acquire) == 0;
}

/* TAS and TTAS share the first attempt, one exchange, inline; their wait loops are out of line
 * so that the inlined acquire stays small. */
void spinlock_tas_acquire_slow(lock_t *l, lock_ctx *ctx);
void spinlock_ttas_acquire_slow(lock_t *l, lock_ctx *ctx);

static inline void spinlock_word_acquire(lock_t *l, lock_ctx *ctx,
					 void (*slow)(lock_t *, lock_ctx *))
{
	if (__builtin_expect(spinlock_word_try(l), 1))
		ctx->stats.acquisitions++;
	else
		slow(l, ctx);
}

/* TAS: retries the exchange itself after every failure. */
static inline void spinlock_tas_acquire(lock_t *l, lock_ctx *ctx)
{
	spinlock_word_acquire(l, ctx, spinlock_tas_acquire_slow);
}

/* TTAS: after a failure, reads until the word looks free and only then exchanges again, so
 * waiters spin in their own cache instead of pulling the line exclusive on every try. */
static inline void spinlock_ttas_acquire(lock_t *l, lock_ctx *ctx)
{
	spinlock_word_acquire(l, ctx, spinlock_ttas_acquire_slow);
}

/* TAS and TTAS. Release: the critical section happens-before the next acquire exchange. */
static inline void spinlock_word_release(lock_t *l)
{
	atomic_store_explicit(&l->u.word, 0, memory_order_release);
}

/* Waits until t->serving reaches `ticket` (last seen at `serving`), in proportion to the
 * tickets ahead, counting the spins. Acquire: finding our ticket served enters the section. */
void spinlock_ticket_wait(ticket_pair *t, lock_ctx *ctx, uint32_t ticket, uint32_t serving);

/* Takes a ticket and waits for it; returns whether it had to wait. Taking a ticket is relaxed,
 * because the order of tickets decides nothing about memory; the acquire load of `serving`
 * that finds our ticket is what enters the section. */
static inline int spinlock_ticket_take(ticket_pair *t, lock_ctx *ctx)
{
	uint32_t ticket = atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
	uint32_t serving = atomic_load_explicit(&t->serving, memory_order_acquire);

	if (__builtin_expect(serving == ticket, 1))
		return 0;
	spinlock_ticket_wait(t, ctx, ticket, serving);
	return 1;
}

static inline void spinlock_ticket_give(ticket_pair *t)
{
	/* Relaxed: only the holder writes `serving`, so it reads its own latest value. */
	uint32_t serving = atomic_load_explicit(&t->serving, memory_order_relaxed);

	/* Release: the critical section happens-before the next holder's acquire load. */
	atomic_store_explicit(&t->serving, serving + 1, memory_order_release);
}

/* Ticket: FIFO. */
static inline void spinlock_ticket_acquire(lock_t *l, lock_ctx *ctx)
{
	ctx->stats.contended += (uint64_t)spinlock_ticket_take(&l->u.ticket, ctx);
	ctx->stats.acquisitions++;
}

static inline void spinlock_ticket_release(lock_t *l)
{
	spinlock_ticket_give(&l->u.ticket);
}

#endif
