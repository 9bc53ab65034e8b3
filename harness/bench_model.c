/* sgdsync-bench-model: one update of the shared model (primitives/model.h) per method, alone,
 * without a network: what synchronizing one update costs at this size and thread count.
 *
 * model/<method>/backoff:<policy>/persist:<B|inf>/size:<floats>/work_ns:<ns>/...
 *   every thread joins one model of size floats (its memory placed by --placement and --pin, as
 *   sgdsync-train places it) and repeats: model_read; spin work_ns (the calibrated delay that
 *   stands for the gradient's computation); model_apply of a fixed gradient written before the
 *   loop. One operation = one update (applied, or dropped at leashed's persistence bound).
 *   persist is leashed's CAS bound (inf for the others); combinations the model refuses (a
 *   backoff for sync or hogwild) are not registered.
 *
 * sync waits for every worker at each round: the model has one worker per thread, and every
 * thread runs the same iterations (Google Benchmark gives each the run's count and none leaves
 * its loop early), so each round gets all of them; model_leave after the loop lets a round
 * complete without a thread that has finished. Every thread first makes MODEL_WARMUP_UPDATES
 * uncounted updates (the same number each, so sync's rounds complete): as in bench-chain, a run
 * then measures the leashed chain's vectors recycled rather than first touched. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/bench.h"
#include "harness/delay.h"
#include "primitives/backoff.h"
#include "primitives/model.h"

typedef struct {
	model_method method;
	backoff_policy backoff;
	uint32_t persistence; /* 0: unbounded */
} model_case;

/* Per thread: its stats, copied before model_leave frees the worker. */
typedef struct {
	model_stats stats;
} model_local;

/* Small enough that θ -= eta * g, with eta's sign alternating, stays near 0. */
#define MODEL_GRAD 1e-3f
#define MODEL_ETA 0.01f
#define MODEL_WARMUP_UPDATES 8

/* ---- Setup and teardown: one model per run ---- */

static void *model_setup(bench_state *st)
{
	const model_case *c = bench_state_arg(st);
	size_t n = (size_t)bench_state_range(st, 0);
	model_config cfg = model_config_default(c->method, bench_state_threads(st));
	cfg.backoff = c->backoff;
	cfg.persistence = c->persistence;
	cfg.memory = bench_placed_memory();
	char err[256] = "out of memory";
	float *init = calloc(n, sizeof(float));
	model *m = init ? model_create(&cfg, n, init, err, sizeof err) : NULL;
	free(init);
	if (!m)
		bench_skip_with_error(st, err);
	return m;
}

/* The run's figures from every thread's stats, set on thread 0 (so they count once):
 * per-update ones divide by the iterations of all threads. */
static void model_teardown(bench_state *st)
{
	model *m = bench_state_shared(st);
	model_stats all;
	memset(&all, 0, sizeof all);
	for (int i = 0; i < bench_state_threads(st); i++)
		model_stats_add(&all, &((model_local *)bench_state_local_of(st, i))->stats);
	const histogram *tau = &all.staleness;
	bench_counter(st, "updates", (double)(all.applied + all.dropped), BENCH_TOTAL);
	bench_counter(st, "staleness_mean", tau->n ? histogram_mean(tau) : 0, BENCH_TOTAL);
	bench_counter(st, "staleness_p99", tau->n ? (double)histogram_quantile(tau, 0.99) : 0, BENCH_TOTAL);
	bench_counter(st, "dropped/op", (double)all.dropped, BENCH_AVG_ITERATIONS);
	switch (model_get_config(m)->method) {
	case MODEL_LEASHED:
		bench_counter(st, "cas_attempts/op", (double)all.chain.attempts, BENCH_AVG_ITERATIONS);
		bench_counter(st, "live_vectors_peak", (double)model_live_vectors_peak(m), BENCH_TOTAL);
		break;
	case MODEL_MUTEX:
	case MODEL_RWLOCK:
		/* Of the acquisitions (two per update: to read, to apply), those that waited. */
		bench_counter(st, "lock_contended_fraction",
			      all.lock.acquisitions ? (double)all.lock.contended / (double)all.lock.acquisitions : 0,
			      BENCH_TOTAL);
		break;
	default:
		break;
	}
	model_destroy(m);
}

/* ---- The benchmark ---- */

/* One update: read, the synthetic gradient's work, apply; eta changes sign each time. Returns
 * whether θ[0] read nonzero, for a sink that keeps the read. */
