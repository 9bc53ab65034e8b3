#ifndef SGDSYNC_WORKLOADS_RNG_H
#define SGDSYNC_WORKLOADS_RNG_H

/* SplitMix64: a small, seedable, reproducible generator for initial parameters and synthetic
 * data (one state per stream; not for cryptography). */

#include <math.h>
#include <stdint.h>

static inline uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double rng_uniform(uint64_t *state)
{
	return (double)(rng_next(state) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n). */
static inline uint32_t rng_below(uint64_t *state, uint32_t n)
{
	return (uint32_t)(((rng_next(state) >> 32) * n) >> 32);
}

/* Standard normal (Box-Muller; one draw per call). */
static inline double rng_normal(uint64_t *state)
{
	double u = 1.0 - rng_uniform(state); /* (0, 1]: log is finite */

	return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * rng_uniform(state));
}

#endif
