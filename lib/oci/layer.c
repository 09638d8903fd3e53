// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Layer blobs.  The data flows through one pipeline on the caller's thread,
 * with only the compression fanned out:
 *
 *   entries (sorted) -> plain ustar headers (ustar.c) when every entry fits
 *                       them, else libarchive, pax restricted; the same bytes
 *                       either way, in 10240-byte records
 *     -> sha256 of the tar (diff_id)
 *     -> pgzip (1 MiB gzip members, 128 KiB below 4 MiB of content, on N
 *        threads) | zstd (N workers) | none
 *     -> sha256 of the blob (digest), byte count, write(2) to out_fd
 *
 * What makes the tar reproducible: entries sorted bytewise by path, uid/gid
 * 0, empty user and group names, one mtime, no atime/ctime/birthtime,
 * xattrs, ACLs or file flags, modes normalised (files 0644, or 0755 when any
 * execute bit is set; directories 0755; symlinks 0777), the final record
 * padded to 10240 bytes as GNU tar does.  libarchive appends the "/" of
 * directory names ("lib/modules/" as GNU tar and Go's archive/tar write them),
 * and writes a pax header only when ustar cannot hold a value (long or
 * non-ASCII names, long link targets).  It converts names from the locale's
 * charset to UTF-8 for pax headers, so the writer runs under C.UTF-8 (a
 * thread locale) and takes only valid UTF-8: the bytes do not depend on the
 * caller's LANG.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "oci/layer.h"
#include "oci/pgzip.h"
#include "oci/ustar.h"
#include "util/lazylib.h"
#include "util/macro.h"
#include "util/parallel.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define TAR_RECORD 10240
#define COPY_CHUNK (256 * 1024)
#define GZIP_DEFAULT_LEVEL 6
#define ZSTD_DEFAULT_LEVEL 3
#define MAX_THREADS KMI_PGZIP_MAX_THREADS
/*
 * A small layer is cut into smaller gzip members, so that more than one CPU
 * compresses it: chosen by the size of the content, never by the machine.
 */
#define SMALL_LAYER (4u << 20)
#define SMALL_LAYER_BLOCK (128u << 10)

static const char *const media_types[] = {
	[KMI_COMPRESS_GZIP] = "application/vnd.oci.image.layer.v1.tar+gzip",
	[KMI_COMPRESS_ZSTD] = "application/vnd.oci.image.layer.v1.tar+zstd",
	[KMI_COMPRESS_NONE] = "application/vnd.oci.image.layer.v1.tar",
};

struct layer_writer {
	int fd;
	enum kmi_compression compression;
	struct kmi_sha256 diff_id; /* of the tar */
	struct kmi_sha256 digest;  /* of the blob */
	uint64_t size;
	struct kmi_pgzip *gz;
	ZSTD_CCtx *zc;
	unsigned char *zout;
	size_t zout_size;
	unsigned char *copy_buf;
	uint64_t tar_len;   /* the ustar path's bytes so far */
	struct kmi_error *cb_err; /* raised inside libarchive's write callback */
	bool discard;		  /* failed: the write callback drops what it gets */
};

/* ---- entry checks ---- */

static bool valid_utf8(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		unsigned n;
		uint32_t cp;

		if (*s < 0x80) {
			s++;
			continue;
		}
		if (*s >= 0xc2 && *s <= 0xdf)
			n = 1, cp = *s & 0x1f;
		else if (*s >= 0xe0 && *s <= 0xef)
			n = 2, cp = *s & 0x0f;
		else if (*s >= 0xf0 && *s <= 0xf4)
			n = 3, cp = *s & 0x07;
		else
			return false;
		for (unsigned i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
				return false;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		s += n + 1;
	}
	return true;
}

static bool is_ascii(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

/* NULL if the path is relative and normalised, else what is wrong with it. */
static const char *path_problem(const char *path)
{
	const char *p, *end;

	if (path == NULL || path[0] == '\0')
		return "empty path";
	if (path[0] == '/')
		return "absolute path";
	for (p = path;; p = end + 1) {
		size_t n;

		end = strchrnul(p, '/');
		n = (size_t)(end - p);
		if (n == 0)
			return *end ? "empty component (\"//\")" : "trailing \"/\"";
		if (n == 1 && p[0] == '.')
			return "\".\" component";
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return "\"..\" component";
		if (*end == '\0')
			break;
	}
	if (!valid_utf8(path))
		return "not valid UTF-8";
	return NULL;
}

static int check_entry(const struct kmi_layer_entry *e, struct kmi_error **err)
{
	const char *why = path_problem(e->path);

	if (why != NULL)
		return kmi_error_set(err, EINVAL, "layer entry `%s`: unsafe path: %s",
				     e->path ? e->path : "", why);
	switch (e->type) {
	case KMI_ENTRY_FILE:
		if (e->source == NULL && e->data == NULL && e->size > 0)
			return kmi_error_set(err, EINVAL,
					     "layer entry `%s`: no data for %zu bytes",
					     e->path, e->size);
		return 0;
	case KMI_ENTRY_DIR:
		return 0;
	case KMI_ENTRY_SYMLINK:
		if (e->target == NULL || e->target[0] == '\0')
			return kmi_error_set(err, EINVAL,
					     "layer entry `%s`: symlink without target",
					     e->path);
		if (!valid_utf8(e->target))
			return kmi_error_set(
				err, EINVAL,
				"layer entry `%s`: link target is not valid UTF-8",
				e->path);
		return 0;
	}
	return kmi_error_set(err, EINVAL, "layer entry `%s`: unknown type %d", e->path,
			     (int)e->type);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct kmi_layer_entry *const *x = a, *const *y = b;

	/* strcmp compares as unsigned char: bytewise order */
	return strcmp((*x)->path, (*y)->path);
}

/*
 * Duplicates, and entries below a file or symlink ("host" -> /lib/... and
 * "host/x"): an extractor would fail, or write through the link.
 */
static int check_conflicts(const struct kmi_layer_entry **v, size_t n,
			   struct kmi_error **err)
{
	_cleanup_(kmi_strmap_free) struct kmi_strmap map = { 0 };

	kmi_strmap_init(&map, n);
	for (size_t i = 0; i < n; i++) {
		if (kmi_strmap_put(&map, v[i]->path, (void *)v[i]) != NULL)
			return kmi_error_set(err, EEXIST, "duplicate layer entry `%s`",
					     v[i]->path);
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *prefix = xstrdup(v[i]->path);

		for (char *slash = strchr(prefix, '/'); slash;
		     slash = strchr(slash + 1, '/')) {
			const struct kmi_layer_entry *parent;

			*slash = '\0';
			parent = kmi_strmap_get(&map, prefix);
			if (parent != NULL && parent->type != KMI_ENTRY_DIR)
				return kmi_error_set(
					err, ENOTDIR,
					"layer entry `%s`: parent `%s` is not a directory",
					v[i]->path, prefix);
			*slash = '/';
		}
	}
	return 0;
}

/* Checks the entries and returns them sorted by path. */
static int sort_entries(const struct kmi_layer_entry *entries, size_t n,
			const struct kmi_layer_entry ***out, bool *ascii,
			struct kmi_error **err)
{
	_cleanup_free_ const struct kmi_layer_entry **v = NULL;
	int r;

	*ascii = true;
	if (n > 0 && entries == NULL)
		return kmi_error_set(err, EINVAL, "layer: %zu entries without an array",
				     n);
	v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		r = check_entry(&entries[i], err);
		if (r < 0)
			return r;
		if (!is_ascii(entries[i].path) || (entries[i].type == KMI_ENTRY_SYMLINK &&
						   !is_ascii(entries[i].target)))
			*ascii = false;
		v[i] = &entries[i];
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_entry);
	r = check_conflicts(v, n, err);
	if (r < 0)
		return r;
	*out = TAKE_PTR(v);
	return 0;
}

/* ---- the blob: compressor and output ---- */

/* The end of the pipeline; also pgzip's sink. */
static int blob_write(void *ctx, const void *data, size_t len, struct kmi_error **err)
{
	struct layer_writer *w = ctx;
	const char *p = data;

	kmi_sha256_update(&w->digest, data, len);
	while (len > 0) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return kmi_error_set(err, n < 0 ? errno : EIO,
					     "writing the layer blob at byte %llu",
					     (unsigned long long)w->size);
		p += n;
		len -= (size_t)n;
		w->size += (uint64_t)n;
	}
	return 0;
}

