// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/xalloc.h"

int kmi_mkdir_p(const char *path, unsigned mode)
{
	_cleanup_free_ char *p = NULL;

	if (path[0] == '\0')
		return -ENOENT;
	p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return mkdir(p, mode) < 0 && errno != EEXIST ? -errno : 0;
}

/*
 * A directory to empty, opened without following a symlink; made owner
 * rwx when it is not (an extracted tree keeps an image's 0555 directories).
 */
static int open_dir_at(int parent, const char *name, const struct stat *st)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == EACCES && fchmodat(parent, name, 0700, AT_SYMLINK_NOFOLLOW) == 0)
		fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && (st->st_mode & 0700) != 0700)
		(void)fchmod(fd, (st->st_mode & 0777) | 0700);
	return fd;
}

/*
 * Whether name is the root of a mount: another file system, or a bind mount
 * of a directory of the same one (same st_dev, so statx() must say it).
 */
static bool mount_root_at(int parent, const char *name, const struct stat *st, dev_t dev)
{
	struct statx stx;

	if (st->st_dev != dev)
		return true;
	return statx(parent, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &stx) == 0 &&
	       (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* dev: the filesystem of the top directory; a mount point below it is left alone. */
static int rm_at(int parent, const char *name, unsigned depth, dev_t dev)
{
	struct stat st;
	int err = 0;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (depth > 0 && S_ISDIR(st.st_mode) && mount_root_at(parent, name, &st, dev))
		return -EXDEV;
	if (S_ISDIR(st.st_mode) && depth < 256) {
		int fd = open_dir_at(parent, name, &st);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;

		if (d == NULL) {
			err = -errno;
			if (fd >= 0)
				close(fd);
			return err;
		}
		while ((de = readdir(d)) != NULL) {
			int r;
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			r = rm_at(dirfd(d), de->d_name, depth + 1, st.st_dev);
			if (r < 0 && err == 0)
				err = r;
		}
		closedir(d);
		if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && err == 0)
			err = -errno;
		return err;
	}
	return unlinkat(parent, name, 0) < 0 ? -errno : 0;
}

int kmi_rm_rf(const char *path)
{
	return rm_at(AT_FDCWD, path, 0, 0);
}

int kmi_rm_rf_at(int dirfd, const char *name)
{
	return rm_at(dirfd, name, 0, 0);
}

int kmi_list_dir(int fd, struct kmi_buf *names)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (d == NULL) {
		int e = errno;
		close(dfd);
		return -e;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		kmi_buf_putsz(names, de->d_name);
		n++;
		errno = 0;
	}
	n = errno ? -errno : n;
	closedir(d);
	return n;
}

/* TMPDIR when it names an absolute path, else NULL. */
static const char *tmpdir_env(void)
{
	const char *dir = getenv("TMPDIR");

	return dir != NULL && dir[0] == '/' ? dir : NULL;
}

char *kmi_tmp_template(const char *name)
{
	const char *dir = tmpdir_env();

	return xasprintf("%s/%s.XXXXXX", dir ? dir : "/tmp", name);
}

/*
 * Thousands of symlinks cost seconds to create and remove on an ext4 /tmp
 * (inode allocation skips recently deleted inodes by scanning for them) and
 * milliseconds on tmpfs; a tree of links holds no data worth the disk.
 */
char *kmi_tmp_template_links(const char *name)
{
	struct statfs sf;

	if (tmpdir_env() == NULL && statfs("/dev/shm", &sf) == 0 &&
	    sf.f_type == TMPFS_MAGIC && access("/dev/shm", W_OK | X_OK) == 0)
		return xasprintf("/dev/shm/%s.XXXXXX", name);
	return kmi_tmp_template(name);
}

int kmi_read_fd(int fd, size_t max, struct kmi_buf *out)
{
	char chunk[65536];
	ssize_t n;

	/* no fstat(): read() says EISDIR for a directory itself */
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if ((size_t)n > max - out->len || out->len > max)
			return -EFBIG;
		kmi_buf_put(out, chunk, (size_t)n);
	}
	return 0;
}

int kmi_read_file(const char *path, size_t max, struct kmi_buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	err = kmi_read_fd(fd, max, out);
	close(fd);
	return err;
}

int kmi_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}
