#include "harness/counters.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/counters_backend.h"

#define NAME_LEN 64
#define REASON_LEN 640
#define MAX_USED 8
#define MAX_SKIPPED 16

/* Written by counters_open before any counter_set exists, read-only afterwards. */
static struct {
	char requested[NAME_LEN];
	int nused;
	char used[MAX_USED][NAME_LEN];
	int nskipped;
	char skipped[MAX_SKIPPED][NAME_LEN];
	char skipped_why[MAX_SKIPPED][REASON_LEN];
	int nunavailable;
	char unavailable_name[COUNTERS_UNAVAILABLE_MAX][NAME_LEN];
	char unavailable_why[COUNTERS_UNAVAILABLE_MAX][REASON_LEN];
	counter_unavailable unavailable[COUNTERS_UNAVAILABLE_MAX];
	bool perf;
	likwid_mode likwid;
} st = {.requested = "none"};

void counters_note_used(const char *backend)
{
	if (st.nused < MAX_USED)
		snprintf(st.used[st.nused++], NAME_LEN, "%s", backend);
}

void counters_note_skipped(const char *backend, const char *reason)
{
	fprintf(stderr, "sgdsync: counters: %s skipped: %s\n", backend, reason);
	if (st.nskipped == MAX_SKIPPED)
		return;
	snprintf(st.skipped[st.nskipped], NAME_LEN, "%s", backend);
	snprintf(st.skipped_why[st.nskipped], REASON_LEN, "%s", reason);
	st.nskipped++;
}

void counters_note_unavailable(const char *counter, const char *reason)
{
	int i = st.nunavailable;
	if (i == COUNTERS_UNAVAILABLE_MAX)
		return;
	snprintf(st.unavailable_name[i], NAME_LEN, "%s", counter);
	snprintf(st.unavailable_why[i], REASON_LEN, "%s", reason);
	st.unavailable[i] = (counter_unavailable){st.unavailable_name[i], st.unavailable_why[i]};
	st.nunavailable++;
}

/* ---- Process-wide ---- */

static bool valid_group_name(const char *g)
{
	if (!*g || strlen(g) >= NAME_LEN - 8)
		return false;
	for (; *g; g++)
		if (!((*g >= 'A' && *g <= 'Z') || (*g >= '0' && *g <= '9') || *g == '_'))
			return false;
	return true;
}

/* Which backends the spec asks for; -1 for an unknown spec. */
static int parse_spec(const char *spec, bool *perf, bool *likwid, const char **group, char *err,
		      size_t errlen)
{
	*perf = *likwid = false;
	*group = NULL;
	if (strcmp(spec, "auto") == 0)
		*perf = *likwid = true;
	else if (strcmp(spec, "perf") == 0)
		*perf = true;
	else if (strcmp(spec, "likwid") == 0)
		*likwid = true;
	else if (strncmp(spec, "likwid:", 7) == 0 && valid_group_name(spec + 7))
		*likwid = true, *group = spec + 7;
	else if (strncmp(spec, "likwid:", 7) == 0) {
		snprintf(err, errlen, "counters '%s': a likwid group is named in capitals, digits and "
				      "'_' (e.g. likwid:L2CACHE)", spec);
		return -1;
	} else if (strcmp(spec, "none") != 0) {
		snprintf(err, errlen, "counters '%s' is not one of: auto, likwid, likwid:GROUP, perf, none",
			 spec);
		return -1;
	}
	return 0;
}

int counters_open(const char *spec, char *err, size_t errlen)
{
	bool perf, likwid;
	const char *group;
	if (parse_spec(spec, &perf, &likwid, &group, err, errlen) != 0)
		return -1;
	counters_close();
	snprintf(st.requested, NAME_LEN, "%s", spec);
	counters_note_used("software");
	if (likwid && likwid_open(group, &st.likwid, err, errlen) != 0) {
		counters_close();
		return -1;
	}
	st.perf = perf && perf_open();
	return 0;
}

void counters_close(void)
{
	likwid_close();
	st.likwid = LIKWID_OFF;
	st.perf = false;
	st.nused = st.nskipped = st.nunavailable = 0;
	snprintf(st.requested, NAME_LEN, "none");
}

cJSON *counters_status_json(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "requested", st.requested);
	cJSON *used = cJSON_AddArrayToObject(o, "used");
	if (st.nused == 0)
		cJSON_AddItemToArray(used, cJSON_CreateString("software"));
	for (int i = 0; i < st.nused; i++)
		cJSON_AddItemToArray(used, cJSON_CreateString(st.used[i]));
	cJSON *skipped = cJSON_AddArrayToObject(o, "skipped");
	for (int i = 0; i < st.nskipped; i++) {
		cJSON *s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "backend", st.skipped[i]);
		cJSON_AddStringToObject(s, "reason", st.skipped_why[i]);
		cJSON_AddItemToArray(skipped, s);
	}
	return o;
}

int counters_unavailable(const counter_unavailable **out)
{
	*out = st.unavailable;
	return st.nunavailable;
}

cJSON *counters_unavailable_json(void)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < st.nunavailable; i++) {
		cJSON *u = cJSON_CreateObject();
		cJSON_AddStringToObject(u, "counter", st.unavailable[i].counter);
		cJSON_AddStringToObject(u, "reason", st.unavailable[i].reason);
		cJSON_AddItemToArray(a, u);
	}
	return a;
}

