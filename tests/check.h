#ifndef SGDSYNC_TESTS_CHECK_H
#define SGDSYNC_TESTS_CHECK_H

/* Minimal assertions for C tests: a failed CHECK prints where and why and exits 1, so that
 * CTest counts the test failed. Each test program prints "N passed, 0 failed" at the end. */

#include <stdio.h>
#include <stdlib.h>

static int check_passed_;

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                      \
			fputc('\n', stderr);                                               \
			exit(1);                                                           \
		}                                                                          \
		check_passed_++;                                                           \
	} while (0)

#define CHECK_DONE()                                                                       \
	do {                                                                               \
		printf("%s: %d checks passed\n", __FILE__, check_passed_);                 \
		return 0;                                                                  \
	} while (0)

#endif
