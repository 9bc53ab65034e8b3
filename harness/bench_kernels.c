/* sgdsync-bench-kernels: how close one thread's gradient computation comes to BLAS, by
 * architecture and batch size.
 *
 * kernels/net:<spec>/batch:<B>/real_time
 *   every iteration computes net_loss_grad over B examples, then runs sgemm on exactly the
 *   shapes that computation used (each layer's forward, weight-gradient and input-gradient
 *   GEMMs, with their transposes; conv layers' im2col chunks), timing the two parts apart
 *   on the thread's CPU clock. Interleaving them, and leaving out time spent preempted, keeps
 *   the ratio honest on a loaded machine. Counters:
 *     grad_flop/s   net_flops_per_example x B / CPU seconds in net_loss_grad
 *     sgemm_flop/s  the same FLOPs / CPU seconds in the bare sgemm calls
 *     sgemm_fraction  grad_flop/s / sgemm_flop/s: what is left after ReLU, bias, softmax,
 *                   pooling, im2col and call overheads (target for mlp:3x128 at B = 512: >= 0.7)
 *     peak_fraction grad_flop/s / the core's FP32 peak (harness/peak.h, measured once at start
 *                   and recorded in the context as sgdsync_fp32_peak_flop/s and _isa): what a
 *                   slow BLAS core loses too, which sgemm_fraction cannot show (targets for
 *                   mlp:3x128: >= 0.6 at B = 512, >= 0.3 at B = 16)
 *   FLOPs are 2 x the GEMMs' multiply-adds; the elementwise work is not counted. One thread:
 *   a worker's kernel, measured alone. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>

#include "harness/bench.h"
#include "harness/peak.h"
#include "workloads/blas.h"
#include "workloads/blas_core.h"
#include "workloads/layers.h"
#include "workloads/net.h"
#include "workloads/rng.h"

#define KERNELS_INPUTS 784
#define KERNELS_CLASSES 10
#define KERNELS_MAX_GEMMS (3 * 32)

static double fp32_peak; /* flop/s, set before any benchmark runs */

typedef struct {
	net *n;
	net_ws *ws;
	float *params, *grad, *x;
	uint8_t *y;
	layer_gemm gemms[KERNELS_MAX_GEMMS];
	int ngemms;
	float *a, *b, *c; /* operands big enough for every shape */
} kernels_run;

/* This thread's CPU time: on a loaded machine, time spent preempted is no part of either. */
static double cpu_seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static float *random_floats(size_t n, uint64_t *rng)
{
	float *v = malloc((n ? n : 1) * sizeof(float));

	for (size_t i = 0; v && i < n; i++)
		v[i] = (float)(rng_uniform(rng) - 0.5);
	return v;
}

static void kernels_free(kernels_run *r)
{
	if (!r)
		return;
	net_ws_destroy(r->ws);
	net_destroy(r->n);
	free(r->params), free(r->grad), free(r->x), free(r->y), free(r->a), free(r->b), free(r->c);
	free(r);
}

static void kernels_teardown(bench_state *st)
{
	kernels_free(bench_state_shared(st));
}

/* The GEMM shapes one gradient runs, and operands for the largest of each role. */
static void collect_gemms(kernels_run *r, int batch, size_t *a, size_t *b, size_t *c)
{
	int count;
	const layer *layers = net_layers(r->n, &count);

	*a = *b = *c = 0;
	for (int i = 0; i < count; i++) {
		layer_gemm g[3];
		int k = layer_gemms(&layers[i], batch, i > 0, g);

		for (int j = 0; j < k && r->ngemms < KERNELS_MAX_GEMMS; j++) {
			size_t m = (size_t)g[j].m, n = (size_t)g[j].n, kk = (size_t)g[j].k;

			r->gemms[r->ngemms++] = g[j];
			*a = *a > m * kk ? *a : m * kk;
			*b = *b > kk * n ? *b : kk * n;
			*c = *c > m * n ? *c : m * n;
		}
	}
}

