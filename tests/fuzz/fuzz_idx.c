/* libFuzzer target: the IDX reader on any pair of files. The input is a 2-byte big-endian
 * length L, then L bytes of the labels file, then the images file (either may be gzip: zlib
 * reads both kinds whatever the name). Both are written into one temporary directory per
 * process, in memory (/dev/shm) unless TMPDIR says otherwise: on disk a run is ~40x slower. A pair it loads must be self-consistent; one it refuses must say why, naming the
 * directory. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workloads/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];
static const char *const names[2] = {"train-labels-idx1-ubyte", "train-images-idx3-ubyte"};

static void path_of(char *path, size_t len, const char *name)
{
	snprintf(path, len, "%s/%s", dir, name);
}

static void remove_dir(void)
{
	char path[512];
	for (int i = 0; i < 2; i++) {
		path_of(path, sizeof path, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void write_file(const char *name, const uint8_t *bytes, size_t len)
{
	char path[512];
	path_of(path, sizeof path, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(bytes, 1, len, f) != len || fclose(f))
		abort(); /* the harness, not the reader, failed */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");
		if (!tmp || !*tmp)
			tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(dir, sizeof dir, "%s/sgdsync-fuzz-idx-XXXXXX", tmp);
		if (!mkdtemp(dir))
			abort();
		atexit(remove_dir);
	}
	if (size < 2)
		return 0;
	size_t split = (size_t)data[0] << 8 | data[1];
	if (split > size - 2)
		split = size - 2;
	write_file(names[0], data + 2, split);
	write_file(names[1], data + 2 + split, size - 2 - split);

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
