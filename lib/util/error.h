/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

/*
 * Errors that carry their context to the user, as crun's do: a function that
 * can fail takes `struct kmi_error **err`, sets it where the failure happens
 * (naming the file, field or URL), and returns a negative value.  Callers
 * may add context on the way up ("pushing `x`: uploading blob ...: HTTP 503")
 * and only the top prints it, once.
 *
 *	if (fd < 0)
 *		return kmi_error_set(err, errno, "open `%s`", path);
 *	...
 *	if (r < 0)
 *		return kmi_error_wrap(err, "reading layer %zu", i);
 */
struct kmi_error {
	int code; /* an errno value, or KMI_E* below; never 0 */
	char *msg;
};

/* Error codes beyond errno: what went wrong on the far side, or in the data. */
enum {
	KMI_ENOTFOUND = 1000, /* the registry or store says it is not there */
	KMI_EAUTH,            /* 401/403, or no usable credentials */
	KMI_ETLS,             /* certificate or TLS handshake failure */
	KMI_ENET,             /* connection failure, timeout, reset */
	KMI_EPROTO,           /* unexpected answer from a server */
	KMI_EDIGEST,          /* content does not match its digest */
	KMI_EFORMAT,          /* malformed manifest, config, layer or module */
	KMI_EUSAGE,           /* bad argument from the user */
};

/* Sets *err (if err is not NULL) and returns -1 - code, always negative. */
int kmi_error_set(struct kmi_error **err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefixes the message: "context: previous message"; returns the same negative value. */
int kmi_error_wrap(struct kmi_error **err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int kmi_error_code(const struct kmi_error *err);
void kmi_error_free(struct kmi_error **err);
/* The process exit status an error maps to: 1 for failures, 2 for usage and access. */
int kmi_error_exit_status(const struct kmi_error *err);
