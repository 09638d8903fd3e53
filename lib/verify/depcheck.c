// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Is the image's depmod output there and current?  The built-in depmod runs
 * again over a mirror of the module directory (symlinks to the image's
 * files; the in-tree link pointing at the target tree) into a temp dir, and
 * each output is compared byte for byte.  The .bin indexes are accepted in
 * either kmod node order (kmod <= 33 or >= 34 may have written them).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kmodimg/depmod.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "verify/verify-internal.h"

static const char *const outputs[] = {
	"modules.dep",	       "modules.dep.bin",	  "modules.alias",
	"modules.alias.bin",   "modules.softdep",	  "modules.symbols",
	"modules.symbols.bin", "modules.builtin.bin",	  "modules.builtin.alias.bin",
	"modules.devname",
};

static bool is_output(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(outputs); i++)
		if (streq(outputs[i], name))
			return true;
	return false;
}

/* modprobe cannot find a module (or its dependencies) without these. */
static bool essential(const char *name)
{
	return streq(name, "modules.dep") || streq(name, "modules.dep.bin");
}

static int mirror(struct kmi_vctx *c, const char *dest, const char *link)
{
	DIR *d = opendir(c->moddir);
	struct dirent *de;
	int r = kmi_mkdir_p(dest, 0755);

	if (d == NULL || r < 0) {
		if (d)
			closedir(d);
		return r < 0 ? r : -errno;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		_cleanup_free_ char *src = NULL, *dst = NULL;
		struct stat st;
		if (streq(de->d_name, ".") || streq(de->d_name, "..") || is_output(de->d_name))
			continue;
		dst = xasprintf("%s/%s", dest, de->d_name);
		if (link && streq(de->d_name, link)) {
			src = xstrdup(c->t.tree);
		} else {
			src = xasprintf("%s/%s", c->moddir, de->d_name);
			/* the image's other links would lead depmod around this host */
			if (lstat(src, &st) < 0 || S_ISLNK(st.st_mode))
				continue;
		}
		if (symlink(src, dst) < 0)
			r = -errno;
	}
	closedir(d);
	return r;
}

static int run_depmod(struct kmi_vctx *c, const char *tmp, const char *link,
		      enum kmodimg_index_order order)
{
	_cleanup_free_ char *conf = xasprintf("%s/depmod.conf", tmp);
	_cleanup_free_ char *base = xasprintf("%s/root", tmp);
	_cleanup_free_ char *out = xasprintf("%s/out%d", tmp, (int)order);
	const char *configs[] = { conf, NULL };
	struct kmodimg_depmod_opts d = { .kver = c->o->kver, .basedir = base, .outdir = out,
					 .config_paths = configs, .order = order, .threads = 1 };
	FILE *f = fopen(conf, "we");
	int level = kmi_log_get_level(), r;

	if (f == NULL)
		return -errno;
	if (link)
		fprintf(f, "search built-in %s\n", link);
	if (fclose(f) != 0)
		return -errno;
	_cleanup_free_ char *outmod = xasprintf("%s/lib/modules/%s", out, c->o->kver);
	if ((r = kmi_mkdir_p(outmod, 0755)) < 0)
		return r;
	kmi_log_set_level(KMI_LOG_CRIT);
	r = kmodimg_depmod(&d);
	kmi_log_set_level(level);
	return r == 0 ? 0 : -EINVAL;
}

/* The first line where two texts differ, for the evidence. */
static char *first_difference(const struct kmi_buf *have, const struct kmi_buf *want)
{
	size_t line = 1, i = 0, hs, ws;

	while (i < have->len && i < want->len && have->data[i] == want->data[i]) {
		if (have->data[i] == '\n')
			line++;
		i++;
	}
	for (hs = i; hs > 0 && have->data[hs - 1] != '\n'; hs--)
		;
	for (ws = i; ws > 0 && want->data[ws - 1] != '\n'; ws--)
		;
	int hl = (int)strcspn(have->data + hs, "\n"), wl = (int)strcspn(want->data + ws, "\n");
	return xasprintf("line %zu: the image has `%.*s`, depmod computes `%.*s`", line,
			 hs < have->len ? (hl > 200 ? 200 : hl) : 0, have->data + hs,
			 ws < want->len ? (wl > 200 ? 200 : wl) : 0, want->data + ws);
}

/* 1 same, 0 different (*diff says where, for text files). */
static int same_file(const char *a, const char *b, bool text, char **diff)
{
	struct kmi_buf x = { 0 }, y = { 0 };
	int same = kmi_read_file(a, 1u << 30, &x) == 0 && kmi_read_file(b, 1u << 30, &y) == 0 &&
		   x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);

	if (!same && text && diff) {
		kmi_buf_putc(&x, '\0');
		kmi_buf_putc(&y, '\0');
		x.len--;
		y.len--;
		*diff = first_difference(&x, &y);
	}
	kmi_buf_free(&x);
	kmi_buf_free(&y);
	return same;
}

/* The modules.dep line of relpath ("relpath: deps...") in text, or NULL; length in *len. */
static const char *dep_line(const struct kmi_buf *text, const char *relpath, size_t *len)
{
	size_t rl = strlen(relpath);

	for (size_t i = 0; i < text->len;) {
		const char *nl = memchr(text->data + i, '\n', text->len - i);
		size_t end = nl ? (size_t)(nl - text->data) : text->len;
		if (end - i > rl && memcmp(text->data + i, relpath, rl) == 0 && text->data[i + rl] == ':') {
			*len = end - i;
			return text->data + i;
		}
		i = end + 1;
	}
	return NULL;
}

