/* sgdsync-bench-chain: the Leashed-SGD chain (primitives/chain.h) publishing and being read,
 * beside a plain memcpy of the same vector in the same run.
 *
 * chain/publish/alloc:<pool|malloc>/backoff:<policy>/persist:<B|inf>/size:<floats>/work_ns:<ns>/...
 *   every thread repeats: spin work_ns (a calibrated delay standing for the gradient
 *   computation, which is what spaces the publishes out in SGD), then chain_publish with an
 *   update that copies the latest vector and changes one element. One operation = one
 *   chain_publish call (published or dropped at the persistence bound).
 * chain/memcpy/size:<floats>/...
 *   every thread copies its own vector of the same size: the cost floor of a publish.
 * chain/readers/alloc:<pool|malloc>/size:<floats>/...
 *   thread 0 publishes back to back; the other threads only take and drop references to the
 *   latest vector (chain_acquire, chain_release). One operation = one publish or one read.
 * hogwild/<axpy|axpy_keep|read>/impl:<scalar|sse2|avx|avx512>/size:<floats>/...
 *   the HOGWILD! apply (hogwild_axpy), the apply that keeps what it stores in a private vector
 *   (what a worker alone does instead of apply then read), and the read (hogwild_read) of one
 *   thread in each implementation this CPU supports, beside its baselines on the same sizes:
 * hogwild/axpy_plain, hogwild/saxpy, hogwild/memcpy /size:<floats>/...
 *   a plain C loop x[i] += a * g[i] compiled with the project's flags (what mutex and leashed
 *   apply with), OpenBLAS's cblas_saxpy (its kernel for this CPU), and memcpy. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "harness/bench.h"
#include "harness/delay.h"
#include "primitives/backoff.h"
#include "primitives/chain.h"
#include "primitives/hogwild.h"
#include "workloads/blas.h"

typedef struct {
	chain_alloc alloc;
	backoff_policy backoff;
	uint32_t persistence; /* 0: unbounded */
} chain_case;

/* ---- Setup and teardown: one chain per run ---- */

static void *chain_setup(bench_state *st)
{
	const chain_case *c = bench_state_arg(st);
	size_t n = (size_t)bench_state_range(st, 0);
	float *init = calloc(n, sizeof(float));
	chain *ch = init ? chain_create(n, init, c->alloc, c->persistence, &c->backoff,
					  bench_placed_memory()) : NULL;
	free(init);
	if (!ch)
		bench_skip_with_error(st, "out of memory creating the chain");
	return ch;
}

static void chain_teardown(bench_state *st)
{
	chain *ch = bench_state_shared(st);
	bench_counter(st, "live_vectors_peak", (double)chain_live_peak(ch), BENCH_TOTAL);
	chain_destroy(ch);
}

/* dst := src with one element changed: the cheapest update, so that the copy and the chain's
 * own work are what is measured. */
static void update_copy(float *dst, const float *src, size_t n, uint64_t base_t, void *arg)
{
	(void)arg;
	memcpy(dst, src, n * sizeof(float));
	dst[base_t % n] += 1.0f;
}

static void report_publishes(bench_state *st, chain_worker *w, size_t n)
{
	const chain_stats *s = chain_worker_stats(w);
	int64_t ops = bench_state_iterations(st);
	bench_set_items_processed(st, ops);
	bench_set_bytes_processed(st, ops * (int64_t)(n * sizeof(float)));
	bench_counter(st, "cas_attempts/op", (double)s->attempts, BENCH_AVG_ITERATIONS);
	bench_counter(st, "cas_failures/op", (double)(s->attempts - s->publishes), BENCH_AVG_ITERATIONS);
	bench_counter(st, "dropped/op", (double)s->dropped, BENCH_AVG_ITERATIONS);
	bench_counter(st, "read_retries/op", (double)s->read_retries, BENCH_AVG_ITERATIONS);
	bench_counter(st, "backoff_pauses/op", (double)s->backoff.pause_iters, BENCH_AVG_ITERATIONS);
}

