/* sgdsync-train: one training run (workloads/train.h) with the harness around it: pinning,
 * memory placement, counters per phase, the environment, and the run's JSON (formats §3). */

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hwloc.h>

#include "harness/counters.h"
#include "harness/env.h"
#include "harness/jsonfile.h"
#include "harness/train_options.h"
#include "workloads/blas.h"
#include "workloads/blas_core.h"

#define EXIT_RUN_FAILED 1
#define EXIT_USAGE 2
#define EXIT_RESULT_UNWRITTEN 3 /* the run completed, its result could not be written */
#define EXIT_WATCHDOG 124

enum { SLOT_READ, SLOT_GRADIENT, SLOT_APPLY, SLOTS };
static const char *const slot_names[SLOTS] = {"read", "gradient", "apply"};

typedef struct {
	const train_options *opt;
	int counting;               /* counter sets around the phases */
	counter_set **sets;         /* per worker, on its own thread */
	counter_totals (*totals)[SLOTS];
	int progress;               /* the progress line is on */
	char placement_err[256];
	placement_memory *memory;   /* the model's, placed by --placement */
	cJSON *placed;              /* where its shared memory went, from on_model_done */
	uint32_t *cluster_of;       /* worker -> cohort lock cluster (its PU's NUMA node) */
	uint32_t clusters;
} run_ctx;

/* ---- hooks: what the engine lets the harness do ---- */

static void on_worker_start(void *arg, int id)
{
	run_ctx *x = arg;
	pin_self(x->opt->pinning, id);
	if (x->counting)
		x->sets[id] = counter_set_create(slot_names, SLOTS);
}

static void on_phase(void *arg, int id, train_phase p)
{
	run_ctx *x = arg;
	counter_set *cs = x->sets[id];
	if (!cs)
		return;
	if (p == TRAIN_PHASE_OTHER)
		counter_set_stop(cs);
	else
		counter_set_start(cs, (int)p); /* read, gradient, apply are slots 0, 1, 2 */
}

static void on_worker_stop(void *arg, int id)
{
	run_ctx *x = arg;
	counter_set *cs = x->sets ? x->sets[id] : NULL;
	if (!cs)
		return;
	for (int s = 0; s < SLOTS; s++)
		counter_set_totals(cs, s, &x->totals[id][s]);
	counter_set_destroy(cs);
	x->sets[id] = NULL;
}

static float *on_alloc_params(void *arg, size_t n)
{
	run_ctx *x = arg;
	return placement_alloc(&x->opt->memory, n * sizeof(float), x->placement_err,
			       sizeof x->placement_err);
}

static void on_free_params(void *arg, float *params, size_t n)
{
	(void)arg;
	placement_free(params, n * sizeof(float));
}

/* What --placement places, per method. */
static const char *shared_vectors(model_method m, const placement *p)
{
	switch (m) {
	case MODEL_SYNC:
		return "theta and the round's gradient sum";
	case MODEL_LEASHED:
		return p->kind == PLACEMENT_LOCAL
			       ? "every chain vector, each on the node of the thread that first allocated "
				 "it (the creator for the first, then the publishing worker)"
			       : "every chain vector";
	default:
		return "theta";
	}
}

/* NUMA nodes seen over the model's regions; unknown once the OS could not tell for one. */
typedef struct {
	hwloc_bitmap_t set;
	int known;
	int *nodes; /* scratch: one region's nodes */
	int max;
} node_union;

static void union_add(node_union *u, int n)
{
	u->known = u->known && n >= 0;
	for (int i = 0; i < n && i < u->max; i++)
		hwloc_bitmap_set(u->set, (unsigned)u->nodes[i]);
}

static void union_json(cJSON *o, const char *key, const node_union *u)
{
	if (!u->known) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	cJSON *a = cJSON_AddArrayToObject(o, key);
	int id;
	hwloc_bitmap_foreach_begin(id, u->set)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(id));
	hwloc_bitmap_foreach_end();
}