static int zstd_error(size_t code, const char *what, struct kmi_error **err)
{
	return kmi_error_set(err, KMI_EFORMAT, "zstd: %s: %s", what,
			     ZSTD_getErrorName(code));
}

static int zstd_setup(struct layer_writer *w, int level, unsigned threads,
		      struct kmi_error **err)
{
	size_t r;

	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
		return kmi_error_set(err, EINVAL,
				     "zstd: compression level %d is not in %d..%d", level,
				     ZSTD_minCLevel(), ZSTD_maxCLevel());
	w->zc = ZSTD_createCCtx();
	if (w->zc == NULL)
		return kmi_error_set(err, ENOMEM, "zstd: creating a compression context");
	r = ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, level);
	if (ZSTD_isError(r))
		return zstd_error(r, "setting the level", err);
	r = ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1);
	if (ZSTD_isError(r))
		return zstd_error(r, "enabling checksums", err);
	/*
	 * Multithreaded frames are the same for any nbWorkers >= 1 but differ
	 * from single-threaded ones (0), so one CPU still gets one worker.  A
	 * libzstd built without threads would write other bytes: refuse it.
	 */
	r = ZSTD_CCtx_setParameter(w->zc, ZSTD_c_nbWorkers, (int)threads);
	if (ZSTD_isError(r))
		return zstd_error(r, "multithreading (libzstd built without it?)", err);
	w->zout_size = ZSTD_CStreamOutSize();
	w->zout = xmalloc(w->zout_size);
	return 0;
}

