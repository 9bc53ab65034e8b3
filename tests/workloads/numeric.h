#ifndef SGDSYNC_TESTS_WORKLOADS_NUMERIC_H
#define SGDSYNC_TESTS_WORKLOADS_NUMERIC_H

/* Numerical checks shared by the workloads tests: random fills, normwise comparison with the
 * double-precision reference, and gradient checking by central differences. */

#include <math.h>
#include <stddef.h>

#include "check.h"
#include "workloads/rng.h"

/* Central differences, two ways.
 * FD_FLOAT, of a float32 function (a kernel itself): a difference over 2h of two evaluations of
 * size |L| carries a rounding error of about k eps |L| / h (eps = 6e-8, k the roundings that do
 * not cancel, ~10..1000): with h = 1e-2 and |L| <= 10, ~1e-4 typically and 1e-2 at worst; the
 * truncation error of a smooth function is O(h^2 f''') ~ 1e-4. Hence 1e-2 relative, with an
 * absolute floor of 2e-3 x the largest entry for entries near zero.
 * FD_DOUBLE, of the double-precision reference of the same function, against the float32
 * analytic gradient: the difference itself is exact to ~1e-10 (h = 1e-5), so what is left is the
 * float32 gradient's own error, ~1e-5 relative for sums of ~1000 products: 1e-3 relative with a
 * 1e-4 floor. Its small step also makes kink crossings rare; the ones left are detected.
 * A wrong index, factor or sign misses either bound by orders of magnitude. */
typedef struct {
	double step, rtol, atol;
} fd_tolerance;

static const fd_tolerance FD_FLOAT = { 1e-2, 1e-2, 2e-3 };
static const fd_tolerance FD_DOUBLE = { 1e-5, 1e-3, 1e-4 };
/* The kernels against the reference: float32 sums of up to ~2000 products (k eps sqrt(n)). */
#define REF_TOL 1e-4

static inline void fill_uniform(float *v, size_t n, uint64_t *rng, double lo, double hi)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (float)(lo + (hi - lo) * rng_uniform(rng));
}

/* max |a - ref| / max |ref|: 0 when both are all zero. */
static inline double normwise_error(const float *a, const double *ref, size_t n)
{
	double diff = 0, scale = 0;

	for (size_t i = 0; i < n; i++) {
		diff = fmax(diff, fabs(a[i] - ref[i]));
		scale = fmax(scale, fabs(ref[i]));
	}
	return scale > 0 ? diff / scale : diff;
}

/* The function whose gradient is checked, at the current values of the variables. If pattern
 * is not NULL, it also says where its kinks are (ReLU signs, pool winners, as a hash). */
typedef double (*objective_fn)(void *ctx, uint64_t *pattern);

typedef struct {
	objective_fn f;
	void *ctx;
	int kinks; /* f reports patterns; else f is smooth near the variables */
} objective;

/* Central difference of f in var[i]; returns 0 when the step leaves the pattern `here`. */
static inline int central_difference(const objective *o, double h, uint64_t here, float *var,
				     size_t i, double *out)
{
	float saved = var[i];
	uint64_t up_kinks = here, down_kinks = here;

	var[i] = saved + (float)h;
	double up = o->f(o->ctx, o->kinks ? &up_kinks : NULL);
	var[i] = saved - (float)h;
	double down = o->f(o->ctx, o->kinks ? &down_kinks : NULL);
	var[i] = saved;
	/* the step actually taken, after rounding to float */
	*out = (up - down) / ((double)(saved + (float)h) - (double)(saved - (float)h));
	return up_kinks == here && down_kinks == here;
}

/* Checks analytic[i] = d f / d var[i] by central differences at `samples` indices drawn at
 * random (every index when n <= samples); var is perturbed and restored. Indices whose step
 * crosses a kink are skipped (random draws: replaced); at least half must be checked. */
static inline void gradient_check(const char *what, const objective *o, const fd_tolerance *tol,
				  float *var, const float *analytic, size_t n, size_t samples,
				  uint64_t *rng)
{
	int every = n <= samples;
	size_t count = every ? n : samples, checked = 0, draws = 0;
	double amax = 0, diff2 = 0, norm2 = 0, numeric;
	uint64_t here = 0;

	if (o->kinks)
		o->f(o->ctx, &here);
	for (size_t i = 0; i < n; i++)
		amax = fmax(amax, fabs(analytic[i]));
	for (; checked < count && draws < (every ? n : 2 * count); draws++) {
		size_t i = every ? draws : rng_next(rng) % n;

		if (!central_difference(o, tol->step, here, var, i, &numeric))
			continue;
		double a = analytic[i], err = fabs(a - numeric);

		CHECK(err <= tol->rtol * fmax(fabs(a), fabs(numeric)) + tol->atol * amax,
		      "%s: d/d[%zu]: analytic %.6g, central difference %.6g", what, i, a, numeric);
		diff2 += err * err;
		norm2 += numeric * numeric;
		checked++;
	}
	CHECK(2 * checked >= count, "%s: only %zu of %zu differences were clear of kinks", what,
	      checked, count);
	CHECK(sqrt(diff2) <= tol->rtol * sqrt(norm2) + tol->atol * amax,
	      "%s: sampled gradient differs by %.3g (norm %.3g)", what, sqrt(diff2), sqrt(norm2));
}

#endif
