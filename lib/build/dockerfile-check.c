// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The check after a Dockerfile build: the image is unpacked (by the safe
 * extractor: its content is the Dockerfile's, as untrusted as any layer)
 * and looked at where KMM's worker will look, <dirName>/lib/modules/<kver>/,
 * by kmodimg verify's checks of the image alone (layout, depmod output).
 * No module there is an error, so a broken image is never pushed.  depmod
 * output that is missing or stale (the classic slip is `RUN depmod -b /opt`
 * without a version, which indexes the build machine's kernel) is a
 * warning saying what to put in the Dockerfile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build/dockerfile.h"
#include "oci/extract.h"
#include "oci/transport.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "verify/imagecheck.h"

static int unpack(const char *work, const char *rootfs, struct kmi_error **err)
{
	_cleanup_free_ char *dir = xasprintf("%s/oci", work);
	struct kmi_layout *layout = NULL;
	struct kmi_endpoint ep;
	struct kmi_manifest_data md = { 0 };
	int r = kmi_layout_open(dir, false, &layout, err);

	if (r < 0)
		return kmi_error_wrap(err, "the image buildah wrote");
	kmi_endpoint_from_layout(&ep, layout);
	r = kmi_endpoint_get_manifest(&ep, KMI_DOCKERFILE_TAG, &md, err);
	if (r == 0)
		r = kmi_extract_manifest(&ep, &md, rootfs, NULL, err);
	free(md.data);
	ep.layout = NULL;
	kmi_endpoint_close(&ep);
	kmi_layout_close(layout);
	return r < 0 ? kmi_error_wrap(err, "unpacking the built image") : 0;
}

/* Where the in-tree link leads while depmod runs again: the tree the build saw. */
static char *host_tree(const struct kmi_dockerfile_opts *o)
{
	const char *hm = o->host_modules ? o->host_modules : "/lib/modules";
	_cleanup_free_ char *abs = realpath(hm, NULL);

	return xasprintf("%s/%s", abs ? abs : hm, o->kver);
}

static const struct kmi_finding *first_finding(const struct kmi_report *rep, const char *check,
					       enum kmi_severity sev)
{
	for (size_t i = 0; i < rep->n; i++)
		if (streq(rep->f[i].check, check) && rep->f[i].sev == sev)
			return &rep->f[i];
	return NULL;
}

/* A layout error fails the build, naming the kernels the image has instead. */
static int layout_error(const struct kmi_report *rep, const char *prefix, struct kmi_error **err)
{
	const struct kmi_finding *bad = first_finding(rep, "layout", KMI_SEV_ERROR);
	const struct kmi_finding *other = first_finding(rep, "layout", KMI_SEV_INFO);

	if (bad == NULL)
		return 0;
	return kmi_error_set(err, KMI_EFORMAT,
			     "%s%s%s; the Dockerfile must copy the modules to "
			     "%s/lib/modules/${KERNEL_FULL_VERSION}/ (where KMM's worker looks for "
			     "them: --prefix is its dirName)",
			     bad->message, other ? "; " : "", other ? other->message : "", prefix);
}

/* Evidence worth printing: verify's evidence of a missing file is its path, named already. */
static const char *evidence(const struct kmi_report *rep, const struct kmi_finding *f)
{
	size_t n = strlen(rep->moddir);

	if (f->evidence == NULL || (strncmp(f->evidence, rep->moddir, n) == 0 && f->evidence[n] == '/'))
		return NULL;
	return f->evidence;
}

/* The first depmod finding with its evidence and fix, the others named in one more line. */
static void depmod_warnings(const struct kmi_report *rep)
{
	const struct kmi_finding *first = NULL;
	struct kmi_buf more = { 0 };
	const char *ev;

	for (size_t i = 0; i < rep->n; i++) {
		if (!streq(rep->f[i].check, "depmod"))
			continue;
		if (first == NULL)
			first = &rep->f[i];
		else
			kmi_buf_printf(&more, "%s%s", more.len ? "; " : "", rep->f[i].message);
	}
	if (first == NULL)
		return;
	ev = evidence(rep, first);
	kmi_warn("%s: %s%s%s%s%s%s\n", rep->moddir, first->message, ev ? " (" : "", ev ? ev : "",
		 ev ? ")" : "", first->fix ? "; " : "", first->fix ? first->fix : "");
	if (more.len) {
		kmi_buf_putc(&more, '\0');
		kmi_warn("%s: also %s\n", rep->moddir, more.data);
	}
	kmi_buf_free(&more);
}

int kmi_dockerfile_check_image(const struct kmi_dockerfile_opts *o, const char *work,
			       struct kmi_error **err)
{
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", work);
	_cleanup_free_ char *tree = host_tree(o);
	const char *prefix = streq(o->prefix, "/") ? "" : o->prefix;
	_cleanup_free_ char *fix = xasprintf("add `RUN depmod -b %s ${KERNEL_FULL_VERSION}` to the "
					     "Dockerfile after the modules are copied in (without the "
					     "version, depmod indexes the build machine's kernel)",
					     o->prefix);
	struct kmi_verify_opts vo = { .kver = o->kver, .root = rootfs, .dir_name = prefix,
				      .kernel_tree = tree, .scratch = work };
	struct kmi_report rep = { 0 };
	size_t n;
	int r;

	if ((r = unpack(work, rootfs, err)) < 0)
		return r;
	n = kmi_verify_image_alone(&vo, fix, &rep);
	if ((r = layout_error(&rep, prefix, err)) == 0)
		depmod_warnings(&rep);
	kmi_report_free(&rep);
	return r < 0 ? r : (int)n;
}
