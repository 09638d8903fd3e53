// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The node keeps one extracted tree per image digest.  A tag that moves
 * gives a new digest, hence a new tree; an unchanged one is reused without
 * touching its layers.  kmi_extract_manifest() lands the tree by a rename,
 * so a directory with the digest's name is always complete, and the lock
 * keeps two runs from extracting the same digest at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/extract.h"
#include "oci/image.h"
#include "util/buf.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "worker/worker.h"

static int take_lock(const char *state_dir, int *lockfd, struct kmi_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s/.lock", state_dir);
	int r;

	*lockfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*lockfd < 0 && errno == ENOENT) { /* the first run: no state directory yet */
		if ((r = kmi_mkdir_p(state_dir, 0755)) < 0)
			return -r == EACCES || -r == EROFS
				       ? kmi_error_set(err, KMI_EUSAGE,
						       "creating the state directory `%s`: %s", state_dir,
						       strerror(-r))
				       : kmi_error_set(err, -r, "creating the state directory `%s`",
						       state_dir);
		*lockfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (*lockfd < 0)
		return errno == EACCES
			       ? kmi_error_set(err, KMI_EUSAGE, "opening `%s`: %s", path, strerror(errno))
			       : kmi_error_set(err, errno, "opening `%s`", path);
	while (flock(*lockfd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			r = kmi_error_set(err, errno, "locking `%s`", path);
			kmi_state_release(lockfd);
			return r;
		}
	}
	return 0;
}

void kmi_state_release(int *lockfd)
{
	if (*lockfd >= 0)
		close(*lockfd); /* drops the flock */
	*lockfd = -1;
}

/* "sha256:abc..." -> "sha256-abc...": one path component. */
static char *digest_dir(const char *state_dir, const char *digest)
{
	char *p = xasprintf("%s/%s", state_dir, digest);
	char *colon = strrchr(p, ':');

	if (colon != NULL && colon > p + strlen(state_dir))
		*colon = '-';
	return p;
}

static bool digest_ok(const char *d)
{
	return strncmp(d, "sha256:", 7) == 0 && strlen(d) == 71 &&
	       strspn(d + 7, "0123456789abcdef") == 64;
}

static bool is_tree(const char *dir)
{
	struct stat st;

	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Takes the lock and the tree of digest d, if it is there: 1, or 0 (lock
 * released) when it is not.
 */
static int claim_tree(const char *state_dir, const char *d, char **root,
		      char digest[KMI_DIGEST_LEN], int *lockfd, struct kmi_error **err)
{
	_cleanup_free_ char *dir = digest_dir(state_dir, d);
	int r;

	if ((r = take_lock(state_dir, lockfd, err)) < 0)
		return r;
	if (!is_tree(dir)) {
		kmi_state_release(lockfd);
		return 0;
	}
	kmi_info("image %s already extracted in `%s`\n", d, dir);
	memcpy(digest, d, KMI_DIGEST_LEN);
	*root = TAKE_PTR(dir);
	return 1;
}

/*
 * The tree extracted before for what a layout or store reference names,
 * found without reading the manifest: a tree is named by its manifest's
 * digest and was checked against it when extracted, so the name is enough.
 * The layout must still name that digest and hold its blob.  A registry's
 * word for a digest is not taken without the content (the full path then).
 */
static int reuse_local(struct kmi_endpoint *ep, const char *state_dir, char **root,
		       char digest[KMI_DIGEST_LEN], int *lockfd, struct kmi_error **err)
{
	char d[KMI_DIGEST_LEN];
	struct kmi_error *ignored = NULL;

	if (ep->layout == NULL || kmi_endpoint_exists(ep, d, &ignored) != 1 || !digest_ok(d) ||
	    !kmi_layout_has_blob(ep->layout, d)) {
		kmi_error_free(&ignored); /* the full path says it properly */
		return 0;
	}
	return claim_tree(state_dir, d, root, digest, lockfd, err);
}

int kmi_state_obtain(struct kmi_endpoint *ep, const char *state_dir, char **root,
		     char digest[KMI_DIGEST_LEN], int *lockfd, struct kmi_error **err)
{
	struct kmi_manifest_data md = { 0 };
	_cleanup_free_ char *dir = NULL;
	int r;

	*root = NULL;
	*lockfd = -1;
	if ((r = reuse_local(ep, state_dir, root, digest, lockfd, err)) != 0)
		return r < 0 ? r : 0;
	if ((r = kmi_endpoint_get_manifest(ep, NULL, &md, err)) < 0 ||
	    (r = kmi_select_platform(ep, &md, err)) < 0)
		goto out;
	if (!digest_ok(md.digest)) {
		r = kmi_error_set(err, KMI_EPROTO, "unexpected manifest digest `%s`", md.digest);
		goto out;
	}
	if ((r = take_lock(state_dir, lockfd, err)) < 0)
		goto out;
	dir = digest_dir(state_dir, md.digest);
	if (is_tree(dir)) {
		kmi_info("image %s already extracted in `%s`\n", md.digest, dir);
	} else if ((r = kmi_extract_manifest(ep, &md, dir, NULL, err)) < 0) {
		kmi_error_wrap(err, "extracting the image into `%s`", dir);
		kmi_state_release(lockfd);
		goto out;
	}
	memcpy(digest, md.digest, KMI_DIGEST_LEN);
	*root = TAKE_PTR(dir);
out:
	free(md.data);
	return r;
}

/*
 * <state_dir>/.refs/<the reference text>: a symlink to the tree's directory
 * name (see remember_ref).  The text names the record itself, %XX-escaped (bytes other than [A-Za-z0-9._:@=+,-]
 * and a leading dot), not its SHA-256: initialising OpenSSL for that costs
 * more than the rest of a dry run.  A name longer than NAME_MAX is
 * "%sha256-<hash>" instead (no escaped name has "%s").
 */
static bool kept_in_name(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("_:@=+,-", c) != NULL) || (c == '.' && !first);
}

