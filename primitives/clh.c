#include "primitives/clh.h"

#include <stdio.h>
#include <stdlib.h>

clh_node *clh_node_new(void)
{
	clh_node *n = aligned_alloc(CACHELINE_PAD, CACHELINE_PAD);

	if (n)
		atomic_init(&n->wait, 0);
	return n;
}

clh_node *clh_ctx_node(lock_ctx *ctx)
{
	ctx->clh = clh_node_new();
	if (!ctx->clh) {
		fputs("sgdsync: out of memory for a CLH queue node\n", stderr);
		abort();
	}
	return ctx->clh;
}

void clh_acquire_slow(lock_ctx *ctx, clh_node *pred)
{
	ctx->stats.contended++;
	do
		spinlock_wait(ctx);
	/* Acquire: the handover enters the critical section. */
	while (atomic_load_explicit(&pred->wait, memory_order_acquire));
	backoff_reset(&ctx->backoff);
	ctx->stats.acquisitions++;
}
