/* The IDX reader: valid files load, plain and gzip alike; every corrupt, truncated or missing
 * file is rejected with a message that names the file and the problem, and a header announcing
 * more than the file holds costs no more memory than the file's data. The files are written
 * into a fresh temporary directory. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "check.h"
#include "workloads/dataset.h"

/* Sanitizers reserve terabytes of address space: no RLIMIT_AS under them. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

enum { COUNT = 6, ROWS = 3, COLS = 4, PIXELS = COUNT * ROWS * COLS };

static char dir[256];

typedef struct {
	unsigned char bytes[16 + PIXELS + 16];
	size_t len;
} blob;

static void put32(blob *b, uint32_t v)
{
	for (int i = 3; i >= 0; i--)
		b->bytes[b->len++] = (unsigned char)(v >> (8 * i));
}

static blob images(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols)
{
	blob b = { .len = 0 };

	put32(&b, magic);
	put32(&b, count);
	put32(&b, rows);
	put32(&b, cols);
	for (int i = 0; i < PIXELS; i++)
		b.bytes[b.len++] = (unsigned char)(i * 7);
	return b;
}

static blob labels(uint32_t magic, uint32_t count)
{
	blob b = { .len = 0 };

	put32(&b, magic);
	put32(&b, count);
	for (uint32_t i = 0; i < count; i++)
		b.bytes[b.len++] = (unsigned char)(i % 3 * 2); /* 0, 2, 4: classes = 5 */
	return b;
}

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static void write_file(const char *name, const void *bytes, size_t len, int gz)
{
	char path[512];

	path_of(path, sizeof(path), name);
	if (gz) {
		gzFile f = gzopen(path, "wb");

		CHECK(f && gzwrite(f, bytes, (unsigned)len) == (int)len && gzclose(f) == Z_OK,
		      "writing %s", path);
	} else {
		FILE *f = fopen(path, "wb");

		CHECK(f && fwrite(bytes, 1, len, f) == len && fclose(f) == 0, "writing %s", path);
	}
}

/* The pair of files of split "train", compressed or not. */
static void write_pair(const blob *img, const blob *lab, int gz)
{
	write_file(gz ? "train-images-idx3-ubyte.gz" : "train-images-idx3-ubyte", img->bytes,
		   img->len, gz);
	write_file(gz ? "train-labels-idx1-ubyte.gz" : "train-labels-idx1-ubyte", lab->bytes,
		   lab->len, gz);
}

static void clear_dir(void)
{
	const char *names[] = { "train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
				"train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz" };
	char path[512];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_of(path, sizeof(path), names[i]);
		unlink(path);
	}
}

/* Writes the pair (gz: compressed), loads it, and expects failure naming `file` and `problem`. */
static void expect_error(const char *what, blob img, blob lab, int gz, const char *file,
			 const char *problem)
{
	char err[1024] = "", path[512];
	dataset d;

	clear_dir();
	write_pair(&img, &lab, gz);
	path_of(path, sizeof(path), file);
	CHECK(dataset_load_idx(&d, dir, "train", err, sizeof(err)) == -1, "%s: loaded", what);
	CHECK(strstr(err, path), "%s: message '%s' does not name %s", what, err, path);
	CHECK(strstr(err, problem), "%s: message '%s' does not say '%s'", what, err, problem);
	CHECK(!d.pixels && !d.labels && d.count == 0, "%s: dataset not left empty", what);
}

static void check_valid(int gz)
{
	blob img = images(0x803, COUNT, ROWS, COLS), lab = labels(0x801, COUNT);
	char err[1024] = "";
	dataset d;

	clear_dir();
	write_pair(&img, &lab, gz);
	CHECK(dataset_load_idx(&d, dir, "train", err, sizeof(err)) == 0, "valid (gz %d): %s", gz,
	      err);
	size_t count = 0;
	CHECK(dataset_idx_count(dir, "train", &count, err, sizeof(err)) == 0 && count == COUNT,
	      "the labels header counts %zu (gz %d): %s", count, gz, err);
	CHECK(d.count == COUNT && d.rows == ROWS && d.cols == COLS && d.features == ROWS * COLS,
	      "shape %zu x %dx%d", d.count, d.rows, d.cols);
	CHECK(d.classes == 5, "classes %d, the largest label is 4", d.classes);
	CHECK(!memcmp(d.pixels, img.bytes + 16, PIXELS), "pixels differ");
	CHECK(!memcmp(d.labels, lab.bytes + 8, COUNT), "labels differ");

	size_t idx[2] = { 5, 1 };
	float x[2 * ROWS * COLS];
	uint8_t y[2];

	dataset_gather(&d, idx, 2, x, y);
	for (int i = 0; i < 2; i++) {
		CHECK(y[i] == d.labels[idx[i]], "gathered label %d", y[i]);
		for (int p = 0; p < ROWS * COLS; p++)
			CHECK(x[i * ROWS * COLS + p] == d.pixels[idx[i] * ROWS * COLS + p] / 255.0f,
			      "gathered pixel %d of example %zu: %g", p, idx[i],
			      x[i * ROWS * COLS + p]);
	}
	dataset_free(&d);
	CHECK(!d.pixels && !d.labels, "dataset_free leaves pointers");
}