static int zstd_feed(struct layer_writer *w, const void *data, size_t len,
		     ZSTD_EndDirective mode, struct kmi_error **err)
{
	ZSTD_inBuffer in = { data, len, 0 };

	for (;;) {
		ZSTD_outBuffer out = { w->zout, w->zout_size, 0 };
		size_t left = ZSTD_compressStream2(w->zc, &out, &in, mode);
		int r;

		if (ZSTD_isError(left))
			return zstd_error(left, "compressing", err);
		if (out.pos > 0) {
			r = blob_write(w, w->zout, out.pos, err);
			if (r < 0)
				return r;
		}
		/* e_continue: all input taken; e_end: frame complete and flushed */
		if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
			return 0;
	}
}

static int codec_write(struct layer_writer *w, const void *data, size_t len,
		       struct kmi_error **err)
{
	switch (w->compression) {
	case KMI_COMPRESS_GZIP:
		return kmi_pgzip_write(w->gz, data, len, err);
	case KMI_COMPRESS_ZSTD:
		return zstd_feed(w, data, len, ZSTD_e_continue, err);
	case KMI_COMPRESS_NONE:
		break;
	}
	return blob_write(w, data, len, err);
}

static int codec_finish(struct layer_writer *w, struct kmi_error **err)
{
	switch (w->compression) {
	case KMI_COMPRESS_GZIP:
		return kmi_pgzip_finish(w->gz, err);
	case KMI_COMPRESS_ZSTD:
		return zstd_feed(w, NULL, 0, ZSTD_e_end, err);
	case KMI_COMPRESS_NONE:
		break;
	}
	return 0;
}

