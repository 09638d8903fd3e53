// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

static int rm_at(int parent, const char *name, unsigned depth)
{
	struct stat st;
	int err = 0;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode) && depth < 256) {
		int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;

		if (d == NULL) {
			if (fd >= 0)
				close(fd);
			return -errno;
		}
		while ((de = readdir(d)) != NULL) {
			int r;
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			r = rm_at(dirfd(d), de->d_name, depth + 1);
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
	return rm_at(AT_FDCWD, path, 0);
}

char *kmi_tmp_template(const char *name)
{
	const char *dir = getenv("TMPDIR");

	if (dir == NULL || dir[0] != '/')
		dir = "/tmp";
	return xasprintf("%s/%s.XXXXXX", dir, name);
}

/*
 * Thousands of symlinks cost seconds to create and remove on an ext4 /tmp
 * (inode allocation skips recently deleted inodes by scanning for them) and
 * milliseconds on tmpfs; a tree of links holds no data worth the disk.
 */
char *kmi_tmp_template_links(const char *name)
{
	struct statfs sf;

	if (getenv("TMPDIR") == NULL && statfs("/dev/shm", &sf) == 0 && sf.f_type == TMPFS_MAGIC &&
	    access("/dev/shm", W_OK | X_OK) == 0)
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
