#include "primitives/histogram.h"

#include <string.h>

void histogram_clear(histogram *h)
{
	memset(h, 0, sizeof(*h));
}

void histogram_merge(histogram *into, const histogram *from)
{
	for (int i = 0; i < HISTOGRAM_BUCKETS; i++)
		into->count[i] += from->count[i];
	into->overflow += from->overflow;
	if (from->max > into->max)
		into->max = from->max;
	into->n += from->n;
	into->sum += from->sum;
}

double histogram_mean(const histogram *h)
{
	return h->n ? h->sum / (double)h->n : 0.0;
}

uint64_t histogram_quantile(const histogram *h, double q)
{
	if (h->n == 0)
		return 0;
	/* need = ceil(q n) samples, clamped to [1, n]; the slack keeps an exact q n (0.5 of 4) from
	 * rounding up through floating-point error. */
	double want = q * (double)h->n;
	uint64_t need = (uint64_t)want;
	if ((double)need < want - 1e-9)
		need++;
	if (need == 0)
		need = 1;
	if (need > h->n)
		need = h->n;
	uint64_t seen = 0;
	for (int i = 0; i < HISTOGRAM_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= need)
			return (uint64_t)i;
	}
	return HISTOGRAM_BUCKETS;
}