static int update_once(model_worker *w, const float *g, uint64_t work, float *eta)
{
	uint64_t version;
	model_update u;
	int nonzero = model_read(w, &version)[0] != 0.0f;
	delay_spin(work);
	model_apply(w, g, *eta, &u);
	*eta = -*eta;
	return nonzero;
}

static void run_update(bench_state *st)
{
	model *m = bench_state_shared(st);
	model_local *local = bench_state_local(st);
	size_t n = model_size(m);
	uint64_t work = delay_iters(bench_state_range(st, 1)), sink = 0;
	float *g = malloc(n * sizeof(float));
	model_worker *w = g ? model_join(m, bench_state_thread_index(st), (uint64_t)bench_state_thread_index(st) + 1)
			    : NULL;
	if (!w) {
		free(g);
		bench_skip_with_error(st, "out of memory joining the model");
		return;
	}
	for (size_t k = 0; k < n; k++)
		g[k] = MODEL_GRAD;
	float eta = MODEL_ETA;
	for (int i = 0; i < MODEL_WARMUP_UPDATES; i++)
		sink += update_once(w, g, work, &eta);
	model_worker_reset_stats(w);
	BENCH_LOOP(st)
		sink += update_once(w, g, work, &eta);
	__asm__ __volatile__("" ::"r"(sink));
	bench_set_items_processed(st, bench_state_iterations(st));
	bench_set_bytes_processed(st, bench_state_iterations(st) * (int64_t)(n * sizeof(float)));
	local->stats = *model_worker_stats(w);
	model_leave(w);
	free(g);
}

/* ---- Registration ---- */

static void register_case(const bench_options *o, model_method method, const char *backoff_spec,
			  const char *persist_name)
{
	static const int64_t sizes_default[] = {1 << 14, 1 << 17};
	static const int64_t sizes_full[] = {1 << 10, 1 << 14, 1 << 17, 1 << 20};
	static const int64_t works_default[] = {0, 10000};
	static const int64_t works_full[] = {0, 1000, 10000, 100000};
	model_case c = {method, backoff_none, 0};
	char err[256], name[160];
	if (backoff_parse(backoff_spec, &c.backoff, err, sizeof err) != 0) {
		fprintf(stderr, "sgdsync-bench-model: %s\n", err);
		exit(1);
	}
	model_config cfg = model_config_default(method, 1);
	cfg.backoff = c.backoff;
	if (model_check_backoff(&cfg, err, sizeof err) != 0)
		return;
	c.persistence = strcmp(persist_name, "inf") == 0 ? 0 : (uint32_t)atoi(persist_name);
	snprintf(name, sizeof name, "model/%s/backoff:%s/persist:%s", model_method_name(method), backoff_spec,
		 persist_name);

	bench_list sizes = o->full_grid ? (bench_list){sizes_full, 4} : (bench_list){sizes_default, 2};
	bench_list works = o->full_grid ? (bench_list){works_full, 4} : (bench_list){works_default, 2};
	bench_family *b = bench_register(name, run_update, &c, sizeof c);
	bench_setup(b, model_setup, model_teardown);
	bench_local_size(b, sizeof(model_local));
	bench_arg_names(b, "size", "work_ns");
	bench_args_product(b, sizes, works);
	bench_threads_default(b);
	bench_use_real_time(b);
}

static void register_all(const bench_options *o)
{
	static const char *const backoffs_default[] = {"none", "exp"};
	static const char *const backoffs_full[] = {"none", "const", "linear", "exp", "jitter", "yield", "sleep"};
	static const char *const persists_default[] = {"1", "inf"};
	static const char *const persists_full[] = {"1", "4", "inf"};
	const char *const *backoffs = o->full_grid ? backoffs_full : backoffs_default;
	const char *const *persists = o->full_grid ? persists_full : persists_default;
	int nbackoffs = o->full_grid ? 7 : 2, npersists = o->full_grid ? 3 : 2;

	delay_calibrate();
	for (int k = 0; k < MODEL_METHOD_COUNT; k++)
		for (int i = 0; i < nbackoffs; i++) {
			if (k != MODEL_LEASHED) {
				register_case(o, (model_method)k, backoffs[i], "inf");
				continue;
			}
			for (int p = 0; p < npersists; p++)
				register_case(o, (model_method)k, backoffs[i], persists[p]);
		}
}

int main(int argc, char **argv) { return bench_main(argc, argv, register_all); }
