/* The perf_event backend: per-thread counting (pid = 0, cpu = -1) in two groups, software
 * events (always) and hardware events (those the PMU exposes), each read with one read(). */

#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness/counters_backend.h"

typedef struct {
	const char *name;
	uint32_t type;
	uint64_t config;
} perf_def;

#define CACHE_READ_MISS(cache) \
	((cache) | (PERF_COUNT_HW_CACHE_OP_READ << 8) | (PERF_COUNT_HW_CACHE_RESULT_MISS << 16))

/* context-switches leads: as a member of a group led by task-clock (another kernel PMU) it
 * misses the first switch after opening (seen on Linux 6.18). */
static const perf_def sw_defs[] = {
	{"context-switches", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES},
	{"task-clock-ns", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK},
	{"cpu-migrations", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS},
	{"page-faults", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
};
static const perf_def hw_defs[] = {
	{"cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
	{"instructions", PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
	{"L1D-read-misses", PERF_TYPE_HW_CACHE, CACHE_READ_MISS(PERF_COUNT_HW_CACHE_L1D)},
	{"LLC-read-misses", PERF_TYPE_HW_CACHE, CACHE_READ_MISS(PERF_COUNT_HW_CACHE_LL)},
};
#define NSW (int)(sizeof sw_defs / sizeof sw_defs[0])
#define NHW (int)(sizeof hw_defs / sizeof hw_defs[0])

/* Decided by perf_open, read-only afterwards. */
static struct {
	bool sw;
	bool user_only; /* kernel counting refused: count user space only */
	int nhw;
	const perf_def *hw[NHW];
} perf;

static int paranoid_level(void)
{
	int level = -9;
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
	if (f) {
		if (fscanf(f, "%d", &level) != 1)
			level = -9;
		fclose(f);
	}
	return level;
}

static int open_event(const perf_def *d, int group_fd, bool user_only)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.type = d->type;
	attr.config = d->config;
	attr.read_format = PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED |
			   PERF_FORMAT_TOTAL_TIME_RUNNING;
	attr.exclude_hv = 1;
	attr.exclude_kernel = user_only;
	return (int)syscall(SYS_perf_event_open, &attr, 0, -1, group_fd, PERF_FLAG_FD_CLOEXEC);
}

static const char *errno_name(int err)
{
	switch (err) {
	case ENOENT:
		return "ENOENT";
	case EOPNOTSUPP:
		return "EOPNOTSUPP";
	case ENODEV:
		return "ENODEV";
	case EINVAL:
		return "EINVAL";
	case EACCES:
		return "EACCES";
	case EPERM:
		return "EPERM";
	default:
		return strerror(err);
	}
}

static void why_not(int err, char *buf, size_t len)
{
	if (err == ENOENT || err == EOPNOTSUPP || err == ENODEV || err == EINVAL)
		snprintf(buf, len, "not supported by this PMU (perf_event_open: %s)", errno_name(err));
	else if (err == EACCES || err == EPERM)
		snprintf(buf, len, "not permitted (perf_event_open: %s, perf_event_paranoid=%d)",
			 errno_name(err), paranoid_level());
	else
		snprintf(buf, len, "perf_event_open failed (%s)", errno_name(err));
}

/* Opens defs[0..n) as one group into fds (leader first); returns 0, or -1 with errno of the
 * failing event and every fd -1. */
static int open_group(const perf_def *const *defs, int n, bool user_only, int *fds)
{
	for (int k = 0; k < PERF_GROUP_MAX; k++)
		fds[k] = -1;
	for (int k = 0; k < n; k++) {
		fds[k] = open_event(defs[k], k ? fds[0] : -1, user_only);
		if (fds[k] < 0) {
			int saved = errno;
			while (k-- > 0) {
				close(fds[k]);
				fds[k] = -1;
			}
			errno = saved;
			return -1;
		}
	}
	return 0;
}

static void close_group(int *fds)
{
	for (int k = PERF_GROUP_MAX - 1; k >= 0; k--)
		if (fds[k] >= 0) {
			close(fds[k]);
			fds[k] = -1;
		}
}

static bool sw_probe(void)
{
	const perf_def *defs[NSW];
	for (int k = 0; k < NSW; k++)
		defs[k] = &sw_defs[k];
	int fds[PERF_GROUP_MAX];
	int rc = open_group(defs, NSW, false, fds);
	if (rc < 0 && (errno == EACCES || errno == EPERM)) {
		rc = open_group(defs, NSW, true, fds);
		perf.user_only = rc == 0;
	}
	if (rc < 0) {
		char why[160];
		why_not(errno, why, sizeof why);
		counters_note_skipped("perf", why);
		return false;
	}
	close_group(fds);
	return true;
}

/* The hardware group ran at all: a busy loop long enough to be scheduled once. */
static bool hw_group_runs(void)
{
	int fds[PERF_GROUP_MAX];
	if (open_group(perf.hw, perf.nhw, perf.user_only, fds) < 0)
		return false;
	volatile uint64_t sink = 0;
	for (int i = 0; i < 200000; i++)
		sink += (uint64_t)i;
	uint64_t buf[3 + NHW];
	bool ran = read(fds[0], buf, sizeof buf) > 0 && buf[2] > 0;
	close_group(fds);
	return ran;
}

static void hw_probe(void)
{
	char why[NHW][160], names[256] = "";
	int err = 0;
	for (int k = 0; k < NHW; k++) {
		int fd = open_event(&hw_defs[k], -1, perf.user_only);
		if (fd >= 0) {
			close(fd);
			perf.hw[perf.nhw++] = &hw_defs[k];
			continue;
		}
		err = errno;
		why_not(err, why[k], sizeof why[k]);
		counters_note_unavailable(hw_defs[k].name, why[k]);
		snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
			 names[0] ? ", " : "", hw_defs[k].name);
	}
	if (perf.nhw > 0 && !hw_group_runs()) {
		for (int k = 0; k < perf.nhw; k++)
			counters_note_unavailable(perf.hw[k]->name,
						  "the hardware counter group never ran (counters taken)");
		perf.nhw = 0;
		counters_note_skipped("perf:hardware",
				      "the hardware counter group never ran: counters in use elsewhere");
		return;
	}
	if (perf.nhw == 0) {
		char reason[400];
		why_not(err, why[0], sizeof why[0]);
		snprintf(reason, sizeof reason, "hardware events %s: %s", why[0], names);
		counters_note_skipped("perf:hardware", reason);
	} else if (names[0]) {
		char reason[400];
		snprintf(reason, sizeof reason, "events unavailable: %s", names);
		counters_note_skipped("perf:hardware-partial", reason);
	}
}

bool perf_open(void)
{
	perf.sw = false;
	perf.nhw = 0;
	perf.user_only = false;
	if (!sw_probe())
		return false;
	perf.sw = true;
	hw_probe();
	counters_note_used(perf.user_only ? "perf:user-space-only" : "perf");
	if (perf.nhw > 0)
		counters_note_used("perf:hardware");
	return true;
}

int perf_nvalues(void)
{
	return perf.sw ? NSW + perf.nhw : 0;
}

const char *perf_value_name(int k)
{
	return k < NSW ? sw_defs[k].name : perf.hw[k - NSW]->name;
}

int perf_thread_open(perf_thread *t)
{
	const perf_def *defs[NSW];
	for (int k = 0; k < NSW; k++)
		defs[k] = &sw_defs[k];
	for (int k = 0; k < PERF_GROUP_MAX; k++)
		t->sw[k] = t->hw[k] = -1;
	if (!perf.sw)
		return 0;
	if (open_group(defs, NSW, perf.user_only, t->sw) < 0 ||
	    (perf.nhw > 0 && open_group(perf.hw, perf.nhw, perf.user_only, t->hw) < 0)) {
		fprintf(stderr, "sgdsync: counters: perf_event_open for a thread failed: %s\n",
			strerror(errno));
		perf_thread_close(t);
		return -1;
	}
	return 0;
}

void perf_thread_close(perf_thread *t)
{
	close_group(t->sw);
	close_group(t->hw);
}

/* buf: nr, time_enabled, time_running, values[nr] (PERF_FORMAT_GROUP). */
static bool read_group(int fd, uint64_t *buf, int n)
{
	ssize_t want = (ssize_t)((3 + n) * sizeof(uint64_t));
	return read(fd, buf, (size_t)want) == want;
}

double perf_thread_read(const perf_thread *t, double *values)
{
	uint64_t buf[3 + (NHW > NSW ? NHW : NSW)];
	if (t->sw[0] < 0)
		return 0;
	if (read_group(t->sw[0], buf, NSW))
		for (int k = 0; k < NSW; k++)
			values[k] = (double)buf[3 + k];
	if (t->hw[0] < 0 || !read_group(t->hw[0], buf, perf.nhw) || buf[2] == 0)
		return 0;
	/* Multiplexed: scale by enabled/running, the usual perf estimate. */
	double scale = (double)buf[1] / (double)buf[2];
	for (int k = 0; k < perf.nhw; k++)
		values[NSW + k] = (double)buf[3 + k] * scale;
	return (double)buf[2];
}

bool perf_value_is_hardware(int k)
{
	return k >= NSW;
}
