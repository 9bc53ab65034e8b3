#include "primitives/hogwild.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "primitives/cacheline.h"

#if defined(__SANITIZE_THREAD__)
#define HOGWILD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HOGWILD_TSAN 1
#endif
#endif

/* TSan cannot see inside inline assembly: its builds take the scalar path, which it checks. */
#if defined(__x86_64__) && !defined(HOGWILD_TSAN)
#define HOGWILD_VECTOR 1
#endif

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

static void scalar_read(const hogwild_float *x, float *out, size_t n)
{
	/* Relaxed: HOGWILD! orders nothing; the atomic load only keeps each element whole. */
	for (size_t i = 0; i < n; i++)
		out[i] = atomic_load_explicit(&x[i], memory_order_relaxed);
}

static void scalar_axpy(hogwild_float *x, float a, const float *g, float *out, size_t n)
{
	/* Relaxed load and store, not an atomic add: HOGWILD! takes no lock and no RMW. */
	for (size_t i = 0; i < n; i++) {
		float v = atomic_load_explicit(&x[i], memory_order_relaxed) + a * g[i];
		atomic_store_explicit(&x[i], v, memory_order_relaxed);
		if (out)
			out[i] = v;
	}
}

#ifdef HOGWILD_VECTOR
/* Elements of x before the first address aligned to `bytes`, at most n. */
static size_t head_of(const hogwild_float *x, size_t n, size_t bytes)
{
	size_t off = (uintptr_t)x % bytes;
	size_t head = off ? (bytes - off) / sizeof(float) : 0;
	return head < n ? head : n;
}

/* Vectors per iteration of the main loop: the asm moves are volatile, so the compiler does not
 * unroll them itself, and one vector per iteration left the loop's own overhead in the way. */
#define UNROLL 4

/* One kernel pair per vector width W (bytes). The shared vector x is touched only by W##_load
 * and W##_store: an aligned move in inline assembly (hogwild.h says why); the private g and out
 * by ordinary C. may_alias: the asm operands view floats as vectors. Scalar head and tail. */