/* A few publishes before the timed loop, not counted: the run then measures the steady state,
 * vectors recycled through the pool, rather than the first touch of the up to 2T + 1 vectors a
 * fresh chain allocates (thousands of page faults per publish for 1M floats in a short run). */
#define CHAIN_WARMUP_PUBLISHES 8

static void worker_start(bench_state *st, chain_worker *w, chain *ch)
{
	chain_publish_result r;
	chain_worker_init(w, ch, (uint64_t)bench_state_thread_index(st) + 1);
	for (int i = 0; i < CHAIN_WARMUP_PUBLISHES; i++)
		chain_publish(w, update_copy, NULL, &r);
	chain_worker_reset_stats(w);
}

/* ---- The benchmarks ---- */

static void run_publish(bench_state *st)
{
	chain *ch = bench_state_shared(st);
	chain_worker *w = bench_state_local(st);
	uint64_t work = delay_iters(bench_state_range(st, 1));
	chain_publish_result r;

	worker_start(st, w, ch);
	BENCH_LOOP(st)
	{
		delay_spin(work);
		chain_publish(w, update_copy, NULL, &r);
	}
	report_publishes(st, w, chain_size(ch));
	chain_worker_finish(w);
}

static void run_readers(bench_state *st)
{
	chain *ch = bench_state_shared(st);
	chain_worker *w = bench_state_local(st);
	chain_publish_result r;

	worker_start(st, w, ch);
	if (bench_state_thread_index(st) == 0) {
		BENCH_LOOP(st)
			chain_publish(w, update_copy, NULL, &r);
		bench_counter(st, "publishes/s", (double)bench_state_iterations(st) / bench_state_loop_seconds(st),
			      BENCH_TOTAL);
	} else {
		uint64_t t, sink = 0;
		BENCH_LOOP(st)
		{
			sink += chain_acquire(w, &t)[0] != 0.0f;
			chain_release(w);
		}
		__asm__ __volatile__("" ::"r"(sink));
		bench_counter(st, "reads/s", (double)bench_state_iterations(st) / bench_state_loop_seconds(st),
			      BENCH_TOTAL);
	}
	bench_set_items_processed(st, bench_state_iterations(st));
	bench_counter(st, "read_retries/op", (double)chain_worker_stats(w)->read_retries, BENCH_AVG_ITERATIONS);
	chain_worker_finish(w);
}

static void run_memcpy(bench_state *st)
{
	size_t n = (size_t)bench_state_range(st, 0);
	float *src = malloc(n * sizeof(float)), *dst = malloc(n * sizeof(float));
	if (!src || !dst) {
		free(src);
		free(dst);
		bench_skip_with_error(st, "out of memory");
		return;
	}
	/* Written before the loop: untouched pages would all read as the kernel's one zero page. */
	for (size_t k = 0; k < n; k++)
		src[k] = dst[k] = 1.0f;
	uint64_t i = 0;
	BENCH_LOOP(st)
	{
		memcpy(dst, src, n * sizeof(float));
		dst[i++ % n] += 1.0f; /* as update_copy does */
	}
	bench_set_items_processed(st, bench_state_iterations(st));
	bench_set_bytes_processed(st, bench_state_iterations(st) * (int64_t)(n * sizeof(float)));
	free(src);
	free(dst);
}

/* ---- HOGWILD! apply and read beside a plain axpy, saxpy and memcpy ---- */

typedef enum { HW_AXPY, HW_AXPY_KEEP, HW_READ, HW_AXPY_PLAIN, HW_SAXPY, HW_MEMCPY } hogwild_op;

typedef struct {
	hogwild_op op;
	hogwild_impl impl; /* HW_AXPY, HW_AXPY_KEEP, HW_READ */
} hogwild_case;

/* Not inlined, as in model.c: the loop GCC vectorizes for the build's target. */
__attribute__((noinline)) static void axpy_plain(float *restrict x, float a, const float *restrict g,
						 size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] += a * g[i];
}

