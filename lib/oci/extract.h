/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oci/transport.h"
#include "util/digest.h"
#include "util/error.h"

/*
 * Applies image layers, in order, to a directory, treating their content as
 * hostile.
 *
 * Destination: DEST must not exist (the layers are applied in a sibling temp
 * dir, `DEST.kmodimg-tmp-PID-XXXXXX`, renamed to DEST when everything is in
 * place) or be an empty directory (the temp dir is created inside it, e.g. on
 * the same mount, and its entries are moved up at the end).  On any error the
 * temp dir is removed: DEST does not exist, or is still empty.  The temp
 * dir is flock'ed while in use; one left by a killed run (its pid gone, its
 * lock free) is removed by the next extraction into the same directory.
 *
 * Paths: an entry's path is relative; a leading "./", "." components and
 * repeated slashes are dropped; an absolute path, a ".." component, an empty
 * name or one over 255 bytes is refused.  Each parent is opened below the
 * root with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS), or one component at a time with
 * openat(O_NOFOLLOW | O_DIRECTORY) where openat2 is missing; a path through
 * a symlink is an error, never followed.  Missing parents are created (0755).
 *
 * Entries: files are created with O_CREAT | O_EXCL | O_NOFOLLOW; whatever a
 * lower layer (or an earlier entry of the same layer) had at that name is
 * removed first, a directory with its content (a directory entry over an
 * existing directory merges into it).  Symlinks are created verbatim,
 * absolute targets included, and never traversed.  Hardlinks must name a
 * regular file already extracted, below the root and not through a symlink.
 * Device nodes, FIFOs and sockets are refused.
 *
 * Metadata: permission bits are the entry's, masked with 0777 (setuid,
 * setgid and sticky bits dropped); ownership, xattrs and ACLs are not
 * applied (everything belongs to the caller); mtimes are applied to files,
 * symlinks and directories.  The root of a new DEST is 0755.
 *
 * Whiteouts (OCI image spec, layer.md): `.wh.NAME` removes NAME (with its
 * content) as lower layers left it and is not created; `.wh..wh..opq` in a
 * directory removes everything lower layers put there.  Entries of the same
 * layer are never removed by its own whiteouts, whatever their order.
 * A whiteout's path follows the same rules as any entry.
 *
 * Errors name the layer and the entry: "layer sha256:...: entry `../x`: path
 * escapes the root", with KMI_EFORMAT for hostile or malformed content,
 * KMI_EDIGEST for a blob that does not match its digest, KMI_EUSAGE for an
 * unusable DEST, or an errno value.
 */

/* Defaults for struct kmi_extract_limits. */
#define KMI_EXTRACT_MAX_ENTRIES 100000ull
#define KMI_EXTRACT_MAX_TOTAL_SIZE (16ull << 30)
#define KMI_EXTRACT_MAX_FILE_SIZE (4ull << 30)
#define KMI_EXTRACT_MAX_PATH 4096u
#define KMI_EXTRACT_MAX_DEPTH 256u
/* max_depth is clamped to this: removals hold one fd per level. */
#define KMI_EXTRACT_DEPTH_CAP 512u

struct kmi_extract_limits {
	uint64_t max_entries;    /* entries of all layers, whiteouts and implied parents included */
	uint64_t max_total_size; /* regular-file bytes of all layers (declared sizes) */
	uint64_t max_file_size;  /* one regular file */
	size_t max_path;         /* bytes in an entry's path, symlink or hardlink target */
	unsigned max_depth;      /* components of an entry's path */
};

/* Fills in the defaults above. */
void kmi_extract_limits_default(struct kmi_extract_limits *lim);

/* One layer blob, read from fd's current offset. */
struct kmi_extract_layer {
	int fd;
	const char *digest;     /* names the layer in errors; NULL: its number */
	const char *media_type; /* a layer media type; NULL: gzip, zstd or none, as found */
	bool verify;            /* check the blob against digest before using what it holds */
};

/*
 * Gives the layer number `index` (from 0, in order) and returns 1, or returns
 * 0 when there are no more, or a negative value with *err set.  The extractor
 * owns layer->fd from then on (it closes it); the strings must stay valid
 * until the next call.
 */
typedef int kmi_extract_next_fn(void *userdata, size_t index, struct kmi_extract_layer *layer,
				struct kmi_error **err);

/*
 * Applies the layers `next` gives, in order, to dest (see above).  lim NULL
 * means the defaults.  Returns 0, or a negative value with *err set; nothing
 * is left behind on failure.
 */
int kmi_extract_layers(kmi_extract_next_fn *next, void *userdata, const char *dest,
		       const struct kmi_extract_limits *lim, struct kmi_error **err);

/* The same over n open layers; the fds stay the caller's (they are read, not closed). */
int kmi_extract_fds(const struct kmi_extract_layer *layers, size_t n, const char *dest,
		    const struct kmi_extract_limits *lim, struct kmi_error **err);

/*
 * Applies the layers of an image manifest (md: fetched from ep, already
 * resolved to one platform).  Layout blobs are read in place, their digest
 * checked before they are parsed (or while they are read, if they cannot be
 * mapped); registry blobs are downloaded one at a time into an unlinked
 * temp file beside dest, or in it when it is an existing empty directory
 * (the registry client checks their digest).  Every layer's media type is
 * checked before anything is done.
 */
int kmi_extract_manifest(struct kmi_endpoint *ep, const struct kmi_manifest_data *md,
			 const char *dest, const struct kmi_extract_limits *lim,
			 struct kmi_error **err);

/*
 * The image ep names: its manifest (from an index, this host's platform),
 * then kmi_extract_manifest().  digest, when not NULL, receives the digest
 * of the manifest whose layers were applied.
 */
int kmi_extract_image(struct kmi_endpoint *ep, const char *dest,
		      const struct kmi_extract_limits *lim, char digest[KMI_DIGEST_LEN],
		      struct kmi_error **err);

/*
 * Whether `name` in dirfd is the temp dir of an extraction that is over
 * (DEST.kmodimg-tmp-PID-XXXXXX whose pid is gone and whose lock is free).
 */
bool kmi_extract_temp_stale(int dirfd, const char *name);
