/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "util/error.h"

/*
 * Image references, as skopeo and podman users write them:
 *   oci:DIR[:REF]                      an OCI image layout (REF: a tag, or the only image)
 *   docker://HOST[:PORT]/REPO[:TAG]    a registry; or ...@sha256:<hex>
 *   NAME[:TAG] / NAME@sha256:<hex>     the local store (NAME may start with a registry host)
 */
enum kmi_ref_kind {
	KMI_REF_STORE,
	KMI_REF_LAYOUT,
	KMI_REF_REGISTRY,
};

struct kmi_ref {
	enum kmi_ref_kind kind;
	char *dir;    /* LAYOUT: the directory */
	char *name;   /* STORE: the name as given, normalised "NAME:TAG" or "NAME@digest" */
	char *host;   /* REGISTRY (and STORE names that start with one): "host[:port]" */
	char *repo;   /* REGISTRY: repository path */
	char *tag;    /* tag, or NULL */
	char *digest; /* "sha256:..." or NULL */
};

int kmi_ref_parse(const char *text, struct kmi_ref *ref, struct kmi_error **err);
void kmi_ref_free(struct kmi_ref *ref);
/* The tag or digest to look up: digest if any, else tag, else "latest". */
const char *kmi_ref_ident(const struct kmi_ref *ref);
/*
 * For a store name with a registry host ("127.0.0.1:5000/kmod/foo:v1"): the
 * registry reference it points to.  Fails for names without a host.
 */
int kmi_ref_store_to_registry(const struct kmi_ref *store, struct kmi_ref *out,
			      struct kmi_error **err);
/* "docker://host/repo:tag", "oci:dir:tag", or the store name: for messages. */
char *kmi_ref_format(const struct kmi_ref *ref);
