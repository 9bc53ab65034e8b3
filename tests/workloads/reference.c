#include "reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REF_MAX_LAYERS 32

/* Index of (c, y, x) in a CHW image of h x w planes. */
static size_t chw(int c, int y, int x, int h, int w)
{
	return ((size_t)c * h + y) * w + x;
}

static void dense_fwd(const layer *l, const float *p, const double *x, double *y)
{
	size_t in = layer_in_size(l), out = layer_out_size(l);

	for (size_t o = 0; o < out; o++) {
		double s = p[l->biases + o];

		for (size_t i = 0; i < in; i++)
			s += (double)p[l->weights + o * in + i] * x[i];
		y[o] = s;
	}
}

static void dense_bwd(const layer *l, const float *p, const double *x, const double *dy,
		      double *grad, double *dx)
{
	size_t in = layer_in_size(l), out = layer_out_size(l);

	for (size_t o = 0; o < out; o++) {
		grad[l->biases + o] += dy[o];
		for (size_t i = 0; i < in; i++) {
			grad[l->weights + o * in + i] += dy[o] * x[i];
			if (dx)
				dx[i] += dy[o] * p[l->weights + o * in + i];
		}
	}
}

/* A conv's forward pass (y set) and backward pass (dy, grad and maybe dx set) are both sums
 * over its taps: output o at (oy, ox) times weight (o, c, ky, kx) times input c at (iy, ix).
 * This is output (o, oy, ox)'s share. */
static void conv_at(const layer *l, const float *p, const double *x, int o, int oy, int ox,
		    double *y, const double *dy, double *grad, double *dx)
{
	int k = l->ksize;
	size_t yi = chw(o, oy, ox, l->out_h, l->out_w);

	if (y)
		y[yi] = p[l->biases + o];
	else
		grad[l->biases + o] += dy[yi];
	for (int c = 0; c < l->in_c; c++)
		for (int ky = 0; ky < k; ky++)
			for (int kx = 0; kx < k; kx++) {
				int iy = oy + ky - l->pad, ix = ox + kx - l->pad;

				if (iy < 0 || iy >= l->in_h || ix < 0 || ix >= l->in_w)
					continue;
				size_t wi = l->weights + (((size_t)o * l->in_c + c) * k + ky) * k +
					    kx;
				size_t xi = chw(c, iy, ix, l->in_h, l->in_w);

				if (y) {
					y[yi] += (double)p[wi] * x[xi];
					continue;
				}
				grad[wi] += dy[yi] * x[xi];
				if (dx)
					dx[xi] += dy[yi] * p[wi];
			}
}

static void conv_taps(const layer *l, const float *p, const double *x, double *y,
		      const double *dy, double *grad, double *dx)
{
	for (int o = 0; o < l->out_c; o++)
		for (int oy = 0; oy < l->out_h; oy++)
			for (int ox = 0; ox < l->out_w; ox++)
				conv_at(l, p, x, o, oy, ox, y, dy, grad, dx);
}

/* The input index that wins window (oy, ox) in channel c: first maximum in row-major order. */
static size_t pool_winner(const layer *l, const double *x, int oy, int ox, int c)
{
	size_t best = chw(c, 2 * oy, 2 * ox, l->in_h, l->in_w);

	for (int a = 1; a < 4; a++) {
		size_t i = chw(c, 2 * oy + a / 2, 2 * ox + a % 2, l->in_h, l->in_w);

		if (x[i] > x[best])
			best = i;
	}
	return best;
}

static void pool_fwd(const layer *l, const double *x, double *y)
{
	for (int oy = 0; oy < l->out_h; oy++)
		for (int ox = 0; ox < l->out_w; ox++)
			for (int c = 0; c < l->out_c; c++)
				y[chw(c, oy, ox, l->out_h, l->out_w)] =
					x[pool_winner(l, x, oy, ox, c)];
}

static void pool_bwd(const layer *l, const double *x, const double *dy, double *dx)
{
	for (int oy = 0; oy < l->out_h; oy++)
		for (int ox = 0; ox < l->out_w; ox++)
			for (int c = 0; c < l->out_c; c++)
				dx[pool_winner(l, x, oy, ox, c)] +=
					dy[chw(c, oy, ox, l->out_h, l->out_w)];
}

