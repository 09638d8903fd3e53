// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Safe extraction of untrusted image layers (see extract.h for the rules).
 *
 * The layers are applied in a private temp dir, held open as `rootfd`.
 * Every entry path is first checked as text (relative, no "..", bounded),
 * then its parent directory is opened below rootfd without following any
 * symlink, and the entry is created, replaced or removed there with *at()
 * calls on its last component only.  Nothing but this code writes to the
 * temp dir, so a directory fd, once opened that way, stays a directory of
 * the tree: the parent of the last entry is kept open (entries come sorted
 * in practice) and only dropped when something above it is removed.
 *
 * Directories are made 0700 while the layers are applied, so that a mode
 * like 0555 in the image cannot stop later entries (or the cleanup) when not
 * running as root; their modes and mtimes are set at the end, deepest first.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include "oci/extract.h"
#include "oci/image.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/lazylib.h"
#include "util/macro.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define READ_BLOCK (1u << 20)
#define MSG_PATH_MAX 200 /* bytes of a hostile path quoted in a message */

/* What a layer's media type says about its compression. */
enum {
	COMP_UNSUPPORTED = -2,
	COMP_ANY = -1, /* no media type: gzip, zstd or none */
};

struct dirfix {
	mode_t mode;
	bool has_mtime;
	struct timespec mtime;
};

struct ex {
	int rootfd;
	struct kmi_extract_limits lim;
	bool no_openat2;
	uint64_t entries, bytes;
	struct kmi_error **err;

	/* the layer being applied and its current entry, for messages */
	char *layer;
	const char *entry;
	/* paths this layer has created or passed through: its own whiteouts spare them */
	struct kmi_strmap seen;
	struct kmi_arena seen_keys;
	/* every directory made, with the mode and mtime it gets at the end */
	struct kmi_strmap dirs;
	struct kmi_arena dir_keys;
	/* the parent directory of the last entry, open */
	char *cache_path;
	int cache_fd;
	/* max_path + 1 bytes each: the entry's normalized path, a second path, scratch */
	char *path, *other, *scratch;
};

void kmi_extract_limits_default(struct kmi_extract_limits *lim)
{
	lim->max_entries = KMI_EXTRACT_MAX_ENTRIES;
	lim->max_total_size = KMI_EXTRACT_MAX_TOTAL_SIZE;
	lim->max_file_size = KMI_EXTRACT_MAX_FILE_SIZE;
	lim->max_path = KMI_EXTRACT_MAX_PATH;
	lim->max_depth = KMI_EXTRACT_MAX_DEPTH;
}

/* ---- messages ---- */

/* A path as messages show it: control bytes and backquotes escaped, long ones cut. */
static char *printable(const char *s)
{
	struct kmi_buf b = { 0 };
	size_t n = 0;

	for (; *s != '\0' && n < MSG_PATH_MAX; s++, n++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '`' || c == '\\')
			kmi_buf_printf(&b, "\\x%02x", c);
		else
			kmi_buf_putc(&b, (char)c);
	}
	if (*s != '\0')
		kmi_buf_puts(&b, "...");
	kmi_buf_putc(&b, '\0');
	return b.data;
}

static int entry_error(struct ex *x, int code, const char *fmt, ...) _printf_(3, 4);
static int entry_error(struct ex *x, int code, const char *fmt, ...)
{
	_cleanup_free_ char *p = printable(x->entry ? x->entry : "");
	_cleanup_free_ char *why = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&why, fmt, ap) < 0)
		why = NULL;
	va_end(ap);
	return kmi_error_set(x->err, code, "layer %s: entry `%s`: %s", x->layer, p,
			     why ? why : "error");
}

/* ---- paths ---- */

/*
 * Checks a path from the layer (an entry's, or a hardlink's target) and
 * writes its normal form to out (max_path + 1 bytes): components joined by
 * '/', without "." or empty ones.  *base gets the offset of the last
 * component.  Returns false with the reason in why.
 */
static bool normalize(const struct ex *x, const char *raw, char *out, size_t *base, char *why,
		      size_t whylen)
{
	size_t len = strlen(raw), o = 0, last = 0;
	unsigned depth = 0;
	const char *p = raw;

	*base = 0;
	if (len > x->lim.max_path) {
		snprintf(why, whylen, "path is %zu bytes, over the limit of %zu", len, x->lim.max_path);
		return false;
	}
	if (raw[0] == '/') {
		snprintf(why, whylen, "absolute path");
		return false;
	}
	while (*p != '\0') {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);

		if (n == 0 || (n == 1 && p[0] == '.')) {
			p = *end ? end + 1 : end;
			continue;
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			snprintf(why, whylen, "path escapes the root");
			return false;
		}
		if (n > NAME_MAX) {
			snprintf(why, whylen, "a name is longer than %d bytes", NAME_MAX);
			return false;
		}
		if (++depth > x->lim.max_depth) {
			snprintf(why, whylen, "path is deeper than %u components", x->lim.max_depth);
			return false;
		}
		if (o > 0) {
			if (strncmp(out + last, ".wh.", 4) == 0) {
				snprintf(why, whylen, "a whiteout name is used as a directory");
				return false;
			}
			out[o++] = '/';
		}
		last = o;
		memcpy(out + o, p, n);
		o += n;
		p = *end ? end + 1 : end;
	}
	out[o] = '\0';
	*base = last;
	return true;
}

/* The parent of a normalized path whose last component starts at base: its length. */
static size_t parent_len(size_t base)
{
	return base > 0 ? base - 1 : 0;
}

