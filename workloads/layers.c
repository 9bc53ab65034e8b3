#include "workloads/layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

static size_t conv_patch(const layer *l)
{
	return (size_t)l->in_c * l->ksize * l->ksize;
}

static size_t conv_positions(const layer *l)
{
	return (size_t)l->out_h * l->out_w;
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

size_t layer_cols_floats(const layer *l)
{
	return l->kind == LAYER_CONV ? conv_patch(l) * conv_positions(l) : 0;
}

int layer_gemms(const layer *l, int batch, int need_dx, layer_gemm out[3])
{
	int in = (int)layer_in_size(l), outs = (int)layer_out_size(l);
	int patch = (int)conv_patch(l), positions = (int)conv_positions(l), maps = l->out_c;

	switch (l->kind) {
	case LAYER_DENSE:
		/* y = x W^T; dW = dy^T x; dx = dy W */
		out[0] = (layer_gemm){ 0, 1, batch, outs, in, 1 };
		out[1] = (layer_gemm){ 1, 0, outs, in, batch, 1 };
		out[2] = (layer_gemm){ 0, 0, batch, in, outs, 1 };
		break;
	case LAYER_CONV:
		/* per example: y = W cols; dW += dy cols^T; dcols = W^T dy */
		out[0] = (layer_gemm){ 0, 0, maps, positions, patch, batch };
		out[1] = (layer_gemm){ 0, 1, maps, patch, positions, batch };
		out[2] = (layer_gemm){ 1, 0, patch, positions, maps, batch };
		break;
	default:
		return 0;
	}
	return need_dx ? 3 : 2;
}

double layer_flops(const layer *l, int need_dx)
{
	layer_gemm g[3];
	int count = layer_gemms(l, 1, need_dx, g);
	double flops = 0;

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
	for (int r = 0; r < rows; r++, y += width)
		for (int j = 0; j < width; j++)
			y[j] = bias[j];
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

/* The output columns ox whose tap kx falls inside the image: [lo, hi). */
static void valid_columns(const layer *l, int kx, int *lo, int *hi)
{
	int shift = kx - l->pad; /* input column = ox + shift */

	*lo = shift < 0 ? -shift : 0;
	*hi = l->in_w - shift < l->out_w ? l->in_w - shift : l->out_w;
	*hi = *hi > *lo ? *hi : *lo;
}

/* One CHW image's patches as a (c x k x k) x (out_h x out_w) matrix: row (c, ky, kx) is plane c
 * shifted by (ky - pad, kx - pad), zeros outside the image; each of its output rows is one
 * contiguous run of the input row. */
static void im2col(const layer *l, const float *x, float *cols)
{
	int k = l->ksize;

	for (int c = 0; c < l->in_c; c++) {
		const float *plane = x + (size_t)c * l->in_h * l->in_w;

		for (int ky = 0; ky < k; ky++) {
			for (int kx = 0; kx < k; kx++) {
				int lo, hi;

				valid_columns(l, kx, &lo, &hi);
				for (int oy = 0; oy < l->out_h; oy++, cols += l->out_w) {
					int iy = oy + ky - l->pad, ox = 0;

					if (iy >= 0 && iy < l->in_h) {
						const float *src =
							plane + (size_t)iy * l->in_w + kx - l->pad;

						for (; ox < lo; ox++)
							cols[ox] = 0;
						for (; ox < hi; ox++)
							cols[ox] = src[ox];
					}
					for (; ox < l->out_w; ox++)
						cols[ox] = 0;
				}
			}
		}
	}
}

/* The adjoint of im2col: dx (zeroed by the caller) += the patches' gradients. */
static void col2im(const layer *l, const float *dcols, float *dx)
{
	int k = l->ksize;

	for (int c = 0; c < l->in_c; c++) {
		float *plane = dx + (size_t)c * l->in_h * l->in_w;

		for (int ky = 0; ky < k; ky++) {
			for (int kx = 0; kx < k; kx++) {
				int lo, hi;

				valid_columns(l, kx, &lo, &hi);
				for (int oy = 0; oy < l->out_h; oy++, dcols += l->out_w) {
					int iy = oy + ky - l->pad;

					if (iy < 0 || iy >= l->in_h)
						continue;
					float *dst = plane + (size_t)iy * l->in_w + kx - l->pad;

					for (int ox = lo; ox < hi; ox++)
						dst[ox] += dcols[ox];
				}
			}
		}
	}
}

/* Per example, while its output is hot in cache: bias, then ReLU. */
static void conv_forward(const layer *l, const float *params, const float *x, int batch,
			 float *y, float *cols)
{
	int maps = l->out_c, patch = (int)conv_patch(l), positions = (int)conv_positions(l);
	const float *b = params + l->biases;

	for (int e = 0; e < batch; e++) {
		float *ye = y + e * layer_out_size(l);

		im2col(l, x + e * layer_in_size(l), cols);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, maps, positions, patch, 1.0f,
			    params + l->weights, patch, cols, positions, 0.0f, ye, positions);
		for (int o = 0; o < maps; o++) {
			float *row = ye + (size_t)o * positions;

			for (int p = 0; p < positions; p++)
				row[p] += b[o];
			if (l->relu)
				relu_forward(row, (size_t)positions);
		}
	}
}

/* Per example: the ReLU mask and the bias gradient in one pass, then the GEMMs. */
static void conv_backward(const layer *l, const float *params, const float *x, const float *y,
			  float *dy, int batch, float *grad, float *dx, float *cols)
{
	int maps = l->out_c, patch = (int)conv_patch(l), positions = (int)conv_positions(l);
	float *dcols = cols + layer_cols_floats(l), *db = grad + l->biases;

	memset(db, 0, (size_t)maps * sizeof(float));
	for (int e = 0; e < batch; e++) {
		float *dye = dy + e * layer_out_size(l);
		const float *ye = y + e * layer_out_size(l);

		for (int o = 0; o < maps; o++) {
			float *row = dye + (size_t)o * positions, sum = 0;

			if (l->relu)
				relu_backward(ye + (size_t)o * positions, row, (size_t)positions);
			for (int p = 0; p < positions; p++)
				sum += row[p];
			db[o] += sum;
		}
		/* the forward pass's patches, again: cheaper than keeping a batch of them */
		im2col(l, x + e * layer_in_size(l), cols);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, maps, patch, positions, 1.0f,
			    dye, positions, cols, positions, e == 0 ? 0.0f : 1.0f,
			    grad + l->weights, patch);
		if (!dx)
			continue;
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, patch, positions, maps, 1.0f,
			    params + l->weights, patch, dye, positions, 0.0f, dcols, positions);
		float *dxe = dx + e * layer_in_size(l);

		memset(dxe, 0, layer_in_size(l) * sizeof(float));
		col2im(l, dcols, dxe);
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
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, in, out, 1.0f, dy,
			    out, params + l->weights, in, 0.0f, dx, in);
}

