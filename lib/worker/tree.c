// SPDX-License-Identifier: LGPL-2.1-or-later
/* The image's module directory for one kernel, seen through libkmod. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <libkmod.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "worker/worker.h"

#define MODULES_DEP_MAX (64u << 20)

char *kmi_running_kernel(void)
{
	struct utsname u;

	if (uname(&u) < 0)
		return xstrdup("unknown");
	return xstrdup(u.release);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "a, b, c" of the subdirectories of dir, sorted; NULL if none or unreadable. */
static char *list_subdirs(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	struct kmi_buf b = { 0 };

	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n == 0)
		return NULL;
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		kmi_buf_printf(&b, "%s%s", i ? ", " : "", names[i]);
		free(names[i]);
	}
	free(names);
	kmi_buf_putc(&b, '\0');
	return b.data;
}

static int no_kernel_dir(const char *root, const char *dir_name, const char *kver,
			 struct kmi_error **err)
{
	_cleanup_free_ char *base = xasprintf("%s%s/lib/modules", root, dir_name);
	_cleanup_free_ char *have = list_subdirs(base);
	struct stat st;

	if (stat(base, &st) < 0) {
		_cleanup_free_ char *top = xasprintf("%s/", root);
		_cleanup_free_ char *dirs = list_subdirs(top);
		return kmi_error_set(err, KMI_ENOTFOUND,
				     "the image has no %s/lib/modules (its top-level directories: %s); "
				     "is its module root elsewhere (--dir-name, KMM's dirName)?",
				     dir_name[0] ? dir_name : "", dirs ? dirs : "none");
	}
	return kmi_error_set(err, KMI_ENOTFOUND,
			     "the image has no modules for kernel %s; %s/lib/modules has: %s "
			     "(build the image for this kernel, or pick it with --kernel)",
			     kver, dir_name, have ? have : "nothing");
}

/* libkmod's messages, in ours (its format strings are its own, not input). */
__attribute__((format(printf, 6, 0))) static void kmod_log_fn(void *data, int priority, const char *file, int line, const char *fn,
			const char *format, va_list args)
{
	_cleanup_free_ char *msg = NULL;

	if (vasprintf(&msg, format, args) < 0)
		return;
	kmi_log(priority, "libkmod: %s%s", msg, strchr(msg, '\n') ? "" : "\n");
}

/*
 * KMM's recipe links `host` to /host/lib/modules/<kver>: its worker Pod
 * mounts the node's /lib/modules there as well.  A node without that mount
 * has the same tree at /lib/modules/<kver>; the link in our extracted copy
 * is pointed there (replaced by a rename), so that libkmod finds it.
 */
#define KMM_HOST_PREFIX "/host"

static bool remap_kmm_link(const char *path, const char *target)
{
	const char *node = target + strlen(KMM_HOST_PREFIX);
	_cleanup_free_ char *tmp = xasprintf("%s.kmodimg-%d", path, (int)getpid());
	struct stat st;

	if (strncmp(target, KMM_HOST_PREFIX "/lib/modules/", strlen(KMM_HOST_PREFIX) + 13) != 0 ||
	    stat(node, &st) < 0 || !S_ISDIR(st.st_mode))
		return false;
	if (symlink(node, tmp) < 0)
		return false;
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return false;
	}
	kmi_info("the image's in-tree link points to `%s` (where KMM's Pods mount the node's "
		 "modules); this node has them at `%s`: using that\n", target, node);
	return true;
}

/*
 * An in-tree link (KMM's `host`) whose target the node lacks: modprobe
 * silently drops the in-tree dependencies then, and the load fails later
 * with "Unknown symbol".  Say it first.
 */
