/* The environment object carries every key of formats §1 with the right types and values, and
 * jsonfile_write_atomic leaves either the old or the new file, never a mix or a leftover; it
 * writes through symbolic links, into devices and FIFOs, and refuses what is none of these. */

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "harness/counters.h"
#include "harness/env.h"
#include "harness/jsonfile.h"

static const cJSON *member(const cJSON *o, const char *key, int type)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
	CHECK(m != NULL, "key %s missing", key);
	CHECK((m->type & 0xff) == type, "key %s has type %d, expected %d", key, m->type & 0xff, type);
	return m;
}

static const char *string_of(const cJSON *o, const char *key)
{
	return member(o, key, cJSON_String)->valuestring;
}

static void check_environment(void)
{
	char *argv[] = {"sgdsync-train", "--method", "leashed", "--data", "my dir/it's", ""};
	char err[512];
	CHECK(counters_open("auto", err, sizeof err) == 0, "auto: %s", err);
	env_options o = {.pinning = PIN_SCATTER,
			 .memory = {PLACEMENT_INTERLEAVE, -1},
			 .openblas_config = NULL,
			 .argc = 6,
			 .argv = argv};
	cJSON *e = env_json(&o);
	char *text = cJSON_PrintUnformatted(e);
	cJSON *back = cJSON_Parse(text);
	CHECK(back && cJSON_Compare(back, e, true), "env does not survive print and parse");
	CHECK(cJSON_GetArraySize(e) == 15, "env has %d keys, formats §1 has 15", cJSON_GetArraySize(e));

	CHECK(strlen(string_of(e, "cpu_model")) > 0, "cpu_model empty");
	CHECK(strncmp(string_of(e, "kernel"), "Linux ", 6) == 0, "kernel %s", string_of(e, "kernel"));
	CHECK(strlen(string_of(e, "hostname")) > 0, "hostname empty");
	CHECK(strlen(string_of(e, "compiler")) > 2, "compiler");
	CHECK(strstr(string_of(e, "cflags"), "-Wall") != NULL, "cflags %s", string_of(e, "cflags"));
	CHECK(strlen(string_of(e, "build_type")) > 0, "build_type");
	CHECK(strlen(string_of(e, "git_commit")) > 0, "git_commit");
	const char *date = string_of(e, "date");
	CHECK(strlen(date) == 20 && date[4] == '-' && date[10] == 'T' && date[19] == 'Z', "date %s", date);
	CHECK(strcmp(string_of(e, "command_line"),
		     "sgdsync-train --method leashed --data 'my dir/it'\\''s' ''") == 0,
	      "command_line %s", string_of(e, "command_line"));

	const cJSON *topo = member(e, "topology", cJSON_Object);
	static const char *const tkeys[] = {"packages", "numa_nodes", "cores", "pus"};
	for (int i = 0; i < 4; i++)
		CHECK(member(topo, tkeys[i], cJSON_Number)->valueint >= 1, "topology.%s", tkeys[i]);
	const cJSON *cache;
	cJSON_ArrayForEach(cache, member(topo, "caches", cJSON_Array))
	{
		member(cache, "level", cJSON_Number);
		member(cache, "type", cJSON_String);
		member(cache, "size_bytes", cJSON_Number);
		member(cache, "count", cJSON_Number);
	}

	const cJSON *place = member(e, "placement", cJSON_Object);
	CHECK(strcmp(string_of(place, "pinning"), "scatter") == 0, "pinning");
	CHECK(strcmp(string_of(place, "memory"), "interleave") == 0, "memory");
	CHECK(strcmp(string_of(place, "note"), placement_note()) == 0, "note");

	const cJSON *v = member(e, "versions", cJSON_Object);
	CHECK(strcmp(string_of(v, "sgdsync"), "0.1.0") == 0, "sgdsync version %s", string_of(v, "sgdsync"));
	CHECK(strcmp(string_of(v, "benchmark"), "1.7.1") == 0, "benchmark %s", string_of(v, "benchmark"));
	CHECK(strncmp(string_of(v, "hwloc"), "2.", 2) == 0, "hwloc %s", string_of(v, "hwloc"));
	CHECK(strncmp(string_of(v, "likwid"), "5.", 2) == 0, "likwid %s", string_of(v, "likwid"));
	member(v, "openblas", cJSON_NULL);

	const cJSON *c = member(e, "counters", cJSON_Object);
	CHECK(strcmp(string_of(c, "requested"), "auto") == 0, "requested");
	CHECK(strcmp(cJSON_GetArrayItem(member(c, "used", cJSON_Array), 0)->valuestring, "software") == 0, "used[0]");
	const cJSON *s;
	cJSON_ArrayForEach(s, member(c, "skipped", cJSON_Array))
	{
		string_of(s, "backend");
		CHECK(strlen(string_of(s, "reason")) > 0, "empty reason");
	}

	o.openblas_config = "OpenBLAS 0.3.21 DYNAMIC_ARCH";
	cJSON *with = env_json(&o);
	CHECK(strcmp(string_of(member(with, "versions", cJSON_Object), "openblas"), o.openblas_config) == 0, "openblas");
	cJSON_Delete(with);
	cJSON_Delete(back);
	cJSON_Delete(e);
	free(text);
	counters_close();
}

