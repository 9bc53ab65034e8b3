#include "primitives/lock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "primitives/clh.h"
#include "primitives/cohort.h"
#include "primitives/mcs.h"
#include "primitives/rwlock.h"
#include "primitives/spinlock.h"

static const char *const kind_names[LOCK_KIND_COUNT] = {
	[LOCK_MUTEX] = "mutex", [LOCK_TRYMUTEX] = "trymutex",     [LOCK_TAS] = "tas",
	[LOCK_TTAS] = "ttas",   [LOCK_TICKET] = "ticket",         [LOCK_PTHREAD_RW] = "pthread-rw",
	[LOCK_RW] = "rw",       [LOCK_MCS] = "mcs",               [LOCK_CLH] = "clh",
	[LOCK_COHORT] = "cohort",
};

const char *lock_kind_name(lock_kind kind)
{
	return (unsigned)kind < LOCK_KIND_COUNT ? kind_names[kind] : "unknown";
}

int lock_kind_parse(const char *name, lock_kind *out, char *err, size_t errlen)
{
	size_t used;

	for (int k = 0; k < LOCK_KIND_COUNT; k++) {
		if (strcmp(name, kind_names[k]) == 0) {
			*out = (lock_kind)k;
			return 0;
		}
	}
	used = (size_t)snprintf(err, errlen, "unknown lock \"%s\" (valid:", name);
	for (int k = 0; k < LOCK_KIND_COUNT && used < errlen; k++)
		used += (size_t)snprintf(err + used, errlen - used, " %s%s", kind_names[k],
					 k + 1 < LOCK_KIND_COUNT ? "," : ")");
	return -1;
}

int lock_kind_is_rw(lock_kind kind)
{
	return kind == LOCK_PTHREAD_RW || kind == LOCK_RW;
}

int lock_kind_uses_backoff(lock_kind kind)
{
	switch (kind) {
	case LOCK_MUTEX:
	case LOCK_PTHREAD_RW:
	case LOCK_KIND_COUNT:
		return 0;
	case LOCK_TRYMUTEX:
	case LOCK_TAS:
	case LOCK_TTAS:
	case LOCK_TICKET:
	case LOCK_RW:
	case LOCK_MCS:
	case LOCK_CLH:
	case LOCK_COHORT:
		return 1;
	}
	return 0;
}

int lock_kind_is_fifo(lock_kind kind)
{
	return kind == LOCK_TICKET || kind == LOCK_MCS || kind == LOCK_CLH || kind == LOCK_COHORT;
}

/* glibc's rwlock prefers readers by default, and a stream of readers would starve its writers;
 * ask for writer preference so that both read-write kinds promise the same. */
static int pthread_rw_init(pthread_rwlock_t *rw)
{
	pthread_rwlockattr_t attr;
	int rc = pthread_rwlockattr_init(&attr);

	if (rc != 0)
		return rc;
#ifdef __GLIBC__
	rc = pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	if (rc == 0)
		rc = pthread_rwlock_init(rw, &attr);
	pthread_rwlockattr_destroy(&attr);
	return rc;
}

int lock_init(lock_t *l, lock_kind kind)
{
	return lock_init_clusters(l, kind, 1);
}

int lock_init_clusters(lock_t *l, lock_kind kind, uint32_t clusters)
{
	clh_node *free_node;

	memset(l, 0, sizeof *l);
	l->kind = kind;
	switch (kind) {
	case LOCK_MUTEX:
	case LOCK_TRYMUTEX:
		return pthread_mutex_init(&l->u.mutex, NULL);
	case LOCK_PTHREAD_RW:
		return pthread_rw_init(&l->u.rwlock);
	case LOCK_TAS:
	case LOCK_TTAS:
	case LOCK_RW:
		atomic_init(&l->u.word, 0);
		return 0;
	case LOCK_TICKET:
		atomic_init(&l->u.ticket.next, 0);
		atomic_init(&l->u.ticket.serving, 0);
		return 0;
	case LOCK_MCS:
		atomic_init(&l->u.mcs_tail, NULL);
		return 0;
	case LOCK_CLH:
		free_node = clh_node_new();
		if (!free_node)
			return ENOMEM;
		atomic_init(&l->u.clh_tail, free_node);
		return 0;
	case LOCK_COHORT:
		return cohort_init(l, clusters);
	case LOCK_KIND_COUNT:
		break;
	}
	return EINVAL;
}

void lock_destroy(lock_t *l)
{
	if (l->kind == LOCK_MUTEX || l->kind == LOCK_TRYMUTEX)
		pthread_mutex_destroy(&l->u.mutex);
	else if (l->kind == LOCK_PTHREAD_RW)
		pthread_rwlock_destroy(&l->u.rwlock);
	else if (l->kind == LOCK_CLH)
		/* Relaxed: no thread uses the lock any more. */
		free(atomic_load_explicit(&l->u.clh_tail, memory_order_relaxed));
	else if (l->kind == LOCK_COHORT)
		cohort_destroy(l);
}