/* Where the model's shared memory went, read back from the OS: the binding of its pages
 * (policy and nodes) and the nodes its touched pages are on. */
static void on_model_done(void *arg, model *m)
{
	run_ctx *x = arg;
	int max = topology_get()->numa_nodes, *nodes = calloc((size_t)max, sizeof(int));
	node_union bound = {hwloc_bitmap_alloc(), nodes != NULL, nodes, max};
	node_union on = {hwloc_bitmap_alloc(), nodes != NULL, nodes, max};
	const char *policy = NULL, *pol;
	size_t regions = 0, total = 0, bytes;
	void *p;
	for (; nodes && model_shared_memory(m, regions, &p, &bytes) == 0; regions++, total += bytes) {
		int n = placement_binding_of(p, bytes, &pol, nodes, max);
		union_add(&bound, n);
		policy = n < 0 ? "unknown" : !policy || strcmp(policy, pol) == 0 ? pol : "mixed";
		union_add(&on, placement_nodes_of(p, bytes, nodes, max));
	}
	cJSON *o = x->placed = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "shared_vectors",
				shared_vectors(model_get_config(m)->method, &x->opt->memory));
	cJSON_AddNumberToObject(o, "shared_regions", (double)regions);
	cJSON_AddNumberToObject(o, "shared_bytes", (double)total);
	cJSON_AddStringToObject(o, "shared_policy", policy ? policy : "unknown");
	union_json(o, "shared_policy_nodes", &bound);
	union_json(o, "shared_nodes", &on);
	cJSON_AddStringToObject(o, "private",
				x->opt->pinning == PIN_NONE
					? "each worker's copy of theta, batch and gradient: bound to the "
					  "node its thread ran on when it allocated them"
					: "each worker's copy of theta, batch and gradient: bound to the "
					  "node of the worker's PU");
	hwloc_bitmap_free(bound.set);
	hwloc_bitmap_free(on.set);
	free(nodes);
}

