/* Counters: spec errors are clear; perf reads this thread's own task-clock; likwid either
 * measures (and then gives values) or is skipped with its reason and gives none; nothing
 * unmeasured appears as a value. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "harness/counters.h"

static const char *const slots[] = {"read", "gradient", "apply"};

static const counter_value *find(const counter_totals *t, const char *name)
{
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	return NULL;
}

static bool in_json_array(const cJSON *a, const char *key, const char *prefix)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, a)
	{
		const char *s = key ? cJSON_GetObjectItem(e, key)->valuestring : e->valuestring;
		if (strncmp(s, prefix, strlen(prefix)) == 0)
			return true;
	}
	return false;
}

static void spin_ms(double ms)
{
	struct timespec a, b;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	while ((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6 < ms);
}

static void check_bad_specs(void)
{
	char err[512];
	err[0] = '\0';
	CHECK(counters_open("papi", err, sizeof err) == -1, "papi accepted");
	CHECK(strstr(err, "'papi'") && strstr(err, "auto, likwid, likwid:GROUP, perf, none"), "%s", err);
	CHECK(counters_open("likwid:NO_SUCH_GROUP", err, sizeof err) == -1, "unknown group accepted");
	CHECK(strstr(err, "NO_SUCH_GROUP") && strstr(err, "unknown"), "%s", err);
	CHECK(counters_open("likwid:l2cache", err, sizeof err) == -1, "lower-case group accepted");
	CHECK(counters_open("likwid:", err, sizeof err) == -1, "empty group accepted");
	CHECK(counters_open("", err, sizeof err) == -1, "empty spec accepted");
}

/* Measured values only: every hardware event is either present or listed as unavailable. */
static void check_no_unmeasured(const counter_totals *t)
{
	const counter_unavailable *u;
	int n = counters_unavailable(&u);
	for (int i = 0; i < n; i++)
		CHECK(find(t, u[i].counter) == NULL, "%s is unavailable (%s) yet has a value", u[i].counter,
		      u[i].reason);
	static const char *const hw[] = {"cycles", "instructions", "L1D-read-misses", "LLC-read-misses"};
	for (int k = 0; k < 4; k++) {
		bool listed = false;
		for (int i = 0; i < n; i++)
			listed |= strcmp(u[i].counter, hw[k]) == 0;
		CHECK(listed || find(t, hw[k]), "%s neither measured nor listed unavailable", hw[k]);
	}
}

static void check_perf(void)
{
	char err[512];
	CHECK(counters_open("perf", err, sizeof err) == 0, "perf: %s", err);
	cJSON *status = counters_status_json();
	CHECK(in_json_array(cJSON_GetObjectItem(status, "used"), NULL, "perf"), "perf not used");
	cJSON_Delete(status);

	counter_set *cs = counter_set_create(slots, 3);
	CHECK(cs != NULL, "counter_set_create");
	counter_set_start(cs, 0);
	spin_ms(20);
	counter_set_start(cs, 1); /* switches: read ends, gradient begins */
	spin_ms(5);
	counter_set_stop(cs);
	counter_set_start(cs, 0);
	spin_ms(5);
	counter_set_stop(cs);

	counter_totals t0, t1, t2;
	counter_set_totals(cs, 0, &t0);
	counter_set_totals(cs, 1, &t1);
	counter_set_totals(cs, 2, &t2);
	CHECK(t0.regions == 2 && t1.regions == 1 && t2.regions == 0, "regions %llu %llu %llu",
	      (unsigned long long)t0.regions, (unsigned long long)t1.regions, (unsigned long long)t2.regions);
	const counter_value *clock = find(&t0, "task-clock-ns");
	CHECK(clock && clock->value >= 20e6, "read task-clock %.0f ns after 25 ms of CPU", clock ? clock->value : -1);
	/* perf's task-clock, read while it runs, can trail the thread's CPU clock by tens of µs when
	 * the machine is busy (4.968 ms seen after 5 ms): 5 % of slack, no more. */
	CHECK(find(&t1, "task-clock-ns")->value >= 4.75e6, "gradient task-clock %.0f ns after 5 ms of CPU",
	      find(&t1, "task-clock-ns")->value);
	static const char *const sw[] = {"context-switches", "cpu-migrations", "page-faults"};
	for (int k = 0; k < 3; k++)
		CHECK(find(&t0, sw[k]) && find(&t0, sw[k])->value >= 0, "%s missing or negative", sw[k]);
	CHECK(t2.n == 0, "a slot never measured has %d values", t2.n);
	check_no_unmeasured(&t0);

	counter_set_reset(cs);
	counter_set_totals(cs, 0, &t0);
	CHECK(t0.regions == 0 && t0.n == 0, "reset left %d values", t0.n);
	counter_set_destroy(cs);
	counters_close();
}

