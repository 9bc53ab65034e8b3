/* sgdsync-bench-locks: every lock of primitives/lock.h under every backoff policy, beside the
 * pthread and Concurrency Kit locks in the same run, by threads, critical-section length and,
 * for read-write locks, the fraction of reads.
 *
 * locks/<lock>/backoff:<policy>/cs:<floats>[/read_pct:<p>]/threads:N/real_time
 * One operation: take the lock, run the critical section, release. The critical section works
 * on a shared vector of `cs` floats as an SGD worker does: a writer adds its private vector into
 * it (apply), a reader copies it out (read). Exclusive locks only write.
 *
 * Ours: mutex, trymutex, tas, ttas, ticket, pthread-rw, rw, mcs, clh, cohort (lock.h; tas, ttas,
 * ticket, mcs, clh and cohort through their headers' inline fast paths). Peers: pthread_mutex,
 * pthread_rwlock (glibc defaults), ck_fas (ck_spinlock_fas_lock: exchange, then read until free =
 * TTAS), ck_fas with backoff:ck_eb (ck_spinlock_fas_lock_eb: exchange with ck's exponential
 * backoff, the peer of our ttas/backoff:exp), ck_ticket, ck_ticket with backoff:ck_pb
 * (proportional backoff), ck_rwlock, ck_mcs, ck_clh, ck_hclh (hierarchical CLH) and ck_cohort
 * (ticket over ticket, the peer of our cohort: same pass limit). The NUMA-aware ones (cohort,
 * ck_hclh, ck_cohort) have one cluster per NUMA node; thread i's is the node of the PU --pin
 * gives it (unpinned threads: node 0).
 *
 * --run-limit: a timer raises a flag that every thread reads before each operation (runlimit.h);
 * our locks wait by yielding once it has risen (lock_ctx_yield_when), so that a FIFO queue of
 * more threads than cores drains in time. */

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ck_cohort.h>
#include <ck_rwlock.h>
#include <ck_spinlock.h>

#include "harness/bench.h"
#include "harness/runlimit.h"
#include "primitives/backoff.h"
#include "primitives/cacheline.h"
#include "primitives/clh.h"
#include "primitives/cohort.h"
#include "primitives/histogram.h"
#include "primitives/lock.h"
#include "primitives/mcs.h"
#include "primitives/spinlock.h"

/* ck_spinlock_ticket_lock_pb waits (tickets ahead) << CK_TICKET_PB_SHIFT empty iterations. */
#define CK_TICKET_PB_SHIFT 9
/* The most threads per PU a Concurrency Kit FIFO lock runs at (refuse_ck_fifo). */
#define CK_FIFO_MAX_THREADS_PER_PU 16
/* One acquisition in WAIT_SAMPLE_EVERY is timed for the wait-time percentiles. */
#define WAIT_SAMPLE_EVERY 64

typedef enum {
	IMPL_OURS,          /* lock_acquire & co. */
	IMPL_OURS_TAS,      /* spinlock.h inline */
	IMPL_OURS_TTAS,
	IMPL_OURS_TICKET,
	IMPL_OURS_MCS,
	IMPL_OURS_CLH,
	IMPL_OURS_COHORT,
	IMPL_PTHREAD_MUTEX,
	IMPL_PTHREAD_RWLOCK,
	IMPL_CK_FAS,
	IMPL_CK_FAS_EB,
	IMPL_CK_TICKET,
	IMPL_CK_TICKET_PB,
	IMPL_CK_RWLOCK,
	IMPL_CK_MCS,
	IMPL_CK_CLH,
	IMPL_CK_HCLH,
	IMPL_CK_COHORT,
} lock_impl;

/* ck_cohort over ck's ticket lock, globally and in each cluster. */
static void ck_tkt_lock(void *l, void *context) { (void)context; ck_spinlock_ticket_lock(l); }
static void ck_tkt_unlock(void *l, void *context) { (void)context; ck_spinlock_ticket_unlock(l); }
static bool ck_tkt_locked(void *l, void *context) { (void)context; return ck_spinlock_ticket_locked(l); }
CK_COHORT_PROTOTYPE(tkt, ck_tkt_lock, ck_tkt_unlock, ck_tkt_locked, ck_tkt_lock, ck_tkt_unlock, ck_tkt_locked)