static void hogwild_op_run(const hogwild_case *c, hogwild_float *shared, float *x, const float *g,
			   float a, size_t n)
{
	switch (c->op) {
	case HW_AXPY:
		hogwild_axpy_with(c->impl, shared, a, g, NULL, n);
		break;
	case HW_AXPY_KEEP:
		hogwild_axpy_with(c->impl, shared, a, g, x, n);
		break;
	case HW_READ:
		hogwild_read_with(c->impl, shared, x, n);
		break;
	case HW_AXPY_PLAIN:
		axpy_plain(x, a, g, n);
		break;
	case HW_SAXPY:
		cblas_saxpy((int)n, a, g, 1, x, 1);
		break;
	case HW_MEMCPY:
		memcpy(x, g, n * sizeof(float));
		break;
	}
}

static void run_hogwild(bench_state *st)
{
	const hogwild_case *c = bench_state_arg(st);
	size_t n = (size_t)bench_state_range(st, 0), bytes = (n * sizeof(float) + 63) / 64 * 64;
	float *g = aligned_alloc(64, bytes), *x = aligned_alloc(64, bytes);
	hogwild_float *shared = NULL;
	if (g && x) {
		/* Written before the loop, as in run_memcpy; ones, so that ±0.5 steps stay normal. */
		for (size_t k = 0; k < n; k++)
			g[k] = x[k] = 1.0f;
		shared = hogwild_create(n, g, NULL); /* default memory, like its baselines */
	}
	if (!shared) {
		free(g);
		free(x);
		bench_skip_with_error(st, "out of memory");
		return;
	}
	float a = 0.5f;
	BENCH_LOOP(st)
	{
		hogwild_op_run(c, shared, x, g, a, n);
		a = -a; /* x stays bounded */
	}
	bench_set_items_processed(st, bench_state_iterations(st) * (int64_t)n);
	bench_set_bytes_processed(st, bench_state_iterations(st) * (int64_t)(n * sizeof(float)));
	hogwild_destroy(shared, n, NULL);
	free(g);
	free(x);
}

static void register_hogwild_one(const char *name, hogwild_op op, hogwild_impl impl)
{
	hogwild_case c = {op, impl};
	bench_family *b = bench_register(name, run_hogwild, &c, sizeof c);
	bench_arg_names(b, "size");
	bench_args_product(b, BENCH_LIST(1 << 12, 1 << 17, 1 << 20));
	bench_threads(b, 1);
	bench_use_real_time(b);
}

static void register_hogwild(void)
{
	char name[96];
	for (int k = 0; k < HOGWILD_IMPL_COUNT; k++) {
		if (!hogwild_impl_supported((hogwild_impl)k))
			continue;
		snprintf(name, sizeof name, "hogwild/axpy/impl:%s", hogwild_impl_name((hogwild_impl)k));
		register_hogwild_one(name, HW_AXPY, (hogwild_impl)k);
		snprintf(name, sizeof name, "hogwild/axpy_keep/impl:%s", hogwild_impl_name((hogwild_impl)k));
		register_hogwild_one(name, HW_AXPY_KEEP, (hogwild_impl)k);
		snprintf(name, sizeof name, "hogwild/read/impl:%s", hogwild_impl_name((hogwild_impl)k));
		register_hogwild_one(name, HW_READ, (hogwild_impl)k);
	}
	register_hogwild_one("hogwild/axpy_plain", HW_AXPY_PLAIN, HOGWILD_SCALAR);
	register_hogwild_one("hogwild/saxpy", HW_SAXPY, HOGWILD_SCALAR);
	register_hogwild_one("hogwild/memcpy", HW_MEMCPY, HOGWILD_SCALAR);
}

/* ---- Registration ---- */

