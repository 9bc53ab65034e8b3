#include "workloads/cpufeat.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* XCR0 bits: 1 SSE, 2 AVX (YMM upper halves), 5 opmask, 6 ZMM0-15 upper halves, 7 ZMM16-31. */
#define XCR0_AVX 0x06u
#define XCR0_AVX512 0xe6u

static unsigned xcr0(void)
{
	unsigned lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return lo;
}

void cpufeat_detect(cpufeat *f)
{
	unsigned a, b, c, d, max = __get_cpuid_max(0, NULL);
	unsigned os = 0;

	memset(f, 0, sizeof *f);
	if (max < 1 || !__get_cpuid(1, &a, &b, &c, &d))
		return;
	f->sse3 = c & bit_SSE3;
	f->ssse3 = c & bit_SSSE3;
	f->sse4_1 = c & bit_SSE4_1;
	if (c & bit_OSXSAVE) /* xgetbv exists only where the OS enabled XSAVE */
		os = xcr0();
	bool ymm = (os & XCR0_AVX) == XCR0_AVX, zmm = (os & XCR0_AVX512) == XCR0_AVX512;
	f->avx = ymm && (c & bit_AVX);
	f->fma = f->avx && (c & bit_FMA);
	if (max < 7)
		return;
	__cpuid_count(7, 0, a, b, c, d);
	unsigned subleaves = a;
	f->avx2 = f->avx && (b & bit_AVX2);
	f->avx512f = zmm && (b & bit_AVX512F);
	f->avx512bw = f->avx512f && (b & bit_AVX512BW);
	f->avx512dq = f->avx512f && (b & bit_AVX512DQ);
	f->avx512vl = f->avx512f && (b & bit_AVX512VL);
	if (subleaves < 1)
		return;
	__cpuid_count(7, 1, a, b, c, d);
	f->avx512_bf16 = f->avx512f && (a & bit_AVX512BF16);
}
#else
void cpufeat_detect(cpufeat *f)
{
	memset(f, 0, sizeof *f);
}
#endif

const char *cpufeat_fma_isa(const cpufeat *f)
{
	if (f->avx512f)
		return "avx512";
	if (f->avx2 && f->fma)
		return "avx2+fma";
#if defined(__x86_64__)
	return "sse"; /* SSE2 is part of x86-64 */
#else
	return "scalar";
#endif
}
