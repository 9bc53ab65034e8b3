/* sgdsync-sweep: a grid of training runs, each in its own sgdsync-train process, recorded as
 * JSON Lines (formats §4).
 *
 * Every sgdsync-train option marked as a list in the option table can take several values
 * (method, threads, batch, eta, backoff, placement, ...); the grid is their product, times the
 * repetitions. Values are checked by the same parser sgdsync-train uses, before anything runs.
 *
 * Records are appended to the output with ONE write() of a whole line on an O_APPEND descriptor,
 * then fsync. Appending costs one line per record whatever the file's size (rewriting the whole
 * file through a temporary and a rename would cost the whole file each time). A write cannot be
 * torn by a signal on a local file system; if it is cut short anyway (disk full) the sweep
 * truncates the partial line away and stops. A last line cut short (the machine went down
 * mid-write) is cut off when the sweep resumes, so a record is either fully there or absent; a
 * whole record that lacks only its newline is kept, and the newline added.
 *
 * A rerun reads the keys already in the output and skips them: a sweep killed midway loses only
 * the run it was waiting for (the child dies with it: PR_SET_PDEATHSIG) and repeats nothing.
 * One sweep at a time holds the output (flock). A run whose result cannot be written gets no
 * record: the sweep stops, and a rerun redoes it. */

/* First: <fcntl.h> under _GNU_SOURCE defines a LOCK_RW macro (flock) that would rename
 * primitives/lock.h's enumerator. */
#include "harness/sweep_config.h"

#include "harness/counters.h"
#include "harness/env.h"
#include "harness/jsonfile.h"
#include "workloads/blas.h"
#include "harness/sweep_slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define CHILD_UNWRITTEN_STATUS 3 /* sgdsync-train ran but could not write its result */
#define CHILD_WATCHDOG_STATUS 124 /* sgdsync-train's own watchdog */
#define POLL_NS 20000000L

typedef struct {
	sweep_config c;
	int dry_run;
	int quiet;
} sweep;

/* The keys of the runs done. */
typedef struct {
	char **keys;
	size_t n, cap;
} keyset;

static int keyset_has(const keyset *k, const char *key)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->keys[i], key) == 0)
			return 1;
	return 0;
}

static void keyset_add(keyset *k, const char *key)
{
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 64;
		k->keys = realloc(k->keys, k->cap * sizeof(*k->keys));
	}
	k->keys[k->n++] = strdup(key);
}

static void keyset_free(keyset *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->keys[i]);
	free(k->keys);
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sgdsync-sweep --output FILE [--config FILE] [--KEY=V1,V2,...]... [--dry-run] [--quiet]\n\n"
		"Runs every combination of the values given (times --repetitions), each in its own\n"
		"sgdsync-train process, and appends one JSON line per finished run to FILE (format\n"
		"sgdsync-sweep, version 1). A rerun skips the runs FILE already records.\n\n"
		"KEY is any sgdsync-train option (see sgdsync-train --help) but output and quiet; list\n"
		"options take comma-separated values (method, threads, batch, eta, backoff, placement,\n"
		"step-policy, arch, ...; plural spellings such as --methods also work), the others one\n"
		"value (targets, counters, time-limit). A backoff list splits before each spec:\n"
		"--backoff=none,exp:base=64,cap=4096 is two values.\n\n"
		"  --output FILE        the JSON Lines file (required)\n"
		"  --config FILE        'key = v1, v2' lines, # comments; flags override its keys\n"
		"                       wherever they stand\n"
		"  --repetitions N      runs of each configuration (default: 1)\n"
		"  --grace S            a run is killed and recorded as timeout at its time limit plus S\n"
		"                       seconds (default: 120)\n"
		"  --results-dir DIR    keep each run's JSON there as KEY.json (default: not kept; the\n"
		"                       record holds it)\n"
		"  --dry-run            list the runs and their keys, run nothing\n"
		"  --quiet              no progress\n\n"
		"Outcomes: converged, not-converged, diverged (from the run), crashed (the process died:\n"
		"a signal, or a non-zero exit without a result), timeout (killed at the deadline, or\n"
		"ended by sgdsync-train's watchdog). Exit status: 0 when every run was recorded, whatever\n"
		"its outcome; 1 when the output or a run's result cannot be read or written (the sweep\n"
		"stops; the run has no record, so a rerun redoes it); 2 for bad options (an\n"
		"output that is not a sweep file or that another sweep is writing, a --results-dir\n"
		"that is not a directory).\n");
	slurm_usage(f);
}

/* Flags override the config wherever they stand: a first pass over argv reads the --config
 * files, a second applies the flags. */
enum args_pass { CONFIG_FILES, FLAGS };