static char *ref_record(const char *state_dir, const char *ref)
{
	static const char hex[] = "0123456789ABCDEF";
	struct kmi_buf b = { 0 };
	char d[KMI_DIGEST_LEN];
	size_t start;

	kmi_buf_printf(&b, "%s/.refs/", state_dir);
	start = b.len;
	for (const char *c = ref; *c; c++) {
		if (kept_in_name(*c, c == ref)) {
			kmi_buf_putc(&b, *c);
		} else {
			kmi_buf_putc(&b, '%');
			kmi_buf_putc(&b, hex[(unsigned char)*c >> 4]);
			kmi_buf_putc(&b, hex[(unsigned char)*c & 15]);
		}
	}
	if (b.len - start > NAME_MAX) {
		b.len = start;
		kmi_sha256_digest(ref, strlen(ref), d);
		kmi_buf_printf(&b, "%%sha256-%s", d + strlen("sha256:"));
	}
	kmi_buf_putc(&b, '\0');
	return b.data;
}

/* The record's content: the tree's directory name, or NULL. */
static char *read_record(const char *path)
{
	char name[256];
	ssize_t n = readlink(path, name, sizeof(name) - 1);

	if (n <= 0)
		return NULL;
	name[n] = '\0';
	return xstrdup(name);
}

/* Whether a record's text names the tree `name` (whatever its stamp). */
static bool record_is(const char *text, const char *name)
{
	size_t len = strlen(name);

	return strncmp(text, name, len) == 0 && (text[len] == '\0' || text[len] == '@');
}

/*
 * A record is a symlink whose target is the tree's name, never followed:
 * reading it is one readlink(), and the usual case (unchanged) writes nothing.
 * For a layout or store reference the target goes on with "@" and the stamp
 * of index.json it was resolved under (kmi_layout_index_stamp()).  A record
 * that now names another tree (or a new one) may leave a tree no record
 * names: that is when unused trees are removed, still under the lock.
 */
static void remember_ref(const char *state_dir, const char *ref, const char *root,
			 const char *stamp)
{
	_cleanup_free_ char *path = ref_record(state_dir, ref);
	_cleanup_free_ char *old = read_record(path);
	_cleanup_free_ char *dir = NULL, *tmp = NULL, *text = NULL;
	const char *name = strrchr(root, '/') + 1;

	text = stamp ? xasprintf("%s@%s", name, stamp) : xstrdup(name);
	if (old != NULL && streq(old, text))
		return;
	dir = xasprintf("%s/.refs", state_dir);
	if (kmi_mkdir_p(dir, 0755) < 0)
		return;
	/* a leading dot: no record's name, so a leftover is known for one */
	tmp = xasprintf("%s/.tmp-%d", dir, (int)getpid());
	unlink(tmp);
	if (symlink(text, tmp) < 0 || rename(tmp, path) < 0)
		unlink(tmp);
	if (old == NULL || !record_is(old, name))
		kmi_state_collect(state_dir, name);
}