/* 2x2 windows, stride 2, over each CHW plane; arg: which of the window's four won (0, 1 on
 * the top row, 2, 3 below), the first on ties. */
static void pool_forward(const layer *l, const float *x, int batch, float *y, uint8_t *arg)
{
	int w = l->in_w;

	for (int plane = 0; plane < batch * l->in_c; plane++) {
		const float *in = x + (size_t)plane * l->in_h * w;

		for (int oy = 0; oy < l->out_h; oy++) {
			const float *top = in + (size_t)2 * oy * w, *bottom = top + w;

			for (int ox = 0; ox < l->out_w; ox++) {
				float a = top[2 * ox], b = top[2 * ox + 1];
				float c = bottom[2 * ox], d = bottom[2 * ox + 1];
				/* strict comparisons: the first of equals wins */
				float upper = b > a ? b : a, lower = d > c ? d : c;
				int up = b > a, low = 2 + (d > c);

				*y++ = lower > upper ? lower : upper;
				*arg++ = (uint8_t)(lower > upper ? low : up);
			}
		}
	}
}

static void pool_backward(const layer *l, const float *dy, const uint8_t *arg, int batch,
			  float *dx)
{
	int w = l->in_w;

	memset(dx, 0, (size_t)batch * layer_in_size(l) * sizeof(float));
	for (int plane = 0; plane < batch * l->in_c; plane++) {
		float *in = dx + (size_t)plane * l->in_h * w;

		for (int oy = 0; oy < l->out_h; oy++)
			for (int ox = 0; ox < l->out_w; ox++, dy++, arg++)
				in[(size_t)(2 * oy + (*arg >> 1)) * w + 2 * ox + (*arg & 1)] = *dy;
	}
}

void layer_forward(const layer *l, const float *params, const float *x, int batch, float *y,
		   float *cols, uint8_t *arg)
{
	switch (l->kind) {
	case LAYER_DENSE:
		affine_forward(x, params + l->weights, params + l->biases, batch,
			       (int)layer_in_size(l), (int)layer_out_size(l), y);
		if (l->relu)
			relu_forward(y, (size_t)batch * layer_out_size(l));
		break;
	case LAYER_CONV:
		conv_forward(l, params, x, batch, y, cols);
		break;
	case LAYER_POOL:
		pool_forward(l, x, batch, y, arg);
		break;
	}
}

void layer_backward(const layer *l, const float *params, const float *x, const float *y,
		    float *dy, const uint8_t *arg, int batch, float *grad, float *dx, float *cols)
{
	switch (l->kind) {
	case LAYER_DENSE:
		if (l->relu)
			relu_backward(y, dy, (size_t)batch * layer_out_size(l));
		dense_backward(l, params, x, dy, batch, grad, dx);
		break;
	case LAYER_CONV:
		conv_backward(l, params, x, y, dy, batch, grad, dx, cols);
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
			fprintf(stderr, "softmax_xent: label %d of example %d is not below %d "
				"classes\n", y, i, classes);
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