static void format_duration(char *buf, size_t len, double s)
{
	long t = isfinite(s) && s >= 0 ? (long)(s + 0.5) : -1;
	if (t < 0)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static void on_progress(void *arg, const train_progress *p)
{
	run_ctx *x = arg;
	if (!x->progress)
		return;
	uint64_t done = p->updates < p->total ? p->updates : p->total; /* in flight beyond it */
	double rate = p->elapsed_s > 0 ? (double)done / p->elapsed_s : 0.0;
	double left = rate > 0 ? (double)(p->total - done) / rate : 0.0;
	if (x->opt->time_limit_s > 0 && p->elapsed_s + left > x->opt->time_limit_s)
		left = x->opt->time_limit_s - p->elapsed_s;
	char eta[32];
	format_duration(eta, sizeof eta, left);
	fprintf(stderr, "\r\033[Kepoch %llu/%llu  update %llu/%llu  loss %.4f  %.0f updates/s  ETA %s",
		(unsigned long long)p->epoch, (unsigned long long)p->epochs,
		(unsigned long long)done, (unsigned long long)p->total, p->loss, rate, eta);
	fflush(stderr);
}

/* ---- the watchdog: the engine stops at its time limit; this ends a process that does not ---- */

static void *watchdog(void *arg)
{
	double limit = *(const double *)arg;
	double wait = 2 * limit + 60;
	struct timespec ts = {(time_t)wait, (long)((wait - floor(wait)) * 1e9)};
	while (nanosleep(&ts, &ts) != 0)
		;
	fprintf(stderr, "\nsgdsync-train: the run did not finish within %g s (time limit %g s); "
			"giving up\n", wait, limit);
	_exit(EXIT_WATCHDOG);
}

static void start_watchdog(const double *limit)
{
	pthread_t t;
	if (*limit > 0 && pthread_create(&t, NULL, watchdog, (void *)limit) == 0)
		pthread_detach(t);
}

/* ---- data ---- */

typedef struct {
	dataset all, train, test;
	int split; /* train and test are views of all */
} run_data;

static void free_data(run_data *d)
{
	if (d->split) {
		dataset_free(&d->all);
	} else {
		dataset_free(&d->train);
		dataset_free(&d->test);
	}
}

static int load_data(const train_options *o, run_data *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	if (strcmp(o->data, "synthetic") == 0) {
		if (dataset_synthetic(&d->all, TRAIN_SYNTHETIC_EXAMPLES, 28, 28, 10, o->seed) != 0) {
			snprintf(err, errlen, "out of memory for the synthetic data");
			return -1;
		}
		train_split_holdout(&d->all, TRAIN_SYNTHETIC_HELD_OUT, &d->train, &d->test);
		d->split = 1;
		return 0;
	}
	const char *dir = strcmp(o->data, "fashion-mnist") == 0 ? DATASET_FASHION_MNIST_DIR : o->data;
	if (dataset_load_idx(&d->train, dir, "train", err, errlen) != 0)
		return -1;
	if (dataset_load_idx(&d->test, dir, "t10k", err, errlen) != 0) {
		dataset_free(&d->train);
		return -1;
	}
	if (d->test.rows != d->train.rows || d->test.cols != d->train.cols) {
		snprintf(err, errlen, "t10k images are %dx%d but train images are %dx%d", d->test.rows,
			 d->test.cols, d->train.rows, d->train.cols);
		free_data(d);
		return -1;
	}
	/* The net's outputs cover every label of either split (a class seen only in t10k stays untrained). */
	int classes = d->train.classes > d->test.classes ? d->train.classes : d->test.classes;
	d->train.classes = d->test.classes = classes;
	return 0;
}

/* ---- the result ---- */

static void add_num(cJSON *o, const char *key, double v)
{
	if (isfinite(v))
		cJSON_AddNumberToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *histogram_json(const histogram *h)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *counts = cJSON_AddArrayToObject(o, "counts");
	int used = HISTOGRAM_BUCKETS;
	while (used > 0 && h->count[used - 1] == 0)
		used--;
	for (int i = 0; i < used; i++)
		cJSON_AddItemToArray(counts, cJSON_CreateNumber((double)h->count[i]));
	cJSON_AddNumberToObject(o, "overflow", (double)h->overflow);
	cJSON_AddNumberToObject(o, "overflow_from", HISTOGRAM_BUCKETS);
	add_num(o, "mean", h->n ? histogram_mean(h) : NAN);
	add_num(o, "p50", h->n ? (double)histogram_quantile(h, 0.5) : NAN);
	add_num(o, "p99", h->n ? (double)histogram_quantile(h, 0.99) : NAN);
	add_num(o, "max", h->n ? (double)h->max : NAN);
	return o;
}

static cJSON *epochs_json(const train_result *r)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < r->nepochs; i++) {
		const train_epoch *e = &r->epochs[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "epoch", (double)e->epoch);
		cJSON_AddNumberToObject(o, "updates", (double)e->updates);
		add_num(o, "wall_s", e->wall_s);
		add_num(o, "train_loss", e->train_loss);
		add_num(o, "test_loss", e->test_loss);
		add_num(o, "test_accuracy", e->test_accuracy);
		add_num(o, "updates_per_s", e->updates_per_s);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static cJSON *curve_json(const train_result *r)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < r->ncurve; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "updates", (double)r->curve[i].updates);
		add_num(o, "wall_s", r->curve[i].wall_s);
		add_num(o, "loss", r->curve[i].loss);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static cJSON *targets_json(const train_result *r)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < r->ntargets; i++) {
		const train_target *t = &r->targets[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "fraction", t->fraction);
		add_num(o, "loss", t->loss);
		cJSON_AddBoolToObject(o, "reached", t->reached);
		add_num(o, "wall_s", t->reached ? t->wall_s : NAN);
		add_num(o, "updates", t->reached ? (double)t->updates : NAN);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static cJSON *per_thread_json(const train_result *r)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < r->nthreads; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "thread", i);
		cJSON_AddNumberToObject(o, "applied", (double)r->threads[i].applied);
		add_num(o, "cpu", r->threads[i].cpu >= 0 ? r->threads[i].cpu : NAN);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

