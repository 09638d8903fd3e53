/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libarchive, opened on first use (see util/lazylib.h): these definitions
 * stand in for the library's under the same names, so callers include
 * <archive.h> and call it as usual.  The headers' prototypes check that each
 * signature below matches.  A function the project starts calling must be
 * added to ARCHIVE_FUNCS, or the link fails.
 */
#include <archive.h>
#include <archive_entry.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/lazylib.h"

/* F(return type, name, parameters, arguments); V(...) for void functions. */
#define ARCHIVE_FUNCS(F, V)                                                              \
	F(int, archive_entry_atime_is_set, (struct archive_entry *e), (e))               \
	F(int, archive_entry_birthtime_is_set, (struct archive_entry *e), (e))           \
	F(struct archive_entry *, archive_entry_clear, (struct archive_entry *e), (e))   \
	V(archive_entry_copy_hardlink, (struct archive_entry *e, const char *s), (e, s)) \
	V(archive_entry_copy_pathname, (struct archive_entry *e, const char *s), (e, s)) \
	V(archive_entry_copy_symlink, (struct archive_entry *e, const char *s), (e, s))  \
	F(int, archive_entry_ctime_is_set, (struct archive_entry *e), (e))               \
	F(mode_t, archive_entry_filetype, (struct archive_entry *e), (e))                \
	F(la_int64_t, archive_entry_gid, (struct archive_entry *e), (e))                 \
	F(const char *, archive_entry_gname, (struct archive_entry *e), (e))             \
	F(const char *, archive_entry_hardlink, (struct archive_entry *e), (e))          \
	F(const char *, archive_entry_hardlink_utf8, (struct archive_entry *e), (e))     \
	F(time_t, archive_entry_mtime, (struct archive_entry *e), (e))                   \
	F(long, archive_entry_mtime_nsec, (struct archive_entry *e), (e))                \
	F(struct archive_entry *, archive_entry_new, (void), ())                         \
	F(const char *, archive_entry_pathname, (struct archive_entry *e), (e))          \
	F(const char *, archive_entry_pathname_utf8, (struct archive_entry *e), (e))     \
	F(mode_t, archive_entry_perm, (struct archive_entry *e), (e))                    \
	V(archive_entry_set_filetype, (struct archive_entry *e, unsigned int v), (e, v)) \
	V(archive_entry_set_gid, (struct archive_entry *e, la_int64_t v), (e, v))        \
	V(archive_entry_set_mtime, (struct archive_entry *e, time_t t, long ns), (e, t, ns)) \
	V(archive_entry_set_pathname, (struct archive_entry *e, const char *s), (e, s))  \
	V(archive_entry_set_perm, (struct archive_entry *e, mode_t v), (e, v))           \
	V(archive_entry_set_rdev, (struct archive_entry *e, dev_t v), (e, v))            \
	V(archive_entry_set_size, (struct archive_entry *e, la_int64_t v), (e, v))       \
	V(archive_entry_set_symlink, (struct archive_entry *e, const char *s), (e, s))   \
	V(archive_entry_set_uid, (struct archive_entry *e, la_int64_t v), (e, v))        \
	F(la_int64_t, archive_entry_size, (struct archive_entry *e), (e))                \
	F(int, archive_entry_size_is_set, (struct archive_entry *e), (e))                \
	F(const char *, archive_entry_symlink, (struct archive_entry *e), (e))           \
	F(const char *, archive_entry_symlink_utf8, (struct archive_entry *e), (e))      \
	F(la_int64_t, archive_entry_uid, (struct archive_entry *e), (e))                 \
	F(const char *, archive_entry_uname, (struct archive_entry *e), (e))             \
	F(int, archive_entry_xattr_count, (struct archive_entry *e), (e))                \
	F(int, archive_errno, (struct archive *a), (a))                                  \
	F(const char *, archive_error_string, (struct archive *a), (a))                  \
	F(int, archive_filter_code, (struct archive *a, int i), (a, i))                  \
	F(int, archive_filter_count, (struct archive *a), (a))                           \
	F(la_ssize_t, archive_read_data, (struct archive *a, void *p, size_t n), (a, p, n)) \
	F(int, archive_read_data_block,                                                  \
	  (struct archive *a, const void **p, size_t *n, la_int64_t *off), (a, p, n, off)) \
	F(int, archive_read_data_skip, (struct archive *a), (a))                         \
	F(struct archive *, archive_read_new, (void), ())                                \
	F(int, archive_read_next_header, (struct archive *a, struct archive_entry **e), (a, e)) \
	F(int, archive_read_open,                                                        \
	  (struct archive *a, void *data, archive_open_callback *o, archive_read_callback *r, \
	   archive_close_callback *c),                                                   \
	  (a, data, o, r, c))                                                            \
	F(int, archive_read_open_fd, (struct archive *a, int fd, size_t n), (a, fd, n))  \
	F(int, archive_read_open_memory, (struct archive *a, const void *p, size_t n), (a, p, n)) \
	F(int, archive_read_support_filter_all, (struct archive *a), (a))                \
	F(int, archive_read_support_filter_gzip, (struct archive *a), (a))               \
	F(int, archive_read_support_filter_zstd, (struct archive *a), (a))               \
	F(int, archive_read_support_format_empty, (struct archive *a), (a))              \
	F(int, archive_read_support_format_tar, (struct archive *a), (a))                \
	F(int, archive_write_add_filter_gzip, (struct archive *a), (a))                  \
	F(int, archive_write_add_filter_zstd, (struct archive *a), (a))                  \
	F(int, archive_write_close, (struct archive *a), (a))                            \
	F(la_ssize_t, archive_write_data, (struct archive *a, const void *p, size_t n), (a, p, n)) \
	F(int, archive_write_fail, (struct archive *a), (a))                             \
	F(int, archive_write_header, (struct archive *a, struct archive_entry *e), (a, e)) \
	F(struct archive *, archive_write_new, (void), ())                               \
	F(int, archive_write_open,                                                       \
	  (struct archive *a, void *data, archive_open_callback *o, archive_write_callback *w, \
	   archive_close_callback *c),                                                   \
	  (a, data, o, w, c))                                                            \
	F(int, archive_write_set_bytes_in_last_block, (struct archive *a, int n), (a, n)) \
	F(int, archive_write_set_bytes_per_block, (struct archive *a, int n), (a, n))    \
	F(int, archive_write_set_format_pax_restricted, (struct archive *a), (a))        \
	F(int, archive_write_set_format_raw, (struct archive *a), (a))