static int apply_args(sweep *s, int argc, char **argv, enum args_pass pass, char *err,
		      size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			return 1;
		if (strcmp(arg, "--dry-run") == 0 || strcmp(arg, "--quiet") == 0) {
			*(arg[2] == 'd' ? &s->dry_run : &s->quiet) = 1;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0) {
			snprintf(err, errlen, "unexpected argument '%s' (options are --key value)", arg);
			return -1;
		}
		char key[64], value[4096];
		const char *eq = strchr(arg, '=');
		size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		snprintf(key, sizeof key, "%.*s", (int)(len < sizeof key ? len : sizeof key - 1), arg + 2);
		const char *given = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
		if (!given) {
			snprintf(err, errlen, "--%s needs a value", key);
			return -1;
		}
		if (strlen(given) >= sizeof value) {
			snprintf(err, errlen, "--%s: value longer than %zu characters", key, sizeof value - 1);
			return -1;
		}
		strcpy(value, given);
		int is_config = strcmp(key, "config") == 0;
		if (is_config != (pass == CONFIG_FILES))
			continue;
		char origin[80];
		snprintf(origin, sizeof origin, "--%s", key);
		int rc = is_config ? sweep_config_read(&s->c, value, err, errlen)
				   : sweep_config_set(&s->c, key, value, origin, err, errlen);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int parse_args(sweep *s, int argc, char **argv, char *err, size_t errlen)
{
	int rc = apply_args(s, argc, argv, CONFIG_FILES, err, errlen);
	if (rc == 0)
		rc = apply_args(s, argc, argv, FLAGS, err, errlen);
	if (rc != 0)
		return rc;
	if (s->c.output[0] == '\0') {
		snprintf(err, errlen, "--output FILE is required");
		return -1;
	}
	return 0;
}

/* ---- the grid ---- */

/* The index-th configuration (repetition innermost): its options and its values. Returns 1 for
 * a combination train_options_check refuses (a backoff crossed with a method or lock that
 * ignores it), which the sweep skips, with the reason in err. */
static int grid_options_why(const sweep_config *s, size_t index, train_options *o,
			    const char **chosen, int *rep, char *err, size_t errlen)
{
	*rep = (int)(index % (size_t)s->repetitions);
	index /= (size_t)s->repetitions;
	train_options_default(o);
	for (int i = s->ndims - 1; i >= 0; i--) {
		const sweep_dim *d = &s->dims[i];
		chosen[i] = d->values[index % (size_t)d->n];
		index /= (size_t)d->n;
		if (d->opt->set(o, chosen[i], err, errlen) != 0)
			return -1; /* checked when parsed; cannot happen */
	}
	return train_options_check(o, err, errlen) != 0;
}

static int grid_options(const sweep_config *s, size_t index, train_options *o, const char **chosen,
			int *rep)
{
	char err[512];
	return grid_options_why(s, index, o, chosen, rep, err, sizeof err);
}

/* How many of the total configurations the grid skips; the first one's reason in err. */
static size_t grid_refused(const sweep_config *s, size_t total, char *err, size_t errlen)
{
	size_t refused = 0;
	char why[512];
	for (size_t i = 0; i < total; i++) {
		train_options o;
		const char *chosen[SWEEP_CONFIG_MAX_DIMS];
		int rep;
		if (grid_options_why(s, i, &o, chosen, &rep, why, sizeof why) == 1 && refused++ == 0)
			snprintf(err, errlen, "%s", why);
	}
	return refused;
}

/* Every run's budget fits in memory (train_options_check_budget), checked before any runs. */
static int check_budgets(const sweep_config *s, size_t total, char *err, size_t errlen)
{
	char why[1024];
	for (size_t i = 0; i < total; i += (size_t)s->repetitions) {
		train_options o;
		const char *chosen[SWEEP_CONFIG_MAX_DIMS];
		int rep;
		if (grid_options(s, i, &o, chosen, &rep) != 0)
			continue; /* skipped, never run */
		if (train_options_check_budget(&o, why, sizeof why) == 0)
			continue;
		int at = snprintf(err, errlen, "run %zu of the grid (", i + 1);
		for (int d = 0; d < s->ndims && at >= 0 && (size_t)at < errlen; d++)
			at += snprintf(err + at, errlen - (size_t)at, "%s--%s=%s", d ? " " : "",
				       s->dims[d].opt->name, chosen[d]);
		if (at >= 0 && (size_t)at < errlen)
			snprintf(err + at, errlen - (size_t)at, "): %s", why);
		return -1;
	}
	return 0;
}

static uint64_t fnv1a(const char *text)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (; *text; text++)
		h = (h ^ (unsigned char)*text) * 0x100000001b3u;
	return h;
}

/* A stable id: readable fields, a hash of the whole config, and the repetition. */
static void make_key(const train_options *o, const cJSON *config, int rep, char *key, size_t len)
{
	char *text = cJSON_PrintUnformatted(config);
	snprintf(key, len, "%s-t%d-b%d-eta%g-%016llx-r%d", model_method_name(o->method), o->threads,
		 o->batch, o->eta, (unsigned long long)fnv1a(text ? text : ""), rep);
	free(text);
}

