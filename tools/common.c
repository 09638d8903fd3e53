// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdarg.h>
#include <stdio.h>

#include "tools/common.h"
#include "tools/kmodimg.h"

bool kmi_image_opt(int c, const char *arg, struct kmi_endpoint_opts *o)
{
	switch (c) {
	case OPT_STORE:
		o->store = arg;
		return true;
	case OPT_CREDS:
		o->registry.creds = arg;
		return true;
	case OPT_AUTHFILE:
		o->registry.authfile = arg;
		return true;
	case OPT_PULL_SECRET:
		o->registry.pull_secret = arg;
		return true;
	case OPT_INSECURE:
		o->registry.insecure = true;
		return true;
	case OPT_SKIP_VERIFY:
		o->registry.insecure_skip_tls_verify = true;
		return true;
	case OPT_CERT_DIR:
		o->registry.cert_dir = arg;
		return true;
	case OPT_QUIET:
		o->registry.quiet = true;
		return true;
	default:
		return false;
	}
}

int kmi_fail(const char *cmd, struct kmi_error **err)
{
	int status = kmi_error_exit_status(*err);

	fprintf(stderr, "kmodimg %s: error: %s\n", cmd, (*err) ? (*err)->msg : "unknown error");
	kmi_error_free(err);
	return status ? status : KMI_EXIT_FAILURE;
}

int kmi_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kmodimg %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'kmodimg %s --help'.\n", cmd);
	return KMI_EXIT_USAGE;
}
