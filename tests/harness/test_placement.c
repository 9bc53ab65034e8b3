/* Memory placement: each request lands where it says, as far as the machine allows, checked
 * through hwloc's view of where the touched pages are. */

#include <hwloc.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "harness/topology.h"

static hwloc_topology_t topo;

static void check_parse(void)
{
	placement p;
	char err[256], buf[32];
	int first = (int)hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, 0)->os_index;
	CHECK(placement_parse("local", &p, err, sizeof err) == 0 && p.kind == PLACEMENT_LOCAL, "local");
	CHECK(placement_parse("interleave", &p, err, sizeof err) == 0 && p.kind == PLACEMENT_INTERLEAVE,
	      "interleave");
	snprintf(buf, sizeof buf, "node:%d", first);
	CHECK(placement_parse(buf, &p, err, sizeof err) == 0 && p.kind == PLACEMENT_NODE && p.node == first,
	      "%s: %s", buf, err);
	char back[32];
	placement_format(&p, back, sizeof back);
	CHECK(strcmp(back, buf) == 0, "format %s", back);
	CHECK(placement_parse("node:99", &p, err, sizeof err) == -1, "node:99 accepted");
	CHECK(strstr(err, "no NUMA node 99") && strstr(err, "nodes:"), "message: %s", err);
	CHECK(placement_parse("node:", &p, err, sizeof err) == -1 && strstr(err, "node:N"), "node: %s", err);
	CHECK(placement_parse("node:1x", &p, err, sizeof err) == -1, "node:1x accepted");
	CHECK(placement_parse("node:-1", &p, err, sizeof err) == -1, "node:-1 accepted");
	CHECK(placement_parse("numa", &p, err, sizeof err) == -1, "numa accepted");
	CHECK(strstr(err, "local, interleave, node:N"), "message: %s", err);
}

static void check_note(void)
{
	int nodes = topology_get()->numa_nodes;
	const char *note = placement_note();
	CHECK((nodes == 1) == (strstr(note, "local, interleave and node:") != NULL), "note: %s", note);
}

typedef struct {
	char *buf;
	size_t bytes;
	int pu;
} toucher;

static void *touch(void *arg)
{
	toucher *t = arg;
	t->pu = pin_self(PIN_COMPACT, 0);
	memset(t->buf, 1, t->bytes);
	return NULL;
}

/* Allocates with p, touches from a thread pinned to the first compact PU, returns the nodes. */
static int place_and_look(const placement *p, int *nodes, int max, int *touch_pu)
{
	char err[256];
	size_t bytes = 64 * (size_t)sysconf(_SC_PAGESIZE);
	toucher t = {.bytes = bytes};
	t.buf = placement_alloc(p, bytes, err, sizeof err);
	CHECK(t.buf != NULL, "placement_alloc: %s", err);
	CHECK(((unsigned long)t.buf % (unsigned long)sysconf(_SC_PAGESIZE)) == 0, "not page-aligned");
	pthread_t th;
	CHECK(pthread_create(&th, NULL, touch, &t) == 0, "pthread_create");
	pthread_join(th, NULL);
	int n = placement_nodes_of(t.buf, bytes, nodes, max);
	placement_free(t.buf, bytes);
	*touch_pu = t.pu;
	return n;
}

static void check_placements(void)
{
	int nodes[64], pu, all = topology_get()->numa_nodes;
	hwloc_obj_t node = NULL;
	while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node))) {
		placement p = {PLACEMENT_NODE, (int)node->os_index};
		int n = place_and_look(&p, nodes, 64, &pu);
		CHECK(n == 1 && nodes[0] == p.node, "node:%d: pages on %d nodes, first %d", p.node, n, nodes[0]);
	}
	placement inter = {PLACEMENT_INTERLEAVE, -1};
	int n = place_and_look(&inter, nodes, 64, &pu);
	CHECK(n == all, "interleave: pages on %d of %d nodes", n, all);

	placement local = {PLACEMENT_LOCAL, -1};
	n = place_and_look(&local, nodes, 64, &pu);
	hwloc_obj_t pu_obj = hwloc_get_pu_obj_by_os_index(topo, (unsigned)pu);
	hwloc_nodeset_t near = hwloc_bitmap_alloc();
	hwloc_cpuset_to_nodeset(topo, pu_obj->cpuset, near);
	CHECK(n == 1 && hwloc_bitmap_isset(near, (unsigned)nodes[0]),
	      "local: pages on %d nodes (first %d), toucher on PU %d", n, nodes[0], pu);
	hwloc_bitmap_free(near);

	char err[256];
	CHECK(placement_alloc(&local, 0, err, sizeof err) == NULL && strstr(err, "zero"), "0 bytes: %s", err);
}

int main(void)
{
	hwloc_topology_init(&topo);
	hwloc_topology_load(topo);
	check_parse();
	check_note();
	check_placements();
	hwloc_topology_destroy(topo);
	CHECK_DONE();
}
