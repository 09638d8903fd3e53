// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `kmodimg build`: modules in, a KMM kmod image out.  The modules are laid
 * out in a scratch tree (as symlinks: nothing is copied twice), the built-in
 * depmod indexes them there, and one deterministic layer is written from the
 * inputs and depmod's files, then the config and the manifest.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build/basefs.h"
#include "build/build-internal.h"
#include "depmod/depmod-internal.h"
#include "kmodimg/depmod.h"
#include "oci/image.h"
#include "util/log.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/strmap.h"
#include "util/xalloc.h"

static const char *const depmod_files[] = {
	"modules.dep",         "modules.dep.bin",           "modules.alias",
	"modules.alias.bin",   "modules.softdep",           "modules.symbols",
	"modules.symbols.bin", "modules.builtin.bin",       "modules.builtin.alias.bin",
	"modules.devname",
};

/* What depmod wrote, in memory (see run_depmod), in the order of depmod_files. */
struct depmod_out {
	struct kmi_buf file[ARRAY_SIZE(depmod_files)];
};

static int keep_output(void *ctx, const char *name, const void *data, size_t len)
{
	struct depmod_out *out = ctx;

	for (size_t i = 0; i < ARRAY_SIZE(depmod_files); i++) {
		if (strcmp(name, depmod_files[i]) == 0) {
			out->file[i].len = 0;
			if (len > 0)
				kmi_buf_put(&out->file[i], data, len);
			return 0;
		}
	}
	return -EINVAL; /* a file the image would lack */
}

static void depmod_out_free(struct depmod_out *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(depmod_files); i++)
		kmi_buf_free(&out->file[i]);
}

/* Inputs of depmod that come from the kernel build, taken from --kernel-tree. */
static const char *const builtin_files[] = { "modules.builtin", "modules.builtin.modinfo" };

struct entries {
	struct kmi_layer_entry *e;
	size_t n;
	struct kmi_strmap dirs; /* directory paths already listed */
	struct kmi_arena arena;
};

static void entries_add(struct entries *es, struct kmi_layer_entry e)
{
	es->e = xreallocarray(es->e, es->n + 1, sizeof(*es->e));
	es->e[es->n++] = e;
}

/* Lists every directory on the way to `path` (excluded), once. */
static void entries_parents(struct entries *es, const char *path)
{
	char *copy = kmi_arena_strdup(&es->arena, path);

	for (char *s = strchr(copy, '/'); s != NULL; s = strchr(s + 1, '/')) {
		char *dir;
		*s = '\0';
		if (kmi_strmap_get(&es->dirs, copy) == NULL) {
			dir = kmi_arena_strdup(&es->arena, copy);
			kmi_strmap_put(&es->dirs, dir, dir);
			entries_add(es, (struct kmi_layer_entry){ .path = dir, .type = KMI_ENTRY_DIR,
								  .mode = 0755 });
		}
		*s = '/';
	}
}

static void entries_file(struct entries *es, const char *path, const char *src, unsigned mode)
{
	entries_parents(es, path);
	entries_add(es, (struct kmi_layer_entry){ .path = kmi_arena_strdup(&es->arena, path),
						  .type = KMI_ENTRY_FILE,
						  .mode = mode,
						  .source = kmi_arena_strdup(&es->arena, src) });
}

static void entries_free(struct entries *es)
{
	free(es->e);
	kmi_strmap_free(&es->dirs);
	kmi_arena_free(&es->arena);
}



static char *absolute(const char *path)
{
	char *r = realpath(path, NULL);
	return r ? r : xstrdup(path);
}