/* Written by hand below: they accept NULL even when the library is missing, or are variadic. */
#define ARCHIVE_FUNCS_BY_HAND(X)                                                         \
	X(archive_entry_free) X(archive_read_free) X(archive_write_free) X(archive_set_error)

KMI_LAZYLIB_DEFINE(ARCHIVE_FUNCS, ARCHIVE_FUNCS_BY_HAND, "libarchive.so.13", "libarchive13", kmi_archive_load)

/* Cleanup paths free NULL objects; that must not need the library. */
KMI_LAZY_FREE(archive_entry_free, struct archive_entry *)

int archive_read_free(struct archive *a)
{
	if (a == NULL || !loaded())
		return ARCHIVE_OK;
	return fn.archive_read_free(a);
}

int archive_write_free(struct archive *a)
{
	if (a == NULL || !loaded())
		return ARCHIVE_OK;
	return fn.archive_write_free(a);
}

/* There is no va_list variant to forward to: format here, pass the text. */
void archive_set_error(struct archive *a, int code, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int n;

	need();
	if (fmt == NULL) { /* clears the error */
		fn.archive_set_error(a, code, NULL);
		return;
	}
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		msg = NULL;
	fn.archive_set_error(a, code, "%s", msg != NULL ? msg : fmt);
	free(msg);
}
