/* The staleness-adaptive step sizes against DESIGN.md's formulas, and tail's sampling window
 * under concurrent workers. */

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "workloads/stepsize.h"

static int near(double a, double b)
{
	return fabs(a - b) <= 1e-6 * (1.0 + fabs(b));
}

static step_policy *make(const char *text, int workers)
{
	step_spec spec;
	char err[256];
	CHECK(step_spec_parse(text, &spec, err, sizeof(err)) == 0, "parse '%s': %s", text, err);
	step_policy *p = step_policy_create(&spec, workers);
	CHECK(p != NULL, "create '%s'", text);
	return p;
}

static void test_parse(void)
{
	step_spec s;
	char err[256], buf[64];
	const char *bad[] = {"", "tails", "inverse:amplitude=1", "tail:amplitude=", "tail:amplitude=2",
			     "tail:amplitude=x", "tail:beta=1", "fleet:"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(step_spec_parse(bad[i], &s, err, sizeof(err)) == -1, "'%s' accepted", bad[i]);
		CHECK(strstr(err, "none, inverse, fleet, tail") || strstr(err, "amplitude"),
		      "message for '%s' names the valid values: %s", bad[i], err);
	}
	CHECK(step_spec_parse("tail:amplitude=0.5", &s, err, sizeof(err)) == 0, "%s", err);
	CHECK(s.kind == STEP_TAIL && s.amplitude == 0.5f, "tail amplitude parsed");
	step_spec_format(&s, buf, sizeof(buf));
	CHECK(strcmp(buf, "tail:amplitude=0.5") == 0, "format: %s", buf);
	CHECK(step_spec_parse("fleet", &s, err, sizeof(err)) == 0 && s.kind == STEP_FLEET, "fleet");
	step_spec_format(&s, buf, sizeof(buf));
	CHECK(strcmp(buf, "fleet") == 0, "format: %s", buf);
}

static void test_fixed_policies(void)
{
	step_policy *none = make("none", 4), *inv = make("inverse", 4), *fleet = make("fleet", 3);
	for (uint64_t tau = 0; tau < 50; tau++) {
		CHECK(step_policy_scale(none, tau) == 1.0f, "none(%llu)", (unsigned long long)tau);
		CHECK(near(step_policy_scale(inv, tau), 1.0 / (double)(tau + 1)), "inverse(%llu)",
		      (unsigned long long)tau);
		/* n = 3: τ_thr = 4, β = (2/4) ln 3, so s(τ) = 3^(-τ/2). */
		CHECK(near(step_policy_scale(fleet, tau), pow(3.0, -(double)tau / 2.0)), "fleet(%llu) = %g",
		      (unsigned long long)tau, (double)step_policy_scale(fleet, tau));
	}
	CHECK(near(step_policy_scale(fleet, 2), 1.0 / 3.0), "fleet(2) = 1/3");
	CHECK(step_policy_ready(none) && step_policy_ready(inv) && step_policy_ready(fleet), "fixed ready");
	step_policy_destroy(none);
	step_policy_destroy(inv);
	step_policy_destroy(fleet);
}

/* One worker: the window is updates 10..14; the samples {0, 1, 1, 2, 5} give
 * F(0) = 0, F(1) = 1/5, F(2) = 3/5, F(3..5) = 4/5, F(6..) = 1. */
static void test_tail_formula(void)
{
	step_policy *p = make("tail", 1);
	for (int i = 0; i < 10; i++) {
		step_policy_observe(p, 99); /* before the window: not sampled */
		CHECK(step_policy_scale(p, 0) == 1.0f && !step_policy_ready(p), "s = 1 before the window");
	}
	const uint64_t window[5] = {2, 1, 5, 0, 1};
	for (int i = 0; i < 5; i++) {
		CHECK(!step_policy_ready(p), "not ready before the window closes");
		step_policy_observe(p, window[i]);
	}
	CHECK(step_policy_ready(p), "ready when the window closes");
	step_policy_observe(p, 1000); /* after the window: ignored */
	const double expect[8] = {2.0, 1.6, 0.8, 0.4, 0.4, 0.4, 0.0, 0.0};
	for (uint64_t tau = 0; tau < 8; tau++)
		CHECK(near(step_policy_scale(p, tau), expect[tau]), "tail(%llu) = %g, want %g",
		      (unsigned long long)tau, (double)step_policy_scale(p, tau), expect[tau]);
	CHECK(near(step_policy_scale(p, 1u << 30), 0.0), "beyond every sample: 1 - A");
	step_policy_destroy(p);

	/* Amplitude 0.5 halves the deviation from 1. */
	p = make("tail:amplitude=0.5", 1);
	for (int i = 0; i < 15; i++)
		step_policy_observe(p, i < 10 ? 0 : window[i - 10]);
	CHECK(near(step_policy_scale(p, 1), 1.3) && near(step_policy_scale(p, 9), 0.5), "amplitude 0.5");
	step_policy_destroy(p);
}

/* Many workers report at once, every update with τ = 7. The sample table starts zeroed, so F
 * computed before every window sample is in would give F(7) > 0: F(7) = 0 and F(8) = 1 show
 * that it was computed once, after all 5n samples. */
enum { WORKERS = 8, REPORTS = 200 };

/* Returns how many times s(7) was neither 1 (not ready) nor 2 (ready). CHECK is for main. */
static void *reporter(void *arg)
{
	step_policy *p = arg;
	uintptr_t wrong = 0;
	for (int i = 0; i < REPORTS; i++) {
		step_policy_observe(p, 7);
		float s = step_policy_scale(p, 7);
		wrong += !(s == 1.0f || near(s, 2.0));
	}
	return (void *)wrong;
}

static void test_tail_concurrent(void)
{
	step_policy *p = make("tail", WORKERS);
	pthread_t th[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&th[i], NULL, reporter, p);
	for (int i = 0; i < WORKERS; i++) {
		void *wrong;
		pthread_join(th[i], &wrong);
		CHECK(wrong == NULL, "worker %d saw s(7) outside {1, 2} %zu times", i, (size_t)(uintptr_t)wrong);
	}
	CHECK(step_policy_ready(p), "ready after %d reports", WORKERS * REPORTS);
	CHECK(near(step_policy_scale(p, 7), 2.0) && near(step_policy_scale(p, 8), 0.0),
	      "F(7) = 0 and F(8) = 1: every sample is 7");
	step_policy_destroy(p);
}

int main(void)
{
	test_parse();
	test_fixed_policies();
	test_tail_formula();
	test_tail_concurrent();
	CHECK_DONE();
}
