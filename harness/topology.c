#include "harness/topology.h"

#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "primitives/cacheline.h"

/* One core as the pinning orders see it: its domain (package and NUMA node) and its PUs. */
typedef struct {
	int domain;
	int npus;
	int *pus; /* OS numbers, hyperthread siblings in hwloc's order */
} core_rec;

static struct {
	hwloc_topology_t topo;
	topology_info info;
	int npin;     /* PUs of the process's CPU set: what Slurm, taskset or a cgroup left us */
	int *compact; /* those npin PU numbers in compact order */
	int *scatter;
	char note[256];
} machine;

static pthread_once_t machine_once = PTHREAD_ONCE_INIT;

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (!p) {
		fprintf(stderr, "sgdsync: out of memory describing the topology\n");
		exit(1);
	}
	return p;
}

static const char *cache_type_name(hwloc_obj_cache_type_t t)
{
	switch (t) {
	case HWLOC_OBJ_CACHE_DATA:
		return "data";
	case HWLOC_OBJ_CACHE_INSTRUCTION:
		return "instruction";
	default:
		return "unified";
	}
}

static int cache_rank(const char *type)
{
	return type[0] == 'd' ? 0 : type[0] == 'i' ? 1 : 2;
}

static int cache_cmp(const void *a, const void *b)
{
	const topology_cache *x = a, *y = b;
	if (x->level != y->level)
		return x->level - y->level;
	if (cache_rank(x->type) != cache_rank(y->type))
		return cache_rank(x->type) - cache_rank(y->type);
	return (x->size_bytes > y->size_bytes) - (x->size_bytes < y->size_bytes);
}

static void add_cache(topology_info *info, hwloc_obj_t c)
{
	const char *type = cache_type_name(c->attr->cache.type);
	for (int i = 0; i < info->ncaches; i++) {
		topology_cache *k = &info->caches[i];
		if (k->level == (int)c->attr->cache.depth && k->type == type &&
		    k->size_bytes == c->attr->cache.size) {
			k->count++;
			return;
		}
	}
	if (info->ncaches == TOPOLOGY_MAX_CACHES)
		return;
	info->caches[info->ncaches++] = (topology_cache){
		.level = (int)c->attr->cache.depth,
		.type = type,
		.size_bytes = c->attr->cache.size,
		.count = 1,
	};
}

static void describe_caches(hwloc_topology_t topo, topology_info *info)
{
	for (int t = HWLOC_OBJ_TYPE_MIN; t < HWLOC_OBJ_TYPE_MAX; t++) {
		hwloc_obj_t c = NULL;
		if (!hwloc_obj_type_is_cache((hwloc_obj_type_t)t))
			continue;
		while ((c = hwloc_get_next_obj_by_type(topo, (hwloc_obj_type_t)t, c)))
			add_cache(info, c);
	}
	qsort(info->caches, (size_t)info->ncaches, sizeof info->caches[0], cache_cmp);
}

/* The domain of a core: index of its (package, NUMA node) pair, in order of first appearance;
 * rank[domain] = how many domains of the same package came before it. */
static int core_domain(hwloc_topology_t topo, hwloc_obj_t core, int *pkg_of, int *node_of,
		       int *rank, int *ndomains)
{
	hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, core);
	int p = pkg ? (int)pkg->logical_index : 0;
	int n = -1;
	hwloc_obj_t node = NULL;
	while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node)))
		if (!hwloc_bitmap_iszero(node->cpuset) && hwloc_bitmap_isincluded(core->cpuset, node->cpuset)) {
			n = (int)node->logical_index;
			break;
		}
	for (int d = 0; d < *ndomains; d++)
		if (pkg_of[d] == p && node_of[d] == n)
			return d;
	int d = (*ndomains)++;
	pkg_of[d] = p;
	node_of[d] = n;
	rank[d] = 0;
	for (int e = 0; e < d; e++)
		rank[d] += pkg_of[e] == p;
	return d;
}

/* The cores with a PU in allowed, in hwloc's logical order (package-major, then NUMA node),
 * each with its PUs in allowed; a machine without core objects counts each PU as a core. */
