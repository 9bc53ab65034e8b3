#ifndef SGDSYNC_WORKLOADS_BLAS_H
#define SGDSYNC_WORKLOADS_BLAS_H

/* The BLAS this process runs on. Our workers are the only threads: a threaded OpenBLAS (found
 * at run time despite the serial build being linked, e.g. through LD_LIBRARY_PATH) is forced to
 * one thread, with one warning on stderr. net_create calls blas_single_thread.
 * Any number of threads may call sgemm at once: blas.c makes the serial build's buffer
 * allocator thread-safe (Debian builds it without locking). */

/* 1 if the loaded OpenBLAS is the single-threaded build, 0 if it is a threaded build that has
 * now been limited to one thread. Idempotent and thread-safe. */
int blas_single_thread(void);
/* OpenBLAS's own description: version, build options, core type ("... SINGLE_THREADED ..."). */
const char *blas_config(void);

#endif