/* The record's tree name (its text up to "@"), if it is a plain name. */
static char *record_tree(const char *state_dir, const char *ref, char **stamp)
{
	_cleanup_free_ char *path = ref_record(state_dir, ref);
	char *name = read_record(path), *at;

	if (name == NULL)
		return NULL;
	at = strchr(name, '@');
	if (at != NULL)
		*at++ = '\0';
	if (strchr(name, '/') != NULL || name[0] == '.' || name[0] == '\0') {
		free(name);
		return NULL;
	}
	if (stamp != NULL)
		*stamp = at; /* inside name: valid while it is */
	return name;
}

/* The tree the reference resolved to last time, if it is still there. */
static char *recalled_ref(const char *state_dir, const char *ref)
{
	_cleanup_free_ char *name = record_tree(state_dir, ref, NULL);
	char *root;

	if (name == NULL)
		return NULL;
	root = xasprintf("%s/%s", state_dir, name);
	if (!is_tree(root)) {
		free(root);
		return NULL;
	}
	return root;
}

/*
 * A layout or store reference whose index.json has not changed since it was
 * resolved to a tree resolves to that tree again, without reading index.json
 * (nor loading jansson): what a dry run mostly costs beside libkmod.  The
 * manifest blob must still be there, as in reuse_local().
 */
static int reuse_stamped(struct kmi_endpoint *ep, const char *ref, const char *stamp,
			 const char *state_dir, char **root, char digest[KMI_DIGEST_LEN],
			 int *lockfd, struct kmi_error **err)
{
	char *old_stamp = NULL;
	_cleanup_free_ char *name = record_tree(state_dir, ref, &old_stamp);
	char d[KMI_DIGEST_LEN];

	if (name == NULL || old_stamp == NULL || !streq(old_stamp, stamp) ||
	    strncmp(name, "sha256-", 7) != 0 || strlen(name) != KMI_DIGEST_LEN - 1)
		return 0;
	snprintf(d, sizeof(d), "sha256:%s", name + 7);
	if (!digest_ok(d) || !kmi_layout_has_blob(ep->layout, d))
		return 0;
	return claim_tree(state_dir, d, root, digest, lockfd, err);
}

/*
 * index.json's stamp and the platform an index is resolved for (uname's,
 * which a 32-bit personality changes).
 */
static bool layout_stamp(struct kmi_layout *l, char *out, size_t n)
{
	size_t len;

	if (!kmi_layout_index_stamp(l, out, n))
		return false;
	len = strlen(out);
	return (size_t)snprintf(out + len, n - len, ".%s", kmi_host_arch()) < n - len;
}

int kmi_state_obtain_ref(struct kmi_endpoint *ep, const char *ref, bool cached_ok,
			 const char *state_dir, char **root, char digest[KMI_DIGEST_LEN],
			 int *lockfd, struct kmi_error **err)
{
	_cleanup_free_ char *cached = NULL;
	struct kmi_error *lock_err = NULL;
	char stamp[160];
	/* taken before resolving: a change after it shows in the next stamp */
	bool stamped = ep && ep->layout && layout_stamp(ep->layout, stamp, sizeof(stamp));
	int r, locked;

	*root = NULL;
	*lockfd = -1;
	if (stamped &&
	    (r = reuse_stamped(ep, ref, stamp, state_dir, root, digest, lockfd, err)) != 0)
		return r < 0 ? r : 0;
	r = ep ? kmi_state_obtain(ep, state_dir, root, digest, lockfd, err) : -1;
	if (r == 0) {
		remember_ref(state_dir, ref, *root, stamped ? stamp : NULL);
		return 0;
	}
	if (!cached_ok || (cached = recalled_ref(state_dir, ref)) == NULL)
		return r;
	if ((locked = take_lock(state_dir, lockfd, &lock_err)) < 0) {
		kmi_error_free(err);
		*err = lock_err;
		return locked;
	}
	/* checked again under the lock: a run the reference moved in removes the old tree */
	if (!is_tree(cached)) {
		kmi_state_release(lockfd);
		return r;
	}
	kmi_warn("%s; using the tree `%s` extracted for it before\n", (*err)->msg, cached);
	kmi_error_free(err);
	digest[0] = '\0';
	*root = TAKE_PTR(cached);
	return 0;
}
