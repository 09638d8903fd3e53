/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "oci/image.h"
#include "oci/layout.h"
#include "oci/ref.h"
#include "registry/registry.h"

/*
 * One end of an image transfer: the local store, an OCI layout or a registry
 * repository, behind one set of calls, so that build, push, pull and copy
 * are the same code whatever the two ends are.
 */
struct kmi_upload_pool;

struct kmi_endpoint {
	struct kmi_ref ref;
	struct kmi_layout *layout;   /* store or oci: */
	struct kmi_registry *reg;    /* docker:// */
	const char *repo;
	bool is_store;
	struct kmi_upload_pool *uploads; /* sessions kmi_endpoint_prepare_push() opened */
};

struct kmi_endpoint_opts {
	const char *store;                   /* store directory; NULL: the default */
	struct kmi_registry_opts registry;
};

/* The store directory: --store, $KMODIMG_STORE, /var/lib/kmodimg/store (root) or $XDG_DATA_HOME. */
char *kmi_store_dir(const char *override);

int kmi_endpoint_open(const char *text, const struct kmi_endpoint_opts *o, bool write,
		      struct kmi_endpoint *ep, struct kmi_error **err);
void kmi_endpoint_close(struct kmi_endpoint *ep);
/* The name under which an image is tagged in a layout endpoint. */
const char *kmi_endpoint_tag(const struct kmi_endpoint *ep);

/*
 * For a registry endpoint about to receive an image: settles the connection
 * (scheme, token) and opens up to n upload sessions now, which the next
 * copies into ep use.  Meant to run on another thread while the caller
 * builds what it will push, so that those round trips cost no time.  Best
 * effort: nothing is retried, warned or reported, since the push that
 * follows meets any failure again and reports it.  Does nothing for a
 * layout; sessions left unused are ended by kmi_endpoint_close().
 */
void kmi_endpoint_prepare_push(struct kmi_endpoint *ep, unsigned n);

/* Stops kmi_endpoint_prepare_push() running on another thread (see kmi_registry_cancel()). */
void kmi_endpoint_cancel(struct kmi_endpoint *ep);

/* Fetches the manifest (or index) the reference names. */
int kmi_endpoint_get_manifest(struct kmi_endpoint *ep, const char *ident,
			      struct kmi_manifest_data *out, struct kmi_error **err);
/*
 * 1 present (digest filled if not NULL; empty if a registry did not say),
 * 0 absent (the registry or store said so), negative on any other failure.
 */
int kmi_endpoint_exists(struct kmi_endpoint *ep, char digest[KMI_DIGEST_LEN],
			struct kmi_error **err);

/*
 * Copies the image `src` names into `dst` under dst's tag: blobs the
 * destination lacks are transferred (each digest-checked), then the manifest.
 * Indexes are copied whole.  Returns the manifest digest.
 */
int kmi_copy(struct kmi_endpoint *src, struct kmi_endpoint *dst, char digest[KMI_DIGEST_LEN],
	     struct kmi_error **err);
/* Copies one manifest already fetched, with its blobs; tags it when tag is not NULL. */
int kmi_copy_resolved(struct kmi_endpoint *src, struct kmi_endpoint *dst,
		      const struct kmi_manifest_data *md, const char *tag, struct kmi_error **err);
/* An endpoint over an open layout (not owned: detach ep->layout before closing). */
void kmi_endpoint_from_layout(struct kmi_endpoint *ep, struct kmi_layout *layout);
/* Picks this host's platform from an index, or returns the manifest itself. */
int kmi_select_platform(struct kmi_endpoint *ep, struct kmi_manifest_data *md,
			struct kmi_error **err);
/* The same for the OCI architecture arch ("amd64", "arm64", ...). */
int kmi_select_platform_arch(struct kmi_endpoint *ep, struct kmi_manifest_data *md,
			     const char *arch, struct kmi_error **err);
