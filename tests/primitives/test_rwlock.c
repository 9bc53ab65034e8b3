/* The read-write kinds (pthread-rw and rw), with no backoff and with exponential backoff:
 * readers are inside together, a writer is alone, and a writer gets in while readers keep
 * arriving. No assertion depends on timing: the deadlines below only turn a broken lock into
 * a clear failure instead of a CTest timeout. */

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"
#include "primitives/lock.h"
#include "threads.h"

#define READERS 4
#define FAILURE_DEADLINE_S 30

typedef struct {
	lock_t lock;
	const backoff_policy *policy;
	pthread_barrier_t start;
	_Atomic int entered;         /* readers that entered, never decremented */
	_Atomic int readers_inside;
	_Atomic int writers_inside;
	uint64_t written, copy;      /* plain: written only under the write lock */
	int iters;
	_Atomic uint64_t reads;      /* read sections completed */
	_Atomic int writer_in;       /* the writer got the lock */
	uint64_t reads_limit;
	uint64_t reads_when_writer_in;
} rw_run;

typedef struct rw_worker rw_worker;
typedef void rw_body(rw_worker *w);

struct CACHELINE_ALIGNED rw_worker {
	rw_run *run;
	rw_body *body;
	lock_ctx ctx;
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void run_init(rw_run *run, lock_kind kind, const backoff_policy *policy)
{
	*run = (rw_run){ .policy = policy };
	CHECK(lock_init(&run->lock, kind) == 0, "lock_init(%s)", lock_kind_name(kind));
}

static void *rw_thread(void *arg)
{
	rw_worker *w = arg;

	pthread_barrier_wait(&w->run->start);
	w->body(w);
	return NULL;
}

/* Runs one thread per entry of `bodies`, started together; then frees the run. */
static void run_bodies(rw_run *run, rw_body *const *bodies, int nthreads)
{
	static rw_worker workers[16];

	pthread_barrier_init(&run->start, NULL, (unsigned)nthreads);
	for (int t = 0; t < nthreads; t++) {
		workers[t].run = run;
		workers[t].body = bodies[t];
		lock_ctx_init(&workers[t].ctx, run->policy, (uint64_t)t + 1);
	}
	run_threads(nthreads, rw_thread, workers, sizeof workers[0]);
	pthread_barrier_destroy(&run->start);
	lock_destroy(&run->lock);
}

/* Waits inside the read section until every reader has entered: only possible if they share. */
static void sharing_reader(rw_worker *w)
{
	rw_run *run = w->run;
	double deadline;

	lock_acquire_read(&run->lock, &w->ctx);
	atomic_fetch_add(&run->entered, 1);
	deadline = now_s() + FAILURE_DEADLINE_S;
	while (atomic_load(&run->entered) < READERS && now_s() < deadline)
		sched_yield();
	CHECK(atomic_load(&run->entered) == READERS, "%s: readers never inside together",
	      lock_kind_name(run->lock.kind));
	lock_release_read(&run->lock, &w->ctx);
}

static void check_readers_share(lock_kind kind, const backoff_policy *policy)
{
	rw_body *const bodies[READERS] = { sharing_reader, sharing_reader, sharing_reader,
					   sharing_reader };
	rw_run run;

	run_init(&run, kind, policy);
	run_bodies(&run, bodies, READERS);
}

/* Writers: alone inside, checked both ways (a seq_cst increment, the section, then a read of
 * the other count: of two overlapping threads at least one sees the other); each write updates
 * two plain words with a pause between, and readers must never see them differ. */
static void exclusive_writer(rw_worker *w)
{
	rw_run *run = w->run;
	volatile uint64_t *written = &run->written, *copy = &run->copy;

	for (int i = 0; i < run->iters; i++) {
		lock_acquire(&run->lock, &w->ctx);
		CHECK(atomic_fetch_add(&run->writers_inside, 1) == 0, "two writers inside");
		uint64_t v = *written + 1;
		*written = v;
		for (int k = 0; k < 8; k++)
			cpu_relax();
		*copy = v;
		CHECK(atomic_load(&run->readers_inside) == 0, "a reader inside with a writer");
		atomic_fetch_sub(&run->writers_inside, 1);
		lock_release(&run->lock, &w->ctx);
	}
}

static void checking_reader(rw_worker *w)
{
	rw_run *run = w->run;
	volatile uint64_t *written = &run->written, *copy = &run->copy;

	for (int i = 0; i < run->iters; i++) {
		lock_acquire_read(&run->lock, &w->ctx);
		atomic_fetch_add(&run->readers_inside, 1);
		uint64_t v = *written;
		for (int k = 0; k < 8; k++)
			cpu_relax();
		CHECK(*copy == v, "torn read: %llu then %llu", (unsigned long long)v,
		      (unsigned long long)*copy);
		CHECK(atomic_load(&run->writers_inside) == 0, "a writer inside with a reader");
		atomic_fetch_sub(&run->readers_inside, 1);
		lock_release_read(&run->lock, &w->ctx);
	}
}

static void check_writers_alone(lock_kind kind, const backoff_policy *policy)
{
	rw_body *const bodies[] = { exclusive_writer, checking_reader, exclusive_writer,
				    checking_reader,  checking_reader, checking_reader };
	const int nthreads = sizeof bodies / sizeof bodies[0];
	rw_run run;

	run_init(&run, kind, policy);
	run.iters = 10000;
	run_bodies(&run, bodies, nthreads);
	CHECK(run.written == 2u * 10000u, "%s: %llu writes, want 20000", lock_kind_name(kind),
	      (unsigned long long)run.written);
}

/* Readers re-enter without a break until the writer got in, or until they completed
 * reads_limit sections: far more than needed once the writer runs, so reaching it means the
 * writer was starved. */
static void streaming_reader(rw_worker *w)
{
	rw_run *run = w->run;

	while (!atomic_load(&run->writer_in) && atomic_load(&run->reads) < run->reads_limit) {
		lock_acquire_read(&run->lock, &w->ctx);
		for (int k = 0; k < 32; k++)
			cpu_relax();
		atomic_fetch_add(&run->reads, 1);
		lock_release_read(&run->lock, &w->ctx);
	}
}

/* Waits until the readers stream, then takes the write lock once. */
static void arriving_writer(rw_worker *w)
{
	rw_run *run = w->run;

	while (atomic_load(&run->reads) < 1000)
		sched_yield();
	lock_acquire(&run->lock, &w->ctx);
	run->reads_when_writer_in = atomic_load(&run->reads);
	atomic_store(&run->writer_in, 1);
	lock_release(&run->lock, &w->ctx);
}

static void check_writer_not_starved(lock_kind kind, const backoff_policy *policy)
{
	rw_body *const bodies[READERS + 1] = { streaming_reader, streaming_reader, streaming_reader,
					       streaming_reader, arriving_writer };
	rw_run run;

	run_init(&run, kind, policy);
	run.reads_limit = 2000000;
	run_bodies(&run, bodies, READERS + 1);
	printf("%-10s writer in after %llu of at most %llu reads\n", lock_kind_name(kind),
	       (unsigned long long)run.reads_when_writer_in, (unsigned long long)run.reads_limit);
	CHECK(run.reads_when_writer_in < run.reads_limit, "%s: writer starved by readers",
	      lock_kind_name(kind));
}

int main(void)
{
	static const char *const specs[] = { "none", "exp:base=16,cap=4096" };
	static const lock_kind kinds[] = { LOCK_PTHREAD_RW, LOCK_RW };

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t p = 0; p < sizeof specs / sizeof specs[0]; p++) {
		backoff_policy policy;
		char err[256];

		CHECK(backoff_parse(specs[p], &policy, err, sizeof err) == 0, "%s", err);
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
			check_readers_share(kinds[k], &policy);
			check_writers_alone(kinds[k], &policy);
			check_writer_not_starved(kinds[k], &policy);
		}
	}
	CHECK_DONE();
}