/* The scratch tree: <tmp>/root<prefix>/lib/modules/<kver>/ with links to the inputs. */
static int stage(const struct kmi_build_opts *o, const struct inputs *in, const char *tmp,
		 char **moddir, struct kmi_error **err)
{
	char *dir = xasprintf("%s/root%s/lib/modules/%s", tmp, o->prefix, o->kver);
	_cleanup_free_ char *cwd = NULL, *made = NULL;
	int r;

	*moddir = dir;
	if ((r = kmi_mkdir_p(dir, 0755)) < 0)
		return kmi_error_set(err, -r, "creating `%s`", dir);
	/*
	 * Per file: no realpath() (a link's target need only be absolute) and
	 * no mkdir -p of the directory the previous file needed (the inputs come
	 * directory by directory): with thousands of inputs those cost more than
	 * the links.
	 */
	for (size_t i = 0; i < in->n; i++) {
		_cleanup_free_ char *link = xasprintf("%s/%s", dir, in->f[i].dest);
		_cleanup_free_ char *target = NULL;
		char *slash = strrchr(link, '/');

		if (in->f[i].src[0] != '/' && cwd == NULL && (cwd = getcwd(NULL, 0)) == NULL)
			return kmi_error_set(err, errno, "the current directory (for `%s`)",
					     in->f[i].src);
		target = in->f[i].src[0] == '/' ? xstrdup(in->f[i].src)
						: xasprintf("%s/%s", cwd, in->f[i].src);

		*slash = '\0';
		if (made == NULL || !streq(made, link)) {
			if ((r = kmi_mkdir_p(link, 0755)) < 0)
				return kmi_error_set(err, -r, "creating `%s`", link);
			free(made);
			made = xstrdup(link);
		}
		*slash = '/';
		if (symlink(target, link) < 0)
			return kmi_error_set(err, errno, "staging `%s`", link);
	}
	if (o->in_tree_link) {
		_cleanup_free_ char *link = xasprintf("%s/%s", dir, o->in_tree_link);
		_cleanup_free_ char *tree = o->kernel_tree ? xstrdup(o->kernel_tree)
							   : xasprintf("/lib/modules/%s", o->kver);
		struct stat st;

		if (stat(tree, &st) < 0 || !S_ISDIR(st.st_mode))
			return kmi_error_set(err, KMI_EUSAGE,
					     "--in-tree-link %s needs the target's module tree: `%s` "
					     "is not a directory (give --kernel-tree DIR, e.g. "
					     "lib/modules/%s from linux-image-%s)",
					     o->in_tree_link, tree, o->kver, o->kver);
		_cleanup_free_ char *abs = absolute(tree);
		if (symlink(abs, link) < 0)
			return kmi_error_set(err, errno, "staging `%s`", link);
		/*
		 * The kernel's list of built-in modules: with it depmod writes real
		 * modules.builtin*.bin (libkmod refuses the 0-byte ones it writes
		 * without), and modprobe knows what needs no loading.
		 */
		for (size_t i = 0; i < ARRAY_SIZE(builtin_files); i++) {
			_cleanup_free_ char *src = xasprintf("%s/%s", abs, builtin_files[i]);
			_cleanup_free_ char *dst = xasprintf("%s/%s", dir, builtin_files[i]);
			if (access(src, R_OK) == 0 && symlink(src, dst) < 0)
				return kmi_error_set(err, errno, "staging `%s`", dst);
		}
	}
	return 0;
}

/* The outputs stay in memory: they go into the layer, never to the scratch tree. */
static int run_depmod(const struct kmi_build_opts *o, const char *tmp, struct depmod_out *out,
		      struct kmi_error **err)
{
	_cleanup_free_ char *conf = xasprintf("%s/depmod.conf", tmp);
	_cleanup_free_ char *base = xasprintf("%s/root%s", tmp, o->prefix);
	const char *configs[] = { conf, NULL };
	struct kmodimg_depmod_opts d = { .kver = o->kver, .basedir = base, .config_paths = configs,
					 .output = keep_output, .output_ctx = out };
	FILE *f = fopen(conf, "we");
	int level = kmi_log_get_level(), r;