/* The index-th configuration's options, values and key; returns its config JSON (the caller's),
 * or NULL for a combination the sweep skips. */
static cJSON *grid_entry(const sweep_config *s, size_t index, train_options *o, const char **chosen,
			 int *rep, char *key, size_t keylen)
{
	if (grid_options(s, index, o, chosen, rep) != 0)
		return NULL;
	cJSON *config = train_options_config_json(o, o->epochs, o->steps_per_epoch);
	make_key(o, config, *rep, key, keylen);
	return config;
}

/* The index-th configuration's values and key; -1 for a combination the sweep skips. */
static int grid_key(const sweep_config *s, size_t index, const char **chosen, char *key,
		    size_t keylen)
{
	train_options o;
	int rep;
	cJSON *config = grid_entry(s, index, &o, chosen, &rep, key, keylen);
	cJSON_Delete(config);
	return config ? 0 : -1;
}

/* ---- the output file ---- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
		n += got;
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

/* Every record begins so (cJSON prints "format" first): a line torn mid-write begins with these
 * bytes, or is cut within them. */
static const char RECORD_START[] = "{\"format\":\"sgdsync-sweep\",";

static int is_torn_record(const char *line, size_t len)
{
	size_t n = len < sizeof RECORD_START - 1 ? len : sizeof RECORD_START - 1;
	return memcmp(line, RECORD_START, n) == 0;
}

static int is_blank(const char *line)
{
	return line[strspn(line, " \t\r")] == '\0';
}

/* Adds the key of a record line; -1 if the line is not a record. */
static int add_record_key(const char *line, keyset *done)
{
	cJSON *rec = cJSON_Parse(line);
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(rec, "format");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(rec, "key");
	int ok = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "sgdsync-sweep") == 0 &&
		 cJSON_IsString(key);
	if (ok)
		keyset_add(done, key->valuestring);
	cJSON_Delete(rec);
	return ok ? 0 : -1;
}

static int cut_torn_line(const char *path, size_t at, int lineno, int dry_run, char *err,
			 size_t errlen)
{
	fprintf(stderr, "sgdsync-sweep: %s: line %d was cut short (no newline); %s\n", path, lineno,
		dry_run ? "a run will remove it" : "removing it");
	if (dry_run || truncate(path, (off_t)at) == 0)
		return 0;
	snprintf(err, errlen, "%s: cannot cut the partial line: %s", path, strerror(errno));
	return EXIT_FAILED;
}

/* Collects the keys recorded in path, skipping blank lines. A last line without its newline is
 * kept if it is a whole record (*unterminated is set: the next append must begin with the
 * newline); if it only begins like one it was torn mid-write and is cut off (with --dry-run,
 * only reported). A file with any other line is not a sweep file and is left as it is
 * (EXIT_USAGE). */
static int read_done(const char *path, int dry_run, keyset *done, int *unterminated, char *err,
		     size_t errlen)
{
	size_t len;
	char *text = slurp(path, &len);
	*unterminated = 0;
	if (!text) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return EXIT_FAILED;
	}
	size_t pos = 0, torn_at = len;
	int lineno = 0, rc = 0;
	while (rc == 0 && pos < len) {
		char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		char *line = text + pos;
		text[end] = '\0'; /* slurp's terminator for the last line */
		lineno++;
		if (is_blank(line) || add_record_key(line, done) == 0) {
			*unterminated = !nl && !is_blank(line);
		} else if (!nl && is_torn_record(line, end - pos)) {
			torn_at = pos;
		} else {
			snprintf(err, errlen, "%s: line %d is not a sgdsync-sweep record: not a sweep "
				 "file, left as it is (choose another --output)", path, lineno);
			rc = EXIT_USAGE;
		}
		pos = end + 1;
	}
	if (rc == 0 && torn_at < len)
		rc = cut_torn_line(path, torn_at, lineno, dry_run, err, errlen);
	free(text);
	return rc;
}

/* The newline a whole last record lacks, so that the next record begins a line. */
static int end_last_line(int fd, const char *path, char *err, size_t errlen)
{
	if (write(fd, "\n", 1) == 1 && fsync(fd) == 0)
		return 0;
	snprintf(err, errlen, "%s: ending its last line: %s", path, strerror(errno));
	return EXIT_FAILED;
}

/* One write() of the whole line, then fsync; a short write is cut away again. */
static int append_record(int fd, const cJSON *rec, char *err, size_t errlen)
{
	char *text = cJSON_PrintUnformatted(rec);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t len = strlen(text);
	text[len] = '\n'; /* cJSON's terminator becomes the newline: one buffer, one write */
	off_t before = lseek(fd, 0, SEEK_END);
	ssize_t w = write(fd, text, len + 1);
	free(text);
	if (w == (ssize_t)(len + 1) && fsync(fd) == 0)
		return 0;
	snprintf(err, errlen, "appending a record: %s", w < 0 ? strerror(errno) : "short write");
	if (w > 0 && before >= 0 && ftruncate(fd, before) != 0)
		snprintf(err, errlen, "appending a record left a partial line: %s", strerror(errno));
	return -1;
}

