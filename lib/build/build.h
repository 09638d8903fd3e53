/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "oci/layer.h"
#include "oci/layout.h"
#include "util/error.h"

/* What `kmodimg build` turns into an image: see kmodimg-build(1). */
struct kmi_build_opts {
	const char *kver;
	const char *prefix;         /* "/opt" by default */
	const char *subdir;         /* under <prefix>/lib/modules/<kver>/, or NULL */
	const char *in_tree_link;   /* e.g. "host", or NULL */
	const char *kernel_tree;    /* the <kver> directory depmod resolves the link in */
	const char *firmware;       /* directory copied to /lib/firmware, or NULL */
	const char *const *labels;  /* "K=V" strings, NULL-terminated, or NULL */
	const char *const *paths;   /* modules and directories, NULL-terminated */
	enum kmi_compression compression;
	bool force;                 /* accept a vermagic release other than kver */
	int64_t mtime;              /* SOURCE_DATE_EPOCH, or 0 */
	/* A base image already in `layout` (manifest descriptor), or NULL. */
	const struct kmi_descriptor *base;
	/*
	 * Or a base fetched once the modules' OCI architecture is known (an
	 * index must give that platform, not the build host's): puts the base
	 * into layout and describes its manifest in out.
	 */
	int (*fetch_base)(void *ctx, const char *arch, struct kmi_layout *layout,
			  struct kmi_descriptor *out, struct kmi_error **err);
	void *fetch_base_ctx;
};

struct kmi_build_result {
	struct kmi_descriptor manifest;
	size_t n_modules;
};

/*
 * Builds the image into `layout` (blobs only: the caller tags it).  Warnings
 * (unresolvable dependencies, no base) go to the log; errors name the module
 * or path at fault.
 */
int kmi_build(const struct kmi_build_opts *o, struct kmi_layout *layout,
	      struct kmi_build_result *res, struct kmi_error **err);
