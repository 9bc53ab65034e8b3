#include "harness/sweep_slurm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLURM_DEFAULT_MAX_TASKS 1000 /* Slurm's default MaxArraySize is 1001 */
#define SLURM_WARN_S 60              /* SIGUSR1 this long before the time limit */

/* ---- flags ---- */

/* Characters a partition, account or time may hold: they go into #SBATCH lines unquoted. */
static int plain_word(const char *v, const char *extra)
{
	for (const char *p = v; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
		    !strchr(extra, *p))
			return 0;
	return *v != '\0';
}

static int set_word(char *dst, size_t len, const char *flag, const char *v, const char *extra,
		    char *err, size_t errlen)
{
	if (!plain_word(v, extra) || strlen(v) >= len) {
		snprintf(err, errlen, "--%s: '%s' is not a Slurm name (letters, digits and %s, at "
			 "most %zu characters)", flag, v, extra, len - 1);
		return -1;
	}
	snprintf(dst, len, "%s", v);
	return 0;
}

static int set_int(int *dst, const char *flag, const char *v, long min, long max, char *err,
		   size_t errlen)
{
	char *end;
	long x = strtol(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || x < min || x > max) {
		snprintf(err, errlen, "--%s: '%s' is not an integer in [%ld, %ld]", flag, v, min, max);
		return -1;
	}
	*dst = (int)x;
	return 0;
}

static int set_flag(slurm_options *o, const char *flag, const char *v, char *err, size_t errlen)
{
	if (strcmp(flag, "partition") == 0)
		return set_word(o->partition, sizeof o->partition, flag, v, "_-.", err, errlen);
	if (strcmp(flag, "account") == 0)
		return set_word(o->account, sizeof o->account, flag, v, "_-.", err, errlen);
	if (strcmp(flag, "time") == 0)
		return set_word(o->time, sizeof o->time, flag, v, ":-", err, errlen);
	if (strcmp(flag, "cpus-per-task") == 0)
		return set_int(&o->cpus_per_task, flag, v, 1, 65536, err, errlen);
	if (strcmp(flag, "array-limit") == 0)
		return set_int(&o->array_limit, flag, v, 1, 1000000, err, errlen);
	if (strcmp(flag, "tasks") == 0)
		return set_int(&o->tasks, flag, v, 1, 1000000, err, errlen);
	if (strcmp(flag, "shard") == 0)
		return set_int(&o->shard, flag, v, 0, 1000000, err, errlen);
	if (strcmp(flag, "runs-file") == 0) {
		if (*v == '\0' || strlen(v) >= sizeof o->runs_file) {
			snprintf(err, errlen, "--runs-file: a path is needed");
			return -1;
		}
		snprintf(o->runs_file, sizeof o->runs_file, "%s", v);
		return 0;
	}
	/* sbatch-arg */
	if (strchr(v, '\n') || *v != '-' || o->nsbatch_args == SLURM_MAX_SBATCH_ARGS) {
		snprintf(err, errlen, "--sbatch-arg: '%s' is not one sbatch option (it begins with '-', "
			 "holds no newline; at most %d of them)", v, SLURM_MAX_SBATCH_ARGS);
		return -1;
	}
	o->sbatch_args[o->nsbatch_args++] = v;
	return 0;
}

static const char *const valued_flags[] = {"partition", "time", "account", "cpus-per-task",
					   "array-limit", "tasks", "sbatch-arg", "runs-file",
					   "shard"};

/* 1 if arg is --NAME or --NAME=VALUE of a valued flag (its name into name). */
static int valued_flag(const char *arg, char *name, size_t len)
{
	for (size_t i = 0; i < sizeof valued_flags / sizeof valued_flags[0]; i++) {
		size_t n = strlen(valued_flags[i]);
		if (strncmp(arg, "--", 2) == 0 && strncmp(arg + 2, valued_flags[i], n) == 0 &&
		    (arg[n + 2] == '\0' || arg[n + 2] == '=')) {
			snprintf(name, len, "%s", valued_flags[i]);
			return 1;
		}
	}
	return 0;
}

