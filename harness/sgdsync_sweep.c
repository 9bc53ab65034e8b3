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
 * truncates the partial line away and stops. A line without its final newline (the machine went
 * down mid-write) is cut off when the sweep resumes, so a line is either fully there or absent.
 *
 * A rerun reads the keys already in the output and skips them: a sweep killed midway loses only
 * the run it was waiting for (the child dies with it: PR_SET_PDEATHSIG) and repeats nothing. */

/* First: <fcntl.h> under _GNU_SOURCE defines a LOCK_RW macro (flock) that would rename
 * primitives/lock.h's enumerator. */
#include "harness/train_options.h"
#include "harness/sweep_slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define CHILD_WATCHDOG_STATUS 124 /* sgdsync-train's own watchdog */
#define MAX_DIMS 32
#define MAX_VALUES 64
#define POLL_NS 20000000L

/* One option of sgdsync-train with the values the sweep gives it. */
typedef struct {
	const train_option *opt;
	char *values[MAX_VALUES];
	int n;
	char origin[PATH_MAX + 16]; /* "--flag" or "FILE:LINE", for messages */
} dim;

typedef struct {
	dim dims[MAX_DIMS];
	int ndims;
	char output[PATH_MAX];
	char results_dir[PATH_MAX];
	int repetitions;
	double grace_s;
	int dry_run;
	int quiet;
} sweep;

typedef struct {
	char **keys;
	size_t n, cap;
} keyset;

/* ---- a set of strings: the keys of a config file, the runs done ---- */

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

/* ---- options and config file ---- */

/* The plural spellings the study's scripts use. */
static const char *canonical(const char *key)
{
	static const char *const alias[][2] = {{"methods", "method"}, {"batches", "batch"},
					       {"etas", "eta"},       {"backoffs", "backoff"},
					       {"placements", "placement"}, {"archs", "arch"},
					       {"locks", "lock"},     {"seeds", "seed"}};
	for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (strcmp(key, alias[i][0]) == 0)
			return alias[i][1];
	return key;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Splits a list on commas; an empty piece is an error. A piece of the form key=value without a
 * ':' continues the previous value, so "exp:base=64,cap=4096,none" is the two backoff specs
 * "exp:base=64,cap=4096" and "none". */
static int split_values(dim *d, char *list, char *err, size_t errlen)
{
	d->n = 0;
	if (!d->opt->list) {
		d->values[d->n++] = strdup(trim(list));
		return 0;
	}
	for (char *tok; (tok = strsep(&list, ",")) != NULL;) {
		tok = trim(tok);
		if (*tok == '\0') {
			snprintf(err, errlen, "%s: an empty value in the list (no value, two commas "
				 "in a row, or one at an end)", d->opt->name);
			return -1;
		}
		if (d->n > 0 && strchr(tok, '=') && !strchr(tok, ':') && strchr(d->values[d->n - 1], ':')) {
			char *prev = d->values[d->n - 1];
			size_t len = strlen(prev) + strlen(tok) + 2;
			char *joined = malloc(len);
			snprintf(joined, len, "%s,%s", prev, tok);
			free(prev);
			d->values[d->n - 1] = joined;
			continue;
		}
		if (d->n == MAX_VALUES) {
			snprintf(err, errlen, "%s: at most %d values", d->opt->name, MAX_VALUES);
			return -1;
		}
		d->values[d->n++] = strdup(tok);
	}
	return 0;
}

static void free_dim(dim *d)
{
	for (int i = 0; i < d->n; i++)
		free(d->values[i]);
	d->n = 0;
}

static int parse_count(const char *key, const char *v, long min, long max, long *out, char *err,
		       size_t errlen)
{
	char *end;
	long x = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || x < min || x > max) {
		snprintf(err, errlen, "%s: '%s' is not an integer in [%ld, %ld]", key, v, min, max);
		return -1;
	}
	*out = x;
	return 0;
}

