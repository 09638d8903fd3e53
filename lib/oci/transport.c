// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci/transport.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/xalloc.h"

char *kmi_store_dir(const char *override)
{
	const char *env = getenv("KMODIMG_STORE"), *xdg, *home;

	if (override != NULL)
		return xstrdup(override);
	if (env != NULL && *env != '\0')
		return xstrdup(env);
	if (geteuid() == 0)
		return xstrdup("/var/lib/kmodimg/store");
	xdg = getenv("XDG_DATA_HOME");
	if (xdg != NULL && *xdg == '/')
		return xasprintf("%s/kmodimg/store", xdg);
	home = getenv("HOME");
	return xasprintf("%s/.local/share/kmodimg/store", home ? home : "/tmp");
}

void kmi_endpoint_from_layout(struct kmi_endpoint *ep, struct kmi_layout *layout)
{
	memset(ep, 0, sizeof(*ep));
	ep->ref.kind = KMI_REF_LAYOUT;
	ep->ref.dir = xstrdup(kmi_layout_dir(layout));
	ep->layout = layout;
}

int kmi_endpoint_open(const char *text, const struct kmi_endpoint_opts *o, bool write,
		      struct kmi_endpoint *ep, struct kmi_error **err)
{
	int r;

	memset(ep, 0, sizeof(*ep));
	if ((r = kmi_ref_parse(text, &ep->ref, err)) < 0)
		return r;
	switch (ep->ref.kind) {
	case KMI_REF_REGISTRY:
		ep->repo = ep->ref.repo;
		r = kmi_registry_open(ep->ref.host, &o->registry, &ep->reg, err);
		break;
	case KMI_REF_LAYOUT:
		r = kmi_layout_open(ep->ref.dir, write, &ep->layout, err);
		if (r == 0)
			r = kmi_layout_lock(ep->layout, write, err);
		break;
	case KMI_REF_STORE: {
		_cleanup_free_ char *dir = kmi_store_dir(o->store);
		ep->is_store = true;
		r = kmi_layout_open(dir, true, &ep->layout, err);
		if (r == 0)
			r = kmi_layout_lock(ep->layout, write, err);
		break;
	}
	}
	if (r < 0)
		kmi_endpoint_close(ep);
	return r;
}

void kmi_endpoint_close(struct kmi_endpoint *ep)
{
	kmi_layout_close(ep->layout);
	kmi_registry_close(ep->reg);
	kmi_ref_free(&ep->ref);
	memset(ep, 0, sizeof(*ep));
}

const char *kmi_endpoint_tag(const struct kmi_endpoint *ep)
{
	if (ep->is_store)
		return ep->ref.name;
	return ep->ref.digest && !ep->ref.tag ? NULL : (ep->ref.tag ? ep->ref.tag : "latest");
}

static const char *lookup_name(const struct kmi_endpoint *ep)
{
	if (ep->is_store)
		return ep->ref.digest ? ep->ref.digest : ep->ref.name;
	if (ep->ref.kind == KMI_REF_LAYOUT)
		return ep->ref.digest ? ep->ref.digest : ep->ref.tag; /* NULL: the only image */
	return kmi_ref_ident(&ep->ref);
}

int kmi_endpoint_get_manifest(struct kmi_endpoint *ep, const char *ident,
			      struct kmi_manifest_data *out, struct kmi_error **err)
{
	struct kmi_descriptor d;
	int r;

	memset(out, 0, sizeof(*out));
	if (ep->reg != NULL)
		return kmi_registry_get_manifest(ep->reg, ep->repo, ident ? ident : lookup_name(ep),
						 out, err);
	if (ident != NULL && kmi_digest_valid(ident)) {
		strcpy(out->digest, ident);
	} else {
		if ((r = kmi_layout_resolve(ep->layout, ident ? ident : lookup_name(ep), &d, err)) < 0)
			return r;
		strcpy(out->digest, d.digest);
		snprintf(out->media_type, sizeof(out->media_type), "%s", d.media_type);
		free(d.ref_name);
	}
	r = kmi_layout_read_blob(ep->layout, out->digest, KMI_MANIFEST_BLOB_MAX, &out->data,
				 &out->len, err);
	if (r == 0 && out->media_type[0] == '\0') {
		struct kmi_manifest m;
		if (kmi_manifest_parse(out->data, out->len, NULL, &m, NULL) == 0) {
			strcpy(out->media_type, m.media_type);
			kmi_manifest_free(&m);
		}
	}
	return r;
}