int slurm_take_args(slurm_options *o, int *argc, char **argv, char *err, size_t errlen)
{
	memset(o, 0, sizeof *o);
	o->shard = -1;
	int kept = 1;
	for (int i = 1; i < *argc; i++) {
		const char *arg = argv[i];
		char name[32];
		if (strcmp(arg, "--slurm") == 0 || strcmp(arg, "--resume") == 0) {
			*(arg[2] == 's' ? &o->submit : &o->resume) = 1;
			continue;
		}
		if (!valued_flag(arg, name, sizeof name)) {
			argv[kept++] = argv[i];
			continue;
		}
		const char *eq = strchr(arg, '=');
		const char *v = eq ? eq + 1 : i + 1 < *argc ? argv[++i] : NULL;
		if (!v) {
			snprintf(err, errlen, "--%s needs a value", name);
			return -1;
		}
		if (set_flag(o, name, v, err, errlen) != 0)
			return -1;
	}
	*argc = kept;
	argv[kept] = NULL;
	return 0;
}

int slurm_check(const slurm_options *o, const char *output, char *err, size_t errlen)
{
	int task = o->shard >= 0 || o->runs_file[0];
	int slurm_only = o->resume || o->partition[0] || o->time[0] || o->account[0] ||
			 o->cpus_per_task || o->array_limit || o->tasks || o->nsbatch_args;
	if (task && (o->shard < 0 || !o->runs_file[0] || o->submit)) {
		snprintf(err, errlen, "--runs-file and --shard go together, in the tasks --slurm "
			 "submits, without --slurm");
		return -1;
	}
	if (slurm_only && !o->submit) {
		snprintf(err, errlen, "--resume, --partition, --time, --account, --cpus-per-task, "
			 "--array-limit, --tasks and --sbatch-arg go with --slurm");
		return -1;
	}
	if (o->submit && strpbrk(output, " \t\n%")) {
		snprintf(err, errlen, "--slurm: the output '%s' holds whitespace or '%%', which a "
			 "batch script's #SBATCH lines cannot name", output);
		return -1;
	}
	return 0;
}

void slurm_usage(FILE *f)
{
	fprintf(f,
		"\nOn a Slurm cluster (the runs without a record become one job array):\n"
		"  --slurm              write the batch script and submit it with sbatch; with\n"
		"                       --dry-run, print it and submit nothing\n"
		"  --resume             submit again the runs with no record (needed once a\n"
		"                       submission exists; refused while its job is still queued)\n"
		"  --partition P  --time T  --account A  --cpus-per-task C\n"
		"                       as sbatch's; C is what each run may use (its threads)\n"
		"  --tasks N            array tasks, the runs dealt round-robin (default: one per\n"
		"                       run, at most %d)\n"
		"  --array-limit K      at most K tasks at once (sbatch --array=...%%K)\n"
		"  --sbatch-arg OPT     any other sbatch option, e.g. --sbatch-arg=--qos=long\n"
		"A task writes OUTPUT.submit-N.shard-T.jsonl. A run stopped by Slurm is recorded:\n"
		"timeout when the time limit is near (SIGUSR1), crashed on scancel or preemption\n"
		"(SIGTERM) or when the task died with its node (found by --resume).\n",
		SLURM_DEFAULT_MAX_TASKS);
}

/* ---- a task ---- */

/* path without suffix, where it ends so. */
static void strip_suffix(const char *path, const char *suffix, char *out, size_t len)
{
	size_t n = strlen(path), s = strlen(suffix);
	if (n >= s && strcmp(path + n - s, suffix) == 0)
		n -= s;
	snprintf(out, len, "%.*s", (int)n, path);
}

void slurm_shard_output(const slurm_options *o, char *path, size_t len)
{
	char base[PATH_MAX];
	strip_suffix(o->runs_file, ".runs", base, sizeof base);
	snprintf(path, len, "%s.shard-%d.jsonl", base, o->shard);
}