/* The sweep's own keys; 1 if key is one of them, -1 on a bad value. */
static int set_sweep_key(sweep *s, const char *key, const char *v, char *err, size_t errlen)
{
	long n;
	char *end;
	if (strcmp(key, "output") == 0 || strcmp(key, "results-dir") == 0) {
		char *dst = key[0] == 'o' ? s->output : s->results_dir;
		if (*v == '\0' || strlen(v) >= PATH_MAX) {
			snprintf(err, errlen, "%s: a path is needed", key);
			return -1;
		}
		snprintf(dst, PATH_MAX, "%s", v);
		return 1;
	}
	if (strcmp(key, "repetitions") == 0) {
		if (parse_count(key, v, 1, 100000, &n, err, errlen))
			return -1;
		s->repetitions = (int)n;
		return 1;
	}
	if (strcmp(key, "grace") == 0) {
		double g = strtod(v, &end);
		if (*v == '\0' || *end != '\0' || !(g >= 0 && g <= 1e6)) {
			snprintf(err, errlen, "grace: '%s' is not a number of seconds in [0, 1e6]", v);
			return -1;
		}
		s->grace_s = g;
		return 1;
	}
	return 0;
}

/* key = value list, from a flag or a config line; a later one replaces an earlier one. */
static int set_key(sweep *s, const char *rawkey, char *value, const char *origin, char *err,
		   size_t errlen)
{
	char inner[512];
	const char *key = canonical(rawkey);
	int own = set_sweep_key(s, key, trim(value), inner, sizeof inner);
	if (own != 0) {
		if (own < 0)
			snprintf(err, errlen, "%s: %s", origin, inner);
		return own < 0 ? -1 : 0;
	}
	const train_option *opt = train_option_find(key);
	if (!opt || strcmp(key, "output") == 0 || strcmp(key, "quiet") == 0) {
		snprintf(err, errlen,
			 "%s: unknown key '%s' (valid: the options of sgdsync-train --help except output "
			 "and quiet, and repetitions, grace, output, results-dir)",
			 origin, rawkey);
		return -1;
	}
	if (strcmp(key, "time-limit") == 0 && strtod(value, NULL) <= 0) {
		snprintf(err, errlen, "%s: a sweep needs a time limit > 0 (a run is killed at its time "
			 "limit plus the grace)", origin);
		return -1;
	}
	dim *d = NULL;
	for (int i = 0; i < s->ndims; i++)
		if (s->dims[i].opt == opt)
			d = &s->dims[i];
	if (!d)
		d = &s->dims[s->ndims++];
	free_dim(d);
	d->opt = opt;
	snprintf(d->origin, sizeof d->origin, "%s", origin);
	if (split_values(d, value, inner, sizeof inner) != 0) {
		snprintf(err, errlen, "%s: %s", origin, inner);
		return -1;
	}
	for (int i = 0; i < d->n; i++) {
		train_options probe;
		train_options_default(&probe);
		if (opt->set(&probe, d->values[i], inner, sizeof inner) != 0) {
			snprintf(err, errlen, "%s: %s", origin, inner);
			return -1;
		}
	}
	return 0;
}

/* One line of a config file: blank, a comment, or key = value, value, ... (each key once). */
static int config_line(sweep *s, char *line, const char *origin, keyset *seen, char *err,
		       size_t errlen)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	char *text = trim(line);
	if (*text == '\0')
		return 0;
	char *eq = strchr(text, '=');
	if (!eq) {
		snprintf(err, errlen, "%s: expected 'key = value, value, ...'", origin);
		return -1;
	}
	*eq = '\0';
	const char *key = trim(text);
	if (keyset_has(seen, canonical(key))) {
		snprintf(err, errlen, "%s: key '%s' given twice in this file (one line takes a list: "
			 "'%s = v1, v2, ...')", origin, key, key);
		return -1;
	}
	keyset_add(seen, canonical(key));
	return set_key(s, key, eq + 1, origin, err, errlen);
}