/* One NUMA cluster's part of the ck locks that have them. */
typedef struct {
	CACHELINE_ALIGNED CK_COHORT_INSTANCE(tkt) cohort;
	CACHELINE_ALIGNED ck_spinlock_ticket_t local;
	CACHELINE_ALIGNED struct ck_spinlock_hclh *hclh_local;
} ck_cluster;

/* A ck CLH or HCLH queue node; they migrate between threads, so a run owns them all. */
typedef union CACHELINE_ALIGNED {
	struct ck_spinlock_clh clh;
	struct ck_spinlock_hclh hclh;
} ck_node;

typedef struct {
	lock_impl impl;
	lock_kind kind; /* IMPL_OURS* */
	backoff_policy backoff;
} lock_case;

typedef struct {
	union {
		lock_t ours;
		pthread_mutex_t mutex;
		pthread_rwlock_t rwlock;
		ck_spinlock_fas_t fas;
		ck_spinlock_ticket_t ticket;
		ck_rwlock_t ckrw;
		struct ck_spinlock_mcs *ckmcs;
		struct ck_spinlock_clh *ckclh;
		struct ck_spinlock_hclh *ckhclh; /* the global queue */
	} u;
	ck_cluster *ck_clusters;       /* ck_hclh, ck_cohort: one per cluster */
	ck_node *ck_nodes;             /* ck_clh, ck_hclh: a node per thread, then the free ones */
	uint32_t nclusters;
	CACHELINE_ALIGNED float *data; /* cs floats, placed by --placement */
	size_t data_bytes;
	_Atomic int window_closed;     /* the first thread to finish took the snapshot */
	uint64_t *window_ops;          /* each thread's operations at that moment */
	run_limit limit;
} lock_run;

/* Per-thread record (bench_local_size). */
typedef struct {
	_Atomic uint64_t progress; /* operations done; written by its thread only */
	lock_ctx ctx;
	histogram wait;            /* sampled acquisition waits, log buckets (wait_bucket) */
	uint32_t cluster;          /* NUMA-aware locks: the node of the thread's PU, set by setup */
	struct ck_spinlock_mcs ckmcs;
	struct ck_spinlock_clh *ckclh;
	struct ck_spinlock_hclh *ckhclh;
} lock_thread;

/* ---- The locks behind one interface, inlined into each benchmark loop ---- */

typedef void (*lock_fn)(lock_run *r, lock_thread *t);

static inline void ours_acquire(lock_run *r, lock_thread *t) { lock_acquire(&r->u.ours, &t->ctx); }
static inline void ours_release(lock_run *r, lock_thread *t) { lock_release(&r->u.ours, &t->ctx); }
static inline void ours_acquire_read(lock_run *r, lock_thread *t) { lock_acquire_read(&r->u.ours, &t->ctx); }
static inline void ours_release_read(lock_run *r, lock_thread *t) { lock_release_read(&r->u.ours, &t->ctx); }
static inline void tas_acquire(lock_run *r, lock_thread *t) { spinlock_tas_acquire(&r->u.ours, &t->ctx); }
static inline void ttas_acquire(lock_run *r, lock_thread *t) { spinlock_ttas_acquire(&r->u.ours, &t->ctx); }
static inline void word_release(lock_run *r, lock_thread *t) { (void)t; spinlock_word_release(&r->u.ours); }
static inline void ticket_acquire(lock_run *r, lock_thread *t) { spinlock_ticket_acquire(&r->u.ours, &t->ctx); }
static inline void ticket_release(lock_run *r, lock_thread *t) { (void)t; spinlock_ticket_release(&r->u.ours); }
static inline void mutex_acquire(lock_run *r, lock_thread *t) { (void)t; pthread_mutex_lock(&r->u.mutex); }
static inline void mutex_release(lock_run *r, lock_thread *t) { (void)t; pthread_mutex_unlock(&r->u.mutex); }
static inline void prw_acquire(lock_run *r, lock_thread *t) { (void)t; pthread_rwlock_wrlock(&r->u.rwlock); }
static inline void prw_acquire_read(lock_run *r, lock_thread *t) { (void)t; pthread_rwlock_rdlock(&r->u.rwlock); }
static inline void prw_release(lock_run *r, lock_thread *t) { (void)t; pthread_rwlock_unlock(&r->u.rwlock); }
static inline void ck_fas_acquire(lock_run *r, lock_thread *t) { (void)t; ck_spinlock_fas_lock(&r->u.fas); }
static inline void ck_fas_eb_acquire(lock_run *r, lock_thread *t) { (void)t; ck_spinlock_fas_lock_eb(&r->u.fas); }
static inline void ck_fas_release(lock_run *r, lock_thread *t) { (void)t; ck_spinlock_fas_unlock(&r->u.fas); }
static inline void ck_ticket_acquire(lock_run *r, lock_thread *t) { (void)t; ck_spinlock_ticket_lock(&r->u.ticket); }
static inline void ck_ticket_pb_acquire(lock_run *r, lock_thread *t)
{
	(void)t;
	ck_spinlock_ticket_lock_pb(&r->u.ticket, CK_TICKET_PB_SHIFT);
}
static inline void ck_ticket_release(lock_run *r, lock_thread *t) { (void)t; ck_spinlock_ticket_unlock(&r->u.ticket); }
static inline void ck_rw_acquire(lock_run *r, lock_thread *t) { (void)t; ck_rwlock_write_lock(&r->u.ckrw); }
static inline void ck_rw_release(lock_run *r, lock_thread *t) { (void)t; ck_rwlock_write_unlock(&r->u.ckrw); }
static inline void ck_rw_acquire_read(lock_run *r, lock_thread *t) { (void)t; ck_rwlock_read_lock(&r->u.ckrw); }
static inline void ck_rw_release_read(lock_run *r, lock_thread *t) { (void)t; ck_rwlock_read_unlock(&r->u.ckrw); }

