#ifndef SGDSYNC_WORKLOADS_STEPSIZE_H
#define SGDSYNC_WORKLOADS_STEPSIZE_H

/* Staleness-adaptive step size: the update applied is θ -= η · s(τ) · g (DESIGN.md).
 *   none      s = 1
 *   inverse   s = 1 / (τ + 1)
 *   fleet     s = exp(-β τ), τ_thr = n + 1, β = (2 / τ_thr) ln(1 + τ_thr / 2)
 *   tail      s = 1 + A (1 - 2 F(τ)), F(j) = fraction of sampled τ strictly below j
 * n is the number of workers. Spec strings: "none", "inverse", "fleet", "tail" or
 * "tail:amplitude=A" (A = 1 by default).
 *
 * tail samples the τ of the applied updates numbered 10n to 15n - 1, in the order the workers
 * report them with step_policy_observe (an atomic counter numbers them; the samples go into
 * atomic buckets). The worker that records the last sample computes s for every τ once and
 * publishes the table; until then, and for a run shorter than 15n updates, s = 1. */

#include <stddef.h>
#include <stdint.h>

typedef enum {
	STEP_NONE,
	STEP_INVERSE,
	STEP_FLEET,
	STEP_TAIL,
	STEP_POLICY_COUNT
} step_kind;

typedef struct {
	step_kind kind;
	float amplitude; /* tail's A */
} step_spec;

typedef struct step_policy step_policy;

/* Returns -1 with a message naming the bad part and the valid specs in err. */
int step_spec_parse(const char *text, step_spec *out, char *err, size_t errlen);
/* The canonical spec: the name, and for tail "tail:amplitude=A". Returns what snprintf returns. */
int step_spec_format(const step_spec *spec, char *buf, size_t len);

/* NULL on allocation failure. */
step_policy *step_policy_create(const step_spec *spec, int workers);
void step_policy_destroy(step_policy *p);

/* s(τ); a model_step_scale_fn, with the policy as its argument. Thread-safe. */
float step_policy_scale(void *policy, uint64_t tau);
/* Every worker reports the staleness of each update it applied (tail samples from these;
 * the other policies ignore them). Thread-safe; after tail's window, one relaxed load. */
void step_policy_observe(step_policy *p, uint64_t tau);
/* 1 once s no longer changes: always for none, inverse, fleet; tail after its window. */
int step_policy_ready(const step_policy *p);

#endif
