/* Fairness of the FIFO kinds, exactly: the main thread holds the lock while waiters arrive one
 * at a time (each starts only once the one before it is queued, which the lock's own words
 * show); then the waiters must enter in arrival order. The cohort lock instead passes the lock
 * to a waiter of the holder's cluster before a waiter of another cluster that arrived earlier,
 * and only then hands the global lock over. No assertion depends on timing. */

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "primitives/cohort.h"
#include "primitives/lock.h"

#define WAITERS 6

typedef struct {
	lock_t lock;
	_Atomic int order[WAITERS + 1]; /* order[i] = the i-th waiter to enter */
	_Atomic int entered;
} order_run;

typedef struct CACHELINE_ALIGNED {
	order_run *run;
	int id;
	lock_ctx ctx;
} order_waiter;

static void *waiter_thread(void *arg)
{
	order_waiter *w = arg;

	lock_acquire(&w->run->lock, &w->ctx);
	atomic_store(&w->run->order[atomic_fetch_add(&w->run->entered, 1)], w->id);
	lock_release(&w->run->lock, &w->ctx);
	return NULL;
}

/* The word a new waiter changes when it queues: a tail pointer or a `next` ticket. For the
 * cohort lock, `cluster` < 0 names the global ticket. */
static uintptr_t queue_word(lock_t *l, int cluster)
{
	switch (l->kind) {
	case LOCK_TICKET:
		return atomic_load(&l->u.ticket.next);
	case LOCK_MCS:
		return (uintptr_t)atomic_load(&l->u.mcs_tail);
	case LOCK_CLH:
		return (uintptr_t)atomic_load(&l->u.clh_tail);
	default:
		return cluster < 0 ? atomic_load(&l->u.cohort.global.next)
				   : atomic_load(&l->u.cohort.clusters[cluster].local.next);
	}
}

/* Starts waiter w and returns once it has changed the queue word it queues on. */
static void start_queued(pthread_t *t, order_waiter *w, lock_t *l, int watch)
{
	uintptr_t before = queue_word(l, watch);

	CHECK(pthread_create(t, NULL, waiter_thread, w) == 0, "pthread_create");
	while (queue_word(l, watch) == before)
		sched_yield();
}

/* Waiters with the given clusters arrive in order (watch[i]: the queue word waiter i changes)
 * while the main thread, in cluster 0, holds the lock; returns the order of entry. */
static void run_arrivals(lock_kind kind, uint32_t clusters, const int *cluster, const int *watch,
			 int n, int *entered, uint64_t *local_passes)
{
	static order_run run;
	static order_waiter w[WAITERS];
	pthread_t t[WAITERS];
	lock_ctx main_ctx;

	atomic_store(&run.entered, 0);
	CHECK(lock_init_clusters(&run.lock, kind, clusters) == 0, "lock_init(%s)", lock_kind_name(kind));
	lock_ctx_init(&main_ctx, &backoff_none, 99);
	lock_acquire(&run.lock, &main_ctx);
	for (int i = 0; i < n; i++) {
		w[i].run = &run;
		w[i].id = i;
		lock_ctx_init(&w[i].ctx, &backoff_none, (uint64_t)i + 1);
		lock_ctx_set_cluster(&w[i].ctx, (uint32_t)cluster[i]);
		start_queued(&t[i], &w[i], &run.lock, watch[i]);
	}
	lock_release(&run.lock, &main_ctx);
	*local_passes = main_ctx.stats.local_passes;
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		entered[i] = atomic_load(&run.order[i]);
		*local_passes += w[i].ctx.stats.local_passes;
		lock_ctx_destroy(&w[i].ctx);
	}
	lock_ctx_destroy(&main_ctx);
	lock_destroy(&run.lock);
}

static void check_fifo(lock_kind kind)
{
	static const int cluster0[WAITERS] = { 0 };
	int entered[WAITERS];
	uint64_t passes;

	run_arrivals(kind, 1, cluster0, cluster0, WAITERS, entered, &passes);
	for (int i = 0; i < WAITERS; i++)
		CHECK(entered[i] == i, "%s: waiter %d entered %d-th, not in arrival order",
		      lock_kind_name(kind), entered[i], i);
}

/* Cluster 1's waiter arrives first and queues on the global lock; then three waiters of the
 * holder's cluster 0. They go first, then cluster 1: three local passes in all (the holder's
 * and two waiters'; the last of cluster 0 sees nobody behind it and gives the global lock up). */
static void check_cohort_passes(void)
{
	static const int cluster[] = { 1, 0, 0, 0 };
	static const int watch[] = { -1, 0, 0, 0 };
	static const int want[] = { 1, 2, 3, 0 };
	int entered[4];
	uint64_t passes;

	run_arrivals(LOCK_COHORT, 2, cluster, watch, 4, entered, &passes);
	for (int i = 0; i < 4; i++)
		CHECK(entered[i] == want[i], "cohort: %d-th to enter was waiter %d, want %d", i,
		      entered[i], want[i]);
	CHECK(passes == 3, "cohort: %llu local passes, want 3", (unsigned long long)passes);
}

/* A holder with local waiters keeps passing only up to COHORT_PASS_LIMIT acquisitions of its
 * cluster in a row: driven by hand, one context per acquisition, the global lock must be free
 * for another cluster after the limit. */
static void check_cohort_limit(void)
{
	static lock_ctx ctx[COHORT_PASS_LIMIT + 1];
	lock_t l;
	uint64_t passes = 0;

	CHECK(lock_init_clusters(&l, LOCK_COHORT, 2) == 0, "lock_init cohort");
	for (int i = 0; i <= COHORT_PASS_LIMIT; i++)
		lock_ctx_init(&ctx[i], &backoff_none, (uint64_t)i + 1);
	lock_acquire(&l, &ctx[0]);
	for (int i = 1; i <= COHORT_PASS_LIMIT; i++) {
		/* A local waiter: a ticket taken, as a thread arriving would. */
		atomic_fetch_add(&l.u.cohort.clusters[0].local.next, 1);
		lock_release(&l, &ctx[i - 1]);
		CHECK(atomic_load(&l.u.cohort.clusters[0].local.serving) == (uint32_t)i, "local handover");
		/* The waiter now holds the local lock: it finishes its acquisition. */
		CHECK(l.u.cohort.clusters[0].owner.global_held == (i < COHORT_PASS_LIMIT),
		      "acquisition %d of the tenure: global lock %s", i + 1,
		      l.u.cohort.clusters[0].owner.global_held ? "kept" : "given up");
		if (!l.u.cohort.clusters[0].owner.global_held)
			break;
		l.u.cohort.clusters[0].owner.passes++;
	}
	for (int i = 0; i <= COHORT_PASS_LIMIT; i++)
		passes += ctx[i].stats.local_passes;
	CHECK(passes == COHORT_PASS_LIMIT - 1, "%llu passes in a tenure, want %d",
	      (unsigned long long)passes, COHORT_PASS_LIMIT - 1);
	CHECK(atomic_load(&l.u.cohort.global.serving) == atomic_load(&l.u.cohort.global.next),
	      "the global lock is free for the other cluster after the limit");
	lock_destroy(&l);
}

int main(void)
{
	check_fifo(LOCK_TICKET);
	check_fifo(LOCK_MCS);
	check_fifo(LOCK_CLH);
	check_fifo(LOCK_COHORT);
	check_cohort_passes();
	check_cohort_limit();
	CHECK_DONE();
}