static int writer_init(struct layer_writer *w, const struct kmi_layer_opts *opts,
		       int out_fd, struct kmi_error **err)
{
	unsigned threads = opts->threads ? opts->threads : kmi_cpu_count(MAX_THREADS);
	int level = opts->level;

	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	*w = (struct layer_writer){ .fd = out_fd, .compression = opts->compression };
	kmi_sha256_init(&w->diff_id);
	kmi_sha256_init(&w->digest);
	switch (opts->compression) {
	case KMI_COMPRESS_GZIP:
		return kmi_pgzip_new(level ? level : GZIP_DEFAULT_LEVEL, threads,
				     blob_write, w, &w->gz, err);
	case KMI_COMPRESS_ZSTD:
		return zstd_setup(w, level ? level : ZSTD_DEFAULT_LEVEL, threads, err);
	case KMI_COMPRESS_NONE:
		return 0;
	}
	return kmi_error_set(err, EINVAL, "layer: unknown compression %d",
			     (int)opts->compression);
}

static void writer_free(struct layer_writer *w)
{
	kmi_pgzip_free(w->gz);
	ZSTD_freeCCtx(w->zc);
	free(w->zout);
	free(w->copy_buf);
	kmi_sha256_free(&w->diff_id);
	kmi_sha256_free(&w->digest);
	kmi_error_free(&w->cb_err);
}

/* ---- the tar ---- */

/*
 * Never fails towards libarchive: after a failed callback it skips the close
 * of its output buffer in archive_write_free(), and leaks it (3.6 and 3.7).
 * The error waits in cb_err for the next check in tar_header()/tar_data().
 */
static la_ssize_t tar_write_cb(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct layer_writer *w = ctx;

	if (w->cb_err == NULL && !w->discard) {
		kmi_sha256_update(&w->diff_id, buf, len);
		if (codec_write(w, buf, len, &w->cb_err) < 0)
			w->discard = true;
	}
	return (la_ssize_t)len;
}

/* A libarchive call failed: our error from the write callback, or libarchive's. */
static int tar_error(struct layer_writer *w, struct archive *a, struct kmi_error **err)
{
	const char *msg = archive_error_string(a);
	int code;

	if (w->cb_err != NULL) {
		code = w->cb_err->code;
		if (err != NULL) {
			kmi_error_free(err);
			*err = TAKE_PTR(w->cb_err);
		}
		return -1 - code;
	}
	code = archive_errno(a) > 0 ? archive_errno(a) : EIO;
	return kmi_error_set(err, code, "tar: %s", msg ? msg : "failed");
}

