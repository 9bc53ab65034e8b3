/* Every lock kind, with no backoff, exponential backoff and yield: mutual exclusion with 2, 8
 * and 64 threads; the cohort lock also with threads spread over 2 and 4 clusters. The critical section reads a plain counter, pauses, and writes it back plus one,
 * so any overlap loses an increment (and is a data race that TSan reports); a second, atomic
 * count of threads inside catches the overlap directly. The counters of every lock_ctx must add
 * up to what the threads did. And a waiter whose yield flag has risen (lock_ctx_yield_when)
 * waits by yielding whatever its policy. */

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "primitives/lock.h"
#include "threads.h"

typedef struct {
	lock_t lock;
	int iters;
	pthread_barrier_t start;
	uint64_t counter; /* plain: written only under the lock */
	_Atomic int inside;
} exclusion_run;

typedef struct CACHELINE_ALIGNED {
	exclusion_run *run;
	lock_ctx ctx;
} exclusion_worker;

/* For exclusive kinds the read calls take the lock exclusively too: alternate them. */
static void critical_enter(exclusion_run *run, lock_ctx *ctx, int i)
{
	if ((i & 1) && !lock_kind_is_rw(run->lock.kind))
		lock_acquire_read(&run->lock, ctx);
	else
		lock_acquire(&run->lock, ctx);
}

static void critical_leave(exclusion_run *run, lock_ctx *ctx, int i)
{
	if ((i & 1) && !lock_kind_is_rw(run->lock.kind))
		lock_release_read(&run->lock, ctx);
	else
		lock_release(&run->lock, ctx);
}

static void *exclusion_thread(void *arg)
{
	exclusion_worker *w = arg;
	exclusion_run *run = w->run;
	volatile uint64_t *counter = &run->counter;

	pthread_barrier_wait(&run->start);
	for (int i = 0; i < run->iters; i++) {
		critical_enter(run, &w->ctx, i);
		CHECK(atomic_fetch_add(&run->inside, 1) == 0, "%s: two threads inside",
		      lock_kind_name(run->lock.kind));
		uint64_t v = *counter;
		for (int k = 0; k < 8; k++)
			cpu_relax();
		*counter = v + 1;
		atomic_fetch_sub(&run->inside, 1);
		critical_leave(run, &w->ctx, i);
	}
	return NULL;
}

static int blocks(lock_kind kind)
{
	return kind == LOCK_MUTEX || kind == LOCK_PTHREAD_RW;
}

static void check_exclusion(lock_kind kind, const char *spec, int nthreads, int iters,
			    uint32_t clusters)
{
	static exclusion_worker workers[64];
	exclusion_run run = { .iters = iters };
	backoff_policy policy;
	lock_stats total = { 0 };
	backoff_stats backoff = { 0 };
	char err[256];
	uint64_t want = (uint64_t)nthreads * (uint64_t)iters;

	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(backoff_parse(spec, &policy, err, sizeof err) == 0, "%s", err);
	CHECK(lock_init_clusters(&run.lock, kind, clusters) == 0, "lock_init(%s)", lock_kind_name(kind));
	pthread_barrier_init(&run.start, NULL, (unsigned)nthreads);
	for (int t = 0; t < nthreads; t++) {
		workers[t].run = &run;
		lock_ctx_init(&workers[t].ctx, &policy, (uint64_t)t + 1);
		lock_ctx_set_cluster(&workers[t].ctx, (uint32_t)t % clusters);
	}
	run_threads(nthreads, exclusion_thread, workers, sizeof workers[0]);
	for (int t = 0; t < nthreads; t++) {
		lock_stats_add(&total, &workers[t].ctx.stats);
		backoff_stats_add(&backoff, &workers[t].ctx.backoff.stats);
		lock_ctx_destroy(&workers[t].ctx);
	}
	pthread_barrier_destroy(&run.start);
	lock_destroy(&run.lock);

	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%-10s %-22s %2d threads %u clusters %6.0f ms: contended %5llu spins %8llu "
	       "backoffs %8llu local passes %5llu\n",
	       lock_kind_name(kind), spec, nthreads, clusters,
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6,
	       (unsigned long long)total.contended, (unsigned long long)total.spins,
	       (unsigned long long)backoff.backoffs, (unsigned long long)total.local_passes);
	CHECK(run.counter == want, "%s %s %d threads: counter %llu, want %llu", lock_kind_name(kind),
	      spec, nthreads, (unsigned long long)run.counter, (unsigned long long)want);
	CHECK(total.acquisitions == want, "%s: %llu acquisitions counted, want %llu",
	      lock_kind_name(kind), (unsigned long long)total.acquisitions, (unsigned long long)want);
	CHECK(total.contended <= total.acquisitions && total.spins >= total.contended,
	      "%s: contended %llu, spins %llu", lock_kind_name(kind),
	      (unsigned long long)total.contended, (unsigned long long)total.spins);
	if (blocks(kind) || policy.kind == BACKOFF_NONE)
		CHECK(backoff.backoffs == 0 && backoff.pause_iters == 0, "%s %s backed off",
		      lock_kind_name(kind), spec);
	else
		CHECK(backoff.backoffs == total.spins, "%s %s: %llu backoffs for %llu spins",
		      lock_kind_name(kind), spec, (unsigned long long)backoff.backoffs,
		      (unsigned long long)total.spins);
	if (blocks(kind))
		CHECK(total.spins == total.contended, "%s: a blocking lock counts one spin per contention",
		      lock_kind_name(kind));
	CHECK(kind == LOCK_COHORT ? total.local_passes < total.acquisitions : total.local_passes == 0,
	      "%s: %llu local passes in %llu acquisitions", lock_kind_name(kind),
	      (unsigned long long)total.local_passes, (unsigned long long)total.acquisitions);
}

