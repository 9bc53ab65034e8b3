#include "primitives/rwlock.h"

#include <stdatomic.h>

#include "primitives/spinlock.h"

#define RW_WRITER 1u  /* a writer holds the lock */
#define RW_WAITING 2u /* a writer waits: readers stay out */
#define RW_READER 4u  /* one reader; the count occupies the bits above */

/* Takes the lock if *v, the word as last seen, shows it free apart from a waiting bit (ours or
 * another writer's: the CAS clears it; writers still waiting set it again). On failure *v is
 * the word now. Acquire: the write section cannot be reordered before the CAS that took the
 * lock; a failed CAS only reloads the word: relaxed. */
static int rwlock_try_write(lock_t *l, uint32_t *v)
{
	return (*v & ~RW_WAITING) == 0 &&
	       atomic_compare_exchange_strong_explicit(&l->u.word, v, RW_WRITER, memory_order_acquire,
						       memory_order_relaxed);
}

/* First attempt: expects the word free, so an uncontended acquire is one CAS and no load. */
static int rwlock_write_first(lock_t *l)
{
	uint32_t v = 0;

	return rwlock_try_write(l, &v);
}

/* After a failure: takes the lock if it looks free; otherwise makes sure the waiting bit is
 * set, so that no new reader enters. Relaxed on the bit: it keeps readers out, publishes no
 * data. */
static int rwlock_write_retry(lock_t *l)
{
	uint32_t v = atomic_load_explicit(&l->u.word, memory_order_relaxed);

	if (rwlock_try_write(l, &v))
		return 1;
	if (!(v & RW_WAITING))
		atomic_fetch_or_explicit(&l->u.word, RW_WAITING, memory_order_relaxed);
	return 0;
}

void rwlock_acquire(lock_t *l, lock_ctx *ctx)
{
	spinlock_acquire_with(l, ctx, rwlock_write_first, rwlock_write_retry);
}

void rwlock_release(lock_t *l)
{
	/* An RMW, not a store: readers backing out and waiting writers change the other bits.
	 * Release: the write section happens-before the next acquisition. */
	atomic_fetch_and_explicit(&l->u.word, ~RW_WRITER, memory_order_release);
}

/* Counts the reader in; if a writer holds or waits, counts it back out and fails. Acquire on
 * the increment: when it succeeds the read section cannot start before it. Relaxed on the
 * back-out: the failed reader read nothing under the lock. */
static int rwlock_try_read(lock_t *l)
{
	if (!(atomic_fetch_add_explicit(&l->u.word, RW_READER, memory_order_acquire) &
	      (RW_WRITER | RW_WAITING)))
		return 1;
	atomic_fetch_sub_explicit(&l->u.word, RW_READER, memory_order_relaxed);
	return 0;
}

/* After a failure: tries again only once no writer holds or waits. Relaxed read: a hint;
 * rwlock_try_read decides. */
static int rwlock_read_retry(lock_t *l)
{
	return !(atomic_load_explicit(&l->u.word, memory_order_relaxed) & (RW_WRITER | RW_WAITING)) &&
	       rwlock_try_read(l);
}

void rwlock_acquire_read(lock_t *l, lock_ctx *ctx)
{
	spinlock_acquire_with(l, ctx, rwlock_try_read, rwlock_read_retry);
}

void rwlock_release_read(lock_t *l)
{
	/* Release: the read section happens-before a writer's acquire CAS that sees the count
	 * fall (RMWs continue the release sequence). */
	atomic_fetch_sub_explicit(&l->u.word, RW_READER, memory_order_release);
}