static core_rec *collect_cores(hwloc_topology_t topo, hwloc_const_bitmap_t allowed, int *ncores,
			       int **rank_out, int *ndomains)
{
	hwloc_obj_type_t type = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE
										  : HWLOC_OBJ_PU;
	int n = hwloc_get_nbobjs_by_type(topo, type), kept = 0;
	core_rec *cores = xcalloc((size_t)n, sizeof *cores);
	int *pkg_of = xcalloc((size_t)n, sizeof(int)), *node_of = xcalloc((size_t)n, sizeof(int));
	int *rank = xcalloc((size_t)n, sizeof(int));
	hwloc_bitmap_t mine = hwloc_bitmap_alloc();
	*ndomains = 0;
	for (int i = 0; i < n; i++) {
		hwloc_obj_t core = hwloc_get_obj_by_type(topo, type, (unsigned)i);
		hwloc_bitmap_and(mine, core->cpuset, allowed);
		int npus = hwloc_get_nbobjs_inside_cpuset_by_type(topo, mine, HWLOC_OBJ_PU);
		if (npus <= 0)
			continue;
		core_rec *c = &cores[kept++];
		c->domain = core_domain(topo, core, pkg_of, node_of, rank, ndomains);
		c->npus = npus;
		c->pus = xcalloc((size_t)npus, sizeof(int));
		for (int k = 0; k < npus; k++)
			c->pus[k] = (int)hwloc_get_obj_inside_cpuset_by_type(topo, mine, HWLOC_OBJ_PU,
									     (unsigned)k)
					    ->os_index;
	}
	hwloc_bitmap_free(mine);
	free(pkg_of);
	free(node_of);
	*ncores = kept;
	*rank_out = rank;
	return cores;
}

/* PUs of the cores taken in core_order: first PU of every core, then every second PU, ... */
static int *pu_order(const core_rec *cores, const int *core_order, int ncores, int npus)
{
	int *order = xcalloc((size_t)npus, sizeof(int));
	int k = 0;
	for (int sibling = 0; k < npus; sibling++)
		for (int c = 0; c < ncores; c++)
			if (cores[core_order[c]].npus > sibling)
				order[k++] = cores[core_order[c]].pus[sibling];
	return order;
}

/* Round-robin over domains, visiting the first domain of every package, then the second of
 * every package, ...; inside a domain, cores in logical order. */
static int *scatter_core_order(const core_rec *cores, int ncores, const int *rank, int ndomains)
{
	int *dorder = xcalloc((size_t)ndomains, sizeof(int)), nd = 0;
	for (int r = 0; nd < ndomains; r++)
		for (int d = 0; d < ndomains; d++)
			if (rank[d] == r)
				dorder[nd++] = d;
	int *taken = xcalloc((size_t)ndomains, sizeof(int));
	int *order = xcalloc((size_t)ncores, sizeof(int)), k = 0;
	while (k < ncores)
		for (int i = 0; i < ndomains; i++) {
			int d = dorder[i], seen = 0;
			for (int c = 0; c < ncores; c++)
				if (cores[c].domain == d && seen++ == taken[d]) {
					order[k++] = c;
					taken[d]++;
					break;
				}
		}
	free(dorder);
	free(taken);
	return order;
}

/* Pinning stays inside the process's CPU set (a Slurm task's CPUs, taskset's list); where it
 * cannot be read, the whole machine. */
static void build_orders(hwloc_topology_t topo)
{
	hwloc_bitmap_t allowed = hwloc_bitmap_alloc();
	if (hwloc_get_cpubind(topo, allowed, HWLOC_CPUBIND_PROCESS) != 0 ||
	    !hwloc_bitmap_intersects(allowed, hwloc_topology_get_topology_cpuset(topo)))
		hwloc_bitmap_copy(allowed, hwloc_topology_get_topology_cpuset(topo));
	int ncores, ndomains, *rank;
	core_rec *cores = collect_cores(topo, allowed, &ncores, &rank, &ndomains);
	hwloc_bitmap_free(allowed);
	machine.npin = 0;
	for (int c = 0; c < ncores; c++)
		machine.npin += cores[c].npus;
	int *logical = xcalloc((size_t)ncores, sizeof(int));
	for (int c = 0; c < ncores; c++)
		logical[c] = c;
	int *scattered = scatter_core_order(cores, ncores, rank, ndomains);
	machine.compact = pu_order(cores, logical, ncores, machine.npin);
	machine.scatter = pu_order(cores, scattered, ncores, machine.npin);
	for (int c = 0; c < ncores; c++)
		free(cores[c].pus);
	free(cores);
	free(rank);
	free(logical);
	free(scattered);
}