	if (f == NULL)
		return kmi_error_set(err, errno, "writing `%s`", conf);
	/* the image's own modules win over same-named ones through the link */
	if (o->in_tree_link)
		fprintf(f, "search built-in %s\n", o->in_tree_link);
	fclose(f);
	/* a KMM tree has no modules.order or modules.builtin: that is not news */
	kmi_log_set_level(KMI_LOG_ERR);
	r = kmodimg_depmod(&d);
	kmi_log_set_level(level);
	if (r != 0)
		return kmi_error_set(err, KMI_EFORMAT, "depmod failed on the image tree (see above)");
	return 0;
}

/* Names modules.dep can resolve: a dependency outside them is the target kernel's to provide. */
static void warn_unresolved(const struct inputs *in, const struct kmi_buf *dep, const char *link)
{
	struct kmi_strmap have;
	const char *p = dep->data, *end = dep->data + dep->len;

	kmi_strmap_init(&have, 1024);
	while (p != NULL && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *colon = memchr(p, ':', (size_t)((nl ? nl : end) - p));
		_cleanup_free_ char *path = colon ? xstrndup(p, (size_t)(colon - p)) : NULL;
		char *base, name[PATH_MAX];

		p = nl ? nl + 1 : end;
		if (path == NULL)
			continue;
		base = strrchr(path, '/');
		modname_normalize(base ? base + 1 : path, name, sizeof(name), NULL);
		char *key = xstrdup(name);
		if (kmi_strmap_put(&have, key, key) != NULL)
			free(key);
	}
	for (size_t i = 0; i < in->n; i++) {
		_cleanup_free_ char *deps = in->f[i].depends ? xstrdup(in->f[i].depends) : NULL;
		char *save = NULL;
		for (char *d = deps ? strtok_r(deps, ",", &save) : NULL; d; d = strtok_r(NULL, ",", &save)) {
			char name[PATH_MAX];
			modname_normalize(d, name, sizeof(name), NULL);
			if (kmi_strmap_get(&have, name) == NULL)
				kmi_warn("%s needs module %s, which the image does not contain%s: the target "
					 "kernel must provide it\n",
					 in->f[i].modname, name,
					 link ? "" : " (no --in-tree-link)");
		}
	}
	for (size_t i = 0; i <= have.mask; i++)
		free((char *)have.slots[i].key);
	kmi_strmap_free(&have);
}

static int firmware_walk(struct entries *es, const char *dir, const char *rel, unsigned depth,
			 struct kmi_error **err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (d == NULL)
		return kmi_error_set(err, errno, "reading firmware directory `%s`", dir);
	if (depth > 32) {
		closedir(d);
		return kmi_error_set(err, ELOOP, "`%s`: nested too deep", dir);
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		_cleanup_free_ char *src = NULL, *path = NULL;
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		src = xasprintf("%s/%s", dir, de->d_name);
		path = xasprintf("%s/%s", rel, de->d_name);
		if (stat(src, &st) < 0)
			r = kmi_error_set(err, errno, "`%s`", src);
		else if (S_ISDIR(st.st_mode))
			r = firmware_walk(es, src, path, depth + 1, err);
		else if (S_ISREG(st.st_mode))
			entries_file(es, path, src, 0644);
	}
	closedir(d);
	return r;
}

static char *prefix_rel(const char *prefix)
{
	while (*prefix == '/')
		prefix++;
	return xstrdup(prefix);
}

static int list_entries(const struct kmi_build_opts *o, const struct inputs *in,
			const char *moddir, const struct depmod_out *dout, struct entries *es,
			struct kmi_error **err)
{
	_cleanup_free_ char *pre = prefix_rel(o->prefix);
	_cleanup_free_ char *base = xasprintf("%s%slib/modules/%s", pre, *pre ? "/" : "", o->kver);