/* The primitives' own counters; not per phase (a lock is taken to read and to apply). */
static void primitive_counters(const train_options *o, const model_stats *s, counter_totals *t)
{
	const backoff_stats *b = o->method == MODEL_LEASHED ? &s->chain.backoff : &s->backoff;
	counter_totals_clear(t);
	if (o->method == MODEL_MUTEX || o->method == MODEL_RWLOCK) {
		counter_totals_put(t, "lock-acquisitions", (double)s->lock.acquisitions);
		counter_totals_put(t, "lock-contended", (double)s->lock.contended);
		counter_totals_put(t, "lock-spins", (double)s->lock.spins);
	}
	if (o->method == MODEL_LEASHED) {
		counter_totals_put(t, "cas-attempts", (double)s->chain.attempts);
		counter_totals_put(t, "read-retries", (double)s->chain.read_retries);
	}
	if (o->method == MODEL_MUTEX || o->method == MODEL_RWLOCK || o->method == MODEL_LEASHED) {
		counter_totals_put(t, "backoff-waits", (double)b->backoffs);
		counter_totals_put(t, "backoff-pause-iterations", (double)b->pause_iters);
		counter_totals_put(t, "backoff-sleep-ns", (double)b->sleep_ns);
		counter_totals_put(t, "backoff-yields", (double)b->yields);
	}
}

static cJSON *counters_json(const run_ctx *x, const train_result *r)
{
	cJSON *c = cJSON_CreateObject();
	cJSON *per = cJSON_AddObjectToObject(c, "per_update");
	double ops = r->applied ? (double)r->applied : 1.0;
	if (x->counting) {
		for (int s = 0; s < SLOTS; s++) {
			counter_totals sum;
			counter_totals_clear(&sum);
			for (int i = 0; i < x->opt->threads; i++)
				counter_totals_add(&sum, &x->totals[i][s]);
			cJSON_AddItemToObject(per, slot_names[s], counter_totals_json_per_op(&sum, ops));
		}
	}
	counter_totals prim;
	primitive_counters(x->opt, &r->stats, &prim);
	if (prim.n)
		cJSON_AddItemToObject(per, "primitive", counter_totals_json_per_op(&prim, ops));
	cJSON_AddItemToObject(c, "unavailable", counters_unavailable_json());
	return c;
}