static void check_links(const char *moddir)
{
	DIR *d = opendir(moddir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		_cleanup_free_ char *p = NULL;
		struct stat st;
		char target[4096];
		ssize_t n;

		if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
			continue;
		p = xasprintf("%s/%s", moddir, de->d_name);
		if (lstat(p, &st) < 0 || !S_ISLNK(st.st_mode) || stat(p, &st) == 0)
			continue;
		n = readlink(p, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		if (remap_kmm_link(p, target))
			continue;
		kmi_warn("the image's in-tree link `%s` points to `%s`, which this node does not "
			 "have: modules that need in-tree modules will not load\n", de->d_name, target);
	}
	closedir(d);
}

int kmi_tree_open(const char *root, const char *dir_name, const char *kver,
		  struct kmi_tree *t, struct kmi_error **err)
{
	_cleanup_free_ char *dep = NULL;
	struct stat st;
	const char *dn = dir_name ? dir_name : "/opt";

	memset(t, 0, sizeof(*t));
	while (dn[0] == '/' && dn[1] == '/')
		dn++;
	if (streq(dn, "/"))
		dn = "";
	t->kver = kver ? xstrdup(kver) : kmi_running_kernel();
	t->moddir = xasprintf("%s%s%s/lib/modules/%s", root, dn[0] && dn[0] != '/' ? "/" : "", dn,
			      t->kver);
	dep = xasprintf("%s/modules.dep", t->moddir);
	if (access(dep, R_OK) < 0) {
		/* the directory is looked at only to say what is wrong */
		int r = stat(t->moddir, &st) < 0 || !S_ISDIR(st.st_mode)
				? no_kernel_dir(root, dn, t->kver, err)
				: kmi_error_set(err, KMI_EFORMAT,
						"`%s` has no modules.dep: the image was built without running depmod",
						t->moddir);
		kmi_tree_close(t);
		return r;
	}
	t->ctx = kmod_new(t->moddir, NULL);
	if (t->ctx == NULL) {
		int r = kmi_error_set(err, ENOMEM, "libkmod: cannot open `%s`", t->moddir);
		kmi_tree_close(t);
		return r;
	}
	kmod_set_log_fn(t->ctx, kmod_log_fn, NULL);
	/* The indexes mmap'ed once, as modprobe does, not reopened per lookup. */
	kmod_load_resources(t->ctx);
	check_links(t->moddir);
	return 0;
}

void kmi_tree_close(struct kmi_tree *t)
{
	if (t->ctx != NULL)
		kmod_unref(t->ctx);
	free(t->moddir);
	free(t->kver);
	memset(t, 0, sizeof(*t));
}

void kmi_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* kmod's module name of a path: basename, extension dropped, '-' as '_'. */
static char *module_name(const char *path, size_t len)
{
	const char *base = path;
	char *name, *dot;

	for (size_t i = 0; i < len; i++) {
		if (path[i] == '/')
			base = path + i + 1;
	}
	name = xstrndup(base, len - (size_t)(base - path));
	dot = strstr(name, ".ko");
	if (dot != NULL)
		*dot = '\0';
	for (char *c = name; *c; c++) {
		if (*c == '-')
			*c = '_';
	}
	return name;
}

/* Whether the path's first component is a symlink (an in-tree link such as `host`). */
static bool under_link(const char *moddir, const char *path, size_t len)
{
	const char *slash = memchr(path, '/', len);
	_cleanup_free_ char *first = NULL;
	struct stat st;

	if (slash == NULL)
		return false;
	first = xasprintf("%s/%.*s", moddir, (int)(slash - path), path);
	return lstat(first, &st) == 0 && S_ISLNK(st.st_mode);
}

int kmi_tree_list(const struct kmi_tree *t, char ***names, size_t *n, struct kmi_error **err)
{
	_cleanup_free_ char *dep = xasprintf("%s/modules.dep", t->moddir);
	struct kmi_buf b = { 0 };
	int r = kmi_read_file(dep, MODULES_DEP_MAX, &b);

	*names = NULL;
	*n = 0;
	if (r < 0)
		return kmi_error_set(err, -r, "reading `%s`", dep);
	for (size_t pos = 0; pos < b.len;) {
		const char *line = b.data + pos;
		const char *nl = memchr(line, '\n', b.len - pos);
		size_t llen = nl ? (size_t)(nl - line) : b.len - pos;
		const char *colon = memchr(line, ':', llen);

		pos += llen + 1;
		if (colon == NULL || colon == line || under_link(t->moddir, line, (size_t)(colon - line)))
			continue;
		*names = xreallocarray(*names, *n + 1, sizeof(char *));
		(*names)[(*n)++] = module_name(line, (size_t)(colon - line));
	}
	kmi_buf_free(&b);
	return 0;
}

static int not_in_image(const struct kmi_tree *t, const char *name, struct kmi_error **err)
{
	char **names;
	size_t n;
	struct kmi_buf b = { 0 };
	int r;

	if (kmi_tree_list(t, &names, &n, err) < 0)
		return kmi_error_wrap(err, "module `%s` not found", name);
	for (size_t i = 0; i < n && i < 50; i++)
		kmi_buf_printf(&b, "%s%s", i ? ", " : "", names[i]);
	if (n > 50)
		kmi_buf_printf(&b, ", ... (%zu in all)", n);
	kmi_buf_putc(&b, '\0');
	r = kmi_error_set(err, KMI_ENOTFOUND, "module `%s` is not in the image for kernel %s; it has: %s",
			  name, t->kver, n ? b.data : "no modules at all");
	kmi_buf_free(&b);
	kmi_names_free(names, n);
	return r;
}

int kmi_tree_lookup(const struct kmi_tree *t, const char *name, struct kmod_list **list,
		    struct kmi_error **err)
{
	int r;

	*list = NULL;
	r = kmod_module_new_from_lookup(t->ctx, name, list);
	if (r < 0)
		return kmi_error_set(err, -r, "looking up `%s` in `%s`", name, t->moddir);
	if (*list == NULL)
		return not_in_image(t, name, err);
	return 0;
}

void kmi_tree_list_free(struct kmod_list *list)
{
	kmod_module_unref_list(list);
}

/* modprobe's default configuration directories (kmod 30's list). */
static const char *const default_config[] = {
	"/etc/modprobe.d",
	"/run/modprobe.d",
	"/usr/local/lib/modprobe.d",
	"/lib/modprobe.d",
};

int kmi_tree_set_order(struct kmi_tree *t, const char *const *order, size_t n,
		       struct kmi_error **err)
{
	_cleanup_free_ char *tmp = kmi_tmp_template("kmodimg-softdep");
	const char *paths[ARRAY_SIZE(default_config) + 2];
	struct kmi_buf text = { 0 };
	struct kmod_ctx *ctx;
	int fd, r = 0;

	if (n < 2)
		return 0;
	/* the names become config lines: a newline would add install or remove commands */
	for (size_t i = 0; i < n; i++) {
		if (order[i][0] == '\0' || order[i][strspn(order[i], "abcdefghijklmnopqrstuvwxyz"
								   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
								   "0123456789_-")] != '\0')
			return kmi_error_set(err, KMI_EUSAGE,
					     "module loading order: `%s` is not a module name", order[i]);
	}
	/* KMM's modules-order annotation: "softdep a pre: b", "softdep b pre: c", ... */
	for (size_t i = 0; i + 1 < n; i++)
		kmi_buf_printf(&text, "softdep %s pre: %s\n", order[i], order[i + 1]);
	fd = mkstemp(tmp);
	if (fd < 0 || kmi_write_all(fd, text.data, text.len) < 0)
		r = kmi_error_set(err, errno, "writing the softdep config `%s`", tmp);
	if (fd >= 0)
		close(fd);
	kmi_buf_free(&text);
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(default_config); i++)
		paths[i] = default_config[i];
	paths[ARRAY_SIZE(default_config)] = tmp;
	paths[ARRAY_SIZE(default_config) + 1] = NULL;
	ctx = kmod_new(t->moddir, paths); /* reads the config now */
	unlink(tmp);
	if (ctx == NULL)
		return kmi_error_set(err, ENOMEM, "libkmod: cannot open `%s`", t->moddir);
	kmod_set_log_fn(ctx, kmod_log_fn, NULL);
	kmod_load_resources(ctx);
	kmod_unref(t->ctx);
	t->ctx = ctx;
	return 0;
}
