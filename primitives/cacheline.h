#ifndef SGDSYNC_PRIMITIVES_CACHELINE_H
#define SGDSYNC_PRIMITIVES_CACHELINE_H

/* One cache line on the x86-64 and AArch64 servers we target. */
#define CACHELINE_SIZE 64
/* Padding between data that different threads write: two lines, because the adjacent-line
 * prefetcher of Intel servers pulls lines in pairs and makes neighbours share falsely. */
#define CACHELINE_PAD 128

/* For types (struct CACHELINE_ALIGNED {...}) and members alike; GCC and Clang. */
#define CACHELINE_ALIGNED __attribute__((aligned(CACHELINE_PAD)))

/* The pause instruction: tells the core it spins, frees the sibling hyperthread's resources. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#endif
