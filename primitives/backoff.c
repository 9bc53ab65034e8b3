#include "primitives/backoff.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "primitives/cacheline.h"

const backoff_policy backoff_none = { .kind = BACKOFF_NONE };

/* Keys a kind takes, in canonical order, with their defaults. */
enum { KEY_BASE = 1 << 0, KEY_STEP = 1 << 1, KEY_CAP = 1 << 2 };

typedef struct {
	const char *name;
	unsigned keys;
	backoff_policy defaults;
} backoff_kind_info;

static const backoff_kind_info kinds[] = {
	[BACKOFF_NONE] = { "none", 0, { BACKOFF_NONE, 0, 0, 0 } },
	[BACKOFF_CONST] = { "const", KEY_BASE, { BACKOFF_CONST, 64, 0, 0 } },
	[BACKOFF_LINEAR] = { "linear", KEY_BASE | KEY_STEP | KEY_CAP, { BACKOFF_LINEAR, 64, 64, 65536 } },
	[BACKOFF_EXP] = { "exp", KEY_BASE | KEY_CAP, { BACKOFF_EXP, 64, 0, 65536 } },
	[BACKOFF_JITTER] = { "jitter", KEY_BASE | KEY_CAP, { BACKOFF_JITTER, 64, 0, 65536 } },
	[BACKOFF_YIELD] = { "yield", 0, { BACKOFF_YIELD, 0, 0, 0 } },
	[BACKOFF_SLEEP] = { "sleep", KEY_BASE, { BACKOFF_SLEEP, 1000, 0, 0 } },
};

#define KIND_COUNT (sizeof(kinds) / sizeof(kinds[0]))

static const struct {
	const char *name;
	unsigned bit;
} keys[] = { { "base", KEY_BASE }, { "step", KEY_STEP }, { "cap", KEY_CAP } };

#define KEY_COUNT (sizeof(keys) / sizeof(keys[0]))

static uint32_t *policy_field(backoff_policy *p, unsigned key)
{
	return key == KEY_BASE ? &p->base : key == KEY_STEP ? &p->step : &p->cap;
}

static uint32_t policy_value(const backoff_policy *p, unsigned key)
{
	return key == KEY_BASE ? p->base : key == KEY_STEP ? p->step : p->cap;
}

/* Writes the names of the keys in `mask`, comma-separated, e.g. "base, cap". */
static void keys_list(unsigned mask, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < KEY_COUNT && used < len; i++) {
		if (mask & keys[i].bit)
			used += snprintf(buf + used, len - used, "%s%s", used ? ", " : "", keys[i].name);
	}
}