static int tar_data(struct layer_writer *w, struct archive *a, const void *data,
		    size_t len, struct kmi_error **err)
{
	const char *p = data;

	while (len > 0) {
		la_ssize_t n = archive_write_data(a, p, len);

		if (n <= 0 || w->cb_err != NULL)
			return tar_error(w, a, err);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int tar_header(struct layer_writer *w, struct archive *a, struct archive_entry *ae,
		      struct kmi_error **err)
{
	/* ARCHIVE_WARN too: it means something was written other than asked */
	if (archive_write_header(a, ae) != ARCHIVE_OK || w->cb_err != NULL)
		return tar_error(w, a, err);
	return 0;
}

/* The data of a file entry, in pieces, to whichever tar writer. */
typedef int (*tar_data_fn)(struct layer_writer *w, void *ctx, const void *data, size_t len,
			   struct kmi_error **err);

static int open_source(const char *source, int *fd, off_t *size, struct kmi_error **err)
{
	struct stat st;

	*fd = open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (*fd < 0)
		return kmi_error_set(err, errno, "open `%s`", source);
	if (fstat(*fd, &st) < 0)
		return kmi_error_set(err, errno, "stat `%s`", source);
	if (!S_ISREG(st.st_mode))
		return kmi_error_set(err, EINVAL, "`%s` is not a regular file", source);
	*size = st.st_size;
	return 0;
}

/* Exactly `size` bytes of fd, as the header promised. */
static int copy_source(struct layer_writer *w, int fd, off_t size, const char *source,
		       tar_data_fn put, void *ctx, struct kmi_error **err)
{
	off_t left;
	ssize_t n;
	char c;
	int r;

	if (w->copy_buf == NULL)
		w->copy_buf = xmalloc(COPY_CHUNK);
	for (left = size; left > 0;) {
		n = read(fd, w->copy_buf, left < COPY_CHUNK ? (size_t)left : COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kmi_error_set(err, errno, "read `%s`", source);
		if (n == 0)
			return kmi_error_set(err, EIO,
					     "`%s` shrank while being read (%lld of %lld bytes)",
					     source, (long long)(size - left), (long long)size);
		r = put(w, ctx, w->copy_buf, (size_t)n, err);
		if (r < 0)
			return r;
		left -= n;
	}
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return kmi_error_set(err, errno, "read `%s`", source);
	if (n > 0)
		return kmi_error_set(err, EIO, "`%s` grew while being read (beyond %lld bytes)",
				     source, (long long)size);
	return 0;
}

static int archive_data(struct layer_writer *w, void *a, const void *data, size_t len,
			struct kmi_error **err)
{
	return tar_data(w, a, data, len, err);
}

static int tar_file_from_source(struct layer_writer *w, struct archive *a,
				struct archive_entry *ae, const char *source,
				struct kmi_error **err)
{
	_cleanup_close_ int fd = -1;
	off_t size;
	int r = open_source(source, &fd, &size, err);

	if (r < 0)
		return r;
	archive_entry_set_size(ae, size);
	r = tar_header(w, a, ae, err);
	if (r < 0)
		return r;
	return copy_source(w, fd, size, source, archive_data, a, err);
}

static int tar_entry(struct layer_writer *w, struct archive *a, struct archive_entry *ae,
		     const struct kmi_layer_entry *e, time_t mtime,
		     struct kmi_error **err)
{
	int r;

	archive_entry_clear(ae);
	archive_entry_set_pathname(ae, e->path);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	archive_entry_set_mtime(ae, mtime, 0);
	switch (e->type) {
	case KMI_ENTRY_DIR:
		archive_entry_set_filetype(ae, AE_IFDIR);
		archive_entry_set_perm(ae, 0755);
		return tar_header(w, a, ae, err);
	case KMI_ENTRY_SYMLINK:
		archive_entry_set_filetype(ae, AE_IFLNK);
		archive_entry_set_perm(ae, 0777);
		archive_entry_set_symlink(ae, e->target);
		return tar_header(w, a, ae, err);
	case KMI_ENTRY_FILE:
		break;
	}
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_set_perm(ae, (e->mode & 0111) ? 0755 : 0644);
	if (e->source != NULL)
		return tar_file_from_source(w, a, ae, e->source, err);
	if (e->size > INT64_MAX)
		return kmi_error_set(err, EFBIG, "%zu bytes", e->size);
	archive_entry_set_size(ae, (la_int64_t)e->size);
	r = tar_header(w, a, ae, err);
	if (r < 0)
		return r;
	return tar_data(w, a, e->data, e->size, err);
}

static void archive_freep(struct archive **a)
{
	if (*a != NULL)
		archive_write_free(*a);
}

static void archive_entry_freep(struct archive_entry **ae)
{
	archive_entry_free(*ae);
}

static int write_tar(struct layer_writer *w, const struct kmi_layer_entry **v, size_t n,
		     time_t mtime, struct kmi_error **err)
{
	_cleanup_(archive_freep) struct archive *a = archive_write_new();
	_cleanup_(archive_entry_freep) struct archive_entry *ae = archive_entry_new();
	int r = 0;

	if (a == NULL || ae == NULL)
		return kmi_error_set(err, ENOMEM, "tar: allocating the writer");
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, TAR_RECORD) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, TAR_RECORD) != ARCHIVE_OK ||
	    archive_write_open(a, w, NULL, tar_write_cb, NULL) != ARCHIVE_OK)
		return tar_error(w, a, err);
	for (size_t i = 0; i < n && r == 0; i++) {
		r = tar_entry(w, a, ae, v[i], mtime, err);
		if (r < 0)
			r = kmi_error_wrap(err, "layer entry `%s`", v[i]->path);
	}
	if (r == 0 && (archive_write_close(a) != ARCHIVE_OK || w->cb_err != NULL))
		r = tar_error(w, a, err);
	/* After a failure, the close in archive_write_free() pads into the void. */
	w->discard = true;
	return r;
}

