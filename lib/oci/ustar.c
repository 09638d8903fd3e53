// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The header fields as libarchive writes them in ustar headers: numbers in
 * octal with leading zeros, the 8-byte ones ended by " \0", size and mtime
 * by " ", the checksum by "\0 ".  A name longer than 100 bytes is cut at
 * the first '/' that leaves at most 100 bytes after it, the part before
 * going to the prefix field (at most 155).  What plain ustar cannot hold
 * (libarchive then adds a pax header) is left to libarchive.
 */
#include <stdio.h>
#include <string.h>

#include "oci/ustar.h"

#define NAME_MAX_LEN 100
#define PREFIX_MAX_LEN 155
#define OCTAL11_MAX 077777777777ull
/* libarchive adds a pax mtime from 2^31 - 1 on */
#define MTIME_LIMIT 0x7fffffffll

enum {
	OFF_NAME = 0,
	OFF_MODE = 100,
	OFF_UID = 108,
	OFF_GID = 116,
	OFF_SIZE = 124,
	OFF_MTIME = 136,
	OFF_CHKSUM = 148,
	OFF_TYPE = 156,
	OFF_LINK = 157,
	OFF_MAGIC = 257,
	OFF_VERSION = 263,
	OFF_DEVMAJOR = 329,
	OFF_DEVMINOR = 337,
	OFF_PREFIX = 345,
};

static bool ascii(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

/* Where the name splits into prefix and name, or NULL when it does not fit. */
static const char *split_point(const char *name, size_t len)
{
	const char *slash;

	if (len <= NAME_MAX_LEN)
		return name; /* no prefix */
	slash = strchr(name + len - NAME_MAX_LEN - 1, '/');
	if (slash == NULL || slash == name || slash[1] == '\0' ||
	    (size_t)(slash - name) > PREFIX_MAX_LEN)
		return NULL;
	return slash;
}

bool kmi_ustar_fits(const struct kmi_ustar_entry *e)
{
	size_t len = strlen(e->name);

	if (len == 0 || !ascii(e->name) || split_point(e->name, len) == NULL)
		return false;
	if ((e->type == KMI_USTAR_FILE && e->size > OCTAL11_MAX) || e->mtime < 0 ||
	    e->mtime >= MTIME_LIMIT)
		return false;
	if (e->type == KMI_USTAR_SYMLINK &&
	    (e->target == NULL || !ascii(e->target) || strlen(e->target) > NAME_MAX_LEN))
		return false;
	return true;
}

static void octal(unsigned char *field, int digits, uint64_t v, const char *end)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%0*llo%s", digits, (unsigned long long)v, end);
	memcpy(field, buf, (size_t)digits + strlen(end));
}

void kmi_ustar_header(const struct kmi_ustar_entry *e, unsigned char hdr[KMI_USTAR_BLOCK])
{
	size_t len = strlen(e->name);
	const char *split = split_point(e->name, len);
	unsigned sum = 0;

	memset(hdr, 0, KMI_USTAR_BLOCK);
	if (split == e->name) {
		memcpy(hdr + OFF_NAME, e->name, len);
	} else {
		memcpy(hdr + OFF_PREFIX, e->name, (size_t)(split - e->name));
		memcpy(hdr + OFF_NAME, split + 1, len - (size_t)(split - e->name) - 1);
	}
	octal(hdr + OFF_MODE, 6, e->perm & 07777, " ");
	octal(hdr + OFF_UID, 6, 0, " ");
	octal(hdr + OFF_GID, 6, 0, " ");
	octal(hdr + OFF_SIZE, 11, e->type == KMI_USTAR_FILE ? e->size : 0, " ");
	octal(hdr + OFF_MTIME, 11, (uint64_t)e->mtime, " ");
	hdr[OFF_TYPE] = (unsigned char)e->type;
	if (e->type == KMI_USTAR_SYMLINK)
		memcpy(hdr + OFF_LINK, e->target, strlen(e->target));
	memcpy(hdr + OFF_MAGIC, "ustar", 6);
	memcpy(hdr + OFF_VERSION, "00", 2);
	octal(hdr + OFF_DEVMAJOR, 6, 0, " ");
	octal(hdr + OFF_DEVMINOR, 6, 0, " ");
	/* the checksum counts its own field as spaces */
	memset(hdr + OFF_CHKSUM, ' ', 8);
	for (size_t i = 0; i < KMI_USTAR_BLOCK; i++)
		sum += hdr[i];
	octal(hdr + OFF_CHKSUM, 6, sum, "");
	hdr[OFF_CHKSUM + 6] = '\0';
	hdr[OFF_CHKSUM + 7] = ' ';
}
