#ifndef SGDSYNC_PRIMITIVES_LOCK_H
#define SGDSYNC_PRIMITIVES_LOCK_H

/* One interface over every lock sgdsync compares.
 *
 * Each thread passes its own lock_ctx: the backoff state it waits with and its counters, so
 * that counting never adds a shared write. For the exclusive kinds, the read calls take the
 * lock exclusively. Every lock object is padded to its own cache lines.
 *
 * The queue and cohort kinds (mcs, clh, cohort) keep per-thread state in the lock_ctx while the
 * thread holds or waits for the lock, so a lock_ctx holds at most one lock of those kinds at a
 * time (every user of sgdsync takes one lock at a time). A lock_ctx that took a CLH lock owns a
 * heap node: release it with lock_ctx_destroy. */

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "primitives/backoff.h"
#include "primitives/cacheline.h"
#include "primitives/qnode.h"

typedef enum {
	LOCK_MUTEX,     /* pthread mutex, blocking; ignores backoff */
	LOCK_TRYMUTEX,  /* pthread_mutex_trylock, backoff between tries */
	LOCK_TAS,       /* test-and-set spinlock */
	LOCK_TTAS,      /* test-and-test-and-set spinlock */
	LOCK_TICKET,    /* ticket lock, proportional backoff: waits base * (tickets ahead - 1) */
	LOCK_PTHREAD_RW,/* pthread rwlock; ignores backoff */
	LOCK_RW,        /* our read-write lock: readers share, a waiting writer stops new readers */
	LOCK_MCS,       /* MCS queue lock: FIFO, each waiter spins on its own node (mcs.h) */
	LOCK_CLH,       /* CLH queue lock: FIFO, each waiter spins on its predecessor's node (clh.h) */
	LOCK_COHORT,    /* NUMA cohort lock: a ticket lock per cluster over a global one (cohort.h) */
	LOCK_KIND_COUNT
} lock_kind;

typedef struct {
	uint64_t acquisitions; /* read and write acquisitions */
	uint64_t contended;    /* acquisitions whose first attempt failed */
	uint64_t spins;        /* failed attempts (re-reads of the lock word or failed trylocks) */
	uint64_t local_passes; /* cohort: releases that passed the global lock within the cluster */
} lock_stats;

typedef struct {
	backoff_state backoff;
	lock_stats stats;
	uint32_t cluster;   /* cohort: this thread's cluster (its NUMA node), lock_ctx_set_cluster */
	clh_node *clh;      /* CLH: the node this thread enqueues next; allocated on first use */
	clh_node *clh_pred; /* CLH: while held, the predecessor's node, this thread's after release */
	const _Atomic int *yield_flag; /* nonzero: wait by yielding (lock_ctx_yield_when) */
	/* MCS: this thread's queue node, which its neighbours in the queue write while this thread
	 * counts its spins: a full pad on each side keeps every other field off the node's lines. */
	char mcs_pad_before[CACHELINE_PAD];
	mcs_node mcs;
	char mcs_pad_after[CACHELINE_PAD];
} lock_ctx;

struct cohort_cluster;

/* Aligned to CACHELINE_PAD, so its size is a multiple of it and no neighbour shares its lines. */
typedef struct CACHELINE_ALIGNED {
	lock_kind kind;
	union {
		pthread_mutex_t mutex;
		pthread_rwlock_t rwlock;
		_Atomic uint32_t word; /* TAS, TTAS: 0 free, 1 held. RW: see rwlock.c */
		ticket_pair ticket;
		_Atomic(mcs_node *) mcs_tail;   /* NULL when free */
		_Atomic(clh_node *) clh_tail;   /* never NULL: the lock owns the tail node when free */
		struct {
			ticket_pair global;
			struct cohort_cluster *clusters;
			uint32_t nclusters;
		} cohort;
	} u;
} lock_t;

/* "mutex", "trymutex", "tas", "ttas", "ticket", "pthread-rw", "rw", "mcs", "clh", "cohort". */
const char *lock_kind_name(lock_kind kind);
/* Returns -1 for an unknown name, with a message listing the valid ones in err. */
int lock_kind_parse(const char *name, lock_kind *out, char *err, size_t errlen);
/* True for the kinds whose readers share. */
int lock_kind_is_rw(lock_kind kind);
/* True for the kinds that wait with the backoff policy of their lock_ctx; the blocking kinds
 * (mutex, pthread-rw) sleep in the kernel and ignore it. Every kind declares it here. */
int lock_kind_uses_backoff(lock_kind kind);
/* True for the kinds that hand over in queue order (ticket, mcs, clh, cohort): with more
 * threads than cores each contended handover waits for one particular thread to run. */
int lock_kind_is_fifo(lock_kind kind);

/* lock_init_clusters(l, kind, 1). */
int lock_init(lock_t *l, lock_kind kind);
/* A cohort lock with `clusters` (>= 1) clusters; the other kinds ignore the count. Returns 0, or
 * EINVAL for a bad kind or count, ENOMEM, or what pthread returned. */
int lock_init_clusters(lock_t *l, lock_kind kind, uint32_t clusters);
/* No thread may hold or wait for the lock. */
void lock_destroy(lock_t *l);
/* Cluster 0, no CLH node yet. */
void lock_ctx_init(lock_ctx *ctx, const backoff_policy *policy, uint64_t seed);
/* The cohort cluster this thread belongs to, taken modulo the lock's cluster count (a lock of
 * one cluster ignores it). Set it before the thread's first acquisition. */
void lock_ctx_set_cluster(lock_ctx *ctx, uint32_t cluster);
/* From the moment *flag reads nonzero, the context's wait loops (the spinning and FIFO kinds)
 * yield the CPU after each failed attempt instead of spinning or backing off: with more
 * waiters than cores, the one thread a FIFO handover waits for gets a core within a round of
 * yields instead of a round of time slices (a benchmark past its run limit drains its queue).
 * The flag must outlive the context's use; lock_ctx_init points at a flag that stays 0. */
void lock_ctx_yield_when(lock_ctx *ctx, const _Atomic int *flag);
/* Relaxed: the flag only says how to wait; it publishes nothing. */
static inline int lock_ctx_yielding(const lock_ctx *ctx)
{
	return atomic_load_explicit(ctx->yield_flag, memory_order_relaxed);
}
/* Frees the CLH node the context owns, if any; the context holds no lock. */
void lock_ctx_destroy(lock_ctx *ctx);

void lock_acquire(lock_t *l, lock_ctx *ctx);
void lock_release(lock_t *l, lock_ctx *ctx);
void lock_acquire_read(lock_t *l, lock_ctx *ctx);
void lock_release_read(lock_t *l, lock_ctx *ctx);

void lock_stats_add(lock_stats *a, const lock_stats *b);

#endif