static void build_note(hwloc_topology_t topo)
{
	char *p = machine.note;
	size_t left = sizeof machine.note;
	if (machine.info.numa_nodes == 1) {
		hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, 0);
		int w = snprintf(p, left, "one NUMA node: local, interleave and node:%u coincide",
				 node->os_index);
		p += w;
		left -= (size_t)w;
	}
	if (memcmp(machine.compact, machine.scatter, (size_t)machine.npin * sizeof(int)) == 0)
		snprintf(p, left, "%scompact and scatter coincide (%d package%s, %d NUMA node%s, %d PU%s)",
			 p == machine.note ? "" : "; ", machine.info.packages,
			 machine.info.packages == 1 ? "" : "s", machine.info.numa_nodes,
			 machine.info.numa_nodes == 1 ? "" : "s", machine.info.pus,
			 machine.info.pus == 1 ? "" : "s");
}

static void machine_load(void)
{
	hwloc_topology_t topo;
	if (hwloc_topology_init(&topo) != 0 ||
	    hwloc_topology_set_icache_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_ALL) != 0 ||
	    hwloc_topology_load(topo) != 0) {
		fprintf(stderr, "sgdsync: hwloc could not load the machine topology: %s\n",
			strerror(errno));
		exit(1);
	}
	machine.topo = topo;
	topology_info *info = &machine.info;
	info->packages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
	if (info->packages < 1)
		info->packages = 1; /* hwloc shows no package object on some VMs */
	info->numa_nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
	info->pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
	info->cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
	if (info->cores < 1)
		info->cores = info->pus;
	describe_caches(topo, info);
	build_orders(topo);
	build_note(topo);
}

static hwloc_topology_t machine_topo(void)
{
	pthread_once(&machine_once, machine_load);
	return machine.topo;
}

const topology_info *topology_get(void)
{
	machine_topo();
	return &machine.info;
}

cJSON *topology_json(void)
{
	const topology_info *info = topology_get();
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "packages", info->packages);
	cJSON_AddNumberToObject(o, "numa_nodes", info->numa_nodes);
	cJSON_AddNumberToObject(o, "cores", info->cores);
	cJSON_AddNumberToObject(o, "pus", info->pus);
	cJSON *caches = cJSON_AddArrayToObject(o, "caches");
	for (int i = 0; i < info->ncaches; i++) {
		cJSON *c = cJSON_CreateObject();
		cJSON_AddNumberToObject(c, "level", info->caches[i].level);
		cJSON_AddStringToObject(c, "type", info->caches[i].type);
		cJSON_AddNumberToObject(c, "size_bytes", (double)info->caches[i].size_bytes);
		cJSON_AddNumberToObject(c, "count", info->caches[i].count);
		cJSON_AddItemToArray(caches, c);
	}
	return o;
}

/* ---- Pinning ---- */

static const char *const pin_names[] = {
	[PIN_NONE] = "none",
	[PIN_COMPACT] = "compact",
	[PIN_SCATTER] = "scatter",
};

int pin_parse(const char *spec, pin_policy *out, char *err, size_t errlen)
{
	for (int p = PIN_NONE; p <= PIN_SCATTER; p++)
		if (strcmp(spec, pin_names[p]) == 0) {
			*out = (pin_policy)p;
			return 0;
		}
	snprintf(err, errlen, "pinning '%s' is not one of: compact, scatter, none", spec);
	return -1;
}

const char *pin_name(pin_policy policy)
{
	return pin_names[policy];
}

int pin_pu_for(pin_policy policy, int i)
{
	if (policy == PIN_NONE || i < 0)
		return -1;
	machine_topo();
	const int *order = policy == PIN_COMPACT ? machine.compact : machine.scatter;
	return order[i % machine.npin];
}

