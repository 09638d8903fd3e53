// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A Dockerfile build from start to end: buildah into a scratch directory,
 * the check, then the copy to REF by kmodimg's own transports (store,
 * layout, registry: TLS, auth and retries as for every image command).
 * Only a checked image reaches REF; the scratch directory always goes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile.h"
#include "oci/transport.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"

static int copy_out(const char *work, struct kmi_endpoint *dst, char digest[KMI_DIGEST_LEN],
		    struct kmi_error **err)
{
	_cleanup_free_ char *dir = xasprintf("%s/oci", work);
	struct kmi_layout *layout = NULL;
	struct kmi_endpoint src;
	struct kmi_manifest_data md = { 0 };
	int r = kmi_layout_open(dir, false, &layout, err);

	if (r < 0)
		return r;
	kmi_endpoint_from_layout(&src, layout);
	r = kmi_endpoint_get_manifest(&src, KMI_DOCKERFILE_TAG, &md, err);
	if (r == 0)
		r = kmi_copy_resolved(&src, dst, &md,
				      dst->reg ? kmi_ref_ident(&dst->ref) : kmi_endpoint_tag(dst), err);
	if (r == 0)
		strcpy(digest, md.digest);
	free(md.data);
	src.layout = NULL;
	kmi_endpoint_close(&src);
	kmi_layout_close(layout);
	return r;
}

int kmi_dockerfile_run(const struct kmi_dockerfile_opts *o, const char *ref,
		       const struct kmi_endpoint_opts *eo, char digest[KMI_DIGEST_LEN],
		       struct kmi_error **err)
{
	_cleanup_free_ char *work = kmi_tmp_template("kmodimg-dockerfile");
	struct kmi_endpoint dst;
	int r;

	if (mkdtemp(work) == NULL)
		return kmi_error_set(err, errno, "creating a scratch directory");
	r = kmi_dockerfile_build(o, work, err);
	if (r == 0)
		r = kmi_dockerfile_check_image(o, work, err);
	if (r >= 0 && !o->quiet)
		fprintf(stderr, "%s: %d module%s in %s/lib/modules/%s/\n", o->who ? o->who : "kmodimg",
			r, r == 1 ? "" : "s",
			streq(o->prefix, "/") ? "" : o->prefix, o->kver);
	/* the destination is opened (a store locked) only once there is something to copy */
	if (r >= 0 && (r = kmi_endpoint_open(ref, eo, true, &dst, err)) == 0) {
		r = copy_out(work, &dst, digest, err);
		kmi_endpoint_close(&dst);
	}
	if (kmi_rm_rf(work) < 0)
		kmi_warn("could not remove %s\n", work);
	return r < 0 ? r : 0;
}
