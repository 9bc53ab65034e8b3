/* A model's own memory is placed as asked: for every method and every placement, the kernel's
 * policy on each page of θ, sync's sum, every Leashed chain vector (pooled and cached ones too)
 * and each worker's private copy, read back with get_mempolicy(MPOL_F_ADDR); the nodes of the
 * touched pages through hwloc agree. A model without an allocator keeps plain memory; freed
 * placed buffers are reused only under the same binding. */

#include <hwloc.h>
#include <linux/mempolicy.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"
#include "harness/topology.h"
#include "primitives/model.h"

#define WORKERS 4
#define UPDATES 32
#define PARAMS 3000 /* three pages and a bit */
#define MASK_WORDS 16

typedef struct {
	int mode;
	unsigned long mask[MASK_WORDS];
} page_policy;

static hwloc_topology_t topo;

static page_policy policy_at(const void *addr)
{
	page_policy p = {0};
	long rc = syscall(SYS_get_mempolicy, &p.mode, p.mask, (unsigned long)MASK_WORDS * 64,
			  addr, (unsigned long)MPOL_F_ADDR);
	CHECK(rc == 0, "get_mempolicy(%p) failed", addr);
	return p;
}

static void mask_set(unsigned long *mask, int node)
{
	mask[node / 64] |= 1ul << (node % 64);
}

static void mask_of_all(unsigned long *mask)
{
	hwloc_obj_t node = NULL;
	while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node)))
		mask_set(mask, (int)node->os_index);
}

static int node_of_pu(int pu)
{
	hwloc_nodeset_t set = hwloc_bitmap_alloc();
	hwloc_cpuset_to_nodeset(topo, hwloc_get_pu_obj_by_os_index(topo, (unsigned)pu)->cpuset, set);
	int node = hwloc_bitmap_first(set);
	hwloc_bitmap_free(set);
	return node;
}

/* What every page of a region must carry. any_one: MPOL_BIND to a single node among mask
 * (a Leashed vector under local lives wherever its publisher ran). */
typedef struct {
	int mode;
	unsigned long mask[MASK_WORDS];
	int any_one;
	const char *what;
} expect;

static int popcount_mask(const unsigned long *mask)
{
	int n = 0;
	for (int i = 0; i < MASK_WORDS; i++)
		n += __builtin_popcountl(mask[i]);
	return n;
}

static void check_region(const expect *e, const void *p, size_t bytes)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	CHECK((uintptr_t)p % 64 == 0, "%s: region %p is not line-aligned", e->what, p);
	for (size_t off = 0; off < bytes + page; off += page) {
		/* every page the region touches, the one holding its last byte included */
		const char *at = (const char *)p + (off < bytes ? off : bytes - 1);
		page_policy got = policy_at(at);
		CHECK(got.mode == e->mode, "%s: page %zu of %p has policy %d, not %d", e->what,
		      off / page, p, got.mode, e->mode);
		if (e->mode == MPOL_DEFAULT)
			continue;
		if (e->any_one) {
			unsigned long outside = 0;
			for (int i = 0; i < MASK_WORDS; i++)
				outside |= got.mask[i] & ~e->mask[i];
			CHECK(popcount_mask(got.mask) == 1 && outside == 0,
			      "%s: page %zu bound to %d nodes (mask %#lx)", e->what, off / page,
			      popcount_mask(got.mask), got.mask[0]);
		} else {
			CHECK(memcmp(got.mask, e->mask, sizeof got.mask) == 0,
			      "%s: page %zu nodemask %#lx, expected %#lx", e->what, off / page,
			      got.mask[0], e->mask[0]);
		}
	}
	if (e->mode == MPOL_DEFAULT)
		return;
	int nodes[64], n = placement_nodes_of(p, bytes, nodes, 64);
	CHECK(n >= 1, "%s: hwloc sees no touched page in %p", e->what, p);
	for (int i = 0; i < n && i < 64; i++)
		CHECK(e->mask[nodes[i] / 64] & (1ul << (nodes[i] % 64)),
		      "%s: a page of %p is on node %d, outside the policy", e->what, p, nodes[i]);
}

