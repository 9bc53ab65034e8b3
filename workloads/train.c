#include "workloads/train.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "primitives/cacheline.h"
#include "workloads/rng.h"

#define EVAL_BATCH 500
#define EMA_WEIGHT (1.0 / 8.0)
#define DEFAULT_DIVERGE_FACTOR 10.0
#define DEFAULT_PROGRESS_S 0.25

enum { RUNNING, STOP_BUDGET, STOP_TIME, STOP_DIVERGED };

typedef struct {
	double sum;
	uint64_t n;
} loss_acc;

typedef struct trainer trainer;

typedef struct CACHELINE_ALIGNED {
	trainer *t;
	int id;
	pthread_t thread;
	_Atomic double ema;        /* moving average of batch losses; the progress line reads it */
	loss_acc *slices;          /* this worker's losses per slice of the numbered updates */
	uint64_t snap_from, snap_to; /* epochs whose snapshot to take at the next read */
	model_stats stats;
	int cpu;
	int failed;                /* setup failed (memory) */
	/* sampling */
	uint32_t *perm;
	size_t perm_pos;
	uint64_t rng;
	/* batch and gradient buffers */
	size_t *idx;
	float *x;
	uint8_t *y;
	float *grad;
	net_ws *ws;
} worker;

struct trainer {
	const train_config *cfg;
	model *m;
	step_policy *step;
	size_t nparams;
	uint64_t spe;              /* numbered updates per epoch */
	uint64_t total;            /* the budget in numbered updates */
	uint64_t nepochs;          /* epochs in the budget, the last maybe shorter */
	uint64_t per_epoch;        /* slices per epoch */
	uint64_t nslices;
	double initial_loss;
	double diverge_limit;
	uint64_t start_ns;
	uint64_t *slice_end_ns;    /* written once, by the worker that closed the slice */
	float *snapshots;          /* per evaluated epoch: θ read just after its last update */
	uint64_t eval_stride;      /* every eval_stride-th epoch is evaluated, and the last */
	uint8_t *snap_taken;
	worker *workers;
	CACHELINE_ALIGNED _Atomic uint64_t closed; /* slices whose updates are all numbered */
	CACHELINE_ALIGNED _Atomic int stop;
	char stop_detail[256];     /* written by whoever set stop */
	/* The start gate and the end: workers count themselves ready, wait for the gate, and
	 * count themselves done; the supervisor waits on the same condition. */
	CACHELINE_ALIGNED pthread_mutex_t lock;
	pthread_cond_t cond;       /* CLOCK_MONOTONIC */
	int ready, done;
	int gate;                  /* 0 closed, 1 go, -1 cancelled */
};

static const char *const outcome_names[TRAIN_OUTCOME_COUNT] = {"converged", "not-converged",
							       "diverged"};

const char *train_outcome_name(train_outcome o)
{
	return o < TRAIN_OUTCOME_COUNT ? outcome_names[o] : "unknown";
}

void train_split_holdout(const dataset *all, size_t holdout, dataset *train, dataset *test)
{
	if (holdout > all->count)
		holdout = all->count;
	*train = *all;
	*test = *all;
	train->count = all->count - holdout;
	test->count = holdout;
	test->pixels = all->pixels + train->count * (size_t)all->features;
	test->labels = all->labels + train->count;
}

