/* Every layer type on its own: the BLAS kernels equal the double-precision reference, and their
 * analytic gradients match central differences (dense, conv, pool, ReLU, softmax-xent). */

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "numeric.h"
#include "reference.h"
#include "workloads/layers.h"

typedef struct {
	layer l;
	int batch;
	size_t nin, nout, nparams;
	float *params, *x, *r, *y, *cols;
	uint8_t *arg;
} layer_case;

/* L = sum r . layer(x): its gradient with respect to the output is r. */
static double layer_objective(void *ctx, uint64_t *pattern)
{
	layer_case *c = ctx;
	double sum = 0;

	(void)pattern;
	layer_forward(&c->l, c->params, c->x, c->batch, c->y, c->cols, c->arg);
	for (size_t i = 0; i < c->nout; i++)
		sum += (double)c->r[i] * c->y[i];
	return sum;
}

/* Pool inputs: distinct values at least 0.05 apart, so that no step of FD_FLOAT changes which
 * input wins a window. */
static void fill_distinct(float *v, size_t n, uint64_t *rng)
{
	for (size_t i = 0; i < n; i++)
		v[i] = 0.05f * (float)i - 0.025f * (float)n;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rng_next(rng) % (i + 1);
		float t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
}

/* fd: also check against central differences (the layer must then be smooth near x: no ReLU). */
static void check_layer(const char *what, layer l, int batch, int fd, uint64_t seed)
{
	uint64_t rng = seed;
	layer_case c = { .l = l, .batch = batch };
	size_t cols = layer_cols_floats(&l);

	c.nin = (size_t)batch * layer_in_size(&l);
	c.nout = (size_t)batch * layer_out_size(&l);
	c.nparams = layer_param_count(&l);
	c.params = malloc((c.nparams + 1) * sizeof(float));
	c.x = malloc(c.nin * sizeof(float));
	c.r = malloc(c.nout * sizeof(float));
	c.y = malloc(c.nout * sizeof(float));
	c.cols = malloc((2 * cols + 1) * sizeof(float));
	c.arg = malloc(c.nout);
	fill_uniform(c.params, c.nparams, &rng, -0.5, 0.5);
	if (l.kind == LAYER_POOL)
		fill_distinct(c.x, c.nin, &rng);
	else
		fill_uniform(c.x, c.nin, &rng, -1, 1);
	fill_uniform(c.r, c.nout, &rng, -1, 1);

	/* forward and backward against the reference */
	double *xd = malloc(c.nin * sizeof(double)), *yd = malloc(c.nout * sizeof(double));
	double *dyd = malloc(c.nout * sizeof(double)), *dxd = malloc(c.nin * sizeof(double));
	double *gd = malloc((c.nparams + 1) * sizeof(double));
	float *dy = malloc(c.nout * sizeof(float)), *dx = malloc(c.nin * sizeof(float));
	float *grad = malloc((c.nparams + 1) * sizeof(float));

	to_double(c.x, c.nin, xd);
	ref_forward(&l, c.params, xd, batch, yd);
	layer_forward(&l, c.params, c.x, batch, c.y, c.cols, c.arg);
	CHECK(normwise_error(c.y, yd, c.nout) <= REF_TOL,
	      "%s: forward differs from the reference by %.3g", what,
	      normwise_error(c.y, yd, c.nout));
	memcpy(dy, c.r, c.nout * sizeof(float));
	to_double(c.r, c.nout, dyd);
	ref_backward(&l, c.params, xd, yd, dyd, batch, gd, dxd);
	layer_backward(&l, c.params, c.x, c.y, dy, c.arg, batch, grad, dx, c.cols);
	CHECK(normwise_error(dx, dxd, c.nin) <= REF_TOL, "%s: input gradient differs by %.3g", what,
	      normwise_error(dx, dxd, c.nin));
	CHECK(normwise_error(grad, gd, c.nparams) <= REF_TOL,
	      "%s: parameter gradient differs by %.3g", what, normwise_error(grad, gd, c.nparams));
	if (fd) {
		objective o = { layer_objective, &c, 0 };

		gradient_check(what, &o, &FD_FLOAT, c.x, dx, c.nin, 60, &rng);
		if (c.nparams)
			gradient_check(what, &o, &FD_FLOAT, c.params, grad, c.nparams, 60, &rng);
	}
	free(xd), free(yd), free(dyd), free(dxd), free(gd), free(dy), free(dx), free(grad);
	free(c.params), free(c.x), free(c.r), free(c.y), free(c.cols), free(c.arg);
}

typedef struct {
	float *x, *y, *r;
	size_t n;
} relu_case;

static double relu_objective(void *ctx, uint64_t *pattern)
{
	relu_case *c = ctx;
	double sum = 0;

	(void)pattern;
	memcpy(c->y, c->x, c->n * sizeof(float));
	relu_forward(c->y, c->n);
	for (size_t i = 0; i < c->n; i++)
		sum += (double)c->r[i] * c->y[i];
	return sum;
}

