#ifndef SGDSYNC_TESTS_CHECK_H
#define SGDSYNC_TESTS_CHECK_H

/* Minimal assertions for C tests: a failed CHECK prints where and why and exits 1, so that
 * CTest counts the test failed. Each test program prints "N passed, 0 failed" at the end. */

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* Atomic: worker threads of concurrency tests CHECK too. */
static _Atomic int check_passed_;

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                      \
			fputc('\n', stderr);                                               \
			exit(1);                                                           \
		}                                                                          \
		atomic_fetch_add_explicit(&check_passed_, 1, memory_order_relaxed);      \
	} while (0)

#define CHECK_DONE()                                                                       \
	do {                                                                               \
		printf("%s: %d checks passed\n", __FILE__, atomic_load(&check_passed_));                 \
		return 0;                                                                  \
	} while (0)

#endif
