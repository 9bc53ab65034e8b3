#ifndef SGDSYNC_TESTS_HARNESS_BENCH_EXEC_H
#define SGDSYNC_TESTS_HARNESS_BENCH_EXEC_H

/* Running a benchmark binary from a test (exit status, stderr) and reading its Google
 * Benchmark JSON. A failed step fails the test through CHECK (check.h). */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"

/* Reads a whole file; NULL if it cannot. The caller frees. */
static inline char *bench_exec_slurp(const char *path)
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
static inline int bench_exec(char *const argv[], const char *out_path, const char *err_path)
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

/* The JSON document in path; fails the test when it cannot be read or parsed. */
static inline cJSON *bench_exec_load_json(const char *path)
{
	char *text = bench_exec_slurp(path);
	CHECK(text, "cannot read %s", path);
	cJSON *doc = cJSON_Parse(text);
	CHECK(doc, "%s does not parse as JSON", path);
	free(text);
	return doc;
}

/* Runs argv plus --benchmark_out=<out_json> --benchmark_out_format=json, requires exit status 0
 * and returns the parsed JSON. */
static inline cJSON *bench_exec_json(char *const argv[], const char *out_json, const char *err_path)
{
	char out_flag[512];
	char *full[32];
	int n = 0;
	snprintf(out_flag, sizeof out_flag, "--benchmark_out=%s", out_json);
	while (argv[n] && n < 28) {
		full[n] = argv[n];
		n++;
	}
	full[n++] = out_flag;
	full[n++] = "--benchmark_out_format=json";
	full[n] = NULL;
	int status = bench_exec(full, NULL, err_path);
	char *err = bench_exec_slurp(err_path);
	CHECK(status == 0, "%s exited %d: %s", argv[0], status, err ? err : "");
	free(err);
	return bench_exec_load_json(out_json);
}

static inline const char *bench_name(const cJSON *b)
{
	return cJSON_GetObjectItemCaseSensitive(b, "name")->valuestring;
}

static inline cJSON *bench_find(const cJSON *doc, const char *name)
{
	cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
	{
		if (strcmp(bench_name(b), name) == 0)
			return b;
	}
	CHECK(0, "no benchmark named %s", name);
	return NULL;
}

/* The number under key; fails the test when it is absent. */
static inline double bench_num(const cJSON *b, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(b, key);
	CHECK(cJSON_IsNumber(v), "%s: no number %s", bench_name(b), key);
	return v->valuedouble;
}

#endif
