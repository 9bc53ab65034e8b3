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

int jsonfile_check_writable(const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cannot write %s: it is a directory", path);
		return -1;
	}
	int fd = temp_beside(path, tmp);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %s: creating a temporary file beside it: %s", path,
			 strerror(errno));
		return -1;
	}
	close(fd);
	unlink(tmp);
	return 0;
}

int jsonfile_write_atomic(const char *path, const cJSON *doc, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	const char *step = "printing the JSON";
	char *text = cJSON_Print(doc);
	int fd = -1, saved;
	if (!text)
		goto fail;
	step = "creating a temporary file beside it";
	fd = temp_beside(path, tmp);
	if (fd < 0)
		goto fail;
	step = "writing the temporary file";
	if (fchmod(fd, 0644) != 0 || write_all(fd, text, strlen(text)) != 0 ||
	    write_all(fd, "\n", 1) != 0)
		goto fail_tmp;
	step = "syncing the temporary file";
	if (fsync(fd) != 0)
		goto fail_tmp;
	close(fd);
	fd = -1;
	step = "renaming the temporary file over it";
	if (rename(tmp, path) != 0)
		goto fail_tmp;
	free(text);
	sync_dir_of(path); /* best effort: the new file is in place either way */
	return 0;
fail_tmp:
	saved = errno; /* close and unlink must not hide why it failed */
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
fail:
	snprintf(err, errlen, "writing %s: %s: %s", path, step, strerror(errno));
	free(text);
	return -1;
}
