#include "workloads/layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

/* Rows of im2col scratch a conv processes per sgemm: big enough for sgemm to run at speed,
 * small enough that the scratch stays in L2 (2048 rows x 150 floats = 1.2 MB for LeNet). */
#define CONV_CHUNK_ROWS 2048

static size_t conv_patch(const layer *l)
{
	return (size_t)l->ksize * l->ksize * l->in_c;
}

static int conv_chunk_examples(const layer *l, int batch)
{
	int per_example = l->out_h * l->out_w;
	int chunk = CONV_CHUNK_ROWS / per_example;

	if (chunk < 1)
		chunk = 1;
	return chunk < batch ? chunk : batch;
}

size_t layer_param_count(const layer *l)
{
	switch (l->kind) {
	case LAYER_DENSE:
		return layer_out_size(l) * layer_in_size(l) + layer_out_size(l);
	case LAYER_CONV:
		return (size_t)l->out_c * conv_patch(l) + (size_t)l->out_c;
	case LAYER_POOL:
		break;
	}
	return 0;
}

layer layer_make(layer_kind kind, int relu, int h, int w, int c, int units, int ksize, int pad,
		 size_t offset)
{
	layer l = { .kind = kind, .relu = relu, .in_h = h, .in_w = w, .in_c = c, .ksize = ksize,
		    .pad = pad, .weights = offset };

	switch (kind) {
	case LAYER_DENSE:
		l.in_h = l.in_w = 1;
		l.in_c = h * w * c;
		l.out_h = l.out_w = 1;
		l.out_c = units;
		break;
	case LAYER_CONV:
		l.out_h = h + 2 * pad - ksize + 1;
		l.out_w = w + 2 * pad - ksize + 1;
		l.out_c = units;
		break;
	case LAYER_POOL:
		l.relu = l.ksize = l.pad = 0;
		l.out_h = h / 2;
		l.out_w = w / 2;
		l.out_c = c;
		break;
	}
	/* one bias per output map (conv) or unit (dense) */
	l.biases = offset + layer_param_count(&l) - (kind == LAYER_POOL ? 0 : (size_t)l.out_c);
	return l;
}

size_t layer_cols_floats(const layer *l, int max_batch)
{
	if (l->kind != LAYER_CONV)
		return 0;
	return (size_t)conv_chunk_examples(l, max_batch) * l->out_h * l->out_w * conv_patch(l);
}

int layer_gemms(const layer *l, int batch, int need_dx, layer_gemm out[3])
{
	int in, outs, rows, calls;

	switch (l->kind) {
	case LAYER_DENSE:
		in = (int)layer_in_size(l);
		outs = (int)layer_out_size(l);
		rows = batch;
		calls = 1;
		break;
	case LAYER_CONV: {
		int chunk = conv_chunk_examples(l, batch);

		/* Equal chunks: the figure for a batch that is not a multiple is approximate. */
		in = (int)conv_patch(l);
		outs = l->out_c;
		rows = chunk * l->out_h * l->out_w;
		calls = (batch + chunk - 1) / chunk;
		break;
	}
	default:
		return 0;
	}
	/* forward y = x W^T; weight gradient dW = dy^T x; input gradient dx = dy W */
	out[0] = (layer_gemm){ 0, 1, rows, outs, in, calls };
	out[1] = (layer_gemm){ 1, 0, outs, in, rows, calls };
	out[2] = (layer_gemm){ 0, 0, rows, in, outs, calls };
	return need_dx ? 3 : 2;
}

double layer_flops(const layer *l, int need_dx)
{
	layer_gemm g[3];
	int count = layer_gemms(l, 1, need_dx, g);
	double flops = 0;

	/* per example: a conv's batch of one is out_h x out_w rows, one call */
	for (int i = 0; i < count; i++)
		flops += 2.0 * g[i].m * g[i].n * g[i].k * g[i].calls;
	return flops;
}

void relu_forward(float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = y[i] > 0 ? y[i] : 0;
}

void relu_backward(const float *y, float *dy, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dy[i] = y[i] > 0 ? dy[i] : 0;
}

static void bias_fill(float *y, const float *bias, int rows, int width)
{
	for (int r = 0; r < rows; r++)
		memcpy(y + (size_t)r * width, bias, (size_t)width * sizeof(float));
}

static void column_sums(const float *dy, int rows, int width, float *sums)
{
	memset(sums, 0, (size_t)width * sizeof(float));
	for (int r = 0; r < rows; r++) {
		const float *row = dy + (size_t)r * width;

		for (int j = 0; j < width; j++)
			sums[j] += row[j];
	}
}