#define HOGWILD_KERNELS(w, target_name, mov, W)                                                   \
	typedef float w##_vec __attribute__((vector_size(W), may_alias));                         \
                                                                                                  \
	__attribute__((target(target_name))) static inline w##_vec w##_load(const hogwild_float *p) \
	{                                                                                         \
		w##_vec v;                                                                        \
		__asm__ __volatile__(mov " %1, %0" : "=x"(v) : "m"(*(const w##_vec *)p));       \
		return v;                                                                         \
	}                                                                                         \
                                                                                                  \
	__attribute__((target(target_name))) static inline void w##_store(hogwild_float *p,      \
									     w##_vec v)            \
	{                                                                                         \
		__asm__ __volatile__(mov " %1, %0" : "=m"(*(w##_vec *)p) : "x"(v));              \
	}                                                                                         \
                                                                                                  \
	__attribute__((target(target_name))) static void w##_read(const hogwild_float *x,        \
								   float *out, size_t n)          \
	{                                                                                         \
		size_t i = head_of(x, n, W);                                                      \
		scalar_read(x, out, i);                                                           \
		for (; n - i >= UNROLL * W / sizeof(float); i += UNROLL * W / sizeof(float)) {    \
			for (int u = 0; u < UNROLL; u++) {                                        \
				w##_vec v = w##_load(x + i + u * W / sizeof(float));              \
				memcpy(out + i + u * W / sizeof(float), &v, W);                   \
			}                                                                         \
		}                                                                                 \
		for (; n - i >= W / sizeof(float); i += W / sizeof(float)) {                      \
			w##_vec v = w##_load(x + i);                                              \
			memcpy(out + i, &v, W);                                                   \
		}                                                                                 \
		scalar_read(x + i, out + i, n - i);                                               \
	}                                                                                         \
                                                                                                  \
	__attribute__((target(target_name))) static inline void w##_axpy_one(                     \
		hogwild_float *x, float a, const float *g, float *out, size_t k)                  \
	{                                                                                         \
		w##_vec gv;                                                                       \
		memcpy(&gv, g + k, W);                                                            \
		w##_vec v = w##_load(x + k) + a * gv;                                             \
		w##_store(x + k, v);                                                              \
		if (out)                                                                          \
			memcpy(out + k, &v, W);                                                   \
	}                                                                                         \
                                                                                                  \
	__attribute__((target(target_name))) static void w##_axpy(hogwild_float *x, float a,     \
								   const float *g, float *out,    \
								   size_t n)                      \
	{                                                                                         \
		size_t i = head_of(x, n, W);                                                      \
		scalar_axpy(x, a, g, out, i);                                                     \
		for (; n - i >= UNROLL * W / sizeof(float); i += UNROLL * W / sizeof(float))      \
			for (int u = 0; u < UNROLL; u++)                                          \
				w##_axpy_one(x, a, g, out, i + u * W / sizeof(float));            \
		for (; n - i >= W / sizeof(float); i += W / sizeof(float))                        \
			w##_axpy_one(x, a, g, out, i);                                            \
		scalar_axpy(x + i, a, g + i, out ? out + i : NULL, n - i);                        \
	}

HOGWILD_KERNELS(sse2, "sse2", "movaps", 16)
HOGWILD_KERNELS(avx, "avx", "vmovaps", 32)
HOGWILD_KERNELS(avx512, "avx512f", "vmovaps", 64)

static int cpu_sse2(void)
{
	return 1; /* the x86-64 baseline */
}

static int cpu_avx(void)
{
	__builtin_cpu_init(); /* idempotent; needed if called before libgcc's constructor */
	return __builtin_cpu_supports("avx");
}

static int cpu_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f");
}
#define VECTOR_IMPL(w) w##_read, w##_axpy, cpu_##w
#else
#define VECTOR_IMPL(w) NULL, NULL, NULL
#endif

static int cpu_any(void)
{
	return 1;
}

typedef struct {
	const char *name;
	void (*read)(const hogwild_float *x, float *out, size_t n);
	void (*axpy)(hogwild_float *x, float a, const float *g, float *out, size_t n);
	int (*cpu_has)(void); /* NULL: not built into this binary */
} impl_ops;

static const impl_ops impls[HOGWILD_IMPL_COUNT] = {
	[HOGWILD_SCALAR] = {"scalar", scalar_read, scalar_axpy, cpu_any},
	[HOGWILD_SSE2] = {"sse2", VECTOR_IMPL(sse2)},
	[HOGWILD_AVX] = {"avx", VECTOR_IMPL(avx)},
	[HOGWILD_AVX512] = {"avx512", VECTOR_IMPL(avx512)},
};

const char *hogwild_impl_name(hogwild_impl impl)
{
	return (unsigned)impl < HOGWILD_IMPL_COUNT ? impls[impl].name : "unknown";
}

int hogwild_impl_supported(hogwild_impl impl)
{
	return (unsigned)impl < HOGWILD_IMPL_COUNT && impls[impl].cpu_has && impls[impl].cpu_has();
}

hogwild_impl hogwild_impl_best(void)
{
	static _Atomic int best = -1;
	/* Relaxed: every thread computes the same value; the cache publishes nothing else. */
	int b = atomic_load_explicit(&best, memory_order_relaxed);
	if (b < 0) {
		b = HOGWILD_SCALAR;
		for (int k = HOGWILD_SCALAR + 1; k < HOGWILD_IMPL_COUNT; k++)
			if (hogwild_impl_supported((hogwild_impl)k))
				b = k;
		atomic_store_explicit(&best, b, memory_order_relaxed);
	}
	return (hogwild_impl)b;
}

static const impl_ops *impl_of(hogwild_impl impl)
{
	if ((unsigned)impl >= HOGWILD_IMPL_COUNT || !impls[impl].read)
		abort(); /* a caller's bug: hogwild_impl_supported says what may be asked */
	return &impls[impl];
}

void hogwild_read_with(hogwild_impl impl, const hogwild_float *x, float *out, size_t n)
{
	impl_of(impl)->read(x, out, n);
}

void hogwild_axpy_with(hogwild_impl impl, hogwild_float *x, float a, const float *g, float *out,
		       size_t n)
{
	impl_of(impl)->axpy(x, a, g, out, n);
}

void hogwild_read(const hogwild_float *x, float *out, size_t n)
{
	impls[hogwild_impl_best()].read(x, out, n);
}

void hogwild_axpy(hogwild_float *x, float a, const float *g, float *out, size_t n)
{
	impls[hogwild_impl_best()].axpy(x, a, g, out, n);
}
