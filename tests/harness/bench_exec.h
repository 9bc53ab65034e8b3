#ifndef SGDSYNC_TESTS_HARNESS_BENCH_EXEC_H
#define SGDSYNC_TESTS_HARNESS_BENCH_EXEC_H

/* Running a benchmark binary from a test: its exit status and what it wrote on stderr. */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Reads a whole file; NULL if it cannot. The caller frees. */
static char *bench_exec_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Runs argv (argv[0] a path) with stdout to out_path (NULL: /dev/null) and stderr to err_path;
 * returns the exit status, or 128 + signal. */
static int bench_exec(char *const argv[], const char *out_path, const char *err_path)
{
	pid_t pid = fork();
	if (pid == 0) {
		int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (out < 0 || err < 0)
			_exit(127);
		dup2(out, 1);
		dup2(err, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#endif
