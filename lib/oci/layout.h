/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/digest.h"
#include "util/error.h"

/*
 * An OCI image layout directory (oci-layout, index.json, blobs/sha256/...):
 * the local store and `oci:DIR` references alike.  Blobs are written to a
 * temp file beside their final name, synced and renamed; index.json is
 * replaced the same way.  A lock file serialises writers across processes
 * (flock: shared for readers, exclusive for writers).
 */
#define KMI_REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"

struct kmi_descriptor {
	char media_type[128];
	char digest[KMI_DIGEST_LEN];
	uint64_t size;
	char *ref_name;       /* index.json entries: the ref.name annotation, or NULL */
	char platform[64];    /* index entries: "os/arch[/variant]", or "" */
};

struct kmi_layout;

int kmi_layout_open(const char *dir, bool create, struct kmi_layout **out, struct kmi_error **err);
void kmi_layout_close(struct kmi_layout *l);
const char *kmi_layout_dir(const struct kmi_layout *l);
/* A temp layout (build-and-push), created in DIR: no write is synced. */
int kmi_layout_open_scratch(const char *dir, struct kmi_layout **out, struct kmi_error **err);
/* Blocks until the lock is held; released by kmi_layout_close(). */
int kmi_layout_lock(struct kmi_layout *l, bool exclusive, struct kmi_error **err);

bool kmi_layout_has_blob(struct kmi_layout *l, const char *digest);
char *kmi_layout_blob_path(struct kmi_layout *l, const char *digest);
/* Small blobs (manifests, configs): written from memory; digest computed. */
int kmi_layout_put_blob(struct kmi_layout *l, const void *data, size_t len,
			char digest[KMI_DIGEST_LEN], struct kmi_error **err);
/*
 * Large blobs: a temp file in the layout to write to, then commit under its
 * digest (checked by hashing the file when verify is set) or abort.
 */
int kmi_layout_blob_begin(struct kmi_layout *l, int *fd, char **tmp_path, struct kmi_error **err);
int kmi_layout_blob_commit(struct kmi_layout *l, int fd, const char *tmp_path, const char *digest,
			   bool verify, struct kmi_error **err);
void kmi_layout_blob_abort(int fd, const char *tmp_path);
/* Reads a blob whole (at most max bytes) and checks its digest. */
int kmi_layout_read_blob(struct kmi_layout *l, const char *digest, size_t max, char **data,
			 size_t *len, struct kmi_error **err);
int kmi_layout_open_blob(struct kmi_layout *l, const char *digest, int *fd, uint64_t *size,
			 struct kmi_error **err);

/* index.json ------------------------------------------------------------- */
int kmi_layout_list(struct kmi_layout *l, struct kmi_descriptor **out, size_t *n,
		    struct kmi_error **err);
void kmi_descriptors_free(struct kmi_descriptor *d, size_t n);
/*
 * The manifest tagged `name`; with name NULL, the only one there is.  A
 * "sha256:..." name finds the manifest with that digest.
 */
int kmi_layout_resolve(struct kmi_layout *l, const char *name, struct kmi_descriptor *out,
		       struct kmi_error **err);
/*
 * A text that changes whenever index.json does (device, inode, size, times),
 * for callers that remember what a name resolved to; false when index.json
 * changed too recently for its times to tell a later change apart.
 */
bool kmi_layout_index_stamp(struct kmi_layout *l, char *out, size_t n);
/* Points `name` at desc (replacing what it named before). */
int kmi_layout_tag(struct kmi_layout *l, const char *name, const struct kmi_descriptor *desc,
		   struct kmi_error **err);
int kmi_layout_untag(struct kmi_layout *l, const char *name, struct kmi_error **err);
/* Removes blobs that no index.json entry reaches; returns how many. */
int kmi_layout_gc(struct kmi_layout *l, struct kmi_error **err);