static cJSON *result_json(const run_ctx *x, const train_result *r, int argc, char **argv)
{
	const train_options *o = x->opt;
	env_options eo = {.pinning = o->pinning, .memory = o->memory, .openblas_config = blas_config(),
			  .blas_core = blas_core_get(), .argc = argc, .argv = argv};
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "format", "sgdsync-train");
	cJSON_AddNumberToObject(doc, "version", 1);
	cJSON *env = env_json(&eo);
	cJSON_AddItemToObject(doc, "environment", env);
	if (x->placed) /* a reference: x owns it */
		cJSON_AddItemReferenceToObject(cJSON_GetObjectItem(env, "placement"), "model", x->placed);
	cJSON *config = train_options_config_json(o, r->epochs_planned, r->steps_per_epoch);
	cJSON_AddNumberToObject(config, "lock_clusters", x->clusters);
	cJSON_AddItemToObject(doc, "config", config);
	cJSON_AddStringToObject(doc, "outcome", train_outcome_name(r->outcome));
	cJSON_AddStringToObject(doc, "outcome_detail", r->detail);
	add_num(doc, "initial_loss", r->initial_loss);
	cJSON_AddItemToObject(doc, "epochs", epochs_json(r));
	cJSON_AddItemToObject(doc, "curve", curve_json(r));
	cJSON_AddItemToObject(doc, "targets", targets_json(r));
	cJSON *tot = cJSON_AddObjectToObject(doc, "totals");
	cJSON_AddNumberToObject(tot, "applied", (double)r->applied);
	cJSON_AddNumberToObject(tot, "dropped", (double)r->dropped);
	add_num(tot, "wall_s", r->wall_s);
	add_num(tot, "updates_per_s", r->updates_per_s);
	cJSON_AddItemToObject(doc, "staleness", histogram_json(&r->stats.staleness));
	if (o->method == MODEL_LEASHED)
		cJSON_AddItemToObject(doc, "cas_attempts", histogram_json(&r->stats.chain.attempts_hist));
	else
		cJSON_AddNullToObject(doc, "cas_attempts");
	cJSON_AddItemToObject(doc, "per_thread", per_thread_json(r));
	cJSON *mem = cJSON_AddObjectToObject(doc, "memory");
	cJSON_AddNumberToObject(mem, "peak_rss_bytes", (double)r->peak_rss_bytes);
	add_num(mem, "peak_live_vectors", o->method == MODEL_LEASHED ? (double)r->peak_live_vectors : NAN);
	cJSON_AddItemToObject(doc, "counters", counters_json(x, r));
	return doc;
}

static bool output_is_file(const train_options *o)
{
	return o->output[0] && strcmp(o->output, "-") != 0;
}

static int write_result(const train_options *o, const cJSON *doc)
{
	char err[512];
	if (output_is_file(o)) {
		if (jsonfile_write_atomic(o->output, doc, err, sizeof err) == 0)
			return 0;
		fprintf(stderr, "sgdsync-train: %s\n", err);
		return -1;
	}
	char *text = cJSON_Print(doc);
	int ok = text && printf("%s\n", text) >= 0 && fflush(stdout) == 0;
	free(text);
	if (!ok)
		fprintf(stderr, "sgdsync-train: could not write the result to stdout\n");
	return ok ? 0 : -1;
}

/* ---- the run ---- */

static train_config make_config(const train_options *o, const net *n, const run_data *d, run_ctx *x)
{
	train_config c = train_config_default(o->method, o->threads);
	c.model.backoff = o->backoff;
	c.model.lock = o->lock;
	c.model.persistence = o->persistence;
	c.model.alloc = o->alloc;
	c.model.lock_clusters = x->clusters;
	c.model.lock_cluster_of = x->cluster_of;
	c.model.memory = placement_memory_ops(x->memory);
	c.step = o->step;
	c.net = n;
	c.train = &d->train;
	c.test = &d->test;
	c.batch = o->batch;
	c.eta = (float)o->eta;
	c.epochs = o->epochs;
	c.steps_per_epoch = o->steps_per_epoch;
	c.max_steps = o->steps;
	c.seed = o->seed;
	c.ntargets = o->ntargets;
	memcpy(c.targets, o->targets, sizeof c.targets);
	c.time_limit_s = o->time_limit_s;
	c.abort_at_update = o->abort_at_update;
	c.hang_at_update = o->hang_at_update;
	c.hooks = (train_hooks){
		.arg = x,
		.worker_start = on_worker_start,
		.worker_stop = on_worker_stop,
		.phase = x->counting ? on_phase : NULL,
		.alloc_params = on_alloc_params,
		.free_params = on_free_params,
		.model_done = on_model_done,
		.progress = on_progress,
	};
	return c;
}