static void test_names(void)
{
	char err[256];
	lock_kind k;
	lock_t l;

	for (int i = 0; i < LOCK_KIND_COUNT; i++) {
		CHECK(lock_kind_parse(lock_kind_name((lock_kind)i), &k, err, sizeof err) == 0 && k == (lock_kind)i,
		      "name of kind %d does not parse back", i);
		CHECK(lock_kind_is_rw((lock_kind)i) == (i == LOCK_PTHREAD_RW || i == LOCK_RW), "is_rw %d", i);
	}
	CHECK(lock_kind_parse("spin", &k, err, sizeof err) == -1, "\"spin\" accepted");
	CHECK(strstr(err, "\"spin\"") &&
		      strstr(err, "mutex, trymutex, tas, ttas, ticket, pthread-rw, rw, mcs, clh, cohort)"),
	      "error does not list the valid names: %s", err);
	CHECK(lock_init(&l, LOCK_KIND_COUNT) == EINVAL, "lock_init accepts a bad kind");
	CHECK(lock_init_clusters(&l, LOCK_COHORT, 0) == EINVAL, "a cohort lock of 0 clusters");
	CHECK(sizeof(lock_t) % CACHELINE_PAD == 0 && _Alignof(lock_t) == CACHELINE_PAD, "lock_t padding");
}

/* The FIFO kinds (ticket, MCS, CLH, and the cohort lock, whose local locks are tickets) hand
 * over in queue order, so a contended handover waits until that one next thread runs: with
 * more threads than cores, or other load, often a scheduler round. When the waiters spin that
 * is a convoy that turns this test into minutes on 2 cores, so spinning policies are tested on
 * them up to one thread per core and yield covers oversubscription; and they run a quarter of
 * the iterations. */
static int convoys(lock_kind kind, const char *spec, int nthreads)
{
	return lock_kind_is_fifo(kind) && strcmp(spec, "yield") != 0 && nthreads > sysconf(_SC_NPROCESSORS_ONLN);
}

static int iterations(lock_kind kind, int iters)
{
	return lock_kind_is_fifo(kind) ? iters / 4 : iters;
}

typedef struct {
	lock_t lock;
	lock_ctx ctx;
	_Atomic int started;
} yield_run;

static void *yield_waiter(void *arg)
{
	yield_run *y = arg;

	atomic_store(&y->started, 1);
	lock_acquire(&y->lock, &y->ctx);
	lock_release(&y->lock, &y->ctx);
	return NULL;
}

/* One thread waits 50 ms for a lock the main thread holds, under a spinning policy: with its
 * yield flag risen every failed attempt is a yield and nothing spins; with the flag down it
 * backs off as its policy says and never yields. */
static void check_yield_flag(lock_kind kind, int risen)
{
	static const _Atomic int flags[2] = { 0, 1 };
	backoff_policy exp;
	char err[128];
	lock_ctx holder;
	yield_run y = { .started = 0 };
	pthread_t t;

	CHECK(backoff_parse("exp:base=16,cap=4096", &exp, err, sizeof err) == 0, "%s", err);
	CHECK(lock_init(&y.lock, kind) == 0, "lock_init %s", lock_kind_name(kind));
	lock_ctx_init(&holder, &exp, 1);
	lock_ctx_init(&y.ctx, &exp, 2);
	lock_ctx_yield_when(&y.ctx, &flags[risen]);
	lock_acquire(&y.lock, &holder);
	CHECK(pthread_create(&t, NULL, yield_waiter, &y) == 0, "pthread_create");
	while (!atomic_load(&y.started))
		sched_yield();
	nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	lock_release(&y.lock, &holder);
	pthread_join(t, NULL);
	const backoff_stats *b = &y.ctx.backoff.stats;
	CHECK(y.ctx.stats.spins > 0, "%s: the waiter never waited", lock_kind_name(kind));
	if (risen)
		CHECK(b->yields == y.ctx.stats.spins && b->pause_iters == 0,
		      "%s, flag risen: %llu yields and %llu pauses for %llu failed attempts", lock_kind_name(kind),
		      (unsigned long long)b->yields, (unsigned long long)b->pause_iters,
		      (unsigned long long)y.ctx.stats.spins);
	else
		CHECK(b->yields == 0 && b->pause_iters > 0, "%s, flag down: %llu yields, %llu pauses",
		      lock_kind_name(kind), (unsigned long long)b->yields, (unsigned long long)b->pause_iters);
	lock_ctx_destroy(&holder);
	lock_ctx_destroy(&y.ctx);
	lock_destroy(&y.lock);
}

static const char *const specs[] = { "none", "exp:base=16,cap=4096", "yield" };
static const struct {
	int threads, iters;
} sizes[] = { { 2, 10000 }, { 8, 2000 }, { 64, 200 } };

static void check_sizes(lock_kind kind, uint32_t clusters)
{
	for (size_t p = 0; p < sizeof specs / sizeof specs[0]; p++)
		for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
			if (!convoys(kind, specs[p], sizes[s].threads))
				check_exclusion(kind, specs[p], sizes[s].threads,
						iterations(kind, sizes[s].iters), clusters);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_names();
	for (int k = 0; k < LOCK_KIND_COUNT; k++)
		check_sizes((lock_kind)k, 1);
	check_sizes(LOCK_COHORT, 2);
	check_sizes(LOCK_COHORT, 4);
	for (int k = 0; k < LOCK_KIND_COUNT; k++)
		if (lock_kind_uses_backoff((lock_kind)k))
			for (int risen = 0; risen < 2; risen++)
				check_yield_flag((lock_kind)k, risen);
	CHECK_DONE();
}