static inline void mcs_acq(lock_run *r, lock_thread *t) { mcs_acquire(&r->u.ours, &t->ctx); }
static inline void mcs_rel(lock_run *r, lock_thread *t) { mcs_release(&r->u.ours, &t->ctx); }
static inline void clh_acq(lock_run *r, lock_thread *t) { clh_acquire(&r->u.ours, &t->ctx); }
static inline void clh_rel(lock_run *r, lock_thread *t) { (void)r; clh_release(&t->ctx); }
static inline void cohort_acq(lock_run *r, lock_thread *t) { cohort_acquire(&r->u.ours, &t->ctx); }
static inline void cohort_rel(lock_run *r, lock_thread *t) { cohort_release(&r->u.ours, &t->ctx); }
static inline void ck_mcs_acquire(lock_run *r, lock_thread *t) { ck_spinlock_mcs_lock(&r->u.ckmcs, &t->ckmcs); }
static inline void ck_mcs_release(lock_run *r, lock_thread *t) { ck_spinlock_mcs_unlock(&r->u.ckmcs, &t->ckmcs); }
static inline void ck_clh_acquire(lock_run *r, lock_thread *t) { ck_spinlock_clh_lock(&r->u.ckclh, t->ckclh); }
static inline void ck_clh_release(lock_run *r, lock_thread *t) { (void)r; ck_spinlock_clh_unlock(&t->ckclh); }
static inline void ck_hclh_acquire(lock_run *r, lock_thread *t)
{
	ck_spinlock_hclh_lock(&r->u.ckhclh, &r->ck_clusters[t->cluster].hclh_local, t->ckhclh);
}
static inline void ck_hclh_release(lock_run *r, lock_thread *t) { (void)r; ck_spinlock_hclh_unlock(&t->ckhclh); }
static inline void ck_cohort_acquire(lock_run *r, lock_thread *t)
{
	CK_COHORT_LOCK(tkt, &r->ck_clusters[t->cluster].cohort, NULL, NULL);
}
static inline void ck_cohort_release(lock_run *r, lock_thread *t)
{
	CK_COHORT_UNLOCK(tkt, &r->ck_clusters[t->cluster].cohort, NULL, NULL);
}

/* ck's CLH and HCLH: thread i gets node i, the locks' free nodes come after the threads'. */
static int ck_nodes_init(bench_state *st, lock_run *r, lock_impl impl)
{
	int n = bench_state_threads(st);
	r->ck_nodes = aligned_alloc(CACHELINE_PAD, ((size_t)n + 1 + r->nclusters) * sizeof(ck_node));
	if (!r->ck_nodes)
		return ENOMEM;
	for (int i = 0; i < n; i++) {
		lock_thread *t = bench_state_local_of(st, i);
		t->ckclh = &r->ck_nodes[i].clh;
		t->ckhclh = &r->ck_nodes[i].hclh;
	}
	if (impl == IMPL_CK_CLH) {
		ck_spinlock_clh_init(&r->u.ckclh, &r->ck_nodes[n].clh);
		return 0;
	}
	ck_spinlock_hclh_init(&r->u.ckhclh, &r->ck_nodes[n].hclh, -1);
	for (uint32_t k = 0; k < r->nclusters; k++)
		ck_spinlock_hclh_init(&r->ck_clusters[k].hclh_local, &r->ck_nodes[n + 1 + k].hclh, (int)k);
	return 0;
}

