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

/* Throughput (items_per_second, all threads), the time one thread spends per operation and,
 * for cas_ok, the CAS attempts lost per success. */
static void report(bench_state *st, uint64_t sink, uint64_t failures, int counts_failures)
{
	int64_t iters = bench_state_iterations(st);
	__asm__ __volatile__("" ::"r"(sink));
	bench_set_items_processed(st, iters);
	bench_counter(st, "latency_ns/op", bench_state_loop_seconds(st) * 1e9 / (double)iters, BENCH_AVG_THREADS);
	if (counts_failures)
		bench_counter(st, "cas_failures/op", (double)failures, BENCH_AVG_ITERATIONS);
}

/* One operation on *p with success order mo (and failure order fmo for a CAS); v carries
 * values from one operation to the next so that none is dead. */
#define LOAD(mo, fmo) v += atomic_load_explicit(p, mo)
#define STORE(mo, fmo) atomic_store_explicit(p, ++v, mo)
#define XCHG(mo, fmo) v += atomic_exchange_explicit(p, v, mo)
#define FAA(mo, fmo) v += atomic_fetch_add_explicit(p, 1, mo)
/* One successful CAS; the lost ones before it are counted. v is the value last seen. */
#define CAS_OK(mo, fmo)                                                                  \
	do {                                                                             \
		while (!atomic_compare_exchange_strong_explicit(p, &v, v + 1, mo, fmo)) \
			failures++;                                                      \
		v++;                                                                     \
	} while (0)
/* The slot only ever holds counts far below UINT64_MAX, so this CAS always fails. */
#define CAS_FAIL(mo, fmo)                                                                \
	do {                                                                             \
		uint64_t expected = UINT64_MAX;                                          \
		atomic_compare_exchange_strong_explicit(p, &expected, 0, mo, fmo);       \
		v += expected;                                                           \
	} while (0)

#define RUN_FN(op, order) run_##op##_##order

#define DEFINE_RUN(op, order, OP, mo, fmo, counts_failures)                              \
	static void RUN_FN(op, order)(bench_state * st)                                 \
	{                                                                                \
		_Atomic uint64_t *p = slot_of(st);                                       \
		uint64_t v = 0, failures = 0;                                            \
		BENCH_LOOP(st)                                                           \
		OP(mo, fmo);                                                             \
		report(st, v, failures, counts_failures);                                \
	}

#define MO(order) memory_order_##order
/* Each operation in the three orders that differ for it (the second with its failure order). */
#define DEFINE_ORDERS(op, OP, o1, o2, f2, o3, counts_failures)  \
	DEFINE_RUN(op, o1, OP, MO(o1), MO(o1), counts_failures) \
	DEFINE_RUN(op, o2, OP, MO(o2), MO(f2), counts_failures) \
	DEFINE_RUN(op, o3, OP, MO(o3), MO(o3), counts_failures)

DEFINE_ORDERS(load, LOAD, relaxed, acquire, acquire, seq_cst, 0)
DEFINE_ORDERS(store, STORE, relaxed, release, relaxed, seq_cst, 0)
DEFINE_ORDERS(xchg, XCHG, relaxed, acq_rel, acquire, seq_cst, 0)
DEFINE_ORDERS(faa, FAA, relaxed, acq_rel, acquire, seq_cst, 0)
DEFINE_ORDERS(cas_ok, CAS_OK, relaxed, acq_rel, acquire, seq_cst, 1)
DEFINE_ORDERS(cas_fail, CAS_FAIL, relaxed, acq_rel, acquire, seq_cst, 0)

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