int slurm_shard_keys(const slurm_options *o, char ***keys, size_t *n, char *err, size_t errlen)
{
	FILE *f = fopen(o->runs_file, "r");
	if (!f) {
		snprintf(err, errlen, "--runs-file %s: %s", o->runs_file, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	int t = 0;
	ssize_t got;
	while ((got = getline(&line, &cap, f)) >= 0 && t < o->shard)
		t++;
	fclose(f);
	if (got < 0) {
		free(line);
		snprintf(err, errlen, "--runs-file %s has no line for task %d", o->runs_file, o->shard);
		return -1;
	}
	size_t count = 0, kcap = 16;
	char **k = malloc(kcap * sizeof *k);
	char *save = NULL;
	for (char *tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (count == kcap)
			k = realloc(k, (kcap *= 2) * sizeof *k);
		k[count++] = strdup(tok);
	}
	free(line);
	*keys = k;
	*n = count;
	return 0;
}

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

void slurm_catch_signals(void)
{
	struct sigaction sa = {.sa_handler = on_stop};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

int slurm_stop_signal(void)
{
	return stop_signal;
}

const char *slurm_stop_outcome(int sig)
{
	return sig == SIGUSR1 ? "timeout" : "crashed";
}

const char *slurm_stop_reason(int sig)
{
	return sig == SIGUSR1 ? "the Slurm task reached its time limit (SIGUSR1 before it)"
			      : "the Slurm task was stopped by SIGTERM (scancel, preemption or "
				"its node shutting down)";
}

static void mark_path(const char *shard_output, char *path, size_t len)
{
	char base[PATH_MAX];
	strip_suffix(shard_output, ".jsonl", base, sizeof base);
	snprintf(path, len, "%s.running", base);
}

void slurm_mark_running(const char *shard_output, const char *key)
{
	char path[PATH_MAX + 16];
	mark_path(shard_output, path, sizeof path);
	if (!key) {
		unlink(path);
		return;
	}
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "%s\n", key);
		fflush(f);
		fsync(fileno(f));
		fclose(f);
	}
}

char *slurm_read_mark(const char *path)
{
	FILE *f = fopen(path, "r");
	char key[512];
	int ok = f && fgets(key, sizeof key, f) && key[0] != '\n';
	if (f)
		fclose(f);
	if (!ok)
		return NULL;
	key[strcspn(key, "\n")] = '\0';
	return strdup(key);
}

void slurm_mark_shard(const char *mark, char *path, size_t len)
{
	char base[PATH_MAX];
	strip_suffix(mark, ".running", base, sizeof base);
	snprintf(path, len, "%s.jsonl", base);
}

/* ---- submitting ---- */

/* The folder and file name of output. */
static void split_path(const char *output, char *dir, char *name, size_t len)
{
	char a[PATH_MAX], b[PATH_MAX];
	snprintf(a, sizeof a, "%s", output);
	snprintf(b, sizeof b, "%s", output);
	snprintf(dir, len, "%s", dirname(a));
	snprintf(name, len, "%s", basename(b));
}

/* Whether entry is NAME.submit-<n><suffix>; suffix ".shard" stands for a shard file,
 * .shard-<t>.jsonl (1), or its running mark, .shard-<t>.running (2). */
static int submission_file(const char *entry, const char *name, const char *suffix)
{
	size_t n = strlen(name);
	if (strncmp(entry, name, n) != 0 || strncmp(entry + n, ".submit-", 8) != 0)
		return 0;
	const char *p = entry + n + 8;
	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (strcmp(suffix, ".shard") == 0) {
		if (strncmp(p, ".shard-", 7) != 0)
			return 0;
		p += 7;
		while (*p >= '0' && *p <= '9')
			p++;
		return strcmp(p, ".jsonl") == 0 ? 1 : strcmp(p, ".running") == 0 ? 2 : 0;
	}
	return strcmp(p, suffix) == 0;
}

static void files_add(slurm_files *f, const char *dir, const char *entry, int running)
{
	f->paths = realloc(f->paths, (f->n + 1) * sizeof *f->paths);
	f->running = realloc(f->running, (f->n + 1) * sizeof *f->running);
	size_t len = strlen(dir) + strlen(entry) + 2;
	f->paths[f->n] = malloc(len);
	snprintf(f->paths[f->n], len, "%s/%s", dir, entry);
	f->running[f->n++] = running;
}

/* Adds to f every file of output's folder that is a submission file with that suffix. */
static int scan(const char *output, const char *suffix, slurm_files *f, char *err, size_t errlen)
{
	char dir[PATH_MAX], name[PATH_MAX];
	split_path(output, dir, name, sizeof dir);
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	for (struct dirent *e; (e = readdir(d));) {
		int kind = submission_file(e->d_name, name, suffix);
		if (kind)
			files_add(f, dir, e->d_name, kind == 2);
	}
	closedir(d);
	return 0;
}

int slurm_list_files(const char *output, slurm_files *f, char *err, size_t errlen)
{
	memset(f, 0, sizeof *f);
	return scan(output, ".shard", f, err, errlen);
}

void slurm_files_free(slurm_files *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->paths[i]);
	free(f->paths);
	free(f->running);
	memset(f, 0, sizeof *f);
}