static void ck_cohort_init(lock_run *r)
{
	ck_spinlock_ticket_init(&r->u.ticket);
	for (uint32_t k = 0; k < r->nclusters; k++) {
		ck_spinlock_ticket_init(&r->ck_clusters[k].local);
		CK_COHORT_INIT(tkt, &r->ck_clusters[k].cohort, &r->u.ticket, &r->ck_clusters[k].local,
			       COHORT_PASS_LIMIT);
	}
}

static int lock_run_init(bench_state *st, lock_run *r, const lock_case *c)
{
	switch (c->impl) {
	case IMPL_PTHREAD_MUTEX:
		return pthread_mutex_init(&r->u.mutex, NULL);
	case IMPL_PTHREAD_RWLOCK:
		return pthread_rwlock_init(&r->u.rwlock, NULL);
	case IMPL_CK_FAS:
	case IMPL_CK_FAS_EB:
		ck_spinlock_fas_init(&r->u.fas);
		return 0;
	case IMPL_CK_TICKET:
	case IMPL_CK_TICKET_PB:
		ck_spinlock_ticket_init(&r->u.ticket);
		return 0;
	case IMPL_CK_RWLOCK:
		ck_rwlock_init(&r->u.ckrw);
		return 0;
	case IMPL_CK_MCS:
		ck_spinlock_mcs_init(&r->u.ckmcs);
		return 0;
	case IMPL_CK_CLH:
	case IMPL_CK_HCLH:
		return ck_nodes_init(st, r, c->impl);
	case IMPL_CK_COHORT:
		ck_cohort_init(r);
		return 0;
	default:
		return lock_init_clusters(&r->u.ours, c->kind, r->nclusters);
	}
}

static int impl_is_ours(lock_impl impl) { return impl <= IMPL_OURS_COHORT; }

static void lock_run_destroy(lock_run *r, const lock_case *c)
{
	if (c->impl == IMPL_PTHREAD_MUTEX)
		pthread_mutex_destroy(&r->u.mutex);
	else if (c->impl == IMPL_PTHREAD_RWLOCK)
		pthread_rwlock_destroy(&r->u.rwlock);
	else if (impl_is_ours(c->impl))
		lock_destroy(&r->u.ours);
}

static int case_is_rw(const lock_case *c)
{
	return c->impl == IMPL_PTHREAD_RWLOCK || c->impl == IMPL_CK_RWLOCK ||
	       (c->impl == IMPL_OURS && lock_kind_is_rw(c->kind));
}

/* ---- Setup and teardown ---- */

static void lock_run_free(lock_run *r)
{
	bench_placed_free(r->data, r->data_bytes ? r->data_bytes : sizeof(float));
	free(r->ck_nodes);
	free(r->ck_clusters);
	free(r->window_ops);
	free(r);
}

/* Each thread's cluster: the NUMA node of the PU it pins itself to. */
static int assign_clusters(bench_state *st, lock_run *r)
{
	int n = bench_state_threads(st);
	uint32_t *cluster_of = malloc((size_t)n * sizeof *cluster_of);
	if (!cluster_of)
		return -1;
	r->nclusters = pin_clusters(bench_options_get()->pin, n, cluster_of);
	for (int i = 0; i < n; i++)
		((lock_thread *)bench_state_local_of(st, i))->cluster = cluster_of[i];
	free(cluster_of);
	return 0;
}

static int impl_is_ck_fifo(lock_impl impl)
{
	return impl == IMPL_CK_TICKET || impl == IMPL_CK_TICKET_PB || impl == IMPL_CK_MCS || impl == IMPL_CK_CLH ||
	       impl == IMPL_CK_HCLH || impl == IMPL_CK_COHORT;
}

/* Concurrency Kit's FIFO locks spin until their turn comes and cannot be told to yield once the
 * run limit has passed, as ours are (lock_ctx_yield_when): far above one thread per PU, each
 * handover of their queue waits out the time slices of the spinners before its successor runs.
 * Refused there, up front, since such a run cannot stop near its limit. */
