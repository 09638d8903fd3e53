/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

struct kmi_buf;

/*
 * Runs argv[0] (looked up in PATH) with argv, feeds it input (may be NULL)
 * on stdin and appends at most out_max bytes of its stdout to out; stderr
 * is inherited so the program's own messages reach the user.  The child is
 * killed after timeout_ms.
 *
 * Returns the exit status (0..255) or a negative errno: -ENOENT when the
 * program is not found, -ETIMEDOUT, -EFBIG when stdout exceeds out_max,
 * -EINTR when it died by a signal.
 */
int kmi_spawn_capture(const char *const argv[], const char *input, size_t input_len,
		      size_t out_max, int timeout_ms, struct kmi_buf *out);
