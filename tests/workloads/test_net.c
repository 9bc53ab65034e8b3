/* Whole networks: spec validation, parameter layout, and for every architecture the BLAS loss
 * and gradient equal the double-precision reference and match central differences. */

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "numeric.h"
#include "reference.h"
#include "workloads/layers.h"
#include "workloads/net.h"

static void check_rejected(const char *spec, int inputs, const char *expect)
{
	char err[256] = "";
	net *n = net_create(spec, inputs, 10, err, sizeof(err));

	CHECK(!n, "'%s' with %d inputs was accepted", spec, inputs);
	CHECK(strstr(err, expect), "'%s': message '%s' lacks '%s'", spec, err, expect);
}

static void check_specs(void)
{
	check_rejected("mlp:0x128", 784, "hidden layers L must be 1..16");
	check_rejected("mlp:17x128", 784, "hidden layers L must be 1..16");
	check_rejected("mlp:3x0", 784, "units per layer U must be 1..16384");
	check_rejected("mlp:3x", 784, "expected mlp:LxU");
	check_rejected("mlp:axb", 784, "expected mlp:LxU");
	check_rejected("mlp:3x128x", 784, "expected mlp:LxU");
	check_rejected("mlp:-3x128", 784, "expected mlp:LxU");
	check_rejected("mlp", 784, "unknown net 'mlp'");
	check_rejected("resnet", 784, "unknown net 'resnet': use mlp:LxU");
	check_rejected("cnn", 783, "needs square images");
	check_rejected("lenet", 100, "at least 12x12");

	char err[256];

	CHECK(!net_create("mlp:1x8", 784, 1, err, sizeof(err)) && strstr(err, "classes 2..256"),
	      "one class accepted: %s", err);
}

typedef struct {
	const char *spec;
	size_t params;  /* documented in the report: weights then biases per layer */
	int layers;
	double flops;   /* per example, forward + backward GEMMs */
} arch;

static const arch archs[] = {
	/* 784x128+128, 128x128+128 twice, 128x10+10 */
	{ "mlp:3x128", 100480 + 2 * 16512 + 1290, 4,
	  2.0 * (100352 + 16384 + 16384 + 1280) * 2 + 2.0 * (16384 + 16384 + 1280) },
	/* conv 4x(3x3x1)+4, conv 8x(3x3x4)+8, fc 392x128+128, fc 128x10+10 */
	{ "cnn", 40 + 296 + 50304 + 1290, 6,
	  2.0 * (784 * 4 * 9) * 2 + 2.0 * (196 * 8 * 36) * 3 + 2.0 * (392 * 128 + 1280) * 3 },
	/* conv 6x(5x5x1)+6, conv 16x(5x5x6)+16, fc 400x120+120, fc 120x10+10 */
	{ "lenet", 156 + 2416 + 48120 + 1210, 6,
	  2.0 * (784 * 6 * 25) * 2 + 2.0 * (100 * 16 * 150) * 3 + 2.0 * (400 * 120 + 1200) * 3 },
};

/* Layers tile the parameter vector: each one's weights, then its biases, then the next. */
static void check_layout(const net *n, const arch *a)
{
	int count;
	const layer *l = net_layers(n, &count);
	size_t next = 0;

	CHECK(net_param_count(n) == a->params, "%s: %zu parameters, expected %zu", a->spec,
	      net_param_count(n), a->params);
	CHECK(count == a->layers, "%s: %d layers", a->spec, count);
	CHECK(fabs(net_flops_per_example(n) - a->flops) < 1, "%s: %.0f flops, expected %.0f",
	      a->spec, net_flops_per_example(n), a->flops);
	for (int i = 0; i < count; i++) {
		size_t p = layer_param_count(&l[i]);

		CHECK(l[i].weights == next, "%s: layer %d starts at %zu, not %zu", a->spec, i,
		      l[i].weights, next);
		if (p)
			CHECK(l[i].biases + (size_t)l[i].out_c == next + p, "%s: layer %d biases",
			      a->spec, i);
		CHECK(i == 0 || layer_in_size(&l[i]) == layer_out_size(&l[i - 1]),
		      "%s: layer %d takes %zu, gets %zu", a->spec, i, layer_in_size(&l[i]),
		      layer_out_size(&l[i - 1]));
		next += p;
	}
	CHECK(layer_out_size(&l[count - 1]) == 10, "%s: %zu logits", a->spec,
	      layer_out_size(&l[count - 1]));
	CHECK(!strcmp(net_spec(n), a->spec), "spec '%s'", net_spec(n));
}

