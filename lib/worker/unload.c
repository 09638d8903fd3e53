// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unloading as `modprobe -r` does: each named module if it is loaded, then
 * its dependencies (from the tree's modules.dep) that nothing else holds.
 * A dry run works on the same sysfs facts and counts what it would have
 * removed as gone.
 */
#include <errno.h>
#include <libkmod.h>
#include <string.h>

#include "util/log.h"
#include "util/macro.h"
#include "util/strmap.h"
#include "util/xalloc.h"
#include "worker/worker.h"

struct rm {
	struct kmod_ctx *ctx;
	bool dry_run;
	FILE *out;
	struct kmi_strmap gone; /* names removed (or that a dry run would remove) */
	char **names;           /* keys of gone, owned */
	size_t n_names;
};

static bool is_loaded(struct kmod_module *m)
{
	int state = kmod_module_get_initstate(m);

	return state == KMOD_MODULE_LIVE || state == KMOD_MODULE_COMING ||
	       state == KMOD_MODULE_GOING;
}

/* Holders that are not gone yet: the first one's name, or NULL. */
static char *live_holder(struct rm *x, struct kmod_module *m, size_t *n_gone)
{
	struct kmod_list *holders = kmod_module_get_holders(m), *l;
	char *holder = NULL;

	*n_gone = 0;
	kmod_list_foreach(l, holders) {
		struct kmod_module *h = kmod_module_get_module(l);
		if (kmi_strmap_get(&x->gone, kmod_module_get_name(h)) != NULL)
			(*n_gone)++;
		else if (holder == NULL)
			holder = xstrdup(kmod_module_get_name(h));
		kmod_module_unref(h);
	}
	kmod_module_unref_list(holders);
	return holder;
}

static void mark_gone(struct rm *x, const char *name)
{
	char *key = xstrdup(name);

	x->names = xreallocarray(x->names, x->n_names + 1, sizeof(char *));
	x->names[x->n_names++] = key;
	kmi_strmap_put(&x->gone, key, key);
}

static int remove_module(struct rm *x, struct kmod_module *m, bool named, unsigned depth,
			 struct kmi_error **err);

static int remove_unused_deps(struct rm *x, struct kmod_module *m, unsigned depth,
			      struct kmi_error **err)
{
	struct kmod_list *deps = kmod_module_get_dependencies(m), *l;
	int r = 0;

	kmod_list_foreach(l, deps) {
		struct kmod_module *d = kmod_module_get_module(l);
		if (r == 0)
			r = remove_module(x, d, false, depth + 1, err);
		kmod_module_unref(d);
	}
	kmod_module_unref_list(deps);
	return r;
}

static int remove_module(struct rm *x, struct kmod_module *m, bool named, unsigned depth,
			 struct kmi_error **err)
{
	const char *name = kmod_module_get_name(m);
	_cleanup_free_ char *holder = NULL;
	size_t n_gone;
	int refcnt, r;

	if (depth > 64 || kmi_strmap_get(&x->gone, name) != NULL || !is_loaded(m))
		return 0;
	holder = live_holder(x, m, &n_gone);
	refcnt = kmod_module_get_refcnt(m);
	if (holder != NULL || refcnt > (int)n_gone) {
		if (!named)
			return 0; /* still used: stays, as modprobe -r leaves it */
		if (holder != NULL)
			return kmi_error_set(err, EBUSY, "`%s` is in use by `%s`: unload that first",
					     name, holder);
		return kmi_error_set(err, EBUSY, "`%s` is in use (reference count %d): stop "
				     "what uses it first", name, refcnt);
	}
	if (x->dry_run) {
		fprintf(x->out, "rmmod %s\n", name);
	} else if ((r = kmod_module_remove_module(m, 0)) < 0 && r != -ENOENT) {
		return kmi_error_set(err, -r, "removing `%s`", name);
	} else {
		kmi_info("removed `%s`\n", name);
	}
	mark_gone(x, name);
	return remove_unused_deps(x, m, depth, err);
}

static int remove_names(struct rm *x, const char *const *names, size_t n, struct kmi_error **err)
{
	int r = 0;

	kmi_strmap_init(&x->gone, 16);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct kmod_module *m;

		r = kmod_module_new_from_name(x->ctx, names[i], &m);
		if (r < 0) {
			r = kmi_error_set(err, -r, "module `%s`", names[i]);
			break;
		}
		r = remove_module(x, m, true, 0, err);
		kmod_module_unref(m);
	}
	kmi_strmap_free(&x->gone);
	kmi_names_free(x->names, x->n_names);
	return r;
}

int kmi_unload(const struct kmi_tree *t, const char *const *names, size_t n, bool dry_run,
	       FILE *out, struct kmi_error **err)
{
	struct rm x = { .ctx = t->ctx, .dry_run = dry_run, .out = out ? out : stdout };

	return remove_names(&x, names, n, err);
}

int kmi_remove_in_tree(const char *host_moddir, const char *const *names, size_t n,
		       bool dry_run, FILE *out, struct kmi_error **err)
{
	struct kmod_ctx *ctx;
	struct rm x = { .dry_run = dry_run, .out = out ? out : stdout };
	const char **present = xcalloc(n + 1, sizeof(char *));
	size_t n_present = 0;
	int r;

	ctx = kmod_new(host_moddir, NULL);
	if (ctx == NULL) {
		free(present);
		return kmi_error_set(err, ENOMEM, "libkmod: cannot open `%s`", host_moddir);
	}
	for (size_t i = 0; i < n; i++) {
		struct kmod_list *list = NULL;

		/* KMM's rule: only modules the node's own tree has. */
		if (kmod_module_new_from_lookup(ctx, names[i], &list) == 0 && list != NULL)
			present[n_present++] = names[i];
		else
			kmi_info("in-tree module `%s` is not in `%s`: not removing it\n", names[i],
				 host_moddir);
		kmod_module_unref_list(list);
	}
	x.ctx = ctx;
	r = remove_names(&x, present, n_present, err);
	if (r < 0)
		kmi_error_wrap(err, "removing in-tree modules");
	free(present);
	kmod_unref(ctx);
	return r;
}
