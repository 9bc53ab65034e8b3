/* The likwid backend: one performance group measured through likwid's perfmon API, or region
 * marks when the process runs under `likwid-perfctr -m -c LIST`.
 *
 * likwid cannot be asked safely whether it works: on a CPU or VM it cannot measure, its library
 * prints to stdout/stderr, and some failures end in exit(). So a forked child tries it first
 * (topology, group list, perfmon_init, and one start/stop of the candidate groups), with its
 * output captured; only when the child succeeded does this process initialise likwid itself. */

#include <dirent.h>
#include <errno.h>
#include <likwid.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/counters_backend.h"

#ifndef SGDSYNC_LIKWID_GROUPS_DIR
#define SGDSYNC_LIKWID_GROUPS_DIR "/usr/share/likwid/perfgroups"
#endif

#define PROBE_TIMEOUT_MS 10000
#define PROBE_TAG "@@sgdsync "

/* The groups of the study, in the order auto prefers them. */
static const char *const study_groups[] = {"L2CACHE", "L3CACHE", "MEM", "NUMA", "DATA", "FALSE_SHARE"};
#define NSTUDY (int)(sizeof study_groups / sizeof study_groups[0])
#define STUDY_LIST "L2CACHE, L3CACHE, MEM, NUMA, DATA, FALSE_SHARE"

/* Decided by likwid_open, read-only afterwards (the mutex guards likwid's own state). */
static struct {
	likwid_mode mode;
	int gid;
	int ncpus;
	int *cpus;
	int nvalues;
	char names[BACKEND_MAX_VALUES][128];
	pthread_mutex_t lock;
} lw = {.mode = LIKWID_OFF, .lock = PTHREAD_MUTEX_INITIALIZER};

/* What the probe child found. */
typedef struct {
	char cpu[128];
	char groups[4096]; /* " A B C " : the groups likwid defines for this CPU */
	int perfmon_rc;    /* 1 when the child never got to perfmon_init */
	char works[64];    /* the first candidate that started and stopped */
	char messages[512];
} probe_result;

static bool has_group(const probe_result *p, const char *g)
{
	char key[80];
	snprintf(key, sizeof key, " %s ", g);
	return strstr(p->groups, key) != NULL;
}

/* A group file GROUP.txt for some architecture, in likwid's or the user's group folder. */
static bool group_in_dir(const char *dir, const char *group)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;
	while (d && !found && (e = readdir(d))) {
		char path[1024];
		struct stat st;
		int len = snprintf(path, sizeof path, "%s/%s/%s.txt", dir, e->d_name, group);
		found = e->d_name[0] != '.' && len < (int)sizeof path && stat(path, &st) == 0;
	}
	if (d)
		closedir(d);
	return found;
}

static bool group_known(const char *group, char *err, size_t errlen)
{
	char user[1024];
	const char *home = getenv("HOME");
	snprintf(user, sizeof user, "%s/.likwid/groups", home ? home : "/nonexistent");
	if (access(SGDSYNC_LIKWID_GROUPS_DIR, R_OK) != 0)
		return true; /* likwid's group files are elsewhere: let likwid judge */
	if (group_in_dir(SGDSYNC_LIKWID_GROUPS_DIR, group) || group_in_dir(user, group))
		return true;
	snprintf(err, errlen,
		 "likwid group '%s' is unknown to likwid (no %s.txt in %s or %s); the study's groups "
		 "are " STUDY_LIST,
		 group, group, SGDSYNC_LIKWID_GROUPS_DIR, user);
	return false;
}

static int *likwid_cpu_list(int *n)
{
	CpuTopology_t topo = get_cpuTopology();
	int *cpus = calloc(topo->numHWThreads, sizeof(int));
	*n = 0;
	for (uint32_t i = 0; cpus && i < topo->numHWThreads; i++)
		if (topo->threadPool[i].inCpuSet)
			cpus[(*n)++] = (int)topo->threadPool[i].apicId;
	return cpus;
}