/* ---- the output's lock: one sweep at a time on an output ---- */

/* The sweep holding the lock says who it is in FILE.lock, for the message of a second one; the
 * lock itself is flock on the output (released when its holder dies, whatever FILE.lock says). */
static void lock_info_path(const char *output, char *path, size_t len)
{
	snprintf(path, len, "%s.lock", output);
}

static void lock_holder(const char *output, char *who, size_t len)
{
	char path[PATH_MAX + 8];
	lock_info_path(output, path, sizeof path);
	size_t n = 0;
	char *text = slurp(path, &n);
	if (text && n > 0 && text[n - 1] == '\n')
		text[n - 1] = '\0';
	snprintf(who, len, "%s", text && *text ? text : "a sweep that has not said who it is");
	free(text);
}

/* Opens the output for appending and locks it; -1 with a message (EXIT_USAGE in *rc when
 * another sweep holds it). */
static int open_locked(const char *output, int *rc, char *err, size_t errlen)
{
	int fd = open(output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", output, strerror(errno));
		*rc = EXIT_FAILED;
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		char who[256];
		int busy = errno == EWOULDBLOCK;
		if (busy)
			lock_holder(output, who, sizeof who);
		snprintf(err, errlen, busy ? "output %s is in use by %s" : "locking %s: %s", output,
			 busy ? who : strerror(errno));
		*rc = busy ? EXIT_USAGE : EXIT_FAILED;
		close(fd);
		return -1;
	}
	char path[PATH_MAX + 8], date[32];
	time_t now = time(NULL);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	lock_info_path(output, path, sizeof path);
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "sweep pid %d (started %s)\n", (int)getpid(), date);
		fclose(f);
	}
	return fd;
}

/* Unlinks FILE.lock before the lock goes, so that it never erases the next holder's. */
static void close_locked(const char *output, int fd)
{
	char path[PATH_MAX + 8];
	lock_info_path(output, path, sizeof path);
	unlink(path);
	close(fd);
}

/* ---- one run ---- */

typedef struct {
	const char *outcome;
	int exit_status;   /* -1 when killed by a signal */
	int signal;        /* 0 when none */
	double wall_s;
	cJSON *result;     /* the run's object, or NULL */
	const char *reason; /* why the sweep ended it (Slurm), or NULL */
} run_end;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* argv for the child: the sweep's values as --name=value, then the output and --quiet. */
static char **child_argv(const sweep_config *s, const char *train_path, const char **chosen,
			 const char *json_path)
{
	char **argv = calloc((size_t)s->ndims + 5, sizeof(*argv));
	int n = 0;
	argv[n++] = strdup(train_path);
	for (int i = 0; i < s->ndims; i++) {
		size_t len = strlen(s->dims[i].opt->name) + strlen(chosen[i]) + 4;
		argv[n] = malloc(len);
		snprintf(argv[n++], len, "--%s=%s", s->dims[i].opt->name, chosen[i]);
	}
	argv[n++] = strdup("--quiet");
	argv[n++] = strdup("--output");
	argv[n++] = strdup(json_path);
	return argv;
}

