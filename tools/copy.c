// SPDX-License-Identifier: LGPL-2.1-or-later
/* copy, push and pull: one transfer between two image references. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common.h"
#include "tools/kmodimg.h"
#include "util/xalloc.h"

#define EXIT_HELP "\nExit status: 0 success, 1 failure, 2 usage or access error.\n"

static int transfer(const char *cmd, const char *from, const char *to,
		    const struct kmi_endpoint_opts *eo)
{
	struct kmi_endpoint src = { 0 }, dst = { 0 };
	struct kmi_error *err = NULL;
	char digest[KMI_DIGEST_LEN];
	int r = kmi_endpoint_open(from, eo, false, &src, &err);

	if (r == 0)
		r = kmi_endpoint_open(to, eo, true, &dst, &err);
	if (r == 0)
		r = kmi_copy(&src, &dst, digest, &err);
	kmi_endpoint_close(&src);
	kmi_endpoint_close(&dst);
	if (r < 0) {
		kmi_error_wrap(&err, "%s to %s", from, to);
		return kmi_fail(cmd, &err);
	}
	printf("%s\n", digest);
	return KMI_EXIT_OK;
}

static int run_copy(int argc, char *argv[])
{
	struct kmi_endpoint_opts eo = { 0 };
	int r = kmi_image_cmd_parse("copy", "Usage: kmodimg copy [OPTIONS] SRC DST\n\n"
			"Copy an image between the store (NAME:TAG), layouts (oci:DIR:TAG) and\n"
			"registries (docker://HOST/REPO:TAG).\n\n" KMI_IMAGE_OPTS_HELP EXIT_HELP,
			argc, argv, &eo);

	if (r >= 0)
		return r;
	if (argc - optind != 2)
		return kmi_usage("copy", "want SRC and DST");
	return transfer("copy", argv[optind], argv[optind + 1], &eo);
}

static int run_push(int argc, char *argv[])
{
	struct kmi_endpoint_opts eo = { 0 };
	struct kmi_ref ref, to;
	struct kmi_error *err = NULL;
	char *dst;
	int r = kmi_image_cmd_parse("push", "Usage: kmodimg push [OPTIONS] NAME [DST]\n\n"
			"Send a stored image to the registry its name points to, or to DST.\n\n"
			KMI_IMAGE_OPTS_HELP EXIT_HELP, argc, argv, &eo);

	if (r >= 0)
		return r;
	if (argc - optind < 1 || argc - optind > 2)
		return kmi_usage("push", "want NAME and optionally DST");
	if (argc - optind == 2)
		return transfer("push", argv[optind], argv[optind + 1], &eo);
	if (kmi_ref_parse(argv[optind], &ref, &err) == 0 && ref.kind != KMI_REF_STORE) {
		kmi_ref_free(&ref);
		return kmi_usage("push", "without DST, push takes a store name (HOST/REPO:TAG)");
	}
	if (err != NULL || kmi_ref_store_to_registry(&ref, &to, &err) < 0) {
		kmi_ref_free(&ref);
		return kmi_fail("push", &err);
	}
	dst = kmi_ref_format(&to);
	r = transfer("push", argv[optind], dst, &eo);
	free(dst);
	kmi_ref_free(&ref);
	kmi_ref_free(&to);
	return r;
}

static int run_pull(int argc, char *argv[])
{
	struct kmi_endpoint_opts eo = { 0 };
	struct kmi_ref ref;
	struct kmi_error *err = NULL;
	char *name;
	int r = kmi_image_cmd_parse("pull", "Usage: kmodimg pull [OPTIONS] REF\n\n"
			"Fetch an image into the local store, named as in REF (HOST/REPO:TAG).\n\n"
			KMI_IMAGE_OPTS_HELP EXIT_HELP, argc, argv, &eo);

	if (r >= 0)
		return r;
	if (argc - optind != 1)
		return kmi_usage("pull", "want one REF");
	if (kmi_ref_parse(argv[optind], &ref, &err) < 0)
		return kmi_fail("pull", &err);
	if (ref.kind != KMI_REF_REGISTRY) {
		kmi_ref_free(&ref);
		return kmi_usage("pull", "pull takes a docker://HOST/REPO:TAG reference");
	}
	name = ref.digest ? xasprintf("%s/%s@%s", ref.host, ref.repo, ref.digest)
			  : xasprintf("%s/%s:%s", ref.host, ref.repo, ref.tag ? ref.tag : "latest");
	r = transfer("pull", argv[optind], name, &eo);
	free(name);
	kmi_ref_free(&ref);
	return r;
}

const struct kmi_cmd kmi_cmd_copy = { "copy", run_copy, "copy an image between store, layouts and registries" };
const struct kmi_cmd kmi_cmd_push = { "push", run_push, "send a stored image to a registry" };
const struct kmi_cmd kmi_cmd_pull = { "pull", run_pull, "fetch an image into the local store" };
