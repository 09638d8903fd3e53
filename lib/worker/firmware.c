// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Firmware: the image's files copied into the host directory the kernel's
 * firmware loader searches (merged into what is there, each file replaced
 * by a rename so the loader never sees half a file), the loader pointed at
 * that directory, and the same files removed again on unload.  The image
 * side is walked without following symlinks; on the host side a symlink
 * where the image has a directory is refused rather than written through.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "worker/worker.h"

#define FW_MAX_DEPTH 32
/* The kernel's fw_path_para is 256 bytes with its NUL. */
#define FW_CLASS_PATH_MAX 255

struct fw {
	const char *src;
	const char *dst;
	struct kmi_buf rel; /* path below src of the current entry, for messages */
	bool remove;
	struct kmi_error **err;
};

static int fw_error(struct fw *f, int errnum, const char *what)
{
	return kmi_error_set(f->err, errnum, "firmware `%.*s`: %s", (int)f->rel.len,
			     f->rel.data ? f->rel.data : "", what);
}

static int copy_data(int in, int out)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (kmi_write_all(out, buf, (size_t)n) < 0)
			return -errno;
	}
	return 0;
}

/* Writes a temp file beside name in dfd and renames it over name. */
static int copy_file(struct fw *f, int sfd, int dfd, const char *name, const struct stat *st)
{
	_cleanup_free_ char *tmp = xasprintf(".%s.kmodimg-XXXXXX", name);
	_cleanup_close_ int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int out = -1;
	int r;

	if (in < 0)
		return fw_error(f, errno, "opening it in the image");
	/* mkostempsat does not exist: make the name here, create it exclusively there. */
	for (int tries = 0; tries < 100; tries++) {
		static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
		size_t len = strlen(tmp);
		for (size_t i = len - 6; i < len; i++)
			tmp[i] = chars[(unsigned)random() % (sizeof(chars) - 1)];
		out = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out >= 0 || errno != EEXIST)
			break;
	}
	if (out < 0)
		return fw_error(f, errno, "creating a temp file in the host directory");
	r = copy_data(in, out);
	if (r == 0 && fchmod(out, st->st_mode & 0777) < 0)
		r = -errno;
	if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dfd, tmp, 0);
		return fw_error(f, -r, "copying it");
	}
	return 0;
}

static int copy_symlink(struct fw *f, int sfd, int dfd, const char *name)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(sfd, name, target, sizeof(target) - 1);
	_cleanup_free_ char *tmp = xasprintf(".%s.kmodimg-link-%d", name, (int)getpid());

	if (n < 0)
		return fw_error(f, errno, "reading the symlink");
	target[n] = '\0';
	unlinkat(dfd, tmp, 0);
	if (symlinkat(target, dfd, tmp) < 0)
		return fw_error(f, errno, "creating the symlink");
	if (renameat(dfd, tmp, dfd, name) < 0) {
		int e = errno;
		unlinkat(dfd, tmp, 0);
		return fw_error(f, e, "placing the symlink");
	}
	return 0;
}

/* Removes what the image has at name, if the host has the same kind of entry there. */
static int remove_file(struct fw *f, int sfd, int dfd, const char *name, const struct stat *st)
{
	struct stat dst;

	if (fstatat(dfd, name, &dst, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fw_error(f, errno, "checking the host copy");
	if ((S_ISREG(st->st_mode) && S_ISREG(dst.st_mode)) ||
	    (S_ISLNK(st->st_mode) && S_ISLNK(dst.st_mode))) {
		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
			return fw_error(f, errno, "removing the host copy");
	}
	return 0;
}

static int walk(struct fw *f, int sfd, int dfd, unsigned depth);

static int walk_dir(struct fw *f, int sfd, int dfd, const char *name, const struct stat *st,
		    unsigned depth)
{
	_cleanup_close_ int s = -1, d = -1;

	if (depth >= FW_MAX_DEPTH)
		return fw_error(f, ELOOP, "nested too deep");
	s = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s < 0)
		return fw_error(f, errno, "opening the image's directory");
	if (!f->remove && mkdirat(dfd, name, st->st_mode & 0777) < 0 && errno != EEXIST)
		return fw_error(f, errno, "creating the directory");
	d = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0) {
		if (f->remove && errno == ENOENT)
			return 0;
		return fw_error(f, errno, "opening the host directory (a symlink is not followed)");
	}
	return walk(f, s, d, depth + 1);
}

