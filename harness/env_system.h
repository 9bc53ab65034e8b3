#ifndef SGDSYNC_HARNESS_ENV_SYSTEM_H
#define SGDSYNC_HARNESS_ENV_SYSTEM_H

/* The operating system's settings that move benchmark figures: CPU frequency governor, boost
 * (turbo), transparent huge pages, SMT. Read from sysfs; a fact that cannot be read is null,
 * with the reason under "unavailable" (a virtual machine often has no cpufreq at all). */

#include <cjson/cJSON.h>

/* {"governor": "performance" | "powersave,performance" (cpus differ) | null,
 *  "boost": true | false | null, "thp": "madvise" | null, "smt": true | false | null,
 *  "unavailable": {"governor": "reason", ...}}; root is the sysfs root ("/sys" but in tests).
 *  NULL only if out of memory. */
cJSON *env_system_json(const char *root);

#endif