static int refuse_ck_fifo(bench_state *st, const lock_case *c)
{
	int pus = topology_get()->pus;
	char msg[200];

	if (!impl_is_ck_fifo(c->impl) || bench_state_threads(st) <= CK_FIFO_MAX_THREADS_PER_PU * pus)
		return 0;
	snprintf(msg, sizeof msg,
		 "refused: a Concurrency Kit FIFO lock spins in turn and cannot stop at --run-limit with more "
		 "than %d threads per PU (%d PUs)",
		 CK_FIFO_MAX_THREADS_PER_PU, pus);
	bench_skip_with_error(st, msg);
	return 1;
}

static void *locks_setup(bench_state *st)
{
	const lock_case *c = bench_state_arg(st);
#ifdef __SANITIZE_THREAD__
	if (c->impl >= IMPL_CK_FAS) {
		bench_skip_with_error(st, "Concurrency Kit locks use inline assembly that ThreadSanitizer cannot see");
		return NULL;
	}
#endif
	if (refuse_ck_fifo(st, c))
		return NULL;
	lock_run *r = aligned_alloc(CACHELINE_PAD, sizeof *r);
	if (!r) {
		bench_skip_with_error(st, "out of memory");
		return NULL;
	}
	memset(r, 0, sizeof *r);
	if (assign_clusters(st, r) != 0) {
		bench_skip_with_error(st, "out of memory");
		lock_run_free(r);
		return NULL;
	}
	r->window_ops = calloc((size_t)bench_state_threads(st), sizeof *r->window_ops);
	r->ck_clusters = aligned_alloc(CACHELINE_PAD, r->nclusters * sizeof *r->ck_clusters);
	r->data_bytes = (size_t)bench_state_range(st, 0) * sizeof(float);
	r->data = bench_placed_alloc(st, r->data_bytes ? r->data_bytes : sizeof(float));
	if (!r->window_ops || !r->ck_clusters || !r->data) {
		if (r->data)
			bench_skip_with_error(st, "out of memory");
		lock_run_free(r);
		return NULL;
	}
	memset(r->ck_clusters, 0, r->nclusters * sizeof *r->ck_clusters);
	if (lock_run_init(st, r, c) != 0) {
		bench_skip_with_error(st, "lock initialisation failed");
		lock_run_free(r);
		return NULL;
	}
	if (run_limit_start(&r->limit, bench_options_get()->run_limit_s) != 0) {
		bench_skip_with_error(st, "cannot start the --run-limit timer");
		lock_run_destroy(r, c);
		lock_run_free(r);
		return NULL;
	}
	memset(r->data, 0, r->data_bytes); /* first touch by thread 0 */
	return r;
}

/* Waits as log-spaced buckets: exact below 16 ns, then 4 buckets per power of two. */
static uint64_t wait_bucket(uint64_t ns)
{
	if (ns < 16)
		return ns;
	int e = 63 - __builtin_clzll(ns);
	return 16 + (uint64_t)(e - 4) * 4 + ((ns >> (e - 2)) & 3);
}

/* The smallest wait in bucket b. */
static uint64_t wait_bucket_ns(uint64_t b)
{
	if (b < 16)
		return b;
	int e = (int)((b - 16) / 4) + 4;
	return ((uint64_t)4 + (b - 16) % 4) << (e - 2);
}

static void report_fairness(bench_state *st, const lock_run *r)
{
	int n = bench_state_threads(st);
	double sum = 0, sumsq = 0, lo = 0, hi = 0;
	for (int i = 0; i < n; i++) {
		double x = (double)r->window_ops[i];
		sum += x;
		sumsq += x * x;
		lo = (i == 0 || x < lo) ? x : lo;
		hi = (i == 0 || x > hi) ? x : hi;
	}
	if (sum <= 0)
		return;
	bench_counter(st, "fairness_jain", sum * sum / ((double)n * sumsq), BENCH_TOTAL);
	bench_counter(st, "share_min", lo / sum, BENCH_TOTAL);
	bench_counter(st, "share_max", hi / sum, BENCH_TOTAL);
}

static void report_waits(bench_state *st)
{
	histogram *all = malloc(sizeof *all);
	if (!all)
		return;
	histogram_clear(all);
	for (int i = 0; i < bench_state_threads(st); i++)
		histogram_merge(all, &((lock_thread *)bench_state_local_of(st, i))->wait);
	if (all->n > 0) {
		bench_counter(st, "wait_ns_p50", (double)wait_bucket_ns(histogram_quantile(all, 0.50)), BENCH_TOTAL);
		bench_counter(st, "wait_ns_p99", (double)wait_bucket_ns(histogram_quantile(all, 0.99)), BENCH_TOTAL);
	}
	free(all);
}

