/* Histogram quantiles: the smallest v with at least q of the samples <= v, exactly, including
 * products q n that are not whole; the overflow bucket is reported, never clamped away. */

#include "check.h"
#include "primitives/histogram.h"

static histogram h;

static void fill(const uint64_t *values, int n)
{
	histogram_clear(&h);
	for (int i = 0; i < n; i++)
		histogram_add(&h, values[i]);
}

/* Brute force over the samples: the definition itself. */
static uint64_t quantile_by_definition(const uint64_t *values, int n, double q)
{
	for (uint64_t v = 0;; v++) {
		int at_most = 0;
		for (int i = 0; i < n; i++)
			at_most += values[i] <= v;
		if ((double)at_most >= q * n - 1e-9 && at_most > 0)
			return v;
	}
}

static void test_against_definition(void)
{
	static uint64_t values[160];
	static const double qs[] = {0.0, 0.01, 0.25, 0.5, 0.6, 0.9, 0.99, 0.999, 1.0};
	for (int i = 0; i < 160; i++)
		values[i] = (uint64_t)i;
	for (int n = 1; n <= 160; n++) {
		fill(values, n);
		for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++)
			CHECK(histogram_quantile(&h, qs[k]) == quantile_by_definition(values, n, qs[k]),
			      "n %d q %g: %llu, want %llu", n, qs[k], (unsigned long long)histogram_quantile(&h, qs[k]),
			      (unsigned long long)quantile_by_definition(values, n, qs[k]));
	}
	fill(values, 160);
	CHECK(histogram_quantile(&h, 0.99) == 158, "p99 of 0..159");
	const uint64_t small[] = {0, 0, 1, 2};
	fill(small, 4);
	CHECK(histogram_quantile(&h, 0.5) == 0 && histogram_quantile(&h, 0.6) == 1, "p50, p60 of {0, 0, 1, 2}");
}

static void test_overflow(void)
{
	const uint64_t values[] = {1, 2, HISTOGRAM_BUCKETS + 7};
	fill(values, 3);
	CHECK(h.overflow == 1 && h.max == HISTOGRAM_BUCKETS + 7, "overflow bucket and max");
	CHECK(histogram_quantile(&h, 1.0) == HISTOGRAM_BUCKETS, "p100 lies in overflow");
	CHECK(histogram_quantile(&h, 0.5) == 2, "p50 below it");
	histogram_clear(&h);
	CHECK(histogram_quantile(&h, 0.5) == 0, "empty histogram");
}

int main(void)
{
	test_against_definition();
	test_overflow();
	CHECK_DONE();
}
