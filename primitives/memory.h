#ifndef SGDSYNC_PRIMITIVES_MEMORY_H
#define SGDSYNC_PRIMITIVES_MEMORY_H

/* Where a model's vectors come from, so that the harness can place them on NUMA nodes (hwloc)
 * while primitives know nothing of it. Two kinds of memory:
 *   shared   read or written by every worker: θ, sync's gradient sum, each Leashed chain vector.
 *            Allocated on the thread that creates it: model_create's caller for θ, the
 *            publishing worker for a chain vector.
 *   private  used by one worker alone (its copy of θ); allocated on that worker's thread, with
 *            its id in [0, workers).
 * Sizes are rounded up to whole cache lines (at least one) before they reach the ops, so every
 * buffer is line-aligned and free gets exactly the size alloc got. A NULL memory_ops pointer
 * means memory_default: aligned_alloc, pages placed by the OS (first touch). The ops are called
 * from any worker thread at any time, so they must be thread-safe. */

#include <stddef.h>

typedef struct {
	void *(*alloc_shared)(void *arg, size_t bytes);
	void *(*alloc_private)(void *arg, size_t bytes, int worker);
	void (*free)(void *arg, void *p, size_t bytes);
	void *arg;
} memory_ops;

extern const memory_ops memory_default;

/* NULL when out of memory (or the placement was refused). */
void *memory_shared(const memory_ops *m, size_t bytes);
void *memory_private(const memory_ops *m, size_t bytes, int worker);
/* p from memory_shared or memory_private of the same ops, with the same bytes; NULL is fine. */
void memory_free(const memory_ops *m, void *p, size_t bytes);
/* What the ops are asked for when the caller asks for bytes. */
size_t memory_rounded(size_t bytes);

#endif
