/* sgdsync-bench-atomics: what the atomic operations under every primitive cost, by thread
 * count, where the threads' words live and the memory order.
 *
 * atomics/<op>/order:<order>/slot:<slot>/threads:N/real_time
 *   op     load, store, xchg, faa, cas_ok (CAS retried until it succeeds), cas_fail (a CAS whose
 *          expected value never matches)
 *   order  load: relaxed, acquire, seq_cst; store: relaxed, release, seq_cst;
 *          read-modify-write: relaxed, acq_rel, seq_cst
 *   slot   shared (one word all threads hit: true sharing), packed (a word per thread, 8 bytes
 *          apart, so up to 8 share a line: false sharing), padded (a word per thread, each on
 *          its own CACHELINE_PAD bytes: no sharing) */

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/bench.h"
#include "primitives/cacheline.h"

typedef enum { SLOT_SHARED, SLOT_PACKED, SLOT_PADDED } slot_kind;
static const char *const slot_names[] = {"shared", "packed", "padded"};

typedef struct {
	_Atomic uint64_t *words;
	size_t bytes;
} slots;

typedef struct {
	slot_kind slot;
} atomics_case;

static void *slots_setup(bench_state *st)
{
	slots *s = malloc(sizeof *s);
	if (!s) {
		bench_skip_with_error(st, "out of memory");
		return NULL;
	}
	s->bytes = (size_t)bench_state_threads(st) * CACHELINE_PAD;
	s->words = bench_placed_alloc(st, s->bytes);
	if (!s->words) {
		free(s);
		return NULL;
	}
	memset((void *)s->words, 0, s->bytes); /* first touch: thread 0 places the pages (local) */
	return s;
}

static void slots_teardown(bench_state *st)
{
	slots *s = bench_state_shared(st);
	bench_placed_free((void *)s->words, s->bytes);
	free(s);
}

static _Atomic uint64_t *slot_of(bench_state *st)
{
	const atomics_case *c = bench_state_arg(st);
	const slots *s = bench_state_shared(st);
	size_t i = (size_t)bench_state_thread_index(st);
	switch (c->slot) {
	case SLOT_PACKED:
		return s->words + i;
	case SLOT_PADDED:
		return s->words + i * (CACHELINE_PAD / sizeof(uint64_t));
	default:
		return s->words;
	}
}

/* Throughput (items_per_second, all threads), and the time one thread spends per operation. */
static void report(bench_state *st, uint64_t sink)
{
	int64_t iters = bench_state_iterations(st);
	__asm__ __volatile__("" ::"r"(sink));
	bench_set_items_processed(st, iters);
	bench_counter(st, "latency_ns/op", bench_state_loop_seconds(st) * 1e9 / (double)iters, BENCH_AVG_THREADS);
}

#define RUN_FN(op, order) run_##op##_##order

#define DEFINE_LOAD(order, mo)                                                                  \
	static void RUN_FN(load, order)(bench_state * st)                                      \
	{                                                                                       \
		_Atomic uint64_t *p = slot_of(st);                                              \
		uint64_t sink = 0;                                                              \
		BENCH_LOOP(st)                                                                  \
			sink += atomic_load_explicit(p, mo);                                    \
		report(st, sink);                                                               \
	}

#define DEFINE_STORE(order, mo)                                                                 \
	static void RUN_FN(store, order)(bench_state * st)                                     \
	{                                                                                       \
		_Atomic uint64_t *p = slot_of(st);                                              \
		uint64_t v = 0;                                                                 \
		BENCH_LOOP(st)                                                                  \
			atomic_store_explicit(p, ++v, mo);                                      \
		report(st, v);                                                                  \
	}

#define DEFINE_XCHG(order, mo)                                                                  \
	static void RUN_FN(xchg, order)(bench_state * st)                                      \
	{                                                                                       \
		_Atomic uint64_t *p = slot_of(st);                                              \
		uint64_t v = 0;                                                                 \
		BENCH_LOOP(st)                                                                  \
			v += atomic_exchange_explicit(p, v, mo);                                \
		report(st, v);                                                                  \
	}

#define DEFINE_FAA(order, mo)                                                                   \
	static void RUN_FN(faa, order)(bench_state * st)                                       \
	{                                                                                       \
		_Atomic uint64_t *p = slot_of(st);                                              \
		uint64_t sink = 0;                                                              \
		BENCH_LOOP(st)                                                                  \
			sink += atomic_fetch_add_explicit(p, 1, mo);                            \
		report(st, sink);                                                               \
	}

