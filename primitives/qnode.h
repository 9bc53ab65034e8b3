#ifndef SGDSYNC_PRIMITIVES_QNODE_H
#define SGDSYNC_PRIMITIVES_QNODE_H

/* The per-thread queue nodes of the queue locks (mcs.h, clh.h) and the ticket pair that the
 * ticket and cohort locks share: types only, so that lock.h can hold them in lock_t and
 * lock_ctx without including the locks themselves. */

#include <stdatomic.h>
#include <stdint.h>

/* MCS: a waiter spins on its own `locked`; its predecessor clears it and links through `next`. */
typedef struct mcs_node {
	_Alignas(16) _Atomic(struct mcs_node *) next; /* 16: malloc's alignment, so the node never straddles lines */
	_Atomic uint32_t locked;
} mcs_node;

/* CLH: a waiter spins on its predecessor's `wait`. Nodes migrate: a releasing thread keeps its
 * predecessor's node, so they live on the heap (clh.h), each on its own cache lines. */
typedef struct clh_node {
	_Atomic uint32_t wait;
} clh_node;

/* A ticket lock: take `next`, wait until `serving` shows it. */
typedef struct {
	_Atomic uint32_t next;
	_Atomic uint32_t serving;
} ticket_pair;

#endif