static void check_corrupt(void)
{
	const char *images_file = "train-images-idx3-ubyte";
	const char *labels_file = "train-labels-idx1-ubyte";
	blob img = images(0x803, COUNT, ROWS, COLS), lab = labels(0x801, COUNT), b;

	expect_error("labels as images", images(0x801, COUNT, ROWS, COLS), lab, 0, images_file,
		     "not an IDX image file: magic 0x00000801, expected 0x00000803");
	expect_error("wrong label magic", img, labels(0x803, COUNT), 1,
		     "train-labels-idx1-ubyte.gz", "not an IDX label file");
	b = img;
	b.len -= 5;
	expect_error("truncated pixels", b, lab, 0, images_file,
		     "truncated: 72 bytes of pixels expected, 67 found");
	b.len = 3;
	expect_error("truncated header", b, lab, 1, "train-images-idx3-ubyte.gz",
		     "truncated: 16 bytes of IDX header expected, 3 found");
	b = lab;
	b.len -= 1;
	expect_error("truncated labels", img, b, 0, labels_file,
		     "truncated: 6 bytes of labels expected");
	expect_error("count mismatch", img, labels(0x801, COUNT - 1), 0, labels_file,
		     "5 labels for the 6 images of");
	expect_error("zero images", images(0x803, 0, ROWS, COLS), labels(0x801, 0), 0, images_file,
		     "announces 0 items");
	expect_error("zero rows", images(0x803, COUNT, 0, COLS), lab, 0, images_file,
		     "each side must be 1..");
	b = img;
	b.bytes[b.len++] = 1;
	expect_error("trailing data", b, lab, 1, "train-images-idx3-ubyte.gz",
		     "more data than the header announces");
}

/* gzip files whose compressed stream is damaged: cut short, or garbage after a gzip header. */
static void check_bad_gzip(void)
{
	blob img = images(0x803, COUNT, ROWS, COLS), lab = labels(0x801, COUNT);
	char path[512], err[1024];
	unsigned char gz[512];
	dataset d;
	FILE *f;
	size_t len;

	clear_dir();
	write_file("train-images-idx3-ubyte.gz", img.bytes, img.len, 1);
	write_file("train-labels-idx1-ubyte", lab.bytes, lab.len, 0);
	path_of(path, sizeof(path), "train-images-idx3-ubyte.gz");
	f = fopen(path, "rb");
	len = fread(gz, 1, sizeof(gz), f);
	fclose(f);
	write_file("train-images-idx3-ubyte.gz", gz, len / 2, 0);
	CHECK(dataset_load_idx(&d, dir, "train", err, sizeof(err)) == -1, "cut gzip loaded");
	CHECK(strstr(err, path) && (strstr(err, "gzip") || strstr(err, "truncated")),
	      "cut gzip: '%s'", err);

	/* the data complete, its trailer (CRC, length) cut short */
	write_file("train-images-idx3-ubyte.gz", gz, len - 4, 0);
	CHECK(dataset_load_idx(&d, dir, "train", err, sizeof(err)) == -1,
	      "gzip without trailer loaded");
	CHECK(strstr(err, path) && strstr(err, "bad gzip data while reading the gzip trailer"),
	      "gzip without trailer: '%s'", err);

	memset(gz + 10, 0xff, len - 10); /* keep the 10-byte gzip header, spoil the deflate data */
	write_file("train-images-idx3-ubyte.gz", gz, len, 0);
	CHECK(dataset_load_idx(&d, dir, "train", err, sizeof(err)) == -1, "garbage gzip loaded");
	CHECK(strstr(err, path) && strstr(err, "bad gzip data while reading IDX header"),
	      "garbage gzip: '%s'", err);
}