/* Runs argv with its stdout into out (at most len - 1 bytes), its stderr to ours or (quiet) to
 * /dev/null; its exit status, or -1. */
static int capture(char *const argv[], int quiet, char *out, size_t len)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		int null = quiet ? open("/dev/null", O_WRONLY) : -1;
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "sgdsync-sweep: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	size_t n = 0;
	for (ssize_t r; pid > 0 && n + 1 < len && (r = read(fds[0], out + n, len - 1 - n)) != 0;)
		if (r > 0)
			n += (size_t)r;
		else if (errno != EINTR)
			break;
	out[n] = '\0';
	close(fds[0]);
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Whether the job id in path still has tasks in the queue: 1 when squeue lists it, 0 when not
 * (squeue fails on a job the controller has forgotten), -1 when squeue cannot run. */
static int job_queued(const char *job_file, char *job, size_t len)
{
	FILE *f = fopen(job_file, "r");
	int ok = f && fgets(job, (int)len, f);
	if (f)
		fclose(f);
	if (!ok)
		return 0;
	job[strcspn(job, "\n")] = '\0';
	char jobs[80], out[256];
	snprintf(jobs, sizeof jobs, "--jobs=%s", job);
	char *argv[] = {"squeue", "--noheader", "--format=%i", jobs, NULL};
	int st = capture(argv, 1, out, sizeof out);
	if (st < 0 || st == 127)
		return -1;
	return st == 0 && out[0] != '\0';
}

int slurm_check_earlier(const slurm_options *o, const char *output, char *err, size_t errlen)
{
	slurm_files jobs = {0};
	if (scan(output, ".job", &jobs, err, errlen) != 0)
		return -1;
	int rc = 0;
	char job[64];
	if (jobs.n > 0 && !o->resume) {
		snprintf(err, errlen, "%s was submitted before (%s): --resume submits the runs with no "
			 "record", output, jobs.paths[0]);
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < jobs.n; i++) {
		int queued = job_queued(jobs.paths[i], job, sizeof job);
		if (queued > 0)
			snprintf(err, errlen, "job %s (%s) still has tasks queued or running: wait for it "
				 "or scancel it, then --resume", job, jobs.paths[i]);
		else if (queued < 0)
			snprintf(err, errlen, "cannot run squeue to see whether job %s (%s) is still "
				 "queued", job, jobs.paths[i]);
		rc = queued != 0 ? -1 : 0;
	}
	slurm_files_free(&jobs);
	return rc;
}

/* The next submission number: one past the highest runs file there. */
static int next_submission(const char *output)
{
	slurm_files runs = {0};
	char err[64];
	int next = 1;
	if (scan(output, ".runs", &runs, err, sizeof err) == 0)
		for (size_t i = 0; i < runs.n; i++) {
			const char *p = strstr(strrchr(runs.paths[i], '/'), ".submit-");
			int n = atoi(p + 8);
			if (n >= next)
				next = n + 1;
		}
	slurm_files_free(&runs);
	return next;
}

/* Line t: the keys t, t + tasks, t + 2 tasks, ... */
static int write_runs(const char *path, char *const *keys, size_t nkeys, int tasks)
{
	FILE *f = fopen(path, "wx");
	if (!f)
		return -1;
	for (int t = 0; t < tasks; t++) {
		for (size_t i = (size_t)t; i < nkeys; i += (size_t)tasks)
			fprintf(f, "%s%s", i == (size_t)t ? "" : " ", keys[i]);
		fputc('\n', f);
	}
	int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
	return fclose(f) != 0 || bad ? -1 : 0;
}

/* s in single quotes for sh, a quote as '\''. */
static void put_quoted(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	fputc('\'', f);
}

