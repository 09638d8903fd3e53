/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * A set of files replaced together: each is written to a hidden temp file in
 * the target directory, and only when all were written are they renamed into
 * place with signals blocked.  A failure or a signal before that removes the
 * temp files and leaves the previous set untouched.  `durable` adds fdatasync
 * of each file and fsync of the directory, for data that cannot be rebuilt;
 * depmod's indexes can, and kmod does not sync them either.
 */
struct kmi_fileset;

int kmi_fileset_open(const char *dir, bool durable, struct kmi_fileset **out);
/* Writes one member; returns 0 or -errno (the message is already logged). */
int kmi_fileset_add(struct kmi_fileset *set, const char *name, const void *data, size_t len);
int kmi_fileset_commit(struct kmi_fileset *set);
/* Removes what was not committed and frees the set; NULL is fine. */
void kmi_fileset_free(struct kmi_fileset *set);