int pin_self(pin_policy policy, int i)
{
	static atomic_flag warned = ATOMIC_FLAG_INIT;
	int pu = pin_pu_for(policy, i);
	if (pu < 0)
		return -1;
	hwloc_obj_t obj = hwloc_get_pu_obj_by_os_index(machine.topo, (unsigned)pu);
	if (hwloc_set_cpubind(machine.topo, obj->cpuset, HWLOC_CPUBIND_THREAD) == 0)
		return pu;
	/* Relaxed: the flag only keeps the warning to one line; it orders nothing else. */
	if (!atomic_flag_test_and_set_explicit(&warned, memory_order_relaxed))
		fprintf(stderr, "sgdsync: could not pin thread %d to PU %d (%s); threads run unpinned\n",
			i, pu, strerror(errno));
	return -1;
}

int topology_node_index_of_pu(int pu)
{
	hwloc_topology_t topo = machine_topo();
	hwloc_obj_t node = NULL;

	if (pu < 0)
		return 0;
	while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node)))
		if (hwloc_bitmap_isset(node->cpuset, (unsigned)pu))
			return (int)node->logical_index;
	return 0;
}

uint32_t pin_clusters(pin_policy policy, int workers, uint32_t *cluster_of)
{
	for (int i = 0; i < workers; i++)
		cluster_of[i] = (uint32_t)topology_node_index_of_pu(pin_pu_for(policy, i));
	int nodes = topology_get()->numa_nodes;

	return policy == PIN_NONE || nodes < 1 ? 1 : (uint32_t)nodes;
}

/* ---- Placement ---- */

static int node_exists(int node)
{
	return node >= 0 && hwloc_get_numanode_obj_by_os_index(machine_topo(), (unsigned)node);
}

static void list_nodes(char *buf, size_t len)
{
	hwloc_obj_t node = NULL;
	size_t used = 0;
	buf[0] = '\0';
	while ((node = hwloc_get_next_obj_by_type(machine_topo(), HWLOC_OBJ_NUMANODE, node)) &&
	       used < len)
		used += (size_t)snprintf(buf + used, len - used, "%s%u", used ? ", " : "", node->os_index);
}

int placement_parse(const char *spec, placement *out, char *err, size_t errlen)
{
	if (strcmp(spec, "local") == 0 || strcmp(spec, "interleave") == 0) {
		*out = (placement){spec[0] == 'l' ? PLACEMENT_LOCAL : PLACEMENT_INTERLEAVE, -1};
		return 0;
	}
	if (strncmp(spec, "node:", 5) != 0) {
		snprintf(err, errlen, "placement '%s' is not one of: local, interleave, node:N", spec);
		return -1;
	}
	char *end, nodes[128];
	errno = 0;
	long n = strtol(spec + 5, &end, 10);
	bool bad = end == spec + 5 || *end != '\0' || errno || n < 0 || n > 1 << 20;
	list_nodes(nodes, sizeof nodes);
	if (bad) {
		snprintf(err, errlen, "placement '%s': N in node:N must be a NUMA node number (%s)",
			 spec, nodes);
		return -1;
	}
	if (!node_exists((int)n)) {
		snprintf(err, errlen, "placement '%s': this machine has no NUMA node %ld (nodes: %s)",
			 spec, n, nodes);
		return -1;
	}
	*out = (placement){PLACEMENT_NODE, (int)n};
	return 0;
}

int placement_format(const placement *p, char *buf, size_t len)
{
	switch (p->kind) {
	case PLACEMENT_LOCAL:
		return snprintf(buf, len, "local");
	case PLACEMENT_INTERLEAVE:
		return snprintf(buf, len, "interleave");
	default:
		return snprintf(buf, len, "node:%d", p->node);
	}
}

const char *placement_note(void)
{
	machine_topo();
	return machine.note;
}

/* The nodes near `pu`, or near the PU the calling thread runs on now when pu < 0. */
static void nodes_near(int pu, hwloc_nodeset_t set)
{
	hwloc_topology_t topo = machine_topo();
	hwloc_cpuset_t cpus = hwloc_bitmap_alloc();
	if (pu >= 0)
		hwloc_bitmap_only(cpus, (unsigned)pu);
	else if (hwloc_get_last_cpu_location(topo, cpus, HWLOC_CPUBIND_THREAD) != 0)
		hwloc_bitmap_zero(cpus);
	hwloc_cpuset_to_nodeset(topo, cpus, set);
	if (hwloc_bitmap_iszero(set)) /* the OS would not say: anywhere */
		hwloc_bitmap_copy(set, hwloc_topology_get_topology_nodeset(topo));
	hwloc_bitmap_free(cpus);
}

