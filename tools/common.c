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

int kmi_image_cmd_parse(const char *cmd, const char *help, int argc, char *argv[],
			struct kmi_endpoint_opts *o)
{
	static const struct option long_opts[] = {
		{ "help", no_argument, NULL, 'h' },
		KMI_IMAGE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (kmi_image_opt(c, optarg, o))
			continue;
		if (c == 'h') {
			fputs(help, stdout);
			return KMI_EXIT_OK;
		}
		fprintf(stderr, "Try 'kmodimg %s --help'.\n", cmd);
		return KMI_EXIT_USAGE;
	}
	return -1;
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
