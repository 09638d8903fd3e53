// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * kmodimg verify: the image's layout and depmod output, then every module
 * against the target kernel.  See kmodimg-verify(1).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "verify/imagecheck.h"
#include "verify/verify-internal.h"

#define MODDIR_MAX_DEPTH 16
/* Where KMM's pods also mount the node's /lib/modules (see kmm-contract.md §5). */
#define KMM_HOST_ROOT "/host"
#define MAX_MODULES 65536

static void add_module(struct kmi_vctx *c, const char *path, const char *rel)
{
	struct kmi_vmod *m;

	if (c->n_mods == MAX_MODULES)
		return;
	if (c->n_mods == c->cap_mods) {
		c->cap_mods = c->cap_mods ? c->cap_mods * 2 : 16;
		c->mods = xreallocarray(c->mods, c->cap_mods, sizeof(*c->mods));
	}
	m = &c->mods[c->n_mods++];
	if (kmi_vmod_load(m, path, rel, &c->reader, &c->arena, c->cert) < 0)
		m->problem = "cannot be read";
}

/* The modules below the module directory, never through a symlink. */
static void list_modules(struct kmi_vctx *c, const char *dir, const char *rel, unsigned depth)
{
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
		_cleanup_free_ char *r = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
		struct stat st;

		if (name[0] != '.' && lstat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < MODDIR_MAX_DEPTH)
				list_modules(c, path, r, depth + 1);
			else if (S_ISREG(st.st_mode) && kmi_modfile_name_ok(name))
				add_module(c, path, r);
		}
		free(ents[i]);
	}
	free(ents);
}

/* Top-level symlinks of the module directory that lead to a host tree. */
static void find_link(struct kmi_vctx *c)
{
	DIR *d = opendir(c->moddir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		_cleanup_free_ char *path = xasprintf("%s/%s", c->moddir, de->d_name);
		char target[4096];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (!streq(de->d_name, "host") && strncmp(target, "/lib/modules/", 13) != 0 &&
		    strncmp(target, KMM_HOST_ROOT "/lib/modules/", strlen(KMM_HOST_ROOT) + 13) != 0)
			continue;
		if (c->link_name == NULL || streq(de->d_name, "host")) {
			free(c->link_name);
			free(c->host_target);
			c->link_name = xstrdup(de->d_name);
			c->host_target = xstrdup(target);
		}
	}
	if (d)
		closedir(d);
}

/* target is dir, or dir with trailing slashes. */
static bool same_dir(const char *target, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(target, dir, n) == 0 && target[n + strspn(target + n, "/")] == '\0';
}

static void check_link(struct kmi_vctx *c)
{
	_cleanup_free_ char *want = xasprintf("/lib/modules/%s", c->o->kver);
	_cleanup_free_ char *kmm = xasprintf(KMM_HOST_ROOT "/lib/modules/%s", c->o->kver);
	_cleanup_free_ char *ev = NULL, *fix = NULL;

	/* KMM's recipe links to /host/lib/modules/<kver>: its worker pod mounts the node's tree there too */
	if (c->host_target == NULL || same_dir(c->host_target, want) || same_dir(c->host_target, kmm))
		return;
	ev = xasprintf("%s/%s -> %s", c->rep->moddir, c->link_name, c->host_target);
	fix = xasprintf("point it at %s (kmodimg build --in-tree-link %s --kernel %s)", want,
			c->link_name, c->o->kver);
	kmi_report_add(c->rep, KMI_SEV_ERROR, "host-link", NULL, ev, fix,
		       "the in-tree link %s does not lead to the kernel's modules", c->link_name);
}