static const _Atomic int never_yield;

void lock_ctx_init(lock_ctx *ctx, const backoff_policy *policy, uint64_t seed)
{
	memset(ctx, 0, sizeof *ctx);
	backoff_init(&ctx->backoff, policy, seed);
	ctx->yield_flag = &never_yield;
}

void lock_ctx_yield_when(lock_ctx *ctx, const _Atomic int *flag)
{
	ctx->yield_flag = flag;
}

void lock_ctx_set_cluster(lock_ctx *ctx, uint32_t cluster)
{
	ctx->cluster = cluster;
}

void lock_ctx_destroy(lock_ctx *ctx)
{
	free(ctx->clh);
	ctx->clh = NULL;
}

/* The blocking kinds try once, so that contention is seen (the failed try counts as the one
 * spin), and otherwise block in the kernel, uncounted. Returns whether to block. */
static int blocking_contended(lock_ctx *ctx, int trylock_rc)
{
	int contended = trylock_rc != 0;

	ctx->stats.acquisitions++;
	ctx->stats.contended += contended;
	ctx->stats.spins += contended;
	return contended;
}

static int trymutex_attempt(lock_t *l)
{
	return pthread_mutex_trylock(&l->u.mutex) == 0;
}

void lock_acquire(lock_t *l, lock_ctx *ctx)
{
	switch (l->kind) {
	case LOCK_MUTEX:
		if (blocking_contended(ctx, pthread_mutex_trylock(&l->u.mutex)))
			pthread_mutex_lock(&l->u.mutex);
		return;
	case LOCK_TRYMUTEX:
		spinlock_acquire_with(l, ctx, trymutex_attempt, trymutex_attempt);
		return;
	case LOCK_TAS:
		spinlock_tas_acquire(l, ctx);
		return;
	case LOCK_TTAS:
		spinlock_ttas_acquire(l, ctx);
		return;
	case LOCK_TICKET:
		spinlock_ticket_acquire(l, ctx);
		return;
	case LOCK_PTHREAD_RW:
		if (blocking_contended(ctx, pthread_rwlock_trywrlock(&l->u.rwlock)))
			pthread_rwlock_wrlock(&l->u.rwlock);
		return;
	case LOCK_RW:
		rwlock_acquire(l, ctx);
		return;
	case LOCK_MCS:
		mcs_acquire(l, ctx);
		return;
	case LOCK_CLH:
		clh_acquire(l, ctx);
		return;
	case LOCK_COHORT:
		cohort_acquire(l, ctx);
		return;
	case LOCK_KIND_COUNT:
		return;
	}
}

void lock_release(lock_t *l, lock_ctx *ctx)
{
	switch (l->kind) {
	case LOCK_MUTEX:
	case LOCK_TRYMUTEX:
		pthread_mutex_unlock(&l->u.mutex);
		return;
	case LOCK_TAS:
	case LOCK_TTAS:
		spinlock_word_release(l);
		return;
	case LOCK_TICKET:
		spinlock_ticket_release(l);
		return;
	case LOCK_PTHREAD_RW:
		pthread_rwlock_unlock(&l->u.rwlock);
		return;
	case LOCK_RW:
		rwlock_release(l);
		return;
	case LOCK_MCS:
		mcs_release(l, ctx);
		return;
	case LOCK_CLH:
		clh_release(ctx);
		return;
	case LOCK_COHORT:
		cohort_release(l, ctx);
		return;
	case LOCK_KIND_COUNT:
		return;
	}
}

void lock_acquire_read(lock_t *l, lock_ctx *ctx)
{
	if (l->kind == LOCK_PTHREAD_RW) {
		if (blocking_contended(ctx, pthread_rwlock_tryrdlock(&l->u.rwlock)))
			pthread_rwlock_rdlock(&l->u.rwlock);
	} else if (l->kind == LOCK_RW) {
		rwlock_acquire_read(l, ctx);
	} else {
		lock_acquire(l, ctx);
	}
}

void lock_release_read(lock_t *l, lock_ctx *ctx)
{
	if (l->kind == LOCK_PTHREAD_RW)
		pthread_rwlock_unlock(&l->u.rwlock);
	else if (l->kind == LOCK_RW)
		rwlock_release_read(l);
	else
		lock_release(l, ctx);
}

void lock_stats_add(lock_stats *a, const lock_stats *b)
{
	a->acquisitions += b->acquisitions;
	a->contended += b->contended;
	a->spins += b->spins;
	a->local_passes += b->local_passes;
}
