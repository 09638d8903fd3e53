// SPDX-License-Identifier: LGPL-2.1-or-later
/* kmodimg extract: an image's filesystem, layers applied, into a directory. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/extract.h"
#include "tools/common.h"
#include "tools/kmodimg.h"

enum {
	OPT_MAX_ENTRIES = 3000,
	OPT_MAX_SIZE,
	OPT_MAX_FILE_SIZE,
};

/* A printf format: the limits come from oci/extract.h. */
#define HELP \
	"Usage: kmodimg extract [OPTIONS] REF DIR\n" \
	"\n" \
	"Apply the image's layers, in order, into DIR: its filesystem as a container\n" \
	"runtime would see it (OCI whiteouts applied).  From an index, the manifest for\n" \
	"this machine's platform is used.  DIR must not exist (it appears, by a rename,\n" \
	"once everything is in place) or be an empty directory (entries are moved in at\n" \
	"the end).\n" \
	"\n" \
	"Layers are untrusted.  An entry that would reach outside DIR (`..`, an absolute\n" \
	"path, a path through a symlink, a hardlink to anything but a regular file\n" \
	"already extracted), a device node, FIFO or socket, a blob that does not match\n" \
	"its digest, or an image over a limit aborts the extraction with a message\n" \
	"naming the layer and the entry, and nothing is left behind.  Symlinks are\n" \
	"created verbatim (absolute targets too) and never followed.  Permissions are\n" \
	"the image's, masked with 0777 (no setuid, setgid or sticky bit); files belong\n" \
	"to the user running kmodimg.\n" \
	"\n" \
	"Limits:\n" \
	"      --max-entries=N        entries in all layers (default %llu)\n" \
	"      --max-size=BYTES       bytes of file data in all layers (default %lluG)\n" \
	"      --max-file-size=BYTES  bytes in one file (default %lluG)\n" \
	"  Entry paths and link targets: at most %u bytes, %u components.\n" \
	"  BYTES takes a K, M, G or T suffix (powers of 1024).\n" \
	"\n" KMI_IMAGE_OPTS_HELP \
	"\n" \
	"Exit status: 0 success, 1 failure (hostile or corrupt image, image not found),\n" \
	"2 usage or access error (DIR not empty, authentication, TLS).\n"

/* "123", "16G", "512K": bytes; false if it is not a size. */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return false;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return false;
	switch (*end) {
	case '\0':
		break;
	case 'K': case 'k':
		shift = 10;
		break;
	case 'M': case 'm':
		shift = 20;
		break;
	case 'G': case 'g':
		shift = 30;
		break;
	case 'T': case 't':
		shift = 40;
		break;
	default:
		return false;
	}
	if (*end != '\0' && end[1] != '\0')
		return false;
	if (shift > 0 && v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

static int run(int argc, char *argv[])
{
	static const struct option long_opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "max-entries", required_argument, NULL, OPT_MAX_ENTRIES },
		{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
		{ "max-file-size", required_argument, NULL, OPT_MAX_FILE_SIZE },
		KMI_IMAGE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct kmi_endpoint_opts eo = { 0 };
	struct kmi_extract_limits lim;
	struct kmi_endpoint ep;
	struct kmi_error *err = NULL;
	uint64_t v;
	int c, r;

	kmi_extract_limits_default(&lim);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (kmi_image_opt(c, optarg, &eo))
			continue;
		switch (c) {
		case 'h':
			printf(HELP, KMI_EXTRACT_MAX_ENTRIES, KMI_EXTRACT_MAX_TOTAL_SIZE >> 30,
			       KMI_EXTRACT_MAX_FILE_SIZE >> 30, KMI_EXTRACT_MAX_PATH,
			       KMI_EXTRACT_MAX_DEPTH);
			return KMI_EXIT_OK;
		case OPT_MAX_ENTRIES:
		case OPT_MAX_SIZE:
		case OPT_MAX_FILE_SIZE:
			if (!parse_size(optarg, &v) || v == 0 ||
			    (c == OPT_MAX_ENTRIES && strpbrk(optarg, "KkMmGgTt") != NULL))
				return kmi_usage("extract", "invalid value `%s` for --%s", optarg,
						 c == OPT_MAX_ENTRIES ? "max-entries"
						 : c == OPT_MAX_SIZE  ? "max-size"
								      : "max-file-size");
			if (c == OPT_MAX_ENTRIES)
				lim.max_entries = v;
			else if (c == OPT_MAX_SIZE)
				lim.max_total_size = v;
			else
				lim.max_file_size = v;
			break;
		default:
			fprintf(stderr, "Try 'kmodimg extract --help'.\n");
			return KMI_EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return kmi_usage("extract", "want REF and DIR");
	r = kmi_endpoint_open(argv[optind], &eo, false, &ep, &err);
	if (r == 0)
		r = kmi_extract_image(&ep, argv[optind + 1], &lim, NULL, &err);
	kmi_endpoint_close(&ep);
	if (r < 0)
		return kmi_fail("extract", &err);
	return KMI_EXIT_OK;
}

const struct kmi_cmd kmi_cmd_extract = { "extract", run, "apply an image's layers into a directory, safely" };
