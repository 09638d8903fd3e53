// SPDX-License-Identifier: LGPL-2.1-or-later
/* images and rmi: what the local store holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/image.h"
#include "tools/common.h"
#include "tools/kmodimg.h"

#define STORE_HELP                                                                         \
	"\n      --store=DIR  the local store\n"                                         \
	"\nExit status: 0 success, 1 failure, 2 usage error.\n"

static int open_store(const struct kmi_endpoint_opts *eo, bool write, struct kmi_layout **l,
		      struct kmi_error **err)
{
	char *dir = kmi_store_dir(eo->store);
	int r = kmi_layout_open(dir, true, l, err);

	free(dir);
	if (r == 0 && (r = kmi_layout_lock(*l, write, err)) < 0)
		kmi_layout_close(*l);
	return r;
}

/* The kernel version annotation of a stored image, or "-", and its size in bytes. */
static char *kernel_of(struct kmi_layout *l, const struct kmi_descriptor *d, uint64_t *size)
{
	struct kmi_manifest m;
	char *data, *k = NULL;
	size_t len;

	*size = d->size;
	if (kmi_layout_read_blob(l, d->digest, KMI_MANIFEST_BLOB_MAX, &data, &len, NULL) < 0)
		return strdup("-");
	if (kmi_manifest_parse(data, len, d->media_type, &m, NULL) == 0) {
		const char *v = json_string_value(json_object_get(m.annotations, KMI_ANN_KERNEL));
		k = v ? strdup(v) : NULL;
		*size += m.config.size;
		for (size_t i = 0; i < m.n_layers; i++)
			*size += m.layers[i].size;
		kmi_manifest_free(&m);
	}
	free(data);
	return k ? k : strdup("-");
}

static int run_images(int argc, char *argv[])
{
	struct kmi_endpoint_opts eo = { 0 };
	struct kmi_layout *l;
	struct kmi_descriptor *d;
	struct kmi_error *err = NULL;
	size_t n;
	int r = kmi_image_cmd_parse("images", "Usage: kmodimg images [--store DIR]\n\n"
			"List the images in the local store.\n" STORE_HELP, argc, argv, &eo);

	if (r >= 0)
		return r;
	if (optind != argc)
		return kmi_usage("images", "takes no arguments");
	if (open_store(&eo, false, &l, &err) < 0 || kmi_layout_list(l, &d, &n, &err) < 0)
		return kmi_fail("images", &err);
	printf("%-40s %-19s %-24s %s\n", "NAME", "DIGEST", "KERNEL", "SIZE");
	for (size_t i = 0; i < n; i++) {
		uint64_t size;
		char *k = kernel_of(l, &d[i], &size);
		printf("%-40s %.19s %-24s %llu\n", d[i].ref_name ? d[i].ref_name : "<none>",
		       d[i].digest, k, (unsigned long long)size);
		free(k);
	}
	kmi_descriptors_free(d, n);
	kmi_layout_close(l);
	return KMI_EXIT_OK;
}

static int run_rmi(int argc, char *argv[])
{
	struct kmi_endpoint_opts eo = { 0 };
	struct kmi_layout *l;
	struct kmi_error *err = NULL;
	int r = kmi_image_cmd_parse("rmi", "Usage: kmodimg rmi [--store DIR] NAME...\n\n"
			"Remove images from the local store, and the blobs no other image uses.\n"
			STORE_HELP, argc, argv, &eo);

	if (r >= 0)
		return r;
	if (optind == argc)
		return kmi_usage("rmi", "want at least one NAME");
	if (open_store(&eo, true, &l, &err) < 0)
		return kmi_fail("rmi", &err);
	for (int i = optind; i < argc && r < 0; i++) {
		struct kmi_ref ref;
		r = kmi_ref_parse(argv[i], &ref, &err);
		if (r == 0 && ref.kind != KMI_REF_STORE)
			r = kmi_error_set(&err, KMI_EUSAGE, "`%s` is not a store name", argv[i]);
		if (r == 0)
			r = kmi_layout_untag(l, ref.name, &err);
		kmi_ref_free(&ref);
		if (r < 0)
			break;
		r = -1; /* keep going */
	}
	if (err != NULL) {
		kmi_layout_close(l);
		return kmi_fail("rmi", &err);
	}
	r = kmi_layout_gc(l, &err);
	kmi_layout_close(l);
	if (r < 0)
		return kmi_fail("rmi", &err);
	return KMI_EXIT_OK;
}

const struct kmi_cmd kmi_cmd_images = { "images", run_images, "list the images in the local store" };
const struct kmi_cmd kmi_cmd_rmi = { "rmi", run_rmi, "remove images from the local store" };
