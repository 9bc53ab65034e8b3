#ifndef SGDSYNC_HARNESS_COUNTERS_BACKEND_H
#define SGDSYNC_HARNESS_COUNTERS_BACKEND_H

/* Inside the counters module only: what counters.c asks of its backends (counters_perf.c,
 * counters_likwid.c) and what they report back. */

#include <stdbool.h>

#include "harness/counters.h"

/* Reporting, during counters_open only (single-threaded). Strings are copied. */
void counters_note_used(const char *backend);
/* One line on stderr and an entry in counters_status_json's "skipped". */
void counters_note_skipped(const char *backend, const char *reason);
/* An entry in counters_unavailable. */
void counters_note_unavailable(const char *counter, const char *reason);

/* Values a backend reads at one instant, cumulative since its thread state opened. */
#define BACKEND_MAX_VALUES 12

/* ---- perf_event ---- */
/* Decides which events this process can count; false when perf cannot be used at all. */
bool perf_open(void);
int perf_nvalues(void);
const char *perf_value_name(int k);
/* Hardware values can be missing from a region (the group was never scheduled in it). */
bool perf_value_is_hardware(int k);

#define PERF_GROUP_MAX 4

typedef struct {
	int sw[PERF_GROUP_MAX]; /* software group, leader first; -1 when absent */
	int hw[PERF_GROUP_MAX]; /* hardware group */
} perf_thread;

/* Opens the calling thread's groups; -1 (message on stderr) on failure. */
int perf_thread_open(perf_thread *t);
void perf_thread_close(perf_thread *t);
/* Writes perf_nvalues() cumulative values (hardware ones scaled for multiplexing) and returns
 * the hardware group's running time so far in ns (0 when it never ran or is absent). */
double perf_thread_read(const perf_thread *t, double *values);

/* ---- likwid ---- */
typedef enum {
	LIKWID_OFF,
	LIKWID_PERFMON, /* our process measures one group through the perfmon API */
	LIKWID_MARKER,  /* likwid-perfctr -m measures; we mark regions */
} likwid_mode;

/* group: NULL for auto's choice. Returns -1 with err for an unknown group or a refused setup;
 * otherwise 0, with the mode that came out (LIKWID_OFF when skipped). */
int likwid_open(const char *group, likwid_mode *mode, char *err, size_t errlen);
void likwid_close(void);
int likwid_nvalues(void);
const char *likwid_value_name(int k);
/* Cumulative values of the group's events on one CPU (perfmon mode); false when likwid does
 * not measure that CPU. */
bool likwid_read_cpu(int cpu, double *values);
/* Marker mode, on the measured thread. */
void likwid_marker_thread_init(void);
void likwid_marker_start(const char *region);
void likwid_marker_stop(const char *region);

#endif
