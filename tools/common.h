/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "oci/transport.h"
#include "util/error.h"

/* Options every command that touches an image accepts (see kmodimg(1)). */
enum {
	OPT_STORE = 2000,
	OPT_CREDS,
	OPT_AUTHFILE,
	OPT_PULL_SECRET,
	OPT_INSECURE,
	OPT_SKIP_VERIFY,
	OPT_CERT_DIR,
	OPT_QUIET,
};

#define KMI_IMAGE_LONGOPTS                                                                 \
	{ "store", required_argument, NULL, OPT_STORE },                                   \
	{ "creds", required_argument, NULL, OPT_CREDS },                                   \
	{ "authfile", required_argument, NULL, OPT_AUTHFILE },                             \
	{ "pull-secret", required_argument, NULL, OPT_PULL_SECRET },                       \
	{ "insecure", no_argument, NULL, OPT_INSECURE },                                   \
	{ "insecure-skip-tls-verify", no_argument, NULL, OPT_SKIP_VERIFY },                \
	{ "cert-dir", required_argument, NULL, OPT_CERT_DIR },                             \
	{ "quiet", no_argument, NULL, OPT_QUIET }

#define KMI_IMAGE_OPTS_HELP                                                                \
	"Image and registry options:\n"                                                    \
	"      --store=DIR         local store (default /var/lib/kmodimg/store as root,\n"   \
	"                          $XDG_DATA_HOME/kmodimg/store otherwise; $KMODIMG_STORE)\n" \
	"      --creds=USER:PASS   registry credentials\n"                               \
	"      --authfile=FILE     docker config.json or containers auth.json\n"          \
	"      --pull-secret=FILE  Kubernetes Secret (dockerconfigjson or dockercfg)\n"   \
	"      --insecure          allow plain HTTP to the registry\n"                    \
	"      --insecure-skip-tls-verify  do not verify the registry's certificate\n"     \
	"      --cert-dir=DIR      CA certificates (*.crt) and client.cert/client.key\n"  \
	"      --quiet             no progress output\n"

/* Handles one of KMI_IMAGE_LONGOPTS; false if c is not one of them. */
bool kmi_image_opt(int c, const char *arg, struct kmi_endpoint_opts *o);
/*
 * Parses a command that takes only the image options and --help (printing
 * `help`); returns -1 to go on with argv[optind...], or an exit status.
 */
int kmi_image_cmd_parse(const char *cmd, const char *help, int argc, char *argv[],
			struct kmi_endpoint_opts *o);
/* Prints "kmodimg CMD: error: MSG" and returns the exit status for the error. */
int kmi_fail(const char *cmd, struct kmi_error **err);
int kmi_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
