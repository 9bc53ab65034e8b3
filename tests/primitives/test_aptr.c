/* Atomic pointer slots and counters: exchange and CAS semantics on one thread; under
 * contention, every pointer exchanged in comes out exactly once, CAS increments lose nothing,
 * and fetch-and-add counts exactly. */

#include <pthread.h>

#include "check.h"
#include "primitives/aptr.h"
#include "threads.h"

#define THREADS 8
#define PER_THREAD 50000
#define TOTAL (THREADS * PER_THREAD)

static void test_single_thread(void)
{
	int a, b, c;
	aptr s;
	void *expected;
	acounter n;

	aptr_init(&s, &a);
	CHECK(aptr_load_acquire(&s) == &a && aptr_load_relaxed(&s) == &a, "init/load");
	aptr_store_release(&s, &b);
	CHECK(aptr_load_acquire(&s) == &b, "store_release");
	CHECK(aptr_exchange(&s, &c) == &b && aptr_load_relaxed(&s) == &c, "exchange");

	expected = &a;
	CHECK(!aptr_cas(&s, &expected, &b), "cas succeeded on a wrong expected value");
	CHECK(expected == &c && aptr_load_relaxed(&s) == &c, "failed cas must report the value found");
	CHECK(aptr_cas(&s, &expected, &a) && aptr_load_relaxed(&s) == &a, "cas with the right value");
	CHECK(expected == &c, "successful cas changed expected");

	expected = &b;
	CHECK(!aptr_cas_weak(&s, &expected, &c) && expected == &a, "weak cas on a wrong value");
	while (!aptr_cas_weak(&s, &expected, &b))
		CHECK(expected == &a, "weak cas failed with a different value");
	CHECK(aptr_load_relaxed(&s) == &b, "weak cas");

	aptr_store_release(&s, NULL);
	expected = NULL;
	CHECK(aptr_cas(&s, &expected, &a), "cas from NULL");

	acounter_init(&n, 5);
	CHECK(acounter_add(&n, 3) == 5 && acounter_load(&n) == 8, "acounter_add returns the old value");

	CHECK(sizeof(aptr_padded) == CACHELINE_PAD && _Alignof(aptr_padded) == CACHELINE_PAD,
	      "aptr_padded is %zu bytes", sizeof(aptr_padded));
	CHECK(sizeof(acounter_padded) == CACHELINE_PAD, "acounter_padded is %zu bytes",
	      sizeof(acounter_padded));
}

/* Exchange: each thread hands in its own tokens and keeps whatever comes out. */
static pthread_barrier_t start;

static struct {
	aptr slot;
	char tokens[THREADS][PER_THREAD];
	char initial;
	void *out[THREADS][PER_THREAD];
} ex;

static void *exchange_thread(void *arg)
{
	int t = *(int *)arg;

	pthread_barrier_wait(&start);
	for (int i = 0; i < PER_THREAD; i++)
		ex.out[t][i] = aptr_exchange(&ex.slot, &ex.tokens[t][i]);
	return NULL;
}

/* Tokens are numbered 0 .. TOTAL - 1, and the slot's initial pointer is number TOTAL. */
static void count_token(int *seen, char *p)
{
	uintptr_t i = p == &ex.initial ? TOTAL : (uintptr_t)p - (uintptr_t)&ex.tokens[0][0];

	CHECK(i <= TOTAL, "foreign pointer %p", (void *)p);
	seen[i]++;
}

/* Every token, and the initial pointer, is among the pointers that came out or the one left in
 * the slot exactly once. */
static void check_each_once(void)
{
	static int seen[TOTAL + 1];

	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++)
			count_token(seen, ex.out[t][i]);
	count_token(seen, aptr_load_relaxed(&ex.slot));
	for (int i = 0; i <= TOTAL; i++)
		CHECK(seen[i] == 1, "token %d came out %d times", i, seen[i]);
}

/* Runs body(&ids[t]) on THREADS threads that start together. */
static void run_together(void *(*body)(void *))
{
	static int ids[THREADS];

	for (int t = 0; t < THREADS; t++)
		ids[t] = t;
	pthread_barrier_init(&start, NULL, THREADS);
	run_threads(THREADS, body, ids, sizeof ids[0]);
	pthread_barrier_destroy(&start);
}

static void test_exchange(void)
{
	aptr_init(&ex.slot, &ex.initial);
	run_together(exchange_thread);
	check_each_once();
}

/* CAS and FAA: the slot points into an array and every successful CAS moves it one further;
 * a padded per-thread slot records each thread's successes; a shared counter counts adds. */
static struct {
	aptr slot;
	char steps[TOTAL + 1];
	aptr_padded mine[THREADS];
	acounter adds;
	acounter_padded cas_failures;
} inc;

static void *increment_thread(void *arg)
{
	int t = *(int *)arg;
	aptr *mine = &inc.mine[t].slot;

	pthread_barrier_wait(&start);
	for (int i = 0; i < PER_THREAD; i++) {
		char *p = aptr_load_relaxed(&inc.slot);

		while (!aptr_cas_weak(&inc.slot, (void **)&p, p + 1))
			acounter_add(&inc.cas_failures.counter, 1);
		aptr_store_release(mine, (char *)aptr_load_relaxed(mine) + 1);
		acounter_add(&inc.adds, 1);
	}
	return NULL;
}

static void test_increments(void)
{
	aptr_init(&inc.slot, inc.steps);
	acounter_init(&inc.adds, 0);
	acounter_init(&inc.cas_failures.counter, 0);
	for (int t = 0; t < THREADS; t++)
		aptr_init(&inc.mine[t].slot, inc.steps);
	run_together(increment_thread);
	printf("%llu lost CAS for %d successful\n",
	       (unsigned long long)acounter_load(&inc.cas_failures.counter), TOTAL);
	CHECK(aptr_load_acquire(&inc.slot) == inc.steps + TOTAL, "CAS increments lost");
	CHECK(acounter_load(&inc.adds) == TOTAL, "fetch-and-add lost counts");
	for (int t = 0; t < THREADS; t++)
		CHECK(aptr_load_acquire(&inc.mine[t].slot) == inc.steps + PER_THREAD, "thread %d slot", t);
}

int main(void)
{
	test_single_thread();
	test_exchange();
	test_increments();
	CHECK_DONE();
}
