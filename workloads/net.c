/* Architectures (layers.h has the storage order of activations and parameters):
 *   mlp:LxU  dense U ReLU, L times; dense classes
 *   cnn      conv 3x3x4 pad 1 ReLU, pool; conv 3x3x8 pad 1 ReLU, pool; dense 128 ReLU; dense
 *            classes. 'Same' padding keeps 28 -> 14 -> 7: the dense layer sees 8 maps of 7x7.
 *   lenet    conv 5x5x6 pad 2 ReLU, pool; conv 5x5x16 ReLU, pool; dense 120 ReLU; dense
 *            classes. Padding 2 makes 28x28 behave as classic LeNet-5's 32x32 input
 *            (28 -> 14 -> 10 -> 5: the dense layer sees 16 maps of 5x5); ReLU replaces
 *            LeNet's squashing functions.
 * Convolutional nets take one square grey image of side sqrt(inputs).
 * Parameters for 784 inputs and 10 classes: mlp:3x128 134794, cnn 51930, lenet 51902. */

#include "workloads/net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "primitives/cacheline.h"
#include "workloads/blas.h"
#include "workloads/layers.h"
#include "workloads/rng.h"

#define NET_MAX_HIDDEN 16
#define NET_MAX_UNITS 16384
#define NET_MAX_LAYERS (NET_MAX_HIDDEN + 1)
#define NET_MAX_CLASSES 256 /* labels are bytes */

struct net {
	char spec[32];
	int inputs, classes;
	int nlayers;
	size_t params;
	layer layers[NET_MAX_LAYERS];
	/* the shape the next layer takes */
	int h, w, c;
};

struct net_ws {
	const net *n;
	int max_batch;
	float *out[NET_MAX_LAYERS];   /* each layer's output */
	uint8_t *arg[NET_MAX_LAYERS]; /* pool layers: each window's winner */
	float *grad[2];               /* dLoss/d(activation), alternating from layer to layer */
	float *cols;                  /* conv: im2col scratch, then its gradient */
	float *block;                 /* all of the above, one allocation */
};

static void net_add(net *n, layer_kind kind, int relu, int units, int ksize, int pad)
{
	layer l = layer_make(kind, relu, n->h, n->w, n->c, units, ksize, pad, n->params);

	n->params += layer_param_count(&l);
	n->layers[n->nlayers++] = l;
	n->h = l.out_h;
	n->w = l.out_w;
	n->c = l.out_c;
}

/* "L" and "U" of mlp:LxU, strictly: digits, 'x', digits, nothing else. */
static int parse_mlp(const char *text, long *hidden, long *units)
{
	char *end;

	if (*text < '0' || *text > '9')
		return -1;
	*hidden = strtol(text, &end, 10);
	if (*end != 'x' || end[1] < '0' || end[1] > '9')
		return -1;
	*units = strtol(end + 1, &end, 10);
	return *end ? -1 : 0;
}

static int build_mlp(net *n, const char *spec, char *err, size_t errlen)
{
	long hidden, units;

	if (parse_mlp(spec + 4, &hidden, &units)) {
		snprintf(err, errlen, "net '%s': expected mlp:LxU, L hidden layers of U units "
			 "each, e.g. mlp:3x128", spec);
		return -1;
	}
	if (hidden < 1 || hidden > NET_MAX_HIDDEN) {
		snprintf(err, errlen, "net '%s': hidden layers L must be 1..%d", spec,
			 NET_MAX_HIDDEN);
		return -1;
	}
	if (units < 1 || units > NET_MAX_UNITS) {
		snprintf(err, errlen, "net '%s': units per layer U must be 1..%d", spec,
			 NET_MAX_UNITS);
		return -1;
	}
	for (long i = 0; i < hidden; i++)
		net_add(n, LAYER_DENSE, 1, (int)units, 0, 0);
	return 0;
}

