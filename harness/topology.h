#ifndef SGDSYNC_HARNESS_TOPOLOGY_H
#define SGDSYNC_HARNESS_TOPOLOGY_H

/* The machine (hwloc), where threads run (pinning) and where shared memory lives (placement).
 *
 * The topology is loaded once per process, on first use of any function below, and is then
 * read-only: every function is safe to call from any thread. If hwloc cannot load it at all the
 * process stops with a message on stderr (nothing can be placed without it).
 *
 * PU numbers are the operating system's CPU numbers: what sched_getcpu() returns, what taskset
 * and likwid-perfctr -c take. NUMA node numbers are the OS node numbers of
 * /sys/devices/system/node/nodeN, as numactl takes them. */

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "primitives/memory.h"

#define TOPOLOGY_MAX_CACHES 16

typedef struct {
	int level;           /* 1, 2, 3, ... */
	const char *type;    /* "data", "instruction" or "unified" */
	uint64_t size_bytes; /* of one cache */
	int count;           /* caches of this level, type and size in the machine */
} topology_cache;

typedef struct {
	int packages;
	int numa_nodes;
	int cores;
	int pus; /* hardware threads we may run on */
	int ncaches;
	topology_cache caches[TOPOLOGY_MAX_CACHES]; /* by level, then data/instruction/unified */
} topology_info;

/* The machine, as formats §1 "topology" describes it. */
const topology_info *topology_get(void);
/* {"packages":, "numa_nodes":, "cores":, "pus":, "caches": [{"level":, "type":, "size_bytes":,
 * "count":}, ...]}; the caller owns the result. */
cJSON *topology_json(void);

/* ---- Pinning: which PU the worker with thread index i runs on ----
 *   compact  fill the cores of one package (and NUMA node) before the next; the second PU of a
 *            core (hyperthread sibling) only after every core has one thread
 *   scatter  round-robin over packages and NUMA nodes first, then over the cores inside each;
 *            siblings again only after every core has one thread
 *   none     the scheduler decides
 * The order does not depend on the number of threads, so thread i lands on the same PU in every
 * run. The orders hold only the PUs of the process's CPU set (a Slurm task's CPUs, taskset's
 * list), read when the topology is loaded. Indices at or above their count wrap around (thread
 * n+k shares thread k's PU): oversubscription is a real configuration of the study. */
typedef enum {
	PIN_NONE,
	PIN_COMPACT,
	PIN_SCATTER,
} pin_policy;

/* "compact", "scatter" or "none"; on error returns -1 and writes a message listing the valid
 * values into err. */
int pin_parse(const char *spec, pin_policy *out, char *err, size_t errlen);
const char *pin_name(pin_policy policy);
/* The PU that thread index i (>= 0) gets under the policy; -1 for none. */
int pin_pu_for(pin_policy policy, int i);
/* Binds the calling thread to pin_pu_for(policy, i) and returns that PU; -1 when the thread is
 * left unbound: policy none, or the OS refused the binding (then one line on stderr says why). */
int pin_self(pin_policy policy, int i);

/* The NUMA node of PU pu as a dense index, 0 .. numa_nodes - 1 (hwloc's logical order): the
 * cluster of a cohort lock. 0 for pu < 0 (an unpinned thread) or a PU in no node. */
int topology_node_index_of_pu(int pu);
/* A cohort lock's clusters for `workers` pinned by policy: cluster_of[i] := the node index of
 * worker i's PU. Returns the clusters: the NUMA nodes, or 1 when unpinned (every worker in 0). */
uint32_t pin_clusters(pin_policy policy, int workers, uint32_t *cluster_of);

/* ---- Placement of shared memory (a parameter vector every worker reads) ----
 *   local       no binding: pages land by first touch, i.e. on the NUMA node of the thread that
 *               initialises the buffer (the study's NUMA case: the model lives on one node)
 *   interleave  pages spread round-robin over all NUMA nodes (the study's UMA case)
 *   node:N      every page on NUMA node N */
