// SPDX-License-Identifier: LGPL-2.1-or-later
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "depmod/depmod-internal.h"
#include "oci/image.h"
#include "tools/common.h"
#include "tools/kmodimg.h"
#include "util/fs.h"
#include "util/lazylib.h"
#include "util/macro.h"
#include "util/xalloc.h"

/* An fd with the blob's bytes: the layout's file, or a download into a temp file. */
static int blob_fd(struct kmi_endpoint *ep, const struct kmi_descriptor *d, int *fd,
		   struct kmi_error **err)
{
	_cleanup_free_ char *tmp = kmi_tmp_template("kmodimg-inspect");
	uint64_t size;
	int r;

	if (ep->layout != NULL)
		return kmi_layout_open_blob(ep->layout, d->digest, fd, &size, err);
	*fd = mkostemp(tmp, O_CLOEXEC);
	if (*fd < 0)
		return kmi_error_set(err, errno, "creating a temp file");
	unlink(tmp);
	r = kmi_registry_get_blob(ep->reg, ep->repo, d->digest, d->size, *fd, err);
	if (r < 0)
		close(*fd);
	else
		lseek(*fd, 0, SEEK_SET);
	return r;
}

/*
 * Adds what a layer holds under .../lib/modules/<kver>/: each kernel version
 * and each module there (by its path below that directory).
 */
static int scan_layer(int fd, const char *digest, json_t *kernels, struct kmi_error **err)
{
	struct archive *a;
	struct archive_entry *e;
	int r, s;

	if ((r = kmi_archive_load(err)) < 0)
		return r;
	a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK) {
		r = kmi_error_set(err, KMI_EFORMAT, "layer %s: %s", digest, archive_error_string(a));
		goto out;
	}
	while ((s = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *path = archive_entry_pathname(e), *lm, *kver, *rest;
		_cleanup_free_ char *k = NULL;
		json_t *list;

		if (path == NULL || (lm = strstr(path, "lib/modules/")) == NULL)
			continue;
		kver = lm + strlen("lib/modules/");
		rest = strchr(kver, '/');
		if (rest == NULL || rest == kver)
			continue;
		k = xstrndup(kver, (size_t)(rest - kver));
		list = json_object_get(kernels, k);
		if (list == NULL) {
			list = json_array();
			json_object_set_new(kernels, k, list);
		}
		if (archive_entry_filetype(e) == AE_IFREG && depmod_ext_ok(rest + 1, strlen(rest + 1)))
			json_array_append_new(list, json_string(rest + 1));
	}
	if (s != ARCHIVE_EOF)
		r = kmi_error_set(err, KMI_EFORMAT, "layer %s: %s", digest, archive_error_string(a));
out:
	archive_read_free(a);
	return r;
}

static int inspect(struct kmi_endpoint *ep, json_t **out, struct kmi_error **err)
{
	struct kmi_manifest_data md;
	struct kmi_manifest m;
	json_t *o, *layers, *kernels;
	int r = kmi_endpoint_get_manifest(ep, NULL, &md, err);

	if (r < 0)
		return r;
	o = json_object();
	json_object_set_new(o, "digest", json_string(md.digest));
	json_object_set_new(o, "mediaType", json_string(md.media_type));
	if ((r = kmi_select_platform(ep, &md, err)) == 0 &&
	    (r = kmi_manifest_parse(md.data, md.len, md.media_type, &m, err)) == 0) {
		if (strcmp(json_string_value(json_object_get(o, "digest")), md.digest) != 0)
			json_object_set_new(o, "platformDigest", json_string(md.digest));
		json_object_set_new(o, "config", json_pack("{s:s,s:s,s:I}", "mediaType", m.config.media_type,
							   "digest", m.config.digest, "size",
							   (json_int_t)m.config.size));
		layers = json_array();
		kernels = json_object();
		for (size_t i = 0; r == 0 && i < m.n_layers; i++) {
			int fd;
			json_array_append_new(layers, json_pack("{s:s,s:s,s:I}", "mediaType",
								m.layers[i].media_type, "digest",
								m.layers[i].digest, "size",
								(json_int_t)m.layers[i].size));
			r = blob_fd(ep, &m.layers[i], &fd, err);
			if (r == 0) {
				r = scan_layer(fd, m.layers[i].digest, kernels, err);
				close(fd);
			}
		}
		json_object_set_new(o, "layers", layers);
		json_object_set_new(o, "annotations", m.annotations ? json_incref(m.annotations) : json_object());
		json_object_set_new(o, "kernels", kernels);
		kmi_manifest_free(&m);
	}
	free(md.data);
	if (r < 0) {
		json_decref(o);
		return r;
	}
	*out = o;
	return 0;
}

static int run(int argc, char *argv[])
{
	struct kmi_endpoint_opts eo = { 0 };
	struct kmi_endpoint ep;
	struct kmi_error *err = NULL;
	json_t *o = NULL;
	int r;

	r = kmi_image_cmd_parse("inspect", "Usage: kmodimg inspect [OPTIONS] REF\n\n"
				"Print an image's digest, media types, layers, annotations, and the\n"
				"kernel versions and modules it holds, as JSON.\n\n" KMI_IMAGE_OPTS_HELP
				"\nExit status: 0 success, 1 failure, 2 usage or access error.\n",
				argc, argv, &eo);
	if (r >= 0)
		return r;
	if (argc - optind != 1)
		return kmi_usage("inspect", "want one REF");
	r = kmi_endpoint_open(argv[optind], &eo, false, &ep, &err);
	if (r == 0)
		r = inspect(&ep, &o, &err);
	kmi_endpoint_close(&ep);
	if (r < 0)
		return kmi_fail("inspect", &err);
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(o);
	return KMI_EXIT_OK;
}

const struct kmi_cmd kmi_cmd_inspect = { "inspect", run, "show an image's manifest, layers, kernels and modules" };