static void write_script(FILE *f, const slurm_options *o, const char *base, const char *sweep_path,
			 int argc, char **args, size_t nkeys, int tasks)
{
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		snprintf(cwd, sizeof cwd, ".");
	fprintf(f, "#!/bin/sh\n# sgdsync-sweep --slurm: %zu runs in %d array tasks\n", nkeys, tasks);
	fprintf(f, "#SBATCH --job-name=sgdsync-sweep\n#SBATCH --array=0-%d", tasks - 1);
	if (o->array_limit)
		fprintf(f, "%%%d", o->array_limit);
	fprintf(f, "\n#SBATCH --chdir=%s\n#SBATCH --output=%s.task-%%a.out\n", cwd, base);
	fprintf(f, "#SBATCH --signal=B:USR1@%d\n", SLURM_WARN_S);
	if (o->partition[0])
		fprintf(f, "#SBATCH --partition=%s\n", o->partition);
	if (o->account[0])
		fprintf(f, "#SBATCH --account=%s\n", o->account);
	if (o->time[0])
		fprintf(f, "#SBATCH --time=%s\n", o->time);
	if (o->cpus_per_task)
		fprintf(f, "#SBATCH --cpus-per-task=%d\n", o->cpus_per_task);
	for (int i = 0; i < o->nsbatch_args; i++)
		fprintf(f, "#SBATCH %s\n", o->sbatch_args[i]);
	fprintf(f, "# exec: the sweep is the batch shell, which the B: signal above reaches.\nexec ");
	put_quoted(f, sweep_path);
	for (int i = 1; i < argc; i++)
		if (strcmp(args[i], "--dry-run") != 0) {
			fputc(' ', f);
			put_quoted(f, args[i]);
		}
	fputs(" --runs-file=", f);
	char runs[PATH_MAX + 8];
	snprintf(runs, sizeof runs, "%s.runs", base);
	put_quoted(f, runs);
	fputs(" --shard=\"$SLURM_ARRAY_TASK_ID\"\n", f);
}

static int sbatch(const char *script, const char *job_file)
{
	char out[256];
	char *argv[] = {"sbatch", "--parsable", (char *)script, NULL};
	int st = capture(argv, 0, out, sizeof out);
	out[strcspn(out, ";\n")] = '\0'; /* --parsable: "jobid[;cluster]" */
	if (st != 0 || out[0] == '\0') {
		fprintf(stderr, "sgdsync-sweep: sbatch %s failed (status %d)\n", script, st);
		return 1;
	}
	FILE *f = fopen(job_file, "w");
	if (!f || fprintf(f, "%s\n", out) < 0 || fclose(f) != 0) {
		fprintf(stderr, "sgdsync-sweep: job %s submitted, but %s: %s\n", out, job_file,
			strerror(errno));
		return 1;
	}
	fprintf(stderr, "sgdsync-sweep: submitted job %s (%s)\n", out, script);
	return 0;
}

int slurm_submit(const slurm_options *o, const char *output, const char *sweep_path, int argc,
		 char **args, char *const *keys, size_t nkeys, int dry_run)
{
	if (nkeys == 0) {
		fprintf(stderr, "sgdsync-sweep: every run of %s has a record; nothing to submit\n", output);
		return 0;
	}
	int max = o->tasks ? o->tasks : SLURM_DEFAULT_MAX_TASKS;
	int tasks = nkeys < (size_t)max ? (int)nkeys : max;
	char base[PATH_MAX + 32], runs[PATH_MAX + 40], script[PATH_MAX + 40], job[PATH_MAX + 40];
	snprintf(base, sizeof base, "%s.submit-%d", output, next_submission(output));
	snprintf(runs, sizeof runs, "%s.runs", base);
	snprintf(script, sizeof script, "%s.sh", base);
	snprintf(job, sizeof job, "%s.job", base);
	if (dry_run) {
		write_script(stdout, o, base, sweep_path, argc, args, nkeys, tasks);
		fprintf(stderr, "sgdsync-sweep: --dry-run: %zu runs in %d tasks, nothing submitted\n",
			nkeys, tasks);
		return 0;
	}
	if (write_runs(runs, keys, nkeys, tasks) != 0) {
		fprintf(stderr, "sgdsync-sweep: %s: %s\n", runs, strerror(errno));
		return 1;
	}
	FILE *f = fopen(script, "w");
	if (!f) {
		fprintf(stderr, "sgdsync-sweep: %s: %s\n", script, strerror(errno));
		return 1;
	}
	write_script(f, o, base, sweep_path, argc, args, nkeys, tasks);
	int rc = 1;
	if (fclose(f) != 0)
		fprintf(stderr, "sgdsync-sweep: %s: %s\n", script, strerror(errno));
	else
		rc = sbatch(script, job);
	if (rc != 0 && access(job, F_OK) != 0) { /* nothing submitted: no trace of it either */
		unlink(runs);
		unlink(script);
	}
	return rc;
}
