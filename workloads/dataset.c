#include "workloads/dataset.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "workloads/rng.h"

#define IDX_IMAGES_MAGIC 0x00000803u /* unsigned bytes, 3 dimensions */
#define IDX_LABELS_MAGIC 0x00000801u /* unsigned bytes, 1 dimension */
#define IDX_MAX_SIDE 4096
#define IDX_FIRST_CHUNK (1u << 20) /* a gzip body's first buffer: it doubles as data arrives */

typedef struct {
	char path[4096];
	gzFile gz;
	off_t size;       /* on disk: a plain file's bytes, a gzip file's compressed bytes */
	size_t header;    /* bytes of header read */
	char *err;
	size_t errlen;
} idx_file;

static int idx_fail(idx_file *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int idx_fail(idx_file *f, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(f->err, f->errlen, "%s: ", f->path);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < f->errlen)
		vsnprintf(f->err + n, f->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

/* DIR/NAME if it exists, else DIR/NAME.gz; zlib reads either (gzread passes plain files on). */
static int idx_open(idx_file *f, const char *dir, const char *split, const char *kind,
		    char *err, size_t errlen)
{
	struct stat st;

	f->gz = NULL;
	f->err = err;
	f->errlen = errlen;
	snprintf(f->path, sizeof(f->path), "%s/%s-%s", dir, split, kind);
	if (stat(f->path, &st)) {
		size_t len = strlen(f->path);

		snprintf(f->path + len, sizeof(f->path) - len, ".gz");
		if (stat(f->path, &st)) {
			f->path[len] = 0;
			if (errno == ENOENT)
				return idx_fail(f, "no such file (nor with .gz)");
			return idx_fail(f, "cannot access: %s", strerror(errno));
		}
	}
	if (!S_ISREG(st.st_mode))
		return idx_fail(f, "not a regular file");
	f->size = st.st_size;
	f->header = 0;
	f->gz = gzopen(f->path, "rb");
	if (!f->gz)
		return idx_fail(f, "cannot open: %s", errno ? strerror(errno) : "out of memory");
	return 0;
}

static void idx_close(idx_file *f)
{
	if (f->gz)
		gzclose(f->gz);
	f->gz = NULL;
}

/* A read or decompression error, if zlib has one, reported as the file's problem. */
static int idx_stream_error(idx_file *f, const char *what)
{
	int zerr;
	const char *msg = gzerror(f->gz, &zerr);
	size_t skip = strlen(f->path);

	if (zerr == Z_OK || zerr == Z_STREAM_END)
		return 0;
	if (zerr == Z_ERRNO)
		return idx_fail(f, "read error while reading %s: %s", what, strerror(errno));
	/* zlib's message starts with the path, which idx_fail already gives */
	if (!strncmp(msg, f->path, skip) && !strncmp(msg + skip, ": ", 2))
		msg += skip + 2;
	return idx_fail(f, "bad gzip data while reading %s: %s", what, msg);
}

/* Up to len bytes, fewer at the end of the data or on an error. */
static size_t idx_fill(idx_file *f, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		unsigned chunk = len - got > (1u << 30) ? 1u << 30 : (unsigned)(len - got);
		int n = gzread(f->gz, buf + got, chunk);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* got of the len bytes of `what` came: 0, or why not. */
static int idx_check_got(idx_file *f, size_t len, size_t got, const char *what)
{
	if (got == len)
		return 0;
	if (idx_stream_error(f, what))
		return -1;
	return idx_fail(f, "truncated: %zu bytes of %s expected, %zu found", len, what, got);
}

/* Reads exactly len bytes; `what` names them in the error. */
static int idx_read(idx_file *f, void *buf, size_t len, const char *what)
{
	return idx_check_got(f, len, idx_fill(f, buf, len), what);
}

static int idx_header(idx_file *f, uint32_t magic, uint32_t *dims, int ndims)
{
	unsigned char raw[16];

	f->header = 4 * (size_t)(ndims + 1);
	if (idx_read(f, raw, f->header, "IDX header"))
		return -1;
	for (int i = 0; i <= ndims; i++) {
		uint32_t v = (uint32_t)raw[4 * i] << 24 | (uint32_t)raw[4 * i + 1] << 16 |
			     (uint32_t)raw[4 * i + 2] << 8 | raw[4 * i + 3];

		if (i == 0 && v != magic)
			return idx_fail(f, "not an IDX %s file: magic 0x%08x, expected 0x%08x",
					magic == IDX_IMAGES_MAGIC ? "image" : "label", v, magic);
		if (i > 0)
			dims[i - 1] = v;
	}
	if (dims[0] == 0)
		return idx_fail(f, "the header announces 0 items");
	return 0;
}

/* The data ends where the header says: more bytes mean a header that does not describe it. */
static int idx_expect_end(idx_file *f)
{
	char extra;
	int n = gzread(f->gz, &extra, 1);

	if (n > 0)
		return idx_fail(f, "more data than the header announces");
	/* reading on also checks a gzip file's trailer (CRC and length) */
	return idx_stream_error(f, "the gzip trailer");
}

/* A plain file must hold the len bytes its header announces, which its size tells before
 * anything is allocated. */
static int idx_check_size(idx_file *f, size_t len, const char *what)
{
	size_t found = (size_t)f->size > f->header ? (size_t)f->size - f->header : 0;

	if (found >= len)
		return 0;
	return idx_fail(f, "truncated: %zu bytes of %s expected, %zu found (the header announces "
			"%zu bytes in all, the file has %jd)", len, what, found, f->header + len,
			(intmax_t)f->size);
}

/* len bytes, the buffer grown as they arrive: a gzip file's size does not bound what it
 * inflates to, so a header that lies costs at most twice the data that is there (or the first
 * chunk). */
static int idx_read_grown(idx_file *f, uint8_t **out, size_t len, const char *what)
{
	size_t cap = 0, got = 0;

	while (got < len && got == cap) {
		size_t grown = cap ? (cap > len / 2 ? len : 2 * cap)
				   : (len < IDX_FIRST_CHUNK ? len : IDX_FIRST_CHUNK);
		uint8_t *buf = realloc(*out, grown);

		if (!buf)
			return idx_fail(f, "cannot allocate %zu bytes for %s", grown, what);
		*out = buf;
		cap = grown;
		got += idx_fill(f, buf + got, cap - got);
	}
	return idx_check_got(f, len, got, what);
}

static int idx_read_body(idx_file *f, uint8_t **out, size_t len, const char *what)
{
	*out = NULL;
	if ((gzdirect(f->gz) && idx_check_size(f, len, what)) ||
	    idx_read_grown(f, out, len, what) || idx_expect_end(f)) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int dataset_load_idx(dataset *d, const char *dir, const char *split, char *err, size_t errlen)
{
	idx_file images, labels;
	uint32_t idims[3], ldims[1];
	int rc = -1;

	memset(d, 0, sizeof(*d));
	if (idx_open(&images, dir, split, "images-idx3-ubyte", err, errlen))
		return -1;
	if (idx_open(&labels, dir, split, "labels-idx1-ubyte", err, errlen))
		goto out;
	if (idx_header(&images, IDX_IMAGES_MAGIC, idims, 3) ||
	    idx_header(&labels, IDX_LABELS_MAGIC, ldims, 1))
		goto out;
	if (idims[1] < 1 || idims[1] > IDX_MAX_SIDE || idims[2] < 1 || idims[2] > IDX_MAX_SIDE) {
		idx_fail(&images, "images of %ux%u pixels: each side must be 1..%d", idims[1],
			 idims[2], IDX_MAX_SIDE);
		goto out;
	}
	if (ldims[0] != idims[0]) {
		idx_fail(&labels, "%u labels for the %u images of %s", ldims[0], idims[0],
			 images.path);
		goto out;
	}
	d->count = idims[0];
	d->rows = (int)idims[1];
	d->cols = (int)idims[2];
	d->features = d->rows * d->cols;
	if (idx_read_body(&labels, &d->labels, d->count, "labels") ||
	    idx_read_body(&images, &d->pixels, d->count * d->features, "pixels"))
		goto out;
	for (size_t i = 0; i < d->count; i++)
		d->classes = d->labels[i] >= d->classes ? d->labels[i] + 1 : d->classes;
	rc = 0;
out:
	idx_close(&images);
	idx_close(&labels);
	if (rc)
		dataset_free(d);
	return rc;
}

int dataset_idx_count(const char *dir, const char *split, size_t *count, char *err, size_t errlen)
{
	idx_file labels;
	uint32_t dims[1];
	if (idx_open(&labels, dir, split, "labels-idx1-ubyte", err, errlen))
		return -1;
	int rc = idx_header(&labels, IDX_LABELS_MAGIC, dims, 1);
	idx_close(&labels);
	if (rc == 0)
		*count = dims[0];
	return rc;
}

/* Class prototypes: a shared background plus a class-specific +-SIGNAL pattern. An example
 * blends its class's prototype with a random other class's (up to BLEND of it), adds pixel
 * noise, and keeps its label except for LABEL_NOISE of them, relabelled at random. So classes
 * overlap: an MLP learns them within a few hundred updates but never to zero loss. */
#define SYNTH_SIGNAL 40.0
#define SYNTH_NOISE 50.0
#define SYNTH_BLEND 0.4
#define SYNTH_LABEL_NOISE 0.05

int dataset_synthetic(dataset *d, size_t count, int rows, int cols, int classes, uint64_t seed)
{
	uint64_t rng = seed;
	float *proto;

	memset(d, 0, sizeof(*d));
	if (count < 1 || rows < 1 || cols < 1 || classes < 2 || classes > 256)
		return -1;
	d->count = count;
	d->rows = rows;
	d->cols = cols;
	d->features = rows * cols;
	d->classes = classes;
	d->pixels = malloc(count * d->features);
	d->labels = malloc(count);
	proto = malloc((size_t)classes * d->features * sizeof(float));
	if (!d->pixels || !d->labels || !proto) {
		free(proto);
		dataset_free(d);
		return -1;
	}
	for (int p = 0; p < d->features; p++) {
		double background = 64 + 128 * rng_uniform(&rng);

		for (int c = 0; c < classes; c++) {
			double sign = rng_next(&rng) >> 63 ? 1 : -1;

			proto[(size_t)c * d->features + p] =
				(float)(background + sign * SYNTH_SIGNAL);
		}
	}
	for (size_t i = 0; i < count; i++) {
		int c = (int)rng_below(&rng, (uint32_t)classes);
		int other = (c + 1 + (int)rng_below(&rng, (uint32_t)classes - 1)) % classes;
		double blend = SYNTH_BLEND * rng_uniform(&rng);
		const float *mine = proto + (size_t)c * d->features;
		const float *theirs = proto + (size_t)other * d->features;
		uint8_t *px = d->pixels + i * d->features;

		for (int p = 0; p < d->features; p++) {
			double v = (1 - blend) * mine[p] + blend * theirs[p] +
				   SYNTH_NOISE * rng_normal(&rng);

			px[p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
		}
		if (rng_uniform(&rng) < SYNTH_LABEL_NOISE)
			c = (int)rng_below(&rng, (uint32_t)classes);
		d->labels[i] = (uint8_t)c;
	}
	free(proto);
	return 0;
}

void dataset_free(dataset *d)
{
	free(d->pixels);
	free(d->labels);
	memset(d, 0, sizeof(*d));
}

void dataset_gather(const dataset *d, const size_t *idx, int batch, float *x, uint8_t *y)
{
	for (int i = 0; i < batch; i++) {
		const uint8_t *px = d->pixels + idx[i] * d->features;
		float *row = x + (size_t)i * d->features;

		/* a division, not a multiplication by 1/255: 255 becomes exactly 1 */
		for (int p = 0; p < d->features; p++)
			row[p] = px[p] / 255.0f;
		y[i] = d->labels[idx[i]];
	}
}
