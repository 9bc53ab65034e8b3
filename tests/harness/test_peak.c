/* The FP32 peak probe and the kernels binary's peak_fraction: the probe runs the widest FMA the
 * CPU and OS allow, and sgemm on the chosen OpenBLAS core never beats it (a peak below what BLAS
 * reaches would be a wrong peak); sgdsync-bench-kernels records the peak in its context, the
 * OpenBLAS core in its environment, and peak_fraction = grad_flop/s / that peak. */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "bench_exec.h"
#include "check.h"
#include "harness/peak.h"
#include "workloads/cpufeat.h"

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The best of 5 sgemm rates on the mlp's largest shape, 512 x 784 . 784 x 128. */
static double sgemm_rate(void)
{
	enum { M = 512, K = 784, N = 128 };
	float *a = calloc(M * K, sizeof(float)), *b = calloc(K * N, sizeof(float));
	float *c = calloc(M * N, sizeof(float));
	double best = 0;

	CHECK(a && b && c, "out of memory");
	for (int i = 0; i < M * K; i++)
		a[i] = (float)(i % 7) * 0.25f;
	for (int i = 0; i < K * N; i++)
		b[i] = (float)(i % 5) * 0.5f;
	for (int t = 0; t < 5; t++) {
		double t0 = cpu_now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f,
			    c, N);
		double rate = 2.0 * M * N * K / (cpu_now() - t0);
		best = rate > best ? rate : best;
	}
	free(a), free(b), free(c);
	return best;
}

static void check_probe(void)
{
	cpufeat f;
	peak_fp32 p = peak_fp32_measure();
	double sgemm = sgemm_rate();

	cpufeat_detect(&f);
	CHECK(strcmp(p.isa, cpufeat_fma_isa(&f)) == 0, "probe ran %s, the CPU allows %s", p.isa,
	      cpufeat_fma_isa(&f));
	CHECK(isfinite(p.flops) && p.flops > 1e8, "peak %g flop/s", p.flops);
	/* 10 % slack: a trial slowed by a neighbour on a shared core lowers the peak a little */
	CHECK(sgemm <= 1.1 * p.flops, "sgemm %.1f GF/s above the %s peak %.1f GF/s", sgemm / 1e9, p.isa,
	      p.flops / 1e9);
	printf("peak %.1f GF/s (%s), sgemm 512x784x128 %.1f GF/s = %.2f of it\n", p.flops / 1e9, p.isa,
	       sgemm / 1e9, sgemm / p.flops);
}

static const char *context_string(const cJSON *doc, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "context"), key);

	CHECK(cJSON_IsString(v), "context has no string %s", key);
	return v->valuestring;
}

static void check_kernels_binary(void)
{
	char out[64], err[64];
	char *argv[] = {BENCH_KERNELS_BIN, "--counters=none",
			"--benchmark_filter=kernels/net:mlp:3x128/batch:16/",
			"--benchmark_min_time=0.01", NULL};

	snprintf(out, sizeof out, "/tmp/test_peak.%d.json", (int)getpid());
	snprintf(err, sizeof err, "/tmp/test_peak.%d.err", (int)getpid());
	cJSON *doc = bench_exec_json(argv, out, err);
	double peak = atof(context_string(doc, "sgdsync_fp32_peak_flop/s"));
	CHECK(peak > 1e8, "context peak %g", peak);
	CHECK(strlen(context_string(doc, "sgdsync_fp32_peak_isa")) > 0, "peak isa");
	cJSON *env = cJSON_Parse(context_string(doc, "sgdsync_environment"));
	const cJSON *blas = cJSON_GetObjectItemCaseSensitive(env, "blas");
	CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(blas, "core_used")), "environment blas.core_used");
	cJSON *b = bench_find(doc, "kernels/net:mlp:3x128/batch:16/real_time/threads:1");
	double frac = bench_num(b, "peak_fraction"), grad = bench_num(b, "grad_flop/s");
	/* the context's peak is printed to 6 digits */
	CHECK(fabs(frac - grad / peak) <= 1e-5 * frac, "peak_fraction %g, grad/peak %g", frac, grad / peak);
	CHECK(frac > 0 && frac <= 1.1, "peak_fraction %g", frac);
	cJSON_Delete(env);
	cJSON_Delete(doc);
	unlink(out);
	unlink(err);
}

int main(void)
{
	check_probe();
	check_kernels_binary();
	CHECK_DONE();
}
