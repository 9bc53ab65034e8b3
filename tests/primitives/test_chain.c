/* The Leashed-SGD chain. Every update adds 1 to every element of a vector that starts at 0, so
 * a published vector's elements all equal its timestamp: a reader that ever sees a torn, reused
 * or freed vector fails that check (and ASan reports the freed case in malloc mode). */

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "primitives/chain.h"
#include "threads.h"

#define N 256

static void plus_one(float *dst, const float *src, size_t n, uint64_t base_t, void *arg)
{
	(void)base_t;
	(void)arg;
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] + 1.0f;
}

static int vector_is(const float *v, size_t n, float value)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] != value)
			return 0;
	return 1;
}

typedef struct {
	chain *c;
	int updates;
	int reads_per_update;
	uint64_t published, dropped, bad_reads;
	chain_stats stats;
} worker_arg;

static void *worker(void *p)
{
	worker_arg *a = p;
	chain_worker w;
	chain_worker_init(&w, a->c, (uint64_t)(uintptr_t)p);
	for (int u = 0; u < a->updates; u++) {
		for (int r = 0; r < a->reads_per_update; r++) {
			uint64_t t;
			const float *v = chain_acquire(&w, &t);
			a->bad_reads += !vector_is(v, N, (float)t);
			chain_release(&w);
		}
		chain_publish_result res;
		chain_publish(&w, plus_one, NULL, &res);
		a->published += (uint64_t)res.published;
		a->dropped += (uint64_t)!res.published;
	}
	chain_worker_finish(&w);
	a->stats = *chain_worker_stats(&w);
	return NULL;
}

static void run(int threads, int updates, chain_alloc alloc, uint32_t persistence,
		const backoff_policy *backoff)
{
	static float zeros[N];
	chain *c = chain_create(N, zeros, alloc, persistence, backoff, NULL);
	worker_arg *args = calloc((size_t)threads, sizeof(*args));
	for (int i = 0; i < threads; i++)
		args[i] = (worker_arg){.c = c, .updates = updates, .reads_per_update = 2};
	run_threads(threads, worker, args, sizeof(*args));

	uint64_t published = 0, dropped = 0, bad = 0;
	chain_stats total = {0};
	for (int i = 0; i < threads; i++) {
		published += args[i].published;
		dropped += args[i].dropped;
		bad += args[i].bad_reads;
		chain_stats_add(&total, &args[i].stats);
	}
	float final[N];
	uint64_t t = chain_snapshot(c, final);
	CHECK(bad == 0, "%llu reads saw a vector whose elements differ from its timestamp",
	      (unsigned long long)bad);
	CHECK(published + dropped == (uint64_t)threads * (uint64_t)updates, "updates unaccounted for");
	CHECK(t == published, "timestamp %llu after %llu publishes", (unsigned long long)t,
	      (unsigned long long)published);
	CHECK(vector_is(final, N, (float)published), "final vector %g, expected %llu everywhere",
	      final[0], (unsigned long long)published);
	CHECK(total.publishes == published && total.dropped == dropped, "stats disagree");
	CHECK(total.attempts_hist.n == published, "one attempts sample per publish");
	CHECK(total.attempts >= published + dropped, "at least one CAS per update");
	if (persistence == 0)
		CHECK(dropped == 0, "unbounded persistence dropped %llu", (unsigned long long)dropped);
	else
		CHECK(total.attempts_hist.max <= persistence, "a publish took %llu > %u attempts",
		      (unsigned long long)total.attempts_hist.max, persistence);
	CHECK(chain_live_peak(c) <= 2u * (unsigned)threads + 1u, "%zu live vectors at peak, bound %d",
	      chain_live_peak(c), 2 * threads + 1);
	CHECK(chain_live(c) == 1, "%zu live vectors after the workers left, expected 1", chain_live(c));
	CHECK(chain_headers(c) <= 7u * (unsigned)threads + 1u, "%zu vector headers made, bound %d",
	      chain_headers(c), 7 * threads + 1);
	/* Reclaimed exactly once: every vector but latest back in the pool, none of them twice. */
	CHECK(chain_pooled(c) == chain_headers(c) - 1, "%zu pooled of %zu headers (SIZE_MAX: twice)",
	      chain_pooled(c), chain_headers(c));
	free(args);
	chain_destroy(c);
}

/* A publish whose CAS is made to lose: inside its update, another worker publishes first. */
typedef struct {
	chain_worker *rival;
	int interfere;  /* how many of our attempts the rival pre-empts */
} rival_arg;

static void plus_one_after_rival(float *dst, const float *src, size_t n, uint64_t base_t, void *arg)
{
	rival_arg *r = arg;
	if (r->interfere > 0) {
		r->interfere--;
		chain_publish_result res;
		chain_publish(r->rival, plus_one, NULL, &res);
	}
	plus_one(dst, src, n, base_t, NULL);
}

static void lost_cas(uint32_t persistence, int interfere, int expect_published, uint32_t expect_attempts)
{
	static float zeros[N];
	chain *c = chain_create(N, zeros, CHAIN_POOL, persistence, NULL, NULL);
	chain_worker a, b;
	chain_worker_init(&a, c, 1);
	chain_worker_init(&b, c, 2);
	rival_arg r = {&b, interfere};
	chain_publish_result res;
	chain_publish(&a, plus_one_after_rival, &r, &res);
	CHECK(res.published == expect_published, "persistence %u, %d lost: published %d", persistence,
	      interfere, res.published);
	CHECK(res.attempts == expect_attempts, "attempts %u, expected %u", res.attempts, expect_attempts);
	CHECK(a.stats.dropped == (uint64_t)!expect_published, "dropped not counted");
	CHECK(chain_timestamp(c) == (uint64_t)(interfere + expect_published), "timestamp wrong");
	if (expect_published)
		CHECK(res.base_t == (uint64_t)interfere, "applied on t=%llu, expected %d",
		      (unsigned long long)res.base_t, interfere);
	chain_worker_finish(&a);
	chain_worker_finish(&b);
	CHECK(chain_live(c) == 1, "%zu live", chain_live(c));
	CHECK(chain_pooled(c) == chain_headers(c) - 1, "%zu pooled of %zu", chain_pooled(c),
	      chain_headers(c));
	chain_destroy(c);
}

int main(void)
{
	backoff_policy exp;
	char err[200];
	CHECK(backoff_parse("exp:base=4,cap=256", &exp, err, sizeof(err)) == 0, "%s", err);

	lost_cas(1, 1, 0, 1);
	lost_cas(3, 1, 1, 2);
	lost_cas(3, 3, 0, 3);
	lost_cas(0, 5, 1, 6);

	static const int threads[] = {2, 8, 64};
	for (int i = 0; i < 3; i++) {
		int updates = 40000 / threads[i];
		run(threads[i], updates, CHAIN_POOL, 0, NULL);
		run(threads[i], updates, CHAIN_MALLOC, 0, NULL);
		run(threads[i], updates, CHAIN_POOL, 0, &exp);
		run(threads[i], updates, CHAIN_POOL, 2, NULL);
		run(threads[i], updates, CHAIN_MALLOC, 1, &exp);
	}
	CHECK_DONE();
}