/* Convolutional nets see the inputs as one square grey image, at least min_side wide. */
static int image_input(net *n, int min_side, char *err, size_t errlen)
{
	int side = (int)lround(sqrt((double)n->inputs));

	if (side * side != n->inputs || side < min_side) {
		snprintf(err, errlen, "net '%s' needs square images of at least %dx%d; %d inputs "
			 "are not", n->spec, min_side, min_side, n->inputs);
		return -1;
	}
	n->h = n->w = side;
	n->c = 1;
	return 0;
}

/* cnn and lenet: two stages of conv (ReLU) + pool, then a dense ReLU layer. */
typedef struct {
	const char *name;
	int min_side;        /* the smallest image both stages fit */
	int ksize;
	int maps[2], pad[2]; /* per stage */
	int dense;
} conv_net;

static const conv_net conv_nets[] = {
	{ "cnn", 4, 3, { 4, 8 }, { 1, 1 }, 128 },
	{ "lenet", 12, 5, { 6, 16 }, { 2, 0 }, 120 },
};

static int build_spec(net *n, const char *spec, char *err, size_t errlen)
{
	if (!strncmp(spec, "mlp:", 4))
		return build_mlp(n, spec, err, errlen);
	for (size_t i = 0; i < sizeof(conv_nets) / sizeof(conv_nets[0]); i++) {
		const conv_net *c = &conv_nets[i];

		if (strcmp(spec, c->name))
			continue;
		if (image_input(n, c->min_side, err, errlen))
			return -1;
		for (int stage = 0; stage < 2; stage++) {
			net_add(n, LAYER_CONV, 1, c->maps[stage], c->ksize, c->pad[stage]);
			net_add(n, LAYER_POOL, 0, 0, 0, 0);
		}
		net_add(n, LAYER_DENSE, 1, c->dense, 0, 0);
		return 0;
	}
	snprintf(err, errlen, "unknown net '%s': use mlp:LxU (e.g. mlp:3x128), cnn or lenet", spec);
	return -1;
}