/* y (rows x out) = x (rows x in) W^T + b, W out x in. */
static void affine_forward(const float *x, const float *w, const float *b, int rows, int in,
			   int out, float *y)
{
	bias_fill(y, b, rows, out);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x, in, w, in,
		    1.0f, y, out);
}

/* One HWC image's patches: row (oy, ox) holds the k x k x c window at (oy - pad, ox - pad),
 * zeros outside the image. */
static void im2col(const layer *l, const float *x, float *cols)
{
	int k = l->ksize, c = l->in_c;
	size_t run = (size_t)c * sizeof(float);

	for (int oy = 0; oy < l->out_h; oy++) {
		for (int ox = 0; ox < l->out_w; ox++) {
			for (int ky = 0; ky < k; ky++) {
				int iy = oy + ky - l->pad;

				for (int kx = 0; kx < k; kx++, cols += c) {
					int ix = ox + kx - l->pad;

					if (iy < 0 || iy >= l->in_h || ix < 0 || ix >= l->in_w)
						memset(cols, 0, run);
					else
						memcpy(cols, x + ((size_t)iy * l->in_w + ix) * c, run);
				}
			}
		}
	}
}

/* The adjoint of im2col: dx (zeroed by the caller) += the patches' gradients. */
static void col2im(const layer *l, const float *dcols, float *dx)
{
	int k = l->ksize, c = l->in_c;

	for (int oy = 0; oy < l->out_h; oy++) {
		for (int ox = 0; ox < l->out_w; ox++) {
			for (int ky = 0; ky < k; ky++) {
				int iy = oy + ky - l->pad;

				for (int kx = 0; kx < k; kx++, dcols += c) {
					int ix = ox + kx - l->pad;
					float *d = dx + ((size_t)iy * l->in_w + ix) * c;

					if (iy < 0 || iy >= l->in_h || ix < 0 || ix >= l->in_w)
						continue;
					for (int j = 0; j < c; j++)
						d[j] += dcols[j];
				}
			}
		}
	}
}

static void conv_forward(const layer *l, const float *params, const float *x, int batch,
			 float *y, float *cols)
{
	int chunk = conv_chunk_examples(l, batch), patch = (int)conv_patch(l);
	int positions = l->out_h * l->out_w;
	size_t in_size = layer_in_size(l), out_size = layer_out_size(l);
	size_t cols_size = (size_t)positions * patch;

	for (int e = 0; e < batch; e += chunk) {
		int n = batch - e < chunk ? batch - e : chunk;

		for (int i = 0; i < n; i++)
			im2col(l, x + (e + i) * in_size, cols + i * cols_size);
		affine_forward(cols, params + l->weights, params + l->biases, n * positions,
			       patch, l->out_c, y + e * out_size);
	}
}

static void conv_backward(const layer *l, const float *params, const float *x, const float *dy,
			  int batch, float *grad, float *dx, float *cols)
{
	int chunk = conv_chunk_examples(l, batch), patch = (int)conv_patch(l);
	int positions = l->out_h * l->out_w, k = l->out_c;
	size_t in_size = layer_in_size(l), out_size = layer_out_size(l);
	size_t cols_size = (size_t)positions * patch;
	float *dcols = cols + layer_cols_floats(l, batch);
	const float *w = params + l->weights;

	column_sums(dy, batch * positions, k, grad + l->biases);
	if (dx)
		memset(dx, 0, (size_t)batch * in_size * sizeof(float));
	for (int e = 0; e < batch; e += chunk) {
		int n = batch - e < chunk ? batch - e : chunk, rows = n * positions;
		const float *dyc = dy + e * out_size;

		/* the forward pass's patches, again: cheaper than keeping them for every chunk */
		for (int i = 0; i < n; i++)
			im2col(l, x + (e + i) * in_size, cols + i * cols_size);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, patch, rows, 1.0f, dyc, k,
			    cols, patch, e == 0 ? 0.0f : 1.0f, grad + l->weights, patch);
		if (!dx)
			continue;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, patch, k, 1.0f, dyc, k,
			    w, patch, 0.0f, dcols, patch);
		for (int i = 0; i < n; i++)
			col2im(l, dcols + i * cols_size, dx + (e + i) * in_size);
	}
}