/* Starts group on every CPU; returns its group id or a negative likwid error. */
static int group_start(const char *group)
{
	int gid = perfmon_addEventSet(group);
	if (gid < 0)
		return gid;
	int rc = perfmon_setupCounters(gid);
	if (rc == 0)
		rc = perfmon_startCounters();
	return rc < 0 ? rc : gid;
}

/* likwid leaves name and short_name NULL for a CPU it does not know; the OS's name (padded with
 * blanks) remains. */
static void print_cpu(int out, CpuInfo_t info)
{
	if (info->name) {
		dprintf(out, "\n" PROBE_TAG "cpu %s (%s)\n", info->name, info->short_name ? info->short_name : "?");
		return;
	}
	const char *os = info->osname ? info->osname : "?";
	int len = (int)strlen(os);
	while (len > 0 && os[len - 1] == ' ')
		len--;
	dprintf(out, "\n" PROBE_TAG "cpu %.*s, not identified by likwid\n", len, os);
}

/* The child: never returns. Tagged lines on fd out, everything likwid prints goes there too. */
static void probe_child(int out, const char *const *cands, int ncands)
{
	dup2(out, STDOUT_FILENO);
	dup2(out, STDERR_FILENO);
	if (topology_init() != 0) {
		dprintf(out, "\n" PROBE_TAG "fail topology_init\n");
		_exit(1);
	}
	print_cpu(out, get_cpuInfo());
	char **groups = NULL, **shortinfo = NULL, **longinfo = NULL;
	int ngroups = perfmon_getGroups(&groups, &shortinfo, &longinfo);
	bool any_candidate = false;
	for (int i = 0; i < ngroups; i++) {
		dprintf(out, "\n" PROBE_TAG "group %s\n", groups[i]);
		for (int k = 0; k < ncands; k++)
			any_candidate |= strcmp(groups[i], cands[k]) == 0;
	}
	if (!any_candidate) {
		/* Nothing to start: perfmon_init would only wait seconds for likwid's access daemon. */
		dprintf(out, "\n" PROBE_TAG "perfmon skipped\n");
		_exit(0);
	}
	int ncpus, *cpus = likwid_cpu_list(&ncpus);
	int rc = perfmon_init(ncpus, cpus);
	dprintf(out, "\n" PROBE_TAG "perfmon %d\n", rc);
	for (int i = 0; rc == 0 && i < ncands; i++)
		if (group_start(cands[i]) >= 0 && perfmon_stopCounters() == 0) {
			dprintf(out, "\n" PROBE_TAG "works %s\n", cands[i]);
			break;
		}
	fflush(NULL);
	_exit(0);
}

static void keep_message(probe_result *r, const char *line)
{
	size_t used = strlen(r->messages);
	if (line[0] == '\0' || strncmp(line, "==", 2) == 0 || used + 3 >= sizeof r->messages)
		return; /* blank lines and sanitizer reports are not likwid's reason */
	snprintf(r->messages + used, sizeof r->messages - used, "%s%s", used ? "; " : "", line);
}

static void parse_line(probe_result *r, char *line)
{
	char *nl = strchr(line, '\r');
	if (nl)
		*nl = '\0';
	if (strncmp(line, PROBE_TAG, strlen(PROBE_TAG)) != 0) {
		keep_message(r, line);
		return;
	}
	char *what = line + strlen(PROBE_TAG);
	size_t used = strlen(r->groups);
	if (strncmp(what, "cpu ", 4) == 0)
		snprintf(r->cpu, sizeof r->cpu, "%s", what + 4);
	else if (strncmp(what, "group ", 6) == 0 && used + strlen(what) < sizeof r->groups)
		snprintf(r->groups + used, sizeof r->groups - used, "%s ", what + 6);
	else if (strcmp(what, "perfmon skipped") == 0)
		r->perfmon_rc = 0; /* not a failure: no candidate group is defined, why_none_works says so */
	else if (strncmp(what, "perfmon ", 8) == 0)
		r->perfmon_rc = atoi(what + 8);
	else if (strncmp(what, "works ", 6) == 0)
		snprintf(r->works, sizeof r->works, "%s", what + 6);
}