train_config train_config_default(model_method method, int workers)
{
	train_config c;
	memset(&c, 0, sizeof(c));
	c.model = model_config_default(method, workers);
	c.step.kind = STEP_NONE;
	c.step.amplitude = 1.0f;
	c.batch = 64;
	c.eta = 0.01f;
	c.epochs = 5;
	c.seed = 1;
	c.targets[0] = 0.5;
	c.targets[1] = 0.25;
	c.ntargets = 2;
	return c;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- numbering: updates -> slices -> epochs ---- */

/* The slice holding update number i (i < total). */
static uint64_t slice_of(const trainer *t, uint64_t i)
{
	uint64_t e = i / t->spe, r = i % t->spe;
	return e * t->per_epoch + r * t->per_epoch / t->spe;
}

/* The first update number of slice j (j <= nslices). */
static uint64_t slice_start(const trainer *t, uint64_t j)
{
	uint64_t e = j / t->per_epoch, q = j % t->per_epoch;
	return e * t->spe + (q * t->spe + t->per_epoch - 1) / t->per_epoch;
}

/* Updates numbered before slice j, within the budget (the last slice may be cut short by it). */
static uint64_t updates_before_slice(const trainer *t, uint64_t j)
{
	uint64_t start = slice_start(t, j);
	return start < t->total ? start : t->total;
}

/* The last slice of epoch e. */
static uint64_t epoch_last_slice(const trainer *t, uint64_t e)
{
	uint64_t end = (e + 1) * t->per_epoch;
	return (end < t->nslices ? end : t->nslices) - 1;
}

/* Epochs complete once `closed` slices are. */
static uint64_t epochs_complete(const trainer *t, uint64_t closed)
{
	return closed >= t->nslices ? t->nepochs : closed / t->per_epoch;
}

/* Slices all of whose updates are numbered once `u` updates are. */
static uint64_t slices_complete(const trainer *t, uint64_t u)
{
	return u >= t->total ? t->nslices : slice_of(t, u);
}

/* An applied update's number: the version it was applied to. For sync a round of n gradients
 * is one model update, so its gradients are numbered round * n + the worker's id. */
static uint64_t update_number(const trainer *t, int id, uint64_t version, uint64_t tau)
{
	if (t->cfg->model.method == MODEL_SYNC)
		return version * (uint64_t)t->cfg->model.workers + (uint64_t)id;
	return version + tau;
}

/* Numbered updates so far, in the same unit. */
static uint64_t updates_numbered(const trainer *t)
{
	uint64_t v = model_updates(t->m);
	return t->cfg->model.method == MODEL_SYNC ? v * (uint64_t)t->cfg->model.workers : v;
}

/* ---- stopping ---- */

/* Returns 1 for the caller that stopped the run, which then writes stop_detail. */
static int request_stop(trainer *t, int why)
{
	int expected = RUNNING;
	/* relaxed: the detail is read only after the workers are joined. */
	return atomic_compare_exchange_strong_explicit(&t->stop, &expected, why, memory_order_relaxed,
						       memory_order_relaxed);
}

/* ---- one worker ---- */

static void phase(worker *w, train_phase p)
{
	const train_hooks *h = &w->t->cfg->hooks;
	if (h->phase)
		h->phase(h->arg, w->id, p);
}

static void shuffle(worker *w)
{
	size_t n = w->t->cfg->train->count;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rng_below(&w->rng, (uint32_t)(i + 1));
		uint32_t tmp = w->perm[i];
		w->perm[i] = w->perm[j];
		w->perm[j] = tmp;
	}
	w->perm_pos = 0;
}

static void next_batch(worker *w)
{
	const dataset *d = w->t->cfg->train;
	int batch = w->t->cfg->batch;
	for (int i = 0; i < batch; i++) {
		if (w->perm_pos == d->count)
			shuffle(w);
		w->idx[i] = w->perm[w->perm_pos++];
	}
	dataset_gather(d, w->idx, batch, w->x, w->y);
}

static size_t batch_floats(const train_config *c)
{
	return (size_t)c->batch * (size_t)c->train->features;
}

/* The batch and the gradient, touched at every update: the model's private memory (on this
 * worker's node under the harness's placement). */
static float *worker_floats(worker *w, size_t n)
{
	return memory_private(w->t->cfg->model.memory, n * sizeof(float), w->id);
}

static void worker_floats_free(worker *w, float *p, size_t n)
{
	memory_free(w->t->cfg->model.memory, p, n * sizeof(float));
}

static int worker_setup(worker *w)
{
	const train_config *c = w->t->cfg;
	size_t n = c->train->count;
	w->perm = malloc(n * sizeof(*w->perm));
	w->idx = malloc((size_t)c->batch * sizeof(*w->idx));
	w->x = worker_floats(w, batch_floats(c));
	w->y = malloc((size_t)c->batch);
	w->grad = worker_floats(w, w->t->nparams);
	w->slices = calloc(w->t->nslices, sizeof(*w->slices));
	w->ws = net_ws_create(c->net, c->batch);
	if (!w->perm || !w->idx || !w->x || !w->y || !w->grad || !w->slices || !w->ws)
		return -1;
	for (size_t i = 0; i < n; i++)
		w->perm[i] = (uint32_t)i;
	w->rng = c->seed * 0x2545f4914f6cdd1du + (uint64_t)w->id + 1;
	shuffle(w);
	return 0;
}