static void locks_teardown(bench_state *st)
{
	lock_run *r = bench_state_shared(st);
	run_limit_stop(&r->limit);
	report_fairness(st, r);
	report_waits(st);
	for (int i = 0; i < bench_state_threads(st); i++)
		lock_ctx_destroy(&((lock_thread *)bench_state_local_of(st, i))->ctx);
	lock_run_destroy(r, bench_state_arg(st));
	lock_run_free(r);
}

/* ---- The loop ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The first thread to finish its operations records how many every thread had done by then:
 * the shares of a window in which all of them competed. */
static void close_window(bench_state *st, lock_run *r)
{
	int expected = 0;
	/* Relaxed: the teardown reads window_ops after the run's barrier, which orders it. */
	if (!atomic_compare_exchange_strong_explicit(&r->window_closed, &expected, 1, memory_order_relaxed,
						     memory_order_relaxed))
		return;
	for (int i = 0; i < bench_state_threads(st); i++) {
		lock_thread *t = bench_state_local_of(st, i);
		/* Relaxed: a snapshot of progress counters, no data depends on it. */
		r->window_ops[i] = atomic_load_explicit(&t->progress, memory_order_relaxed);
	}
}

/* A lock that hands itself to preempted threads (FIFO order under oversubscription) can take
 * minutes per run: give the run up, with the reason, after --run-limit seconds. */
static void give_up(bench_state *st)
{
	char msg[160];
	snprintf(msg, sizeof msg, "gave up after --run-limit=%g s: the lock hands over too slowly at this thread count",
		 bench_options_get()->run_limit_s);
	bench_skip_with_error(st, msg);
}

static void report_ours(bench_state *st, const lock_thread *t)
{
	bench_counter(st, "contended/op", (double)t->ctx.stats.contended, BENCH_AVG_ITERATIONS);
	bench_counter(st, "spins/op", (double)t->ctx.stats.spins, BENCH_AVG_ITERATIONS);
	bench_counter(st, "backoff_pauses/op", (double)t->ctx.backoff.stats.pause_iters, BENCH_AVG_ITERATIONS);
	bench_counter(st, "backoff_sleep_ns/op", (double)t->ctx.backoff.stats.sleep_ns, BENCH_AVG_ITERATIONS);
	bench_counter(st, "backoff_yields/op", (double)t->ctx.backoff.stats.yields, BENCH_AVG_ITERATIONS);
}

static inline __attribute__((always_inline)) void lock_loop(bench_state *st, lock_fn acquire, lock_fn release,
							   lock_fn acquire_read, lock_fn release_read)
{
	const lock_case *c = bench_state_arg(st);
	lock_run *r = bench_state_shared(st);
	lock_thread *t = bench_state_local(st);
	size_t k = (size_t)bench_state_range(st, 0);
	/* A read when the top 32 random bits fall below read_pct % of 2^32. */
	uint64_t read_below = case_is_rw(c) ? ((uint64_t)bench_state_range(st, 1) << 32) / 100 : 0;
	uint64_t n = (uint64_t)bench_state_max_iterations(st), done = 0;
	uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(bench_state_thread_index(st) + 1);
	float *priv = calloc(k ? k : 1, sizeof(float));
	if (!priv) {
		bench_skip_with_error(st, "out of memory");
		return;
	}
	lock_ctx_init(&t->ctx, &c->backoff, (uint64_t)bench_state_thread_index(st) + 1);
	lock_ctx_set_cluster(&t->ctx, t->cluster);
	lock_ctx_yield_when(&t->ctx, &r->limit.expired);

	BENCH_LOOP(st)
	{
		if (__builtin_expect(run_limit_expired(&r->limit), 0)) {
			give_up(st);
			break;
		}
		int sample = done % WAIT_SAMPLE_EVERY == 0;
		uint64_t t0 = sample ? now_ns() : 0;
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		if (read_below && (rng >> 32) < read_below) {
			acquire_read(r, t);
			if (sample)
				histogram_add(&t->wait, wait_bucket(now_ns() - t0));
			memcpy(priv, r->data, k * sizeof(float));
			release_read(r, t);
		} else {
			acquire(r, t);
			if (sample)
				histogram_add(&t->wait, wait_bucket(now_ns() - t0));
			for (size_t j = 0; j < k; j++)
				r->data[j] += priv[j];
			release(r, t);
		}
		/* Relaxed: a progress count read only by close_window's snapshot. */
		atomic_store_explicit(&t->progress, ++done, memory_order_relaxed);
		if (done == n)
			close_window(st, r);
	}
	free(priv);
	bench_set_items_processed(st, bench_state_iterations(st));
	if (impl_is_ours(c->impl))
		report_ours(st, t);
}

