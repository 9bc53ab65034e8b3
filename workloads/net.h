#ifndef SGDSYNC_WORKLOADS_NET_H
#define SGDSYNC_WORKLOADS_NET_H

/* Neural networks for 28x28 single-channel images, float32, all parameters in one flat vector
 * (so that a primitive can share it). Specs:
 *   mlp:LxU   784 -> U (ReLU) xL -> classes (softmax, cross-entropy); mlp:3x128 is the default
 *   cnn       conv3x3x4 ReLU pool2 -> conv3x3x8 ReLU pool2 -> fc128 ReLU -> fc classes
 *   lenet     conv5x5x6 pool2 -> conv5x5x16 pool2 -> fc120 -> fc classes
 * Dense layers and convolutions (im2col) run on single-threaded OpenBLAS sgemm. */

#include <stddef.h>
#include <stdint.h>

typedef struct net net;       /* immutable architecture; shared by all threads */
typedef struct net_ws net_ws; /* one thread's scratch space for one batch size */

/* Returns NULL with a message naming the bad part in err. */
net *net_create(const char *spec, int inputs, int classes, char *err, size_t errlen);
void net_destroy(net *n);
const char *net_spec(const net *n);
size_t net_param_count(const net *n);
/* FLOPs of one forward+backward pass over one example (for GFLOP/s figures). */
double net_flops_per_example(const net *n);
/* Seeded He/Glorot initialisation. */
void net_init_params(const net *n, float *params, uint64_t seed);

net_ws *net_ws_create(const net *n, int max_batch);
void net_ws_destroy(net_ws *ws);

/* x: batch rows of `inputs` floats; y: labels. Mean cross-entropy over the batch, and its
 * gradient with respect to params into grad (net_param_count floats, overwritten). */
float net_loss_grad(const net *n, net_ws *ws, const float *params, const float *x,
		    const uint8_t *y, int batch, float *grad);
/* Mean loss only; *correct (may be NULL) gets the number of correct argmax predictions. */
float net_loss(const net *n, net_ws *ws, const float *params, const float *x, const uint8_t *y,
	       int batch, int *correct);

#endif