	kmi_strmap_init(&es->dirs, 64);
	for (size_t i = 0; i < in->n; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", base, in->f[i].dest);
		struct stat st;
		unsigned mode = stat(in->f[i].src, &st) == 0 && (st.st_mode & 0111) ? 0755 : 0644;
		entries_file(es, path, in->f[i].src, mode);
	}
	for (size_t i = 0; i < ARRAY_SIZE(depmod_files); i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", base, depmod_files[i]);
		entries_parents(es, path);
		entries_add(es, (struct kmi_layer_entry){
					.path = kmi_arena_strdup(&es->arena, path),
					.type = KMI_ENTRY_FILE,
					.mode = 0644,
					.data = dout->file[i].data,
					.size = dout->file[i].len });
	}
	for (size_t i = 0; o->in_tree_link && i < ARRAY_SIZE(builtin_files); i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", base, builtin_files[i]);
		_cleanup_free_ char *src = xasprintf("%s/%s", moddir, builtin_files[i]);
		if (access(src, R_OK) == 0)
			entries_file(es, path, src, 0644);
	}
	if (o->in_tree_link) {
		_cleanup_free_ char *path = xasprintf("%s/%s", base, o->in_tree_link);
		_cleanup_free_ char *target = xasprintf("/lib/modules/%s", o->kver);
		entries_parents(es, path);
		entries_add(es, (struct kmi_layer_entry){
					.path = kmi_arena_strdup(&es->arena, path),
					.type = KMI_ENTRY_SYMLINK,
					.mode = 0777,
					.target = kmi_arena_strdup(&es->arena, target) });
	}
	if (o->firmware)
		return firmware_walk(es, o->firmware, "lib/firmware", 0, err);
	return 0;
}

/*
 * Moves the entries below the base image's symlinked directories to where
 * they resolve (see basefs.h); the parent directories are listed anew.
 */
static int relocate(struct entries *es, struct kmi_layout *layout, const struct kmi_manifest *bm,
		    struct kmi_error **err)
{
	struct kmi_basefs fs;
	struct entries out = { 0 };
	int r = kmi_basefs_load(layout, bm, &fs, err);

	if (r < 0)
		return kmi_error_wrap(err, "reading the base image's layers");
	if (fs.links.count == 0) {
		kmi_basefs_free(&fs);
		return 0;
	}
	kmi_strmap_init(&out.dirs, 64);
	for (size_t i = 0; i < es->n && r == 0; i++) {
		struct kmi_layer_entry e = es->e[i];
		_cleanup_free_ char *p = NULL;

		if (e.type == KMI_ENTRY_DIR)
			continue;
		if ((p = kmi_basefs_resolve(&fs, e.path, false)) == NULL) {
			r = kmi_error_set(err, ELOOP, "`/%s`: the base image's symlinks loop", e.path);
			break;
		}
		entries_parents(&out, p);
		e.path = kmi_arena_strdup(&out.arena, p);
		e.source = e.source ? kmi_arena_strdup(&out.arena, e.source) : NULL;
		e.target = e.target ? kmi_arena_strdup(&out.arena, e.target) : NULL;
		entries_add(&out, e);
	}
	kmi_basefs_free(&fs);
	if (r < 0) {
		entries_free(&out);
		return r;
	}
	entries_free(es);
	*es = out;
	return 0;
}

static int write_layer(const struct kmi_build_opts *o, struct entries *es,
		       struct kmi_layout *layout, struct kmi_layer_result *lr,
		       struct kmi_error **err)
{
	struct kmi_layer_opts lo = { .compression = o->compression, .mtime = o->mtime };
	_cleanup_free_ char *tmp = NULL;
	int fd, r;

