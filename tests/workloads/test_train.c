/* The training engine: every method trains at 1, 2 and 16 threads; divergence, time limit and
 * the result's bookkeeping (epochs, curve, staleness, per-thread counts, hooks).
 *
 * Data: synthetic 12x12 images, 10 classes, one set split into training and held-out parts;
 * net mlp:1x16, batch 16. Small on purpose: an update costs ~20 µs in a release build and
 * ~0.2 ms under ThreadSanitizer, so every run below takes well under a second, or a few seconds
 * under TSan.
 *
 * Step sizes across thread counts: every configuration of the convergence test computes 480·n
 * gradients and moves the same total step. The asynchronous methods make 480·n updates with
 * η = 0.05 / n; sync makes 480 rounds of n averaged gradients with η = 0.05. Why: with 16
 * threads on 2 cores an update under TSan lasts about a time slice, so each worker's update
 * lands after about n - 1 others (τ ≈ n - 1); the writer-preferring rwlock even forms rounds in
 * which all 16 workers read the same θ and then apply 16 gradients from it, a step of 16η.
 * Scaling η by 1/n keeps those rounds no larger than sync's, in every build. */

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "workloads/train.h"

#define SIDE 12
#define ETA 0.05f
#define ROUNDS 480

static dataset all, train_set, test_set;
static net *mlp;

static train_config base_config(model_method method, int threads)
{
	train_config c = train_config_default(method, threads);
	c.net = mlp;
	c.train = &train_set;
	c.test = &test_set;
	c.batch = 16;
	c.eta = ETA;
	c.epochs = 6;
	c.steps_per_epoch = ROUNDS / 6;
	c.seed = 7;
	c.targets[0] = 0.5;
	c.ntargets = 1;
	c.time_limit_s = 120; /* a safety net: the runs take seconds */
	return c;
}

static void run(const train_config *c, train_result *r)
{
	char err[256] = "";
	CHECK(train_run(c, r, err, sizeof(err)) == 0, "train_run: %s", err);
}

static void check_bookkeeping(const train_config *c, const train_result *r)
{
	const char *name = model_method_name(c->model.method);
	int n = c->model.workers;
	uint64_t total = c->epochs * c->steps_per_epoch;
	CHECK(r->nepochs == c->epochs, "%s/%d: %zu epochs", name, n, r->nepochs);
	CHECK(r->applied >= total && r->applied < total + (uint64_t)n, "%s/%d: applied %llu of %llu",
	      name, n, (unsigned long long)r->applied, (unsigned long long)total);
	uint64_t sum = 0;
	for (int i = 0; i < r->nthreads; i++)
		sum += r->threads[i].applied;
	CHECK(r->nthreads == n && sum == r->applied, "%s/%d: per-thread counts add up", name, n);
	CHECK(r->stats.staleness.n == r->applied, "%s/%d: one staleness sample per update", name, n);
	CHECK(r->stats.reads == r->applied + r->dropped, "%s/%d: every read ends in an applied or "
	      "dropped update", name, n);
	if (n == 1 || c->model.method == MODEL_SYNC)
		CHECK(r->stats.staleness.max == 0, "%s/%d: staleness %llu, want 0", name, n,
		      (unsigned long long)r->stats.staleness.max);
	double prev = 0.0;
	for (size_t e = 0; e < r->nepochs; e++) {
		const train_epoch *ep = &r->epochs[e];
		CHECK(ep->epoch == e + 1 && ep->updates == (e + 1) * c->steps_per_epoch,
		      "%s/%d: epoch %zu numbering", name, n, e);
		CHECK(ep->wall_s >= prev && ep->wall_s <= r->wall_s, "%s/%d: epoch times grow", name, n);
		CHECK(isfinite(ep->train_loss) && isfinite(ep->test_loss), "%s/%d: epoch %zu losses", name,
		      n, e);
		prev = ep->wall_s;
	}
	CHECK(r->ncurve > 0 && r->ncurve <= TRAIN_CURVE_POINTS + 1, "%s/%d: %zu curve points", name,
	      n, r->ncurve);
	for (size_t i = 1; i < r->ncurve; i++)
		CHECK(r->curve[i].updates > r->curve[i - 1].updates &&
			      r->curve[i].wall_s >= r->curve[i - 1].wall_s,
		      "%s/%d: curve ordered", name, n);
	if (c->model.method == MODEL_LEASHED) {
		CHECK(r->peak_live_vectors >= 1 && r->peak_live_vectors <= 2 * (size_t)n + 1,
		      "leashed/%d: peak live vectors %zu", n, r->peak_live_vectors);
		CHECK(r->stats.chain.attempts_hist.n == r->stats.chain.publishes,
		      "leashed/%d: one CAS-attempt sample per publish", n);
	} else {
		CHECK(r->peak_live_vectors == 0, "%s: no parameter chain", name);
	}
}

