// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/xalloc.h"

static const char *code_text(int code)
{
	switch (code) {
	case KMI_ENOTFOUND:
		return "not found";
	case KMI_EAUTH:
		return "access denied";
	case KMI_ETLS:
		return "TLS failure";
	case KMI_ENET:
		return "network failure";
	case KMI_EPROTO:
		return "protocol error";
	case KMI_EDIGEST:
		return "digest mismatch";
	case KMI_EFORMAT:
		return "malformed data";
	case KMI_EUSAGE:
		return "usage error";
	default:
		return strerror(code);
	}
}

int kmi_error_set(struct kmi_error **err, int code, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (code == 0)
		code = EIO;
	if (err == NULL)
		return -1 - code;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	kmi_error_free(err);
	*err = xcalloc(1, sizeof(**err));
	(*err)->code = code;
	/* errno codes read better with their text; our own codes say it in the message */
	if (code < KMI_ENOTFOUND)
		(*err)->msg = xasprintf("%s: %s", msg ? msg : "error", code_text(code));
	else
		(*err)->msg = msg ? xstrdup(msg) : xstrdup(code_text(code));
	free(msg);
	return -1 - code;
}

int kmi_error_wrap(struct kmi_error **err, const char *fmt, ...)
{
	va_list ap;
	char *ctx, *msg;

	if (err == NULL || *err == NULL)
		return -1 - EIO;
	va_start(ap, fmt);
	if (vasprintf(&ctx, fmt, ap) < 0)
		ctx = NULL;
	va_end(ap);
	if (ctx != NULL) {
		msg = xasprintf("%s: %s", ctx, (*err)->msg);
		free((*err)->msg);
		(*err)->msg = msg;
		free(ctx);
	}
	return -1 - (*err)->code;
}

int kmi_error_code(const struct kmi_error *err)
{
	return err ? err->code : 0;
}

void kmi_error_free(struct kmi_error **err)
{
	if (err == NULL || *err == NULL)
		return;
	free((*err)->msg);
	free(*err);
	*err = NULL;
}

int kmi_error_exit_status(const struct kmi_error *err)
{
	if (err == NULL)
		return 0;
	switch (err->code) {
	case KMI_EUSAGE:
	case KMI_EAUTH:
	case KMI_ETLS:
	case EACCES:
	case EPERM:
	case ELIBACC: /* a shared library we need is missing */
		return 2;
	default:
		return 1;
	}
}