	if ((r = kmi_layout_blob_begin(layout, &fd, &tmp, err)) < 0)
		return r;
	r = kmi_layer_write(es->e, es->n, &lo, fd, lr, err);
	if (r < 0) {
		kmi_layout_blob_abort(fd, tmp);
		return kmi_error_wrap(err, "writing the modules layer");
	}
	return kmi_layout_blob_commit(layout, fd, tmp, lr->digest, false, err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted module names, comma-separated, and the vermagic of the first. */
static void describe(const struct inputs *in, char **names, const char **vermagic)
{
	const char **v = xcalloc(in->n + 1, sizeof(*v));
	struct kmi_buf b = { 0 };
	size_t n = 0;

	*vermagic = NULL;
	for (size_t i = 0; i < in->n; i++) {
		if (!in->f[i].is_module)
			continue;
		v[n++] = in->f[i].modname;
		if (*vermagic == NULL)
			*vermagic = in->f[i].vermagic;
	}
	qsort(v, n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i)
			kmi_buf_putc(&b, ',');
		kmi_buf_puts(&b, v[i]);
	}
	kmi_buf_putc(&b, '\0');
	*names = b.data;
	free(v);
}

static json_t *our_annotations(const struct kmi_build_opts *o, const char *names,
			       const char *vermagic)
{
	json_t *a = json_object();

	json_object_set_new(a, KMI_ANN_KERNEL, json_string(o->kver));
	json_object_set_new(a, KMI_ANN_MODULES, json_string(names));
	if (vermagic)
		json_object_set_new(a, KMI_ANN_VERMAGIC, json_string(vermagic));
	json_object_set_new(a, KMI_ANN_PREFIX, json_string(o->prefix));
	json_object_set_new(a, KMI_ANN_TOOL, json_string("kmodimg " KMODIMG_VERSION));
	return a;
}

static int base_config(struct kmi_layout *layout, const struct kmi_manifest *bm, json_t **out,
		       struct kmi_error **err)
{
	json_error_t jerr;
	char *data;
	size_t len;
	int r = kmi_layout_read_blob(layout, bm->config.digest, KMI_MANIFEST_BLOB_MAX, &data, &len, err);

	if (r < 0)
		return kmi_error_wrap(err, "base image config");
	*out = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	free(data);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		return kmi_error_set(err, KMI_EFORMAT, "base image config is not a JSON object: %s",
				     jerr.text);
	}
	return 0;
}

static int make_config(const struct kmi_build_opts *o, const char *arch, const char *names,
		       const char *vermagic, const struct kmi_layer_result *lr,
		       struct kmi_layout *layout, const struct kmi_manifest *bm,
		       struct kmi_descriptor *desc, struct kmi_error **err)
{
	json_t *cfg = NULL, *c, *labels, *rootfs, *ids, *hist, *h, *ours;
	const char *key;
	json_t *v;
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	if (bm != NULL) {
		if ((r = base_config(layout, bm, &cfg, err)) < 0)
			return r;
		const char *barch = json_string_value(json_object_get(cfg, "architecture"));
		if (barch && strcmp(barch, arch) != 0) {
			json_decref(cfg);
			return kmi_error_set(err, KMI_EUSAGE, "the base image is %s, the modules are %s",
					     barch, arch);
		}
	} else {
		cfg = json_object();
	}
	json_object_set_new(cfg, "architecture", json_string(arch));
	json_object_set_new(cfg, "os", json_string("linux"));
	if (o->mtime != 0) {
		char ts[32];
		time_t t = (time_t)o->mtime;
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
		json_object_set_new(cfg, "created", json_string(ts));
	} else {
		json_object_del(cfg, "created");
	}
	c = json_object_get(cfg, "config");
	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(cfg, "config", c);
	}
	labels = json_object_get(c, "Labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(c, "Labels", labels);
	}
	ours = our_annotations(o, names, vermagic);
	json_object_foreach(ours, key, v)
		json_object_set(labels, key, v);
	json_decref(ours);
	for (size_t i = 0; o->labels && o->labels[i]; i++) {
		const char *eq = strchr(o->labels[i], '=');
		_cleanup_free_ char *k = xstrndup(o->labels[i], (size_t)(eq - o->labels[i]));
		json_object_set_new(labels, k, json_string(eq + 1));
	}
	rootfs = json_object_get(cfg, "rootfs");
	if (!json_is_object(rootfs) || bm == NULL) {
		rootfs = json_object();
		json_object_set_new(cfg, "rootfs", rootfs);
	}
	json_object_set_new(rootfs, "type", json_string("layers"));
	ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(ids)) {
		ids = json_array();
		json_object_set_new(rootfs, "diff_ids", ids);
	}
	if (bm != NULL && json_array_size(ids) != bm->n_layers) {
		json_decref(cfg);
		return kmi_error_set(err, KMI_EFORMAT, "base image config lists %zu layers, its manifest %zu",
				     json_array_size(ids), bm->n_layers);
	}
	json_array_append_new(ids, json_string(lr->diff_id));
	hist = json_object_get(cfg, "history");
	if (!json_is_array(hist)) {
		hist = json_array();
		json_object_set_new(cfg, "history", hist);
	}
	h = json_object();
	json_object_set_new(h, "created_by", json_string("kmodimg build"));
	json_object_set_new(h, "comment", json_string(names));
	json_array_append_new(hist, h);

	text = kmi_json_dump(cfg, &len);
	json_decref(cfg);
	memset(desc, 0, sizeof(*desc));
	strcpy(desc->media_type, KMI_MT_OCI_CONFIG);
	desc->size = len;
	return kmi_layout_put_blob(layout, text, len, desc->digest, err);
}

