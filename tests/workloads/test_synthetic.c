/* The synthetic data set: deterministic per seed, balanced, and learnable but not trivially:
 * plain SGD on mlp:3x128 halves the held-out loss within a few hundred updates, not within a
 * few dozen, and never reaches zero (5% of the labels are noise). */

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "workloads/dataset.h"
#include "workloads/net.h"
#include "workloads/rng.h"

enum { TRAIN = 4096, HELD_OUT = 1024, CLASSES = 10, SIDE = 28, BATCH = 32 };

static void check_deterministic(void)
{
	dataset a, b, c;

	CHECK(dataset_synthetic(&a, 3000, 12, 10, 7, 99) == 0, "synthetic 3000");
	CHECK(dataset_synthetic(&b, 3000, 12, 10, 7, 99) == 0, "synthetic 3000 again");
	CHECK(dataset_synthetic(&c, 3000, 12, 10, 7, 100) == 0, "synthetic, seed 100");
	CHECK(a.count == 3000 && a.rows == 12 && a.cols == 10 && a.features == 120 &&
		      a.classes == 7,
	      "shape %zu x %dx%d, %d classes", a.count, a.rows, a.cols, a.classes);
	CHECK(!memcmp(a.pixels, b.pixels, 3000 * 120) && !memcmp(a.labels, b.labels, 3000),
	      "seed 99 twice gives different data");
	CHECK(memcmp(a.pixels, c.pixels, 3000 * 120) && memcmp(a.labels, c.labels, 3000),
	      "seeds 99 and 100 give the same data");

	size_t per_class[7] = { 0 };

	for (size_t i = 0; i < a.count; i++) {
		CHECK(a.labels[i] < 7, "label %d", a.labels[i]);
		per_class[a.labels[i]]++;
	}
	for (int k = 0; k < 7; k++)
		CHECK(per_class[k] > 3000 / 7 * 0.8 && per_class[k] < 3000 / 7 * 1.2,
		      "class %d has %zu of 3000 examples", k, per_class[k]);
	dataset_free(&a);
	dataset_free(&b);
	dataset_free(&c);
	CHECK(dataset_synthetic(&a, 0, 28, 28, 10, 1) == -1 && !a.pixels, "0 examples accepted");
	CHECK(dataset_synthetic(&a, 10, 28, 28, 1, 1) == -1, "1 class accepted");
}

static void check_learnable(void)
{
	dataset d;
	char err[256];
	net *n;
	uint64_t rng = 3;
	size_t idx[HELD_OUT];
	uint8_t y[HELD_OUT], y_out[HELD_OUT];

	CHECK(dataset_synthetic(&d, TRAIN + HELD_OUT, SIDE, SIDE, CLASSES, 1) == 0, "synthetic");
	n = net_create("mlp:3x128", d.features, CLASSES, err, sizeof(err));
	CHECK(n, "%s", err);

	size_t np = net_param_count(n);
	float *params = malloc(np * sizeof(float)), *grad = malloc(np * sizeof(float));
	float *x = malloc(BATCH * (size_t)d.features * sizeof(float));
	float *x_out = malloc(HELD_OUT * (size_t)d.features * sizeof(float));
	net_ws *ws = net_ws_create(n, HELD_OUT);
	float initial, after_20 = 0, loss = 0;
	int correct;

	/* held out: the last examples, never trained on */
	for (int i = 0; i < HELD_OUT; i++)
		idx[i] = TRAIN + i;
	dataset_gather(&d, idx, HELD_OUT, x_out, y_out);
	net_init_params(n, params, 7);
	initial = net_loss(n, ws, params, x_out, y_out, HELD_OUT, NULL);
	for (int update = 1; update <= 300; update++) {
		for (int i = 0; i < BATCH; i++)
			idx[i] = rng_below(&rng, TRAIN);
		dataset_gather(&d, idx, BATCH, x, y);
		net_loss_grad(n, ws, params, x, y, BATCH, grad);
		for (size_t j = 0; j < np; j++)
			params[j] -= 0.05f * grad[j];
		if (update == 20)
			after_20 = net_loss(n, ws, params, x_out, y_out, HELD_OUT, NULL);
	}
	loss = net_loss(n, ws, params, x_out, y_out, HELD_OUT, &correct);
	CHECK(after_20 > 0.6f * initial,
	      "not trivial: held-out loss %.3f after 20 updates, %.3f at first", after_20, initial);
	CHECK(loss < 0.4f * initial,
	      "learnable: held-out loss %.3f after 300 updates, %.3f at first", loss, initial);
	CHECK(loss > 0.05f * initial && correct < HELD_OUT,
	      "label noise: held-out loss %.3f, %d of %d right", loss, correct, HELD_OUT);
	free(params), free(grad), free(x), free(x_out);
	net_ws_destroy(ws);
	net_destroy(n);
	dataset_free(&d);
}

int main(void)
{
	check_deterministic();
	check_learnable();
	CHECK_DONE();
}