static void worker_teardown(worker *w)
{
	free(w->perm);
	free(w->idx);
	worker_floats_free(w, w->x, batch_floats(w->t->cfg));
	free(w->y);
	worker_floats_free(w, w->grad, w->t->nparams);
	net_ws_destroy(w->ws);
}

/* Epoch e's snapshot, or NULL when e is not one of the evaluated epochs. */
static float *snapshot_of(const trainer *t, uint64_t e)
{
	if ((e + 1) % t->eval_stride != 0 && e + 1 != t->nepochs)
		return NULL;
	return t->snapshots + e / t->eval_stride * t->nparams;
}

static void take_snapshots(worker *w, const float *params)
{
	trainer *t = w->t;
	for (uint64_t e = w->snap_from; e < w->snap_to; e++) {
		float *snap = snapshot_of(t, e);
		if (snap)
			memcpy(snap, params, t->nparams * sizeof(float));
		t->snap_taken[e] = 1;
	}
	w->snap_from = w->snap_to = 0;
}

/* Records the end of every slice that update `number` completes, once: the worker whose CAS
 * moves `closed` past a slice writes its end time, and takes the snapshots of the epochs it
 * ends at its next read. */
static void close_slices(worker *w, uint64_t number)
{
	trainer *t = w->t;
	uint64_t target = slices_complete(t, number + 1);
	/* relaxed: `closed` only elects one writer per slice; what it writes is read after join. */
	uint64_t cur = atomic_load_explicit(&t->closed, memory_order_relaxed);
	while (cur < target) {
		if (!atomic_compare_exchange_weak_explicit(&t->closed, &cur, target,
							   memory_order_relaxed, memory_order_relaxed))
			continue;
		uint64_t end = now_ns();
		for (uint64_t j = cur; j < target; j++) {
			t->slice_end_ns[j] = end;
			if ((j + 1) % t->per_epoch == 0 || j + 1 == t->nslices) {
				uint64_t e = j / t->per_epoch;
				if (w->snap_to == 0)
					w->snap_from = e;
				w->snap_to = e + 1;
			}
		}
		return;
	}
}

static void account(worker *w, uint64_t number, float loss)
{
	trainer *t = w->t;
	if (number < t->total) {
		loss_acc *a = &w->slices[slice_of(t, number)];
		a->sum += loss;
		a->n++;
	}
	double ema = atomic_load_explicit(&w->ema, memory_order_relaxed);
	ema += (loss - ema) * EMA_WEIGHT;
	/* relaxed: only the progress line reads it, and any recent value will do. */
	atomic_store_explicit(&w->ema, ema, memory_order_relaxed);
	if (!isfinite(loss) && request_stop(t, STOP_DIVERGED))
		snprintf(t->stop_detail, sizeof(t->stop_detail), "batch loss %g at update %llu",
			 (double)loss, (unsigned long long)number);
	else if (ema > t->diverge_limit && request_stop(t, STOP_DIVERGED))
		snprintf(t->stop_detail, sizeof(t->stop_detail),
			 "moving-average batch loss %g above %g (the divergence limit) at update %llu",
			 ema, t->diverge_limit, (unsigned long long)number);
}

static void worker_loop(worker *w, model_worker *mw)
{
	trainer *t = w->t;
	const train_config *c = t->cfg;
	for (;;) {
		/* relaxed: stopping one update late is fine. */
		if (atomic_load_explicit(&t->stop, memory_order_relaxed) != RUNNING)
			break;
		phase(w, TRAIN_PHASE_READ);
		uint64_t version;
		const float *params = model_read(mw, &version);
		phase(w, TRAIN_PHASE_GRADIENT);
		if (w->snap_to)
			take_snapshots(w, params);
		next_batch(w);
		float loss = net_loss_grad(c->net, w->ws, params, w->x, w->y, c->batch, w->grad);
		phase(w, TRAIN_PHASE_APPLY);
		model_update u;
		model_apply(mw, w->grad, c->eta, &u);
		phase(w, TRAIN_PHASE_OTHER);
		if (!u.applied)
			continue;
		uint64_t number = update_number(t, w->id, version, u.tau);
		if (c->abort_at_update && number + 1 >= c->abort_at_update)
			abort(); /* test hook: a run that crashes */
		while (c->hang_at_update && number + 1 >= c->hang_at_update)
			pause(); /* test hook: a run that hangs */
		step_policy_observe(t->step, u.tau);
		account(w, number, loss);
		close_slices(w, number);
		if (number + 1 >= t->total)
			request_stop(t, STOP_BUDGET);
	}
}

