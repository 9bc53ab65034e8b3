#include "harness/env_system.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "harness/topology.h"

/* The first line of ROOT/rel, without its newline; false when it cannot be read. */
static bool read_line(const char *root, const char *rel, char *buf, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	f = fopen(path, "r");
	buf[0] = '\0';
	if (!f)
		return false;
	bool ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return ok && buf[0];
}

static void unavailable(cJSON *sys, const char *field, const char *reason)
{
	cJSON_AddNullToObject(sys, field);
	cJSON_AddStringToObject(cJSON_GetObjectItem(sys, "unavailable"), field, reason);
}

/* Every CPU's governor; the distinct values in CPU order, joined by commas. */
static void add_governor(cJSON *sys, const char *root)
{
	char rel[96], gov[64], all[256] = "";

	for (int cpu = 0;; cpu++) {
		snprintf(rel, sizeof rel, "devices/system/cpu/cpu%d/cpufreq/scaling_governor", cpu);
		if (!read_line(root, rel, gov, sizeof gov))
			break;
		size_t n = strlen(gov), used = strlen(all);
		const char *hit = strstr(all, gov);
		bool seen = hit && (hit == all || hit[-1] == ',') && (hit[n] == '\0' || hit[n] == ',');
		if (!seen && used + n + 2 < sizeof all)
			snprintf(all + used, sizeof all - used, "%s%s", used ? "," : "", gov);
	}
	if (all[0])
		cJSON_AddStringToObject(sys, "governor", all);
	else
		unavailable(sys, "governor", "no cpu0/cpufreq/scaling_governor in sysfs: no cpufreq "
					     "driver (a virtual machine, or a kernel without one)");
}

/* cpufreq/boost (acpi-cpufreq, amd-pstate), policy0/boost (newer amd-pstate) say 1 for on;
 * intel_pstate/no_turbo says 1 for off. */
static void add_boost(cJSON *sys, const char *root)
{
	char v[16];

	if (read_line(root, "devices/system/cpu/cpufreq/boost", v, sizeof v) ||
	    read_line(root, "devices/system/cpu/cpufreq/policy0/boost", v, sizeof v))
		cJSON_AddBoolToObject(sys, "boost", strcmp(v, "0") != 0);
	else if (read_line(root, "devices/system/cpu/intel_pstate/no_turbo", v, sizeof v))
		cJSON_AddBoolToObject(sys, "boost", strcmp(v, "1") != 0);
	else
		unavailable(sys, "boost", "neither cpufreq/boost nor intel_pstate/no_turbo in sysfs");
}

/* "always [madvise] never": the bracketed mode. */
static void add_thp(cJSON *sys, const char *root)
{
	char v[128];
	char *open = NULL, *close = NULL;

	if (read_line(root, "kernel/mm/transparent_hugepage/enabled", v, sizeof v))
		open = strchr(v, '['), close = open ? strchr(open, ']') : NULL;
	if (close) {
		*close = '\0';
		cJSON_AddStringToObject(sys, "thp", open + 1);
	} else {
		unavailable(sys, "thp", v[0] ? "kernel/mm/transparent_hugepage/enabled has no [mode]"
					     : "no kernel/mm/transparent_hugepage/enabled in sysfs");
	}
}

/* smt/active where the kernel has it, else whether hwloc found more hardware threads than cores. */
static void add_smt(cJSON *sys, const char *root)
{
	char v[16];
	const topology_info *t;

	if (read_line(root, "devices/system/cpu/smt/active", v, sizeof v))
		cJSON_AddBoolToObject(sys, "smt", strcmp(v, "0") != 0);
	else if ((t = topology_get()) && t->cores > 0)
		cJSON_AddBoolToObject(sys, "smt", t->pus > t->cores);
	else
		unavailable(sys, "smt", "no devices/system/cpu/smt/active in sysfs and no topology");
}

cJSON *env_system_json(const char *root)
{
	cJSON *sys = cJSON_CreateObject();

	if (!sys || !cJSON_AddObjectToObject(sys, "unavailable")) {
		cJSON_Delete(sys);
		return NULL;
	}
	add_governor(sys, root);
	add_boost(sys, root);
	add_thp(sys, root);
	add_smt(sys, root);
	return sys;
}
