/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A minimal test harness: each unit test binary runs its cases, prints one
 * line per failed check, and exits 0 (all passed) or 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                  \
			check_failures++;                                                \
		}                                                                        \
	} while (0)

#define CHECK_STR(a, b)                                                                  \
	do {                                                                             \
		const char *_a = (a), *_b = (b);                                         \
		if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0) {                   \
			fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,   \
				_a ? _a : "(null)", _b ? _b : "(null)");                  \
			check_failures++;                                                \
		}                                                                        \
	} while (0)

#define RUN(fn)                                                                          \
	do {                                                                             \
		int _before = check_failures;                                            \
		fn();                                                                    \
		printf("%s %s\n", check_failures == _before ? "ok" : "FAIL", #fn);      \
	} while (0)

#define CHECK_EXIT() return check_failures ? 1 : 0
