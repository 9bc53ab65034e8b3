/* The shared-model interface over all five methods. Every worker applies the gradient -1 with
 * step 1, so θ grows by exactly 1 per applied update where the method promises no lost update
 * (mutex, rwlock, leashed), by 1 per round for sync, and by at most that for hogwild. */

#include <string.h>

#include "check.h"
#include "primitives/model.h"
#include "threads.h"

#define N 64

static int all_equal(const float *x, float v)
{
	for (int i = 0; i < N; i++)
		if (x[i] != v)
			return 0;
	return 1;
}

typedef struct {
	model *m;
	int id;
	int updates;
	uint64_t max_tau;
	model_stats stats;
} worker_arg;

static void *worker(void *p)
{
	worker_arg *a = p;
	float minus_one[N];
	for (int i = 0; i < N; i++)
		minus_one[i] = -1.0f;
	model_worker *w = model_join(a->m, a->id, (uint64_t)a->id + 1);
	for (int u = 0; u < a->updates; u++) {
		uint64_t version;
		const float *theta = model_read(w, &version);
		CHECK(theta[0] >= 0.0f, "read a negative parameter");
		/* Alone at step 1, every read is θ after exactly u updates (hogwild's kept copy too). */
		const model_config *c = model_get_config(a->m);
		CHECK(c->workers > 1 || c->step_scale || all_equal(theta, (float)u),
		      "%s alone: read %g before update %d", model_method_name(c->method), theta[0], u);
		model_update r;
		model_apply(w, minus_one, 1.0f, &r);
		if (r.applied && r.tau > a->max_tau)
			a->max_tau = r.tau;
	}
	a->stats = *model_worker_stats(w);
	model_leave(w);
	return NULL;
}

/* Runs `threads` workers; worker i applies updates + i * extra_per_id updates. */
static model_stats run(model_config cfg, int threads, int updates, int extra_per_id, float *theta)
{
	static float zeros[N];
	char err[256];
	cfg.workers = threads;
	model *m = model_create(&cfg, N, zeros, err, sizeof(err));
	CHECK(m != NULL, "%s", err);
	worker_arg *args = calloc((size_t)threads, sizeof(*args));
	for (int i = 0; i < threads; i++)
		args[i] = (worker_arg){.m = m, .id = i, .updates = updates + i * extra_per_id};
	run_threads(threads, worker, args, sizeof(*args));

	model_stats total;
	memset(&total, 0, sizeof(total));
	for (int i = 0; i < threads; i++)
		model_stats_add(&total, &args[i].stats);
	model_snapshot(m, theta);
	/* sync: one update per round, however many workers contributed to it. */
	uint64_t expect_updates = cfg.method == MODEL_SYNC
		? (uint64_t)(updates + (threads - 1) * extra_per_id) : total.applied;
	CHECK(model_updates(m) == expect_updates, "%s: model counts %llu updates, expected %llu",
	      model_method_name(cfg.method), (unsigned long long)model_updates(m),
	      (unsigned long long)expect_updates);
	if (cfg.method == MODEL_LEASHED)
		CHECK(model_live_vectors_peak(m) <= 2u * (unsigned)threads + 1u, "%zu live vectors",
		      model_live_vectors_peak(m));
	CHECK(total.staleness.n == total.applied, "one staleness sample per applied update");
	if (threads == 1)
		CHECK(total.staleness.max == 0, "%s: staleness %llu with one thread",
		      model_method_name(cfg.method), (unsigned long long)total.staleness.max);
	free(args);
	model_destroy(m);
	return total;
}

static void exact_methods(const backoff_policy *backoff)
{
	static const model_method exact[] = {MODEL_MUTEX, MODEL_RWLOCK, MODEL_LEASHED};
	static const int threads[] = {1, 2, 8, 64};
	float theta[N];
	for (int k = 0; k < 3; k++)
		for (int t = 0; t < 4; t++) {
			model_config cfg = model_config_default(exact[k], threads[t]);
			cfg.backoff = *backoff;
			int updates = 20000 / threads[t];
			model_stats s = run(cfg, threads[t], updates, 0, theta);
			uint64_t expect = (uint64_t)threads[t] * (uint64_t)updates;
			CHECK(s.applied == expect && s.dropped == 0, "%s lost updates",
			      model_method_name(exact[k]));
			CHECK(all_equal(theta, (float)expect), "%s at %d threads: θ = %g, expected %llu",
			      model_method_name(exact[k]), threads[t], theta[0], (unsigned long long)expect);
		}
}

static void sync_rounds(void)
{
	float theta[N];
	static const int threads[] = {1, 2, 8, 64};
	for (int t = 0; t < 4; t++) {
		int updates = 20;
		/* Worker i leaves after updates + i rounds; the last one alone sets the round count. */
		model_stats s = run(model_config_default(MODEL_SYNC, threads[t]), threads[t], updates, 1, theta);
		float rounds = (float)(updates + threads[t] - 1);
		CHECK(all_equal(theta, rounds), "sync at %d threads: θ = %g, expected %g", threads[t],
		      theta[0], rounds);
		CHECK(s.staleness.max == 0, "sync has staleness 0");
	}
}