static int read_config(sweep *s, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "--config %s: %s", path, strerror(errno));
		return -1;
	}
	char line[4096], origin[PATH_MAX + 16];
	keyset seen = {0};
	int lineno = 0, rc = 0;
	while (rc == 0 && fgets(line, sizeof line, f)) {
		snprintf(origin, sizeof origin, "%s:%d", path, ++lineno);
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s: line longer than %zu characters", origin, sizeof line - 2);
			rc = -1;
		} else {
			rc = config_line(s, line, origin, &seen, err, errlen);
		}
	}
	keyset_free(&seen);
	fclose(f);
	return rc;
}

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
		"its outcome; 1 when the output cannot be read or written; 2 for bad options (an\n"
		"output that is not a sweep file, a --results-dir that is not a directory).\n");
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
		int rc = is_config ? read_config(s, value, err, errlen)
				   : set_key(s, key, value, origin, err, errlen);
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
	if (s->output[0] == '\0') {
		snprintf(err, errlen, "--output FILE is required");
		return -1;
	}
	return 0;
}

/* ---- the grid ---- */

static size_t grid_size(const sweep *s)
{
	size_t n = (size_t)s->repetitions;
	for (int i = 0; i < s->ndims; i++)
		n *= (size_t)s->dims[i].n;
	return n;
}