static int train_and_report(const train_options *o, const net *n, const run_data *d, int argc,
			    char **argv)
{
	char err[512] = "";
	run_ctx x = {.opt = o, .counting = strcmp(o->counters, "none") != 0,
		     .progress = !o->quiet && isatty(STDERR_FILENO)};
	x.sets = calloc((size_t)o->threads, sizeof(*x.sets));
	x.totals = calloc((size_t)o->threads, sizeof(*x.totals));
	x.cluster_of = calloc((size_t)o->threads, sizeof(*x.cluster_of));
	x.memory = placement_memory_create(&o->memory, o->pinning);
	if (!x.sets || !x.totals || !x.cluster_of || !x.memory) {
		fprintf(stderr, "sgdsync-train: out of memory\n");
		free(x.sets);
		free(x.totals);
		free(x.cluster_of);
		placement_memory_destroy(x.memory);
		return EXIT_RUN_FAILED;
	}
	/* The model's own buffers are first touched by this thread: put it where worker 0 runs. */
	pin_self(o->pinning, 0);
	x.clusters = pin_clusters(o->pinning, o->threads, x.cluster_of);
	train_config c = make_config(o, n, d, &x);
	train_result r;
	int rc = train_run(&c, &r, err, sizeof err), status = EXIT_RUN_FAILED;
	if (x.progress)
		fprintf(stderr, "\r\033[K");
	if (rc != 0) {
		const char *why = x.placement_err[0] ? x.placement_err : placement_memory_error(x.memory);
		fprintf(stderr, "sgdsync-train: %s%s%s\n", err, why[0] ? ": " : "", why);
	} else {
		cJSON *doc = result_json(&x, &r, argc, argv);
		rc = doc ? write_result(o, doc) : -1;
		if (doc)
			status = EXIT_RESULT_UNWRITTEN;
		cJSON_Delete(doc);
		if (rc == 0 && !o->quiet)
			fprintf(stderr, "sgdsync-train: %s%s%s; %llu updates in %.2f s (%.0f updates/s)\n",
				train_outcome_name(r.outcome), r.detail[0] ? ": " : "", r.detail,
				(unsigned long long)r.applied, r.wall_s, r.updates_per_s);
		train_result_free(&r);
	}
	free(x.sets);
	free(x.totals);
	free(x.cluster_of);
	cJSON_Delete(x.placed);
	placement_memory_destroy(x.memory);
	return rc == 0 ? 0 : status;
}

int main(int argc, char **argv)
{
	train_options o;
	char err[512];
	train_options_default(&o);
	int rc = train_options_parse(&o, argc, argv, err, sizeof err);
	if (rc == 1) {
		train_options_usage(stdout, "sgdsync-train");
		return 0;
	}
	if (rc != 0) {
		fprintf(stderr, "sgdsync-train: %s\n", err);
		return EXIT_USAGE;
	}
	if (train_options_check_budget(&o, err, sizeof err) != 0) {
		fprintf(stderr, "sgdsync-train: %s\n", err);
		return EXIT_USAGE;
	}
	if (output_is_file(&o) && jsonfile_check_writable(o.output, err, sizeof err) != 0) {
		fprintf(stderr, "sgdsync-train: --output: %s\n", err);
		return EXIT_USAGE;
	}
	if (counters_open(o.counters, err, sizeof err) != 0) {
		fprintf(stderr, "sgdsync-train: --counters: %s\n", err);
		return EXIT_USAGE;
	}
	start_watchdog(&o.time_limit_s);
	run_data d;
	if (load_data(&o, &d, err, sizeof err) != 0) {
		fprintf(stderr, "sgdsync-train: --data %s: %s\n", o.data, err);
		counters_close();
		return EXIT_RUN_FAILED;
	}
	net *n = net_create(o.arch, d.train.features, d.train.classes, err, sizeof err);
	if (!n) {
		fprintf(stderr, "sgdsync-train: --arch: %s\n", err);
		rc = EXIT_USAGE;
	} else {
		rc = train_and_report(&o, n, &d, argc, argv);
		net_destroy(n);
	}
	free_data(&d);
	counters_close();
	return rc;
}