static void hogwild_bounds(void)
{
	float theta[N];
	static const int threads[] = {1, 2, 8, 64};
	for (int t = 0; t < 4; t++) {
		int updates = 20000 / threads[t];
		model_stats s = run(model_config_default(MODEL_HOGWILD, threads[t]), threads[t], updates, 0, theta);
		for (int i = 0; i < N; i++)
			CHECK(theta[i] >= 1.0f && theta[i] <= (float)s.applied,
			      "hogwild θ[%d] = %g outside [1, %llu]", i, theta[i], (unsigned long long)s.applied);
		if (threads[t] == 1)
			CHECK(all_equal(theta, (float)s.applied), "hogwild lost updates on one thread");
	}
}

static float half(void *arg, uint64_t tau)
{
	(void)arg;
	return tau == 0 ? 0.5f : 0.0f;
}

static void step_scale(void)
{
	float theta[N];
	for (int k = 0; k < MODEL_METHOD_COUNT; k++) {
		model_config cfg = model_config_default((model_method)k, 1);
		cfg.step_scale = half;
		run(cfg, 1, 10, 0, theta);
		CHECK(all_equal(theta, 5.0f), "%s: step scale not applied (θ = %g)",
		      model_method_name((model_method)k), theta[0]);
	}
}

/* model_worker_reset_stats zeroes every count, the method's own ones included, and counting
 * resumes from there: one worker, 5 updates, reset, 3 more. */
static void reset_stats(void)
{
	float init[N] = {0}, g[N];
	for (int i = 0; i < N; i++)
		g[i] = -1.0f;
	for (int k = 0; k < MODEL_METHOD_COUNT; k++) {
		const char *name = model_method_name((model_method)k);
		char err[200];
		model_config cfg = model_config_default((model_method)k, 1);
		model *m = model_create(&cfg, N, init, err, sizeof(err));
		CHECK(m, "%s: %s", name, err);
		model_worker *w = model_join(m, 0, 1);
		uint64_t version;
		model_update u;
		for (int i = 0; i < 8; i++) {
			if (i == 5)
				model_worker_reset_stats(w);
			model_read(w, &version);
			model_apply(w, g, 1.0f, &u);
		}
		const model_stats *s = model_worker_stats(w);
		CHECK(s->reads == 3 && s->applied == 3 && s->staleness.n == 3, "%s: %llu reads, %llu applied after reset",
		      name, (unsigned long long)s->reads, (unsigned long long)s->applied);
		if (k == MODEL_LEASHED)
			CHECK(s->chain.attempts == 3 && s->chain.publishes == 3, "%s: %llu CAS attempts after reset", name,
			      (unsigned long long)s->chain.attempts);
		if (k == MODEL_MUTEX || k == MODEL_RWLOCK) /* one to read, one to apply */
			CHECK(s->lock.acquisitions == 6, "%s: %llu acquisitions after reset", name,
			      (unsigned long long)s->lock.acquisitions);
		model_leave(w);
		model_destroy(m);
	}
}

static void bad_configs(void)
{
	char err[256];
	model_method m;
	CHECK(model_method_parse("leashed", &m, err, sizeof(err)) == 0 && m == MODEL_LEASHED, "parse");
	CHECK(model_method_parse("lockfree", &m, err, sizeof(err)) == -1, "unknown method accepted");
	CHECK(strstr(err, "lockfree") && strstr(err, "hogwild"), "message: %s", err);

	float init[N] = {0};
	model_config cfg = model_config_default(MODEL_RWLOCK, 2);
	cfg.lock = LOCK_TTAS;
	CHECK(model_create(&cfg, N, init, err, sizeof(err)) == NULL, "rwlock over ttas accepted");
	CHECK(strstr(err, "ttas") != NULL, "message: %s", err);
	cfg = model_config_default(MODEL_MUTEX, 0);
	CHECK(model_create(&cfg, N, init, err, sizeof(err)) == NULL, "0 workers accepted");

	/* A backoff nothing waits on is refused, naming the method or lock. */
	static const struct {
		model_method method;
		int lock;
		const char *named;
	} ignored[] = {{MODEL_SYNC, -1, "sync"},
		       {MODEL_HOGWILD, -1, "hogwild"},
		       {MODEL_MUTEX, LOCK_MUTEX, "lock mutex"},
		       {MODEL_RWLOCK, LOCK_PTHREAD_RW, "lock pthread-rw"}};
	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
		cfg = model_config_default(ignored[i].method, 2);
		cfg.lock = ignored[i].lock;
		CHECK(backoff_parse("exp", &cfg.backoff, err, sizeof err) == 0, "%s", err);
		CHECK(model_create(&cfg, N, init, err, sizeof(err)) == NULL, "%s: backoff accepted",
		      ignored[i].named);
		CHECK(strstr(err, ignored[i].named) && strstr(err, "no effect"), "message: %s", err);
		cfg.backoff = backoff_none;
		model *m = model_create(&cfg, N, init, err, sizeof(err));
		CHECK(m != NULL, "%s without backoff: %s", ignored[i].named, err);
		model_destroy(m);
	}
	for (int k = 0; k < LOCK_KIND_COUNT; k++)
		CHECK(lock_kind_uses_backoff((lock_kind)k) == (k != LOCK_MUTEX && k != LOCK_PTHREAD_RW),
		      "%s: uses backoff", lock_kind_name((lock_kind)k));
}

int main(void)
{
	char err[200];
	backoff_policy exp;
	CHECK(backoff_parse("exp:base=4,cap=1024", &exp, err, sizeof(err)) == 0, "%s", err);
	exact_methods(&backoff_none);
	exact_methods(&exp);
	sync_rounds();
	hogwild_bounds();
	step_scale();
	reset_stats();
	bad_configs();
	CHECK_DONE();
}
