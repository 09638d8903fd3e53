// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdio.h>

#include "tools/common.h"
#include "tools/kmodimg.h"

/*
 * KMM's rule: build only what the registry says is absent.  So "absent" is
 * exit 1 only on the registry's own word; anything else (TLS, 401, network)
 * is exit 2 with the reason, never a false "missing".
 */
static int run(int argc, char *argv[])
{
	struct kmi_endpoint_opts eo = { 0 };
	struct kmi_endpoint ep;
	struct kmi_error *err = NULL;
	int r;

	r = kmi_image_cmd_parse("exists", "Usage: kmodimg exists [OPTIONS] REF\n\n"
				"Ask whether an image exists.\n\n" KMI_IMAGE_OPTS_HELP
				"\nExit status: 0 present, 1 absent (the registry or store said so),\n"
				"2 any other failure (usage, TLS, authentication, network).\n",
				argc, argv, &eo);
	if (r >= 0)
		return r;
	if (argc - optind != 1)
		return kmi_usage("exists", "want one REF");
	r = kmi_endpoint_open(argv[optind], &eo, false, &ep, &err);
	if (r == 0)
		r = kmi_endpoint_exists(&ep, NULL, &err);
	kmi_endpoint_close(&ep);
	if (r < 0) {
		/* an empty layout directory also answers "absent" */
		if (kmi_error_code(err) == KMI_ENOTFOUND) {
			fprintf(stderr, "kmodimg exists: %s\n", err->msg);
			kmi_error_free(&err);
			return KMI_EXIT_FAILURE;
		}
		kmi_fail("exists", &err);
		return KMI_EXIT_USAGE;
	}
	if (!eo.registry.quiet)
		fprintf(stderr, "kmodimg exists: %s is %s\n", argv[optind], r ? "present" : "absent");
	return r ? KMI_EXIT_OK : KMI_EXIT_FAILURE;
}

const struct kmi_cmd kmi_cmd_exists = { "exists", run, "tell whether an image exists (0 yes, 1 no, 2 error)" };
