/* Topology description and pinning: the orders follow their policy on this machine's tree, and
 * threads that pin themselves run where the policy says (sched_getcpu). */

#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "check.h"
#include "harness/topology.h"

static hwloc_topology_t topo;

static hwloc_obj_t ancestor(int pu, hwloc_obj_type_t type)
{
	hwloc_obj_t obj = hwloc_get_pu_obj_by_os_index(topo, (unsigned)pu);
	hwloc_obj_t a = hwloc_get_ancestor_obj_by_type(topo, type, obj);
	return a ? a : obj;
}

static void check_description(void)
{
	const topology_info *t = topology_get();
	CHECK(t->packages >= 1 && t->numa_nodes >= 1, "packages %d, nodes %d", t->packages, t->numa_nodes);
	CHECK(t->cores >= 1 && t->pus >= t->cores, "cores %d, pus %d", t->cores, t->pus);
	CHECK(t->pus == hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU), "pus %d", t->pus);
	CHECK(t->ncaches >= 1, "no cache described");
	for (int i = 0; i < t->ncaches; i++) {
		CHECK(t->caches[i].level >= 1 && t->caches[i].size_bytes > 0 && t->caches[i].count >= 1,
		      "cache %d: L%d %llu bytes x%d", i, t->caches[i].level,
		      (unsigned long long)t->caches[i].size_bytes, t->caches[i].count);
		CHECK(!strcmp(t->caches[i].type, "data") || !strcmp(t->caches[i].type, "instruction") ||
			      !strcmp(t->caches[i].type, "unified"),
		      "cache type %s", t->caches[i].type);
	}
	cJSON *j = topology_json();
	CHECK(cJSON_GetObjectItem(j, "pus")->valueint == t->pus, "json pus");
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "caches")) == t->ncaches, "json caches");
	cJSON_Delete(j);
}

/* Every PU once per round, rounds wrap; first PUs on distinct cores; compact keeps a package's
 * cores together, scatter visits every package first. */
static void check_order(pin_policy p)
{
	const topology_info *t = topology_get();
	int seen[4096] = {0};
	for (int i = 0; i < t->pus; i++) {
		int pu = pin_pu_for(p, i);
		CHECK(pu >= 0 && pu < 4096 && !seen[pu]++, "%s: thread %d got PU %d twice", pin_name(p), i, pu);
		CHECK(pin_pu_for(p, i + t->pus) == pu && pin_pu_for(p, i + 3 * t->pus) == pu,
		      "%s: thread %d does not wrap", pin_name(p), i);
	}
	for (int i = 0; i < t->cores; i++)
		for (int j = 0; j < i; j++)
			CHECK(ancestor(pin_pu_for(p, i), HWLOC_OBJ_CORE) != ancestor(pin_pu_for(p, j), HWLOC_OBJ_CORE),
			      "%s: threads %d and %d share a core before every core has one", pin_name(p), j, i);
	int per_package = t->cores / t->packages;
	for (int i = 1; i < per_package && p == PIN_COMPACT; i++)
		CHECK(ancestor(pin_pu_for(p, i), HWLOC_OBJ_PACKAGE) == ancestor(pin_pu_for(p, 0), HWLOC_OBJ_PACKAGE),
		      "compact: thread %d left the first package", i);
	for (int i = 0; i < t->packages && p == PIN_SCATTER; i++)
		for (int j = 0; j < i; j++)
			CHECK(ancestor(pin_pu_for(p, i), HWLOC_OBJ_PACKAGE) != ancestor(pin_pu_for(p, j), HWLOC_OBJ_PACKAGE),
			      "scatter: threads %d and %d share a package", j, i);
}

typedef struct {
	pin_policy policy;
	int index;
	int pinned;   /* what pin_self returned */
	int ran_on;   /* sched_getcpu after pinning, several times */
	int only_one; /* the affinity mask holds exactly that PU */
} worker;

static void *pin_worker(void *arg)
{
	worker *w = arg;
	w->pinned = pin_self(w->policy, w->index);
	w->ran_on = sched_getcpu();
	for (int k = 0; k < 20 && w->ran_on == w->pinned; k++) {
		sched_yield();
		w->ran_on = sched_getcpu();
	}
	cpu_set_t set;
	CPU_ZERO(&set);
	w->only_one = sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) == 1 &&
		      w->pinned >= 0 && CPU_ISSET(w->pinned, &set);
	return NULL;
}

static void check_pinning(pin_policy p, int n)
{
	pthread_t th[64];
	worker w[64];
	for (int i = 0; i < n; i++) {
		w[i] = (worker){.policy = p, .index = i};
		CHECK(pthread_create(&th[i], NULL, pin_worker, &w[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		CHECK(w[i].pinned == pin_pu_for(p, i), "%s n=%d: thread %d pinned to %d, expected %d",
		      pin_name(p), n, i, w[i].pinned, pin_pu_for(p, i));
		CHECK(w[i].ran_on == w[i].pinned, "%s n=%d: thread %d runs on %d, pinned to %d",
		      pin_name(p), n, i, w[i].ran_on, w[i].pinned);
		CHECK(w[i].only_one, "%s n=%d: thread %d's affinity is not exactly PU %d", pin_name(p), n, i,
		      w[i].pinned);
	}
}

static void check_parse(void)
{
	pin_policy p;
	char err[256];
	CHECK(pin_parse("compact", &p, err, sizeof err) == 0 && p == PIN_COMPACT, "compact");
	CHECK(pin_parse("scatter", &p, err, sizeof err) == 0 && p == PIN_SCATTER, "scatter");
	CHECK(pin_parse("none", &p, err, sizeof err) == 0 && p == PIN_NONE, "none");
	CHECK(pin_pu_for(PIN_NONE, 3) == -1 && pin_self(PIN_NONE, 0) == -1, "none pins nothing");
	err[0] = '\0';
	CHECK(pin_parse("spread", &p, err, sizeof err) == -1, "spread accepted");
	CHECK(strstr(err, "'spread'") && strstr(err, "compact, scatter, none"), "message: %s", err);
	CHECK(pin_parse("", &p, err, sizeof err) == -1, "empty accepted");
}

int main(void)
{
	hwloc_topology_init(&topo);
	hwloc_topology_load(topo);
	check_description();
	check_parse();
	check_order(PIN_COMPACT);
	check_order(PIN_SCATTER);
	int cores = topology_get()->cores;
	int many = cores * 4 > 8 ? (cores * 4 > 64 ? 64 : cores * 4) : 8;
	for (pin_policy p = PIN_COMPACT; p <= PIN_SCATTER; p++) {
		check_pinning(p, 1);
		check_pinning(p, 2);
		check_pinning(p, many); /* more threads than cores: wrapped */
	}
	hwloc_topology_destroy(topo);
	CHECK_DONE();
}
