/* pin_clusters: the cohort lock's cluster of each worker is the NUMA node of its PU. First on a
 * synthetic two-node machine (hwloc's HWLOC_SYNTHETIC, in a child that has not loaded the
 * topology yet), then on this machine. */

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "harness/topology.h"

enum { WORKERS = 12 };

/* Two nodes of two single-PU cores: compact fills node 0 first, scatter alternates. */
static void check_synthetic(void)
{
	static const uint32_t compact[4] = {0, 0, 1, 1}, scatter[4] = {0, 1, 0, 1};
	uint32_t of[WORKERS];

	CHECK(topology_get()->numa_nodes == 2 && topology_get()->pus == 4,
	      "synthetic machine: %d nodes, %d PUs", topology_get()->numa_nodes,
	      topology_get()->pus);
	CHECK(pin_clusters(PIN_COMPACT, WORKERS, of) == 2, "compact: 2 clusters");
	for (int i = 0; i < WORKERS; i++) /* workers 4.. wrap around onto the PUs of 0.. */
		CHECK(of[i] == compact[i % 4], "compact: worker %d in cluster %u", i, of[i]);
	CHECK(pin_clusters(PIN_SCATTER, WORKERS, of) == 2, "scatter: 2 clusters");
	for (int i = 0; i < WORKERS; i++)
		CHECK(of[i] == scatter[i % 4], "scatter: worker %d in cluster %u", i, of[i]);
	CHECK(pin_clusters(PIN_NONE, WORKERS, of) == 1, "unpinned: 1 cluster");
	for (int i = 0; i < WORKERS; i++)
		CHECK(of[i] == 0, "unpinned: worker %d in cluster %u", i, of[i]);
}

static void check_this_machine(void)
{
	const pin_policy policies[] = {PIN_COMPACT, PIN_SCATTER, PIN_NONE};
	uint32_t of[WORKERS];

	for (int p = 0; p < 3; p++) {
		uint32_t n = pin_clusters(policies[p], WORKERS, of);

		CHECK(n == (policies[p] == PIN_NONE ? 1u : (uint32_t)topology_get()->numa_nodes),
		      "%s: %u clusters", pin_name(policies[p]), n);
		for (int i = 0; i < WORKERS; i++)
			CHECK(of[i] < n && (int)of[i] == (policies[p] == PIN_NONE ? 0 :
				topology_node_index_of_pu(pin_pu_for(policies[p], i))),
			      "%s: worker %d in cluster %u of %u", pin_name(policies[p]), i, of[i], n);
	}
}

int main(void)
{
	pid_t pid = fork();

	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		setenv("HWLOC_SYNTHETIC", "numa:2 core:2 pu:1", 1);
		check_synthetic();
		_exit(0);
	}
	int status;

	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the synthetic two-node machine: status 0x%x", status);
	check_this_machine();
	CHECK_DONE();
}