static void free_argv(char **argv)
{
	for (int i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static pid_t spawn(char **argv, int log_fd)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* The run dies with the sweep: a killed sweep leaves no orphan to finish unrecorded. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	int null = open("/dev/null", O_RDWR);
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	dup2(log_fd >= 0 ? log_fd : null, STDERR_FILENO);
	execv(argv[0], argv);
	fprintf(stderr, "sgdsync-sweep: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Reads the run's JSON if it is a training run. */
static cJSON *read_result(const char *path)
{
	size_t len;
	char *text = slurp(path, &len);
	cJSON *doc = text ? cJSON_Parse(text) : NULL;
	free(text);
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(doc, "format");
	if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "sgdsync-train") != 0) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

typedef void (*tick_fn)(void *arg, double running_s);

/* Runs the child to its end or its deadline (0: none). */
static void run_child(char **argv, int log_fd, double deadline_s, const char *json_path,
		      tick_fn tick, void *tick_arg, run_end *end)
{
	memset(end, 0, sizeof(*end));
	double start = now_s();
	pid_t pid = spawn(argv, log_fd);
	int status = 0, killed = 0;
	struct timespec pause_ts = {0, POLL_NS};
	while (pid > 0) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
		double running = now_s() - start;
		if (((deadline_s > 0 && running > deadline_s) || slurm_stop_signal()) && !killed) {
			kill(pid, SIGKILL);
			killed = 1;
		}
		if (tick)
			tick(tick_arg, running);
		nanosleep(&pause_ts, NULL);
	}
	end->wall_s = now_s() - start;
	end->exit_status = pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	end->signal = pid > 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	end->result = end->exit_status == 0 ? read_result(json_path) : NULL;
	const cJSON *outcome = cJSON_GetObjectItemCaseSensitive(end->result, "outcome");
	int stop = slurm_stop_signal();
	if (stop) {
		end->outcome = slurm_stop_outcome(stop);
		end->reason = slurm_stop_reason(stop);
	} else if (killed || end->exit_status == CHILD_WATCHDOG_STATUS)
		end->outcome = "timeout";
	else if (cJSON_IsString(outcome))
		end->outcome = outcome->valuestring;
	else
		end->outcome = "crashed";
}

/* The environment of a run that left no result (a result carries its own): the counters opened
 * as the run opens them, so that it is the environment of the runs that completed. What
 * counters_open says on stderr goes to the log, beside what the run said. */
static cJSON *run_environment(const train_options *o, char **argv, int log_fd)
{
	char err[512];
	int saved = dup(STDERR_FILENO);
	fflush(stderr);
	dup2(log_fd, STDERR_FILENO);
	int opened = counters_open(o->counters, err, sizeof err) == 0;
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	int argc = 0;
	while (argv[argc])
		argc++;
	env_options eo = {.pinning = o->pinning, .memory = o->memory,
			  .openblas_config = blas_config(), .blas_core = blas_core_get(),
			  .argc = argc, .argv = argv};
	cJSON *env = env_json(&eo);
	if (opened)
		counters_close();
	return env;
}

/* The record owns config, env (NULL when the run left its result) and end->result. */
static cJSON *record_json(const char *key, cJSON *config, int rep, run_end *end, cJSON *env)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "format", "sgdsync-sweep");
	cJSON_AddNumberToObject(r, "version", 1);
	cJSON_AddStringToObject(r, "key", key);
	cJSON_AddItemToObject(r, "config", config);
	cJSON_AddNumberToObject(r, "repetition", rep);
	cJSON_AddStringToObject(r, "outcome", end->outcome);
	if (end->exit_status >= 0)
		cJSON_AddNumberToObject(r, "exit_status", end->exit_status);
	else
		cJSON_AddNullToObject(r, "exit_status");
	if (end->signal) {
		const char *abbrev = sigabbrev_np(end->signal);
		char name[32];
		snprintf(name, sizeof name, "SIG%s", abbrev ? abbrev : "?");
		if (abbrev)
			cJSON_AddStringToObject(r, "signal", name);
		else
			cJSON_AddNumberToObject(r, "signal", end->signal);
	} else {
		cJSON_AddNullToObject(r, "signal");
	}
	cJSON_AddNumberToObject(r, "wall_s", end->wall_s);
	char host[256] = "";
	gethostname(host, sizeof host - 1);
	cJSON_AddStringToObject(r, "hostname", host);
	if (end->reason)
		cJSON_AddStringToObject(r, "reason", end->reason);
	if (end->result)
		cJSON_AddItemToObject(r, "result", end->result);
	else
		cJSON_AddNullToObject(r, "result");
	end->result = NULL;
	if (env)
		cJSON_AddItemToObject(r, "environment", env);
	return r;
}

/* An unwritable result is the sweep's I/O failure, not an outcome of the run: 1 with a message
 * when a run that ended by itself left no result because its JSON could not be written (its
 * folder is unwritable now, or sgdsync-train said so), or exited 0 without one. The run gets
 * no record, so that a resume redoes it. */
static int result_lost(const run_end *end, const char *json_path, char *err, size_t errlen)
{
	char why[PATH_MAX + 128];
	if (end->result || end->signal || strcmp(end->outcome, "timeout") == 0)
		return 0;
	if (jsonfile_check_writable(json_path, why, sizeof why) != 0) {
		snprintf(err, errlen, "the run's result is lost: %s", why);
		return 1;
	}
	if (end->exit_status == CHILD_UNWRITTEN_STATUS) {
		snprintf(err, errlen, "the run could not write its result to %s (exit %d; its message "
			 "is in the sweep's .log)", json_path, CHILD_UNWRITTEN_STATUS);
		return 1;
	}
	if (end->exit_status != 0)
		return 0;
	snprintf(err, errlen, "the run exited 0 but %s holds no sgdsync-train result", json_path);
	return 1;
}

/* ---- progress ---- */

typedef struct {
	int tty, quiet;
	size_t total, done_before, finished, ran;
	double ran_s;          /* wall time of the runs finished in this session */
	double drawn_s;        /* when the bar was last drawn */
	const char *current;
} progress;