int kmi_endpoint_exists(struct kmi_endpoint *ep, char digest[KMI_DIGEST_LEN],
			struct kmi_error **err)
{
	char got[KMI_DIGEST_LEN] = "";
	struct kmi_descriptor d;
	int r;

	if (ep->reg != NULL) {
		r = kmi_registry_head_manifest(ep->reg, ep->repo, lookup_name(ep), got, err);
	} else if ((r = kmi_layout_resolve(ep->layout, lookup_name(ep), &d, err)) == 0) {
		strcpy(got, d.digest);
		free(d.ref_name);
	}
	if (r < 0 && kmi_error_code(*err) == KMI_ENOTFOUND) {
		kmi_error_free(err);
		return 0;
	}
	if (r == 0 && digest != NULL)
		strcpy(digest, got);
	return r < 0 ? r : 1;
}

/* Blob transfer ------------------------------------------------------------ */

static int has_blob(struct kmi_endpoint *ep, const char *digest, struct kmi_error **err)
{
	if (ep->reg != NULL)
		return kmi_registry_blob_exists(ep->reg, ep->repo, digest, err);
	return kmi_layout_has_blob(ep->layout, digest);
}

/* Writes the blob into fd, checked against its digest. */
static int read_blob_to(struct kmi_endpoint *src, const struct kmi_descriptor *d, int fd,
			struct kmi_error **err)
{
	char buf[1 << 16];
	struct kmi_sha256 h;
	char got[KMI_DIGEST_LEN];
	uint64_t size, done = 0;
	int in, r;

	if (src->reg != NULL)
		return kmi_registry_get_blob(src->reg, src->repo, d->digest, d->size, fd, err);
	if ((r = kmi_layout_open_blob(src->layout, d->digest, &in, &size, err)) < 0)
		return r;
	kmi_sha256_init(&h);
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = kmi_error_set(err, errno, "reading blob %s", d->digest);
			break;
		}
		if ((r = kmi_write_all(fd, buf, (size_t)n)) < 0) {
			r = kmi_error_set(err, -r, "copying blob %s", d->digest);
			break;
		}
		kmi_sha256_update(&h, buf, (size_t)n);
		done += (uint64_t)n;
	}
	close(in);
	if (r < 0) {
		kmi_sha256_free(&h);
		return r;
	}
	kmi_sha256_final(&h, got);
	if (strcmp(got, d->digest) != 0 || done != d->size)
		return kmi_error_set(err, KMI_EDIGEST, "blob %s in `%s` is corrupt (content %s, %llu bytes)",
				     d->digest, kmi_layout_dir(src->layout), got,
				     (unsigned long long)done);
	return 0;
}

static int copy_blob(struct kmi_endpoint *src, struct kmi_endpoint *dst,
		     const struct kmi_descriptor *d, struct kmi_error **err)
{
	_cleanup_free_ char *tmp = NULL;
	int fd, r = has_blob(dst, d->digest, err);

	if (r != 0)
		return r < 0 ? r : 0;
	if (dst->layout != NULL) {
		if ((r = kmi_layout_blob_begin(dst->layout, &fd, &tmp, err)) < 0)
			return r;
		if ((r = read_blob_to(src, d, fd, err)) < 0) {
			kmi_layout_blob_abort(fd, tmp);
			return r;
		}
		return kmi_layout_blob_commit(dst->layout, fd, tmp, d->digest, false, err);
	}
	/* to a registry: from a layout directly, from another registry through a temp file */
	if (src->layout != NULL) {
		uint64_t size;
		if ((r = kmi_layout_open_blob(src->layout, d->digest, &fd, &size, err)) < 0)
			return r;
		r = kmi_registry_push_blob(dst->reg, dst->repo, d->digest, size, fd, err);
		close(fd);
		return r;
	}
	if (strcmp(src->ref.host, dst->ref.host) == 0 &&
	    kmi_registry_mount_blob(dst->reg, dst->repo, d->digest, src->repo, NULL) == 1)
		return 0;
	tmp = kmi_tmp_template("kmodimg-blob");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return kmi_error_set(err, errno, "creating a temp file");
	unlink(tmp);
	r = read_blob_to(src, d, fd, err);
	if (r == 0)
		r = kmi_registry_push_blob(dst->reg, dst->repo, d->digest, d->size, fd, err);
	close(fd);
	return r;
}

