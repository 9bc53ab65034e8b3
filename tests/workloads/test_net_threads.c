/* BLAS runs on our threads only: the process has one thread when main starts (a threaded
 * OpenBLAS would have started its pool while loading) and after a gradient, the loaded build is
 * the serial one; threads calling sgemm at once all get the right product (Debian's serial
 * build alone hands some of them the same scratch buffer: workloads/blas.c); and many workers
 * computing gradients at once on one shared net, each in its own workspace, get exactly what
 * one thread gets. */

#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "check.h"
#include "workloads/blas.h"
#include "workloads/net.h"
#include "workloads/rng.h"

enum { WORKERS = 6, ROUNDS = 3, BATCH = 24, INPUTS = 784 };

static int thread_count(void)
{
	DIR *dir = opendir("/proc/self/task");
	int count = 0;

	CHECK(dir, "cannot list /proc/self/task");
	for (struct dirent *e; (e = readdir(dir));)
		count += e->d_name[0] != '.';
	closedir(dir);
	return count;
}

typedef struct {
	const net *n;
	const float *params, *x;
	const uint8_t *y;
	float *grads; /* ROUNDS gradients */
	float losses[ROUNDS];
	int id;
} worker;

/* Round r of worker w uses batch (w + r) of the shared inputs. */
static void *work(void *arg)
{
	worker *w = arg;
	size_t np = net_param_count(w->n);
	net_ws *ws = net_ws_create(w->n, BATCH);

	for (int r = 0; r < ROUNDS; r++) {
		int b = (w->id + r) % WORKERS;

		w->losses[r] = net_loss_grad(w->n, ws, w->params, w->x + (size_t)b * BATCH * INPUTS,
					     w->y + b * BATCH, BATCH, w->grads + r * np);
	}
	net_ws_destroy(ws);
	return NULL;
}

static void check_concurrent(const char *spec)
{
	char err[256];
	net *n = net_create(spec, INPUTS, 10, err, sizeof(err));
	uint64_t rng = 17;

	CHECK(n, "%s", err);
	size_t np = net_param_count(n);
	float *params = malloc(np * sizeof(float));
	float *x = malloc((size_t)WORKERS * BATCH * INPUTS * sizeof(float));
	uint8_t *y = malloc(WORKERS * BATCH);
	worker serial, workers[WORKERS];
	pthread_t threads[WORKERS];

	net_init_params(n, params, 1);
	for (size_t i = 0; i < (size_t)WORKERS * BATCH * INPUTS; i++)
		x[i] = (float)rng_uniform(&rng);
	for (int i = 0; i < WORKERS * BATCH; i++)
		y[i] = (uint8_t)rng_below(&rng, 10);
	/* every batch once, on this thread: worker w's round r is serial's batch (w + r) % W */
	serial = (worker){ n, params, x, y, malloc(WORKERS * np * sizeof(float)), { 0 }, 0 };
	{
		net_ws *ws = net_ws_create(n, BATCH);

		for (int b = 0; b < WORKERS; b++)
			net_loss_grad(n, ws, params, x + (size_t)b * BATCH * INPUTS, y + b * BATCH,
				      BATCH, serial.grads + b * np);
		net_ws_destroy(ws);
	}
	for (int w = 0; w < WORKERS; w++) {
		float *grads = malloc(ROUNDS * np * sizeof(float));

		workers[w] = (worker){ n, params, x, y, grads, { 0 }, w };
		CHECK(pthread_create(&threads[w], NULL, work, &workers[w]) == 0, "pthread_create");
	}
	for (int w = 0; w < WORKERS; w++) {
		pthread_join(threads[w], NULL);
		for (int r = 0; r < ROUNDS; r++) {
			int b = (w + r) % WORKERS;

			CHECK(!memcmp(workers[w].grads + r * np, serial.grads + b * np,
				      np * sizeof(float)),
			      "%s: worker %d round %d: gradient differs from one thread's", spec, w,
			      r);
		}
		free(workers[w].grads);
	}
	free(serial.grads), free(params), free(x), free(y);
	net_destroy(n);
}

/* Big enough that sgemm takes a scratch buffer from OpenBLAS's allocator, small enough for many
 * calls. Without blas.c's lock, a run of this shows a few wrong products about every other
 * time on 2 cores (the race window is a few instructions wide). */