static void dense_backward(const layer *l, const float *params, const float *x, const float *dy,
			   int batch, float *grad, float *dx)
{
	int in = (int)layer_in_size(l), out = (int)layer_out_size(l);

	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, batch, 1.0f, dy, out, x, in,
		    0.0f, grad + l->weights, in);
	column_sums(dy, batch, out, grad + l->biases);
	if (dx)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, in, out, 1.0f, dy, out,
			    params + l->weights, in, 0.0f, dx, in);
}

/* 2x2 windows, stride 2, HWC; arg: which of the window's four won, row-major, first on ties. */
static void pool_forward(const layer *l, const float *x, int batch, float *y, uint8_t *arg)
{
	int c = l->in_c;
	size_t row = (size_t)l->in_w * c;

	for (int e = 0; e < batch; e++) {
		const float *img = x + e * layer_in_size(l);

		for (int oy = 0; oy < l->out_h; oy++) {
			for (int ox = 0; ox < l->out_w; ox++) {
				const float *win = img + 2 * oy * row + 2 * (size_t)ox * c;
				const float *cand[4] = { win, win + c, win + row, win + row + c };

				for (int j = 0; j < c; j++, y++, arg++) {
					int best = 0;

					for (int a = 1; a < 4; a++)
						best = cand[a][j] > cand[best][j] ? a : best;
					*y = cand[best][j];
					*arg = (uint8_t)best;
				}
			}
		}
	}
}

static void pool_backward(const layer *l, const float *dy, const uint8_t *arg, int batch,
			  float *dx)
{
	int c = l->in_c;
	size_t row = (size_t)l->in_w * c;

	memset(dx, 0, (size_t)batch * layer_in_size(l) * sizeof(float));
	for (int e = 0; e < batch; e++) {
		float *img = dx + e * layer_in_size(l);

		for (int oy = 0; oy < l->out_h; oy++) {
			for (int ox = 0; ox < l->out_w; ox++) {
				float *win = img + 2 * oy * row + 2 * (size_t)ox * c;

				for (int j = 0; j < c; j++, dy++, arg++)
					win[(*arg >> 1) * row + (*arg & 1) * c + j] = *dy;
			}
		}
	}
}

void layer_forward(const layer *l, const float *params, const float *x, int batch, float *y,
		   float *cols, uint8_t *arg)
{
	switch (l->kind) {
	case LAYER_DENSE:
		affine_forward(x, params + l->weights, params + l->biases, batch,
			       (int)layer_in_size(l), (int)layer_out_size(l), y);
		break;
	case LAYER_CONV:
		conv_forward(l, params, x, batch, y, cols);
		break;
	case LAYER_POOL:
		pool_forward(l, x, batch, y, arg);
		return;
	}
	if (l->relu)
		relu_forward(y, (size_t)batch * layer_out_size(l));
}

void layer_backward(const layer *l, const float *params, const float *x, const float *y,
		    float *dy, const uint8_t *arg, int batch, float *grad, float *dx, float *cols)
{
	if (l->relu)
		relu_backward(y, dy, (size_t)batch * layer_out_size(l));
	switch (l->kind) {
	case LAYER_DENSE:
		dense_backward(l, params, x, dy, batch, grad, dx);
		break;
	case LAYER_CONV:
		conv_backward(l, params, x, dy, batch, grad, dx, cols);
		break;
	case LAYER_POOL:
		if (dx)
			pool_backward(l, dy, arg, batch, dx);
		break;
	}
}

float softmax_xent(const float *z, const uint8_t *labels, int batch, int classes, float *dz,
		   int *correct)
{
	double total = 0;
	int right = 0;
	float scale = 1.0f / (float)batch;

	for (int i = 0; i < batch; i++) {
		const float *row = z + (size_t)i * classes;
		int y = labels[i], best = 0;
		float sum = 0;

		if (y >= classes) {
			fprintf(stderr, "softmax_xent: label %d of example %d is not below %d classes\n",
				y, i, classes);
			abort();
		}
		for (int j = 1; j < classes; j++)
			best = row[j] > row[best] ? j : best;
		for (int j = 0; j < classes; j++)
			sum += expf(row[j] - row[best]);
		total += (double)row[best] + log(sum) - row[y];
		right += best == y;
		if (!dz)
			continue;
		float *d = dz + (size_t)i * classes;

		for (int j = 0; j < classes; j++)
			d[j] = expf(row[j] - row[best]) / sum * scale;
		d[y] -= scale;
	}
	if (correct)
		*correct = right;
	return (float)(total / batch);
}