/* Counts `counter` up under the lock and wakes whoever waits for it. */
static void count_in(trainer *t, int *counter)
{
	pthread_mutex_lock(&t->lock);
	(*counter)++;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static int wait_gate(trainer *t)
{
	pthread_mutex_lock(&t->lock);
	while (t->gate == 0)
		pthread_cond_wait(&t->cond, &t->lock);
	int go = t->gate > 0;
	pthread_mutex_unlock(&t->lock);
	return go;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	trainer *t = w->t;
	const train_hooks *h = &t->cfg->hooks;
	if (h->worker_start)
		h->worker_start(h->arg, w->id);
	model_worker *mw = NULL;
	if (worker_setup(w) == 0)
		mw = model_join(t->m, w->id, t->cfg->seed + (uint64_t)w->id);
	w->failed = mw == NULL;
	count_in(t, &t->ready);
	if (mw) {
		if (wait_gate(t))
			worker_loop(w, mw);
		w->stats = *model_worker_stats(mw);
		model_leave(mw);
	}
	w->cpu = sched_getcpu();
	worker_teardown(w);
	if (h->worker_stop)
		h->worker_stop(h->arg, w->id);
	count_in(t, &t->done);
	return NULL;
}

/* ---- before and after the run ---- */

/* Mean loss (and accuracy) of params over examples idx[0..n) of d. */
static double evaluate(const train_config *c, net_ws *ws, const float *params, const dataset *d,
		       const size_t *idx, size_t n, double *accuracy)
{
	float *x = malloc((size_t)EVAL_BATCH * (size_t)d->features * sizeof(*x));
	uint8_t *y = malloc(EVAL_BATCH);
	double loss = NAN;
	if (x && y) {
		double sum = 0.0;
		long correct = 0;
		for (size_t i = 0; i < n; i += EVAL_BATCH) {
			int b = (int)(n - i < EVAL_BATCH ? n - i : EVAL_BATCH);
			int ok = 0;
			dataset_gather(d, idx + i, b, x, y);
			sum += (double)net_loss(c->net, ws, params, x, y, b, &ok) * b;
			correct += ok;
		}
		loss = sum / (double)n;
		if (accuracy)
			*accuracy = (double)correct / (double)n;
	}
	free(x);
	free(y);
	return loss;
}

/* idx := n examples evenly spaced through d (all of them if n >= count). */
static size_t spread_sample(const dataset *d, size_t n, size_t *idx)
{
	if (n > d->count)
		n = d->count;
	for (size_t i = 0; i < n; i++)
		idx[i] = i * d->count / n;
	return n;
}

static int initial_loss(trainer *t, const float *params, net_ws *ws, char *err, size_t errlen)
{
	const dataset *d = t->cfg->train;
	size_t *idx = malloc(TRAIN_INITIAL_SAMPLE * sizeof(*idx));
	if (!idx) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t n = spread_sample(d, TRAIN_INITIAL_SAMPLE, idx);
	t->initial_loss = evaluate(t->cfg, ws, params, d, idx, n, NULL);
	free(idx);
	if (!isfinite(t->initial_loss)) {
		snprintf(err, errlen, "the initial loss is not finite (%g)", t->initial_loss);
		return -1;
	}
	return 0;
}

static double seconds(const trainer *t, uint64_t ns)
{
	return (double)(ns - t->start_ns) * 1e-9;
}

static double mean_loss(const loss_acc *sl, uint64_t from, uint64_t to, uint64_t *count)
{
	double sum = 0.0;
	uint64_t n = 0;
	for (uint64_t j = from; j < to; j++) {
		sum += sl[j].sum;
		n += sl[j].n;
	}
	*count = n;
	return n && isfinite(sum) ? sum / (double)n : NAN;
}

static void build_epochs(trainer *t, train_result *r, const loss_acc *sl, net_ws *ws)
{
	const train_config *c = t->cfg;
	uint64_t closed = atomic_load_explicit(&t->closed, memory_order_relaxed);
	uint64_t n = epochs_complete(t, closed);
	size_t *all = NULL;
	if (c->test) {
		all = malloc(c->test->count * sizeof(*all));
		if (all)
			spread_sample(c->test, c->test->count, all);
	}
	r->epochs = calloc(n ? n : 1, sizeof(*r->epochs));
	if (!r->epochs)
		return;
	double prev_s = 0.0;
	uint64_t prev_updates = 0;
	for (uint64_t e = 0; e < n; e++) {
		train_epoch *ep = &r->epochs[e];
		uint64_t cnt;
		ep->epoch = e + 1;
		uint64_t last = epoch_last_slice(t, e);
		ep->updates = updates_before_slice(t, last + 1);
		ep->wall_s = seconds(t, t->slice_end_ns[last]);
		ep->train_loss = mean_loss(sl, e * t->per_epoch, last + 1, &cnt);
		ep->updates_per_s = ep->wall_s > prev_s
					    ? (double)(ep->updates - prev_updates) / (ep->wall_s - prev_s)
					    : NAN;
		prev_s = ep->wall_s;
		prev_updates = ep->updates;
		ep->test_loss = ep->test_accuracy = NAN;
		const float *snap = snapshot_of(t, e);
		if (all && snap)
			ep->test_loss = evaluate(c, ws, snap, c->test, all, c->test->count, &ep->test_accuracy);
	}
	r->nepochs = n;
	free(all);
}

/* The curve: closed slices merged into at most TRAIN_CURVE_POINTS points, and what the run did
 * after the last closed slice (a run stopped early) as one final point. */
static void build_curve(trainer *t, train_result *r, const loss_acc *sl, uint64_t end_ns,
			uint64_t end_updates)
{
	uint64_t closed = atomic_load_explicit(&t->closed, memory_order_relaxed);
	uint64_t group = closed > TRAIN_CURVE_POINTS ? (closed + TRAIN_CURVE_POINTS - 1) / TRAIN_CURVE_POINTS : 1;
	r->curve = calloc(closed / group + 2, sizeof(*r->curve));
	if (!r->curve)
		return;
	size_t n = 0;
	uint64_t cnt;
	for (uint64_t j = 0; j < closed; j += group) {
		uint64_t last = j + group < closed ? j + group : closed;
		train_point *p = &r->curve[n++];
		p->loss = mean_loss(sl, j, last, &cnt);
		p->updates = updates_before_slice(t, last);
		p->wall_s = seconds(t, t->slice_end_ns[last - 1]);
	}
	double rest = mean_loss(sl, closed, t->nslices, &cnt);
	if (cnt) {
		train_point *p = &r->curve[n++];
		p->loss = rest;
		p->updates = end_updates < t->total ? end_updates : t->total; /* in-flight ones are in no slice */
		p->wall_s = seconds(t, end_ns);
	}
	r->ncurve = n;
}

static void build_targets(trainer *t, train_result *r)
{
	const train_config *c = t->cfg;
	r->ntargets = c->ntargets;
	for (int i = 0; i < c->ntargets; i++) {
		train_target *g = &r->targets[i];
		g->fraction = c->targets[i];
		g->loss = c->targets[i] * t->initial_loss;
		g->reached = 0;
		for (size_t e = 0; e < r->nepochs && !g->reached; e++) {
			if (r->epochs[e].train_loss <= g->loss) {
				g->reached = 1;
				g->wall_s = r->epochs[e].wall_s;
				g->updates = r->epochs[e].updates;
			}
		}
	}
}

static void decide_outcome(trainer *t, train_result *r, uint64_t end_updates)
{
	int why = atomic_load_explicit(&t->stop, memory_order_relaxed);
	int missing = 0;
	for (int i = 0; i < r->ntargets; i++)
		missing += !r->targets[i].reached;
	if (why == STOP_DIVERGED) {
		r->outcome = TRAIN_DIVERGED;
		snprintf(r->detail, sizeof(r->detail), "%s", t->stop_detail);
		return;
	}
	/* With no targets, converged means the whole budget ran without diverging. */
	int cut_short = why == STOP_TIME && r->ntargets == 0;
	r->outcome = missing || cut_short ? TRAIN_NOT_CONVERGED : TRAIN_CONVERGED;
	if (why == STOP_TIME)
		snprintf(r->detail, sizeof(r->detail), "%s", t->stop_detail);
	else if (missing)
		snprintf(r->detail, sizeof(r->detail), "%d of %d targets not reached in %llu updates",
			 missing, r->ntargets, (unsigned long long)end_updates);
}

static void collect(trainer *t, train_result *r, uint64_t end_ns, net_ws *ws)
{
	const train_config *c = t->cfg;
	int n = c->model.workers;
	loss_acc *sl = calloc(t->nslices, sizeof(*sl));
	r->threads = calloc((size_t)n, sizeof(*r->threads));
	r->nthreads = r->threads ? n : 0;
	for (int i = 0; i < n; i++) {
		worker *w = &t->workers[i];
		for (uint64_t j = 0; sl && j < t->nslices; j++) {
			sl[j].sum += w->slices[j].sum;
			sl[j].n += w->slices[j].n;
		}
		model_stats_add(&r->stats, &w->stats);
		if (r->threads) {
			r->threads[i].applied = w->stats.applied;
			r->threads[i].cpu = w->cpu;
		}
	}
	uint64_t end_updates = updates_numbered(t);
	/* A worker can be preempted between winning a slice and reading the clock, so a later
	 * slice may carry an earlier time: a slice ends no earlier than the one before it. */
	uint64_t closed = atomic_load_explicit(&t->closed, memory_order_relaxed);
	for (uint64_t j = 1; j < closed; j++)
		if (t->slice_end_ns[j] < t->slice_end_ns[j - 1])
			t->slice_end_ns[j] = t->slice_end_ns[j - 1];
	/* Epochs closed but whose closer never read again: θ as the run left it. */
	uint64_t closed_epochs = epochs_complete(t, closed);
	float *final = NULL;
	for (uint64_t e = 0; e < closed_epochs; e++) {
		float *snap = snapshot_of(t, e);
		if (t->snap_taken[e] || !snap)
			continue;
		if (!final) {
			final = snap;
			model_snapshot(t->m, final);
		} else {
			memcpy(snap, final, t->nparams * sizeof(float));
		}
	}
	r->initial_loss = t->initial_loss;
	r->steps_per_epoch = t->spe;
	r->budget = t->total;
	r->epochs_planned = t->nepochs;
	r->applied = r->stats.applied;
	r->dropped = r->stats.dropped;
	r->wall_s = seconds(t, end_ns);
	r->updates_per_s = r->wall_s > 0 ? (double)r->applied / r->wall_s : NAN;
	r->peak_live_vectors = model_live_vectors_peak(t->m);
	if (sl) {
		build_epochs(t, r, sl, ws);
		build_curve(t, r, sl, end_ns, end_updates);
	}
	build_targets(t, r);
	decide_outcome(t, r, end_updates);
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		r->peak_rss_bytes = (uint64_t)ru.ru_maxrss * 1024u;
	free(sl);
}

/* ---- the run ---- */

static int check_config(const train_config *c, char *err, size_t errlen)
{
	const char *bad = NULL;
	if (!c->net || !c->train)
		bad = "a network and a training set are required";
	else if (c->model.workers < 1)
		bad = "threads must be at least 1";
	else if (c->batch < 1)
		bad = "batch must be at least 1";
	else if (c->train->count == 0 || c->train->count > UINT32_MAX)
		bad = "the training set must hold between 1 and 2^32 - 1 examples";
	else if (!(c->eta > 0.0f) || !isfinite(c->eta))
		bad = "eta must be a positive number";
	else if (c->epochs < 1 && c->max_steps == 0)
		bad = "epochs (or the step budget) must be at least 1";
	else if (c->ntargets < 0 || c->ntargets > TRAIN_MAX_TARGETS)
		bad = "too many targets";
	else if (c->time_limit_s < 0)
		bad = "the time limit must not be negative";
	if (bad)
		snprintf(err, errlen, "%s", bad);
	return bad ? -1 : 0;
}

void train_budget(uint64_t epochs, uint64_t max_steps, uint64_t steps_per_epoch, int batch,
		  size_t examples, uint64_t *spe, uint64_t *nepochs)
{
	*spe = steps_per_epoch ? steps_per_epoch : examples / (size_t)batch;
	if (*spe == 0)
		*spe = 1;
	*nepochs = max_steps ? (max_steps + *spe - 1) / *spe : epochs;
}

size_t train_bytes_per_epoch(int workers)
{
	/* A slice per epoch at least (fewer epochs than TRAIN_CURVE_POINTS get more, a bounded few). */
	size_t per_slice = ((size_t)workers + 1) * sizeof(loss_acc) + sizeof(uint64_t);
	return per_slice + sizeof(uint8_t) + sizeof(train_epoch);
}

static int setup(trainer *t, const train_config *c, net_ws *ws, char *err, size_t errlen)
{
	t->cfg = c;
	t->nparams = net_param_count(c->net);
	train_budget(c->epochs, c->max_steps, c->steps_per_epoch, c->batch, c->train->count, &t->spe,
		     &t->nepochs);
	t->total = c->max_steps ? c->max_steps : c->epochs * t->spe;
	uint64_t want = (TRAIN_CURVE_POINTS + t->nepochs - 1) / t->nepochs;
	t->per_epoch = want < t->spe ? want : t->spe;
	t->nslices = slice_of(t, t->total - 1) + 1;
	t->slice_end_ns = calloc(t->nslices, sizeof(*t->slice_end_ns));
	t->snap_taken = calloc(t->nepochs, 1);
	t->eval_stride = (t->nepochs + TRAIN_EVAL_POINTS - 1) / TRAIN_EVAL_POINTS;
	size_t snap_bytes = (t->nepochs + t->eval_stride - 1) / t->eval_stride * t->nparams * sizeof(float);
	t->snapshots = malloc(snap_bytes);
	if (t->snapshots) /* touched now, so that no worker takes these page faults in its update */
		memset(t->snapshots, 0, snap_bytes);
	size_t wbytes = (size_t)c->model.workers * sizeof(*t->workers);
	t->workers = aligned_alloc(CACHELINE_PAD, wbytes); /* sizeof is a multiple of the pad */
	if (t->workers)
		memset(t->workers, 0, wbytes);
	t->step = step_policy_create(&c->step, c->model.workers);
	if (!t->slice_end_ns || !t->snap_taken || !t->snapshots || !t->workers || !t->step) {
		snprintf(err, errlen, "out of memory for %llu epochs of %zu parameters",
			 (unsigned long long)t->nepochs, t->nparams);
		return -1;
	}
	float *init = c->hooks.alloc_params ? c->hooks.alloc_params(c->hooks.arg, t->nparams)
					    : malloc(t->nparams * sizeof(float));
	if (!init) {
		snprintf(err, errlen, "out of memory for %zu parameters", t->nparams);
		return -1;
	}
	net_init_params(c->net, init, c->seed);
	int rc = initial_loss(t, init, ws, err, errlen);
	if (rc == 0) {
		model_config mc = c->model;
		mc.step_scale = c->step.kind == STEP_NONE ? NULL : step_policy_scale;
		mc.step_scale_arg = t->step;
		t->m = model_create(&mc, t->nparams, init, err, errlen);
		rc = t->m ? 0 : -1;
	}
	if (c->hooks.free_params)
		c->hooks.free_params(c->hooks.arg, init, t->nparams);
	else if (!c->hooks.alloc_params)
		free(init);
	t->diverge_limit = (c->diverge_factor > 0 ? c->diverge_factor : DEFAULT_DIVERGE_FACTOR) *
			   t->initial_loss;
	return rc;
}

static void teardown(trainer *t)
{
	if (t->m)
		model_destroy(t->m);
	if (t->workers)
		for (int i = 0; i < t->cfg->model.workers; i++)
			free(t->workers[i].slices);
	free(t->workers);
	free(t->slice_end_ns);
	free(t->snap_taken);
	free(t->snapshots);
	step_policy_destroy(t->step);
}

static double mean_ema(trainer *t)
{
	double sum = 0.0;
	for (int i = 0; i < t->cfg->model.workers; i++)
		sum += atomic_load_explicit(&t->workers[i].ema, memory_order_relaxed);
	return sum / t->cfg->model.workers;
}

/* Waits for the workers, reporting progress and enforcing the time limit. */
static void supervise(trainer *t, int n)
{
	const train_config *c = t->cfg;
	double interval = c->progress_interval_s > 0 ? c->progress_interval_s : DEFAULT_PROGRESS_S;
	uint64_t limit_ns = c->time_limit_s > 0 ? t->start_ns + (uint64_t)(c->time_limit_s * 1e9) : 0;
	pthread_mutex_lock(&t->lock);
	while (t->done < n) {
		uint64_t wake = now_ns() + (uint64_t)(interval * 1e9);
		if (limit_ns && wake > limit_ns && now_ns() < limit_ns)
			wake = limit_ns;
		struct timespec ts = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
		pthread_cond_timedwait(&t->cond, &t->lock, &ts);
		if (t->done == n)
			break;
		pthread_mutex_unlock(&t->lock);
		uint64_t now = now_ns();
		if (limit_ns && now >= limit_ns && request_stop(t, STOP_TIME))
			snprintf(t->stop_detail, sizeof(t->stop_detail),
				 "time limit of %g s reached after %llu updates", c->time_limit_s,
				 (unsigned long long)updates_numbered(t));
		if (c->hooks.progress) {
			train_progress p = {
				.updates = updates_numbered(t),
				.total = t->total,
				.epochs = t->nepochs,
				.epoch = epochs_complete(
					t, atomic_load_explicit(&t->closed, memory_order_relaxed)),
				.elapsed_s = seconds(t, now),
				.loss = mean_ema(t),
			};
			c->hooks.progress(c->hooks.arg, &p);
		}
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
}

/* Starts the workers and opens the gate once they are all set up; returns how many started,
 * or -1 after cancelling them if any could not start or set up. */
static int start_workers(trainer *t, char *err, size_t errlen)
{
	int n = t->cfg->model.workers, started = 0, failed = 0;
	for (; started < n; started++) {
		worker *w = &t->workers[started];
		w->t = t;
		w->id = started;
		w->cpu = -1;
		atomic_init(&w->ema, t->initial_loss);
		int rc = pthread_create(&w->thread, NULL, worker_main, w);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start worker %d: %s", started, strerror(rc));
			failed = 1;
			break;
		}
	}
	pthread_mutex_lock(&t->lock);
	while (t->ready < started)
		pthread_cond_wait(&t->cond, &t->lock);
	for (int i = 0; i < started && !failed; i++)
		if (t->workers[i].failed) {
			snprintf(err, errlen, "worker %d: out of memory", i);
			failed = 1;
		}
	t->start_ns = now_ns();
	t->gate = failed ? -1 : 1;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	return failed ? -1 : started;
}

static void run_workers(trainer *t, train_result *r, net_ws *ws, char *err, size_t errlen, int *rc)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&t->lock, NULL);
	int started = start_workers(t, err, errlen);
	int n = started < 0 ? t->ready : started;
	uint64_t end_ns = t->start_ns;
	if (started > 0) {
		supervise(t, n);
		end_ns = now_ns();
	}
	for (int i = 0; i < n; i++)
		pthread_join(t->workers[i].thread, NULL);
	if (started > 0)
		collect(t, r, end_ns, ws);
	else
		*rc = -1;
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
}

int train_run(const train_config *c, train_result *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (check_config(c, err, errlen) != 0)
		return -1;
	trainer t;
	memset(&t, 0, sizeof(t));
	int eval_batch = c->batch > EVAL_BATCH ? c->batch : EVAL_BATCH;
	net_ws *ws = net_ws_create(c->net, eval_batch);
	int rc = -1;
	if (!ws)
		snprintf(err, errlen, "out of memory for the evaluation workspace");
	else
		rc = setup(&t, c, ws, err, errlen);
	if (rc == 0)
		run_workers(&t, r, ws, err, errlen, &rc);
	if (rc == 0 && c->hooks.model_done)
		c->hooks.model_done(c->hooks.arg, t.m);
	teardown(&t);
	net_ws_destroy(ws);
	if (rc != 0)
		train_result_free(r);
	return rc;
}

void train_result_free(train_result *r)
{
	free(r->epochs);
	free(r->curve);
	free(r->threads);
	r->epochs = NULL;
	r->curve = NULL;
	r->threads = NULL;
	r->nepochs = r->ncurve = 0;
	r->nthreads = 0;
}