net *net_create(const char *spec, int inputs, int classes, char *err, size_t errlen)
{
	net *n;

	if (strlen(spec) >= sizeof(n->spec)) {
		snprintf(err, errlen, "net '%.40s...': name too long", spec);
		return NULL;
	}
	if (inputs < 1 || classes < 2 || classes > NET_MAX_CLASSES) {
		snprintf(err, errlen, "net '%s': %d inputs, %d classes: need inputs >= 1, classes "
			 "2..%d", spec, inputs, classes, NET_MAX_CLASSES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(err, errlen, "net '%s': out of memory", spec);
		return NULL;
	}
	strcpy(n->spec, spec);
	n->inputs = inputs;
	n->classes = classes;
	n->h = n->w = 1;
	n->c = inputs;
	if (build_spec(n, spec, err, errlen)) {
		free(n);
		return NULL;
	}
	net_add(n, LAYER_DENSE, 0, classes, 0, 0);
	blas_single_thread();
	return n;
}

void net_destroy(net *n)
{
	free(n);
}

const char *net_spec(const net *n)
{
	return n->spec;
}

size_t net_param_count(const net *n)
{
	return n->params;
}

const layer *net_layers(const net *n, int *count)
{
	*count = n->nlayers;
	return n->layers;
}

double net_flops_per_example(const net *n)
{
	double flops = 0;

	for (int i = 0; i < n->nlayers; i++)
		flops += layer_flops(&n->layers[i], i > 0);
	return flops;
}

/* He-normal weights before a ReLU, Glorot-uniform for the logits; zero biases. */
void net_init_params(const net *n, float *params, uint64_t seed)
{
	uint64_t rng = seed;

	for (int i = 0; i < n->nlayers; i++) {
		const layer *l = &n->layers[i];
		size_t count = layer_param_count(l);

		if (!count)
			continue;
		double fan_in = l->kind == LAYER_CONV ? (double)l->ksize * l->ksize * l->in_c
						      : (double)layer_in_size(l);
		double fan_out = l->kind == LAYER_CONV ? (double)l->ksize * l->ksize * l->out_c
						       : (double)layer_out_size(l);
		double he = sqrt(2.0 / fan_in), glorot = sqrt(6.0 / (fan_in + fan_out));

		for (size_t j = l->weights; j < l->biases; j++)
			params[j] = (float)(l->relu ? he * rng_normal(&rng)
						    : glorot * (2 * rng_uniform(&rng) - 1));
		for (size_t j = l->biases; j < l->weights + count; j++)
			params[j] = 0;
	}
}

static size_t aligned_floats(size_t count)
{
	size_t per_line = CACHELINE_SIZE / sizeof(float);

	return (count + per_line - 1) / per_line * per_line;
}

/* Lays the workspace out in one block when base is set; returns the floats it takes. */
static size_t ws_layout(net_ws *ws, float *base)
{
	const net *n = ws->n;
	size_t used = 0, widest = 0, cols = 0; /* widest output: nobody needs dLoss/dx */

	for (int i = 0; i < n->nlayers; i++) {
		const layer *l = &n->layers[i];
		size_t out = (size_t)ws->max_batch * layer_out_size(l);

		if (base)
			ws->out[i] = base + used;
		used += aligned_floats(out);
		if (l->kind == LAYER_POOL) {
			if (base)
				ws->arg[i] = (uint8_t *)(base + used);
			used += aligned_floats((out + sizeof(float) - 1) / sizeof(float));
		}
		widest = widest > layer_out_size(l) ? widest : layer_out_size(l);
		cols = cols > layer_cols_floats(l) ? cols : layer_cols_floats(l);
	}
	for (int g = 0; g < 2; g++) {
		if (base)
			ws->grad[g] = base + used;
		used += aligned_floats((size_t)ws->max_batch * widest);
	}
	if (base)
		ws->cols = base + used;
	return used + 2 * cols;
}

net_ws *net_ws_create(const net *n, int max_batch)
{
	net_ws *ws;
	float *block;

	if (max_batch < 1)
		return NULL;
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return NULL;
	ws->n = n;
	ws->max_batch = max_batch;
	size_t bytes = aligned_floats(ws_layout(ws, NULL)) * sizeof(float);

	block = aligned_alloc(CACHELINE_SIZE, bytes);
	if (!block) {
		free(ws);
		return NULL;
	}
	ws->block = block;
	ws_layout(ws, block);
	return ws;
}

void net_ws_destroy(net_ws *ws)
{
	if (!ws)
		return;
	free(ws->block);
	free(ws);
}

static void check_call(const net *n, const net_ws *ws, int batch)
{
	if (ws->n == n && batch >= 1 && batch <= ws->max_batch)
		return;
	fprintf(stderr, "net '%s': batch %d with a workspace for %s, max batch %d\n", n->spec,
		batch, ws->n == n ? "this net" : "another net", ws->max_batch);
	abort();
}

static const float *net_forward(const net *n, net_ws *ws, const float *params, const float *x,
				int batch)
{
	const float *in = x;

	for (int i = 0; i < n->nlayers; i++) {
		layer_forward(&n->layers[i], params, in, batch, ws->out[i], ws->cols, ws->arg[i]);
		in = ws->out[i];
	}
	return in;
}

float net_loss_grad(const net *n, net_ws *ws, const float *params, const float *x,
		    const uint8_t *y, int batch, float *grad)
{
	check_call(n, ws, batch);
	const float *logits = net_forward(n, ws, params, x, batch);
	float loss = softmax_xent(logits, y, batch, n->classes, ws->grad[0], NULL);
	int cur = 0;

	for (int i = n->nlayers - 1; i >= 0; i--, cur ^= 1) {
		const float *in = i ? ws->out[i - 1] : x;

		layer_backward(&n->layers[i], params, in, ws->out[i], ws->grad[cur], ws->arg[i],
			       batch, grad, i ? ws->grad[cur ^ 1] : NULL, ws->cols);
	}
	return loss;
}

float net_loss(const net *n, net_ws *ws, const float *params, const float *x, const uint8_t *y,
	       int batch, int *correct)
{
	check_call(n, ws, batch);
	return softmax_xent(net_forward(n, ws, params, x, batch), y, batch, n->classes, NULL,
			    correct);
}
