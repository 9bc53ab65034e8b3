#include "primitives/hogwild.h"


hogwild_float *hogwild_create(size_t n, const float *init, const memory_ops *mem)
{
	hogwild_float *x = memory_shared(mem, n * sizeof(hogwild_float));
	if (!x)
		return NULL;
	for (size_t i = 0; i < n; i++)
		atomic_init(&x[i], init[i]);
	return x;
}

void hogwild_destroy(hogwild_float *x, size_t n, const memory_ops *mem)
{
	memory_free(mem, x, n * sizeof(hogwild_float));
}

void hogwild_read(const hogwild_float *x, float *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = atomic_load_explicit(&x[i], memory_order_relaxed);
}

void hogwild_axpy(hogwild_float *x, float a, const float *g, size_t n)
{
	/* Relaxed load and store, not an atomic add: HOGWILD! takes no lock and no RMW. */
	for (size_t i = 0; i < n; i++) {
		float v = atomic_load_explicit(&x[i], memory_order_relaxed);
		atomic_store_explicit(&x[i], v + a * g[i], memory_order_relaxed);
	}
}