/* Reads the child's output until EOF or the timeout; false on timeout. */
static bool read_child(int fd, probe_result *r)
{
	char buf[8192];
	size_t len = 0;
	bool timed_out = false;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, PROBE_TIMEOUT_MS) <= 0) {
			timed_out = true;
			break;
		}
		ssize_t got = read(fd, buf + len, sizeof buf - 1 - len);
		if (got <= 0)
			break;
		len += (size_t)got;
		buf[len] = '\0';
		char *start = buf, *eol;
		while ((eol = strchr(start, '\n'))) {
			*eol = '\0';
			parse_line(r, start);
			start = eol + 1;
		}
		len = strlen(start);
		memmove(buf, start, len + 1);
		if (len == sizeof buf - 1)
			len = 0; /* an endless line: drop it */
	}
	if (len && !timed_out)
		parse_line(r, buf);
	return !timed_out;
}

static bool probe(const char *const *cands, int ncands, probe_result *r, char *why, size_t whylen)
{
	int fds[2];
	memset(r, 0, sizeof *r);
	r->groups[0] = ' ';
	r->perfmon_rc = 1;
	if (pipe(fds) != 0) {
		snprintf(why, whylen, "cannot probe likwid: pipe: %s", strerror(errno));
		return false;
	}
	fflush(NULL); /* nothing buffered here may be written twice by the child */
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		probe_child(fds[1], cands, ncands);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		snprintf(why, whylen, "cannot probe likwid: fork: %s", strerror(errno));
		return false;
	}
	bool finished = read_child(fds[0], r);
	close(fds[0]);
	if (!finished)
		kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	const char *said = r->messages[0] ? r->messages : "no message";
	if (!finished)
		snprintf(why, whylen, "likwid did not answer within %d s (%s)", PROBE_TIMEOUT_MS / 1000, said);
	else if (WIFSIGNALED(status))
		snprintf(why, whylen, "likwid crashed (signal %d): %s", WTERMSIG(status), said);
	else if (r->perfmon_rc != 0)
		snprintf(why, whylen, "%s (perfmon_init: %d)", said, r->perfmon_rc);
	else
		return true;
	return false;
}

static int perfmon_setup(const char *group, char *err, size_t errlen)
{
	cpu_set_t affinity;
	bool saved = sched_getaffinity(0, sizeof affinity, &affinity) == 0;
	bool ok = topology_init() == 0 && (lw.cpus = likwid_cpu_list(&lw.ncpus)) &&
		  perfmon_init(lw.ncpus, lw.cpus) == 0 && (lw.gid = group_start(group)) >= 0;
	if (saved) /* likwid may move the calling thread while it reads the topology */
		sched_setaffinity(0, sizeof affinity, &affinity);
	if (!ok) {
		snprintf(err, errlen, "likwid worked in the probe but not in this process (group %s)", group);
		return -1;
	}
	lw.nvalues = perfmon_getNumberOfEvents(lw.gid);
	if (lw.nvalues > BACKEND_MAX_VALUES)
		lw.nvalues = BACKEND_MAX_VALUES;
	for (int e = 0; e < lw.nvalues; e++)
		snprintf(lw.names[e], sizeof lw.names[e], "likwid:%s:%s", group,
			 perfmon_getEventName(lw.gid, e));
	lw.mode = LIKWID_PERFMON;
	return 0;
}

/* Names the study groups not measured: defined here but one group per run, or not defined. */
static void note_other_groups(const probe_result *r, const char *measured)
{
	for (int i = 0; i < NSTUDY; i++) {
		char backend[80], reason[256];
		if (strcmp(study_groups[i], measured) == 0)
			continue;
		snprintf(backend, sizeof backend, "likwid:%s", study_groups[i]);
		if (has_group(r, study_groups[i]))
			snprintf(reason, sizeof reason,
				 "one likwid group per run: this run measures %s; use --counters=likwid:%s",
				 measured, study_groups[i]);
		else
			snprintf(reason, sizeof reason, "group not defined for this CPU (%s)", r->cpu);
		counters_note_skipped(backend, reason);
		counters_note_unavailable(backend, reason);
	}
}

