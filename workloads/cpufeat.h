#ifndef SGDSYNC_WORKLOADS_CPUFEAT_H
#define SGDSYNC_WORKLOADS_CPUFEAT_H

/* The vector features this CPU has and the OS lets a program use. A feature counts only when
 * both hold: cpuid says the CPU has it and XCR0 (xgetbv) says the OS saves its registers on a
 * context switch, so AVX needs the YMM state and AVX-512 the opmask and ZMM states. Off x86-64
 * every field is false and `isa` says so. */

#include <stdbool.h>

typedef struct {
	bool sse3, ssse3, sse4_1, avx, fma, avx2;
	bool avx512f, avx512bw, avx512dq, avx512vl, avx512_bf16;
} cpufeat;

/* The features of the calling CPU. Cheap (a few cpuid instructions), thread-safe. */
void cpufeat_detect(cpufeat *f);
/* The widest FP32 FMA the features allow: "avx512", "avx2+fma", "sse" on x86-64, or "scalar"
 * (no x86 vector features known: another architecture). */
const char *cpufeat_fma_isa(const cpufeat *f);

#endif
