#ifndef SGDSYNC_HARNESS_COUNTERS_H
#define SGDSYNC_HARNESS_COUNTERS_H

/* Counters around measured regions: likwid groups, perf_event, and the primitives' own.
 *
 * Spec (--counters=...):
 *   auto          perf (software events always, hardware events the PMU exposes) + likwid (the
 *                 first of L2CACHE, L3CACHE, MEM, NUMA, DATA, FALSE_SHARE this CPU has; the
 *                 others it has are named as "one group per run", those it lacks as missing)
 *   likwid        likwid alone, group chosen as in auto
 *   likwid:GROUP  likwid alone, that performance group (a name likwid knows on some CPU; one
 *                 it knows nowhere is an error, one this CPU lacks is skipped with the reason)
 *   perf          perf_event alone
 *   none          only the primitives' software counters
 * The primitives' software counters (CAS attempts, backoffs, ...) are always there: callers add
 * them to a counter_totals with counter_totals_put.
 *
 * Backends are decided once per process by counters_open, before worker threads start. It
 * prints ONE line per skipped backend on stderr ("sgdsync: counters: likwid skipped: ...") and
 * records it for the environment JSON. likwid is probed in a child process first, because on an
 * unsupported CPU its library prints to stdout/stderr and may exit(); the child's message becomes
 * the reason. When the process runs under `likwid-perfctr -m -c LIST`, likwid is used through
 * its marker API instead (regions named after the slots; the values appear in likwid-perfctr's
 * report, not in ours); `likwid-perfctr -C` (likwid pins threads) is refused: we pin our own.
 *
 * A value never measured is absent, never 0.
 *
 * Cost of one counter_set_start/stop boundary: one read() of each perf group (software group,
 * and hardware group when the PMU has one), plus one likwid per-CPU read when likwid is used.
 * Measured on the 2-core KVM development guest, software group only: 0.46 µs per boundary, so
 * 1.9 µs for the 4 boundaries of a read/gradient/apply update (/tmp program looping
 * start(0) start(1) start(2) stop() 200 000 times; --counters=none: 0.01 µs). Wrapping every
 * phase of an SGD update is fine for updates of tens of µs and more; for sub-µs operations
 * count a batch of operations per region.
 *
 * Probing likwid costs about 1 s at counters_open where likwid starts its access daemon (likwid
 * sleeps while it comes up).
 *
 * likwid counts per CPU, not per thread: with several threads on one PU (oversubscription) its
 * figures include the neighbours'. perf counts per thread (pid = 0, cpu = -1), so each worker
 * reads only its own events wherever it runs. */

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* ---- Process-wide: which backends run ---- */

/* Parses spec and opens the backends; returns -1 with a message in err for a bad spec (unknown
 * backend or group) or a refused setup (likwid-perfctr -C). An unavailable backend is not an
 * error: it is skipped and reported. Call once, before starting threads that use counter_set. */
int counters_open(const char *spec, char *err, size_t errlen);
/* Releases the backends; counter sets must be destroyed first. */
void counters_close(void);
/* {"requested": "auto", "used": ["software", "perf", ...], "skipped": [{"backend":, "reason":},
 * ...]} as in formats §1 "counters"; before counters_open: requested "none", used ["software"].
 * The caller owns the result. */
cJSON *counters_status_json(void);

/* ---- Results: named totals ---- */

#define COUNTERS_MAX 24
#define COUNTERS_UNAVAILABLE_MAX 16

typedef struct {
	const char *name; /* unit in the name where it is not a count: "task-clock-ns", "L1D-read-misses" */
	double value;     /* total over the measured regions */
} counter_value;

typedef struct {
	const char *counter; /* "L1D-read-misses", "likwid:MEM", ... */
	const char *reason;
} counter_unavailable;

typedef struct {
	uint64_t regions; /* measured regions added up here */
	int n;
	counter_value v[COUNTERS_MAX];
} counter_totals;

void counter_totals_clear(counter_totals *t);
/* Adds value under name (a string that outlives t, e.g. a literal); a new name is appended.
 * Returns -1 when t is full. */
int counter_totals_put(counter_totals *t, const char *name, double value);
/* Adds every value and the region count of from into into, by name. */
void counter_totals_add(counter_totals *into, const counter_totals *from);
/* {"name": value / ops, ...}; ops > 0. The caller owns the result. */
cJSON *counter_totals_json_per_op(const counter_totals *t, double ops);

/* The counters the open backends could not measure, with the reason (e.g. the perf hardware
 * events of a hidden PMU); the array lives until counters_close. */
int counters_unavailable(const counter_unavailable **out);
/* [{"counter":, "reason":}, ...] as in formats §3 "counters.unavailable"; caller owns it. */
cJSON *counters_unavailable_json(void);

/* ---- Per thread: counting regions ---- */

/* Counters of ONE thread, accumulated into nslots slots (e.g. read, gradient, apply). Create,
 * use and destroy it on the thread it measures; it is not shared. */
typedef struct counter_set counter_set;

#define COUNTER_SET_MAX_SLOTS 8

/* slot_names name the regions (likwid marker regions, records); they must outlive the set.
 * likwid (perfmon) reads the CPU the thread is on now: pin the thread first. Returns NULL (and
 * says why on stderr) if the backends cannot open for this thread. */
counter_set *counter_set_create(const char *const *slot_names, int nslots);
void counter_set_destroy(counter_set *cs);
/* Starts counting into slot. If another slot is counting, it stops there at the same instant:
 * start(read) start(gradient) start(apply) stop() measures the three phases with 4 reads. */
void counter_set_start(counter_set *cs, int slot);
/* Stops counting; the region's values are added to its slot. */
void counter_set_stop(counter_set *cs);
/* The totals of one slot so far (only counters that were measured). */
void counter_set_totals(const counter_set *cs, int slot, counter_totals *out);
/* Forgets every slot's totals. */
void counter_set_reset(counter_set *cs);

#endif
