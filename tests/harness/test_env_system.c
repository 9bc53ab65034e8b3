/* The environment's OS settings and BLAS core: env_system_json reads each setting as sysfs
 * writes it (a fake sysfs tree: several governors, each boost interface, THP's bracketed mode,
 * SMT), says why where one is missing, and agrees with the real /sys; "blas" is null without a
 * BLAS and carries the core info with one. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "harness/env.h"
#include "harness/env_system.h"

static char root[64];

static void put(const char *rel, const char *text)
{
	char path[256], cmd[300];

	snprintf(path, sizeof path, "%s/%s", root, rel);
	snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
	CHECK(system(cmd) == 0, "mkdir for %s", rel);
	FILE *f = fopen(path, "w");
	CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
}

static void clear(void)
{
	char cmd[200];

	snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir %s", root, root);
	CHECK(system(cmd) == 0, "reset %s", root);
}

static const cJSON *item(const cJSON *o, const char *key)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
	CHECK(m, "key %s missing", key);
	return m;
}

static void check_string(const cJSON *sys, const char *key, const char *want)
{
	const cJSON *m = item(sys, key);
	CHECK(cJSON_IsString(m) && strcmp(m->valuestring, want) == 0, "%s: %s, expected %s", key,
	      cJSON_IsString(m) ? m->valuestring : "(not a string)", want);
}

static void check_bool(const cJSON *sys, const char *key, int want)
{
	const cJSON *m = item(sys, key);
	CHECK(cJSON_IsBool(m) && cJSON_IsTrue(m) == want, "%s: expected %d", key, want);
}

/* Null, and the reason under "unavailable"; or set, and no reason. */
static void check_null(const cJSON *sys, const char *key, int null)
{
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(item(sys, "unavailable"), key);
	CHECK(cJSON_IsNull(item(sys, key)) == null, "%s null: expected %d", key, null);
	CHECK(null ? cJSON_IsString(why) && strlen(why->valuestring) > 10 : why == NULL,
	      "%s: reason %s", key, why && cJSON_IsString(why) ? why->valuestring : "(none)");
}

static void check_fake_sysfs(void)
{
	cJSON *sys;

	clear();
	put("devices/system/cpu/cpu0/cpufreq/scaling_governor", "performance\n");
	put("devices/system/cpu/cpu1/cpufreq/scaling_governor", "powersave\n");
	put("devices/system/cpu/cpu2/cpufreq/scaling_governor", "performance\n");
	put("devices/system/cpu/cpu3/cpufreq/scaling_governor", "perf\n");
	put("devices/system/cpu/cpufreq/boost", "1\n");
	put("kernel/mm/transparent_hugepage/enabled", "always madvise [never]\n");
	put("devices/system/cpu/smt/active", "1\n");
	sys = env_system_json(root);
	check_string(sys, "governor", "performance,powersave,perf");
	check_bool(sys, "boost", 1);
	check_string(sys, "thp", "never");
	check_bool(sys, "smt", 1);
	CHECK(cJSON_GetArraySize(item(sys, "unavailable")) == 0, "nothing unavailable");
	cJSON_Delete(sys);

	clear(); /* intel_pstate: no_turbo = 1 means boost off; amd-pstate's per-policy boost */
	put("devices/system/cpu/intel_pstate/no_turbo", "1\n");
	put("devices/system/cpu/smt/active", "0\n");
	sys = env_system_json(root);
	check_bool(sys, "boost", 0);
	check_bool(sys, "smt", 0);
	check_null(sys, "governor", 1);
	check_null(sys, "thp", 1);
	cJSON_Delete(sys);
	clear();
	put("devices/system/cpu/cpufreq/policy0/boost", "0\n");
	put("kernel/mm/transparent_hugepage/enabled", "garbage\n");
	sys = env_system_json(root);
	check_bool(sys, "boost", 0);
	check_null(sys, "thp", 1);
	CHECK(strstr(item(item(sys, "unavailable"), "thp")->valuestring, "[mode]"), "thp reason");
	check_null(sys, "smt", 0); /* from the topology when sysfs lacks it */
	cJSON_Delete(sys);
}

/* The real /sys: each field is what the file says, or null with a reason where it is absent. */
static void check_real_sysfs(void)
{
	char buf[256];
	cJSON *sys = env_system_json("/sys");
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (f && fgets(buf, sizeof buf, f)) {
		char *open = strchr(buf, '['), *close = open ? strchr(open, ']') : NULL;
		CHECK(close, "THP file without [mode]: %s", buf);
		*close = '\0';
		check_string(sys, "thp", open + 1);
	}
	if (f)
		fclose(f);
	check_null(sys, "governor",
		   access("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", R_OK) != 0);
	CHECK(cJSON_IsBool(item(sys, "smt")), "smt is known on Linux");
	cJSON_Delete(sys);
}

static void check_blas(void)
{
	blas_core_info core = {.detected = "Prescott", .used = "SkylakeX", .best = "Cooperlake",
			       .source = BLAS_CORE_SGDSYNC, .note = "why"};
	env_options o = {.argc = 0};
	cJSON *e = env_json(&o);

	CHECK(cJSON_IsNull(item(e, "blas")), "blas not null without a BLAS");
	CHECK(cJSON_IsObject(item(e, "system")), "system");
	cJSON_Delete(e);
	o.blas_core = &core;
	e = env_json(&o);
	const cJSON *b = item(e, "blas");
	check_string(b, "core_detected", "Prescott");
	check_string(b, "core_used", "SkylakeX");
	check_string(b, "core_best", "Cooperlake");
	check_string(b, "chosen_by", "sgdsync");
	check_string(b, "note", "why");
	cJSON_Delete(e);
	core.detected[0] = core.best[0] = '\0';
	core.source = BLAS_CORE_USER;
	e = env_json(&o);
	b = item(e, "blas");
	CHECK(cJSON_IsNull(item(b, "core_detected")) && cJSON_IsNull(item(b, "core_best")), "unknown: null");
	check_string(b, "chosen_by", "user");
	cJSON_Delete(e);
}

int main(void)
{
	snprintf(root, sizeof root, "/tmp/test_env_system.%d", (int)getpid());
	check_fake_sysfs();
	check_real_sysfs();
	check_blas();
	char cmd[100];
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	CHECK(system(cmd) == 0, "cleanup");
	CHECK_DONE();
}