typedef struct {
	model *m;
	int id;
	const placement *shared; /* NULL: the default allocator */
	pthread_barrier_t *updated, *checked;
	const float *read;       /* what the worker reads last, held across the checks */
} worker_arg;

static int contains(model *m, const float *x)
{
	void *p;
	size_t bytes;
	for (size_t i = 0; model_shared_memory(m, i, &p, &bytes) == 0; i++)
		if ((const char *)x >= (char *)p && (const char *)x < (char *)p + bytes)
			return 1;
	return 0;
}

static void *worker(void *arg)
{
	worker_arg *a = arg;
	int pu = pin_self(PIN_COMPACT, a->id);
	model_worker *w = model_join(a->m, a->id, (uint64_t)a->id + 1);
	CHECK(w != NULL, "join %d", a->id);
	float grad[PARAMS];
	for (int i = 0; i < PARAMS; i++)
		grad[i] = 1e-3f * (float)(i % 7);
	const model_config *cfg = model_get_config(a->m);
	for (int u = 0; u < UPDATES; u++) {
		model_read(w, NULL);
		model_apply(w, grad, 0.01f, NULL);
	}
	a->read = model_read(w, NULL); /* leashed: a reference, kept until model_leave */
	void *p;
	size_t bytes;
	int has_private = model_worker_memory(w, &p, &bytes) == 0;
	CHECK(has_private == (cfg->method != MODEL_SYNC && cfg->method != MODEL_LEASHED),
	      "worker memory of %s", model_method_name(cfg->method));
	if (has_private) {
		CHECK(a->read == p, "the worker's copy is not what it reads");
		expect e = {.mode = a->shared ? MPOL_BIND : MPOL_DEFAULT, .what = "worker copy"};
		if (a->shared)
			mask_set(e.mask, node_of_pu(pu >= 0 ? pu : pin_pu_for(PIN_COMPACT, a->id)));
		check_region(&e, p, bytes);
	}
	pthread_barrier_wait(a->updated); /* sync: every round is over; leashed: caches are full */
	pthread_barrier_wait(a->checked);
	model_leave(w);
	return NULL;
}

static size_t count_regions(model *m)
{
	void *p;
	size_t bytes, i = 0;
	while (model_shared_memory(m, i, &p, &bytes) == 0)
		i++;
	return i;
}

/* The policy the shared regions must carry; the creator runs on creator_node. */
static expect expected_shared(const placement *shared, int creator_node)
{
	expect e = {.mode = MPOL_DEFAULT, .what = "shared"};
	if (!shared)
		return e;
	switch (shared->kind) {
	case PLACEMENT_INTERLEAVE:
		e.mode = MPOL_INTERLEAVE;
		mask_of_all(e.mask);
		break;
	case PLACEMENT_NODE:
		e.mode = MPOL_BIND;
		mask_set(e.mask, shared->node);
		break;
	default:
		e.mode = MPOL_BIND;
		mask_set(e.mask, creator_node);
	}
	return e;
}