/*
 * libarchive converts names from the thread's LC_CTYPE charset to UTF-8:
 * fix it to C.UTF-8 for the writer.  Without that locale, ASCII names come
 * out the same in any locale, other names would not.
 */
static int write_tar_utf8(struct layer_writer *w, const struct kmi_layer_entry **v,
			  size_t n, time_t mtime, bool ascii, struct kmi_error **err)
{
	locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t old;
	int r;

	if (loc == (locale_t)0) {
		if (!ascii)
			return kmi_error_set(
				err, errno ? errno : ENOENT,
				"layer: non-ASCII names need the C.UTF-8 locale");
		return write_tar(w, v, n, mtime, err);
	}
	old = uselocale(loc);
	r = write_tar(w, v, n, mtime, err);
	uselocale(old);
	freelocale(loc);
	return r;
}

/* ---- the ustar path: no libarchive for entries plain ustar holds ---- */

static int ustar_put(struct layer_writer *w, void *ctx, const void *data, size_t len,
		     struct kmi_error **err)
{
	kmi_sha256_update(&w->diff_id, data, len);
	w->tar_len += len;
	return codec_write(w, data, len, err);
}

/* Zeros up to the next multiple of `unit`. */
static int ustar_pad(struct layer_writer *w, unsigned unit, struct kmi_error **err)
{
	static const unsigned char zeros[KMI_USTAR_BLOCK];
	int r = 0;

	while (r == 0 && w->tar_len % unit != 0) {
		size_t n = unit - w->tar_len % unit;
		r = ustar_put(w, NULL, zeros, n < sizeof(zeros) ? n : sizeof(zeros), err);
	}
	return r;
}

static void ustar_describe(const struct kmi_layer_entry *e, int64_t mtime, uint64_t size,
			   char *name, struct kmi_ustar_entry *u)
{
	static const enum kmi_ustar_type types[] = {
		[KMI_ENTRY_FILE] = KMI_USTAR_FILE,
		[KMI_ENTRY_DIR] = KMI_USTAR_DIR,
		[KMI_ENTRY_SYMLINK] = KMI_USTAR_SYMLINK,
	};

	/* libarchive ends a directory's name with '/' */
	strcpy(name, e->path);
	if (e->type == KMI_ENTRY_DIR)
		strcat(name, "/");
	*u = (struct kmi_ustar_entry){
		.name = name,
		.type = types[e->type],
		.perm = e->type == KMI_ENTRY_DIR       ? 0755
			: e->type == KMI_ENTRY_SYMLINK ? 0777
			: (e->mode & 0111)             ? 0755
						       : 0644,
		.size = size,
		.mtime = mtime,
		.target = e->target,
	};
}

/*
 * Whether every entry fits plain ustar, and the bytes of content (a source
 * that cannot be read counts 0 here and fails later).
 */
static bool ustar_fits_all(const struct kmi_layer_entry **v, size_t n, int64_t mtime,
			   uint64_t *content)
{
	bool fits = true;

	*content = 0;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *name = xmalloc(strlen(v[i]->path) + 2);
		struct kmi_ustar_entry u;
		struct stat st;
		uint64_t size = v[i]->size;

		if (v[i]->type == KMI_ENTRY_FILE && v[i]->source != NULL)
			size = stat(v[i]->source, &st) == 0 ? (uint64_t)st.st_size : 0;
		*content += v[i]->type == KMI_ENTRY_FILE ? size : 0;
		ustar_describe(v[i], mtime, size, name, &u);
		fits = fits && kmi_ustar_fits(&u);
	}
	return fits;
}