static atomic_int stop_spinning;

static void *spinner(void *arg)
{
	(void)arg;
	/* Relaxed: a flag polled until set; no data travels with it. */
	while (!atomic_load_explicit(&stop_spinning, memory_order_relaxed))
		;
	return NULL;
}

/* pid = 0, cpu = -1: a sleeping thread's set does not count a busy neighbour's time. */
static void check_per_thread(void)
{
	char err[512];
	CHECK(counters_open("perf", err, sizeof err) == 0, "perf: %s", err);
	counter_set *cs = counter_set_create(slots, 1);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, spinner, NULL) == 0, "pthread_create");
	counter_set_start(cs, 0);
	nanosleep(&(struct timespec){0, 60 * 1000 * 1000}, NULL);
	counter_set_stop(cs);
	atomic_store_explicit(&stop_spinning, 1, memory_order_relaxed);
	pthread_join(th, NULL);
	counter_totals t;
	counter_set_totals(cs, 0, &t);
	CHECK(find(&t, "task-clock-ns")->value < 30e6, "a 60 ms sleep counted %.0f ns of CPU",
	      find(&t, "task-clock-ns")->value);
	CHECK(find(&t, "context-switches")->value >= 1, "a sleep without a context switch");
	counter_set_destroy(cs);
	counters_close();
}

/* likwid measures here (values, names likwid:GROUP:EVENT) or is skipped with a reason (no
 * value at all); both outcomes are checked according to what counters_open found. */
static void check_likwid(const char *spec)
{
	char err[512];
	CHECK(counters_open(spec, err, sizeof err) == 0, "%s: %s", spec, err);
	cJSON *status = counters_status_json();
	bool used = in_json_array(cJSON_GetObjectItem(status, "used"), NULL, "likwid:");
	bool skipped = in_json_array(cJSON_GetObjectItem(status, "skipped"), "backend", "likwid");
	CHECK(used != skipped || (used && strcmp(spec, "likwid") == 0), "%s: used %d, skipped %d", spec, used,
	      skipped);
	counter_set *cs = counter_set_create(slots, 1);
	counter_set_start(cs, 0);
	spin_ms(2);
	counter_set_stop(cs);
	counter_totals t;
	counter_set_totals(cs, 0, &t);
	int likwid_values = 0;
	for (int i = 0; i < t.n; i++)
		if (strncmp(t.v[i].name, "likwid:", 7) == 0) {
			likwid_values++;
			CHECK(t.v[i].value >= 0, "%s = %g", t.v[i].name, t.v[i].value);
		}
	if (used) {
		CHECK(likwid_values > 0, "%s: likwid used but no value", spec);
	} else {
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(status, "skipped"))
		{
			if (strcmp(cJSON_GetObjectItem(e, "backend")->valuestring, "likwid") == 0)
				CHECK(strlen(cJSON_GetObjectItem(e, "reason")->valuestring) > 5, "likwid skipped without reason");
		}
		CHECK(likwid_values == 0, "%s: likwid skipped but %d values", spec, likwid_values);
		const counter_unavailable *u;
		int n = counters_unavailable(&u);
		CHECK(n >= 1 && strncmp(u[0].counter, "likwid", 6) == 0, "likwid not listed unavailable");
	}
	cJSON_Delete(status);
	counter_set_destroy(cs);
	counters_close();
}

