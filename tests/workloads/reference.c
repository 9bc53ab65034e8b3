#include "reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Index of (y, x, c) in an HWC image of width w and c channels. */
#define REF_MAX_LAYERS 32

static size_t hwc(int y, int x, int c, int w, int channels)
{
	return ((size_t)y * w + x) * channels + c;
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

/* Calls visit(o, ky, kx, c, weight index, input index) for every in-bounds tap of output
 * position (oy, ox); the conv's forward and backward are both sums over these taps. */
#define FOR_EACH_TAP(l, oy, ox, body)                                                          \
	for (int o = 0; o < (l)->out_c; o++)                                                   \
		for (int ky = 0; ky < (l)->ksize; ky++)                                        \
			for (int kx = 0; kx < (l)->ksize; kx++)                                \
				for (int c = 0; c < (l)->in_c; c++) {                          \
					int iy = (oy) + ky - (l)->pad, ix = (ox) + kx - (l)->pad;  \
					if (iy < 0 || iy >= (l)->in_h || ix < 0 || ix >= (l)->in_w) \
						continue;                                      \
					size_t wi = (l)->weights +                             \
						    (((size_t)o * (l)->ksize + ky) * (l)->ksize + kx) * \
							    (l)->in_c + c;                     \
					size_t xi = hwc(iy, ix, c, (l)->in_w, (l)->in_c);      \
					size_t yi = hwc(oy, ox, o, (l)->out_w, (l)->out_c);    \
					body;                                                  \
				}

static void conv_fwd(const layer *l, const float *p, const double *x, double *y)
{
	for (int oy = 0; oy < l->out_h; oy++)
		for (int ox = 0; ox < l->out_w; ox++) {
			for (int o = 0; o < l->out_c; o++)
				y[hwc(oy, ox, o, l->out_w, l->out_c)] = p[l->biases + o];
			FOR_EACH_TAP(l, oy, ox, y[yi] += (double)p[wi] * x[xi]);
		}
}

static void conv_bwd(const layer *l, const float *p, const double *x, const double *dy,
		     double *grad, double *dx)
{
	for (int oy = 0; oy < l->out_h; oy++)
		for (int ox = 0; ox < l->out_w; ox++) {
			for (int o = 0; o < l->out_c; o++)
				grad[l->biases + o] += dy[hwc(oy, ox, o, l->out_w, l->out_c)];
			FOR_EACH_TAP(l, oy, ox, {
				grad[wi] += dy[yi] * x[xi];
				if (dx)
					dx[xi] += dy[yi] * p[wi];
			});
		}
}

/* The input index that wins window (oy, ox) in channel c: first maximum in row-major order. */
static size_t pool_winner(const layer *l, const double *x, int oy, int ox, int c)
{
	size_t best = hwc(2 * oy, 2 * ox, c, l->in_w, l->in_c);

	for (int a = 1; a < 4; a++) {
		size_t i = hwc(2 * oy + a / 2, 2 * ox + a % 2, c, l->in_w, l->in_c);

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
				y[hwc(oy, ox, c, l->out_w, l->out_c)] = x[pool_winner(l, x, oy, ox, c)];
}

static void pool_bwd(const layer *l, const double *x, const double *dy, double *dx)
{
	for (int oy = 0; oy < l->out_h; oy++)
		for (int ox = 0; ox < l->out_w; ox++)
			for (int c = 0; c < l->out_c; c++)
				dx[pool_winner(l, x, oy, ox, c)] += dy[hwc(oy, ox, c, l->out_w, l->out_c)];
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
			conv_fwd(l, params, xe, ye);
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
			conv_bwd(l, params, xe, dye, grad, dxe);
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
		for (int e = 0; l->kind == LAYER_POOL && e < batch; e++)
			for (int oy = 0; oy < l->out_h; oy++)
				for (int ox = 0; ox < l->out_w; ox++)
					for (int c = 0; c < l->out_c; c++)
						h = mix(h, pool_winner(l, act[i] + e * layer_in_size(l),
								       oy, ox, c));
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
