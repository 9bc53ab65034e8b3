/* libFuzzer target: the IDX reader on any pair of files. The input is a 2-byte big-endian
 * length L, then L bytes of the labels file, then the images file (either may be gzip: zlib
 * reads both kinds whatever the name). Both are written into one temporary directory per
 * process. A pair it loads must be self-consistent; one it refuses must say why, naming the
 * directory. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workloads/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];

static void write_file(const char *name, const uint8_t *bytes, size_t len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(bytes, 1, len, f) != len || fclose(f))
		abort(); /* the harness, not the reader, failed */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/sgdsync-fuzz-idx-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir))
			abort();
	}
	if (size < 2)
		return 0;
	size_t split = (size_t)data[0] << 8 | data[1];
	if (split > size - 2)
		split = size - 2;
	write_file("train-labels-idx1-ubyte", data + 2, split);
	write_file("train-images-idx3-ubyte", data + 2 + split, size - 2 - split);

	dataset d;
	char err[1024] = "";
	size_t count = 0;
	if (dataset_load_idx(&d, dir, "train", err, sizeof err) == 0) {
		if (d.count < 1 || d.features != d.rows * d.cols || !d.pixels || !d.labels ||
		    d.classes < 1 || d.classes > 256)
			abort();
		if (dataset_idx_count(dir, "train", &count, err, sizeof err) || count != d.count)
			abort(); /* the header alone counts differently */
		dataset_free(&d);
	} else if (!strstr(err, dir) || d.pixels || d.labels) {
		abort(); /* refused without naming the file, or leaving memory behind */
	}
	return 0;
}
