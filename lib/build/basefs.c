// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A base image's symlinks, read from its layers' tar headers (see basefs.h).
 * Only names matter here: file contents are skipped, and entries that the
 * extractor would refuse (".." components) are ignored rather than followed.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "build/basefs.h"
#include "util/lazylib.h"
#include "util/macro.h"
#include "util/xalloc.h"

#define MAX_HOPS 40

/* Appends the components of s to the normalised path in b ("a/b", no slashes at the ends). */
static void push_components(struct kmi_buf *b, const char *s)
{
	while (*s) {
		const char *end = strchrnul(s, '/');
		size_t n = (size_t)(end - s);

		if (n == 2 && s[0] == '.' && s[1] == '.') {
			/* inside the root: ".." at the top stays at the top */
			char *slash = b->len ? memrchr(b->data, '/', b->len) : NULL;
			b->len = slash ? (size_t)(slash - b->data) : 0;
		} else if (n > 0 && !(n == 1 && s[0] == '.')) {
			if (b->len)
				kmi_buf_putc(b, '/');
			kmi_buf_put(b, s, n);
		}
		s = *end ? end + 1 : end;
	}
}

static char *normalise(const char *s)
{
	struct kmi_buf b = { 0 };

	push_components(&b, s);
	kmi_buf_putc(&b, '\0');
	return b.data;
}

static bool has_dotdot(const char *p)
{
	for (const char *s = p; (s = strstr(s, "..")) != NULL; s += 2) {
		if ((s == p || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
			return true;
	}
	return false;
}

/* Forgets path and everything below it (a whiteout, or an entry replacing it). */
static void forget(struct kmi_basefs *fs, const char *path, bool below_only)
{
	size_t n = strlen(path), nv = 0;
	_cleanup_free_ const char **victims = NULL;

	if (!below_only)
		kmi_strmap_del(&fs->links, path);
	if (fs->links.count == 0)
		return;
	/* collected first: deleting moves entries between slots */
	victims = xreallocarray(NULL, fs->links.count, sizeof(*victims));
	for (size_t i = 0; i <= fs->links.mask; i++) {
		const char *k = fs->links.slots[i].key;
		if (fs->links.slots[i].hash != 0 &&
		    (n == 0 || (strncmp(k, path, n) == 0 && k[n] == '/')))
			victims[nv++] = k;
	}
	for (size_t i = 0; i < nv; i++)
		kmi_strmap_del(&fs->links, victims[i]);
}

static void apply_entry(struct kmi_basefs *fs, struct archive_entry *e)
{
	_cleanup_free_ char *path = normalise(archive_entry_pathname(e) ?: "");
	const char *base = strrchr(path, '/');
	const char *name = base ? base + 1 : path;

	if (path[0] == '\0' || has_dotdot(archive_entry_pathname(e) ?: ""))
		return;
	if (strcmp(name, ".wh..wh..opq") == 0) {
		path[base ? (size_t)(base - path) : 0] = '\0';
		forget(fs, path, true);
		return;
	}
	if (strncmp(name, ".wh.", 4) == 0) {
		_cleanup_free_ char *victim =
			xasprintf("%.*s%s%s", base ? (int)(base - path) : 0, path, base ? "/" : "", name + 4);
		forget(fs, victim, false);
		return;
	}
	if (archive_entry_filetype(e) == AE_IFLNK && archive_entry_symlink(e) != NULL) {
		char *k = kmi_arena_strdup(&fs->arena, path);
		forget(fs, path, false);
		kmi_strmap_put(&fs->links, k, kmi_arena_strdup(&fs->arena, archive_entry_symlink(e)));
	} else if (archive_entry_hardlink(e) == NULL) {
		/* a file or directory replaces a symlink of a lower layer */
		if (kmi_strmap_get(&fs->links, path) != NULL)
			kmi_strmap_del(&fs->links, path);
	}
}

static int load_layer(struct kmi_basefs *fs, struct kmi_layout *layout,
		      const struct kmi_descriptor *d, struct kmi_error **err)
{
	struct archive *a;
	struct archive_entry *e;
	uint64_t size;
	int fd, r;

	if ((r = kmi_archive_load(err)) < 0)
		return r;
	a = archive_read_new();
	if ((r = kmi_layout_open_blob(layout, d->digest, &fd, &size, err)) < 0) {
		archive_read_free(a);
		return r;
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	r = archive_read_open_fd(a, fd, 1 << 16) == ARCHIVE_OK ? ARCHIVE_OK : ARCHIVE_FATAL;
	while (r == ARCHIVE_OK && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		apply_entry(fs, e);
		/*
		 * Some writers (umoci) end a layer without the last entry's
		 * padding: runtimes take it, and every header was seen.
		 */
		if (archive_read_data_skip(a) != ARCHIVE_OK) {
			r = ARCHIVE_EOF;
			break;
		}
	}
	if (r != ARCHIVE_EOF)
		r = kmi_error_set(err, KMI_EFORMAT, "base layer %s: %s", d->digest,
				  archive_error_string(a) ?: "unreadable tar");
	else
		r = 0;
	archive_read_free(a);
	close(fd);
	return r;
}

int kmi_basefs_load(struct kmi_layout *layout, const struct kmi_manifest *base,
		    struct kmi_basefs *out, struct kmi_error **err)
{
	memset(out, 0, sizeof(*out));
	kmi_strmap_init(&out->links, 64);
	for (size_t i = 0; i < base->n_layers; i++) {
		int r = load_layer(out, layout, &base->layers[i], err);
		if (r < 0) {
			kmi_basefs_free(out);
			return r;
		}
	}
	return 0;
}

void kmi_basefs_free(struct kmi_basefs *fs)
{
	kmi_strmap_free(&fs->links);
	kmi_arena_free(&fs->arena);
}

char *kmi_basefs_resolve(const struct kmi_basefs *fs, const char *path, bool whole)
{
	char *cur = normalise(path);

	for (unsigned hops = 0;;) {
		char *end = cur;
		const char *target = NULL;

		/* find the first prefix that is a symlink */
		for (;;) {
			end = strchrnul(end, '/');
			if (*end == '\0' && !whole)
				break;
			char save = *end;
			*end = '\0';
			target = kmi_strmap_get(&fs->links, cur);
			*end = save;
			if (target != NULL || *end == '\0')
				break;
			end++;
		}
		if (target == NULL)
			return cur;
		if (++hops > MAX_HOPS) {
			free(cur);
			return NULL;
		}
		{
			struct kmi_buf b = { 0 };
			char *slash = memrchr(cur, '/', (size_t)(end - cur));

			if (target[0] != '/' && slash != NULL)
				kmi_buf_put(&b, cur, (size_t)(slash - cur));
			push_components(&b, target);
			push_components(&b, end);
			kmi_buf_putc(&b, '\0');
			free(cur);
			cur = b.data;
		}
	}
}
