#include "primitives/spinlock.h"

void spinlock_tas_acquire_slow(lock_t *l, lock_ctx *ctx)
{
	spinlock_retry(l, ctx, spinlock_word_try);
}

/* TTAS's second attempt onwards: wait until the word reads free, then exchange. Relaxed read:
 * it is only a hint that the lock may be free; the acquire exchange orders the section. */
static int ttas_attempt(lock_t *l)
{
	return atomic_load_explicit(&l->u.word, memory_order_relaxed) == 0 && spinlock_word_try(l);
}

void spinlock_ttas_acquire_slow(lock_t *l, lock_ctx *ctx)
{
	spinlock_retry(l, ctx, ttas_attempt);
}

/* Proportional backoff: a waiter `ahead` tickets from the front waits base * (ahead - 1) pause
 * iterations (at least one, at most cap where the policy has one) before it reads `serving`
 * again: the next in line polls, the others sleep off the holders before them. Yield and sleep
 * wait as usual, as does every wait once the yield flag has risen; with no policy, one pause. */
static void ticket_wait(lock_ctx *ctx, uint32_t ahead)
{
	const backoff_policy *p = ctx->backoff.policy;
	uint64_t iters = ahead > 1 ? (uint64_t)p->base * (ahead - 1) : 1;

	switch (lock_ctx_yielding(ctx) ? BACKOFF_YIELD : p->kind) {
	case BACKOFF_CONST:
	case BACKOFF_LINEAR:
	case BACKOFF_EXP:
	case BACKOFF_JITTER:
		ctx->stats.spins++;
		backoff_spin(&ctx->backoff, p->cap && iters > p->cap ? p->cap : iters);
		return;
	default:
		spinlock_wait(ctx);
		return;
	}
}

void spinlock_ticket_wait(ticket_pair *t, lock_ctx *ctx, uint32_t ticket, uint32_t serving)
{
	do {
		ticket_wait(ctx, ticket - serving);
		serving = atomic_load_explicit(&t->serving, memory_order_acquire);
	} while (serving != ticket);
}