static char dir[64], path[128];
static atomic_int writing;
static int torn;

static cJSON *doc_of(int which)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "which", which);
	char pad[4096];
	memset(pad, 'a' + which, sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	cJSON_AddStringToObject(d, "pad", pad); /* large enough for a torn write to be visible */
	return d;
}

/* Reads the file while it is replaced: every read parses whole, as one document or the other. */
/* The JSON document in the file at p, or NULL (missing, partial or not JSON). */
static cJSON *read_doc(const char *p)
{
	FILE *f = fopen(p, "r");
	char buf[16384];
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	return cJSON_Parse(buf);
}

static void *reader(void *arg)
{
	(void)arg;
	/* Acquire is not needed: the flag only says when to stop, the file carries the data. */
	while (atomic_load_explicit(&writing, memory_order_relaxed)) {
		cJSON *d = read_doc(path);
		cJSON *w = d ? cJSON_GetObjectItem(d, "which") : NULL;
		cJSON *pad = d ? cJSON_GetObjectItem(d, "pad") : NULL;
		if (!w || !pad || strlen(pad->valuestring) != 4095 || pad->valuestring[4094] != 'a' + w->valueint)
			torn++;
		cJSON_Delete(d);
	}
	return NULL;
}

static int leftovers(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)))
		n += strstr(e->d_name, ".tmp.") != NULL;
	closedir(d);
	return n;
}

static void check_atomic_write(void)
{
	char err[512];
	snprintf(dir, sizeof dir, "/tmp/sgdsync-test-env-XXXXXX");
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof path, "%s/result.json", dir);
	cJSON *docs[2] = {doc_of(0), doc_of(1)};
	CHECK(jsonfile_write_atomic(path, docs[0], err, sizeof err) == 0, "%s", err);

	atomic_store_explicit(&writing, 1, memory_order_relaxed);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, reader, NULL) == 0, "pthread_create");
	for (int i = 1; i <= 40; i++)
		CHECK(jsonfile_write_atomic(path, docs[i % 2], err, sizeof err) == 0, "%s", err);
	atomic_store_explicit(&writing, 0, memory_order_relaxed);
	pthread_join(th, NULL);
	CHECK(torn == 0, "%d reads saw a partial or missing file", torn);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "mode %o", st.st_mode & 0777);

	/* A failing write (the target is a directory) leaves the old state alone. */
	char sub[160];
	snprintf(sub, sizeof sub, "%s/sub", dir);
	CHECK(mkdir(sub, 0755) == 0, "mkdir");
	err[0] = '\0';
	CHECK(jsonfile_write_atomic(sub, docs[0], err, sizeof err) == -1, "wrote over a directory");
	CHECK(strstr(err, sub) && strstr(err, "a directory"), "message: %s", err);
	CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode), "directory replaced");
	CHECK(jsonfile_check_writable(sub, err, sizeof err) == -1 && strstr(err, "directory"), "%s", err);
	snprintf(sub, sizeof sub, "%s/no/such/dir.json", dir);
	CHECK(jsonfile_write_atomic(sub, docs[0], err, sizeof err) == -1 && strstr(err, "temporary"), "%s", err);
	CHECK(jsonfile_check_writable(sub, err, sizeof err) == -1 && strstr(err, "temporary"), "%s", err);
	CHECK(jsonfile_check_writable(path, err, sizeof err) == 0, "%s", err);
	CHECK(leftovers() == 0, "%d temporary files left behind", leftovers());

	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
	cJSON_Delete(docs[0]);
	cJSON_Delete(docs[1]);
}

/* Whether the file at p holds document `which` of doc_of. */
static int holds(const char *p, int which)
{
	cJSON *d = read_doc(p);
	cJSON *w = d ? cJSON_GetObjectItem(d, "which") : NULL;
	int ok = w && w->valueint == which;
	cJSON_Delete(d);
	return ok;
}