static void progress_draw(void *arg, double running_s)
{
	progress *p = arg;
	double now = now_s();
	if (!p->tty || p->quiet || now - p->drawn_s < 0.25)
		return;
	p->drawn_s = now;
	size_t done = p->done_before + p->finished;
	int width = 30, fill = p->total ? (int)(width * done / p->total) : width;
	char eta[32] = "?";
	if (p->ran > 0) {
		double left = p->ran_s / (double)p->ran * (double)(p->total - done) - running_s;
		long t = left > 0 ? (long)left : 0;
		snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	}
	fprintf(stderr, "\r\033[K[%.*s%.*s] %zu/%zu  ETA %s  running %s (%.0f s)", fill,
		"##############################", width - fill, "..............................", done,
		p->total, eta, p->current ? p->current : "", running_s);
	fflush(stderr);
}

/* Clears the bar's line for a message. */
static void progress_clear(const progress *p)
{
	if (p->tty && !p->quiet)
		fprintf(stderr, "\r\033[K");
}

static void progress_line(progress *p, const char *key, const run_end *end)
{
	if (p->quiet)
		return;
	progress_clear(p);
	fprintf(stderr, "sgdsync-sweep: %zu/%zu %s: %s (%.1f s)\n", p->done_before + p->finished,
		p->total, key, end->outcome, end->wall_s);
}

/* ---- main ---- */

static int find_train(char *path, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	*slash = '\0';
	snprintf(path, len, "%s/sgdsync-train", self);
	return access(path, X_OK);
}

/* 0, or the exit status after a message: EXIT_USAGE when the path is not a directory. */
static int make_results_dir(const char *dir)
{
	struct stat st;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "sgdsync-sweep: --results-dir %s: %s\n", dir, strerror(errno));
		return EXIT_FAILED;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "sgdsync-sweep: --results-dir %s: not a directory\n", dir);
		return EXIT_USAGE;
	}
	return 0;
}

static void json_path_for(const sweep_config *s, const char *key, char *path, size_t len)
{
	if (s->results_dir[0])
		snprintf(path, len, "%s/%s.json", s->results_dir, key);
	else
		snprintf(path, len, "%s.run-%d.json", s->output, (int)getpid());
}

/* Runs one configuration (config: its JSON, owned) and appends its record to fd; EXIT_FAILED
 * after a message when its result or its record cannot be written. */
static int run_and_record(const sweep_config *s, const char *train_path, int fd, int log_fd,
			  const train_options *o, const char **chosen, cJSON *config, int rep,
			  const char *key, progress *p)
{
	char err[2 * PATH_MAX], json_path[PATH_MAX + 300];
	json_path_for(s, key, json_path, sizeof json_path);
	if (jsonfile_check_writable(json_path, err, sizeof err) != 0) {
		progress_clear(p);
		fprintf(stderr, "sgdsync-sweep: %s: not run: %s\n", key, err);
		cJSON_Delete(config);
		return EXIT_FAILED;
	}
	char **argv = child_argv(s, train_path, chosen, json_path);
	dprintf(log_fd, "=== %s:", key);
	for (int a = 0; argv[a]; a++)
		dprintf(log_fd, " %s", argv[a]);
	dprintf(log_fd, "\n");
	p->current = key;
	run_end end;
	double deadline = o->time_limit_s > 0 ? o->time_limit_s + s->grace_s : 0;
	run_child(argv, log_fd, deadline, json_path, progress_draw, p, &end);
	cJSON *env = end.result ? NULL : run_environment(o, argv, log_fd);
	free_argv(argv);
	if (!s->results_dir[0])
		unlink(json_path);
	if (result_lost(&end, json_path, err, sizeof err)) {
		progress_clear(p);
		fprintf(stderr, "sgdsync-sweep: %s: not recorded: %s\n", key, err);
		cJSON_Delete(env);
		cJSON_Delete(config);
		return EXIT_FAILED;
	}
	p->finished++;
	p->ran++;
	p->ran_s += end.wall_s;
	progress_line(p, key, &end);
	cJSON *rec = record_json(key, config, rep, &end, env);
	int rc = append_record(fd, rec, err, sizeof err);
	cJSON_Delete(rec);
	if (rc != 0)
		fprintf(stderr, "sgdsync-sweep: %s: %s\n", s->output, err);
	return rc != 0 ? EXIT_FAILED : 0;
}

/* Runs what is not done yet, appending to fd (the locked output); only: the keys of a Slurm
 * task (NULL: every run). */
