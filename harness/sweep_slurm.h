#ifndef SGDSYNC_HARNESS_SWEEP_SLURM_H
#define SGDSYNC_HARNESS_SWEEP_SLURM_H

/* sgdsync-sweep on a Slurm cluster: the grid's runs that have no record become one job array.
 *
 * Submission n of OUTPUT writes OUTPUT.submit-n.runs (line t: the keys of array task t) and the
 * batch script OUTPUT.submit-n.sh, submits it with sbatch and keeps the job id in
 * OUTPUT.submit-n.job. Task t runs the same sweep with --runs-file and --shard=t: only its keys,
 * recorded in its own OUTPUT.submit-n.shard-t.jsonl, so that no two tasks share a file.
 *
 * A task stopped by Slurm records the run it was in: SIGUSR1, which the script asks for a minute
 * before the time limit, records it as a timeout; SIGTERM (scancel, preemption, a node going
 * down in order) as crashed. A task that died without a word (SIGKILL, a node lost) leaves
 * OUTPUT.submit-n.shard-t.running, the key of the run it was in; --resume records that run as
 * crashed, then submits the runs with no record. */

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#define SLURM_MAX_SBATCH_ARGS 16

typedef struct {
	int submit;             /* --slurm */
	int resume;             /* --resume: submit although earlier submissions exist */
	char partition[128];    /* "" when not given, as all strings below */
	char time[64];
	char account[128];
	int cpus_per_task;      /* 0: not given */
	int array_limit;        /* the %K throttle; 0: none */
	int tasks;              /* array tasks; 0: one per run (at most SLURM_DEFAULT_MAX_TASKS) */
	const char *sbatch_args[SLURM_MAX_SBATCH_ARGS];
	int nsbatch_args;
	char runs_file[PATH_MAX]; /* a task: --runs-file */
	int shard;              /* a task: --shard, its line of the runs file; -1 when not a task */
} slurm_options;

/* Takes the Slurm flags out of argv (argc shrinks); the rest is the sweep's own. 0, or -1 with
 * err naming the bad flag. */
int slurm_take_args(slurm_options *o, int *argc, char **argv, char *err, size_t errlen);
/* Refuses an output a batch script cannot name (whitespace, '%'), and flags that do not go with
 * --slurm; -1 with err. */
int slurm_check(const slurm_options *o, const char *output, char *err, size_t errlen);
void slurm_usage(FILE *f);

/* ---- a task ---- */

/* OUTPUT.submit-n.shard-t.jsonl for the task's runs file and shard. */
void slurm_shard_output(const slurm_options *o, char *path, size_t len);
/* The task's keys (its line of the runs file), malloc'ed; -1 with err. */
int slurm_shard_keys(const slurm_options *o, char ***keys, size_t *n, char *err, size_t errlen);
/* From now on SIGTERM and SIGUSR1 only set the stop signal, read by slurm_stop_signal. */
void slurm_catch_signals(void);
/* 0, or the signal that asked the task to stop. */
int slurm_stop_signal(void);
/* The outcome and reason of a run stopped by signal sig. */
const char *slurm_stop_outcome(int sig);
const char *slurm_stop_reason(int sig);
/* The task is in the run key (key NULL: in none): OUTPUT.submit-n.shard-t.running. */
void slurm_mark_running(const char *shard_output, const char *key);

/* ---- submitting ---- */

/* Paths of every shard file and leftover running mark of output's submissions (running: 1 for
 * a mark), malloc'ed. */
typedef struct {
	char **paths;
	int *running;
	size_t n;
} slurm_files;
int slurm_list_files(const char *output, slurm_files *f, char *err, size_t errlen);
void slurm_files_free(slurm_files *f);
/* 0 when no earlier submission of output still has tasks in the queue or running; -1 with err
 * (submitted before without --resume, or a job still there). */
int slurm_check_earlier(const slurm_options *o, const char *output, char *err, size_t errlen);
/* The key in a leftover running mark, malloc'ed, or NULL. */
char *slurm_read_mark(const char *path);
/* The shard file a running mark belongs to (….running -> ….jsonl). */
void slurm_mark_shard(const char *mark, char *path, size_t len);

/* Writes the runs file and batch script of the next submission and submits it (dry_run: prints
 * the script, writes and submits nothing). args: the sweep's own arguments, passed to every
 * task. Returns 0, or 1 when sbatch or a file fails, with a message on stderr. */
int slurm_submit(const slurm_options *o, const char *output, const char *sweep_path, int argc,
		 char **args, char *const *keys, size_t nkeys, int dry_run);

#endif
