/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/error.h"

/*
 * Child processes: credential helpers (output captured, bounded in size and
 * time: third-party programs), buildah (output streamed while it runs,
 * termination signals passed on) and kmod's modprobe (output ours).
 */
enum kmi_spawn_output {
	KMI_SPAWN_INHERIT = 0, /* its stdout and stderr are ours */
	KMI_SPAWN_CAPTURE,     /* stdout into res->out, at most out_max bytes; stderr ours */
	KMI_SPAWN_STREAM,      /* stdout and stderr together, to on_output as they come */
};

struct kmi_spawn_opts {
	const char *const *argv; /* argv[0] is looked up in PATH; never a shell */
	char *const *env;        /* NULL: ours */
	const char *input;       /* written to its stdin, then EOF; NULL: stdin is /dev/null */
	size_t input_len;
	enum kmi_spawn_output output;
	size_t out_max;          /* CAPTURE: more output is an error (EFBIG) */
	void (*on_output)(void *data, const char *buf, size_t n); /* STREAM */
	void *data;
	int timeout_ms;          /* > 0: killed (SIGKILL) when it runs longer; 0: no limit */
	bool forward_signals;    /* SIGINT, SIGTERM and SIGHUP we get while it runs go to it too */
};

struct kmi_spawn_result {
	int exit_status;     /* 0..255 when it exited, else -1 */
	int signal;          /* the signal that ended it, else 0 */
	bool timed_out;      /* it (or its output) outlasted timeout_ms: killed */
	int forwarded;       /* the last signal passed on to it, else 0 */
	struct kmi_buf out;  /* CAPTURE: its stdout */
};

/*
 * Runs o->argv to its end.  Returns 0 when it ran (how it ended is in res),
 * or a negative value with *err naming the program: ENOENT when it is not
 * found, EFBIG when it wrote more than out_max (it is killed), another errno
 * when it cannot be started or waited for.  res is set in every case; free
 * it with kmi_spawn_result_free().
 *
 * Our stdout and stderr are flushed first, and SIGPIPE is ignored while it
 * runs (a child that exits without reading its input must not kill us);
 * the child starts with SIGPIPE at its default (and the forwarded signals,
 * when forwarding), and holds no descriptor of ours but its stdin, stdout
 * and stderr (the library opens everything close-on-exec).  Forwarding
 * takes the signals' handlers until the child ends: one such child at a
 * time.
 */
int kmi_spawn(const struct kmi_spawn_opts *o, struct kmi_spawn_result *res,
	      struct kmi_error **err);
void kmi_spawn_result_free(struct kmi_spawn_result *res);
