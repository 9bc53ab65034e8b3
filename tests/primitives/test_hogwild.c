/* HOGWILD! read and apply, in every implementation this CPU supports.
 * Single-threaded: bit for bit the scalar x + a * g (a multiply, then an add), for every length
 * 0..100 at every misalignment of a 64-byte line, floats outside [0, n) untouched, and what an
 * apply keeps equal to what it stored.
 * Concurrent: no float is torn. Every element stays in S = {B + k D}, D = 0x1001 ulps of B, so
 * that the bits of an element of S are bits(B) + 0x1001 k: two 12-bit fields that both count k.
 * Writers add +D or -D; a float assembled from pieces of two different stores has fields that
 * disagree (or a k out of range) and is not in S. */

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "primitives/hogwild.h"
#include "threads.h"

#define MAXN 100
#define PAD 16 /* floats before and after, a 64-byte line each */
#define CANARY -7.25f

static uint32_t bits_of(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static float float_of(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* A float that is not a round number, from i. */
static float sample(uint32_t i)
{
	return (float)((i * 2654435761u) >> 8) / 65536.0f - 128.0f;
}

static void exact_one(hogwild_impl impl, hogwild_float *base, size_t off, size_t n, float a)
{
	float g[MAXN + 1], out[MAXN + 2], kept[MAXN + 1], want[MAXN + 1];
	hogwild_float *x = base + PAD + off;
	for (size_t i = 0; i < PAD + MAXN + 2 * PAD; i++)
		atomic_store_explicit(&base[i], CANARY, memory_order_relaxed);
	for (size_t i = 0; i < n; i++) {
		float v = sample((uint32_t)(i + 7 * off + 1));
		atomic_store_explicit(&x[i], v, memory_order_relaxed);
		g[i] = sample((uint32_t)(1000 + i * 3 + n));
		float prod = a * g[i]; /* two statements: no contraction into an FMA */
		want[i] = v + prod;
	}
	/* Every other call keeps what it stores: both paths of the apply are checked. */
	float *keep = off % 2 ? kept : NULL;
	kept[n] = CANARY;
	hogwild_axpy_with(impl, x, a, g, keep, n);
	out[n] = CANARY;
	hogwild_read_with(impl, x, out, n);
	CHECK(out[n] == CANARY, "%s read n=%zu wrote past its end", hogwild_impl_name(impl), n);
	CHECK(kept[n] == CANARY, "%s apply n=%zu kept past its end", hogwild_impl_name(impl), n);
	for (size_t i = 0; i < n; i++) {
		CHECK(bits_of(out[i]) == bits_of(want[i]), "%s n=%zu off=%zu [%zu]: %a, scalar gives %a",
		      hogwild_impl_name(impl), n, off, i, out[i], want[i]);
		CHECK(!keep || bits_of(kept[i]) == bits_of(want[i]),
		      "%s n=%zu off=%zu [%zu]: kept %a, stored %a", hogwild_impl_name(impl), n, off, i,
		      kept[i], want[i]);
	}
	for (size_t i = 0; i < PAD + off; i++)
		CHECK(atomic_load(&base[i]) == CANARY, "%s n=%zu off=%zu wrote before x",
		      hogwild_impl_name(impl), n, off);
	for (size_t i = PAD + off + n; i < PAD + MAXN + 2 * PAD; i++)
		CHECK(atomic_load(&base[i]) == CANARY, "%s n=%zu off=%zu wrote at x[%zu]",
		      hogwild_impl_name(impl), n, off, i - PAD - off);
}

static void exact(hogwild_impl impl)
{
	float init[PAD + MAXN + 2 * PAD] = {0};
	hogwild_float *base = hogwild_create(PAD + MAXN + 2 * PAD, init, NULL);
	CHECK(((uintptr_t)base % 64) == 0, "hogwild_create is not 64-byte aligned");
	for (size_t n = 0; n <= MAXN; n++)
		for (size_t off = 0; off < PAD; off++)
			exact_one(impl, base, off, n, n % 2 ? -0.3f : 1.7f);
	hogwild_destroy(base, PAD + MAXN + 2 * PAD, NULL);
}

/* ---- no torn float ---- */

#define TN (16384 + 3)  /* not a multiple of any vector: head and tail run too */
#define WRITERS 32      /* half add D, half subtract it */
#define READERS 32
#define ROUNDS 30       /* |k| <= WRITERS / 2 * ROUNDS = 480 < 2^11: no carry out of a field */

static const float B = 1.5f; /* mantissa 0x400000: both fields start mid-range */
static float D;              /* 0x1001 ulps of B */
static float tear_g[TN];     /* D everywhere */

typedef struct {
	hogwild_impl impl;
	hogwild_float *x;
	_Atomic int *writers_left;
	float sign;
	uint64_t reads, bad;
} tear_arg;

static int in_set(float v)
{
	int64_t m = (int64_t)bits_of(v) - (int64_t)bits_of(B);
	int64_t k = m >= 0 ? (m + 0x800) / 0x1001 : -((-m + 0x800) / 0x1001);
	return m == k * 0x1001 && k <= WRITERS / 2 * ROUNDS && -k <= WRITERS / 2 * ROUNDS;
}

static void *tear_writer(void *p)
{
	tear_arg *t = p;
	float *kept = malloc(TN * sizeof(float));
	for (int r = 0; r < ROUNDS; r++)
		hogwild_axpy_with(t->impl, t->x, t->sign, tear_g, kept, TN);
	for (size_t i = 0; i < TN; i++)
		t->bad += !in_set(kept[i]);
	free(kept);
	/* Release: pairs with the readers' acquire, so they read after our last store at least once. */
	atomic_fetch_sub_explicit(t->writers_left, 1, memory_order_release);
	return NULL;
}

static void *tear_reader(void *p)
{
	tear_arg *t = p;
	float *out = malloc(TN * sizeof(float));
	int last;
	do {
		last = atomic_load_explicit(t->writers_left, memory_order_acquire) == 0;
		hogwild_read_with(t->impl, t->x, out, TN);
		for (size_t i = 0; i < TN; i++)
			t->bad += !in_set(out[i]);
		t->reads++;
	} while (!last);
	free(out);
	return NULL;
}

static void *tear_thread(void *p)
{
	tear_arg *t = p;
	return t->sign != 0 ? tear_writer(p) : tear_reader(p);
}

static void no_tear(hogwild_impl impl)
{
	static float init[TN + 1];
	for (size_t i = 0; i <= TN; i++)
		init[i] = B;
	for (size_t i = 0; i < TN; i++)
		tear_g[i] = D;
	hogwild_float *base = hogwild_create(TN + 1, init, NULL);
	_Atomic int writers_left = WRITERS;
	tear_arg args[WRITERS + READERS];
	for (int i = 0; i < WRITERS + READERS; i++)
		args[i] = (tear_arg){.impl = impl, .x = base + 1, .writers_left = &writers_left,
				     .sign = i >= WRITERS ? 0.0f : (i % 2 ? -1.0f : 1.0f)};
	run_threads(WRITERS + READERS, tear_thread, args, sizeof args[0]);
	uint64_t reads = 0, bad = 0;
	for (int i = 0; i < WRITERS + READERS; i++) {
		reads += args[i].reads;
		bad += args[i].bad;
	}
	float *final = malloc(TN * sizeof(float));
	hogwild_read_with(impl, base + 1, final, TN);
	for (size_t i = 0; i < TN; i++)
		bad += !in_set(final[i]);
	CHECK(reads >= READERS, "%s: %llu reads", hogwild_impl_name(impl), (unsigned long long)reads);
	CHECK(bad == 0, "%s: %llu floats read or kept outside the set writers store (torn)",
	      hogwild_impl_name(impl), (unsigned long long)bad);
	free(final);
	hogwild_destroy(base, TN + 1, NULL);
}

static void set_check(void)
{
	CHECK(in_set(B) && in_set(B + D) && in_set(B - D) && in_set(B + D + D), "B + k D in S");
	/* Pieces of B + D and B - D: low half of one, high half of the other. */
	uint32_t lo = bits_of(B + D) & 0xffffu, hi = bits_of(B - D) & 0xffff0000u;
	CHECK(!in_set(float_of(hi | lo)), "a torn float of B + D and B - D is in S");
	CHECK(!in_set(float_of((bits_of(B + D) & ~0xffu) | (bits_of(B + D + D) & 0xffu))),
	      "a torn float of B + D and B + 2D is in S");
}

int main(void)
{
	int vector = 0;
	D = float_of(bits_of(B) + 0x1001) - B;
	set_check();
	CHECK(hogwild_impl_supported(HOGWILD_SCALAR), "scalar is always supported");
	CHECK(hogwild_impl_supported(hogwild_impl_best()), "the best implementation is supported");
	for (int k = 0; k < HOGWILD_IMPL_COUNT; k++) {
		if (!hogwild_impl_supported((hogwild_impl)k))
			continue;
		vector += k != HOGWILD_SCALAR;
		exact((hogwild_impl)k);
		no_tear((hogwild_impl)k);
		printf("%s: exact and untorn\n", hogwild_impl_name((hogwild_impl)k));
	}
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
	CHECK(vector >= 1, "no vector implementation on x86-64");
#endif
	CHECK_DONE();
}
