/* Backoff specs: valid ones round-trip through parse and format, malformed ones are rejected
 * with a message naming the bad part; waits follow the policy, stay within the cap and are
 * counted. */

#include <string.h>

#include "check.h"
#include "primitives/backoff.h"

static int policy_equal(const backoff_policy *a, const backoff_policy *b)
{
	return a->kind == b->kind && a->base == b->base && a->step == b->step && a->cap == b->cap;
}

static void check_round_trip(const char *spec, const char *canonical)
{
	backoff_policy p, q;
	char err[256], buf[128];

	CHECK(backoff_parse(spec, &p, err, sizeof err) == 0, "\"%s\" rejected: %s", spec, err);
	CHECK(backoff_format(&p, buf, sizeof buf) == (int)strlen(canonical), "format of \"%s\"", spec);
	CHECK(strcmp(buf, canonical) == 0, "\"%s\" formats as \"%s\", want \"%s\"", spec, buf, canonical);
	CHECK(backoff_parse(buf, &q, err, sizeof err) == 0, "canonical \"%s\" rejected: %s", buf, err);
	CHECK(policy_equal(&p, &q), "\"%s\" does not round-trip", spec);
}

static void check_rejected(const char *spec, const char *bad_part)
{
	backoff_policy p = backoff_none;
	char err[256] = "";

	CHECK(backoff_parse(spec, &p, err, sizeof err) == -1, "\"%s\" accepted", spec);
	CHECK(strstr(err, bad_part) != NULL, "error for \"%s\" does not name \"%s\": %s", spec, bad_part,
	      err);
	CHECK(p.kind == BACKOFF_NONE, "\"%s\": output written on error", spec);
}

static void test_specs(void)
{
	char err[8];
	backoff_policy p;

	check_round_trip("none", "none");
	check_round_trip("const", "const:base=64");
	check_round_trip("const:base=7", "const:base=7");
	check_round_trip("linear", "linear:base=64,step=64,cap=65536");
	check_round_trip("linear:cap=100,step=3", "linear:base=64,step=3,cap=100");
	check_round_trip("exp", "exp:base=64,cap=65536");
	check_round_trip("exp:base=64,cap=65536", "exp:base=64,cap=65536");
	check_round_trip("exp:base=1,cap=4294967295", "exp:base=1,cap=4294967295");
	check_round_trip("jitter:base=8", "jitter:base=8,cap=65536");
	check_round_trip("exp:base=5,cap=5", "exp:base=5,cap=5");
	check_round_trip("yield", "yield");
	check_round_trip("sleep", "sleep:base=1000");
	check_round_trip("sleep:base=250000", "sleep:base=250000");
	CHECK(policy_equal(&backoff_none, &(backoff_policy){ .kind = BACKOFF_NONE }), "backoff_none");

	check_rejected("exp:bse=4", "unknown key \"bse\" (exp takes base, cap)");
	check_rejected("exp:step=4", "unknown key \"step\"");
	check_rejected("expo", "unknown kind \"expo\"");
	check_rejected("", "unknown kind \"\"");
	check_rejected("EXP", "unknown kind \"EXP\"");
	check_rejected("exp:base=abc", "\"abc\" of base");
	check_rejected("exp:base=64x", "\"64x\" of base");
	check_rejected("exp:base=-1", "\"-1\" of base");
	check_rejected("exp:base= 4", "\" 4\" of base");
	check_rejected("exp:base=0", "\"0\" of base");
	check_rejected("const:base=4294967296", "\"4294967296\" of base");
	check_rejected("exp:cap=99999999999999999999999", "\"99999999999999999999999\" of cap");
	check_rejected("exp:base=", "\"\" of base");
	check_rejected("exp:base", "key \"base\" has no \"=value\"");
	check_rejected("exp:base=64,cap=32", "cap=32 is below base=64");
	check_rejected("exp:cap=8", "cap=8 is below base=64");
	check_rejected("linear:base=10,step=1,cap=9", "cap=9 is below base=10");
	check_rejected("exp:base=64,", "empty key=value item");
	check_rejected("exp:", "empty key=value item");
	check_rejected("exp:base=4,,cap=9", "empty key=value item");
	check_rejected("exp:base=4,base=8", "key \"base\" given twice");
	check_rejected("yield:base=3", "yield takes no keys, got \"base=3\"");
	check_rejected("none:", "none takes no keys");
	check_rejected("sleep:cap=3", "unknown key \"cap\" (sleep takes base)");

	/* A short buffer truncates the message but still fails. */
	CHECK(backoff_parse("bogus", &p, err, sizeof err) == -1, "bogus accepted");
	CHECK(strlen(err) == sizeof err - 1, "message not truncated: %s", err);
}