static void check_relu(void)
{
	enum { N = 200 };
	float x[N], y[N], r[N], dy[N];
	uint64_t rng = 7;
	relu_case c = { x, y, r, N };

	/* |x| >= 0.05 > FD_FLOAT.step: no difference straddles the kink */
	for (int i = 0; i < N; i++)
		x[i] = (float)((0.05 + rng_uniform(&rng)) * (i % 2 ? 1 : -1));
	fill_uniform(r, N, &rng, -1, 1);
	relu_objective(&c, NULL);
	for (int i = 0; i < N; i++)
		CHECK(y[i] == (x[i] > 0 ? x[i] : 0), "relu(%g) = %g", x[i], y[i]);
	memcpy(dy, r, sizeof(dy));
	relu_backward(y, dy, N);
	gradient_check("relu", &(objective){ relu_objective, &c, 0 }, &FD_FLOAT, x, dy, N, N,
		       &rng);
}

typedef struct {
	float *z;
	uint8_t *labels;
	int batch, classes;
} xent_case;

static double xent_objective(void *ctx, uint64_t *pattern)
{
	xent_case *c = ctx;

	(void)pattern;
	return softmax_xent(c->z, c->labels, c->batch, c->classes, NULL, NULL);
}

static void check_softmax_xent(void)
{
	enum { B = 4, K = 10 };
	float z[B * K], dz[B * K], shifted[B * K];
	double zd[B * K], dzd[B * K];
	uint8_t labels[B] = { 3, 0, 9, 3 };
	uint64_t rng = 11;
	xent_case c = { z, labels, B, K };
	int correct;

	fill_uniform(z, B * K, &rng, -3, 3);
	to_double(z, B * K, zd);
	float loss = softmax_xent(z, labels, B, K, dz, &correct);
	double ref = ref_softmax_xent(zd, labels, B, K, dzd);

	CHECK(fabs(loss - ref) <= 1e-6 * ref, "softmax-xent %.8g, reference %.8g", loss, ref);
	CHECK(normwise_error(dz, dzd, B * K) <= REF_TOL, "softmax-xent gradient differs by %.3g",
	      normwise_error(dz, dzd, B * K));
	int expect = 0;

	for (int i = 0; i < B; i++) {
		int best = 0;

		for (int j = 1; j < K; j++)
			best = z[i * K + j] > z[i * K + best] ? j : best;
		expect += best == labels[i];
	}
	CHECK(correct == expect, "%d correct, expected %d", correct, expect);
	gradient_check("softmax-xent", &(objective){ xent_objective, &c, 0 }, &FD_FLOAT, z, dz,
		       B * K, B * K, &rng);

	/* stable: shifting every logit by 1000 changes nothing, huge spreads stay finite */
	for (int i = 0; i < B * K; i++)
		shifted[i] = z[i] + 1000.0f;
	float loss_shifted = softmax_xent(shifted, labels, B, K, NULL, NULL);

	CHECK(fabs(loss_shifted - loss) <= 1e-3 * loss, "loss %g after a shift of 1000, %g before",
	      loss_shifted, loss);
	memset(shifted, 0, sizeof(shifted));
	shifted[0 * K + 3] = 1e4f; /* right and sure */
	shifted[1 * K + 5] = 1e4f; /* wrong and sure: loss 1e4 */
	float extreme = softmax_xent(shifted, labels, B, K, dz, NULL);

	CHECK(isfinite(extreme) && fabs(extreme - (1e4 + 2 * log(K)) / B) < 1,
	      "extreme logits: loss %g", extreme);
	for (int i = 0; i < B * K; i++)
		CHECK(isfinite(dz[i]), "extreme logits: gradient[%d] = %g", i, dz[i]);
}

int main(void)
{
	check_layer("dense", layer_make(LAYER_DENSE, 0, 1, 1, 13, 7, 0, 0, 0), 5, 1, 1);
	check_layer("dense+relu", layer_make(LAYER_DENSE, 1, 1, 1, 13, 7, 0, 0, 0), 5, 0, 2);
	check_layer("dense on an image", layer_make(LAYER_DENSE, 0, 4, 3, 2, 6, 0, 0, 0), 3, 1, 3);
	check_layer("conv 3x3 pad 1", layer_make(LAYER_CONV, 0, 6, 5, 3, 4, 3, 1, 0), 3, 1, 4);
	check_layer("conv 3x3 pad 1+relu", layer_make(LAYER_CONV, 1, 6, 5, 3, 4, 3, 1, 0), 3, 0, 5);
	check_layer("conv 3x3 pad 0", layer_make(LAYER_CONV, 0, 9, 7, 2, 3, 3, 0, 0), 2, 1, 6);
	/* 784 positions per image: several im2col chunks per batch, the last one partial */
	check_layer("conv 5x5 pad 2 28x28", layer_make(LAYER_CONV, 0, 28, 28, 1, 6, 5, 2, 0), 5, 1,
		    7);
	check_layer("pool", layer_make(LAYER_POOL, 0, 6, 8, 3, 0, 0, 0, 0), 2, 1, 8);
	check_layer("pool odd", layer_make(LAYER_POOL, 0, 5, 7, 2, 0, 0, 0, 0), 3, 1, 9);
	check_relu();
	check_softmax_xent();
	CHECK_DONE();
}
