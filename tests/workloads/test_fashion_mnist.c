/* Fashion-MNIST from Debian's dataset-fashion-mnist: both splits load with the published shapes
 * and class balance, pixels scale to [0, 1], mlp:3x128 learns it, and the whole process stays
 * under 250 MB resident: the data is held once, as bytes (47 MB of training pixels). */

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "check.h"
#include "workloads/dataset.h"
#include "workloads/net.h"
#include "workloads/rng.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MEASURE_RSS 0 /* shadow memory and quarantines are no part of ours */
#else
#define MEASURE_RSS 1
#endif

#define MB (1024.0 * 1024.0)

static double peak_rss_bytes(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss * 1024.0;
}

static void load(dataset *d, const char *split, size_t count)
{
	char err[1024];

	CHECK(dataset_load_idx(d, DATASET_FASHION_MNIST_DIR, split, err, sizeof(err)) == 0,
	      "%s (install dataset-fashion-mnist)", err);
	CHECK(d->count == count && d->rows == 28 && d->cols == 28 && d->features == 784 &&
		      d->classes == 10,
	      "%s: %zu images of %dx%d, %d classes", split, d->count, d->rows, d->cols, d->classes);

	size_t per_class[10] = { 0 };
	int lo = 255, hi = 0;

	for (size_t i = 0; i < d->count; i++)
		per_class[d->labels[i]]++;
	for (int k = 0; k < 10; k++)
		CHECK(per_class[k] == count / 10, "%s: class %d has %zu images", split, k,
		      per_class[k]);
	for (size_t i = 0; i < d->count * d->features; i++) {
		lo = d->pixels[i] < lo ? d->pixels[i] : lo;
		hi = d->pixels[i] > hi ? d->pixels[i] : hi;
	}
	CHECK(lo == 0 && hi == 255, "%s: pixels span %d..%d", split, lo, hi);
}

/* Held-out accuracy of mlp:3x128 after 200 plain SGD updates of batch 64. */
static double short_training(const dataset *train, const dataset *test)
{
	enum { BATCH = 64, EVAL = 1000, UPDATES = 200 };
	char err[256];
	net *n = net_create("mlp:3x128", train->features, train->classes, err, sizeof(err));

	CHECK(n, "%s", err);
	size_t np = net_param_count(n), idx[EVAL];
	float *params = malloc(np * sizeof(float)), *grad = malloc(np * sizeof(float));
	float *x = malloc((size_t)EVAL * train->features * sizeof(float));
	uint8_t y[EVAL];
	net_ws *ws = net_ws_create(n, EVAL);
	uint64_t rng = 5;
	int correct;

	net_init_params(n, params, 1);
	for (int u = 0; u < UPDATES; u++) {
		for (int i = 0; i < BATCH; i++)
			idx[i] = rng_below(&rng, (uint32_t)train->count);
		dataset_gather(train, idx, BATCH, x, y);
		net_loss_grad(n, ws, params, x, y, BATCH, grad);
		for (size_t j = 0; j < np; j++)
			params[j] -= 0.05f * grad[j];
	}
	for (int i = 0; i < EVAL; i++)
		idx[i] = (size_t)i * (test->count / EVAL);
	dataset_gather(test, idx, EVAL, x, y);
	net_loss(n, ws, params, x, y, EVAL, &correct);
	free(params), free(grad), free(x);
	net_ws_destroy(ws);
	net_destroy(n);
	return (double)correct / EVAL;
}

int main(void)
{
	dataset train, test;
	double before = peak_rss_bytes();

	load(&train, "train", 60000);
	load(&test, "t10k", 10000);

	/* the two splits' bytes, 54.9 MB, plus zlib's buffers: nothing is read twice */
	double loaded = peak_rss_bytes();
	double data = (double)(train.count + test.count) * (train.features + 1);

	if (MEASURE_RSS)
		CHECK(loaded - before < data + 8 * MB,
		      "loading took %.1f MB of peak RSS for %.1f MB of data",
		      (loaded - before) / MB, data / MB);

	size_t idx[3] = { 0, 59999, 1234 };
	float x[3 * 784];
	uint8_t y[3];

	dataset_gather(&train, idx, 3, x, y);
	for (int i = 0; i < 3 * 784; i++)
		CHECK(x[i] >= 0 && x[i] <= 1, "pixel %d gathered as %g", i, x[i]);
	for (int i = 0; i < 3; i++)
		CHECK(y[i] == train.labels[idx[i]], "label of %zu", idx[i]);

	double accuracy = short_training(&train, &test);

	CHECK(accuracy > 0.6, "held-out accuracy %.3f after 200 updates (chance: 0.1)", accuracy);
	printf("loading: +%.1f MB peak RSS for %.1f MB of data; held-out accuracy %.3f; "
	       "peak RSS %.1f MB%s\n", (loaded - before) / MB, data / MB, accuracy,
	       peak_rss_bytes() / MB, MEASURE_RSS ? "" : " (not checked under a sanitizer)");
	if (MEASURE_RSS)
		CHECK(peak_rss_bytes() < 250 * MB, "peak RSS %.1f MB", peak_rss_bytes() / MB);
	dataset_free(&train);
	dataset_free(&test);
	CHECK_DONE();
}
