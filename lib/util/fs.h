/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

struct kmi_buf;

/*
 * Appends a whole file to out: 0, or -errno (-EFBIG past max bytes, -EISDIR
 * for a directory).  For inputs of bounded size: configs, indexes, lists.
 */
int kmi_read_file(const char *path, size_t max, struct kmi_buf *out);
/* The same for an open file, read from its current offset. */
int kmi_read_fd(int fd, size_t max, struct kmi_buf *out);

/* mkdir -p: returns 0 or -errno. */
int kmi_mkdir_p(const char *path, unsigned mode);
/*
 * rm -rf --one-file-system without following symlinks (each level opened
 * with openat(O_NOFOLLOW), entries removed with unlinkat()): returns 0 or
 * -errno of the first failure; what can be removed is.
 */
int kmi_rm_rf(const char *path);
/* The same for name in directory dirfd. */
int kmi_rm_rf_at(int dirfd, const char *name);
/* Appends the names in directory fd (no "." and ".."), each NUL-terminated: their count or -errno. */
int kmi_list_dir(int fd, struct kmi_buf *names);
/* "$TMPDIR/NAME.XXXXXX" (TMPDIR defaults to /tmp), malloc'ed, for mkdtemp()/mkstemp(). */
char *kmi_tmp_template(const char *name);
/* The same for a scratch tree of symlinks only: /dev/shm (tmpfs) unless TMPDIR is set. */
char *kmi_tmp_template_links(const char *name);
/* write(2) until all of data is written: 0 or -errno. */
int kmi_write_all(int fd, const void *data, size_t len);
