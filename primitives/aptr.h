#ifndef SGDSYNC_PRIMITIVES_APTR_H
#define SGDSYNC_PRIMITIVES_APTR_H

/* Atomic pointer slots and counters for the micro-benchmarks.
 *
 * aptr is one pointer slot; several in an array share cache lines on purpose (a deliberately
 * shared slot). aptr_padded holds one slot per CACHELINE_PAD, for per-thread slots that must
 * not share. Each operation names its memory order; the comment says why that order. */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "primitives/cacheline.h"

typedef struct {
	_Atomic(void *) p;
} aptr;

typedef struct CACHELINE_ALIGNED {
	aptr slot;
} aptr_padded;

typedef struct {
	_Atomic uint64_t n;
} acounter;

typedef struct CACHELINE_ALIGNED {
	acounter counter;
} acounter_padded;

/* Before any thread shares the slot; not atomic. */
static inline void aptr_init(aptr *s, void *p)
{
	atomic_init(&s->p, p);
}

/* Acquire: what was written before the pointer was published is visible through it. */
static inline void *aptr_load_acquire(aptr *s)
{
	return atomic_load_explicit(&s->p, memory_order_acquire);
}

/* Relaxed: for a pointer that is compared or counted, never dereferenced. */
static inline void *aptr_load_relaxed(aptr *s)
{
	return atomic_load_explicit(&s->p, memory_order_relaxed);
}

/* Release: the pointee's initialisation happens-before any acquire load that sees p. */
static inline void aptr_store_release(aptr *s, void *p)
{
	atomic_store_explicit(&s->p, p, memory_order_release);
}

/* Acq_rel: publishes p (release) and takes over the old pointee (acquire). */
static inline void *aptr_exchange(aptr *s, void *p)
{
	return atomic_exchange_explicit(&s->p, p, memory_order_acq_rel);
}

/* Replaces *expected by desired if the slot holds *expected; otherwise writes what it holds
 * into *expected. Acq_rel on success (publishes desired, takes over the old pointee); acquire
 * on failure, because the caller usually dereferences the pointer it found. */
static inline bool aptr_cas(aptr *s, void **expected, void *desired)
{
	return atomic_compare_exchange_strong_explicit(&s->p, expected, desired,
						       memory_order_acq_rel, memory_order_acquire);
}

/* As aptr_cas, but may fail spuriously (an LL/SC without a retry loop): for retry loops. */
static inline bool aptr_cas_weak(aptr *s, void **expected, void *desired)
{
	return atomic_compare_exchange_weak_explicit(&s->p, expected, desired,
						     memory_order_acq_rel, memory_order_acquire);
}

static inline void acounter_init(acounter *c, uint64_t n)
{
	atomic_init(&c->n, n);
}

/* Relaxed: a count orders no other memory; returns the value before the add. */
static inline uint64_t acounter_add(acounter *c, uint64_t delta)
{
	return atomic_fetch_add_explicit(&c->n, delta, memory_order_relaxed);
}

/* Relaxed: read after the adders are joined, or as a statistic. */
static inline uint64_t acounter_load(acounter *c)
{
	return atomic_load_explicit(&c->n, memory_order_relaxed);
}

#endif