static int run_sweep(const sweep *sw, int fd, size_t total, const char *train_path, keyset *done,
		     const keyset *only)
{
	const sweep_config *s = &sw->c;
	char log_path[PATH_MAX + 8];
	snprintf(log_path, sizeof log_path, "%s.log", s->output);
	int log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		fprintf(stderr, "sgdsync-sweep: %s: %s\n", log_path, strerror(errno));
		return EXIT_FAILED;
	}
	char err[512];
	size_t refused = grid_refused(s, total, err, sizeof err);
	progress p = {.tty = isatty(STDERR_FILENO), .quiet = sw->quiet,
		      .total = only ? only->n : total - refused};
	int rc = 0;
	for (size_t i = 0; i < total && rc == 0 && !slurm_stop_signal(); i++) {
		train_options o;
		const char *chosen[SWEEP_CONFIG_MAX_DIMS];
		int rep;
		char key[256];
		cJSON *config = grid_entry(s, i, &o, chosen, &rep, key, sizeof key);
		if (!config)
			continue;
		if (only && !keyset_has(only, key)) {
			cJSON_Delete(config);
			continue;
		}
		if (keyset_has(done, key)) {
			p.done_before++;
			cJSON_Delete(config);
			continue;
		}
		if (only)
			slurm_mark_running(s->output, key);
		rc = run_and_record(s, train_path, fd, log_fd, &o, chosen, config, rep, key, &p);
		keyset_add(done, key);
		if (only && rc == 0)
			slurm_mark_running(s->output, NULL);
	}
	if (slurm_stop_signal()) {
		fprintf(stderr, "sgdsync-sweep: stopped by signal %d; %zu runs of this task recorded\n",
			slurm_stop_signal(), p.done_before + p.finished);
		rc = 128 + slurm_stop_signal();
	}
	if (rc == 0 && !sw->quiet)
		fprintf(stderr, "sgdsync-sweep: %zu runs recorded in %s (%zu this time, %zu before)\n",
			p.done_before + p.finished, s->output, p.finished, p.done_before);
	close(log_fd);
	return rc;
}

static void dry_run(const sweep_config *s, size_t total, const char *train_path,
		    const keyset *done)
{
	for (size_t i = 0; i < total; i++) {
		const char *chosen[SWEEP_CONFIG_MAX_DIMS];
		char key[256];
		if (grid_key(s, i, chosen, key, sizeof key) != 0)
			continue;
		printf("%s%s %s", key, keyset_has(done, key) ? " (done)" : "", train_path);
		for (int d = 0; d < s->ndims; d++)
			printf(" --%s=%s", s->dims[d].opt->name, chosen[d]);
		printf("\n");
	}
}

/* ---- Slurm ---- */

/* The grid's configuration whose key is key (NULL: none). */
static cJSON *config_of(const sweep_config *s, size_t total, const char *key, int *rep)
{
	for (size_t i = 0; i < total; i++) {
		train_options o;
		const char *chosen[SWEEP_CONFIG_MAX_DIMS];
		char k[256];
		cJSON *config = grid_entry(s, i, &o, chosen, rep, k, sizeof k);
		if (!config)
			continue;
		if (strcmp(k, key) == 0)
			return config;
		cJSON_Delete(config);
	}
	return NULL;
}

/* A task died in the run its mark names, without recording it: recorded as crashed in the
 * task's shard file, and the mark removed. */
static int record_lost_run(const sweep *sw, size_t total, const char *mark, keyset *done)
{
	const sweep_config *s = &sw->c;
	char *key = slurm_read_mark(mark);
	int rep, rc = 0;
	cJSON *config = key && !keyset_has(done, key) ? config_of(s, total, key, &rep) : NULL;
	if (config && sw->dry_run) {
		fprintf(stderr, "sgdsync-sweep: %s: run %s will be recorded as crashed\n", mark, key);
		cJSON_Delete(config);
	} else if (config) {
		char shard[PATH_MAX], err[2 * PATH_MAX];
		slurm_mark_shard(mark, shard, sizeof shard);
		run_end end = {.outcome = "crashed", .exit_status = -1,
			       .reason = "the Slurm task died in this run without recording it "
					 "(SIGKILL or its node lost); wall time unknown"};
		cJSON *rec = record_json(key, config, rep, &end, NULL);
		int fd = open(shard, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || append_record(fd, rec, err, sizeof err) != 0) {
			fprintf(stderr, "sgdsync-sweep: %s: %s\n", shard, fd < 0 ? strerror(errno) : err);
			rc = EXIT_FAILED;
		}
		if (fd >= 0)
			close(fd);
		cJSON_Delete(rec);
		keyset_add(done, key);
	}
	if (rc == 0 && !sw->dry_run)
		unlink(mark);
	free(key);
	return rc;
}