static void test_methods_converge(void)
{
	const int threads[] = {1, 2, 16};
	for (int m = 0; m < MODEL_METHOD_COUNT; m++) {
		for (int k = 0; k < 3; k++) {
			int n = threads[k];
			train_config c = base_config((model_method)m, n);
			c.steps_per_epoch *= (uint64_t)n;
			if (m != MODEL_SYNC)
				c.eta = ETA / (float)n;
			train_result r;
			run(&c, &r);
			const char *name = model_method_name((model_method)m);
			double last = r.epochs[r.nepochs - 1].train_loss;
			printf("%-8s %2d threads: initial %.3f final %.3f (%.0f%%), held-out accuracy %.3f, "
			       "mean staleness %.2f, %.2f s\n",
			       name, n, r.initial_loss, last, 100.0 * last / r.initial_loss,
			       r.epochs[r.nepochs - 1].test_accuracy, histogram_mean(&r.stats.staleness),
			       r.wall_s);
			CHECK(r.outcome == TRAIN_CONVERGED, "%s/%d: outcome %s (%s)", name, n,
			      train_outcome_name(r.outcome), r.detail);
			CHECK(last < 0.5 * r.initial_loss, "%s/%d: final epoch loss %g, initial %g", name, n,
			      last, r.initial_loss);
			CHECK(r.targets[0].reached && r.targets[0].updates <= r.applied,
			      "%s/%d: target recorded", name, n);
			CHECK(r.epochs[r.nepochs - 1].test_accuracy > 0.5,
			      "%s/%d: held-out accuracy %g (chance 0.1)", name, n,
			      r.epochs[r.nepochs - 1].test_accuracy);
			check_bookkeeping(&c, &r);
			train_result_free(&r);
		}
	}
}

/* One worker, deterministic: each epoch's loss is the mean of its curve points' losses, whose
 * slices hold equally many updates. */
static void test_epoch_matches_curve(void)
{
	train_config c = base_config(MODEL_MUTEX, 1);
	c.epochs = 4;
	c.steps_per_epoch = 200; /* 50 curve points per epoch, 4 updates each */
	train_result r;
	run(&c, &r);
	CHECK(r.ncurve == 200, "%zu curve points", r.ncurve);
	for (size_t e = 0; e < r.nepochs; e++) {
		double sum = 0.0;
		for (size_t i = e * 50; i < (e + 1) * 50; i++)
			sum += r.curve[i].loss;
		CHECK(fabs(sum / 50 - r.epochs[e].train_loss) < 1e-6 * r.initial_loss,
		      "epoch %zu loss %g, curve mean %g", e, r.epochs[e].train_loss, sum / 50);
		CHECK(r.curve[(e + 1) * 50 - 1].updates == r.epochs[e].updates, "epoch %zu end", e);
	}
	train_result_free(&r);
}

/* Leashed with a persistence bound of 1: updates that lose their CAS are dropped and counted,
 * never lost from the books. */
static void test_persistence(void)
{
	train_config c = base_config(MODEL_LEASHED, 8);
	c.model.persistence = 1;
	c.eta = ETA / 8;
	train_result r;
	run(&c, &r);
	CHECK(r.stats.reads == r.applied + r.dropped && r.dropped == r.stats.chain.dropped,
	      "%llu reads, %llu applied, %llu dropped", (unsigned long long)r.stats.reads,
	      (unsigned long long)r.applied, (unsigned long long)r.dropped);
	CHECK(r.stats.chain.attempts == r.applied + r.dropped, "one CAS attempt per update");
	printf("leashed, 8 threads, persistence 1: %llu applied, %llu dropped\n",
	       (unsigned long long)r.applied, (unsigned long long)r.dropped);
	train_result_free(&r);
}

