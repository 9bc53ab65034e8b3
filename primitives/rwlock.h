#ifndef SGDSYNC_PRIMITIVES_RWLOCK_H
#define SGDSYNC_PRIMITIVES_RWLOCK_H

/* sgdsync's own read-write lock, the LOCK_RW kind of lock.h, on one 32-bit word: a writer bit,
 * a writer-waiting bit and a reader count. Readers share; a writer is alone. A writer that has
 * to wait sets the waiting bit, which stops new readers from entering, so a stream of readers
 * cannot starve it (writers are preferred: a stream of writers can delay readers). Waiters
 * back off with their lock_ctx policy. lock_acquire dispatches here; a benchmark may call
 * these directly on a lock_t initialised by lock_init(l, LOCK_RW). */

#include "primitives/lock.h"

void rwlock_acquire(lock_t *l, lock_ctx *ctx);
void rwlock_release(lock_t *l);
void rwlock_acquire_read(lock_t *l, lock_ctx *ctx);
void rwlock_release_read(lock_t *l);

#endif