/* The nodes and policy of placement p for an allocation made now; local binds near `pu`. */
static hwloc_membind_policy_t placement_nodes(const placement *p, int pu, hwloc_nodeset_t set)
{
	switch (p->kind) {
	case PLACEMENT_NODE:
		hwloc_bitmap_only(set, (unsigned)p->node);
		return HWLOC_MEMBIND_BIND;
	case PLACEMENT_INTERLEAVE:
		hwloc_bitmap_copy(set, hwloc_topology_get_topology_nodeset(machine_topo()));
		return HWLOC_MEMBIND_INTERLEAVE;
	default:
		nodes_near(pu, set);
		return HWLOC_MEMBIND_BIND;
	}
}

/* Memory bound to set under policy; the error names p. */
static void *alloc_bound(hwloc_const_nodeset_t set, hwloc_membind_policy_t policy, size_t bytes,
			 const placement *p, char *err, size_t errlen)
{
	hwloc_topology_t topo = machine_topo();
	/* STRICT: a refused binding must fail, not hand back unbound memory silently. */
	void *buf = hwloc_alloc_membind(topo, bytes, set, policy,
					HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_STRICT);
	int saved = errno;
	if (!buf && machine.info.numa_nodes == 1 && (saved == ENOSYS || saved == EXDEV))
		return hwloc_alloc(topo, bytes); /* a kernel without NUMA: every placement coincides */
	if (!buf) {
		char spec[32];
		placement_format(p, spec, sizeof spec);
		snprintf(err, errlen, "allocating %zu bytes with placement %s: %s", bytes, spec,
			 strerror(saved));
	}
	return buf;
}

void *placement_alloc(const placement *p, size_t bytes, char *err, size_t errlen)
{
	hwloc_topology_t topo = machine_topo();
	if (bytes == 0) {
		snprintf(err, errlen, "placement_alloc: zero bytes requested");
		return NULL;
	}
	if (p->kind == PLACEMENT_LOCAL) {
		void *buf = hwloc_alloc(topo, bytes);
		if (!buf)
			snprintf(err, errlen, "allocating %zu bytes: %s", bytes, strerror(errno));
		return buf;
	}
	hwloc_nodeset_t set = hwloc_bitmap_alloc();
	hwloc_membind_policy_t policy = placement_nodes(p, -1, set);
	void *buf = alloc_bound(set, policy, bytes, p, err, errlen);
	hwloc_bitmap_free(set);
	return buf;
}

void placement_free(void *buf, size_t bytes)
{
	if (buf)
		hwloc_free(machine_topo(), buf, bytes);
}

/* The nodes of set into nodes (up to max); returns how many set holds. */
static int nodes_in(hwloc_const_nodeset_t set, int *nodes, int max)
{
	int n = 0, id;
	hwloc_bitmap_foreach_begin(id, set)
		if (n < max)
			nodes[n] = id;
		n++;
	hwloc_bitmap_foreach_end();
	return n;
}

int placement_nodes_of(const void *buf, size_t bytes, int *nodes, int max)
{
	hwloc_nodeset_t set = hwloc_bitmap_alloc();
	int n = -1;
	if (hwloc_get_area_memlocation(machine_topo(), buf, bytes, set, HWLOC_MEMBIND_BYNODESET) == 0)
		n = nodes_in(set, nodes, max);
	hwloc_bitmap_free(set);
	return n;
}

int placement_binding_of(const void *buf, size_t bytes, const char **policy, int *nodes, int max)
{
	hwloc_nodeset_t set = hwloc_bitmap_alloc();
	hwloc_membind_policy_t pol;
	int n = -1;
	if (hwloc_get_area_membind(machine_topo(), buf, bytes, set, &pol, HWLOC_MEMBIND_BYNODESET) == 0) {
		n = nodes_in(set, nodes, max);
		*policy = pol == HWLOC_MEMBIND_FIRSTTOUCH ? "first-touch"
			  : pol == HWLOC_MEMBIND_BIND     ? "bind"
			  : pol == HWLOC_MEMBIND_INTERLEAVE ? "interleave"
							    : "other";
	}
	hwloc_bitmap_free(set);
	return n;
}

/* ---- Placement of a model's memory ---- */

