#ifndef SGDSYNC_PRIMITIVES_BACKOFF_H
#define SGDSYNC_PRIMITIVES_BACKOFF_H

/* Backoff policies: what a thread does after a failed attempt (lock taken, CAS lost).
 *
 * A policy is shared and read-only; each thread keeps its own backoff_state (attempt count,
 * jitter generator, counters). Spec strings:
 *   none
 *   const:base=64                      spin `base` pause iterations every time
 *   linear:base=64,step=64,cap=65536   spin base + step*attempt, at most cap
 *   exp:base=64,cap=65536              spin base * 2^attempt, at most cap
 *   jitter:base=64,cap=65536           spin uniform in [0, min(cap, base * 2^attempt)] (full jitter)
 *   yield                              sched_yield()
 *   sleep:base=1000                    nanosleep `base` ns
 * Omitted keys take the defaults above. Spin units are pause iterations, sleep units ns. */

#include <stddef.h>
#include <stdint.h>

typedef enum {
	BACKOFF_NONE,
	BACKOFF_CONST,
	BACKOFF_LINEAR,
	BACKOFF_EXP,
	BACKOFF_JITTER,
	BACKOFF_YIELD,
	BACKOFF_SLEEP,
} backoff_kind;

typedef struct {
	backoff_kind kind;
	uint32_t base; /* pause iterations, or ns for sleep */
	uint32_t step; /* linear only */
	uint32_t cap;  /* linear, exp, jitter: the most pause iterations of one wait */
} backoff_policy;

typedef struct {
	uint64_t backoffs;    /* waits taken */
	uint64_t pause_iters; /* pause instructions executed while waiting */
	uint64_t sleep_ns;    /* nanoseconds asked of nanosleep */
	uint64_t yields;      /* sched_yield calls */
} backoff_stats;

typedef struct {
	const backoff_policy *policy;
	uint32_t attempt; /* failures since the last backoff_reset */
	uint64_t rng;     /* jitter generator state */
	backoff_stats stats;
} backoff_state;

/* The policy of the spec "none". */
extern const backoff_policy backoff_none;

/* Parses a spec; on error returns -1 and writes a message naming the bad part into err. */
int backoff_parse(const char *spec, backoff_policy *out, char *err, size_t errlen);
/* Writes the canonical spec (every key spelled out); returns what snprintf returns. */
int backoff_format(const backoff_policy *policy, char *buf, size_t len);

void backoff_init(backoff_state *s, const backoff_policy *policy, uint64_t seed);
/* After a failed attempt: waits as the policy says and counts it. */
void backoff_wait(backoff_state *s);
/* After a success: the next failure starts from attempt 0 again. */
static inline void backoff_reset(backoff_state *s) { s->attempt = 0; }
/* One sched_yield, counted as a yield policy's wait. */
void backoff_yield(backoff_state *s);
/* Spins exactly `iters` pause iterations and counts them (a ticket lock's proportional wait). */
void backoff_spin(backoff_state *s, uint64_t iters);
/* Adds b's counters into a. */
void backoff_stats_add(backoff_stats *a, const backoff_stats *b);

#endif
