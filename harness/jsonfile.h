#ifndef SGDSYNC_HARNESS_JSONFILE_H
#define SGDSYNC_HARNESS_JSONFILE_H

/* Writing result files so that a crash never leaves half a file: the document goes to a
 * temporary file in the same directory, is fsync'ed, then renamed over path (and the directory
 * fsync'ed). A reader sees the old file or the new one, never a mix.
 * A symbolic link is followed (a dangling one too): its target is replaced, the link stays. A
 * character device or a FIFO (/dev/null, /dev/stdout) is written in place, without a rename. A
 * directory, a socket or a block device is refused. */

#include <stddef.h>

#include <cjson/cJSON.h>

/* Writes doc (indented, with a final newline) to path; returns -1 with a message naming the
 * path and the failing step in err, leaving any existing file at path untouched. */
int jsonfile_write_atomic(const char *path, const cJSON *doc, char *err, size_t errlen);
/* Whether jsonfile_write_atomic could write path now (a temporary file beside it can be made):
 * checked before a long run, so that its result is not lost at the end. -1 with a message. */
int jsonfile_check_writable(const char *path, char *err, size_t errlen);

#endif