typedef enum {
	PLACEMENT_LOCAL,
	PLACEMENT_INTERLEAVE,
	PLACEMENT_NODE,
} placement_kind;

typedef struct {
	placement_kind kind;
	int node; /* OS node number, PLACEMENT_NODE only */
} placement;

/* "local", "interleave" or "node:N" with N a NUMA node of this machine; on error returns -1 and
 * writes a message naming the bad part (and the valid values or nodes) into err. */
int placement_parse(const char *spec, placement *out, char *err, size_t errlen);
/* Writes the spec ("local", "interleave", "node:3"); returns what snprintf returns. */
int placement_format(const placement *p, char *buf, size_t len);
/* What coincides on this machine, e.g. "one NUMA node: local, interleave and node:0 coincide;
 * one package and one PU per core: compact and scatter coincide"; "" when nothing does. */
const char *placement_note(void);

/* Page-aligned memory placed as p says; pages are not touched here (for local that is left to
 * the thread that initialises them). Returns NULL and sets err when the OS refuses the binding
 * (never silently falls back to unbound memory). Free with placement_free and the same size. */
void *placement_alloc(const placement *p, size_t bytes, char *err, size_t errlen);
void placement_free(void *buf, size_t bytes);
/* The NUMA nodes holding the (touched) pages of [buf, buf+bytes): writes up to max OS node
 * numbers in increasing order into nodes and returns how many there are; -1 if the OS cannot
 * tell. For tests and records. */
int placement_nodes_of(const void *buf, size_t bytes, int *nodes, int max);
/* The binding the OS holds for [buf, buf+bytes), touched or not: *policy is "first-touch" (no
 * binding), "bind", "interleave" or "other", and its nodes are written as placement_nodes_of
 * writes them. -1 if the OS cannot tell or the range mixes bindings. */
int placement_binding_of(const void *buf, size_t bytes, const char **policy, int *nodes, int max);

/* ---- Placement of a model's memory: a memory_ops (primitives/memory.h) placing
 *   shared vectors (θ, sync's sum, every Leashed chain vector) as `shared` says:
 *     local       bound to the NUMA node the allocating thread runs on when it allocates: for θ
 *                 the thread that creates the model (sgdsync-train pins it where worker 0 runs),
 *                 for a chain vector the worker that first publishes into it (a recycled vector
 *                 keeps its node when another worker's publish reuses it)
 *     interleave  pages round-robin over all NUMA nodes
 *     node:N      bound to node N
 *   private buffers (a worker's copy of θ, its gradient) bound to the node of the worker's PU
 *   under `pinning`; with pinning none, to the node its thread runs on when it allocates.
 * Unlike placement_alloc's local, every mode binds: the policy is set on the pages when they are
 * allocated (hwloc_alloc_membind, STRICT), so whichever thread touches a page first, it lands
 * where the policy says, and get_mempolicy reads the policy back. A refused binding fails the
 * allocation (the primitive reports out of memory); the first failure's reason is kept.
 * Buffers are cache-line aligned (a line ahead of each says where it is bound). A freed buffer
 * is kept and handed out again for the same size and binding, as malloc reuses its heap (fresh
 * pages cost a fault each); placement_memory_destroy returns them to the OS, once every buffer
 * is freed. */
typedef struct placement_memory placement_memory;

/* NULL when out of memory. */
placement_memory *placement_memory_create(const placement *shared, pin_policy pinning);
void placement_memory_destroy(placement_memory *pm);
/* For model_config.memory, chain_create; valid until placement_memory_destroy. */
const memory_ops *placement_memory_ops(const placement_memory *pm);
/* Why the first refused allocation was refused, "" if none was; read it once the threads that
 * allocate are joined. */
const char *placement_memory_error(const placement_memory *pm);

#endif