static int walk_entry(struct fw *f, int sfd, int dfd, const char *name, unsigned depth)
{
	size_t mark = f->rel.len;
	struct stat st;
	int r = 0;

	if (mark > 0)
		kmi_buf_putc(&f->rel, '/');
	kmi_buf_puts(&f->rel, name);
	if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = fw_error(f, errno, "reading it in the image");
	else if (S_ISDIR(st.st_mode))
		r = walk_dir(f, sfd, dfd, name, &st, depth);
	else if (f->remove)
		r = remove_file(f, sfd, dfd, name, &st);
	else if (S_ISREG(st.st_mode))
		r = copy_file(f, sfd, dfd, name, &st);
	else if (S_ISLNK(st.st_mode))
		r = copy_symlink(f, sfd, dfd, name);
	f->rel.len = mark;
	return r;
}

static int walk(struct fw *f, int sfd, int dfd, unsigned depth)
{
	int dupfd = fcntl(sfd, F_DUPFD_CLOEXEC, 3);
	DIR *dir = dupfd >= 0 ? fdopendir(dupfd) : NULL;
	struct dirent *de;
	int r = 0;

	if (dir == NULL) {
		if (dupfd >= 0)
			close(dupfd);
		return fw_error(f, errno, "listing the image's directory");
	}
	while (r == 0 && (de = readdir(dir)) != NULL) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		r = walk_entry(f, sfd, dfd, de->d_name, depth);
	}
	closedir(dir);
	return r;
}

static int walk_top(const char *src, const char *dst, bool remove, struct kmi_error **err)
{
	struct fw f = { .src = src, .dst = dst, .remove = remove, .err = err };
	_cleanup_close_ int s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int d = -1;
	int r;

	if (s < 0)
		return kmi_error_set(err, errno, "the image's firmware directory `%s`", src);
	if (!remove && (r = kmi_mkdir_p(dst, 0755)) < 0)
		return kmi_error_set(err, -r, "creating the firmware directory `%s`", dst);
	d = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return remove && errno == ENOENT ? 0
						 : kmi_error_set(err, errno, "firmware directory `%s`", dst);
	r = walk(&f, s, d, 0);
	kmi_buf_free(&f.rel);
	if (r < 0)
		kmi_error_wrap(err, "%s `%s` %s `%s`", remove ? "removing" : "copying", src,
			       remove ? "from" : "to", dst);
	return r;
}

int kmi_firmware_copy(const char *src, const char *dst, struct kmi_error **err)
{
	return walk_top(src, dst, false, err);
}

int kmi_firmware_remove(const char *src, const char *dst, struct kmi_error **err)
{
	return walk_top(src, dst, true, err);
}

char *kmi_firmware_source(const char *root, const char *dir_name)
{
	const char *dn = dir_name ? dir_name : "";
	char *p = xasprintf("%s%s/lib/firmware", root, streq(dn, "/") ? "" : dn);
	struct stat st;

	if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
		return p;
	free(p);
	p = xasprintf("%s/lib/firmware", root);
	if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
		return p;
	free(p);
	return NULL;
}

int kmi_firmware_class_path(const char *path, struct kmi_error **err)
{
	const char *sysfs = getenv("KMODIMG_SYSFS");
	_cleanup_free_ char *param = NULL;
	struct kmi_buf cur = { 0 };
	_cleanup_close_ int fd = -1;
	int r;

	if (sysfs == NULL || sysfs[0] == '\0')
		sysfs = "/sys";
	if (strlen(path) > FW_CLASS_PATH_MAX)
		return kmi_error_set(err, KMI_EUSAGE,
				     "firmware path `%s` is over %d bytes, the kernel's limit", path,
				     FW_CLASS_PATH_MAX);
	param = xasprintf("%s/module/firmware_class/parameters/path", sysfs);
	r = kmi_read_file(param, 4096, &cur);
	if (r < 0)
		return kmi_error_set(err, -r, "reading `%s` (the firmware loader's search path)",
				     param);
	while (cur.len > 0 && cur.data[cur.len - 1] == '\n')
		cur.len--;
	if (cur.len == strlen(path) && memcmp(cur.data, path, cur.len) == 0) {
		kmi_buf_free(&cur);
		return 0;
	}
	kmi_buf_free(&cur);
	fd = open(param, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0 || kmi_write_all(fd, path, strlen(path)) < 0)
		return kmi_error_set(err, errno, "setting the firmware search path in `%s`", param);
	return 0;
}