#define DEFINE_RUN(name, acq, rel, acq_r, rel_r) \
	static void run_##name(bench_state *st) { lock_loop(st, acq, rel, acq_r, rel_r); }

DEFINE_RUN(ours, ours_acquire, ours_release, ours_acquire_read, ours_release_read)
DEFINE_RUN(ours_tas, tas_acquire, word_release, tas_acquire, word_release)
DEFINE_RUN(ours_ttas, ttas_acquire, word_release, ttas_acquire, word_release)
DEFINE_RUN(ours_ticket, ticket_acquire, ticket_release, ticket_acquire, ticket_release)
DEFINE_RUN(pthread_mutex, mutex_acquire, mutex_release, mutex_acquire, mutex_release)
DEFINE_RUN(pthread_rwlock, prw_acquire, prw_release, prw_acquire_read, prw_release)
DEFINE_RUN(ck_fas, ck_fas_acquire, ck_fas_release, ck_fas_acquire, ck_fas_release)
DEFINE_RUN(ck_fas_eb, ck_fas_eb_acquire, ck_fas_release, ck_fas_eb_acquire, ck_fas_release)
DEFINE_RUN(ck_ticket, ck_ticket_acquire, ck_ticket_release, ck_ticket_acquire, ck_ticket_release)
DEFINE_RUN(ck_ticket_pb, ck_ticket_pb_acquire, ck_ticket_release, ck_ticket_pb_acquire, ck_ticket_release)
DEFINE_RUN(ck_rwlock, ck_rw_acquire, ck_rw_release, ck_rw_acquire_read, ck_rw_release_read)
DEFINE_RUN(ours_mcs, mcs_acq, mcs_rel, mcs_acq, mcs_rel)
DEFINE_RUN(ours_clh, clh_acq, clh_rel, clh_acq, clh_rel)
DEFINE_RUN(ours_cohort, cohort_acq, cohort_rel, cohort_acq, cohort_rel)
DEFINE_RUN(ck_mcs, ck_mcs_acquire, ck_mcs_release, ck_mcs_acquire, ck_mcs_release)
DEFINE_RUN(ck_clh, ck_clh_acquire, ck_clh_release, ck_clh_acquire, ck_clh_release)
DEFINE_RUN(ck_hclh, ck_hclh_acquire, ck_hclh_release, ck_hclh_acquire, ck_hclh_release)
DEFINE_RUN(ck_cohort, ck_cohort_acquire, ck_cohort_release, ck_cohort_acquire, ck_cohort_release)

static const bench_fn run_of[] = {
	[IMPL_OURS] = run_ours,
	[IMPL_OURS_TAS] = run_ours_tas,
	[IMPL_OURS_TTAS] = run_ours_ttas,
	[IMPL_OURS_TICKET] = run_ours_ticket,
	[IMPL_OURS_MCS] = run_ours_mcs,
	[IMPL_OURS_CLH] = run_ours_clh,
	[IMPL_OURS_COHORT] = run_ours_cohort,
	[IMPL_PTHREAD_MUTEX] = run_pthread_mutex,
	[IMPL_PTHREAD_RWLOCK] = run_pthread_rwlock,
	[IMPL_CK_FAS] = run_ck_fas,
	[IMPL_CK_FAS_EB] = run_ck_fas_eb,
	[IMPL_CK_TICKET] = run_ck_ticket,
	[IMPL_CK_TICKET_PB] = run_ck_ticket_pb,
	[IMPL_CK_RWLOCK] = run_ck_rwlock,
	[IMPL_CK_MCS] = run_ck_mcs,
	[IMPL_CK_CLH] = run_ck_clh,
	[IMPL_CK_HCLH] = run_ck_hclh,
	[IMPL_CK_COHORT] = run_ck_cohort,
};

/* ---- Registration ---- */

static const char *const default_backoffs[] = {"none", "exp"};
/* TTAS with exponential backoff on the schedule of ck_backoff_eb, in time rather than in
 * iterations: ck waits 512 .. 2^20 iterations of an empty loop (about 0.25 ns each), our exp
 * waits in pause instructions (about 15 ns each on the Xeon the study's numbers come from). */
