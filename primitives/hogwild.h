#ifndef SGDSYNC_PRIMITIVES_HOGWILD_H
#define SGDSYNC_PRIMITIVES_HOGWILD_H

/* HOGWILD!: threads read and update a shared float vector element by element with no
 * synchronization. Every element is accessed with relaxed atomic loads and stores: there is no
 * data race in the C sense (ThreadSanitizer stays clean, the compiler cannot invent or merge
 * accesses) and on x86 the code is plain loads and stores. An update racing another may
 * overwrite it element-wise: that loss is the method, not a bug. */

#include <stdatomic.h>
#include <stddef.h>

#include "primitives/memory.h"

typedef _Atomic float hogwild_float;

/* n elements from init, in shared memory of mem (NULL: memory_default). */
hogwild_float *hogwild_create(size_t n, const float *init, const memory_ops *mem);
void hogwild_destroy(hogwild_float *x, size_t n, const memory_ops *mem);
/* out[i] := x[i] */
void hogwild_read(const hogwild_float *x, float *out, size_t n);
/* x[i] := x[i] + a * g[i], each element a separate load and store */
void hogwild_axpy(hogwild_float *x, float a, const float *g, size_t n);

#endif