static void check_model(model_method method, chain_alloc alloc, const placement *shared)
{
	char spec[32] = "default", err[256];
	if (shared)
		placement_format(shared, spec, sizeof spec);
	placement_memory *pm = shared ? placement_memory_create(shared, PIN_COMPACT) : NULL;
	model_config cfg = model_config_default(method, WORKERS);
	cfg.alloc = alloc;
	cfg.memory = pm ? placement_memory_ops(pm) : NULL;
	static float init[PARAMS];
	int creator = pin_self(PIN_COMPACT, 0);
	model *m = model_create(&cfg, PARAMS, init, err, sizeof err);
	CHECK(m != NULL, "%s/%s: %s", model_method_name(method), spec, err);

	pthread_barrier_t updated, checked;
	pthread_barrier_init(&updated, NULL, WORKERS + 1);
	pthread_barrier_init(&checked, NULL, WORKERS + 1);
	worker_arg args[WORKERS];
	pthread_t th[WORKERS];
	for (int i = 0; i < WORKERS; i++) {
		args[i] = (worker_arg){m, i, shared, &updated, &checked, NULL};
		CHECK(pthread_create(&th[i], NULL, worker, &args[i]) == 0, "pthread_create");
	}
	pthread_barrier_wait(&updated);

	size_t regions = count_regions(m);
	/* leashed: with a pool, the reclaimed vectors stay (cached or pooled) beside the latest */
	size_t want = method == MODEL_SYNC || (method == MODEL_LEASHED && alloc == CHAIN_POOL) ? 2 : 1;
	CHECK(method == MODEL_LEASHED ? regions >= want : regions == want,
	      "%s/%s: %zu shared regions", model_method_name(method), spec, regions);
	int reads_shared = method == MODEL_SYNC || method == MODEL_LEASHED;
	for (int i = 0; reads_shared && i < WORKERS; i++)
		CHECK(contains(m, args[i].read), "%s/%s: worker %d reads outside the model's memory",
		      model_method_name(method), spec, i);
	expect e = expected_shared(shared, node_of_pu(creator >= 0 ? creator : pin_pu_for(PIN_COMPACT, 0)));
	if (method == MODEL_LEASHED && shared && shared->kind == PLACEMENT_LOCAL) {
		/* each vector is local to whichever worker (or the creator) allocated it */
		for (int i = 0; i < WORKERS; i++)
			mask_set(e.mask, node_of_pu(pin_pu_for(PIN_COMPACT, i)));
		e.any_one = 1;
	}
	void *p;
	size_t bytes;
	for (size_t i = 0; model_shared_memory(m, i, &p, &bytes) == 0; i++) {
		CHECK(bytes >= PARAMS * sizeof(float), "region %zu: %zu bytes", i, bytes);
		check_region(&e, p, bytes);
	}
	pthread_barrier_wait(&checked);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	CHECK(model_updates(m) > 0, "%s/%s: no update", model_method_name(method), spec);
	model_destroy(m);
	pthread_barrier_destroy(&updated);
	pthread_barrier_destroy(&checked);
	if (pm) {
		CHECK(placement_memory_error(pm)[0] == '\0', "%s/%s: %s", model_method_name(method), spec,
		      placement_memory_error(pm));
		placement_memory_destroy(pm);
	}
}

static void check_all_models(const placement *shared)
{
	for (int method = 0; method < MODEL_METHOD_COUNT; method++)
		check_model((model_method)method, CHAIN_POOL, shared);
	check_model(MODEL_LEASHED, CHAIN_MALLOC, shared);
}

/* A freed buffer comes back for the same size and binding, never for another binding. */
static void check_reuse(void)
{
	placement inter = {PLACEMENT_INTERLEAVE, -1};
	placement_memory *pm = placement_memory_create(&inter, PIN_COMPACT);
	const memory_ops *ops = placement_memory_ops(pm);
	size_t bytes = PARAMS * sizeof(float);
	void *a = memory_shared(ops, bytes);
	CHECK(a != NULL, "interleave: %s", placement_memory_error(pm));
	memory_free(ops, a, bytes);
	void *b = memory_private(ops, bytes, 0);
	CHECK(b != NULL && b != a, "a private buffer (bound) reused an interleaved one");
	CHECK(policy_at(b).mode == MPOL_BIND, "private: policy %d", policy_at(b).mode);
	void *c = memory_shared(ops, bytes);
	CHECK(c == a, "the freed interleaved buffer is not reused");
	CHECK(policy_at(c).mode == MPOL_INTERLEAVE, "reused: policy %d", policy_at(c).mode);
	void *d = memory_shared(ops, 2 * bytes);
	CHECK(d != NULL && d != a, "a buffer of another size reused");
	memory_free(ops, b, bytes);
	memory_free(ops, c, bytes);
	memory_free(ops, d, 2 * bytes);
	placement_memory_destroy(pm);
}

int main(void)
{
	hwloc_topology_init(&topo);
	hwloc_topology_load(topo);
	check_reuse();
	check_all_models(NULL);
	placement local = {PLACEMENT_LOCAL, -1}, inter = {PLACEMENT_INTERLEAVE, -1};
	check_all_models(&local);
	check_all_models(&inter);
	hwloc_obj_t node = NULL;
	while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node))) {
		placement on = {PLACEMENT_NODE, (int)node->os_index};
		check_all_models(&on);
	}
	hwloc_topology_destroy(topo);
	CHECK_DONE();
}