/* Each iteration is one successful CAS; the lost ones before it are counted. */
#define DEFINE_CAS_OK(order, mo, fail_mo)                                                       \
	static void RUN_FN(cas_ok, order)(bench_state * st)                                    \
	{                                                                                       \
		_Atomic uint64_t *p = slot_of(st);                                              \
		uint64_t seen = atomic_load_explicit(p, memory_order_relaxed), failures = 0;    \
		BENCH_LOOP(st)                                                                  \
		{                                                                               \
			while (!atomic_compare_exchange_strong_explicit(p, &seen, seen + 1, mo, fail_mo)) \
				failures++;                                                     \
			seen++;                                                                 \
		}                                                                               \
		report(st, seen);                                                               \
		bench_counter(st, "cas_failures/op", (double)failures, BENCH_AVG_ITERATIONS);  \
	}

/* The slot only ever holds counts far below UINT64_MAX, so the CAS always fails. */
#define DEFINE_CAS_FAIL(order, mo, fail_mo)                                                     \
	static void RUN_FN(cas_fail, order)(bench_state * st)                                  \
	{                                                                                       \
		_Atomic uint64_t *p = slot_of(st);                                              \
		uint64_t sink = 0;                                                              \
		BENCH_LOOP(st)                                                                  \
		{                                                                               \
			uint64_t expected = UINT64_MAX;                                         \
			atomic_compare_exchange_strong_explicit(p, &expected, 0, mo, fail_mo);  \
			sink += expected;                                                       \
		}                                                                               \
		report(st, sink);                                                               \
	}

DEFINE_LOAD(relaxed, memory_order_relaxed)
DEFINE_LOAD(acquire, memory_order_acquire)
DEFINE_LOAD(seq_cst, memory_order_seq_cst)
DEFINE_STORE(relaxed, memory_order_relaxed)
DEFINE_STORE(release, memory_order_release)
DEFINE_STORE(seq_cst, memory_order_seq_cst)
DEFINE_XCHG(relaxed, memory_order_relaxed)
DEFINE_XCHG(acq_rel, memory_order_acq_rel)
DEFINE_XCHG(seq_cst, memory_order_seq_cst)
DEFINE_FAA(relaxed, memory_order_relaxed)
DEFINE_FAA(acq_rel, memory_order_acq_rel)
DEFINE_FAA(seq_cst, memory_order_seq_cst)
DEFINE_CAS_OK(relaxed, memory_order_relaxed, memory_order_relaxed)
DEFINE_CAS_OK(acq_rel, memory_order_acq_rel, memory_order_acquire)
DEFINE_CAS_OK(seq_cst, memory_order_seq_cst, memory_order_seq_cst)
DEFINE_CAS_FAIL(relaxed, memory_order_relaxed, memory_order_relaxed)
DEFINE_CAS_FAIL(acq_rel, memory_order_acq_rel, memory_order_acquire)
DEFINE_CAS_FAIL(seq_cst, memory_order_seq_cst, memory_order_seq_cst)

typedef struct {
	const char *op, *order;
	bench_fn fn;
	int in_default; /* the default grid keeps the orders that compile differently on x86-64 */
} atomics_op;

#define OP(op, order, in_default) {#op, #order, RUN_FN(op, order), in_default}

static const atomics_op ops[] = {
	OP(load, relaxed, 1),    OP(load, acquire, 0),    OP(load, seq_cst, 1),
	OP(store, relaxed, 1),   OP(store, release, 0),   OP(store, seq_cst, 1),
	OP(xchg, relaxed, 0),    OP(xchg, acq_rel, 0),    OP(xchg, seq_cst, 1),
	OP(faa, relaxed, 0),     OP(faa, acq_rel, 0),     OP(faa, seq_cst, 1),
	OP(cas_ok, relaxed, 0),  OP(cas_ok, acq_rel, 0),  OP(cas_ok, seq_cst, 1),
	OP(cas_fail, relaxed, 0), OP(cas_fail, acq_rel, 0), OP(cas_fail, seq_cst, 1),
};

static void register_all(const bench_options *o)
{
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		if (!o->full_grid && !ops[i].in_default)
			continue;
		for (int s = SLOT_SHARED; s <= SLOT_PADDED; s++) {
			char name[128];
			snprintf(name, sizeof name, "atomics/%s/order:%s/slot:%s", ops[i].op, ops[i].order,
				 slot_names[s]);
			bench_family *b = bench_register(name, ops[i].fn, &(atomics_case){(slot_kind)s},
							 sizeof(atomics_case));
			bench_setup(b, slots_setup, slots_teardown);
			bench_threads_default(b);
			bench_use_real_time(b);
		}
	}
}

int main(int argc, char **argv) { return bench_main(argc, argv, register_all); }