static const char ttas_ck_schedule[] = "exp:base=8,cap=16384";
static const char *const full_backoffs[] = {"none", "const", "linear", "exp", "jitter", "yield", "sleep"};

static void register_case(const bench_options *o, const char *lock_name, const char *backoff_name,
			  const lock_case *c)
{
	char name[160];
	snprintf(name, sizeof name, "locks/%s/backoff:%s", lock_name, backoff_name);
	bench_family *b = bench_register(name, run_of[c->impl], c, sizeof *c);
	bench_setup(b, locks_setup, locks_teardown);
	bench_local_size(b, sizeof(lock_thread));
	if (case_is_rw(c)) {
		bench_arg_names(b, "cs", "read_pct");
		if (o->full_grid)
			bench_args_product(b, BENCH_LIST(0, 16, 256, 4096), BENCH_LIST(50, 90, 99));
		else
			bench_args_product(b, BENCH_LIST(1024), BENCH_LIST(90));
	} else {
		bench_arg_names(b, "cs");
		if (o->full_grid)
			bench_args_product(b, BENCH_LIST(0, 16, 256, 4096));
		else
			bench_args_product(b, BENCH_LIST(16, 1024));
	}
	bench_threads_default(b);
	bench_use_real_time(b);
}

static void register_ours_spec(const bench_options *o, lock_kind kind, const char *spec)
{
	static const lock_impl inline_impl[LOCK_KIND_COUNT] = {
		[LOCK_TAS] = IMPL_OURS_TAS, [LOCK_TTAS] = IMPL_OURS_TTAS, [LOCK_TICKET] = IMPL_OURS_TICKET,
		[LOCK_MCS] = IMPL_OURS_MCS, [LOCK_CLH] = IMPL_OURS_CLH,   [LOCK_COHORT] = IMPL_OURS_COHORT};
	lock_case c = {inline_impl[kind] ? inline_impl[kind] : IMPL_OURS, kind, backoff_none};
	char err[256];
	if (backoff_parse(spec, &c.backoff, err, sizeof err) != 0) {
		fprintf(stderr, "sgdsync-bench-locks: %s\n", err);
		exit(1);
	}
	register_case(o, lock_kind_name(kind), spec, &c);
}

static void register_ours(const bench_options *o, lock_kind kind)
{
	const char *const *specs = o->full_grid ? full_backoffs : default_backoffs;
	size_t nspecs = o->full_grid ? sizeof full_backoffs / sizeof *full_backoffs
				     : sizeof default_backoffs / sizeof *default_backoffs;
	/* The blocking kinds wait in the kernel and ignore the policy. */
	if (!lock_kind_uses_backoff(kind))
		nspecs = 1;
	for (size_t i = 0; i < nspecs; i++)
		register_ours_spec(o, kind, specs[i]);
	if (kind == LOCK_TTAS)
		register_ours_spec(o, kind, ttas_ck_schedule);
}

static void register_peer(const bench_options *o, const char *lock_name, const char *backoff_name, lock_impl impl)
{
	lock_case c = {impl, LOCK_MUTEX, backoff_none};
	register_case(o, lock_name, backoff_name, &c);
}

static void register_all(const bench_options *o)
{
	for (int k = 0; k < LOCK_KIND_COUNT; k++)
		register_ours(o, (lock_kind)k);
	register_peer(o, "pthread_mutex", "none", IMPL_PTHREAD_MUTEX);
	register_peer(o, "pthread_rwlock", "none", IMPL_PTHREAD_RWLOCK);
	register_peer(o, "ck_fas", "none", IMPL_CK_FAS);
	register_peer(o, "ck_fas", "ck_eb", IMPL_CK_FAS_EB);
	register_peer(o, "ck_ticket", "none", IMPL_CK_TICKET);
	register_peer(o, "ck_ticket", "ck_pb", IMPL_CK_TICKET_PB);
	register_peer(o, "ck_rwlock", "none", IMPL_CK_RWLOCK);
	register_peer(o, "ck_mcs", "none", IMPL_CK_MCS);
	register_peer(o, "ck_clh", "none", IMPL_CK_CLH);
	register_peer(o, "ck_hclh", "none", IMPL_CK_HCLH);
	register_peer(o, "ck_cohort", "none", IMPL_CK_COHORT);
}

int main(int argc, char **argv) { return bench_main(argc, argv, register_all); }
