#ifndef SGDSYNC_WORKLOADS_LAYERS_H
#define SGDSYNC_WORKLOADS_LAYERS_H

/* The layers a net is made of, and their kernels (internal to workloads/, its tests and the
 * kernel benchmark). Batches are row-major float32, one example per row. Images are stored
 * CHW: an example is c planes of h x w floats, so a 28x28 grey image is just its 784 pixels
 * and a dense layer after a convolution sees the planes one after the other. Convolutions run
 * as im2col + sgemm per example, dense layers as one sgemm per batch, on single-threaded
 * OpenBLAS.
 *
 * Parameters live in one flat vector, layer after layer, each layer's weights then its biases:
 *   dense  weights out x in, row o holds output o's input weights; then out biases
 *   conv   weights c_out x (c_in x k x k), row o is filter o as [c_in][ky][kx]; then c_out biases
 *   pool   none */

#include <stddef.h>
#include <stdint.h>

#include "workloads/net.h"

typedef enum { LAYER_DENSE, LAYER_CONV, LAYER_POOL } layer_kind;

typedef struct {
	layer_kind kind;
	int relu;                 /* dense, conv: ReLU applied to the output */
	int in_h, in_w, in_c;     /* per example; dense: 1 x 1 x inputs */
	int out_h, out_w, out_c;  /* per example; dense: 1 x 1 x outputs */
	int ksize, pad;           /* conv: k x k filters, stride 1, zero padding */
	size_t weights, biases;   /* offsets in the parameter vector */
} layer;

typedef struct {
	int trans_a, trans_b;     /* row-major cblas_sgemm: C(m x n) = op(A)(m x k) op(B)(k x n) */
	int m, n, k;
	int calls;                /* how many times the shape runs per batch */
} layer_gemm;

static inline size_t layer_in_size(const layer *l)
{
	return (size_t)l->in_h * l->in_w * l->in_c;
}

static inline size_t layer_out_size(const layer *l)
{
	return (size_t)l->out_h * l->out_w * l->out_c;
}

/* A layer on h x w x c inputs with its parameters from `offset` on. dense: `units` outputs
 * (a dense layer's input is flattened: 1 x 1 x h*w*c); conv: `units` maps of ksize x ksize
 * filters, stride 1, zero padding `pad`; pool: 2x2 windows, stride 2 (units, ksize, pad unused;
 * an odd last row or column is dropped). */
layer layer_make(layer_kind kind, int relu, int h, int w, int c, int units, int ksize, int pad,
		 size_t offset);
/* Weights then biases; 0 for pool. */
size_t layer_param_count(const layer *l);
/* Floats of im2col scratch a conv needs (and as much again for its backward pass); 0 else. */
size_t layer_cols_floats(const layer *l);
/* The sgemm shapes of one forward + backward pass over batch examples, in order; need_dx = 0
 * for the first layer, whose input gradient nobody needs. Returns how many (at most 3). */
int layer_gemms(const layer *l, int batch, int need_dx, layer_gemm out[3]);
/* Multiply-adds x 2 of those GEMMs, per example: the FLOPs a GFLOP/s figure counts. */
double layer_flops(const layer *l, int need_dx);

/* y := layer(x) over batch examples (ReLU included). cols: layer_cols_floats scratch (conv);
 * arg: one byte per output value, which input of each 2x2 window won (pool). */
void layer_forward(const layer *l, const float *params, const float *x, int batch, float *y,
		   float *cols, uint8_t *arg);
/* Given dy = dLoss/dy (overwritten: the ReLU mask is applied in place), writes the layer's
 * parameter gradient into grad (same offsets as params) and, when dx is not NULL, dLoss/dx.
 * x and y are the forward pass's input and output. cols: 2 x layer_cols_floats scratch. */
void layer_backward(const layer *l, const float *params, const float *x, const float *y,
		    float *dy, const uint8_t *arg, int batch, float *grad, float *dx, float *cols);

void relu_forward(float *y, size_t n);
/* dy[i] := 0 where y[i] <= 0. */
void relu_backward(const float *y, float *dy, size_t n);

/* Mean cross-entropy of softmax(z) against labels over batch rows of `classes` logits,
 * computed stably (log-sum-exp around the row maximum). dz (may be NULL) gets the gradient of
 * the mean; *correct (may be NULL) the number of rows whose argmax is the label. Aborts on a
 * label >= classes: that is a caller's bug, never a property of the data. */
float softmax_xent(const float *z, const uint8_t *labels, int batch, int classes, float *dz,
		   int *correct);

/* The layers of a net, input first; the last one's outputs are the logits. */
const layer *net_layers(const net *n, int *count);

#endif
