#ifndef SGDSYNC_PRIMITIVES_HOGWILD_H
#define SGDSYNC_PRIMITIVES_HOGWILD_H

/* HOGWILD!: threads read and update a shared float vector element by element with no
 * synchronization. An update racing another may overwrite it element-wise: that loss is the
 * method, not a bug. What is promised: every element is read and written whole (a float is
 * never torn), each element of an apply is one load and one store, and single-threaded the
 * result is exactly x[i] + a * g[i] (a multiply, then an add: no fused multiply-add).
 *
 * Two implementations keep that promise.
 *
 * Scalar (every platform, and every ThreadSanitizer build): relaxed atomic loads and stores of
 * each element. There is no data race in the C sense, TSan checks the logic, the compiler cannot
 * invent or merge accesses; but it will not vectorize atomics either, so this runs at one float
 * per load.
 *
 * Vector (x86-64 only): C17 has no vector atomics, and a plain vector access to θ racing another
 * thread's would be a data race, undefined behaviour the compiler may exploit (re-load, split,
 * or invent accesses). So the accesses to θ are inline assembly, one aligned move instruction
 * per vector (movaps xmm, vmovaps ymm, vmovaps zmm) whose memory operand names exactly the bytes
 * it reads or writes; the compiler sees an opaque instruction it must execute once, in order,
 * and no C-level access to θ exists that could race. The head of θ up to the vector alignment
 * and the tail below one vector take the scalar path. The private operands (g, out) are
 * ordinary C accesses.
 *
 * What the hardware guarantees: the Intel SDM (vol. 3A, "Guaranteed Atomic Operations") and the
 * AMD APM (vol. 2, "Access Atomicity") make naturally aligned loads and stores of up to 8 bytes
 * atomic, and their recent editions extend this to aligned 16-byte (v)movaps on processors that
 * have AVX. Wider accesses "may be implemented using multiple memory accesses", at a granularity
 * neither manual specifies. Our accesses are aligned to their own width (16, 32 or 64 bytes),
 * so they never cross a cache line, and every element in them is a naturally aligned 4-byte
 * float. That the pieces of a 32- or 64-byte access are never smaller than one aligned 4-byte
 * element is what every implementation does (they move 16, 32 or 64 bytes at a time) and what
 * every vectorized HOGWILD! relies on, but it is practice, not a documented guarantee; on an SSE2
 * processor without AVX the same holds for 16 bytes. test_hogwild checks it (no torn float,
 * 64 threads). Lanes of one vector are not ordered relative to one another, which relaxed
 * element-wise accesses never promised. Which width runs is chosen at run time from the CPU
 * (__builtin_cpu_supports); nothing in the project is compiled for more than the x86-64
 * baseline except these kernels, through target attributes. */

#include <stdatomic.h>
#include <stddef.h>

#include "primitives/memory.h"

typedef _Atomic float hogwild_float;

typedef enum {
	HOGWILD_SCALAR, /* relaxed atomic loads and stores */
	HOGWILD_SSE2,   /* 16-byte movaps */
	HOGWILD_AVX,    /* 32-byte vmovaps */
	HOGWILD_AVX512, /* 64-byte vmovaps (AVX-512F) */
	HOGWILD_IMPL_COUNT
} hogwild_impl;

/* "scalar", "sse2", "avx", "avx512". */
const char *hogwild_impl_name(hogwild_impl impl);
/* Built into this binary and supported by this CPU. Only scalar under ThreadSanitizer. */
int hogwild_impl_supported(hogwild_impl impl);
/* The widest supported: what hogwild_read and hogwild_axpy use. */
hogwild_impl hogwild_impl_best(void);

/* n elements from init, in shared memory of mem (NULL: memory_default). */
hogwild_float *hogwild_create(size_t n, const float *init, const memory_ops *mem);
void hogwild_destroy(hogwild_float *x, size_t n, const memory_ops *mem);
/* out[i] := x[i] */
void hogwild_read(const hogwild_float *x, float *out, size_t n);
/* x[i] := x[i] + a * g[i], each element a separate load and store; out, unless NULL, gets the
 * value stored in each element (what hogwild_read right after would give, single-threaded). */
void hogwild_axpy(hogwild_float *x, float a, const float *g, float *out, size_t n);
/* The same with a chosen implementation, which must be supported (tests, benchmarks). */
void hogwild_read_with(hogwild_impl impl, const hogwild_float *x, float *out, size_t n);
void hogwild_axpy_with(hogwild_impl impl, hogwild_float *x, float a, const float *g, float *out,
		       size_t n);

#endif