static void check_none_and_auto(void)
{
	char err[512];
	CHECK(counters_open("none", err, sizeof err) == 0, "none: %s", err);
	counter_set *cs = counter_set_create(slots, 2);
	counter_set_start(cs, 1);
	counter_set_stop(cs);
	counter_totals t;
	counter_set_totals(cs, 1, &t);
	CHECK(t.regions == 1 && t.n == 0, "none measured %d values", t.n);
	counter_set_destroy(cs);
	cJSON *status = counters_status_json();
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(status, "used")) == 1 &&
		      in_json_array(cJSON_GetObjectItem(status, "used"), NULL, "software"),
	      "none uses only software");
	cJSON_Delete(status);

	CHECK(counters_open("auto", err, sizeof err) == 0, "auto: %s", err);
	status = counters_status_json();
	CHECK(strcmp(cJSON_GetObjectItem(status, "requested")->valuestring, "auto") == 0, "requested");
	CHECK(in_json_array(cJSON_GetObjectItem(status, "used"), NULL, "perf"), "auto without perf");
	bool likwid_seen = in_json_array(cJSON_GetObjectItem(status, "used"), NULL, "likwid") ||
			   in_json_array(cJSON_GetObjectItem(status, "skipped"), "backend", "likwid");
	CHECK(likwid_seen, "auto says nothing about likwid");
	cJSON_Delete(status);
	counters_close();
}

/* A likwid-perfctr -C run (likwid pins threads) is refused before likwid is touched. */
static void check_marker_pin_refused(void)
{
	char err[512];
	setenv("LIKWID_FILEPATH", "/nonexistent/marker", 1);
	setenv("LIKWID_EVENTS", "DATA", 1);
	setenv("LIKWID_PIN", "0,1", 1);
	CHECK(counters_open("likwid", err, sizeof err) == -1, "likwid-perfctr -C accepted");
	CHECK(strstr(err, "-C") && strstr(err, "-c"), "%s", err);
	unsetenv("LIKWID_FILEPATH");
	unsetenv("LIKWID_EVENTS");
	unsetenv("LIKWID_PIN");
}

static void check_totals(void)
{
	counter_totals a, b;
	counter_totals_clear(&a);
	counter_totals_clear(&b);
	a.regions = 2;
	b.regions = 3;
	CHECK(counter_totals_put(&a, "cas-failures", 4) == 0, "put");
	CHECK(counter_totals_put(&a, "cas-failures", 2) == 0, "put again");
	CHECK(counter_totals_put(&b, "backoffs", 5) == 0 && counter_totals_put(&b, "cas-failures", 1) == 0, "put b");
	counter_totals_add(&a, &b);
	CHECK(a.regions == 5 && a.n == 2 && find(&a, "cas-failures")->value == 7 && find(&a, "backoffs")->value == 5,
	      "add");
	cJSON *j = counter_totals_json_per_op(&a, 2);
	CHECK(cJSON_GetObjectItem(j, "cas-failures")->valuedouble == 3.5, "per op");
	CHECK(cJSON_GetArraySize(j) == 2, "json size");
	cJSON_Delete(j);
	counter_totals full;
	counter_totals_clear(&full);
	static char names[COUNTERS_MAX + 1][8];
	for (int i = 0; i < COUNTERS_MAX; i++) {
		snprintf(names[i], sizeof names[i], "c%d", i);
		CHECK(counter_totals_put(&full, names[i], 1) == 0, "put %d", i);
	}
	snprintf(names[COUNTERS_MAX], sizeof names[0], "extra");
	CHECK(counter_totals_put(&full, names[COUNTERS_MAX], 1) == -1, "full totals took one more");
}

int main(void)
{
	check_totals();
	check_bad_specs();
	check_marker_pin_refused();
	check_likwid("likwid");
	check_likwid("likwid:DATA");
	check_likwid("likwid:MEM");
	check_none_and_auto();
	check_perf();
	check_per_thread();
	CHECK_DONE();
}