/* A step budget that is not a whole number of epochs: the last epoch is shorter. */
static void test_step_budget(void)
{
	train_config c = base_config(MODEL_HOGWILD, 2);
	c.steps_per_epoch = 100;
	c.max_steps = 250;
	train_result r;
	run(&c, &r);
	CHECK(r.nepochs == 3 && r.epochs_planned == 3 && r.budget == 250, "%zu epochs", r.nepochs);
	CHECK(r.epochs[1].updates == 200 && r.epochs[2].updates == 250, "epoch ends 200, %llu",
	      (unsigned long long)r.epochs[2].updates);
	CHECK(r.applied >= 250 && r.applied < 252, "applied %llu", (unsigned long long)r.applied);
	CHECK(r.curve[r.ncurve - 1].updates == 250, "curve ends at the budget");
	CHECK(isfinite(r.epochs[2].train_loss) && isfinite(r.epochs[2].test_loss), "last epoch measured");
	train_result_free(&r);
}

/* A run of more epochs than TRAIN_EVAL_POINTS evaluates every k-th epoch and the last, and
 * nothing else; with 4 workers in flight at the budget, the curve still ends at the budget. */
static void test_evaluation_points(void)
{
	const size_t epochs = 2 * TRAIN_EVAL_POINTS + 1, k = 3; /* k = ceil(129 / 64) */
	train_config c = base_config(MODEL_HOGWILD, 4);
	c.steps_per_epoch = 2;
	c.max_steps = 2 * epochs;
	train_result r;
	run(&c, &r);
	CHECK(r.nepochs == epochs, "%zu epochs", r.nepochs);
	size_t evaluated = 0;
	for (size_t e = 0; e < r.nepochs; e++) {
		int want = (e + 1) % k == 0 || e + 1 == epochs;
		evaluated += want;
		CHECK(isfinite(r.epochs[e].test_loss) == want, "epoch %zu: test loss %g", e + 1, r.epochs[e].test_loss);
	}
	CHECK(evaluated == 43 && evaluated <= TRAIN_EVAL_POINTS, "%zu epochs evaluated", evaluated);
	CHECK(r.curve[r.ncurve - 1].updates == c.max_steps, "curve ends at %llu, budget %llu",
	      (unsigned long long)r.curve[r.ncurve - 1].updates, (unsigned long long)c.max_steps);
	train_result_free(&r);
}

static void test_diverges(void)
{
	for (int m = 0; m < MODEL_METHOD_COUNT; m++) {
		train_config c = base_config((model_method)m, 2);
		c.eta = 1e4f;
		train_result r;
		run(&c, &r);
		const char *name = model_method_name((model_method)m);
		CHECK(r.outcome == TRAIN_DIVERGED, "%s: huge step: outcome %s (%s)", name,
		      train_outcome_name(r.outcome), r.detail);
		CHECK(r.detail[0] != '\0', "%s: divergence explained", name);
		CHECK(r.applied < c.epochs * c.steps_per_epoch, "%s: stopped early (%llu updates)", name,
		      (unsigned long long)r.applied);
		train_result_free(&r);
	}
}

typedef struct {
	_Atomic int started, stopped, progress;
	_Atomic int phase_calls[TRAIN_PHASE_COUNT];
	_Atomic int out_of_order;
	_Atomic int allocs, frees;
	train_phase last[16];
} hook_log;

static void on_start(void *arg, int id)
{
	hook_log *h = arg;
	atomic_fetch_add(&h->started, 1);
	h->last[id] = TRAIN_PHASE_OTHER;
}

static void on_stop(void *arg, int id)
{
	hook_log *h = arg;
	(void)id;
	atomic_fetch_add(&h->stopped, 1);
}

/* Each worker's phases go read, gradient, apply, other, read, ... */
static void on_phase(void *arg, int id, train_phase p)
{
	hook_log *h = arg;
	atomic_fetch_add(&h->phase_calls[p], 1);
	if (p != (h->last[id] + 1) % TRAIN_PHASE_COUNT)
		atomic_fetch_add(&h->out_of_order, 1);
	h->last[id] = p;
}

static float *on_alloc(void *arg, size_t n)
{
	hook_log *h = arg;
	atomic_fetch_add(&h->allocs, 1);
	return malloc(n * sizeof(float));
}

static void on_free(void *arg, float *p, size_t n)
{
	hook_log *h = arg;
	(void)n;
	atomic_fetch_add(&h->frees, 1);
	free(p);
}

static void on_progress(void *arg, const train_progress *p)
{
	hook_log *h = arg;
	(void)p;
	atomic_fetch_add(&h->progress, 1);
}