static int spec_error(char *err, size_t errlen, const char *spec, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (errlen == 0)
		return -1;
	n = snprintf(err, errlen, "backoff spec \"%s\": ", spec);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Whether the first len characters of s are exactly name. */
static int name_is(const char *name, const char *s, size_t len)
{
	return strlen(name) == len && strncmp(s, name, len) == 0;
}

static int parse_kind(const char *spec, size_t len, backoff_kind *out)
{
	for (size_t k = 0; k < KIND_COUNT; k++) {
		if (name_is(kinds[k].name, spec, len)) {
			*out = (backoff_kind)k;
			return 0;
		}
	}
	return -1;
}

static unsigned parse_key(const char *name, size_t len)
{
	for (size_t i = 0; i < KEY_COUNT; i++) {
		if (name_is(keys[i].name, name, len))
			return keys[i].bit;
	}
	return 0;
}

/* A value is decimal digits only, 1 .. UINT32_MAX. */
static int parse_value(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	if (v == 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Parses "key=value[,key=value...]" (the part after the colon) into p. */
static int parse_keys(const char *spec, const char *list, const backoff_kind_info *info,
		      backoff_policy *p, char *err, size_t errlen)
{
	unsigned seen = 0;
	char valid[32];

	keys_list(info->keys, valid, sizeof valid);
	for (const char *item = list;; item++) {
		size_t len = strcspn(item, ",");
		const char *eq = memchr(item, '=', len);
		size_t name_len = eq ? (size_t)(eq - item) : len;
		unsigned key = parse_key(item, name_len);

		if (len == 0)
			return spec_error(err, errlen, spec, "empty key=value item (stray comma?)");
		if (!key || !(info->keys & key))
			return spec_error(err, errlen, spec, "unknown key \"%.*s\" (%s takes %s)",
					  (int)name_len, item, info->name, valid);
		if (!eq)
			return spec_error(err, errlen, spec, "key \"%.*s\" has no \"=value\"",
					  (int)name_len, item);
		if (seen & key)
			return spec_error(err, errlen, spec, "key \"%.*s\" given twice", (int)name_len,
					  item);
		if (parse_value(eq + 1, len - name_len - 1, policy_field(p, key)) != 0)
			return spec_error(err, errlen, spec,
					  "value \"%.*s\" of %.*s is not an integer in 1..%" PRIu32,
					  (int)(len - name_len - 1), eq + 1, (int)name_len, item,
					  UINT32_MAX);
		seen |= key;
		item += len;
		if (*item == '\0')
			return 0;
	}
}

int backoff_parse(const char *spec, backoff_policy *out, char *err, size_t errlen)
{
	size_t kind_len = strcspn(spec, ":");
	backoff_kind kind;
	backoff_policy p;

	if (parse_kind(spec, kind_len, &kind) != 0)
		return spec_error(err, errlen, spec,
				  "unknown kind \"%.*s\" (valid: none, const, linear, exp, jitter, yield, sleep)",
				  (int)kind_len, spec);
	p = kinds[kind].defaults;
	if (spec[kind_len] == ':') {
		if (kinds[kind].keys == 0)
			return spec_error(err, errlen, spec, "%s takes no keys, got \"%s\"",
					  kinds[kind].name, spec + kind_len + 1);
		if (parse_keys(spec, spec + kind_len + 1, &kinds[kind], &p, err, errlen) != 0)
			return -1;
	}
	if ((kinds[kind].keys & KEY_CAP) && p.cap < p.base)
		return spec_error(err, errlen, spec, "cap=%" PRIu32 " is below base=%" PRIu32, p.cap,
				  p.base);
	*out = p;
	return 0;
}

int backoff_format(const backoff_policy *policy, char *buf, size_t len)
{
	const backoff_kind_info *info = &kinds[policy->kind];
	int used = snprintf(buf, len, "%s", info->name);
	char sep = ':';

	for (size_t i = 0; i < KEY_COUNT && used >= 0; i++) {
		if (!(info->keys & keys[i].bit))
			continue;
		size_t at = (size_t)used < len ? (size_t)used : len;
		int n = snprintf(buf + at, len - at, "%c%s=%" PRIu32, sep, keys[i].name,
				 policy_value(policy, keys[i].bit));
		used = n < 0 ? n : used + n;
		sep = ',';
	}
	return used;
}

/* splitmix64: one add and a mix per draw; every seed, zero included, gives a full-period stream. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

void backoff_init(backoff_state *s, const backoff_policy *policy, uint64_t seed)
{
	s->policy = policy ? policy : &backoff_none;
	s->attempt = 0;
	s->rng = seed;
	memset(&s->stats, 0, sizeof s->stats);
}

void backoff_spin(backoff_state *s, uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++)
		cpu_relax();
	s->stats.backoffs++;
	s->stats.pause_iters += iters;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* base * 2^attempt, capped; the shift stops at 32, where base << 32 already exceeds any cap. */
static uint64_t exp_bound(const backoff_policy *p, uint32_t attempt)
{
	return min_u64(p->cap, (uint64_t)p->base << (attempt < 32 ? attempt : 32));
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
			       .tv_nsec = (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void backoff_yield(backoff_state *s)
{
	sched_yield();
	s->stats.backoffs++;
	s->stats.yields++;
}

void backoff_wait(backoff_state *s)
{
	const backoff_policy *p = s->policy;
	uint32_t attempt = s->attempt;

	s->attempt += s->attempt < UINT32_MAX;
	switch (p->kind) {
	case BACKOFF_NONE:
		return;
	case BACKOFF_CONST:
		backoff_spin(s, p->base);
		return;
	case BACKOFF_LINEAR:
		backoff_spin(s, min_u64(p->cap, p->base + (uint64_t)p->step * attempt));
		return;
	case BACKOFF_EXP:
		backoff_spin(s, exp_bound(p, attempt));
		return;
	case BACKOFF_JITTER:
		/* Uniform in [0, bound] by multiply-shift (bound + 1 <= 2^32): no division. */
		backoff_spin(s, ((rng_next(&s->rng) >> 32) * (exp_bound(p, attempt) + 1)) >> 32);
		return;
	case BACKOFF_YIELD:
		backoff_yield(s);
		return;
	case BACKOFF_SLEEP:
		sleep_ns(p->base);
		s->stats.backoffs++;
		s->stats.sleep_ns += p->base;
		return;
	}
}

void backoff_stats_add(backoff_stats *a, const backoff_stats *b)
{
	a->backoffs += b->backoffs;
	a->pause_iters += b->pause_iters;
	a->sleep_ns += b->sleep_ns;
	a->yields += b->yields;
}