static json_t *descriptor(const char *mt, const char *digest, uint64_t size)
{
	json_t *d = json_object();
	json_object_set_new(d, "mediaType", json_string(mt));
	json_object_set_new(d, "digest", json_string(digest));
	json_object_set_new(d, "size", json_integer((json_int_t)size));
	return d;
}

static int make_manifest(const struct kmi_build_opts *o, const char *names, const char *vermagic,
			 const struct kmi_descriptor *config, const struct kmi_layer_result *lr,
			 const struct kmi_manifest *bm, struct kmi_layout *layout,
			 struct kmi_descriptor *out, struct kmi_error **err)
{
	json_t *m = json_object(), *layers = json_array();
	_cleanup_free_ char *text = NULL;
	size_t len;

	json_object_set_new(m, "schemaVersion", json_integer(2));
	json_object_set_new(m, "mediaType", json_string(KMI_MT_OCI_MANIFEST));
	json_object_set_new(m, "config", descriptor(config->media_type, config->digest, config->size));
	for (size_t i = 0; bm && i < bm->n_layers; i++)
		json_array_append_new(layers, descriptor(kmi_layer_media_type_oci(bm->layers[i].media_type),
							 bm->layers[i].digest, bm->layers[i].size));
	json_array_append_new(layers, descriptor(lr->media_type, lr->digest, lr->size));
	json_object_set_new(m, "layers", layers);
	json_object_set_new(m, "annotations", our_annotations(o, names, vermagic));
	text = kmi_json_dump(m, &len);
	json_decref(m);
	memset(out, 0, sizeof(*out));
	strcpy(out->media_type, KMI_MT_OCI_MANIFEST);
	out->size = len;
	return kmi_layout_put_blob(layout, text, len, out->digest, err);
}

static int check_opts(const struct kmi_build_opts *o, struct kmi_error **err)
{
	if (o->kver == NULL || *o->kver == '\0')
		return kmi_error_set(err, KMI_EUSAGE, "no kernel version: --kernel KVER is required");
	if (strchr(o->kver, '/') || strcmp(o->kver, ".") == 0 || strcmp(o->kver, "..") == 0)
		return kmi_error_set(err, KMI_EUSAGE, "bad kernel version `%s`", o->kver);
	if (o->prefix[0] != '/' || strstr(o->prefix, "/.") || strstr(o->prefix, "//"))
		return kmi_error_set(err, KMI_EUSAGE,
				     "--prefix `%s`: want an absolute path without . or .. parts",
				     o->prefix);
	if (o->subdir && (o->subdir[0] == '/' || strstr(o->subdir, "..") || *o->subdir == '\0'))
		return kmi_error_set(err, KMI_EUSAGE, "--subdir `%s`: want a relative path", o->subdir);
	if (o->in_tree_link && (strchr(o->in_tree_link, '/') || *o->in_tree_link == '\0' ||
				*o->in_tree_link == '.'))
		return kmi_error_set(err, KMI_EUSAGE, "--in-tree-link `%s`: want a plain name",
				     o->in_tree_link);
	for (size_t i = 0; o->labels && o->labels[i]; i++) {
		if (strchr(o->labels[i], '=') == NULL || o->labels[i][0] == '=')
			return kmi_error_set(err, KMI_EUSAGE, "--label `%s`: want KEY=VALUE", o->labels[i]);
	}
	return 0;
}