/* A header alone (no data), as the first ndims + 1 words of the blob. */
static blob header(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols)
{
	blob b = { .len = 0 };

	put32(&b, magic);
	put32(&b, count);
	if (magic == 0x803) {
		put32(&b, rows);
		put32(&b, cols);
	}
	return b;
}

static void expect_oversized(void)
{
	const char *labels_file = "train-labels-idx1-ubyte";
	blob huge_img = header(0x803, 0xffffffffu, 1, 1), huge_lab = header(0x801, 0xffffffffu, 0, 0);

	expect_error("4 GB of labels announced", huge_img, huge_lab, 0, labels_file,
		     "truncated: 4294967295 bytes of labels expected, 0 found (the header "
		     "announces 4294967303 bytes in all, the file has 8)");
	expect_error("4 GB of gzip labels announced", huge_img, huge_lab, 1,
		     "train-labels-idx1-ubyte.gz", "truncated: 4294967295 bytes of labels expected, "
		     "0 found");
	expect_error("100 MB of pixels announced", header(0x803, COUNT, 4096, 4096),
		     labels(0x801, COUNT), 0, "train-images-idx3-ubyte",
		     "truncated: 100663296 bytes of pixels expected, 0 found (the header announces "
		     "100663312 bytes in all, the file has 16)");
}

/* Headers announcing far more than their files hold, loaded in a child whose address space
 * may grow by 64 MiB only: allocating what a header announces would fail there. */
static void check_oversized(void)
{
#ifdef SANITIZED
	expect_oversized();
#else
	long pages = 0;
	FILE *statm = fopen("/proc/self/statm", "r");

	CHECK(statm && fscanf(statm, "%ld", &pages) == 1, "reading /proc/self/statm");
	fclose(statm);
	pid_t pid = fork();

	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		rlim_t limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (64u << 20);
		struct rlimit rl = { limit, limit };

		CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit RLIMIT_AS");
		expect_oversized();
		_exit(0);
	}
	int status;

	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "oversized headers under a 64 MiB address-space allowance: status 0x%x", status);
#endif
}

static void check_missing(void)
{
	blob img = images(0x803, COUNT, ROWS, COLS);
	char err[1024], path[512];
	dataset d;

	clear_dir();
	path_of(path, sizeof(path), "train-images-idx3-ubyte");
	CHECK(dataset_load_idx(&d, dir, "train", err, sizeof(err)) == -1, "empty dir loaded");
	CHECK(strstr(err, path) && strstr(err, "no such file"), "missing images: '%s'", err);
	write_file("train-images-idx3-ubyte", img.bytes, img.len, 0);
	path_of(path, sizeof(path), "train-labels-idx1-ubyte");
	CHECK(dataset_load_idx(&d, dir, "train", err, sizeof(err)) == -1, "no labels loaded");
	CHECK(strstr(err, path) && strstr(err, "no such file"), "missing labels: '%s'", err);
	size_t count;
	CHECK(dataset_idx_count(dir, "train", &count, err, sizeof(err)) == -1 && strstr(err, path),
	      "no labels to count: '%s'", err);
	path_of(path, sizeof(path), "train-labels-idx1-ubyte");
	CHECK(mkdir(path, 0700) == 0, "mkdir %s", path);
	CHECK(dataset_load_idx(&d, dir, "train", err, sizeof(err)) == -1, "directory loaded");
	CHECK(strstr(err, path) && strstr(err, "not a regular file"), "directory: '%s'", err);
	CHECK(rmdir(path) == 0, "rmdir %s", path);
	CHECK(dataset_load_idx(&d, "/nonexistent-sgdsync", "t10k", err, sizeof(err)) == -1 &&
		      strstr(err, "/nonexistent-sgdsync/t10k-images-idx3-ubyte"),
	      "missing dir: '%s'", err);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/sgdsync-idx-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(dir), "mkdtemp %s", dir);
	check_valid(0);
	check_valid(1);
	check_corrupt();
	check_bad_gzip();
	check_oversized();
	check_missing();
	clear_dir();
	CHECK(rmdir(dir) == 0, "rmdir %s", dir);
	CHECK_DONE();
}
