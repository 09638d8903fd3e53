/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/digest.h"
#include "util/error.h"

/*
 * Deterministic image layers: the same entries and options give the same
 * bytes, whatever the machine, the file mtimes, owners, umask or the number
 * of threads.  Entries are written sorted by path (bytewise), with uid/gid 0,
 * empty user and group names, the given mtime, normalised modes, and no
 * atime/ctime or other varying extended headers.
 */
enum kmi_compression {
	KMI_COMPRESS_GZIP,
	KMI_COMPRESS_ZSTD,
	KMI_COMPRESS_NONE,
};

enum kmi_entry_type {
	KMI_ENTRY_FILE,
	KMI_ENTRY_DIR,
	KMI_ENTRY_SYMLINK,
};

struct kmi_layer_entry {
	const char *path;    /* inside the image, relative: "opt/lib/modules/6.1.0-56-amd64/extra/a.ko" */
	enum kmi_entry_type type;
	unsigned mode;       /* permission bits: 0644 / 0755 for files, 0755 for dirs */
	const char *source;  /* FILE: host file to copy, or NULL to use data/size */
	const void *data;
	size_t size;
	const char *target;  /* SYMLINK: the link text, verbatim (absolute targets allowed) */
};

struct kmi_layer_opts {
	enum kmi_compression compression;
	int level;        /* 0: the default of the compressor (gzip 6, zstd 3) */
	unsigned threads; /* 0: one per CPU; never changes the output bytes */
	int64_t mtime;    /* for every entry: SOURCE_DATE_EPOCH or 0 */
};

struct kmi_layer_result {
	char digest[KMI_DIGEST_LEN];  /* sha256 of the blob as written */
	char diff_id[KMI_DIGEST_LEN]; /* sha256 of the uncompressed tar */
	uint64_t size;                /* bytes written */
	const char *media_type;       /* application/vnd.oci.image.layer.v1.tar[+gzip|+zstd] */
};

/*
 * Writes the layer to out_fd (from its current position).  Entries need not
 * be sorted; duplicates or unsafe paths ("..", absolute) are an error.
 */
int kmi_layer_write(const struct kmi_layer_entry *entries, size_t n,
		    const struct kmi_layer_opts *opts, int out_fd, struct kmi_layer_result *res,
		    struct kmi_error **err);
