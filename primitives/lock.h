#ifndef SGDSYNC_PRIMITIVES_LOCK_H
#define SGDSYNC_PRIMITIVES_LOCK_H

/* One interface over every lock sgdsync compares.
 *
 * Each thread passes its own lock_ctx: the backoff state it waits with and its counters, so
 * that counting never adds a shared write. For the exclusive kinds, the read calls take the
 * lock exclusively. Every lock object is padded to its own cache lines. */

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "primitives/backoff.h"
#include "primitives/cacheline.h"

typedef enum {
	LOCK_MUTEX,     /* pthread mutex, blocking; ignores backoff */
	LOCK_TRYMUTEX,  /* pthread_mutex_trylock, backoff between tries */
	LOCK_TAS,       /* test-and-set spinlock */
	LOCK_TTAS,      /* test-and-test-and-set spinlock */
	LOCK_TICKET,    /* ticket lock, proportional backoff: waits base * (tickets ahead - 1) */
	LOCK_PTHREAD_RW,/* pthread rwlock; ignores backoff */
	LOCK_RW,        /* our read-write lock: readers share, a waiting writer stops new readers */
	LOCK_KIND_COUNT
} lock_kind;

typedef struct {
	uint64_t acquisitions; /* read and write acquisitions */
	uint64_t contended;    /* acquisitions whose first attempt failed */
	uint64_t spins;        /* failed attempts (re-reads of the lock word or failed trylocks) */
} lock_stats;

typedef struct {
	backoff_state backoff;
	lock_stats stats;
} lock_ctx;

/* Aligned to CACHELINE_PAD, so its size is a multiple of it and no neighbour shares its lines. */
typedef struct CACHELINE_ALIGNED {
	lock_kind kind;
	union {
		pthread_mutex_t mutex;
		pthread_rwlock_t rwlock;
		_Atomic uint32_t word; /* TAS, TTAS: 0 free, 1 held. RW: see rwlock.c */
		struct {
			_Atomic uint32_t next;
			_Atomic uint32_t serving;
		} ticket;
	} u;
} lock_t;

/* "mutex", "trymutex", "tas", "ttas", "ticket", "pthread-rw", "rw". */
const char *lock_kind_name(lock_kind kind);
/* Returns -1 for an unknown name, with a message listing the valid ones in err. */
int lock_kind_parse(const char *name, lock_kind *out, char *err, size_t errlen);
/* True for the kinds whose readers share. */
int lock_kind_is_rw(lock_kind kind);
/* True for the kinds that wait with the backoff policy of their lock_ctx; the blocking kinds
 * (mutex, pthread-rw) sleep in the kernel and ignore it. Every kind declares it here. */
int lock_kind_uses_backoff(lock_kind kind);

int lock_init(lock_t *l, lock_kind kind);
void lock_destroy(lock_t *l);
void lock_ctx_init(lock_ctx *ctx, const backoff_policy *policy, uint64_t seed);

void lock_acquire(lock_t *l, lock_ctx *ctx);
void lock_release(lock_t *l, lock_ctx *ctx);
void lock_acquire_read(lock_t *l, lock_ctx *ctx);
void lock_release_read(lock_t *l, lock_ctx *ctx);

void lock_stats_add(lock_stats *a, const lock_stats *b);

#endif
