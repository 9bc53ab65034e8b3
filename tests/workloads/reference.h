#ifndef SGDSYNC_TESTS_WORKLOADS_REFERENCE_H
#define SGDSYNC_TESTS_WORKLOADS_REFERENCE_H

/* The plain reference the kernels are checked against: direct loops in double precision, no
 * BLAS, no im2col, same layouts as workloads/layers.h. For the tests only. */

#include <stdint.h>

#include "workloads/layers.h"
#include "workloads/net.h"

static inline void to_double(const float *v, size_t n, double *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = v[i];
}

/* y := layer(x), ReLU included. */
void ref_forward(const layer *l, const float *params, const double *x, int batch, double *y);
/* dy is dLoss/dy (the ReLU mask is applied to it in place); grad gets the layer's parameter
 * gradient at the layer's offsets; dx (may be NULL) dLoss/dx. */
void ref_backward(const layer *l, const float *params, const double *x, const double *y,
		  double *dy, int batch, double *grad, double *dx);
/* Mean cross-entropy; dz (may be NULL) its gradient. */
double ref_softmax_xent(const double *z, const uint8_t *labels, int batch, int classes,
			double *dz);
/* The whole net: mean loss; its gradient into grad (net_param_count doubles) and a hash of
 * where its kinks are (which ReLU outputs are positive, which input wins each pool window)
 * into pattern, each unless NULL. Central differences are only valid across a step that
 * keeps the pattern. */
double ref_net_loss_grad(const net *n, const float *params, const float *x, const uint8_t *y,
			 int batch, double *grad, uint64_t *pattern);

#endif
