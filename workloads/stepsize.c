#include "workloads/stepsize.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "primitives/cacheline.h"

static const char *const step_names[STEP_POLICY_COUNT] = {"none", "inverse", "fleet", "tail"};

struct step_policy {
	step_kind kind;
	float amplitude;
	float beta;
	uint64_t window_begin; /* tail: first sampled update (10n) */
	uint64_t window_len;   /* tail: samples (5n) */
	uint64_t *samples;     /* tail: window_len τ values, sorted once complete */
	CACHELINE_ALIGNED _Atomic uint64_t observed; /* updates reported so far */
	_Atomic uint64_t recorded;                    /* samples written */
	_Atomic int closed;                           /* no more samples wanted */
	CACHELINE_ALIGNED _Atomic int ready;          /* samples sorted: F is known */
};

int step_spec_parse(const char *text, step_spec *out, char *err, size_t errlen)
{
	static const char valid[] = "none, inverse, fleet, tail, tail:amplitude=A";
	const char *colon = strchr(text, ':');
	size_t namelen = colon ? (size_t)(colon - text) : strlen(text);
	int kind = -1;
	for (int k = 0; k < STEP_POLICY_COUNT; k++)
		if (strlen(step_names[k]) == namelen && strncmp(text, step_names[k], namelen) == 0)
			kind = k;
	if (kind < 0) {
		snprintf(err, errlen, "unknown step policy '%s' (valid: %s)", text, valid);
		return -1;
	}
	out->kind = (step_kind)kind;
	out->amplitude = 1.0f;
	if (!colon)
		return 0;
	const char *value = colon + 1;
	char *end;
	if (kind != STEP_TAIL || strncmp(value, "amplitude=", 10) != 0) {
		snprintf(err, errlen, "step policy '%s': unknown parameter '%s' (valid: %s)", text, value,
			 valid);
		return -1;
	}
	double a = strtod(value + 10, &end);
	if (end == value + 10 || *end != '\0' || !(a >= 0.0 && a <= 1.0)) {
		snprintf(err, errlen, "step policy '%s': amplitude must be a number in [0, 1]", text);
		return -1;
	}
	out->amplitude = (float)a;
	return 0;
}

int step_spec_format(const step_spec *spec, char *buf, size_t len)
{
	if (spec->kind == STEP_TAIL)
		return snprintf(buf, len, "tail:amplitude=%g", (double)spec->amplitude);
	return snprintf(buf, len, "%s", step_names[spec->kind]);
}

step_policy *step_policy_create(const step_spec *spec, int workers)
{
	step_policy *p = aligned_alloc(CACHELINE_PAD, sizeof(*p)); /* sizeof is a multiple of it */
	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->kind = spec->kind;
	p->amplitude = spec->amplitude;
	double tau_thr = (double)workers + 1.0;
	p->beta = (float)(2.0 / tau_thr * log(1.0 + tau_thr / 2.0));
	p->window_begin = 10 * (uint64_t)workers;
	p->window_len = 5 * (uint64_t)workers;
	if (p->kind == STEP_TAIL) {
		p->samples = calloc(p->window_len, sizeof(*p->samples));
		if (!p->samples) {
			free(p);
			return NULL;
		}
	}
	/* Only tail learns anything; the others are fixed from the start. */
	atomic_init(&p->closed, p->kind != STEP_TAIL);
	atomic_init(&p->ready, p->kind != STEP_TAIL);
	return p;
}

void step_policy_destroy(step_policy *p)
{
	if (!p)
		return;
	free(p->samples);
	free(p);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* F(τ): the fraction of samples strictly below τ (first index not below it, by bisection). */
static double tail_fraction_below(const step_policy *p, uint64_t tau)
{
	size_t lo = 0, hi = p->window_len;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->samples[mid] < tau)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (double)lo / (double)p->window_len;
}

float step_policy_scale(void *policy, uint64_t tau)
{
	const step_policy *p = policy;
	switch (p->kind) {
	case STEP_NONE:
		return 1.0f;
	case STEP_INVERSE:
		return 1.0f / ((float)tau + 1.0f);
	case STEP_FLEET:
		return expf(-p->beta * (float)tau);
	case STEP_TAIL:
		/* acquire: pairs with the release that publishes the sorted samples. */
		if (!atomic_load_explicit(&p->ready, memory_order_acquire))
			return 1.0f;
		return (float)(1.0 + p->amplitude * (1.0 - 2.0 * tail_fraction_below(p, tau)));
	default:
		return 1.0f;
	}
}

void step_policy_observe(step_policy *p, uint64_t tau)
{
	/* relaxed: a late extra increment after closing is harmless, the window is by number. */
	if (atomic_load_explicit(&p->closed, memory_order_relaxed))
		return;
	/* relaxed: the counter only numbers the updates; the samples are ordered by `recorded`. */
	uint64_t i = atomic_fetch_add_explicit(&p->observed, 1, memory_order_relaxed);
	if (i < p->window_begin)
		return;
	if (i >= p->window_begin + p->window_len) {
		atomic_store_explicit(&p->closed, 1, memory_order_relaxed);
		return;
	}
	p->samples[i - p->window_begin] = tau;
	/* acq_rel: releases this sample; the last recorder acquires every earlier one (the
	 * increments form one release sequence) before it sorts them all. */
	uint64_t done = atomic_fetch_add_explicit(&p->recorded, 1, memory_order_acq_rel) + 1;
	if (done < p->window_len)
		return;
	qsort(p->samples, p->window_len, sizeof(*p->samples), cmp_u64);
	/* release: the sorted samples are complete before anyone sees ready. */
	atomic_store_explicit(&p->ready, 1, memory_order_release);
}

int step_policy_ready(const step_policy *p)
{
	return atomic_load_explicit(&p->ready, memory_order_acquire);
}