int kmi_build(const struct kmi_build_opts *o, struct kmi_layout *layout,
	      struct kmi_build_result *res, struct kmi_error **err)
{
	struct inputs in = { 0 };
	struct entries es = { 0 };
	struct kmi_layer_result lr;
	struct kmi_descriptor config;
	struct kmi_manifest bm = { 0 };
	struct depmod_out dout = { 0 };
	struct kmi_descriptor fetched;
	const struct kmi_descriptor *base = o->base;
	_cleanup_free_ char *tmpl = kmi_tmp_template_links("kmodimg-build");
	_cleanup_free_ char *moddir = NULL, *names = NULL;
	const char *vermagic, *arch;
	unsigned machine, elfdata;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = check_opts(o, err)) < 0)
		return r;
	if ((r = inputs_collect(&in, o->paths, o->subdir, err)) < 0 ||
	    (r = inputs_check(&in, o->kver, o->force, &machine, &elfdata, err)) < 0) {
		inputs_free(&in);
		return r;
	}
	arch = kmi_machine_arch(machine, elfdata);
	if (arch == NULL) {
		inputs_free(&in);
		return kmi_error_set(err, KMI_EUSAGE, "modules for ELF machine %u: no OCI architecture known",
				     machine);
	}
	if (o->fetch_base != NULL) {
		if ((r = o->fetch_base(o->fetch_base_ctx, arch, layout, &fetched, err)) < 0) {
			inputs_free(&in);
			return r;
		}
		base = &fetched;
	}
	if (base != NULL) {
		char *data;
		size_t len;
		r = kmi_layout_read_blob(layout, base->digest, KMI_MANIFEST_BLOB_MAX, &data, &len, err);
		if (r == 0) {
			r = kmi_manifest_parse(data, len, base->media_type, &bm, err);
			free(data);
		}
		if (r == 0 && bm.is_index)
			r = kmi_error_set(err, KMI_EUSAGE, "the base is an index: pick one platform");
		if (r < 0) {
			inputs_free(&in);
			kmi_manifest_free(&bm);
			return kmi_error_wrap(err, "base image");
		}
	}
	if (mkdtemp(tmpl) == NULL) {
		inputs_free(&in);
		kmi_manifest_free(&bm);
		return kmi_error_set(err, errno, "creating a scratch directory");
	}
	r = stage(o, &in, tmpl, &moddir, err);
	if (r == 0)
		r = run_depmod(o, tmpl, &dout, err);
	if (r == 0) {
		warn_unresolved(&in, &dout.file[0], o->in_tree_link);
		r = list_entries(o, &in, moddir, &dout, &es, err);
	}
	if (r == 0 && base != NULL)
		r = relocate(&es, layout, &bm, err);
	if (r == 0)
		r = write_layer(o, &es, layout, &lr, err);
	if (r == 0) {
		describe(&in, &names, &vermagic);
		r = make_config(o, arch, names, vermagic, &lr, layout, base ? &bm : NULL, &config, err);
	}
	if (r == 0)
		r = make_manifest(o, names, vermagic, &config, &lr, base ? &bm : NULL, layout,
				  &res->manifest, err);
	for (size_t i = 0; i < in.n; i++)
		res->n_modules += in.f[i].is_module;
	kmi_rm_rf(tmpl);
	depmod_out_free(&dout);
	entries_free(&es);
	inputs_free(&in);
	kmi_manifest_free(&bm);
	return r;
}