/* Other lib/modules/<x> directories: modules built for other kernels. */
static void list_other_kernels(struct kmi_vctx *c, const char *libmod)
{
	struct dirent **ents = NULL;
	int n = scandir(libmod, &ents, NULL, alphasort);
	struct kmi_buf others = { 0 };

	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.' && !streq(ents[i]->d_name, c->o->kver))
			kmi_buf_printf(&others, "%s%s", others.len ? ", " : "", ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	if (others.len) {
		kmi_buf_putc(&others, '\0');
		kmi_report_add(c->rep, KMI_SEV_INFO, "layout", NULL, others.data, NULL,
			       "the image also holds modules for other kernels: %s", others.data);
	}
	kmi_buf_free(&others);
}

void kmi_check_layout(struct kmi_vctx *c)
{
	_cleanup_free_ char *libmod = xasprintf("%s%s/lib/modules", c->o->root, c->o->dir_name);
	_cleanup_free_ char *fix = xasprintf("build the image for this kernel: kmodimg build --kernel %s "
					     "--prefix %s ...", c->o->kver, c->o->dir_name);
	struct stat st;

	if (lstat(c->moddir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		list_other_kernels(c, libmod);
		kmi_report_add(c->rep, KMI_SEV_ERROR, "layout", NULL, c->rep->moddir, fix,
			       "no module directory %s in the image", c->rep->moddir);
		return;
	}
	list_other_kernels(c, libmod);
	find_link(c);
	list_modules(c, c->moddir, "", 0);
	if (c->n_mods == 0)
		kmi_report_add(c->rep, KMI_SEV_ERROR, "layout", NULL, c->rep->moddir, fix,
			       "no module (.ko, .ko.xz, .ko.zst, .ko.gz) in %s", c->rep->moddir);
}

static void index_exports(struct kmi_vctx *c)
{
	bool added;

	kmi_symset_init(&c->exports, 256);
	kmi_strmap_init(&c->by_name, 64);
	for (size_t i = 0; i < c->n_mods; i++) {
		struct kmi_vmod *m = &c->mods[i];
		if (kmi_strmap_get(&c->by_name, m->name) == NULL)
			kmi_strmap_put(&c->by_name, m->name, m);
		for (uint32_t k = 0; k < m->mf.n_exports; k++)
			kmi_symset_add(&c->exports, m->mf.exports[k].name, m->name,
				       (uint32_t)m->mf.exports[k].crc, m->mf.exports[k].crc != 0,
				       &added);
	}
}

static void summarize(struct kmi_report *rep, const struct kmi_vmod *m, struct kmi_sig_summary *sig)
{
	struct kmi_module_summary *s;

	if (rep->n_mods == rep->cap_mods) {
		rep->cap_mods = rep->cap_mods ? rep->cap_mods * 2 : 16;
		rep->mods = xreallocarray(rep->mods, rep->cap_mods, sizeof(*rep->mods));
	}
	s = &rep->mods[rep->n_mods++];
	s->name = kmi_report_strdup(m->name);
	s->path = kmi_report_strdup(m->relpath);
	s->vermagic = m->vermagic ? kmi_report_strdup(m->vermagic) : NULL;
	s->sig = *sig;
}

static void report_unchecked(struct kmi_vctx *c)
{
	if (c->t.vermagic == NULL)
		kmi_report_add(c->rep, KMI_SEV_INFO, "vermagic", NULL, NULL,
			       "give --kernel-tree or --symvers (with its .config beside it)",
			       "vermagic not checked: the target's is unknown");
	if (!c->t.have_syms)
		kmi_report_add(c->rep, KMI_SEV_INFO, "symbols", NULL, NULL,
			       "give --symvers (linux-headers' Module.symvers) or --kernel-tree",
			       "symbols and CRCs not checked: the target's exports are unknown");
	else if (!c->t.kernel_complete)
		kmi_report_add(c->rep, KMI_SEV_INFO, "symbols", NULL, NULL,
			       "give --symvers for the complete list of vmlinux exports",
			       "vmlinux exports inferred from the tree's modules: unknown symbols are "
			       "warnings, not errors");
}

static void check_modules(struct kmi_vctx *c)
{
	for (size_t i = 0; i < c->n_mods; i++) {
		struct kmi_vmod *m = &c->mods[i];
		struct kmi_sig_summary sig = { .verified = -1 };

		kmi_check_signature(c, m, &sig);
		kmi_check_elf(c, m);
		kmi_check_vermagic(c, m);
		kmi_check_symbols(c, m);
		kmi_check_firmware(c, m);
		summarize(c->rep, m, &sig);
	}
}

static void vctx_free(struct kmi_vctx *c)
{
	for (size_t i = 0; i < c->n_mods; i++)
		kmi_vmod_free(&c->mods[i]);
	free(c->mods);
	free(c->moddir);
	free(c->link_name);
	free(c->host_target);
	kmi_symset_free(&c->exports);
	kmi_strmap_free(&c->by_name);
	kmi_modreader_free(&c->reader);
	kmi_arena_free(&c->arena);
	kmi_target_free(&c->t);
}

static void vctx_init(struct kmi_vctx *c, const struct kmi_verify_opts *o, struct kmi_report *rep)
{
	_cleanup_free_ char *moddir = xasprintf("%s/lib/modules/%s", o->dir_name, o->kver);

	*c = (struct kmi_vctx){ .o = o, .rep = rep };
	/* what the report shows goes through kmi_report_strdup: JSON wants UTF-8 */
	rep->kver = kmi_report_strdup(o->kver);
	rep->moddir = kmi_report_strdup(moddir);
	c->moddir = xasprintf("%s%s", o->root, moddir);
}

size_t kmi_verify_image_alone(const struct kmi_verify_opts *o, const char *depmod_fix,
			      struct kmi_report *rep)
{
	struct kmi_vctx c;
	size_t n;

	vctx_init(&c, o, rep);
	c.depmod_fix = depmod_fix;
	kmi_target_set_tree(&c.t, o);
	kmi_check_layout(&c);
	if (c.n_mods > 0)
		kmi_check_depmod(&c);
	n = c.n_mods;
	vctx_free(&c);
	return n;
}

int kmi_verify(const struct kmi_verify_opts *o, struct kmi_report *rep, struct kmi_error **err)
{
	struct kmi_vctx c;
	int r;

	vctx_init(&c, o, rep);
	if (o->cert && (r = kmi_modsig_load_cert(o->cert, &c.cert, err)) < 0)
		goto out;
	if ((r = kmi_target_load(&c.t, o, err)) < 0)
		goto out;
	if (c.t.vermagic)
		rep->target_vermagic = kmi_report_strdup(c.t.vermagic);
	kmi_check_layout(&c);
	check_link(&c);
	index_exports(&c);
	if (c.n_mods > 0) {
		report_unchecked(&c);
		kmi_check_depmod(&c);
		check_modules(&c);
	}
	r = 0;
out:
	kmi_modsig_free_cert(c.cert);
	vctx_free(&c);
	return r;
}