static void test_hooks_and_time_limit(void)
{
	hook_log h;
	memset(&h, 0, sizeof(h));
	train_config c = base_config(MODEL_LEASHED, 4);
	c.epochs = 1000;
	c.steps_per_epoch = 10000000; /* far more than fits in the time limit: no epoch ends, no target is reached */
	c.time_limit_s = 0.4;
	c.progress_interval_s = 0.05;
	c.hooks = (train_hooks){.arg = &h, .worker_start = on_start, .worker_stop = on_stop,
				.phase = on_phase, .alloc_params = on_alloc, .free_params = on_free,
				.progress = on_progress};
	train_result r;
	run(&c, &r);
	CHECK(r.outcome == TRAIN_NOT_CONVERGED && strstr(r.detail, "time limit"),
	      "time limit: outcome %s (%s)", train_outcome_name(r.outcome), r.detail);
	CHECK(r.wall_s >= 0.4 && r.wall_s < 30, "stopped after %g s", r.wall_s);
	CHECK(h.started == 4 && h.stopped == 4, "start %d, stop %d", h.started, h.stopped);
	CHECK(h.allocs == 1 && h.frees == 1, "parameter allocator used once");
	CHECK(h.out_of_order == 0, "%d phase calls out of order", h.out_of_order);
	CHECK((uint64_t)h.phase_calls[TRAIN_PHASE_READ] == r.stats.reads, "%d read phases, %llu reads",
	      h.phase_calls[TRAIN_PHASE_READ], (unsigned long long)r.stats.reads);
	CHECK((uint64_t)h.phase_calls[TRAIN_PHASE_OTHER] == r.applied + r.dropped, "one update each");
	CHECK(h.progress >= 2, "progress reported %d times", h.progress);
	CHECK(r.ncurve >= 1 && r.curve[r.ncurve - 1].updates >= r.applied - 4,
	      "the curve reaches the end of a stopped run");
	train_result_free(&r);

	/* Without targets, a run cut short by its time limit has not converged either. */
	c = base_config(MODEL_MUTEX, 2);
	c.epochs = 1000;
	c.steps_per_epoch = 100000;
	c.time_limit_s = 0.2;
	c.ntargets = 0;
	run(&c, &r);
	CHECK(r.outcome == TRAIN_NOT_CONVERGED, "no targets, time limit: outcome %s",
	      train_outcome_name(r.outcome));
	train_result_free(&r);
}

static void test_step_policies(void)
{
	const char *specs[] = {"inverse", "fleet", "tail"};
	for (int i = 0; i < 3; i++) {
		train_config c = base_config(MODEL_HOGWILD, 2);
		c.eta = ETA / 2;
		c.steps_per_epoch *= 2;
		char err[128];
		CHECK(step_spec_parse(specs[i], &c.step, err, sizeof(err)) == 0, "%s", err);
		train_result r;
		run(&c, &r);
		CHECK(r.outcome == TRAIN_CONVERGED, "policy %s: outcome %s (%s)", specs[i],
		      train_outcome_name(r.outcome), r.detail);
		train_result_free(&r);
	}
}

static void test_bad_config(void)
{
	train_config c = base_config(MODEL_MUTEX, 1);
	train_result r;
	char err[256];
	c.batch = 0;
	CHECK(train_run(&c, &r, err, sizeof(err)) == -1 && strstr(err, "batch"), "batch 0: %s", err);
	c = base_config(MODEL_MUTEX, 0);
	CHECK(train_run(&c, &r, err, sizeof(err)) == -1 && strstr(err, "threads"), "0 threads: %s", err);
	c = base_config(MODEL_MUTEX, 1);
	c.eta = -1;
	CHECK(train_run(&c, &r, err, sizeof(err)) == -1 && strstr(err, "eta"), "eta -1: %s", err);
}

int main(void)
{
	char err[256];
	CHECK(dataset_synthetic(&all, 3000, SIDE, SIDE, 10, 11) == 0, "synthetic data");
	train_split_holdout(&all, 500, &train_set, &test_set);
	CHECK(train_set.count == 2500 && test_set.count == 500 &&
		      test_set.labels == all.labels + 2500,
	      "split 2500 + 500");
	mlp = net_create("mlp:1x16", SIDE * SIDE, 10, err, sizeof(err));
	CHECK(mlp != NULL, "%s", err);
	test_bad_config();
	test_epoch_matches_curve();
	test_evaluation_points();
	test_step_budget();
	test_persistence();
	test_diverges();
	test_hooks_and_time_limit();
	test_step_policies();
	test_methods_converge();
	net_destroy(mlp);
	dataset_free(&all);
	CHECK_DONE();
}
