#include "harness/sweep_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FILE_KEYS 64 /* more than the valid keys: an unknown one is refused where it stands */

void sweep_config_init(sweep_config *c)
{
	memset(c, 0, sizeof(*c));
	c->repetitions = 1;
	c->grace_s = 120;
}

static void free_dim(sweep_dim *d)
{
	for (int i = 0; i < d->n; i++)
		free(d->values[i]);
	d->n = 0;
}

void sweep_config_free(sweep_config *c)
{
	for (int i = 0; i < c->ndims; i++)
		free_dim(&c->dims[i]);
	c->ndims = 0;
}

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
static int split_values(sweep_dim *d, char *list, char *err, size_t errlen)
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
		if (d->n == SWEEP_CONFIG_MAX_VALUES) {
			snprintf(err, errlen, "%s: at most %d values", d->opt->name,
				 SWEEP_CONFIG_MAX_VALUES);
			return -1;
		}
		d->values[d->n++] = strdup(tok);
	}
	return 0;
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
static int set_sweep_key(sweep_config *c, const char *key, const char *v, char *err, size_t errlen)
{
	long n;
	char *end;
	if (strcmp(key, "output") == 0 || strcmp(key, "results-dir") == 0) {
		char *dst = key[0] == 'o' ? c->output : c->results_dir;
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
		c->repetitions = (int)n;
		return 1;
	}
	if (strcmp(key, "grace") == 0) {
		double g = strtod(v, &end);
		if (*v == '\0' || *end != '\0' || !(g >= 0 && g <= 1e6)) {
			snprintf(err, errlen, "grace: '%s' is not a number of seconds in [0, 1e6]", v);
			return -1;
		}
		c->grace_s = g;
		return 1;
	}
	return 0;
}

static sweep_dim *dim_for(sweep_config *c, const train_option *opt)
{
	for (int i = 0; i < c->ndims; i++)
		if (c->dims[i].opt == opt)
			return &c->dims[i];
	return c->ndims < SWEEP_CONFIG_MAX_DIMS ? &c->dims[c->ndims++] : NULL;
}

static int set_values(sweep_config *c, const char *rawkey, char *value, const char *origin,
		      char *err, size_t errlen)
{
	char inner[512];
	const char *key = canonical(rawkey);
	int own = set_sweep_key(c, key, trim(value), inner, sizeof inner);
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
	sweep_dim *d = dim_for(c, opt);
	if (!d) {
		snprintf(err, errlen, "%s: more than %d options", origin, SWEEP_CONFIG_MAX_DIMS);
		return -1;
	}
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

int sweep_config_set(sweep_config *c, const char *key, const char *value, const char *origin,
		     char *err, size_t errlen)
{
	char *copy = strdup(value);
	if (!copy) {
		snprintf(err, errlen, "%s: out of memory", origin);
		return -1;
	}
	int rc = set_values(c, key, copy, origin, err, errlen);
	free(copy);
	return rc;
}

typedef struct {
	char keys[MAX_FILE_KEYS][64];
	int n;
} seen_keys;

/* 1 if key was seen before in this file; else records it. */
static int seen_before(seen_keys *s, const char *key)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->keys[i], key) == 0)
			return 1;
	if (s->n < MAX_FILE_KEYS)
		snprintf(s->keys[s->n++], sizeof s->keys[0], "%s", key);
	return 0;
}

/* One line of a config file: blank, a comment, or key = value, value, ... (each key once). */
static int config_line(sweep_config *c, char *line, const char *origin, seen_keys *seen,
		       char *err, size_t errlen)
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
	if (seen_before(seen, canonical(key))) {
		snprintf(err, errlen, "%s: key '%s' given twice in this file (one line takes a list: "
			 "'%s = v1, v2, ...')", origin, key, key);
		return -1;
	}
	return set_values(c, key, eq + 1, origin, err, errlen);
}

int sweep_config_parse(sweep_config *c, const char *text, size_t len, const char *name, char *err,
		       size_t errlen)
{
	char line[SWEEP_CONFIG_MAX_LINE + 2], origin[PATH_MAX + 16];
	seen_keys seen = {.n = 0};
	int lineno = 0, rc = 0;
	for (size_t pos = 0; rc == 0 && pos < len; lineno++) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *nul = memchr(text + pos, '\0', end - pos);
		snprintf(origin, sizeof origin, "%s:%d", name, lineno + 1);
		if (nul) {
			snprintf(err, errlen, "%s: a NUL byte at column %zu (not a text file?)", origin,
				 (size_t)(nul - (text + pos)) + 1);
			rc = -1;
		} else if (end - pos > SWEEP_CONFIG_MAX_LINE) {
			snprintf(err, errlen, "%s: line longer than %d characters", origin,
				 SWEEP_CONFIG_MAX_LINE);
			rc = -1;
		} else {
			memcpy(line, text + pos, end - pos);
			line[end - pos] = '\0';
			rc = config_line(c, line, origin, &seen, err, errlen);
		}
		pos = end + 1;
	}
	return rc;
}

/* The whole of fd; NULL with errno set (EISDIR for a directory). */
static char *read_all(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		ssize_t got = read(fd, buf + n, cap - n);
		if (got == 0) {
			*len = n;
			return buf;
		}
		if (got < 0 && errno != EINTR)
			break;
		n += got > 0 ? (size_t)got : 0;
		char *bigger = n == cap ? realloc(buf, cap *= 2) : buf;
		if (!bigger)
			break;
		buf = bigger;
	}
	int saved = errno;
	free(buf);
	errno = saved;
	return NULL;
}

int sweep_config_read(sweep_config *c, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	char *text = fd >= 0 ? read_all(fd, &len) : NULL;
	if (!text) {
		snprintf(err, errlen, "--config %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	int rc = sweep_config_parse(c, text, len, path, err, errlen);
	free(text);
	return rc;
}

int sweep_config_grid_size(const sweep_config *c, size_t *runs, char *err, size_t errlen)
{
	size_t n = (size_t)c->repetitions;
	int overflow = 0;
	for (int i = 0; i < c->ndims; i++)
		overflow |= __builtin_mul_overflow(n, (size_t)c->dims[i].n, &n);
	*runs = n;
	if (!overflow)
		return 0;
	int at = snprintf(err, errlen, "the grid has more than %zu runs:", SIZE_MAX);
	for (int i = 0; i < c->ndims && at >= 0 && (size_t)at < errlen; i++)
		at += snprintf(err + at, errlen - (size_t)at, " %d %s (%s) x", c->dims[i].n,
			       c->dims[i].opt->name, c->dims[i].origin);
	if (at >= 0 && (size_t)at < errlen)
		snprintf(err + at, errlen - (size_t)at, " %d repetitions", c->repetitions);
	return -1;
}