static bool path_has_prefix(const char *path, const char *prefix, size_t len)
{
	return strncmp(path, prefix, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

/* ---- bookkeeping ---- */

/* Marks path and every directory above it as this layer's. */
static void mark_seen(struct ex *x, const char *path)
{
	size_t len = strlen(path);

	if (len == 0 || kmi_strmap_get(&x->seen, path) != NULL)
		return;
	memcpy(x->scratch, path, len + 1);
	for (;;) {
		char *slash;

		kmi_strmap_put(&x->seen, kmi_arena_strdup(&x->seen_keys, x->scratch), x);
		slash = strrchr(x->scratch, '/');
		if (slash == NULL)
			return;
		*slash = '\0';
		if (kmi_strmap_get(&x->seen, x->scratch) != NULL)
			return;
	}
}

static bool is_seen(const struct ex *x, const char *path)
{
	return kmi_strmap_get(&x->seen, path) != NULL;
}

/* Records what the directory path[0..len) gets at the end (the last entry for it wins). */
static void record_dir(struct ex *x, const char *path, size_t len, mode_t mode,
		       const struct timespec *mtime)
{
	char *key = kmi_arena_strndup(&x->dir_keys, path, len);
	struct dirfix *f = kmi_strmap_get(&x->dirs, key);

	if (f == NULL) {
		f = kmi_arena_alloc(&x->dir_keys, sizeof(*f));
		kmi_strmap_put(&x->dirs, key, f);
	}
	f->mode = mode;
	f->has_mtime = mtime != NULL;
	if (mtime != NULL)
		f->mtime = *mtime;
}

static void drop_cache(struct ex *x)
{
	if (x->cache_fd >= 0)
		close(x->cache_fd);
	x->cache_fd = -1;
	free(x->cache_path);
	x->cache_path = NULL;
}

/* ---- resolving directories below the root ---- */

static int sys_openat2(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/*
 * Opens directory `path` one component at a time from the root, never
 * following a symlink, and makes missing ones when create is set.  Returns
 * an O_PATH fd or -errno (-EDQUOT: the entry limit), with *stop the length
 * of the prefix where it stopped.
 */
static int walk(struct ex *x, const char *path, bool create, size_t *stop)
{
	const char *p = path;
	char name[NAME_MAX + 1];
	int cur = -1;

	for (;;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		int at = cur >= 0 ? cur : x->rootfd, fd, e;

		memcpy(name, p, n);
		name[n] = '\0';
		*stop = (size_t)(end - path);
		fd = openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && create) {
			if (x->entries >= x->lim.max_entries) {
				if (cur >= 0)
					close(cur);
				return -EDQUOT;
			}
			if (mkdirat(at, name, 0700) < 0 && errno != EEXIST) {
				e = errno;
				if (cur >= 0)
					close(cur);
				return -e;
			}
			x->entries++;
			record_dir(x, path, *stop, 0755, NULL);
			fd = openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		e = errno;
		if (cur >= 0)
			close(cur);
		if (fd < 0)
			return -e;
		if (*end == '\0')
			return fd;
		cur = fd;
		p = end + 1;
	}
}

/* Opens the directory `path` (normalized, not empty) below the root: an O_PATH fd or -errno. */
static int open_dir(struct ex *x, const char *path, bool create, size_t *stop)
{
	*stop = strlen(path);
	if (!x->no_openat2) {
		int fd = sys_openat2(x->rootfd, path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd >= 0)
			return fd;
		if (errno == ENOSYS)
			x->no_openat2 = true;
		else if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR && errno != EXDEV &&
			 errno != EAGAIN)
			return -errno;
		/* The walk makes what is missing, or finds the component at fault. */
	}
	return walk(x, path, create, stop);
}

/* The error for open_dir()'s failure r on path, stopped after stop bytes. */
static int dir_error(struct ex *x, const char *what, const char *path, size_t stop, int r)
{
	_cleanup_free_ char *prefix = xstrndup(path, stop);
	_cleanup_free_ char *p = printable(prefix);
	struct stat st;

	if (r == -EDQUOT)
		return entry_error(x, KMI_EFORMAT, "more than %llu entries",
				   (unsigned long long)x->lim.max_entries);
	if (r == -ELOOP || r == -ENOTDIR) {
		/* Every component before the last was opened as a directory: lstat is exact. */
		if (fstatat(x->rootfd, prefix, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			return entry_error(x, KMI_EFORMAT, "%s goes through the symlink `%s`", what, p);
		return entry_error(x, KMI_EFORMAT, "%s goes through `%s`, which is not a directory",
				   what, p);
	}
	return entry_error(x, -r, "opening directory `%s`", p);
}

/*
 * The parent directory of the current entry (x->path, parent length len),
 * made if missing when create is set.  Returns 0 with *fd borrowed, 1 if it
 * does not exist (create false), or a negative error.
 */
static int get_parent(struct ex *x, size_t len, bool create, int *fd)
{
	size_t stop;
	int r;

	if (len == 0) {
		*fd = x->rootfd;
		return 0;
	}
	if (x->cache_path != NULL && strlen(x->cache_path) == len &&
	    memcmp(x->cache_path, x->path, len) == 0) {
		*fd = x->cache_fd;
		return 0;
	}
	memcpy(x->scratch, x->path, len);
	x->scratch[len] = '\0';
	r = open_dir(x, x->scratch, create, &stop);
	if (r == -ENOENT && !create)
		return 1;
	if (r < 0)
		return dir_error(x, "path", x->scratch, stop, r);
	drop_cache(x);
	x->cache_path = xstrdup(x->scratch);
	x->cache_fd = r;
	*fd = r;
	return 0;
}

/* ---- removing ---- */

/* Removes dirfd/name, a directory with its content; never follows a symlink. */
static int remove_at(int dirfd, const char *name, unsigned depth)
{
	struct kmi_buf names = { 0 };
	struct stat st;
	int fd, r;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
	if (depth > KMI_EXTRACT_DEPTH_CAP + 1)
		return -ELOOP;
	/* A directory: never a symlink to one, as lstat said, and nothing else changes the tree. */
	if ((st.st_mode & 0700) != 0700)
		fchmodat(dirfd, name, 0700, 0);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = kmi_list_dir(fd, &names);
	for (size_t off = 0; r >= 0 && off < names.len; off += strlen(names.data + off) + 1)
		r = remove_at(fd, names.data + off, depth + 1);
	close(fd);
	kmi_buf_free(&names);
	if (r < 0)
		return r;
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* Removes what is at `path` (name in pfd), for the current entry. */
static int remove_entry(struct ex *x, int pfd, const char *name, const char *path,
			const struct stat *st)
{
	int r;

	if (S_ISDIR(st->st_mode) && x->cache_path != NULL &&
	    path_has_prefix(x->cache_path, path, strlen(path)))
		drop_cache(x);
	r = remove_at(pfd, name, 0);
	if (r < 0) {
		_cleanup_free_ char *p = printable(path);
		return entry_error(x, -r, "removing `%s`", p);
	}
	return 0;
}

/*
 * Removes, below directory dfd (at `path`, len bytes, in x->other), what
 * this layer did not put there: the content an opaque whiteout hides.
 */
static int clear_lower(struct ex *x, int dfd, size_t len, unsigned depth)
{
	struct kmi_buf names = { 0 };
	int r = kmi_list_dir(dfd, &names);

	if (r < 0) {
		_cleanup_free_ char *p = printable(x->other);
		return entry_error(x, -r, "reading directory `%s`", p);
	}
	for (size_t off = 0; r >= 0 && off < names.len; off += strlen(names.data + off) + 1) {
		const char *name = names.data + off;
		size_t n = strlen(name), clen = len + (len > 0) + n;
		struct stat st;
		int cfd;

		if (clen > x->lim.max_path || depth > x->lim.max_depth) {
			r = entry_error(x, KMI_EFORMAT, "the tree below is deeper than the limits");
			break;
		}
		if (len > 0)
			x->other[len] = '/';
		memcpy(x->other + len + (len > 0), name, n + 1);
		if (!is_seen(x, x->other)) {
			r = remove_at(dfd, name, 0);
			if (r < 0) {
				_cleanup_free_ char *p = printable(x->other);
				r = entry_error(x, -r, "removing `%s`", p);
			}
		} else if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
			cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				_cleanup_free_ char *p = printable(x->other);
				r = entry_error(x, errno, "opening directory `%s`", p);
			} else {
				r = clear_lower(x, cfd, clen, depth + 1);
				close(cfd);
			}
		}
		x->other[len] = '\0';
	}
	kmi_buf_free(&names);
	return r < 0 ? r : 0;
}

/* ---- entries ---- */

static int apply_opaque(struct ex *x, size_t base)
{
	size_t len = parent_len(base);
	int pfd, dfd, r;

	r = get_parent(x, len, true, &pfd);
	if (r < 0)
		return r;
	x->path[len] = '\0';
	mark_seen(x, x->path);
	memcpy(x->other, x->path, len + 1);
	dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return entry_error(x, errno, "opening its directory");
	r = clear_lower(x, dfd, len, 0);
	close(dfd);
	return r;
}

static int apply_whiteout(struct ex *x, size_t base)
{
	const char *victim = x->path + base + 4;
	struct stat st;
	int pfd, dfd, r;

	if (strcmp(x->path + base, ".wh..wh..opq") == 0)
		return apply_opaque(x, base);
	/* Other ".wh..wh." names are aufs metadata, which docker skips too. */
	if (strncmp(x->path + base, ".wh..wh.", 8) == 0)
		return 0;
	if (strcmp(victim, "..") == 0)
		return entry_error(x, KMI_EFORMAT, "whiteout escapes its directory");
	if (victim[0] == '\0' || strcmp(victim, ".") == 0)
		return entry_error(x, KMI_EFORMAT, "whiteout names nothing");
	r = get_parent(x, parent_len(base), false, &pfd);
	if (r != 0)
		return r < 0 ? r : 0; /* no directory: nothing to remove */
	/* The path it removes: x->path without the ".wh." of its last component. */
	memcpy(x->other, x->path, base);
	strcpy(x->other + base, victim);
	if (fstatat(pfd, victim, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : entry_error(x, errno, "checking what it removes");
	if (!is_seen(x, x->other))
		return remove_entry(x, pfd, victim, x->other, &st);
	/* This layer's own entry stays; what lower layers had below it goes. */
	if (!S_ISDIR(st.st_mode))
		return 0;
	dfd = openat(pfd, victim, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return entry_error(x, errno, "opening the directory it hides");
	r = clear_lower(x, dfd, strlen(x->other), 0);
	close(dfd);
	return r;
}

static int make_hardlink(struct ex *x, int pfd, const char *name, const char *raw,
			 const struct stat *existing)
{
	_cleanup_free_ char *t = printable(raw);
	_cleanup_close_ int tpfd_own = -1;
	const char *tname;
	char why[160];
	struct stat st;
	size_t tbase, stop;
	int tpfd = x->rootfd, r;

	if (!normalize(x, raw, x->other, &tbase, why, sizeof(why)))
		return entry_error(x, KMI_EFORMAT, "hardlink target `%s`: %s", t, why);
	if (x->other[0] == '\0')
		return entry_error(x, KMI_EFORMAT, "hardlink target `%s`: empty name", t);
	if (strcmp(x->other, x->path) == 0)
		return entry_error(x, KMI_EFORMAT, "hardlink to itself");
	tname = x->other + tbase;
	if (tbase > 0) {
		x->other[tbase - 1] = '\0';
		r = open_dir(x, x->other, false, &stop);
		if (r == -ENOENT)
			return entry_error(x, KMI_EFORMAT, "hardlink target `%s` does not exist", t);
		if (r < 0) {
			_cleanup_free_ char *what = xasprintf("hardlink target `%s`", t);
			return dir_error(x, what, x->other, stop, r);
		}
		x->other[tbase - 1] = '/';
		tpfd = tpfd_own = r;
	}
	if (fstatat(tpfd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return entry_error(x, KMI_EFORMAT, "hardlink target `%s` does not exist", t);
		return entry_error(x, errno, "hardlink target `%s`", t);
	}
	if (S_ISLNK(st.st_mode))
		return entry_error(x, KMI_EFORMAT, "hardlink target `%s` is a symlink", t);
	if (!S_ISREG(st.st_mode))
		return entry_error(x, KMI_EFORMAT, "hardlink target `%s` is not a regular file", t);
	if (existing != NULL && (r = remove_entry(x, pfd, name, x->path, existing)) < 0)
		return r;
	/* flags 0: linkat never dereferences the target (a regular file, as checked). */
	if (linkat(tpfd, tname, pfd, name, 0) < 0) {
		if (errno == ENOENT)
			return entry_error(x, KMI_EFORMAT, "hardlink target `%s` does not exist", t);
		return entry_error(x, errno, "linking to `%s`", t);
	}
	return 0;
}

static int write_file(struct ex *x, struct archive *a, struct archive_entry *e, int pfd,
		      const char *name, mode_t mode, const struct timespec *mtime)
{
	int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	_cleanup_close_ int fd = -1;
	struct timespec ts[2] = { *mtime, *mtime };
	uint64_t end = 0;

	if (size < 0)
		return entry_error(x, KMI_EFORMAT, "negative size");
	if ((uint64_t)size > x->lim.max_file_size)
		return entry_error(x, KMI_EFORMAT, "file is %lld bytes, over the limit of %llu for one file",
				   (long long)size, (unsigned long long)x->lim.max_file_size);
	if ((uint64_t)size > x->lim.max_total_size - x->bytes)
		return entry_error(x, KMI_EFORMAT, "the files add up to more than %llu bytes",
				   (unsigned long long)x->lim.max_total_size);
	x->bytes += (uint64_t)size;
	fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return entry_error(x, errno, "creating the file");
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(a, &buf, &len, &off);

		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return entry_error(x, KMI_EFORMAT, "%s", archive_error_string(a));
		if (off < 0 || (uint64_t)off > (uint64_t)size || len > (uint64_t)size - (uint64_t)off)
			return entry_error(x, KMI_EFORMAT, "data beyond the declared size");
		for (size_t done = 0; done < len;) {
			ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return entry_error(x, n < 0 ? errno : EIO, "writing the file");
			done += (size_t)n;
		}
		if ((uint64_t)off + len > end)
			end = (uint64_t)off + len;
	}
	/* A sparse file ending in a hole. */
	if (end < (uint64_t)size && ftruncate(fd, size) < 0)
		return entry_error(x, errno, "writing the file");
	if (fchmod(fd, mode) < 0 || futimens(fd, ts) < 0)
		return entry_error(x, errno, "setting the file's mode and time");
	if (close(fd) < 0) {
		fd = -1;
		return entry_error(x, errno, "writing the file");
	}
	fd = -1;
	return 0;
}

static const char *entry_string(const char *mbs, const char *utf8)
{
	return mbs != NULL ? mbs : utf8;
}

static int apply_entry(struct ex *x, struct archive *a, struct archive_entry *e)
{
	const char *raw = entry_string(archive_entry_pathname(e), archive_entry_pathname_utf8(e));
	const char *hardlink = archive_entry_hardlink(e), *name, *target;
	unsigned type = archive_entry_filetype(e);
	mode_t mode = archive_entry_perm(e) & 0777;
	struct timespec mtime = { archive_entry_mtime(e), archive_entry_mtime_nsec(e) };
	struct timespec ts[2];
	struct stat st;
	bool exists;
	char why[160];
	size_t base;
	int pfd, r;

	if (hardlink == NULL)
		hardlink = archive_entry_hardlink_utf8(e);
	if (mtime.tv_nsec < 0 || mtime.tv_nsec > 999999999)
		mtime.tv_nsec = 0;
	x->entry = raw;
	if (raw == NULL)
		return entry_error(x, KMI_EFORMAT, "no name");
	if (x->entries >= x->lim.max_entries)
		return entry_error(x, KMI_EFORMAT, "more than %llu entries",
				   (unsigned long long)x->lim.max_entries);
	x->entries++;
	if (!normalize(x, raw, x->path, &base, why, sizeof(why)))
		return entry_error(x, KMI_EFORMAT, "%s", why);
	if (x->path[0] == '\0') {
		if (type == AE_IFDIR && hardlink == NULL)
			return 0; /* the root: DEST's mode is ours to choose */
		return entry_error(x, KMI_EFORMAT, "empty name");
	}
	name = x->path + base;
	if (strncmp(name, ".wh.", 4) == 0)
		return apply_whiteout(x, base);
	if (hardlink == NULL) {
		switch (type) {
		case AE_IFREG:
		case AE_IFDIR:
		case AE_IFLNK:
			break;
		case AE_IFCHR:
			return entry_error(x, KMI_EFORMAT, "character device: device nodes are not allowed");
		case AE_IFBLK:
			return entry_error(x, KMI_EFORMAT, "block device: device nodes are not allowed");
		case AE_IFIFO:
			return entry_error(x, KMI_EFORMAT, "FIFO: FIFOs are not allowed");
		case AE_IFSOCK:
			return entry_error(x, KMI_EFORMAT, "socket: sockets are not allowed");
		default:
			return entry_error(x, KMI_EFORMAT, "unknown entry type 0%o", type);
		}
	}
	if ((r = get_parent(x, parent_len(base), true, &pfd)) < 0)
		return r;
	mark_seen(x, x->path);
	exists = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!exists && errno != ENOENT)
		return entry_error(x, errno, "checking what is there");
	if (hardlink != NULL)
		return make_hardlink(x, pfd, name, hardlink, exists ? &st : NULL);

	switch (type) {
	case AE_IFDIR:
		if (!exists || !S_ISDIR(st.st_mode)) {
			if (exists && (r = remove_entry(x, pfd, name, x->path, &st)) < 0)
				return r;
			if (mkdirat(pfd, name, 0700) < 0)
				return entry_error(x, errno, "creating the directory");
		}
		record_dir(x, x->path, strlen(x->path), mode, &mtime);
		return 0;
	case AE_IFREG:
		if (exists && (r = remove_entry(x, pfd, name, x->path, &st)) < 0)
			return r;
		return write_file(x, a, e, pfd, name, mode, &mtime);
	default: /* AE_IFLNK */
		target = entry_string(archive_entry_symlink(e), archive_entry_symlink_utf8(e));
		if (target == NULL || target[0] == '\0')
			return entry_error(x, KMI_EFORMAT, "symlink without a target");
		if (strlen(target) > x->lim.max_path)
			return entry_error(x, KMI_EFORMAT, "symlink target is %zu bytes, over the limit of %zu",
					   strlen(target), x->lim.max_path);
		if (exists && (r = remove_entry(x, pfd, name, x->path, &st)) < 0)
			return r;
		if (symlinkat(target, pfd, name) < 0)
			return entry_error(x, errno, "creating the symlink");
		ts[0] = ts[1] = mtime;
		if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return entry_error(x, errno, "setting the symlink's time");
		return 0;
	}
}

/* ---- layers ---- */

static int media_compression(const char *mt)
{
	static const struct {
		const char *mt;
		int filter;
	} known[] = {
		{ KMI_MT_OCI_LAYER, ARCHIVE_FILTER_NONE },
		{ KMI_MT_OCI_LAYER_GZIP, ARCHIVE_FILTER_GZIP },
		{ KMI_MT_OCI_LAYER_ZSTD, ARCHIVE_FILTER_ZSTD },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", ARCHIVE_FILTER_NONE },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", ARCHIVE_FILTER_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", ARCHIVE_FILTER_ZSTD },
		{ KMI_MT_DOCKER_LAYER_GZIP, ARCHIVE_FILTER_GZIP },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", ARCHIVE_FILTER_GZIP },
		{ "application/vnd.docker.image.rootfs.diff.tar", ARCHIVE_FILTER_NONE },
	};

	if (mt == NULL)
		return COMP_ANY;
	for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
		if (strcmp(mt, known[i].mt) == 0)
			return known[i].filter;
	}
	return COMP_UNSUPPORTED;
}

static const char *filter_name(int filter)
{
	switch (filter) {
	case ARCHIVE_FILTER_GZIP:
		return "gzip";
	case ARCHIVE_FILTER_ZSTD:
		return "zstd";
	case ARCHIVE_FILTER_NONE:
		return "uncompressed";
	default:
		return "compressed in another way";
	}
}

/*
 * gzip, the common case, bypasses libarchive's filter: each member is
 * decompressed whole by libdeflate (about twice as fast as zlib) on a helper
 * thread, up to GZ_NBUF members ahead of the tar reader, so that
 * decompressing overlaps with writing the files.  kmodimg's own layers are
 * members of 1 MiB (oci/pgzip.h); a member that does not fit in a buffer
 * (gzip(1), Go, pigz: one member for the whole layer) is streamed with zlib
 * instead.  The blob must be mapped: libdeflate wants a member in one piece.
 */
#define GZ_BUF (4u << 20)
#define GZ_NBUF 8

struct gunzip {
	const unsigned char *in;
	size_t len;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned char *bufs[GZ_NBUF];
	size_t used[GZ_NBUF];
	/* filled buffers: count of them from head; held: the one libarchive reads */
	unsigned head, count;
	int held;
	bool done, stop;
	char error[128];
};

/* A buffer to fill, or -1 when the reader is gone. */
static int gz_slot(struct gunzip *g)
{
	int slot = -1;

	pthread_mutex_lock(&g->lock);
	while (!g->stop && g->count + (g->held >= 0) >= GZ_NBUF)
		pthread_cond_wait(&g->cond, &g->lock);
	if (!g->stop)
		slot = (int)((g->head + g->count) % GZ_NBUF);
	pthread_mutex_unlock(&g->lock);
	/* Allocated when first needed: most layers are small. */
	if (slot >= 0 && g->bufs[slot] == NULL)
		g->bufs[slot] = xmalloc(GZ_BUF);
	return slot;
}

static void gz_publish(struct gunzip *g, int slot, size_t n)
{
	pthread_mutex_lock(&g->lock);
	g->used[slot] = n;
	g->count++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* A member too large for a buffer, with zlib, from *pos; 0, 1 if stopped, or -1. */
static int gz_stream(struct gunzip *g, size_t *pos, int slot)
{
	z_stream z = { 0 };
	size_t left = g->len - *pos, fill = 0;
	int r = 0, zr;

	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		snprintf(g->error, sizeof(g->error), "gzip: cannot start zlib");
		return -1;
	}
	z.next_in = (unsigned char *)g->in + *pos;
	for (;;) {
		if (z.avail_in == 0 && left > 0) {
			z.avail_in = left > (1u << 30) ? 1u << 30 : (uInt)left;
			left -= z.avail_in;
		}
		z.next_out = g->bufs[slot] + fill;
		z.avail_out = (uInt)(GZ_BUF - fill);
		zr = inflate(&z, Z_NO_FLUSH);
		fill = GZ_BUF - z.avail_out;
		if (zr == Z_STREAM_END) {
			if (fill > 0)
				gz_publish(g, slot, fill);
			*pos += z.total_in;
			break;
		}
		if ((zr != Z_OK && zr != Z_BUF_ERROR) || (zr == Z_BUF_ERROR && z.avail_in == 0 && left == 0)) {
			snprintf(g->error, sizeof(g->error), "gzip: %s at offset %zu",
				 zr == Z_BUF_ERROR ? "truncated member" : "corrupt data", *pos);
			r = -1;
			break;
		}
		if (z.avail_out == 0) {
			gz_publish(g, slot, fill);
			fill = 0;
			if ((slot = gz_slot(g)) < 0) {
				r = 1;
				break;
			}
		}
	}
	inflateEnd(&z);
	return r;
}

static void *gz_main(void *arg)
{
	struct gunzip *g = arg;
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	size_t pos = 0;

	while (d != NULL && pos < g->len) {
		size_t in_used, out_len;
		enum libdeflate_result lr;
		int slot;

		/* Members follow members to the end: anything else is an error, as for Go's reader. */
		if (g->len - pos < 18 || g->in[pos] != 0x1f || g->in[pos + 1] != 0x8b) {
			snprintf(g->error, sizeof(g->error), "gzip: no gzip member at offset %zu", pos);
			break;
		}
		if ((slot = gz_slot(g)) < 0)
			break;
		lr = libdeflate_gzip_decompress_ex(d, g->in + pos, g->len - pos, g->bufs[slot], GZ_BUF,
						   &in_used, &out_len);
		if (lr == LIBDEFLATE_SUCCESS) {
			pos += in_used;
			if (out_len > 0)
				gz_publish(g, slot, out_len);
			continue;
		}
		if (lr != LIBDEFLATE_INSUFFICIENT_SPACE) {
			snprintf(g->error, sizeof(g->error), "gzip: corrupt or truncated member at offset %zu", pos);
			break;
		}
		if (gz_stream(g, &pos, slot) != 0)
			break;
	}
	if (d == NULL)
		snprintf(g->error, sizeof(g->error), "gzip: out of memory");
	libdeflate_free_decompressor(d);
	pthread_mutex_lock(&g->lock);
	g->done = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

static int gz_start(struct gunzip *g, const unsigned char *in, size_t len)
{
	*g = (struct gunzip){ .in = in, .len = len, .held = -1 };
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	return -pthread_create(&g->thread, NULL, gz_main, g);
}

static void gz_stop(struct gunzip *g)
{
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	for (unsigned i = 0; i < GZ_NBUF; i++)
		free(g->bufs[i]);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
}

static la_ssize_t gz_read(struct archive *a, struct gunzip *g, const void **out)
{
	la_ssize_t n;

	pthread_mutex_lock(&g->lock);
	if (g->held >= 0) {
		g->held = -1;
		pthread_cond_broadcast(&g->cond);
	}
	while (g->count == 0 && !g->done)
		pthread_cond_wait(&g->cond, &g->lock);
	if (g->count == 0) {
		n = g->error[0] != '\0' ? -1 : 0;
		if (n < 0)
			archive_set_error(a, EINVAL, "%s", g->error);
	} else {
		g->held = (int)g->head;
		g->head = (g->head + 1) % GZ_NBUF;
		g->count--;
		*out = g->bufs[g->held];
		n = (la_ssize_t)g->used[g->held];
	}
	pthread_mutex_unlock(&g->lock);
	return n;
}

/*
 * A layer blob as libarchive reads it: mapped (regular files) or read in
 * blocks (hashed on the way when it is to be checked), and decompressed
 * here when it is gzip and mapped.
 */
struct source {
	int fd;
	const unsigned char *map;
	size_t map_size, start, pos;
	bool hash_stream;
	struct kmi_sha256 hash;
	char *buf;
	struct gunzip *gz;
};

static la_ssize_t source_read(struct archive *a, void *userdata, const void **out)
{
	struct source *s = userdata;
	ssize_t n;

	if (s->gz != NULL)
		return gz_read(a, s->gz, out);
	if (s->map != NULL) {
		n = (ssize_t)(s->map_size - s->pos < READ_BLOCK ? s->map_size - s->pos : READ_BLOCK);
		*out = s->map + s->pos;
		s->pos += (size_t)n;
		return n;
	}
	do
		n = read(s->fd, s->buf, READ_BLOCK);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "reading the blob: %s", strerror(errno));
		return -1;
	}
	if (s->hash_stream && n > 0)
		kmi_sha256_update(&s->hash, s->buf, (size_t)n);
	*out = s->buf;
	return n;
}

static int digest_mismatch(struct ex *x, const char *got)
{
	return kmi_error_set(x->err, KMI_EDIGEST, "layer %s: the blob is corrupt: its content is %s",
			     x->layer, got);
}

/* The read path: hashes what the tar reader left (padding after its end), then compares. */
static int finish_stream_hash(struct ex *x, struct source *s, const char *digest)
{
	char got[KMI_DIGEST_LEN];
	ssize_t n;

	for (;;) {
		n = read(s->fd, s->buf, READ_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kmi_error_set(x->err, errno, "layer %s: reading the blob", x->layer);
		if (n == 0)
			break;
		kmi_sha256_update(&s->hash, s->buf, (size_t)n);
	}
	s->hash_stream = false;
	kmi_sha256_final(&s->hash, got);
	return strcmp(got, digest) != 0 ? digest_mismatch(x, got) : 0;
}

/* Maps the blob from the fd's offset when it is a regular file; the read path otherwise. */
static int source_open(struct ex *x, struct source *s, const struct kmi_extract_layer *layer)
{
	struct stat st;
	off_t off = lseek(layer->fd, 0, SEEK_CUR);
	void *m;

	s->fd = layer->fd;
	if (off >= 0 && fstat(layer->fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > off) {
		m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, layer->fd, 0);
		if (m != MAP_FAILED) {
			madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
			s->map = m;
			s->map_size = (size_t)st.st_size;
			s->start = s->pos = (size_t)off;
		}
	}
	if (s->map == NULL)
		s->buf = xmalloc(READ_BLOCK);
	if (!layer->verify)
		return 0;
	if (s->map == NULL) {
		s->hash_stream = true;
		kmi_sha256_init(&s->hash);
		return 0;
	}
	/* Mapped: checked before a byte of it is parsed. */
	{
		char got[KMI_DIGEST_LEN];

		kmi_sha256_digest(s->map + s->start, s->map_size - s->start, got);
		return strcmp(got, layer->digest) != 0 ? digest_mismatch(x, got) : 0;
	}
}

static void source_close(struct source *s)
{
	if (s->gz != NULL) {
		gz_stop(s->gz);
		free(s->gz);
	}
	if (s->map != NULL)
		munmap((void *)s->map, s->map_size);
	if (s->hash_stream)
		kmi_sha256_free(&s->hash);
	free(s->buf);
}

static int read_layer(struct ex *x, struct archive *a, struct source *s,
		      const struct kmi_extract_layer *layer, int want)
{
	struct archive_entry *e;
	int count, got, r;

	if (archive_read_open(a, s, NULL, source_read, NULL) != ARCHIVE_OK)
		return kmi_error_set(x->err, KMI_EFORMAT, "layer %s: %s", x->layer,
				     archive_error_string(a));
	/* One compression (or none), the one the media type names: no gzip in gzip, no surprises. */
	count = archive_filter_count(a) + (s->gz != NULL);
	got = s->gz != NULL ? ARCHIVE_FILTER_GZIP : archive_filter_code(a, 0);
	if (count > 2 || (want != COMP_ANY && got != want))
		return kmi_error_set(x->err, KMI_EFORMAT, "layer %s: its media type says %s, its content is %s",
				     x->layer, want == COMP_ANY ? "gzip, zstd or uncompressed" : filter_name(want),
				     count > 2 ? "compressed twice" : filter_name(got));
	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return kmi_error_set(x->err, KMI_EFORMAT, "layer %s: %s", x->layer,
					     archive_error_string(a));
		if ((r = apply_entry(x, a, e)) < 0)
			return r;
	}
	x->entry = NULL;
	return s->hash_stream ? finish_stream_hash(x, s, layer->digest) : 0;
}

static int apply_layer(struct ex *x, size_t index, const struct kmi_extract_layer *layer)
{
	struct kmi_error **err = x->err;
	int want = media_compression(layer->media_type);
	struct source s = { .fd = -1 };
	struct archive *a;
	int r;

	free(x->layer);
	x->layer = layer->digest ? printable(layer->digest) : xasprintf("%zu", index + 1);
	x->entry = NULL;
	if (want == COMP_UNSUPPORTED)
		return kmi_error_set(x->err, KMI_EFORMAT, "layer %s: unsupported media type `%s`",
				     x->layer, layer->media_type);
	if (layer->verify && (layer->digest == NULL || !kmi_digest_valid(layer->digest)))
		return kmi_error_set(x->err, KMI_EFORMAT, "layer %s: no digest to check", x->layer);
	if ((r = kmi_archive_load(err)) < 0)
		return r;
	if ((r = source_open(x, &s, layer)) < 0) {
		source_close(&s);
		return r;
	}

	kmi_strmap_free(&x->seen);
	kmi_arena_free(&x->seen_keys);
	kmi_strmap_init(&x->seen, 1024);

	a = archive_read_new();
	if (s.map != NULL && (want == ARCHIVE_FILTER_GZIP || want == COMP_ANY) &&
	    s.map_size - s.start >= 2 && s.map[s.start] == 0x1f && s.map[s.start + 1] == 0x8b) {
		if ((r = kmi_deflate_load(err)) < 0 || (r = kmi_zlib_load(err)) < 0) {
			archive_read_free(a);
			source_close(&s);
			return r;
		}
		s.gz = xmalloc(sizeof(*s.gz));
		if ((r = gz_start(s.gz, s.map + s.start, s.map_size - s.start)) < 0) {
			free(s.gz);
			s.gz = NULL;
			archive_read_free(a);
			source_close(&s);
			return kmi_error_set(x->err, -r, "layer %s: starting a thread", x->layer);
		}
	}
	/* Filters also where none is expected: to name what the content really is. */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_empty(a);
	r = read_layer(x, a, &s, layer, want);
	if (r < 0 && s.hash_stream && kmi_error_code(*err) == KMI_EFORMAT) {
		/* Unreadable because damaged?  Then say so, rather than what the damage looks like. */
		struct kmi_error *digest_err = NULL;

		x->err = &digest_err;
		if (finish_stream_hash(x, &s, layer->digest) < 0 &&
		    kmi_error_code(digest_err) == KMI_EDIGEST) {
			kmi_error_free(err);
			*err = TAKE_PTR(digest_err);
		}
		kmi_error_free(&digest_err);
		x->err = err;
	}
	archive_read_free(a);
	source_close(&s);
	return r;
}

/* ---- the end: directory modes, then into place ---- */

static int cmp_len_desc(const void *a, const void *b)
{
	size_t la = strlen((*(const struct kmi_strmap_slot *const *)a)->key);
	size_t lb = strlen((*(const struct kmi_strmap_slot *const *)b)->key);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

static int fix_dir(struct ex *x, int fd, const struct dirfix *f, const char *path)
{
	struct timespec ts[2] = { f->mtime, f->mtime };

	if ((f->has_mtime && futimens(fd, ts) < 0) || fchmod(fd, f->mode) < 0) {
		_cleanup_free_ char *p = printable(path);
		return kmi_error_set(x->err, errno, "setting the mode of directory `%s`", p);
	}
	return 0;
}

/*
 * Modes and mtimes of the directories still there, deepest first: a
 * parent's after its children.  Those at the top are left to fix_top_dirs()
 * when they are still to be moved (a directory moves only if writable).
 */
static int fix_dirs(struct ex *x, bool skip_top)
{
	_cleanup_free_ const struct kmi_strmap_slot **v = xcalloc(x->dirs.count + 1, sizeof(*v));
	size_t n = 0, stop;
	int r = 0;

	for (size_t i = 0; i <= x->dirs.mask; i++) {
		if (x->dirs.slots[i].hash != 0 && !(skip_top && strchr(x->dirs.slots[i].key, '/') == NULL))
			v[n++] = &x->dirs.slots[i];
	}
	qsort(v, n, sizeof(*v), cmp_len_desc);
	x->entry = NULL;
	for (size_t i = 0; r == 0 && i < n; i++) {
		int pfd = open_dir(x, v[i]->key, false, &stop), fd;

		if (pfd < 0)
			continue; /* removed or replaced by a later layer */
		fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(pfd);
		if (fd < 0)
			continue;
		r = fix_dir(x, fd, v[i]->value, v[i]->key);
		close(fd);
	}
	return r;
}

static int fix_top_dirs(struct ex *x, int destfd)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i <= x->dirs.mask; i++) {
		const struct kmi_strmap_slot *slot = &x->dirs.slots[i];
		int fd;

		if (slot->hash == 0 || strchr(slot->key, '/') != NULL)
			continue;
		fd = openat(destfd, slot->key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		r = fix_dir(x, fd, slot->value, slot->key);
		close(fd);
	}
	return r;
}

/* renameat2(RENAME_NOREPLACE), or a checked renameat() where the filesystem lacks it; -errno. */
static int rename_noreplace(int from_dir, const char *from, int to_dir, const char *to)
{
	struct stat st;

	if (renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	if (fstatat(to_dir, to, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	return renameat(from_dir, from, to_dir, to) < 0 ? -errno : 0;
}

/*
 * Moves the entries of the temp dir up into dest, then sets the modes of
 * the directories among them; removes what it moved on failure.
 */
static int move_into(struct ex *x, const char *dest)
{
	struct kmi_buf names = { 0 };
	_cleanup_close_ int destfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t off = 0;
	int r;

	if (destfd < 0)
		return kmi_error_set(x->err, errno, "opening `%s`", dest);
	r = kmi_list_dir(x->rootfd, &names);
	if (r < 0) {
		kmi_buf_free(&names);
		return kmi_error_set(x->err, -r, "reading the temp dir in `%s`", dest);
	}
	for (r = 0; off < names.len; off += strlen(names.data + off) + 1) {
		const char *name = names.data + off;

		if ((r = rename_noreplace(x->rootfd, name, destfd, name)) < 0) {
			_cleanup_free_ char *p = printable(name);
			r = kmi_error_set(x->err, -r, "moving `%s` into `%s`", p, dest);
			break;
		}
	}
	if (r == 0)
		r = fix_top_dirs(x, destfd);
	if (r < 0) {
		for (size_t o = 0; o < off; o += strlen(names.data + o) + 1)
			remove_at(destfd, names.data + o, 0);
	}
	kmi_buf_free(&names);
	return r;
}

static int dir_is_empty(const char *path, bool *empty)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL)
		return -errno;
	*empty = true;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			*empty = false;
			break;
		}
	}
	closedir(d);
	return 0;
}

/*
 * A temp dir is named `NAME.kmodimg-tmp-PID-XXXXXX` (`.kmodimg-tmp-PID-XXXXXX`
 * inside an existing destination) and flock'ed by its extraction while it
 * runs.  One left by a killed run is removed by the next extraction into the
 * same directory: only when its pid is gone and its lock can be taken (the
 * lock also covers a pid from another pid namespace).
 */
bool kmi_extract_temp_stale(int dirfd, const char *name)
{
	const char *p = strstr(name, ".kmodimg-tmp-");
	_cleanup_close_ int fd = -1;
	char *end;
	long pid;

	if (p == NULL)
		return false;
	p += strlen(".kmodimg-tmp-");
	if (*p < '1' || *p > '9')
		return false;
	pid = strtol(p, &end, 10);
	if (*end != '-' || strlen(end + 1) != 6 || pid <= 0 || pid > INT_MAX)
		return false;
	if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return false;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
}

/* Removes stale temp dirs in dir (see above); failures only leave them there. */
static void clean_stale_temps(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct kmi_buf names = { 0 };

	if (fd < 0 || kmi_list_dir(fd, &names) < 0) {
		kmi_buf_free(&names);
		return;
	}
	for (size_t off = 0; off < names.len; off += strlen(names.data + off) + 1) {
		if (kmi_extract_temp_stale(fd, names.data + off))
			remove_at(fd, names.data + off, 0);
	}
	kmi_buf_free(&names);
}

/* The directory holding path (path is modified). */
static const char *parent_of(char *path)
{
	char *slash = strrchr(path, '/');

	if (slash == NULL)
		return ".";
	if (slash == path)
		return "/";
	*slash = '\0';
	return path;
}

static void ex_free(struct ex *x)
{
	drop_cache(x);
	kmi_strmap_free(&x->seen);
	kmi_arena_free(&x->seen_keys);
	kmi_strmap_free(&x->dirs);
	kmi_arena_free(&x->dir_keys);
	free(x->layer);
	free(x->path);
	free(x->other);
	free(x->scratch);
	if (x->rootfd >= 0)
		close(x->rootfd);
}

static int extract_into(struct ex *x, kmi_extract_next_fn *next, void *userdata, bool new_dest)
{
	int r;

	for (size_t i = 0;; i++) {
		struct kmi_extract_layer layer = { .fd = -1 };

		r = next(userdata, i, &layer, x->err);
		if (r <= 0)
			break;
		r = apply_layer(x, i, &layer);
		if (layer.fd >= 0)
			close(layer.fd);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	drop_cache(x);
	if ((r = fix_dirs(x, !new_dest)) < 0)
		return r;
	if (new_dest && fchmod(x->rootfd, 0755) < 0)
		return kmi_error_set(x->err, errno, "setting the mode of the new directory");
	return 0;
}

int kmi_extract_layers(kmi_extract_next_fn *next, void *userdata, const char *dest,
		       const struct kmi_extract_limits *lim, struct kmi_error **err)
{
	struct ex x = { .rootfd = -1, .cache_fd = -1, .err = err };
	_cleanup_free_ char *tmp = NULL, *base = xstrdup(dest);
	size_t len = strlen(base);
	struct stat st;
	bool empty = false, new_dest;
	int r;

	if (lim != NULL)
		x.lim = *lim;
	else
		kmi_extract_limits_default(&x.lim);
	if (x.lim.max_depth > KMI_EXTRACT_DEPTH_CAP)
		x.lim.max_depth = KMI_EXTRACT_DEPTH_CAP;
	if (x.lim.max_path < 1 || x.lim.max_path > (1u << 20))
		return kmi_error_set(err, EINVAL, "extract: path limit %zu", x.lim.max_path);

	while (len > 1 && base[len - 1] == '/')
		base[--len] = '\0';
	if (len == 0)
		return kmi_error_set(err, KMI_EUSAGE, "empty destination path");
	{
		_cleanup_free_ char *parent = xstrdup(base);
		clean_stale_temps(parent_of(parent));
	}
	if (stat(dest, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return kmi_error_set(err, KMI_EUSAGE, "`%s` exists and is not a directory", dest);
		clean_stale_temps(dest);
		if ((r = dir_is_empty(dest, &empty)) < 0)
			return kmi_error_set(err, -r, "reading `%s`", dest);
		if (!empty)
			return kmi_error_set(err, KMI_EUSAGE,
					     "`%s` is not empty (the destination must not exist, or be an empty directory)",
					     dest);
		new_dest = false;
		tmp = xasprintf("%s/.kmodimg-tmp-%d-XXXXXX", base, (int)getpid());
	} else if (errno == ENOENT) {
		new_dest = true;
		tmp = xasprintf("%s.kmodimg-tmp-%d-XXXXXX", base, (int)getpid());
	} else {
		return kmi_error_set(err, errno, "`%s`", dest);
	}
	if (mkdtemp(tmp) == NULL)
		return kmi_error_set(err, errno, "creating a temp dir for `%s`", dest);
	x.rootfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (x.rootfd < 0 || flock(x.rootfd, LOCK_EX | LOCK_NB) < 0) {
		r = kmi_error_set(err, errno, "opening `%s`", tmp);
		if (x.rootfd >= 0)
			close(x.rootfd);
		rmdir(tmp);
		return r;
	}
	x.path = xmalloc(x.lim.max_path + 1);
	x.other = xmalloc(x.lim.max_path + 1);
	x.scratch = xmalloc(x.lim.max_path + 1);
	kmi_strmap_init(&x.dirs, 256);
	kmi_strmap_init(&x.seen, 16);

	r = extract_into(&x, next, userdata, new_dest);
	if (r == 0 && new_dest && (r = rename_noreplace(AT_FDCWD, tmp, AT_FDCWD, dest)) < 0)
		r = kmi_error_set(err, -r, "renaming the temp dir to `%s`", dest);
	if (r == 0 && !new_dest) {
		r = move_into(&x, dest);
		if (r == 0 && rmdir(tmp) < 0)
			r = kmi_error_set(err, errno, "removing the temp dir `%s`", tmp);
	}
	ex_free(&x);
	if (r < 0)
		remove_at(AT_FDCWD, tmp, 0);
	return r;
}

/* ---- sources of layers ---- */

struct fds_source {
	const struct kmi_extract_layer *layers;
	size_t n;
};

static int fds_next(void *userdata, size_t i, struct kmi_extract_layer *layer,
		    struct kmi_error **err)
{
	const struct fds_source *s = userdata;

	if (i >= s->n)
		return 0;
	*layer = s->layers[i];
	layer->fd = fcntl(s->layers[i].fd, F_DUPFD_CLOEXEC, 3);
	if (layer->fd < 0)
		return kmi_error_set(err, errno, "layer %zu: duplicating its fd", i + 1);
	return 1;
}

int kmi_extract_fds(const struct kmi_extract_layer *layers, size_t n, const char *dest,
		    const struct kmi_extract_limits *lim, struct kmi_error **err)
{
	struct fds_source s = { layers, n };

	return kmi_extract_layers(fds_next, &s, dest, lim, err);
}

struct image_source {
	struct kmi_endpoint *ep;
	const struct kmi_manifest *m;
	char *tmpdir; /* where registry blobs are downloaded to, unlinked */
};

/* An unlinked temp file in dir. */
static int temp_file(const char *dir, struct kmi_error **err)
{
	_cleanup_free_ char *p = NULL;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return kmi_error_set(err, errno, "creating a temp file in `%s`", dir);
	p = xasprintf("%s/.kmodimg-blob-XXXXXX", dir);
	fd = mkostemp(p, O_CLOEXEC);
	if (fd < 0)
		return kmi_error_set(err, errno, "creating a temp file in `%s`", dir);
	unlink(p);
	return fd;
}

static int image_next(void *userdata, size_t i, struct kmi_extract_layer *layer,
		      struct kmi_error **err)
{
	struct image_source *s = userdata;
	const struct kmi_descriptor *d;
	uint64_t size;
	int fd, r;

	if (i >= s->m->n_layers)
		return 0;
	d = &s->m->layers[i];
	layer->digest = d->digest;
	layer->media_type = d->media_type;
	if (s->ep->layout != NULL) {
		if ((r = kmi_layout_open_blob(s->ep->layout, d->digest, &fd, &size, err)) < 0)
			return r;
		if (size != d->size) {
			close(fd);
			return kmi_error_set(err, KMI_EDIGEST,
					     "layer %s: the blob is %llu bytes, the manifest says %llu",
					     d->digest, (unsigned long long)size,
					     (unsigned long long)d->size);
		}
		layer->verify = true;
	} else {
		if ((fd = temp_file(s->tmpdir, err)) < 0)
			return fd;
		r = kmi_registry_get_blob(s->ep->reg, s->ep->repo, d->digest, d->size, fd, err);
		if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
			r = kmi_error_set(err, errno, "layer %s: rewinding the download", d->digest);
		if (r < 0) {
			close(fd);
			return r;
		}
		layer->verify = false; /* the registry client checked it */
	}
	layer->fd = fd;
	return 1;
}

/* Where downloads go: an existing (empty) dest itself, else the directory that will hold it. */
static char *download_dir(const char *dest)
{
	char *p = xstrdup(dest), *slash;
	size_t len = strlen(p);
	struct stat st;

	if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode))
		return p;

	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	slash = strrchr(p, '/');
	if (slash == NULL) {
		free(p);
		return xstrdup(".");
	}
	if (slash == p)
		slash[1] = '\0';
	else
		*slash = '\0';
	return p;
}

int kmi_extract_manifest(struct kmi_endpoint *ep, const struct kmi_manifest_data *md,
			 const char *dest, const struct kmi_extract_limits *lim,
			 struct kmi_error **err)
{
	struct kmi_manifest m;
	struct image_source s = { .ep = ep, .m = &m };
	int r = kmi_manifest_parse(md->data, md->len, md->media_type, &m, err);

	if (r < 0)
		return r;
	if (m.is_index) {
		kmi_manifest_free(&m);
		return kmi_error_set(err, KMI_EFORMAT, "%s is an index, not an image manifest", md->digest);
	}
	for (size_t i = 0; i < m.n_layers; i++) {
		if (media_compression(m.layers[i].media_type) == COMP_UNSUPPORTED) {
			r = kmi_error_set(err, KMI_EFORMAT, "layer %s: unsupported media type `%s`",
					  m.layers[i].digest, m.layers[i].media_type);
			kmi_manifest_free(&m);
			return r;
		}
	}
	s.tmpdir = download_dir(dest);
	r = kmi_extract_layers(image_next, &s, dest, lim, err);
	free(s.tmpdir);
	kmi_manifest_free(&m);
	return r;
}

int kmi_extract_image(struct kmi_endpoint *ep, const char *dest,
		      const struct kmi_extract_limits *lim, char digest[KMI_DIGEST_LEN],
		      struct kmi_error **err)
{
	struct kmi_manifest_data md;
	int r = kmi_endpoint_get_manifest(ep, NULL, &md, err);

	if (r < 0)
		return r;
	r = kmi_select_platform(ep, &md, err);
	if (r == 0)
		r = kmi_extract_manifest(ep, &md, dest, lim, err);
	if (r == 0 && digest != NULL)
		memcpy(digest, md.digest, KMI_DIGEST_LEN);
	free(md.data);
	return r;
}