/* Fresh pages cost a fault each (about 10 us apiece on a KVM guest), so freed buffers are kept
 * and handed out again to a request of the same size and the same binding, as malloc reuses its
 * heap: a Leashed chain that allocates per publish would otherwise pay an mmap, the faults and a
 * munmap every time. A buffer carries one line ahead of it saying where it is bound. */
#define WHERE_INTERLEAVE -1
#define WHERE_ANY -2 /* bound to several nodes: the OS could not say which is near */
#define HEADER CACHELINE_SIZE

typedef struct kept {
	struct kept *next; /* while kept for reuse */
	size_t bytes;      /* as the caller asked */
	int where;         /* the node it is bound to, or one of WHERE_* */
} kept;

struct placement_memory {
	memory_ops ops;
	placement shared;
	pin_policy pinning;
	pthread_mutex_t lock; /* guards kept */
	kept *kept;
	atomic_flag failed;
	char err[256];
};

static int where_of(hwloc_const_nodeset_t set, hwloc_membind_policy_t policy)
{
	if (policy == HWLOC_MEMBIND_INTERLEAVE)
		return WHERE_INTERLEAVE;
	return hwloc_bitmap_weight(set) == 1 ? hwloc_bitmap_first(set) : WHERE_ANY;
}

static kept *take_kept(placement_memory *pm, size_t bytes, int where)
{
	pthread_mutex_lock(&pm->lock);
	kept **k = &pm->kept;
	while (*k && ((*k)->bytes != bytes || (*k)->where != where))
		k = &(*k)->next;
	kept *found = *k;
	if (found)
		*k = found->next;
	pthread_mutex_unlock(&pm->lock);
	return found;
}

static void *pm_alloc(placement_memory *pm, const placement *p, int pu, size_t bytes)
{
	char err[sizeof pm->err];
	hwloc_nodeset_t set = hwloc_bitmap_alloc();
	hwloc_membind_policy_t policy = placement_nodes(p, pu, set);
	int where = where_of(set, policy);
	kept *k = take_kept(pm, bytes, where);
	if (!k) {
		k = alloc_bound(set, policy, bytes + HEADER, p, err, sizeof err);
		if (k)
			*k = (kept){NULL, bytes, where};
	}
	hwloc_bitmap_free(set);
	/* Relaxed: elects the one writer of err, which is read after the workers are joined. */
	if (!k && !atomic_flag_test_and_set_explicit(&pm->failed, memory_order_relaxed))
		snprintf(pm->err, sizeof pm->err, "%s", err);
	return k ? (char *)k + HEADER : NULL;
}

static void *pm_alloc_shared(void *arg, size_t bytes)
{
	placement_memory *pm = arg;
	return pm_alloc(pm, &pm->shared, -1, bytes);
}

static void *pm_alloc_private(void *arg, size_t bytes, int worker)
{
	placement_memory *pm = arg;
	static const placement local = {PLACEMENT_LOCAL, -1};
	return pm_alloc(pm, &local, pin_pu_for(pm->pinning, worker), bytes);
}

static void pm_free(void *arg, void *p, size_t bytes)
{
	placement_memory *pm = arg;
	kept *k = (kept *)((char *)p - HEADER);
	(void)bytes; /* the header has it */
	pthread_mutex_lock(&pm->lock);
	k->next = pm->kept;
	pm->kept = k;
	pthread_mutex_unlock(&pm->lock);
}

placement_memory *placement_memory_create(const placement *shared, pin_policy pinning)
{
	placement_memory *pm = calloc(1, sizeof *pm);
	if (!pm)
		return NULL;
	pm->ops = (memory_ops){pm_alloc_shared, pm_alloc_private, pm_free, pm};
	pm->shared = *shared;
	pm->pinning = pinning;
	pthread_mutex_init(&pm->lock, NULL);
	atomic_flag_clear(&pm->failed);
	return pm;
}

void placement_memory_destroy(placement_memory *pm)
{
	if (!pm)
		return;
	for (kept *k = pm->kept, *next; k; k = next) {
		next = k->next;
		placement_free(k, k->bytes + HEADER);
	}
	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

const memory_ops *placement_memory_ops(const placement_memory *pm)
{
	return &pm->ops;
}

const char *placement_memory_error(const placement_memory *pm)
{
	return pm->err;
}
