#include "harness/jsonfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The rename itself reaches the disk only with the directory. */
static int sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Creates path's temporary file, named in tmp; -1 with errno set. */
static int temp_beside(const char *path, char tmp[PATH_MAX])
{
	if (snprintf(tmp, PATH_MAX, "%s.tmp.XXXXXX", path) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkstemp(tmp);
}

/* What a path names, once its symbolic links are followed. */
typedef enum { TARGET_FILE, TARGET_STREAM, TARGET_REFUSED } target_kind;

/* Follows path's chain of symbolic links to the last name in it, a dangling link's target
 * included, into out: the file the rename must replace (renaming over the link would replace
 * the link). -1 with errno set (ELOOP past 40 links, as the kernel). */
static int follow_links(const char *path, char out[PATH_MAX])
{
	char link[PATH_MAX];
	struct stat st;
	errno = ENAMETOOLONG;
	if (snprintf(out, PATH_MAX, "%s", path) >= PATH_MAX)
		return -1;
	for (int hops = 0; lstat(out, &st) == 0 && S_ISLNK(st.st_mode); hops++) {
		if (hops == 40) {
			errno = ELOOP;
			return -1;
		}
		ssize_t n = readlink(out, link, sizeof link - 1);
		if (n < 0)
			return -1;
		link[n] = '\0';
		char *slash = strrchr(out, '/');
		size_t dir_len = link[0] == '/' || !slash ? 0 : (size_t)(slash - out) + 1;
		errno = ENAMETOOLONG;
		if (dir_len + (size_t)n >= PATH_MAX)
			return -1;
		memcpy(out + dir_len, link, (size_t)n + 1);
	}
	return 0;
}

/* A regular file or a new name is replaced by rename; a character device or a FIFO (/dev/null,
 * /dev/stdout, a pipe) is written in place; anything else is refused, with why in err. */
static target_kind classify(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
		return TARGET_FILE;
	if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
		return TARGET_STREAM;
	snprintf(err, errlen, "cannot write %s: it is %s (only a regular file, a new name, a character "
		 "device or a FIFO is written)", path,
		 S_ISDIR(st.st_mode) ? "a directory" : S_ISBLK(st.st_mode) ? "a block device" :
		 S_ISSOCK(st.st_mode) ? "a socket" : "not a file");
	return TARGET_REFUSED;
}

int jsonfile_check_writable(const char *path, char *err, size_t errlen)
{
	char target[PATH_MAX], tmp[PATH_MAX];
	switch (classify(path, err, errlen)) {
	case TARGET_REFUSED:
		return -1;
	case TARGET_STREAM:
		if (access(path, W_OK) == 0)
			return 0;
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	case TARGET_FILE:
		break;
	}
	int fd = follow_links(path, target) == 0 ? temp_beside(target, tmp) : -1;
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %s: creating a temporary file beside it: %s", path,
			 strerror(errno));
		return -1;
	}
	close(fd);
	unlink(tmp);
	return 0;
}

/* Writes text and a newline straight into the device or FIFO at path; the failing step in *step. */
static int write_stream(const char *path, const char *text, const char **step)
{
	*step = "opening it";
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	*step = "writing it";
	int rc = write_all(fd, text, strlen(text)) != 0 || write_all(fd, "\n", 1) != 0 ? -1 : 0;
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* Writes text and a newline to a temporary file beside target, then renames it over target. */
static int write_replacing(const char *target, const char *text, const char **step)
{
	char tmp[PATH_MAX];
	*step = "creating a temporary file beside it";
	int fd = temp_beside(target, tmp);
	if (fd < 0)
		return -1;
	*step = "writing the temporary file";
	if (fchmod(fd, 0644) != 0 || write_all(fd, text, strlen(text)) != 0 ||
	    write_all(fd, "\n", 1) != 0)
		goto fail;
	*step = "syncing the temporary file";
	if (fsync(fd) != 0)
		goto fail;
	close(fd);
	fd = -1;
	*step = "renaming the temporary file over it";
	if (rename(tmp, target) != 0)
		goto fail;
	sync_dir_of(target); /* best effort: the new file is in place either way */
	return 0;
fail:;
	int saved = errno; /* close and unlink must not hide why it failed */
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

int jsonfile_write_atomic(const char *path, const cJSON *doc, char *err, size_t errlen)
{
	char target[PATH_MAX];
	const char *step = "printing the JSON";
	target_kind kind = classify(path, err, errlen);
	if (kind == TARGET_REFUSED)
		return -1;
	char *text = cJSON_Print(doc);
	int rc = -1;
	if (text && kind == TARGET_STREAM) {
		rc = write_stream(path, text, &step);
	} else if (text) {
		step = "following its symbolic links";
		if (follow_links(path, target) == 0)
			rc = write_replacing(target, text, &step);
	}
	if (rc != 0)
		snprintf(err, errlen, "writing %s: %s: %s", path, step, strerror(errno));
	free(text);
	return rc;
}