static int is_link_to(const char *link, const char *target)
{
	char buf[256];
	ssize_t n = readlink(link, buf, sizeof buf - 1);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	return strcmp(buf, target) == 0;
}

static void *drain_fifo(void *arg)
{
	FILE *f = fopen(arg, "r");
	static char got[16384];
	size_t n = f ? fread(got, 1, sizeof got - 1, f) : 0;
	if (f)
		fclose(f);
	got[n] = '\0';
	return got;
}

/* The path writes where it names: a link's target (the link stays), a dangling link's target,
 * a FIFO and a character device in place; a directory, a socket are refused by name. */
static void check_output_kinds(void)
{
	char err[512], p[192], q[192];
	cJSON *doc = doc_of(1);
	struct stat st;
	snprintf(dir, sizeof dir, "/tmp/sgdsync-test-env-XXXXXX");
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");

	snprintf(p, sizeof p, "%s/link.json", dir);
	snprintf(q, sizeof q, "%s/sub", dir);
	CHECK(mkdir(q, 0755) == 0 && symlink("sub/hop", p) == 0, "mkdir, symlink");
	snprintf(q, sizeof q, "%s/sub/hop", dir);
	CHECK(symlink("real.json", q) == 0, "symlink"); /* relative to sub/, dangling */
	CHECK(jsonfile_check_writable(p, err, sizeof err) == 0, "%s", err);
	CHECK(jsonfile_write_atomic(p, doc, err, sizeof err) == 0, "%s", err);
	CHECK(is_link_to(p, "sub/hop") && is_link_to(q, "real.json"), "a link was replaced");
	snprintf(q, sizeof q, "%s/sub/real.json", dir);
	CHECK(lstat(q, &st) == 0 && S_ISREG(st.st_mode) && holds(q, 1), "the dangling link's target holds the document");
	cJSON_Delete(doc);
	doc = doc_of(0);
	CHECK(jsonfile_write_atomic(p, doc, err, sizeof err) == 0 && holds(q, 0), "rewrite through links: %s", err);
	CHECK(leftovers() == 0, "%d temporary files left behind", leftovers());

	snprintf(p, sizeof p, "%s/fifo", dir);
	CHECK(mkfifo(p, 0644) == 0, "mkfifo");
	CHECK(jsonfile_check_writable(p, err, sizeof err) == 0, "%s", err);
	pthread_t th;
	void *got;
	CHECK(pthread_create(&th, NULL, drain_fifo, p) == 0, "pthread_create");
	CHECK(jsonfile_write_atomic(p, doc, err, sizeof err) == 0, "%s", err);
	pthread_join(th, &got);
	CHECK(lstat(p, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO was replaced");
	cJSON *back = cJSON_Parse(got);
	CHECK(back && cJSON_GetObjectItem(back, "which")->valueint == 0, "the FIFO's reader got: %.40s", (char *)got);
	cJSON_Delete(back);

	/* A device of our own, a twin of /dev/null, where mknod is allowed (root). */
	snprintf(p, sizeof p, "%s/null", dir);
	if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0) {
		CHECK(jsonfile_check_writable(p, err, sizeof err) == 0, "%s", err);
		CHECK(jsonfile_write_atomic(p, doc, err, sizeof err) == 0, "%s", err);
		CHECK(lstat(p, &st) == 0 && S_ISCHR(st.st_mode), "the character device was replaced");
	} else {
		printf("mknod not permitted: the character device case runs as root only\n");
	}
	CHECK(leftovers() == 0, "%d temporary files left behind", leftovers());

	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof addr.sun_path, "%s/sock", dir);
	int sock = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(sock >= 0 && bind(sock, (struct sockaddr *)&addr, sizeof addr) == 0, "bind");
	CHECK(jsonfile_check_writable(addr.sun_path, err, sizeof err) == -1 && strstr(err, "a socket"), "%s", err);
	CHECK(jsonfile_write_atomic(addr.sun_path, doc, err, sizeof err) == -1 && strstr(err, "a socket") &&
	      strstr(err, addr.sun_path), "%s", err);
	CHECK(lstat(addr.sun_path, &st) == 0 && S_ISSOCK(st.st_mode), "the socket was replaced");
	close(sock);

	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
	cJSON_Delete(doc);
}

int main(void)
{
	check_environment();
	check_atomic_write();
	check_output_kinds();
	CHECK_DONE();
}
