#ifndef SGDSYNC_PRIMITIVES_HISTOGRAM_H
#define SGDSYNC_PRIMITIVES_HISTOGRAM_H

/* A per-thread histogram of small non-negative integers (staleness, CAS attempts): one bucket
 * per value below HISTOGRAM_BUCKETS and an explicit overflow bucket, never a clamp that hides
 * large values. Threads fill their own and merge them once at the end. */

#include <stdint.h>

#define HISTOGRAM_BUCKETS 1024

typedef struct {
	uint64_t count[HISTOGRAM_BUCKETS];
	uint64_t overflow;    /* values >= HISTOGRAM_BUCKETS */
	uint64_t max;         /* largest value seen, overflow included */
	uint64_t n;
	double sum;
} histogram;

static inline void histogram_add(histogram *h, uint64_t value)
{
	if (value < HISTOGRAM_BUCKETS)
		h->count[value]++;
	else
		h->overflow++;
	if (value > h->max)
		h->max = value;
	h->n++;
	h->sum += (double)value;
}

void histogram_clear(histogram *h);
void histogram_merge(histogram *into, const histogram *from);
double histogram_mean(const histogram *h);
/* Smallest value v with at least q of the samples <= v; HISTOGRAM_BUCKETS if it lies in overflow. */
uint64_t histogram_quantile(const histogram *h, double q);

#endif
