/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "oci/image.h"
#include "oci/layout.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strmap.h"

/*
 * The symlinks of a base image's filesystem (its layers applied in order,
 * whiteouts included), so that the modules layer puts its files where a
 * runtime resolving paths inside the root would find them: with a
 * merged-/usr base (`lib -> usr/lib`), /lib/firmware/x.bin goes in as
 * usr/lib/firmware/x.bin, as `COPY` in a Dockerfile would place it; a
 * `lib/` directory entry would otherwise replace the base's symlink.
 */
struct kmi_basefs {
	struct kmi_strmap links; /* path -> target, keys and values in arena */
	struct kmi_arena arena;
};

int kmi_basefs_load(struct kmi_layout *layout, const struct kmi_manifest *base,
		    struct kmi_basefs *out, struct kmi_error **err);
void kmi_basefs_free(struct kmi_basefs *fs);

/*
 * path (relative, normalised) with its symlinked directories resolved
 * inside the root; the last component too when `whole`.  Malloc'ed; NULL
 * if the links loop (more than 40 hops).
 */
char *kmi_basefs_resolve(const struct kmi_basefs *fs, const char *path, bool whole);