static int marker_open(char *err, size_t errlen)
{
	if (getenv("LIKWID_PIN")) {
		snprintf(err, errlen, "running under likwid-perfctr -C, which pins threads itself; "
				      "sgdsync pins its own: use likwid-perfctr -c LIST -m");
		return -1;
	}
	likwid_markerInit();
	lw.mode = LIKWID_MARKER;
	counters_note_used("likwid-marker");
	return 0;
}

static void skip_likwid(const char *why)
{
	counters_note_skipped("likwid", why);
	counters_note_unavailable("likwid", why);
}

static bool any_study_group(const probe_result *r)
{
	for (int i = 0; i < NSTUDY; i++)
		if (has_group(r, study_groups[i]))
			return true;
	return false;
}

static void why_none_works(const probe_result *r, const char *group, char *why, size_t len)
{
	if (strcmp(r->groups, " ") == 0)
		snprintf(why, len, "likwid does not support this CPU (%s): it defines no performance groups for it",
			 r->cpu);
	else if (group && !has_group(r, group))
		snprintf(why, len, "group %s is not defined for this CPU (%s)", group, r->cpu);
	else if (!group && !any_study_group(r))
		snprintf(why, len, "none of " STUDY_LIST " is defined for this CPU (%s)", r->cpu);
	else
		snprintf(why, len, "%s could not be started on this CPU (%s)%s%s",
			 group ? group : "no group of " STUDY_LIST, r->cpu, r->messages[0] ? ": " : "",
			 r->messages);
}

int likwid_open(const char *group, likwid_mode *mode, char *err, size_t errlen)
{
	probe_result r;
	char why[1024];
	*mode = LIKWID_OFF;
	if (group && !group_known(group, err, errlen))
		return -1;
	if (getenv("LIKWID_FILEPATH") && getenv("LIKWID_EVENTS")) {
		int rc = marker_open(err, errlen);
		*mode = lw.mode;
		return rc;
	}
	const char *const *cands = group ? &group : study_groups;
	if (!probe(cands, group ? 1 : NSTUDY, &r, why, sizeof why)) {
		skip_likwid(why);
		return 0;
	}
	if (!r.works[0]) {
		why_none_works(&r, group, why, sizeof why);
		skip_likwid(why);
		return 0;
	}
	if (perfmon_setup(r.works, why, sizeof why) != 0) {
		skip_likwid(why);
		return 0;
	}
	char used[80];
	snprintf(used, sizeof used, "likwid:%s", r.works);
	counters_note_used(used);
	if (!group)
		note_other_groups(&r, r.works);
	*mode = lw.mode;
	return 0;
}

void likwid_close(void)
{
	if (lw.mode == LIKWID_PERFMON) {
		perfmon_stopCounters();
		perfmon_finalize();
		topology_finalize();
	} else if (lw.mode == LIKWID_MARKER) {
		likwid_markerClose();
	}
	free(lw.cpus);
	lw.cpus = NULL;
	lw.nvalues = 0;
	lw.mode = LIKWID_OFF;
}

int likwid_nvalues(void)
{
	return lw.mode == LIKWID_PERFMON ? lw.nvalues : 0;
}

const char *likwid_value_name(int k)
{
	return lw.names[k];
}

bool likwid_read_cpu(int cpu, double *values)
{
	int idx = -1;
	for (int i = 0; i < lw.ncpus; i++)
		if (lw.cpus[i] == cpu)
			idx = i;
	if (idx < 0)
		return false;
	/* likwid's perfmon state is process-wide and not thread-safe: one reader at a time. */
	pthread_mutex_lock(&lw.lock);
	perfmon_readCountersCpu(cpu);
	for (int e = 0; e < lw.nvalues; e++)
		values[e] = perfmon_getResult(lw.gid, e, idx);
	pthread_mutex_unlock(&lw.lock);
	return true;
}

void likwid_marker_thread_init(void)
{
	likwid_markerThreadInit();
}

void likwid_marker_start(const char *region)
{
	likwid_markerStartRegion(region);
}

void likwid_marker_stop(const char *region)
{
	likwid_markerStopRegion(region);
}