static int ustar_entry(struct layer_writer *w, const struct kmi_layer_entry *e, int64_t mtime,
		       struct kmi_error **err)
{
	_cleanup_free_ char *name = xmalloc(strlen(e->path) + 2);
	_cleanup_close_ int fd = -1;
	unsigned char hdr[KMI_USTAR_BLOCK];
	struct kmi_ustar_entry u;
	off_t size = (off_t)e->size;
	int r;

	if (e->type == KMI_ENTRY_FILE && e->source != NULL &&
	    (r = open_source(e->source, &fd, &size, err)) < 0)
		return r;
	ustar_describe(e, mtime, (uint64_t)size, name, &u);
	if (!kmi_ustar_fits(&u))
		return kmi_error_set(err, EIO, "`%s` changed while the layer was written", e->source);
	kmi_ustar_header(&u, hdr);
	if ((r = ustar_put(w, NULL, hdr, sizeof(hdr), err)) < 0 || e->type != KMI_ENTRY_FILE)
		return r;
	if (fd >= 0)
		r = copy_source(w, fd, size, e->source, ustar_put, NULL, err);
	else if (e->size > 0)
		r = ustar_put(w, NULL, e->data, e->size, err);
	return r < 0 ? r : ustar_pad(w, KMI_USTAR_BLOCK, err);
}

/* As libarchive ends it: two zero blocks, then zeros to a whole record. */
static int write_ustar(struct layer_writer *w, const struct kmi_layer_entry **v, size_t n,
		       int64_t mtime, struct kmi_error **err)
{
	static const unsigned char end[2 * KMI_USTAR_BLOCK];
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		r = ustar_entry(w, v[i], mtime, err);
		if (r < 0)
			r = kmi_error_wrap(err, "layer entry `%s`", v[i]->path);
	}
	if (r == 0)
		r = ustar_put(w, NULL, end, sizeof(end), err);
	return r < 0 ? r : ustar_pad(w, KMI_USTAR_RECORD, err);
}

int kmi_layer_write(const struct kmi_layer_entry *entries, size_t n,
		    const struct kmi_layer_opts *opts, int out_fd,
		    struct kmi_layer_result *res, struct kmi_error **err)
{
	static const struct kmi_layer_opts defaults = { .compression =
								KMI_COMPRESS_GZIP };
	_cleanup_free_ const struct kmi_layer_entry **v = NULL;
	_cleanup_(writer_free) struct layer_writer w = { .fd = -1 };
	uint64_t content;
	bool ascii, ustar;
	int r;

	if (opts == NULL)
		opts = &defaults;
	if ((unsigned)opts->compression >= ARRAY_SIZE(media_types))
		return kmi_error_set(err, EINVAL, "layer: unknown compression %d",
				     (int)opts->compression);
	if ((int64_t)(time_t)opts->mtime != opts->mtime)
		return kmi_error_set(err, EOVERFLOW, "layer: mtime %lld",
				     (long long)opts->mtime);
	r = sort_entries(entries, n, &v, &ascii, err);
	if (r < 0)
		return r;
	ustar = ustar_fits_all(v, n, opts->mtime, &content);
	if (!ustar && (r = kmi_archive_load(err)) < 0)
		return r;
	r = writer_init(&w, opts, out_fd, err);
	if (r < 0)
		return r;
	if (w.gz != NULL && content < SMALL_LAYER)
		kmi_pgzip_set_block(w.gz, SMALL_LAYER_BLOCK);
	if (ustar)
		r = write_ustar(&w, v, n, opts->mtime, err);
	else
		r = write_tar_utf8(&w, v, n, (time_t)opts->mtime, ascii, err);
	if (r < 0)
		return r;
	r = codec_finish(&w, err);
	if (r < 0)
		return r;

	kmi_sha256_final(&w.diff_id, res->diff_id);
	kmi_sha256_final(&w.digest, res->digest);
	res->size = w.size;
	res->media_type = media_types[opts->compression];
	return 0;
}
