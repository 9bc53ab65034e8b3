#ifndef SGDSYNC_WORKLOADS_DATASET_H
#define SGDSYNC_WORKLOADS_DATASET_H

/* Labelled image sets held once, compactly, as bytes: MNIST-format IDX files (gzip or plain)
 * and a seeded synthetic generator. Batches are gathered into a caller's float buffer, pixels
 * scaled to [0, 1]; nothing is allocated per batch. */

#include <stddef.h>
#include <stdint.h>

typedef struct {
	size_t count;     /* examples */
	int features;     /* bytes per example: rows * cols */
	int rows, cols;
	int classes;
	uint8_t *pixels;  /* count * features */
	uint8_t *labels;  /* count */
} dataset;

#define DATASET_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* split: "train" or "t10k". Reads DIR/SPLIT-images-idx3-ubyte[.gz] and the labels beside it.
 * Returns -1 with a message naming the file and the problem in err. */
int dataset_load_idx(dataset *d, const char *dir, const char *split, char *err, size_t errlen);
/* The number of examples of split in DIR, from its labels file's header alone (cheap: the run's
 * budget is checked before the data is loaded). -1 with a message as dataset_load_idx's. */
int dataset_idx_count(const char *dir, const char *split, size_t *count, char *err, size_t errlen);
/* count examples of rows x cols pixels, `classes` separable-with-noise clusters, from seed. */
int dataset_synthetic(dataset *d, size_t count, int rows, int cols, int classes, uint64_t seed);
void dataset_free(dataset *d);

/* x[i] := example idx[i] scaled to [0,1], y[i] := its label, for i < batch. */
void dataset_gather(const dataset *d, const size_t *idx, int batch, float *x, uint8_t *y);

#endif
