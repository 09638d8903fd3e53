// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/file.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "oci/image.h"
#include "oci/layout.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define INDEX_MAX (16u << 20)
#define LOCK_FILE ".kmodimg.lock"

/*
 * flock() locks belong to open file descriptions: two kmi_layouts of the same
 * directory in one process (copy within the store, a build whose base is in
 * the target layout) would wait on each other forever.  So the lock is held
 * once per process and directory, and shared by reference count.
 */
struct held_lock {
	struct held_lock *next;
	dev_t dev;
	ino_t ino;
	int fd;
	bool exclusive;
	unsigned refs;
};

static struct held_lock *held_locks;
static pthread_mutex_t held_mutex = PTHREAD_MUTEX_INITIALIZER;

struct kmi_layout {
	char *dir;
	int dirfd;
	struct held_lock *lock;
	bool scratch; /* a temp layout: no fsync, nothing survives a crash anyway */
};


static int write_file_at(int dirfd, const char *name, const void *data, size_t len, bool sync)
{
	_cleanup_free_ char *tmp = xasprintf(".%s.tmp-%ld", name, (long)getpid());
	const char *p = data;
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int err = 0;

	if (fd < 0)
		return -errno;
	err = kmi_write_all(fd, p, len);
	if (err == 0 && sync && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && err == 0)
		err = -errno;
	if (err == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		err = -errno;
	if (err < 0)
		unlinkat(dirfd, tmp, 0);
	else if (sync)
		fsync(dirfd);
	return err;
}

static const char empty_index[] =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	"\"manifests\":[]}";
static const char layout_file[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

static int open_layout(const char *dir, bool create, bool scratch, struct kmi_layout **out,
		       struct kmi_error **err)
{
	struct kmi_layout *l;
	struct stat st;
	int fd, r;

	if (create && (r = kmi_mkdir_p(dir, 0755)) < 0)
		return kmi_error_set(err, -r, "creating image layout `%s`", dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kmi_error_set(err, errno == ENOENT ? KMI_ENOTFOUND : errno,
				     "opening image layout `%s`%s", dir,
				     errno == ENOENT ? ": no such directory" : "");
	if (fstatat(fd, "oci-layout", &st, 0) < 0) {
		if (!create) {
			close(fd);
			return kmi_error_set(err, KMI_EFORMAT,
					     "`%s` is not an OCI image layout (no oci-layout file)", dir);
		}
		if ((r = write_file_at(fd, "oci-layout", layout_file, sizeof(layout_file) - 1,
				       !scratch)) < 0 ||
		    (fstatat(fd, "index.json", &st, 0) < 0 &&
		     (r = write_file_at(fd, "index.json", empty_index, sizeof(empty_index) - 1,
					!scratch)) < 0)) {
			close(fd);
			return kmi_error_set(err, -r, "initialising image layout `%s`", dir);
		}
	}
	if (create) {
		_cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", dir);
		if ((r = kmi_mkdir_p(blobs, 0755)) < 0) {
			close(fd);
			return kmi_error_set(err, -r, "creating `%s`", blobs);
		}
	}
	l = xcalloc(1, sizeof(*l));
	l->dir = xstrdup(dir);
	l->dirfd = fd;
	l->scratch = scratch;
	*out = l;
	return 0;
}

int kmi_layout_open(const char *dir, bool create, struct kmi_layout **out, struct kmi_error **err)
{
	return open_layout(dir, create, false, out, err);
}

int kmi_layout_open_scratch(const char *dir, struct kmi_layout **out, struct kmi_error **err)
{
	return open_layout(dir, true, true, out, err);
}

static void unlock(struct kmi_layout *l)
{
	struct held_lock **p;

	if (l->lock == NULL)
		return;
	pthread_mutex_lock(&held_mutex);
	if (--l->lock->refs == 0) {
		for (p = &held_locks; *p != l->lock; p = &(*p)->next)
			;
		*p = l->lock->next;
		close(l->lock->fd); /* releases the flock */
		free(l->lock);
	}
	pthread_mutex_unlock(&held_mutex);
	l->lock = NULL;
}

void kmi_layout_close(struct kmi_layout *l)
{
	if (l == NULL)
		return;
	unlock(l);
	close(l->dirfd);
	free(l->dir);
	free(l);
}

const char *kmi_layout_dir(const struct kmi_layout *l)
{
	return l->dir;
}

int kmi_layout_lock(struct kmi_layout *l, bool exclusive, struct kmi_error **err)
{
	struct held_lock *h;
	struct stat st;
	int r = 0;

	if (l->lock != NULL)
		return 0;
	if (fstat(l->dirfd, &st) < 0)
		return kmi_error_set(err, errno, "locking `%s`", l->dir);
	pthread_mutex_lock(&held_mutex);
	for (h = held_locks; h != NULL; h = h->next) {
		if (h->dev == st.st_dev && h->ino == st.st_ino)
			break;
	}
	if (h == NULL) {
		int fd = openat(l->dirfd, LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			/* a read-only layout can still be read without a lock */
			if (!exclusive && (errno == EACCES || errno == EROFS))
				goto out;
			r = kmi_error_set(err, errno, "locking `%s/%s`", l->dir, LOCK_FILE);
			goto out;
		}
		h = xcalloc(1, sizeof(*h));
		*h = (struct held_lock){ .next = held_locks, .dev = st.st_dev, .ino = st.st_ino, .fd = fd };
		held_locks = h;
	}
	/* a shared lock becomes exclusive when a writer of this process needs it */
	if (h->refs == 0 || (exclusive && !h->exclusive)) {
		while (flock(h->fd, exclusive || h->exclusive ? LOCK_EX : LOCK_SH) < 0) {
			if (errno != EINTR) {
				r = kmi_error_set(err, errno, "locking `%s`", l->dir);
				if (h->refs == 0) {
					held_locks = h->next;
					close(h->fd);
					free(h);
				}
				goto out;
			}
		}
		h->exclusive = h->exclusive || exclusive;
	}
	h->refs++;
	l->lock = h;
out:
	pthread_mutex_unlock(&held_mutex);
	return r;
}

static char *blob_rel(const char *digest)
{
	return xasprintf("blobs/sha256/%s", kmi_digest_hex(digest));
}

char *kmi_layout_blob_path(struct kmi_layout *l, const char *digest)
{
	return xasprintf("%s/blobs/sha256/%s", l->dir, kmi_digest_hex(digest));
}

bool kmi_layout_has_blob(struct kmi_layout *l, const char *digest)
{
	_cleanup_free_ char *rel = NULL;
	struct stat st;

	if (!kmi_digest_valid(digest))
		return false;
	rel = blob_rel(digest);
	return fstatat(l->dirfd, rel, &st, 0) == 0 && S_ISREG(st.st_mode);
}

int kmi_layout_blob_begin(struct kmi_layout *l, int *fd, char **tmp_path, struct kmi_error **err)
{
	char *path = xasprintf("%s/blobs/sha256/.tmp-XXXXXX", l->dir);
	_cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", l->dir);
	int r;

	if ((r = kmi_mkdir_p(blobs, 0755)) < 0) {
		free(path);
		return kmi_error_set(err, -r, "creating `%s`", blobs);
	}
	*fd = mkostemp(path, O_CLOEXEC);
	if (*fd < 0) {
		int e = errno;
		free(path);
		return kmi_error_set(err, e, "creating a blob in `%s`", blobs);
	}
	fchmod(*fd, 0644);
	*tmp_path = path;
	return 0;
}

void kmi_layout_blob_abort(int fd, const char *tmp_path)
{
	if (fd >= 0)
		close(fd);
	if (tmp_path != NULL)
		unlink(tmp_path);
}

static int hash_fd(int fd, char digest[KMI_DIGEST_LEN], uint64_t *size)
{
	struct kmi_sha256 h;
	char buf[1 << 16];
	ssize_t n;
	off_t off = 0;

	kmi_sha256_init(&h);
	while ((n = pread(fd, buf, sizeof(buf), off)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			kmi_sha256_free(&h);
			return -errno;
		}
		kmi_sha256_update(&h, buf, (size_t)n);
		off += n;
	}
	kmi_sha256_final(&h, digest);
	if (size)
		*size = (uint64_t)off;
	return 0;
}

int kmi_layout_blob_commit(struct kmi_layout *l, int fd, const char *tmp_path, const char *digest,
			   bool verify, struct kmi_error **err)
{
	_cleanup_free_ char *final = NULL;
	char got[KMI_DIGEST_LEN];
	int r;

	if (!kmi_digest_valid(digest)) {
		kmi_layout_blob_abort(fd, tmp_path);
		return kmi_error_set(err, KMI_EFORMAT, "invalid digest `%s`", digest);
	}
	if (verify) {
		if ((r = hash_fd(fd, got, NULL)) < 0) {
			kmi_layout_blob_abort(fd, tmp_path);
			return kmi_error_set(err, -r, "reading `%s`", tmp_path);
		}
		if (strcmp(got, digest) != 0) {
			kmi_layout_blob_abort(fd, tmp_path);
			return kmi_error_set(err, KMI_EDIGEST, "blob content is %s, expected %s", got,
					     digest);
		}
	}
	if (!l->scratch && fsync(fd) < 0) {
		int e = errno;
		kmi_layout_blob_abort(fd, tmp_path);
		return kmi_error_set(err, e, "writing blob %s", digest);
	}
	close(fd);
	final = kmi_layout_blob_path(l, digest);
	if (rename(tmp_path, final) < 0) {
		int e = errno;
		unlink(tmp_path);
		return kmi_error_set(err, e, "storing blob `%s`", final);
	}
	/* the blob's name must be on disk before an index.json that points to it */
	if (!l->scratch) {
		int bfd = openat(l->dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (bfd >= 0) {
			fsync(bfd);
			close(bfd);
		}
	}
	return 0;
}

int kmi_layout_put_blob(struct kmi_layout *l, const void *data, size_t len,
			char digest[KMI_DIGEST_LEN], struct kmi_error **err)
{
	_cleanup_free_ char *tmp = NULL;
	int fd, r;

	kmi_sha256_digest(data, len, digest);
	if (kmi_layout_has_blob(l, digest))
		return 0;
	if ((r = kmi_layout_blob_begin(l, &fd, &tmp, err)) < 0)
		return r;
	if ((r = kmi_write_all(fd, data, len)) < 0) {
		kmi_layout_blob_abort(fd, tmp);
		return kmi_error_set(err, -r, "writing blob %s", digest);
	}
	return kmi_layout_blob_commit(l, fd, tmp, digest, false, err);
}

int kmi_layout_open_blob(struct kmi_layout *l, const char *digest, int *fd, uint64_t *size,
			 struct kmi_error **err)
{
	_cleanup_free_ char *rel = NULL;
	struct stat st;

	if (!kmi_digest_valid(digest))
		return kmi_error_set(err, KMI_EFORMAT, "invalid digest `%s`", digest);
	rel = blob_rel(digest);
	*fd = openat(l->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0)
		return kmi_error_set(err, errno == ENOENT ? KMI_ENOTFOUND : errno, "blob %s in `%s`%s",
				     digest, l->dir, errno == ENOENT ? " is missing" : "");
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(*fd);
		return kmi_error_set(err, KMI_EFORMAT, "blob %s in `%s` is not a regular file", digest,
				     l->dir);
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

int kmi_layout_read_blob(struct kmi_layout *l, const char *digest, size_t max, char **data,
			 size_t *len, struct kmi_error **err)
{
	char got[KMI_DIGEST_LEN];
	uint64_t size;
	size_t done = 0;
	char *buf;
	int fd, r;

	if ((r = kmi_layout_open_blob(l, digest, &fd, &size, err)) < 0)
		return r;
	if (size > max) {
		close(fd);
		return kmi_error_set(err, KMI_EFORMAT, "blob %s is %llu bytes, over the %zu limit",
				     digest, (unsigned long long)size, max);
	}
	buf = xmalloc(size + 1);
	while (done < size) {
		ssize_t n = read(fd, buf + done, size - done);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			close(fd);
			free(buf);
			return kmi_error_set(err, n < 0 ? errno : EIO, "reading blob %s", digest);
		}
		done += (size_t)n;
	}
	close(fd);
	buf[size] = '\0';
	kmi_sha256_digest(buf, size, got);
	if (strcmp(got, digest) != 0) {
		free(buf);
		return kmi_error_set(err, KMI_EDIGEST, "blob %s in `%s` is corrupt: its content is %s",
				     digest, l->dir, got);
	}
	*data = buf;
	*len = size;
	return 0;
}

/* index.json ------------------------------------------------------------- */

/*
 * Any change to index.json changes its inode (we and skopeo replace it by a
 * rename), its size or its ctime; but ctime ticks coarsely, so a file
 * changed less than a few seconds ago could change again within the same
 * tick and keep its stamp.  Such a file gets no stamp (the racy-git rule).
 */
#define INDEX_SETTLED_SEC 3

/*
 * Network and FUSE file systems may answer stat() from a cache while another
 * host has replaced the file; FAT's ctime is the creation time.
 */
static bool stamps_trusted(int dirfd)
{
	struct statfs sf;

	if (fstatfs(dirfd, &sf) < 0)
		return false;
	switch ((unsigned long)sf.f_type) {
	case NFS_SUPER_MAGIC:
	case SMB_SUPER_MAGIC:
	case CIFS_SUPER_MAGIC:
	case FUSE_SUPER_MAGIC:
	case MSDOS_SUPER_MAGIC:
	case V9FS_MAGIC:
	case CEPH_SUPER_MAGIC:
		return false;
	default:
		return true;
	}
}

bool kmi_layout_index_stamp(struct kmi_layout *l, char *out, size_t n)
{
	struct stat st;
	struct timespec now;

	if (!stamps_trusted(l->dirfd) || fstatat(l->dirfd, "index.json", &st, 0) < 0 ||
	    !S_ISREG(st.st_mode) ||
	    clock_gettime(CLOCK_REALTIME, &now) < 0 ||
	    now.tv_sec - st.st_ctim.tv_sec < INDEX_SETTLED_SEC)
		return false;
	return snprintf(out, n, "%jx.%jx.%jx.%jx.%lx.%jx.%lx", (uintmax_t)st.st_dev,
			(uintmax_t)st.st_ino, (uintmax_t)st.st_size, (uintmax_t)st.st_mtim.tv_sec,
			st.st_mtim.tv_nsec, (uintmax_t)st.st_ctim.tv_sec,
			st.st_ctim.tv_nsec) < (int)n;
}

static int load_index(struct kmi_layout *l, json_t **out, struct kmi_error **err)
{
	json_error_t jerr;
	struct kmi_buf text = { 0 };
	int fd = openat(l->dirfd, "index.json", O_RDONLY | O_CLOEXEC);
	json_t *j;
	int r;

	if (fd < 0)
		return kmi_error_set(err, errno, "reading `%s/index.json`", l->dir);
	/* read whole: json_loadfd() reads one byte per system call */
	r = kmi_read_fd(fd, INDEX_MAX, &text);
	close(fd);
	if (r < 0) {
		kmi_buf_free(&text);
		return r == -EFBIG ? kmi_error_set(err, KMI_EFORMAT, "`%s/index.json` is too large", l->dir)
				   : kmi_error_set(err, -r, "reading `%s/index.json`", l->dir);
	}
	j = json_loadb(text.data ? text.data : "", text.len, JSON_REJECT_DUPLICATES, &jerr);
	kmi_buf_free(&text);
	if (j == NULL)
		return kmi_error_set(err, KMI_EFORMAT, "`%s/index.json`: %s at line %d column %d",
				     l->dir, jerr.text, jerr.line, jerr.column);
	if (!json_is_object(j)) {
		json_decref(j);
		return kmi_error_set(err, KMI_EFORMAT, "`%s/index.json` is not an object", l->dir);
	}
	if (!json_is_array(json_object_get(j, "manifests")))
		json_object_set_new(j, "manifests", json_array());
	*out = j;
	return 0;
}

static int save_index(struct kmi_layout *l, json_t *j, struct kmi_error **err)
{
	size_t len;
	_cleanup_free_ char *text = NULL;
	int r;

	json_object_set_new(j, "schemaVersion", json_integer(2));
	json_object_set_new(j, "mediaType", json_string(KMI_MT_OCI_INDEX));
	text = kmi_json_dump(j, &len);
	if ((r = write_file_at(l->dirfd, "index.json", text, len, !l->scratch)) < 0)
		return kmi_error_set(err, -r, "writing `%s/index.json`", l->dir);
	return 0;
}

static void fill(struct kmi_descriptor *d, const json_t *e)
{
	const json_t *ann = json_object_get(e, "annotations");
	const char *name = json_string_value(json_object_get(ann, KMI_REF_NAME_ANNOTATION));

	d->ref_name = name ? xstrdup(name) : NULL;
}

int kmi_layout_list(struct kmi_layout *l, struct kmi_descriptor **out, size_t *n,
		    struct kmi_error **err)
{
	json_t *j, *a;
	size_t i, count;
	int r = load_index(l, &j, err);

	if (r < 0)
		return r;
	a = json_object_get(j, "manifests");
	count = json_array_size(a);
	*out = xcalloc(count ? count : 1, sizeof(**out));
	*n = 0;
	for (i = 0; i < count; i++) {
		char where[32];
		r = snprintf(where, sizeof(where), "manifests[%zu]", i);
		if (kmi_descriptor_parse(json_array_get(a, i), where, &(*out)[*n], err) < 0) {
			r = kmi_error_wrap(err, "`%s/index.json`", l->dir);
			kmi_descriptors_free(*out, *n);
			json_decref(j);
			return r;
		}
		fill(&(*out)[*n], json_array_get(a, i));
		(*n)++;
	}
	json_decref(j);
	return 0;
}

void kmi_descriptors_free(struct kmi_descriptor *d, size_t n)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(d[i].ref_name);
	free(d);
}

int kmi_layout_resolve(struct kmi_layout *l, const char *name, struct kmi_descriptor *out,
		       struct kmi_error **err)
{
	struct kmi_descriptor *d;
	size_t n, found = SIZE_MAX;
	int r = kmi_layout_list(l, &d, &n, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		bool match = name == NULL ||
			     (d[i].ref_name && strcmp(d[i].ref_name, name) == 0) ||
			     strcmp(d[i].digest, name) == 0;
		if (!match)
			continue;
		if (name == NULL && found != SIZE_MAX) {
			kmi_descriptors_free(d, n);
			return kmi_error_set(err, KMI_EUSAGE,
					     "`%s` holds several images: name one (oci:DIR:TAG)", l->dir);
		}
		found = i;
		if (name != NULL)
			break;
	}
	if (found == SIZE_MAX) {
		kmi_descriptors_free(d, n);
		return name ? kmi_error_set(err, KMI_ENOTFOUND, "no image `%s` in `%s`", name, l->dir)
			    : kmi_error_set(err, KMI_ENOTFOUND, "no image in `%s`", l->dir);
	}
	*out = d[found];
	d[found].ref_name = NULL; /* moved to *out */
	kmi_descriptors_free(d, n);
	return 0;
}

static json_t *descriptor_json(const struct kmi_descriptor *d, const char *name)
{
	json_t *o = json_object();

	json_object_set_new(o, "mediaType", json_string(d->media_type));
	json_object_set_new(o, "digest", json_string(d->digest));
	json_object_set_new(o, "size", json_integer((json_int_t)d->size));
	if (name != NULL) {
		json_t *ann = json_object();
		json_object_set_new(ann, KMI_REF_NAME_ANNOTATION, json_string(name));
		json_object_set_new(o, "annotations", ann);
	}
	return o;
}

static bool entry_named(const json_t *e, const char *name)
{
	const json_t *ann = json_object_get(e, "annotations");
	const char *n = json_string_value(json_object_get(ann, KMI_REF_NAME_ANNOTATION));
	return n != NULL && strcmp(n, name) == 0;
}

int kmi_layout_tag(struct kmi_layout *l, const char *name, const struct kmi_descriptor *desc,
		   struct kmi_error **err)
{
	json_t *j, *a;
	int r = load_index(l, &j, err);

	if (r < 0)
		return r;
	a = json_object_get(j, "manifests");
	for (size_t i = json_array_size(a); i-- > 0;) {
		if (entry_named(json_array_get(a, i), name))
			json_array_remove(a, i);
	}
	json_array_append_new(a, descriptor_json(desc, name));
	r = save_index(l, j, err);
	json_decref(j);
	return r;
}

int kmi_layout_untag(struct kmi_layout *l, const char *name, struct kmi_error **err)
{
	json_t *j, *a;
	bool found = false;
	int r = load_index(l, &j, err);

	if (r < 0)
		return r;
	a = json_object_get(j, "manifests");
	for (size_t i = json_array_size(a); i-- > 0;) {
		const json_t *e = json_array_get(a, i);
		if (entry_named(e, name) ||
		    strcmp(json_string_value(json_object_get(e, "digest")) ?: "", name) == 0) {
			json_array_remove(a, i);
			found = true;
		}
	}
	if (!found) {
		json_decref(j);
		return kmi_error_set(err, KMI_ENOTFOUND, "no image `%s` in `%s`", name, l->dir);
	}
	r = save_index(l, j, err);
	json_decref(j);
	return r;
}

static void mark_live(struct kmi_strmap *live, const char *digest)
{
	if (kmi_strmap_get(live, digest) == NULL)
		kmi_strmap_put(live, xstrdup(digest), (void *)1);
}

/*
 * Marks a manifest or index and everything it references.  Any manifest it
 * cannot read or understand fails the whole collection: deleting what an
 * unreadable manifest might need would be worse than keeping garbage.
 */
static int mark(struct kmi_layout *l, const struct kmi_descriptor *d, struct kmi_strmap *live,
		unsigned depth, struct kmi_error **err)
{
	struct kmi_manifest m;
	char *data;
	size_t len;
	int r;

	mark_live(live, d->digest);
	if (d->media_type[0] != '\0' && !kmi_media_type_is_manifest(d->media_type) &&
	    !kmi_media_type_is_index(d->media_type))
		return 0; /* an artifact: only its own blob is known */
	if (depth > 8)
		return kmi_error_set(err, KMI_EFORMAT, "indexes nested more than 8 deep");
	if ((r = kmi_layout_read_blob(l, d->digest, KMI_MANIFEST_BLOB_MAX, &data, &len, err)) < 0)
		return r;
	r = kmi_manifest_parse(data, len, d->media_type[0] ? d->media_type : NULL, &m, err);
	free(data);
	if (r < 0)
		return r;
	if (m.is_index) {
		for (size_t i = 0; r == 0 && i < m.n_manifests; i++)
			r = mark(l, &m.manifests[i], live, depth + 1, err);
	} else {
		mark_live(live, m.config.digest);
		for (size_t i = 0; i < m.n_layers; i++)
			mark_live(live, m.layers[i].digest);
	}
	kmi_manifest_free(&m);
	return r;
}

int kmi_layout_gc(struct kmi_layout *l, struct kmi_error **err)
{
	struct kmi_descriptor *d;
	struct kmi_strmap live;
	size_t n;
	int removed = 0, r, bfd;
	DIR *dir;
	struct dirent *de;

	if ((r = kmi_layout_list(l, &d, &n, err)) < 0)
		return r;
	kmi_strmap_init(&live, 64);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = mark(l, &d[i], &live, 0, err);
	kmi_descriptors_free(d, n);
	if (r < 0) {
		for (size_t i = 0; i <= live.mask; i++)
			free((char *)live.slots[i].key);
		kmi_strmap_free(&live);
		return kmi_error_wrap(err, "nothing removed from `%s`", l->dir);
	}

	bfd = openat(l->dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dir = bfd >= 0 ? fdopendir(bfd) : NULL;
	while (dir != NULL && (de = readdir(dir)) != NULL) {
		char digest[KMI_DIGEST_LEN + 8];
		if (de->d_name[0] == '.' || strlen(de->d_name) != 64)
			continue; /* temp files of writers that hold the lock are not ours to judge */
		memcpy(digest, "sha256:", 7);
		memcpy(digest + 7, de->d_name, 65);
		if (kmi_strmap_get(&live, digest) == NULL && unlinkat(bfd, de->d_name, 0) == 0)
			removed++;
	}
	if (dir != NULL)
		closedir(dir);
	for (size_t i = 0; i <= live.mask; i++)
		free((char *)live.slots[i].key);
	kmi_strmap_free(&live);
	return removed;
}