static int put_manifest(struct kmi_endpoint *dst, const char *tag,
			const struct kmi_manifest_data *md, struct kmi_error **err)
{
	char digest[KMI_DIGEST_LEN];
	struct kmi_descriptor d = { 0 };
	int r;

	if (dst->reg != NULL)
		return kmi_registry_put_manifest(dst->reg, dst->repo, tag ? tag : md->digest,
						 md->media_type, md->data, md->len, err);
	if ((r = kmi_layout_put_blob(dst->layout, md->data, md->len, digest, err)) < 0)
		return r;
	if (tag == NULL)
		return 0;
	snprintf(d.media_type, sizeof(d.media_type), "%s", md->media_type);
	strcpy(d.digest, digest);
	d.size = md->len;
	return kmi_layout_tag(dst->layout, tag, &d, err);
}

static int copy_manifest(struct kmi_endpoint *src, struct kmi_endpoint *dst,
			 const struct kmi_manifest_data *md, const char *tag, unsigned depth,
			 struct kmi_error **err)
{
	struct kmi_manifest m;
	int r = kmi_manifest_parse(md->data, md->len, md->media_type, &m, err);

	if (r < 0)
		return kmi_error_wrap(err, "manifest %s", md->digest);
	if (m.is_index) {
		for (size_t i = 0; r == 0 && i < m.n_manifests; i++) {
			struct kmi_manifest_data sub;
			if (depth > 4) {
				r = kmi_error_set(err, KMI_EFORMAT, "indexes nested too deep");
				break;
			}
			r = kmi_endpoint_get_manifest(src, m.manifests[i].digest, &sub, err);
			if (r == 0)
				r = copy_manifest(src, dst, &sub, NULL, depth + 1, err);
			free(sub.data);
		}
	} else {
		r = copy_blob(src, dst, &m.config, err);
		for (size_t i = 0; r == 0 && i < m.n_layers; i++)
			r = copy_blob(src, dst, &m.layers[i], err);
	}
	kmi_manifest_free(&m);
	if (r == 0)
		r = put_manifest(dst, tag, md, err);
	return r;
}

int kmi_copy_resolved(struct kmi_endpoint *src, struct kmi_endpoint *dst,
		      const struct kmi_manifest_data *md, const char *tag, struct kmi_error **err)
{
	return copy_manifest(src, dst, md, tag, 0, err);
}

int kmi_copy(struct kmi_endpoint *src, struct kmi_endpoint *dst, char digest[KMI_DIGEST_LEN],
	     struct kmi_error **err)
{
	struct kmi_manifest_data md;
	int r = kmi_endpoint_get_manifest(src, NULL, &md, err);

	if (r < 0)
		return r;
	r = copy_manifest(src, dst, &md, kmi_endpoint_tag(dst), 0, err);
	if (r == 0)
		strcpy(digest, md.digest);
	free(md.data);
	return r;
}

int kmi_select_platform(struct kmi_endpoint *ep, struct kmi_manifest_data *md,
			struct kmi_error **err)
{
	return kmi_select_platform_arch(ep, md, kmi_host_arch(), err);
}

int kmi_select_platform_arch(struct kmi_endpoint *ep, struct kmi_manifest_data *md,
			     const char *arch, struct kmi_error **err)
{
	struct kmi_manifest m;
	_cleanup_free_ char *want = xasprintf("linux/%s", arch);
	int r = kmi_manifest_parse(md->data, md->len, md->media_type, &m, err);

	if (r < 0 || !m.is_index) {
		if (r == 0)
			kmi_manifest_free(&m);
		return r;
	}
	for (size_t i = 0; i < m.n_manifests; i++) {
		struct kmi_manifest_data sub;
		const char *p = m.manifests[i].platform;
		size_t n = strlen(want);
		/* "linux/arm" must not take "linux/arm64": the next character ends the arch */
		if (strncmp(p, want, n) != 0 || (p[n] != '\0' && p[n] != '/'))
			continue;
		r = kmi_endpoint_get_manifest(ep, m.manifests[i].digest, &sub, err);
		kmi_manifest_free(&m);
		if (r < 0)
			return r;
		free(md->data);
		*md = sub;
		return 0;
	}
	kmi_manifest_free(&m);
	return kmi_error_set(err, KMI_ENOTFOUND, "the image index has no %s manifest", want);
}