void ref_forward(const layer *l, const float *params, const double *x, int batch, double *y)
{
	size_t in = layer_in_size(l), out = layer_out_size(l);

	for (int e = 0; e < batch; e++) {
		const double *xe = x + e * in;
		double *ye = y + e * out;

		if (l->kind == LAYER_DENSE)
			dense_fwd(l, params, xe, ye);
		else if (l->kind == LAYER_CONV)
			conv_taps(l, params, xe, ye, NULL, NULL, NULL);
		else
			pool_fwd(l, xe, ye);
		for (size_t j = 0; l->relu && j < out; j++)
			ye[j] = ye[j] > 0 ? ye[j] : 0;
	}
}

void ref_backward(const layer *l, const float *params, const double *x, const double *y,
		  double *dy, int batch, double *grad, double *dx)
{
	size_t in = layer_in_size(l), out = layer_out_size(l);

	for (size_t j = l->weights; j < l->weights + layer_param_count(l); j++)
		grad[j] = 0;
	if (dx)
		memset(dx, 0, (size_t)batch * in * sizeof(double));
	for (int e = 0; e < batch; e++) {
		const double *xe = x + e * in;
		double *dye = dy + e * out, *dxe = dx ? dx + e * in : NULL;

		for (size_t j = 0; l->relu && j < out; j++)
			dye[j] = y[e * out + j] > 0 ? dye[j] : 0;
		if (l->kind == LAYER_DENSE)
			dense_bwd(l, params, xe, dye, grad, dxe);
		else if (l->kind == LAYER_CONV)
			conv_taps(l, params, xe, NULL, dye, grad, dxe);
		else if (dxe)
			pool_bwd(l, xe, dye, dxe);
	}
}

double ref_softmax_xent(const double *z, const uint8_t *labels, int batch, int classes,
			double *dz)
{
	double total = 0;

	for (int i = 0; i < batch; i++) {
		const double *row = z + (size_t)i * classes;
		double m = row[0], sum = 0;

		for (int j = 1; j < classes; j++)
			m = row[j] > m ? row[j] : m;
		for (int j = 0; j < classes; j++)
			sum += exp(row[j] - m);
		total += m + log(sum) - row[labels[i]];
		for (int j = 0; dz && j < classes; j++)
			dz[(size_t)i * classes + j] =
				(exp(row[j] - m) / sum - (j == labels[i])) / batch;
	}
	return total / batch;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ull;
}

/* FNV-1a over the ReLU signs and pool winners of a forward pass. */
static uint64_t kink_pattern(const layer *layers, int count, double *const *act, int batch)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (int i = 0; i < count; i++) {
		const layer *l = &layers[i];
		size_t out = layer_out_size(l);

		for (int e = 0; l->relu && e < batch; e++)
			for (size_t j = 0; j < out; j++)
				h = mix(h, act[i + 1][e * out + j] > 0);
		for (int e = 0; l->kind == LAYER_POOL && e < batch; e++) {
			const double *in = act[i] + e * layer_in_size(l);

			for (int oy = 0; oy < l->out_h; oy++)
				for (int ox = 0; ox < l->out_w; ox++)
					for (int c = 0; c < l->out_c; c++)
						h = mix(h, pool_winner(l, in, oy, ox, c));
		}
	}
	return h;
}

double ref_net_loss_grad(const net *n, const float *params, const float *x, const uint8_t *y,
			 int batch, double *grad, uint64_t *pattern)
{
	double *act[REF_MAX_LAYERS + 1], *delta[REF_MAX_LAYERS + 1];
	int count;
	const layer *layers = net_layers(n, &count);
	size_t inputs = (size_t)batch * layer_in_size(&layers[0]);
	double loss;

	act[0] = malloc(inputs * sizeof(double));
	to_double(x, inputs, act[0]);
	delta[0] = calloc(inputs, sizeof(double));
	for (int i = 0; i < count; i++) {
		size_t out = (size_t)batch * layer_out_size(&layers[i]);

		act[i + 1] = malloc(out * sizeof(double));
		delta[i + 1] = calloc(out, sizeof(double));
		ref_forward(&layers[i], params, act[i], batch, act[i + 1]);
	}
	if (pattern)
		*pattern = kink_pattern(layers, count, act, batch);
	loss = ref_softmax_xent(act[count], y, batch, layers[count - 1].out_c,
				grad ? delta[count] : NULL);
	for (int i = count - 1; grad && i >= 0; i--)
		ref_backward(&layers[i], params, act[i], act[i + 1], delta[i + 1], batch, grad,
			     delta[i]);
	for (int i = 0; i <= count; i++) {
		free(act[i]);
		free(delta[i]);
	}
	return loss;
}
