/* Pinning stays inside the process's CPU set: a process limited to one CPU (as a Slurm task, or
 * taskset, leaves it) has every thread index pinned there, by both orders, whatever the machine.
 * Its own process: the topology reads the CPU set once, on first use. */

#include <sched.h>

#include "check.h"
#include "harness/topology.h"

int main(void)
{
	cpu_set_t set;
	CHECK(sched_getaffinity(0, sizeof set, &set) == 0, "sched_getaffinity");
	int last = -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			last = c;
	CHECK(last >= 0, "no CPU allowed");
	/* The last allowed CPU: on a machine of several, not the first PU an order would take. */
	CPU_ZERO(&set);
	CPU_SET(last, &set);
	CHECK(sched_setaffinity(0, sizeof set, &set) == 0, "sched_setaffinity to CPU %d", last);
	for (int i = 0; i < 64; i++) {
		CHECK(pin_pu_for(PIN_COMPACT, i) == last, "compact thread %d on PU %d, allowed only %d", i,
		      pin_pu_for(PIN_COMPACT, i), last);
		CHECK(pin_pu_for(PIN_SCATTER, i) == last, "scatter thread %d on PU %d, allowed only %d", i,
		      pin_pu_for(PIN_SCATTER, i), last);
	}
	CHECK(pin_self(PIN_SCATTER, 5) == last, "pin_self did not pin to CPU %d", last);
	CHECK(sched_getcpu() == last, "running on CPU %d, pinned to %d", sched_getcpu(), last);
	CHECK_DONE();
}