/* The index-th configuration (repetition innermost): its options and its values. */
static int grid_options(const sweep *s, size_t index, train_options *o, const char **chosen,
			int *rep)
{
	*rep = (int)(index % (size_t)s->repetitions);
	index /= (size_t)s->repetitions;
	train_options_default(o);
	char err[512];
	for (int i = s->ndims - 1; i >= 0; i--) {
		const dim *d = &s->dims[i];
		chosen[i] = d->values[index % (size_t)d->n];
		index /= (size_t)d->n;
		if (d->opt->set(o, chosen[i], err, sizeof err) != 0)
			return -1; /* checked when parsed; cannot happen */
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

/* Collects the keys recorded in path, skipping blank lines. A last line without its newline that
 * begins like a record was torn mid-write: it is cut off (with --dry-run, only reported). A file
 * with any other line is not a sweep file and is left as it is (EXIT_USAGE). */
static int read_done(const char *path, int dry_run, keyset *done, char *err, size_t errlen)
{
	size_t len;
	char *text = slurp(path, &len);
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
		if (!nl && is_torn_record(line, end - pos)) {
			torn_at = pos;
		} else if (!is_blank(line) && add_record_key(line, done) != 0) {
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
static char **child_argv(const sweep *s, const char *train_path, const char **chosen,
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

static cJSON *record_json(const char *key, cJSON *config, int rep, run_end *end)
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
	end->result = NULL; /* the record owns it */
	return r;
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

static void progress_line(progress *p, const char *key, const run_end *end)
{
	if (p->quiet)
		return;
	if (p->tty)
		fprintf(stderr, "\r\033[K");
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

static void json_path_for(const sweep *s, const char *key, char *path, size_t len)
{
	if (s->results_dir[0])
		snprintf(path, len, "%s/%s.json", s->results_dir, key);
	else
		snprintf(path, len, "%s.run-%d.json", s->output, (int)getpid());
}

/* only: the keys of a Slurm task (NULL: every run). */
static int run_sweep(sweep *s, const char *train_path, keyset *done, const keyset *only)
{
	char err[2 * PATH_MAX], log_path[PATH_MAX + 8];
	int fd = open(s->output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	snprintf(log_path, sizeof log_path, "%s.log", s->output);
	int log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || log_fd < 0) {
		fprintf(stderr, "sgdsync-sweep: %s: %s\n", fd < 0 ? s->output : log_path, strerror(errno));
		return EXIT_FAILED;
	}
	size_t total = grid_size(s);
	progress p = {.tty = isatty(STDERR_FILENO), .quiet = s->quiet, .total = only ? only->n : total};
	int rc = 0;
	for (size_t i = 0; i < total && rc == 0 && !slurm_stop_signal(); i++) {
		train_options o;
		const char *chosen[MAX_DIMS];
		int rep;
		grid_options(s, i, &o, chosen, &rep);
		cJSON *config = train_options_config_json(&o, o.epochs, o.steps_per_epoch);
		char key[256], json_path[PATH_MAX + 300];
		make_key(&o, config, rep, key, sizeof key);
		if (only && !keyset_has(only, key)) {
			cJSON_Delete(config);
			continue;
		}
		if (keyset_has(done, key)) {
			p.done_before++;
			cJSON_Delete(config);
			continue;
		}
		json_path_for(s, key, json_path, sizeof json_path);
		char **argv = child_argv(s, train_path, chosen, json_path);
		dprintf(log_fd, "=== %s:", key);
		for (int a = 0; argv[a]; a++)
			dprintf(log_fd, " %s", argv[a]);
		dprintf(log_fd, "\n");
		p.current = key;
		if (only)
			slurm_mark_running(s->output, key);
		run_end end;
		double deadline = o.time_limit_s > 0 ? o.time_limit_s + s->grace_s : 0;
		run_child(argv, log_fd, deadline, json_path, progress_draw, &p, &end);
		free_argv(argv);
		if (!s->results_dir[0])
			unlink(json_path);
		p.finished++;
		p.ran++;
		p.ran_s += end.wall_s;
		progress_line(&p, key, &end);
		cJSON *rec = record_json(key, config, rep, &end);
		if (append_record(fd, rec, err, sizeof err) != 0) {
			fprintf(stderr, "sgdsync-sweep: %s: %s\n", s->output, err);
			rc = EXIT_FAILED;
		}
		cJSON_Delete(rec);
		keyset_add(done, key);
		if (only && rc == 0)
			slurm_mark_running(s->output, NULL);
	}
	if (slurm_stop_signal()) {
		fprintf(stderr, "sgdsync-sweep: stopped by signal %d; %zu runs of this task recorded\n",
			slurm_stop_signal(), p.done_before + p.finished);
		rc = 128 + slurm_stop_signal();
	}
	if (rc == 0 && !s->quiet)
		fprintf(stderr, "sgdsync-sweep: %zu runs recorded in %s (%zu this time, %zu before)\n",
			p.done_before + p.finished, s->output, p.finished, p.done_before);
	close(fd);
	close(log_fd);
	return rc;
}

static void dry_run(const sweep *s, const char *train_path, const keyset *done)
{
	size_t total = grid_size(s);
	for (size_t i = 0; i < total; i++) {
		train_options o;
		const char *chosen[MAX_DIMS];
		int rep;
		grid_options(s, i, &o, chosen, &rep);
		cJSON *config = train_options_config_json(&o, o.epochs, o.steps_per_epoch);
		char key[256];
		make_key(&o, config, rep, key, sizeof key);
		cJSON_Delete(config);
		printf("%s%s %s", key, keyset_has(done, key) ? " (done)" : "", train_path);
		for (int d = 0; d < s->ndims; d++)
			printf(" --%s=%s", s->dims[d].opt->name, chosen[d]);
		printf("\n");
	}
}

/* ---- Slurm ---- */

/* The grid's configuration whose key is key (NULL: none). */
static cJSON *config_of(const sweep *s, const char *key, int *rep)
{
	for (size_t i = 0; i < grid_size(s); i++) {
		train_options o;
		const char *chosen[MAX_DIMS];
		grid_options(s, i, &o, chosen, rep);
		cJSON *config = train_options_config_json(&o, o.epochs, o.steps_per_epoch);
		char k[256];
		make_key(&o, config, *rep, k, sizeof k);
		if (strcmp(k, key) == 0)
			return config;
		cJSON_Delete(config);
	}
	return NULL;
}

/* A task died in the run its mark names, without recording it: recorded as crashed in the
 * task's shard file, and the mark removed. */
static int record_lost_run(const sweep *s, const char *mark, keyset *done)
{
	char *key = slurm_read_mark(mark);
	int rep, rc = 0;
	cJSON *config = key && !keyset_has(done, key) ? config_of(s, key, &rep) : NULL;
	if (config && s->dry_run) {
		fprintf(stderr, "sgdsync-sweep: %s: run %s will be recorded as crashed\n", mark, key);
		cJSON_Delete(config);
	} else if (config) {
		char shard[PATH_MAX], err[2 * PATH_MAX];
		slurm_mark_shard(mark, shard, sizeof shard);
		run_end end = {.outcome = "crashed", .exit_status = -1,
			       .reason = "the Slurm task died in this run without recording it "
					 "(SIGKILL or its node lost); wall time unknown"};
		cJSON *rec = record_json(key, config, rep, &end);
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
	if (rc == 0 && !s->dry_run)
		unlink(mark);
	free(key);
	return rc;
}

/* --slurm: the runs without a record in the output or in any shard file, as one job array. */
static int submit_slurm(const sweep *s, const slurm_options *so, int argc, char **argv,
			keyset *done)
{
	char err[2 * PATH_MAX], self[PATH_MAX];
	if (slurm_check_earlier(so, s->output, err, sizeof err) != 0) {
		fprintf(stderr, "sgdsync-sweep: %s\n", err);
		return EXIT_USAGE;
	}
	slurm_files files;
	int rc = slurm_list_files(s->output, &files, err, sizeof err);
	for (size_t i = 0; rc == 0 && i < files.n; i++)
		if (!files.running[i])
			rc = read_done(files.paths[i], s->dry_run, done, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "sgdsync-sweep: %s\n", err);
	for (size_t i = 0; rc == 0 && i < files.n; i++)
		if (files.running[i])
			rc = record_lost_run(s, files.paths[i], done);
	slurm_files_free(&files);
	keyset pending = {0};
	for (size_t i = 0; rc == 0 && i < grid_size(s); i++) {
		train_options o;
		const char *chosen[MAX_DIMS];
		int rep;
		grid_options(s, i, &o, chosen, &rep);
		cJSON *config = train_options_config_json(&o, o.epochs, o.steps_per_epoch);
		char key[256];
		make_key(&o, config, rep, key, sizeof key);
		cJSON_Delete(config);
		if (!keyset_has(done, key))
			keyset_add(&pending, key);
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = '\0';
	if (rc == 0)
		rc = slurm_submit(so, s->output, self, argc, argv, pending.keys, pending.n, s->dry_run);
	keyset_free(&pending);
	return rc;
}

/* A task of the array: only its keys, into its own shard file; stopped by Slurm's signals. */
static int slurm_task(sweep *s, const slurm_options *so, keyset *only)
{
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
		cJSON *config = config_of(s, only->keys[i], &rep);
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
	static sweep s = {.repetitions = 1, .grace_s = 120};
	static slurm_options so;
	char err[2 * PATH_MAX], train_path[PATH_MAX + 32];
	int rc = slurm_take_args(&so, &argc, argv, err, sizeof err);
	if (rc == 0)
		rc = parse_args(&s, argc, argv, err, sizeof err);
	if (rc == 0)
		rc = slurm_check(&so, s.output, err, sizeof err);
	if (rc == 1) {
		usage(stdout);
		return 0;
	}
	if (rc != 0) {
		fprintf(stderr, "sgdsync-sweep: %s\n", err);
		return EXIT_USAGE;
	}
	if (find_train(train_path, sizeof train_path) != 0) {
		fprintf(stderr, "sgdsync-sweep: cannot find sgdsync-train beside this program (%s)\n",
			train_path);
		return EXIT_FAILED;
	}
	rc = s.results_dir[0] && !s.dry_run ? make_results_dir(s.results_dir) : 0;
	if (rc != 0)
		return rc;
	keyset done = {0}, only = {0};
	if (so.shard >= 0 && (rc = slurm_task(&s, &so, &only)) != 0) {
		keyset_free(&only);
		return rc;
	}
	rc = read_done(s.output, s.dry_run, &done, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "sgdsync-sweep: %s\n", err);
		return rc;
	}
	if (so.submit)
		rc = submit_slurm(&s, &so, argc, argv, &done);
	else if (s.dry_run)
		dry_run(&s, train_path, &done);
	else
		rc = run_sweep(&s, train_path, &done, so.shard >= 0 ? &only : NULL);
	keyset_free(&done);
	keyset_free(&only);
	for (int i = 0; i < s.ndims; i++)
		free_dim(&s.dims[i]);
	return rc;
}
