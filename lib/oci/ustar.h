/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * Plain ustar headers for the common case of layer entries: ASCII names that
 * fit the name and prefix fields, link targets of at most 100 bytes, sizes
 * below 8 GiB and mtimes from 1970 to 2038.  For those, the bytes are the ones
 * libarchive's pax-restricted writer produces (tests/unit/test-ustar.c
 * compares them), so a layer has the same digest whichever writes it; any
 * other entry makes layer.c hand the whole layer to libarchive.  Loading
 * libarchive (libxml2, ICU, libstdc++) costs more than writing a small
 * image's whole layer.
 */
#define KMI_USTAR_BLOCK 512
#define KMI_USTAR_RECORD 10240 /* GNU tar's and libarchive's default blocking */

enum kmi_ustar_type {
	KMI_USTAR_FILE = '0',
	KMI_USTAR_SYMLINK = '2',
	KMI_USTAR_DIR = '5',
};

struct kmi_ustar_entry {
	const char *name;   /* as stored: a directory's ends with '/' */
	enum kmi_ustar_type type;
	unsigned perm;      /* 07777 bits */
	uint64_t size;
	int64_t mtime;
	const char *target; /* SYMLINK */
};

/* True when the header below holds the entry whole. */
bool kmi_ustar_fits(const struct kmi_ustar_entry *e);
/* The 512-byte header of an entry kmi_ustar_fits() accepts; uid/gid 0, no user names. */
void kmi_ustar_header(const struct kmi_ustar_entry *e, unsigned char hdr[KMI_USTAR_BLOCK]);