static void grid_sizes(const bench_options *o, bench_list *sizes)
{
	static const int64_t small[] = {1 << 10, 1 << 14, 1 << 17, 1 << 20};
	static const int64_t full[] = {1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 17, 1 << 18, 1 << 20};
	*sizes = o->full_grid ? (bench_list){full, sizeof full / sizeof *full}
			      : (bench_list){small, sizeof small / sizeof *small};
}

static void register_publish(const bench_options *o, const char *alloc_name, const char *backoff_spec,
			     const char *persist_name)
{
	static const int64_t works_default[] = {0, 5000};
	static const int64_t works_full[] = {0, 1000, 10000, 100000};
	chain_case c = {strcmp(alloc_name, "pool") == 0 ? CHAIN_POOL : CHAIN_MALLOC, backoff_none, 0};
	char err[256], name[160];
	if (backoff_parse(backoff_spec, &c.backoff, err, sizeof err) != 0) {
		fprintf(stderr, "sgdsync-bench-chain: %s\n", err);
		exit(1);
	}
	c.persistence = strcmp(persist_name, "inf") == 0 ? 0 : (uint32_t)atoi(persist_name);
	snprintf(name, sizeof name, "chain/publish/alloc:%s/backoff:%s/persist:%s", alloc_name, backoff_spec,
		 persist_name);

	bench_list sizes, works = o->full_grid ? (bench_list){works_full, 4} : (bench_list){works_default, 2};
	grid_sizes(o, &sizes);
	bench_family *b = bench_register(name, run_publish, &c, sizeof c);
	bench_setup(b, chain_setup, chain_teardown);
	bench_local_size(b, sizeof(chain_worker));
	bench_arg_names(b, "size", "work_ns");
	bench_args_product(b, sizes, works);
	bench_threads_default(b);
	bench_use_real_time(b);
}

static void register_readers(const bench_options *o, const char *alloc_name)
{
	chain_case c = {strcmp(alloc_name, "pool") == 0 ? CHAIN_POOL : CHAIN_MALLOC, backoff_none, 0};
	char name[96];
	snprintf(name, sizeof name, "chain/readers/alloc:%s", alloc_name);
	bench_family *b = bench_register(name, run_readers, &c, sizeof c);
	bench_setup(b, chain_setup, chain_teardown);
	bench_local_size(b, sizeof(chain_worker));
	bench_arg_names(b, "size");
	if (o->full_grid)
		bench_args_product(b, BENCH_LIST(1 << 10, 1 << 14, 1 << 17, 1 << 20));
	else
		bench_args_product(b, BENCH_LIST(1 << 14));
	/* A writer and at least one reader. */
	for (int i = 0; i < o->nthreads; i++)
		if (o->threads[i] >= 2)
			bench_threads(b, o->threads[i]);
	bench_use_real_time(b);
}

static void register_memcpy(const bench_options *o)
{
	bench_list sizes;
	grid_sizes(o, &sizes);
	bench_family *b = bench_register("chain/memcpy", run_memcpy, NULL, 0);
	bench_arg_names(b, "size");
	bench_args_product(b, sizes);
	bench_threads_default(b);
	bench_use_real_time(b);
}

static void register_all(const bench_options *o)
{
	static const char *const backoffs_full[] = {"none", "const", "linear", "exp", "jitter", "yield", "sleep"};
	static const char *const persists_full[] = {"1", "4", "inf"};

	delay_calibrate();
	bench_environment_blas(blas_config());
	register_memcpy(o);
	register_hogwild();
	if (o->full_grid) {
		for (int a = 0; a < 2; a++)
			for (int i = 0; i < 7; i++)
				for (int p = 0; p < 3; p++)
					register_publish(o, a ? "malloc" : "pool", backoffs_full[i], persists_full[p]);
		register_readers(o, "pool");
		register_readers(o, "malloc");
	} else {
		register_publish(o, "pool", "none", "inf");
		register_publish(o, "pool", "exp", "inf");
		register_publish(o, "malloc", "none", "inf");
		register_readers(o, "pool");
	}
}

int main(int argc, char **argv) { return bench_main(argc, argv, register_all); }