enum { GEMM_THREADS = 16, GEMM_M = 128, GEMM_N = 128, GEMM_K = 256, GEMM_CALLS = 150 };

typedef struct {
	const float *a, *b, *expect;
	int wrong;
} gemm_worker;

static void *gemm_work(void *arg)
{
	gemm_worker *w = arg;
	float *c = malloc(GEMM_M * GEMM_N * sizeof(float));

	for (int i = 0; i < GEMM_CALLS; i++) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, GEMM_M, GEMM_N, GEMM_K, 1.0f,
			    w->a, GEMM_K, w->b, GEMM_K, 0.0f, c, GEMM_N);
		w->wrong += memcmp(c, w->expect, GEMM_M * GEMM_N * sizeof(float)) != 0;
	}
	free(c);
	return NULL;
}

void *blas_memory_alloc(int procpos); /* workloads/blas.c's */

static void check_concurrent_sgemm(void)
{
	float *a = malloc(GEMM_M * GEMM_K * sizeof(float));
	float *b = malloc(GEMM_N * GEMM_K * sizeof(float));
	float *expect = malloc(GEMM_M * GEMM_N * sizeof(float));
	gemm_worker workers[GEMM_THREADS];
	pthread_t threads[GEMM_THREADS];
	uint64_t rng = 23;
	int wrong = 0;

	/* OpenBLAS's own calls to its allocator bind to the locked one, which is not OpenBLAS's */
	void *bound = dlsym(RTLD_DEFAULT, "blas_memory_alloc");

	CHECK(bound == (void *)blas_memory_alloc && bound != dlsym(RTLD_NEXT, "blas_memory_alloc"),
	      "OpenBLAS's blas_memory_alloc is not replaced by workloads/blas.c's");
	for (int i = 0; i < GEMM_M * GEMM_K; i++)
		a[i] = (float)rng_uniform(&rng);
	for (int i = 0; i < GEMM_N * GEMM_K; i++)
		b[i] = (float)rng_uniform(&rng) - 0.5f;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, GEMM_M, GEMM_N, GEMM_K, 1.0f, a,
		    GEMM_K, b, GEMM_K, 0.0f, expect, GEMM_N);
	for (int w = 0; w < GEMM_THREADS; w++) {
		workers[w] = (gemm_worker){ a, b, expect, 0 };
		CHECK(pthread_create(&threads[w], NULL, gemm_work, &workers[w]) == 0,
		      "pthread_create");
	}
	for (int w = 0; w < GEMM_THREADS; w++) {
		pthread_join(threads[w], NULL);
		wrong += workers[w].wrong;
	}
	CHECK(wrong == 0, "%d of %d concurrent sgemm products wrong", wrong,
	      GEMM_THREADS * GEMM_CALLS);
	free(a), free(b), free(expect);
}

/* A gradient on this thread, before any other exists: BLAS starts none of its own. */
static void check_one_thread(void)
{
	char err[256];
	net *n = net_create("mlp:3x128", INPUTS, 10, err, sizeof(err));
	net_ws *ws = net_ws_create(n, BATCH);
	float *params = calloc(net_param_count(n), sizeof(float));
	float *grad = malloc(net_param_count(n) * sizeof(float));
	float *x = calloc((size_t)BATCH * INPUTS, sizeof(float));
	uint8_t y[BATCH] = { 0 };

	net_loss_grad(n, ws, params, x, y, BATCH, grad);
	CHECK(thread_count() == 1, "%d threads after a gradient", thread_count());
	free(params), free(grad), free(x);
	net_ws_destroy(ws);
	net_destroy(n);
}

int main(void)
{
	int at_start = thread_count();

	CHECK(at_start == 1, "%d threads before main's first line: a threaded BLAS?", at_start);
	CHECK(blas_single_thread() == 1, "the loaded OpenBLAS is threaded: %s", blas_config());
	CHECK(strstr(blas_config(), "SINGLE_THREADED"), "OpenBLAS config: %s", blas_config());
	check_one_thread();
	check_concurrent_sgemm();
	check_concurrent("mlp:3x128");
	check_concurrent("cnn");
	check_concurrent("lenet");
	printf("BLAS: %s\n", blas_config());
	CHECK_DONE();
}