static void *kernels_setup(bench_state *st)
{
	const char *spec = bench_state_arg(st);
	int batch = (int)bench_state_range(st, 0);
	kernels_run *r = calloc(1, sizeof(*r));
	uint64_t rng = 1;
	char err[256];
	size_t na, nb, nc;

	if (!r || !(r->n = net_create(spec, KERNELS_INPUTS, KERNELS_CLASSES, err, sizeof(err)))) {
		bench_skip_with_error(st, r ? err : "out of memory");
		kernels_free(r);
		return NULL;
	}
	collect_gemms(r, batch, &na, &nb, &nc);
	r->ws = net_ws_create(r->n, batch);
	r->params = malloc(net_param_count(r->n) * sizeof(float));
	r->grad = malloc(net_param_count(r->n) * sizeof(float));
	r->x = random_floats((size_t)batch * KERNELS_INPUTS, &rng);
	r->y = malloc((size_t)batch);
	r->a = random_floats(na, &rng);
	r->b = random_floats(nb, &rng);
	r->c = random_floats(nc, &rng);
	if (!r->ws || !r->params || !r->grad || !r->x || !r->y || !r->a || !r->b || !r->c) {
		bench_skip_with_error(st, "out of memory");
		kernels_free(r);
		return NULL;
	}
	net_init_params(r->n, r->params, 1);
	for (int i = 0; i < batch; i++)
		r->y[i] = (uint8_t)rng_below(&rng, KERNELS_CLASSES);
	return r;
}

static void run_gemms(const kernels_run *r)
{
	for (int i = 0; i < r->ngemms; i++) {
		const layer_gemm *g = &r->gemms[i];

		for (int call = 0; call < g->calls; call++)
			cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
				    g->trans_b ? CblasTrans : CblasNoTrans, g->m, g->n, g->k, 1.0f,
				    r->a, g->trans_a ? g->m : g->k, r->b,
				    g->trans_b ? g->k : g->n, 0.0f, r->c, g->n);
	}
}

static void run_kernels(bench_state *st)
{
	kernels_run *r = bench_state_shared(st);
	int batch = (int)bench_state_range(st, 0);
	double grad_s = 0, gemm_s = 0;

	if (!r)
		return;
	BENCH_LOOP(st) {
		double t0 = cpu_seconds_now();

		net_loss_grad(r->n, r->ws, r->params, r->x, r->y, batch, r->grad);
		double t1 = cpu_seconds_now();

		run_gemms(r);
		double t2 = cpu_seconds_now();

		grad_s += t1 - t0;
		gemm_s += t2 - t1;
	}
	double flops = net_flops_per_example(r->n) * batch * (double)bench_state_iterations(st);

	bench_counter(st, "grad_flop/s", flops / grad_s, BENCH_AVG_THREADS);
	bench_counter(st, "sgemm_flop/s", flops / gemm_s, BENCH_AVG_THREADS);
	bench_counter(st, "sgemm_fraction", gemm_s / grad_s, BENCH_AVG_THREADS);
	bench_counter(st, "peak_fraction", flops / grad_s / fp32_peak, BENCH_AVG_THREADS);
}

static void record_peak(void)
{
	peak_fp32 peak = peak_fp32_measure();
	char text[32];

	fp32_peak = peak.flops;
	snprintf(text, sizeof text, "%.6g", peak.flops);
	bench_add_context("sgdsync_fp32_peak_flop/s", text);
	bench_add_context("sgdsync_fp32_peak_isa", peak.isa);
}

static void register_all(const bench_options *o)
{
	static const char *const specs[] = { "mlp:3x128", "cnn", "lenet" };
	char name[64];

	bench_environment_blas(blas_config());
	bench_environment_blas_core(blas_core_get());
	record_peak();
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		snprintf(name, sizeof(name), "kernels/net:%s", specs[i]);
		bench_family *b = bench_register(name, run_kernels, specs[i], 0);

		bench_setup(b, kernels_setup, kernels_teardown);
		bench_arg_names(b, "batch");
		if (o->full_grid)
			bench_args_product(b, BENCH_LIST(16, 32, 64, 128, 256, 512, 1024));
		else
			bench_args_product(b, BENCH_LIST(16, 128, 512, 1024));
		bench_threads(b, 1);
		bench_use_real_time(b);
		bench_unit(b, BENCH_US);
	}
}

int main(int argc, char **argv)
{
	return bench_main(argc, argv, register_all);
}