/* --slurm: the runs without a record in the output or in any shard file, as one job array. */
static int submit_slurm(const sweep *sw, const slurm_options *so, size_t total, int argc,
			char **argv, keyset *done)
{
	const sweep_config *s = &sw->c;
	char err[2 * PATH_MAX], self[PATH_MAX];
	if (slurm_check_earlier(so, s->output, err, sizeof err) != 0) {
		fprintf(stderr, "sgdsync-sweep: %s\n", err);
		return EXIT_USAGE;
	}
	slurm_files files;
	int rc = slurm_list_files(s->output, &files, err, sizeof err);
	int unterminated; /* a task's last record: it appends no more */
	for (size_t i = 0; rc == 0 && i < files.n; i++)
		if (!files.running[i])
			rc = read_done(files.paths[i], sw->dry_run, done, &unterminated, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "sgdsync-sweep: %s\n", err);
	for (size_t i = 0; rc == 0 && i < files.n; i++)
		if (files.running[i])
			rc = record_lost_run(sw, total, files.paths[i], done);
	slurm_files_free(&files);
	keyset pending = {0};
	for (size_t i = 0; rc == 0 && i < total; i++) {
		const char *chosen[SWEEP_CONFIG_MAX_DIMS];
		char key[256];
		if (grid_key(s, i, chosen, key, sizeof key) != 0)
			continue;
		if (!keyset_has(done, key))
			keyset_add(&pending, key);
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = '\0';
	if (rc == 0)
		rc = slurm_submit(so, s->output, self, argc, argv, pending.keys, pending.n, sw->dry_run);
	keyset_free(&pending);
	return rc;
}

/* A task of the array: only its keys, into its own shard file; stopped by Slurm's signals. */
static int slurm_task(sweep *sw, const slurm_options *so, size_t total, keyset *only)
{
	sweep_config *s = &sw->c;
	char err[2 * PATH_MAX];
	char **keys;
	size_t n;
	if (slurm_shard_keys(so, &keys, &n, err, sizeof err) != 0) {
		fprintf(stderr, "sgdsync-sweep: %s\n", err);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < n; i++) {
		keyset_add(only, keys[i]);
		free(keys[i]);
	}
	free(keys);
	for (size_t i = 0; i < only->n; i++) {
		int rep;
		cJSON *config = config_of(s, total, only->keys[i], &rep);
		if (!config) {
			fprintf(stderr, "sgdsync-sweep: run %s of %s is not in this grid (the config "
				"changed since it was submitted?)\n", only->keys[i], so->runs_file);
			return EXIT_USAGE;
		}
		cJSON_Delete(config);
	}
	slurm_shard_output(so, s->output, sizeof s->output);
	slurm_catch_signals();
	return 0;
}

int main(int argc, char **argv)
{
	static sweep s;
	static slurm_options so;
	char err[2 * PATH_MAX], train_path[PATH_MAX + 32];
	size_t total = 0;
	sweep_config_init(&s.c);
	int rc = slurm_take_args(&so, &argc, argv, err, sizeof err);
	if (rc == 0)
		rc = parse_args(&s, argc, argv, err, sizeof err);
	if (rc == 0)
		rc = slurm_check(&so, s.c.output, err, sizeof err);
	if (rc == 1) {
		usage(stdout);
		return 0;
	}
	if (rc == 0)
		rc = sweep_config_grid_size(&s.c, &total, err, sizeof err);
	if (rc == 0)
		rc = check_budgets(&s.c, total, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "sgdsync-sweep: %s\n", err);
		sweep_config_free(&s.c);
		return EXIT_USAGE;
	}
	size_t refused = grid_refused(&s.c, total, err, sizeof err);
	if (refused == total) {
		fprintf(stderr, "sgdsync-sweep: every configuration is refused: %s\n", err);
		sweep_config_free(&s.c);
		return EXIT_USAGE;
	}
	if (refused)
		fprintf(stderr, "sgdsync-sweep: skipping %zu of %zu configurations whose backoff has no "
				"effect; the first: %s\n",
			refused, total, err);
	if (find_train(train_path, sizeof train_path) != 0) {
		fprintf(stderr, "sgdsync-sweep: cannot find sgdsync-train beside this program (%s)\n",
			train_path);
		return EXIT_FAILED;
	}
	rc = s.c.results_dir[0] && !s.dry_run ? make_results_dir(s.c.results_dir) : 0;
	if (rc != 0)
		return rc;
	keyset done = {0}, only = {0};
	if (so.shard >= 0 && (rc = slurm_task(&s, &so, total, &only)) != 0) {
		keyset_free(&only);
		sweep_config_free(&s.c);
		return rc;
	}
	/* Locked before it is read: what a resume skips or cuts is no other sweep's. */
	int fd = s.dry_run ? -1 : open_locked(s.c.output, &rc, err, sizeof err);
	int unterminated = 0;
	if (rc == 0)
		rc = read_done(s.c.output, s.dry_run, &done, &unterminated, err, sizeof err);
	if (rc == 0 && unterminated && !s.dry_run)
		rc = end_last_line(fd, s.c.output, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "sgdsync-sweep: %s\n", err);
	else if (so.submit)
		rc = submit_slurm(&s, &so, total, argc, argv, &done);
	else if (s.dry_run)
		dry_run(&s.c, total, train_path, &done);
	else
		rc = run_sweep(&s, fd, total, train_path, &done, so.shard >= 0 ? &only : NULL);
	if (fd >= 0)
		close_locked(s.c.output, fd);
	keyset_free(&done);
	keyset_free(&only);
	sweep_config_free(&s.c);
	return rc;
}