typedef struct {
	const net *n;
	net_ws *ws;
	float *params, *x;
	uint8_t *y;
	int batch;
} net_case;

/* The loss in double precision, without BLAS: central differences of it are exact enough to
 * check the float32 gradient entry by entry. */
static double ref_objective(void *ctx, uint64_t *pattern)
{
	net_case *c = ctx;

	return ref_net_loss_grad(c->n, c->params, c->x, c->y, c->batch, NULL, pattern);
}

static void check_arch(const arch *a)
{
	enum { BATCH = 3, INPUTS = 784 };
	char err[256];
	net *n = net_create(a->spec, INPUTS, 10, err, sizeof(err));
	uint64_t rng = 42;

	CHECK(n, "%s: %s", a->spec, err);
	check_layout(n, a);

	size_t np = net_param_count(n);
	net_case c = { n, net_ws_create(n, BATCH), malloc(np * sizeof(float)),
		       malloc(BATCH * INPUTS * sizeof(float)), malloc(BATCH), BATCH };
	float *grad = malloc(np * sizeof(float));
	double *ref = malloc(np * sizeof(double));
	int correct;

	net_init_params(n, c.params, 3);
	/* nonzero biases: no pre-activation sits exactly on a ReLU kink over a black background */
	int count;
	const layer *l = net_layers(n, &count);

	for (int i = 0; i < count; i++)
		if (layer_param_count(&l[i]))
			fill_uniform(c.params + l[i].biases, (size_t)l[i].out_c, &rng, -0.1, 0.1);
	fill_uniform(c.x, BATCH * INPUTS, &rng, 0, 1);
	for (int i = 0; i < BATCH; i++)
		c.y[i] = (uint8_t)(rng_next(&rng) % 10);

	float loss = net_loss_grad(n, c.ws, c.params, c.x, c.y, BATCH, grad);
	double ref_loss = ref_net_loss_grad(n, c.params, c.x, c.y, BATCH, ref, NULL);

	CHECK(fabs(loss - ref_loss) <= 1e-5 * ref_loss, "%s: loss %.8g, reference %.8g", a->spec,
	      loss, ref_loss);
	CHECK(normwise_error(grad, ref, np) <= REF_TOL, "%s: gradient differs by %.3g", a->spec,
	      normwise_error(grad, ref, np));
	CHECK(net_loss(n, c.ws, c.params, c.x, c.y, BATCH, &correct) == loss,
	      "%s: net_loss differs from net_loss_grad's loss", a->spec);
	CHECK(correct >= 0 && correct <= BATCH, "%s: %d correct", a->spec, correct);
	/* every parameter gets a gradient: none left over from an earlier call */
	memset(grad, 0x7f, np * sizeof(float));
	net_loss_grad(n, c.ws, c.params, c.x, c.y, BATCH, grad);
	CHECK(normwise_error(grad, ref, np) <= REF_TOL, "%s: gradient not fully overwritten",
	      a->spec);
	/* central differences on a random subset, and on every bias of every layer */
	objective o = { ref_objective, &c, 1 };

	gradient_check(a->spec, &o, &FD_DOUBLE, c.params, grad, np, 40, &rng);
	for (int i = 0; i < count; i++)
		if (layer_param_count(&l[i]))
			gradient_check(a->spec, &o, &FD_DOUBLE, c.params + l[i].biases,
				       grad + l[i].biases, (size_t)l[i].out_c, 6, &rng);

	/* deterministic initialisation per seed */
	float *again = malloc(np * sizeof(float));

	net_init_params(n, c.params, 5);
	net_init_params(n, again, 5);
	CHECK(!memcmp(c.params, again, np * sizeof(float)), "%s: init not deterministic", a->spec);
	net_init_params(n, again, 6);
	CHECK(memcmp(c.params, again, np * sizeof(float)), "%s: seeds 5 and 6 give the same init",
	      a->spec);
	free(again), free(grad), free(ref), free(c.params), free(c.x), free(c.y);
	net_ws_destroy(c.ws);
	net_destroy(n);
}

int main(void)
{
	check_specs();
	for (size_t i = 0; i < sizeof(archs) / sizeof(archs[0]); i++)
		check_arch(&archs[i]);
	CHECK_DONE();
}