static backoff_policy parsed(const char *spec)
{
	backoff_policy p;
	char err[256];

	CHECK(backoff_parse(spec, &p, err, sizeof err) == 0, "%s", err);
	return p;
}

/* Pause iterations of the next wait. */
static uint64_t next_wait(backoff_state *s)
{
	uint64_t before = s->stats.pause_iters, backoffs = s->stats.backoffs;

	backoff_wait(s);
	CHECK(s->stats.backoffs == backoffs + 1, "wait not counted");
	return s->stats.pause_iters - before;
}

static void test_spin_waits(void)
{
	backoff_policy p = parsed("exp:base=3,cap=100");
	backoff_state s;
	uint64_t want[] = { 3, 6, 12, 24, 48, 96, 100, 100 }, jitter_max = 0;

	backoff_init(&s, &p, 1);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		CHECK(next_wait(&s) == want[i], "exp wait %zu is not %llu", i, (unsigned long long)want[i]);
	/* Far past the width of the shift: still the cap, no overflow. */
	s.attempt = 40;
	CHECK(next_wait(&s) == 100, "exp wait at attempt 40");
	s.attempt = UINT32_MAX;
	CHECK(next_wait(&s) == 100 && s.attempt == UINT32_MAX, "exp wait at the last attempt");
	backoff_reset(&s);
	CHECK(next_wait(&s) == 3, "reset does not restart from base");
	CHECK(s.stats.pause_iters == 3 + 6 + 12 + 24 + 48 + 96 + 100 * 4 + 3, "pause_iters total");

	p = parsed("linear:base=2,step=5,cap=20");
	backoff_init(&s, &p, 1);
	CHECK(next_wait(&s) == 2 && next_wait(&s) == 7 && next_wait(&s) == 12 && next_wait(&s) == 17 &&
		      next_wait(&s) == 20 && next_wait(&s) == 20,
	      "linear waits");

	p = parsed("const:base=9");
	backoff_init(&s, &p, 1);
	CHECK(next_wait(&s) == 9 && next_wait(&s) == 9, "const waits");

	p = parsed("jitter:base=2,cap=50");
	backoff_init(&s, &p, 42);
	for (uint32_t i = 0; i < 2000; i++) {
		uint64_t bound = i < 5 ? 2u << i : 50, w = next_wait(&s);

		CHECK(w <= bound, "jitter wait %llu above %llu", (unsigned long long)w,
		      (unsigned long long)bound);
		jitter_max = w > jitter_max ? w : jitter_max;
	}
	CHECK(jitter_max > 25, "jitter never came near the cap (max %llu)", (unsigned long long)jitter_max);

	backoff_init(&s, &backoff_none, 1);
	backoff_wait(&s);
	CHECK(s.stats.backoffs == 0 && s.stats.pause_iters == 0, "none waited");

	backoff_spin(&s, 17);
	CHECK(s.stats.backoffs == 1 && s.stats.pause_iters == 17, "backoff_spin counts");
}

static void test_yield_sleep(void)
{
	backoff_policy p = parsed("yield");
	backoff_state s;
	backoff_stats sum = { 0 };

	backoff_init(&s, &p, 1);
	backoff_wait(&s);
	backoff_wait(&s);
	CHECK(s.stats.yields == 2 && s.stats.backoffs == 2 && s.stats.pause_iters == 0, "yield counts");
	backoff_stats_add(&sum, &s.stats);

	p = parsed("sleep:base=1500");
	backoff_init(&s, &p, 1);
	backoff_wait(&s);
	backoff_wait(&s);
	CHECK(s.stats.sleep_ns == 3000 && s.stats.backoffs == 2 && s.stats.yields == 0, "sleep counts");
	backoff_stats_add(&sum, &s.stats);
	CHECK(sum.backoffs == 4 && sum.yields == 2 && sum.sleep_ns == 3000 && sum.pause_iters == 0,
	      "backoff_stats_add");
}

int main(void)
{
	test_specs();
	test_spin_waits();
	test_yield_sleep();
	CHECK_DONE();
}