/* ---- Totals ---- */

void counter_totals_clear(counter_totals *t)
{
	t->regions = 0;
	t->n = 0;
}

int counter_totals_put(counter_totals *t, const char *name, double value)
{
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0) {
			t->v[i].value += value;
			return 0;
		}
	if (t->n == COUNTERS_MAX)
		return -1;
	t->v[t->n++] = (counter_value){name, value};
	return 0;
}

void counter_totals_add(counter_totals *into, const counter_totals *from)
{
	into->regions += from->regions;
	for (int i = 0; i < from->n; i++)
		counter_totals_put(into, from->v[i].name, from->v[i].value);
}

cJSON *counter_totals_json_per_op(const counter_totals *t, double ops)
{
	cJSON *o = cJSON_CreateObject();
	for (int i = 0; i < t->n; i++)
		cJSON_AddNumberToObject(o, t->v[i].name, t->v[i].value / ops);
	return o;
}

/* ---- Per thread ---- */

#define SET_VALUES (2 * BACKEND_MAX_VALUES)

struct counter_set {
	const char *const *slot_names;
	int nslots;
	int current; /* slot counting now, -1 when stopped */
	perf_thread perf;
	int nperf;
	int likwid_cpu; /* -1 when likwid does not measure this set */
	int n;          /* nperf + likwid values */
	double last[SET_VALUES];
	double last_hw_running;
	double sum[COUNTER_SET_MAX_SLOTS][SET_VALUES];
	double hw_running[COUNTER_SET_MAX_SLOTS]; /* ns the hardware group ran in each slot */
	uint64_t regions[COUNTER_SET_MAX_SLOTS];
};

/* Reads every backend into now; returns the hardware group's running time so far. */
static double sample(counter_set *cs, double *now)
{
	double running = perf_thread_read(&cs->perf, now);
	if (cs->likwid_cpu >= 0)
		likwid_read_cpu(cs->likwid_cpu, now + cs->nperf);
	return running;
}

counter_set *counter_set_create(const char *const *slot_names, int nslots)
{
	if (nslots < 1 || nslots > COUNTER_SET_MAX_SLOTS) {
		fprintf(stderr, "sgdsync: counters: %d slots asked, 1 to %d possible\n", nslots,
			COUNTER_SET_MAX_SLOTS);
		return NULL;
	}
	counter_set *cs = calloc(1, sizeof *cs);
	if (!cs || perf_thread_open(&cs->perf) != 0) {
		free(cs);
		return NULL;
	}
	cs->slot_names = slot_names;
	cs->nslots = nslots;
	cs->current = -1;
	cs->nperf = perf_nvalues();
	cs->likwid_cpu = -1;
	if (st.likwid == LIKWID_PERFMON && likwid_read_cpu(sched_getcpu(), cs->last + cs->nperf))
		cs->likwid_cpu = sched_getcpu();
	if (st.likwid == LIKWID_MARKER)
		likwid_marker_thread_init();
	cs->n = cs->nperf + (cs->likwid_cpu >= 0 ? likwid_nvalues() : 0);
	return cs;
}

void counter_set_destroy(counter_set *cs)
{
	if (!cs)
		return;
	perf_thread_close(&cs->perf);
	free(cs);
}

/* Ends the current region (if any) at this instant and makes slot (or -1) the current one. */
static void boundary(counter_set *cs, int slot)
{
	double now[SET_VALUES];
	memcpy(now, cs->last, sizeof now); /* a backend that fails to read adds nothing */
	double running = sample(cs, now);
	int cur = cs->current;
	if (cur >= 0) {
		for (int k = 0; k < cs->n; k++)
			cs->sum[cur][k] += now[k] - cs->last[k];
		cs->hw_running[cur] += running - cs->last_hw_running;
		cs->regions[cur]++;
	}
	memcpy(cs->last, now, sizeof(double) * (size_t)cs->n);
	cs->last_hw_running = running;
	if (st.likwid == LIKWID_MARKER) {
		if (cur >= 0)
			likwid_marker_stop(cs->slot_names[cur]);
		if (slot >= 0)
			likwid_marker_start(cs->slot_names[slot]);
	}
	cs->current = slot;
}

void counter_set_start(counter_set *cs, int slot)
{
	boundary(cs, slot);
}

void counter_set_stop(counter_set *cs)
{
	boundary(cs, -1);
}

static const char *value_name(const counter_set *cs, int k)
{
	return k < cs->nperf ? perf_value_name(k) : likwid_value_name(k - cs->nperf);
}

void counter_set_totals(const counter_set *cs, int slot, counter_totals *out)
{
	counter_totals_clear(out);
	out->regions = cs->regions[slot];
	for (int k = 0; k < cs->n; k++) {
		bool hw_missing = k < cs->nperf && perf_value_is_hardware(k) && cs->hw_running[slot] <= 0;
		if (cs->regions[slot] > 0 && !hw_missing)
			counter_totals_put(out, value_name(cs, k), cs->sum[slot][k]);
	}
}

void counter_set_reset(counter_set *cs)
{
	memset(cs->sum, 0, sizeof cs->sum);
	memset(cs->hw_running, 0, sizeof cs->hw_running);
	memset(cs->regions, 0, sizeof cs->regions);
}