/*
 * The first of the image's own modules whose modules.dep line differs
 * (modprobe loads those: their lines list every dependency), or NULL when
 * only lines of in-tree modules differ: an index made against another copy
 * of the tree, harmless for the image's modules.
 */
static const char *own_line_differs(struct kmi_vctx *c, const char *have, const char *want)
{
	struct kmi_buf h = { 0 }, w = { 0 };
	const char *bad = NULL;

	if (kmi_read_file(have, 1u << 30, &h) < 0 || kmi_read_file(want, 1u << 30, &w) < 0)
		bad = "modules.dep";
	for (size_t i = 0; bad == NULL && i < c->n_mods; i++) {
		size_t hl = 0, wl = 0;
		const char *hp = dep_line(&h, c->mods[i].relpath, &hl);
		const char *wp = dep_line(&w, c->mods[i].relpath, &wl);
		if (hp == NULL || wp == NULL || hl != wl || memcmp(hp, wp, hl) != 0)
			bad = c->mods[i].relpath;
	}
	kmi_buf_free(&h);
	kmi_buf_free(&w);
	return bad;
}

static void compare(struct kmi_vctx *c, const char *tmp)
{
	/* whether modules.dep differs only in lines of the target's modules */
	bool only_intree = false;

	for (size_t i = 0; i < ARRAY_SIZE(outputs); i++) {
		const char *name = outputs[i];
		_cleanup_free_ char *have = xasprintf("%s/%s", c->moddir, name);
		_cleanup_free_ char *shown = xasprintf("%s/%s", c->rep->moddir, name);
		_cleanup_free_ char *diff = NULL;
		bool bin = strstr(name, ".bin") != NULL;
		_cleanup_free_ char *want = xasprintf("%s/out0/lib/modules/%s/%s", tmp, c->o->kver, name);
		_cleanup_free_ char *want2 = xasprintf("%s/out1/lib/modules/%s/%s", tmp, c->o->kver, name);
		_cleanup_free_ char *fix = c->depmod_fix ? xstrdup(c->depmod_fix)
							 : xasprintf("run depmod on the image's tree again "
								     "(kmodimg build does), e.g. kmodimg "
								     "depmod -b <prefix> %s",
								     c->o->kver);
		enum kmi_severity sev = essential(name) ? KMI_SEV_ERROR : KMI_SEV_WARNING;
		struct stat st;

		if (stat(want, &st) < 0)
			continue;
		if (lstat(have, &st) < 0 || !S_ISREG(st.st_mode)) {
			kmi_report_add(c->rep, sev, "depmod", NULL, shown, fix, "%s is missing%s", name,
				       essential(name) ? ": modprobe cannot resolve the modules" : "");
			continue;
		}
		if (same_file(have, want, !bin, &diff))
			continue;
		if (bin && access(want2, F_OK) == 0 && same_file(have, want2, false, NULL))
			continue;
		if (streq(name, "modules.dep")) {
			const char *own = own_line_differs(c, have, want);
			only_intree = own == NULL && c->link_name != NULL;
			if (only_intree) {
				kmi_report_add(c->rep, KMI_SEV_WARNING, "depmod", NULL, diff, fix,
					       "the depmod output was made against another copy of the "
					       "target's tree: the image's modules' lines of modules.dep "
					       "are current, some of the in-tree modules' (and the other "
					       "indexes) are not");
				continue;
			}
			char *d = xasprintf("%s (%s's line differs)", diff ? diff : shown, own);
			free(diff);
			diff = d;
		}
		if (only_intree)
			continue; /* the same cause, said once for modules.dep */
		kmi_report_add(c->rep, sev, "depmod", NULL, diff ? diff : shown, fix,
			       "%s is stale: it differs from what depmod computes for the image's modules%s",
			       name, c->link_name && !c->t.have_tree
					     ? " (the target tree has no modules for the in-tree link)"
					     : "");
	}
}

void kmi_check_depmod(struct kmi_vctx *c)
{
	_cleanup_free_ char *tmp = c->o->scratch ? xasprintf("%s/depmod.XXXXXX", c->o->scratch)
						 : kmi_tmp_template("kmodimg-verify-depmod");
	_cleanup_free_ char *root = NULL;
	const char *link = NULL;
	int r;

	if (c->host_target != NULL) {
		if (c->t.tree == NULL) {
			kmi_report_add(c->rep, KMI_SEV_INFO, "depmod", NULL, NULL,
				       "give --kernel-tree (the target's lib/modules/<kver>)",
				       "depmod output not recomputed: the in-tree link needs the target's tree");
			return;
		}
		link = c->link_name;
	}
	if (mkdtemp(tmp) == NULL) {
		kmi_report_add(c->rep, KMI_SEV_INFO, "depmod", NULL, strerror(errno), NULL,
			       "depmod output not recomputed: no temp dir");
		return;
	}
	root = xasprintf("%s/root/lib/modules/%s", tmp, c->o->kver);
	r = mirror(c, root, link);
	if (r == 0)
		r = run_depmod(c, tmp, link, KMODIMG_INDEX_POST);
	if (r == 0)
		r = run_depmod(c, tmp, link, KMODIMG_INDEX_PRE);
	if (r == 0)
		compare(c, tmp);
	else
		kmi_report_add(c->rep, KMI_SEV_ERROR, "depmod", NULL, strerror(-r),
			       "check the modules: depmod must be able to read every one",
			       "depmod fails on the image's modules");
	kmi_rm_rf(tmp);
}
