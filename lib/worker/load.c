// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Loading: libkmod works out the sequence exactly as `modprobe
 * --show-depends` would (softdeps, dependencies, install commands and
 * options from the host's modprobe.d), then we insert it one module at a
 * time, so that a failure can name the module, say what the errno means,
 * and take out what this run put in.
 */
#include <errno.h>
#include <libkmod.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/stop.h"
#include "util/strmap.h"
#include "util/xalloc.h"
#include "worker/worker.h"

struct step {
	struct kmod_module *m;
	bool install;  /* an install command runs instead of insmod */
	char *options;
	bool target;   /* the module the user's parameters are for */
};

struct plan {
	struct step *v;
	size_t n;
	bool target_next;
};

/* libkmod's print_action callback has no user data. */
static _Thread_local struct plan *collecting;

static void collect(struct kmod_module *m, bool install, const char *options)
{
	struct plan *p = collecting;
	const char *name = kmod_module_get_name(m);

	for (size_t i = 0; i < p->n; i++) {
		if (streq(kmod_module_get_name(p->v[i].m), name))
			return; /* a dependency of an earlier target */
	}
	p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
	p->v[p->n++] = (struct step){ kmod_module_ref(m), install, xstrdup(options), false };
}

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		kmod_module_unref(p->v[i].m);
		free(p->v[i].options);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* PARAM=VALUE words joined as modprobe joins its command line. */
static char *join_params(const char *const *params, size_t n)
{
	struct kmi_buf b = { 0 };

	for (size_t i = 0; i < n; i++)
		kmi_buf_printf(&b, "%s%s", i ? " " : "", params[i]);
	kmi_buf_putc(&b, '\0');
	return b.data;
}

/* Appends name's probe sequence to p (dry run: nothing is inserted). */
static int plan_module(const struct kmi_tree *t, struct plan *p, const char *name,
		       const char *options, struct kmi_error **err)
{
	struct kmod_list *list, *l;
	int r = kmi_tree_lookup(t, name, &list, err);

	if (r < 0)
		return r;
	collecting = p;
	kmod_list_foreach(l, list) {
		struct kmod_module *m = kmod_module_get_module(l);
		size_t before = p->n;

		r = kmod_module_probe_insert_module(m,
						    KMOD_PROBE_DRY_RUN | KMOD_PROBE_IGNORE_LOADED |
							    KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY,
						    options, NULL, NULL, collect);
		/* The last step of a module's sequence is the module itself. */
		if (r >= 0 && options != NULL && p->n > before)
			p->v[p->n - 1].target = true;
		kmod_module_unref(m);
		if (r < 0)
			break;
	}
	collecting = NULL;
	kmod_module_unref_list(list);
	if (r < 0)
		return kmi_error_set(err, -r, "resolving the dependencies of `%s` in `%s`", name,
				     t->moddir);
	return 0;
}

static int plan_all(const struct kmi_tree *t, const struct kmi_load_opts *o, struct plan *p,
		    struct kmi_error **err)
{
	_cleanup_free_ char *options = o->n_params ? join_params(o->params, o->n_params) : NULL;
	char **names;
	size_t n;
	int r = 0;

	/* The order itself is softdeps in the tree's config (kmi_tree_set_order). */
	if (o->module != NULL)
		return plan_module(t, p, o->module, options, err);
	if (o->n_order > 0)
		return plan_module(t, p, o->order[0], options, err);
	if ((r = kmi_tree_list(t, &names, &n, err)) < 0)
		return r;
	if (n == 0)
		r = kmi_error_set(err, KMI_ENOTFOUND, "the image has no modules in `%s`", t->moddir);
	for (size_t i = 0; i < n && r == 0; i++)
		r = plan_module(t, p, names[i], NULL, err);
	kmi_names_free(names, n);
	return r;
}

/* The lines `modprobe --show-depends` prints. */
static void print_plan(const struct plan *p, FILE *out)
{
	for (size_t i = 0; i < p->n; i++) {
		struct kmod_module *m = p->v[i].m;
		const char *path = kmod_module_get_path(m);

		if (p->v[i].install)
			fprintf(out, "install %s %s\n", kmod_module_get_install_commands(m),
				p->v[i].options);
		else if (path != NULL)
			fprintf(out, "insmod %s %s\n", path, p->v[i].options);
		else if (kmod_module_get_initstate(m) == KMOD_MODULE_BUILTIN)
			fprintf(out, "builtin %s\n", kmod_module_get_name(m));
	}
}

static bool is_loaded(struct kmod_module *m)
{
	int state = kmod_module_get_initstate(m);

	return state == KMOD_MODULE_LIVE || state == KMOD_MODULE_COMING ||
	       state == KMOD_MODULE_BUILTIN;
}

/* Takes out, newest first, the modules this run inserted. */
static void roll_back(struct kmod_module **done, size_t n)
{
	while (n-- > 0) {
		int r = kmod_module_remove_module(done[n], 0);

		if (r < 0)
			kmi_warn("could not remove `%s` again: %s\n", kmod_module_get_name(done[n]),
				 strerror(-r));
		else
			kmi_info("removed `%s` again\n", kmod_module_get_name(done[n]));
	}
}

static int insert_step(const struct kmi_tree *t, const struct step *s, const char *user_options,
		       struct kmi_error **err)
{
	struct kmod_module *m = s->m;
	int r;

	if (s->install) {
		r = kmod_module_probe_insert_module(m, KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY,
						    s->target ? user_options : NULL, NULL, NULL, NULL);
		if (r < 0)
			return kmi_error_set(err, -r, "`%s`: its install command (%s) failed",
					     kmod_module_get_name(m),
					     kmod_module_get_install_commands(m));
		return 0;
	}
	if (s->target && user_options[0] != '\0') {
		_cleanup_free_ char *unknown = kmi_unknown_param(m, user_options);
		/* The kernel only logs "unknown parameter ignored". */
		if (unknown != NULL)
			kmi_warn("`%s` has no parameter `%s`: the kernel will ignore it (modinfo -p "
				 "lists the ones it has)\n", kmod_module_get_name(m), unknown);
	}
	r = kmod_module_insert_module(m, 0, s->options);
	if (r == -EEXIST)
		return 0; /* loaded meanwhile by someone else */
	if (r < 0) {
		_cleanup_free_ char *running = kmi_running_kernel();
		return kmi_explain_insert(m, s->options, running, -r, err);
	}
	return 0;
}

static int run_plan(const struct kmi_tree *t, const struct plan *p, const char *user_options,
		    struct kmi_error **err)
{
	_cleanup_free_ struct kmod_module **done = xcalloc(p->n + 1, sizeof(*done));
	size_t n_done = 0;
	int r = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct step *s = &p->v[i];
		int sig;

		if (!s->install && (kmod_module_get_path(s->m) == NULL || is_loaded(s->m)))
			continue;
		/* asked to stop (a Pod deleted): between two modules, never half a set */
		if ((sig = kmi_stop_signal()) != 0)
			r = kmi_error_set(err, EINTR, "interrupted by signal %d (%s) before `%s`", sig,
					  strsignal(sig), kmod_module_get_name(s->m));
		else
			r = insert_step(t, s, user_options, err);
		if (r < 0) {
			if (n_done > 0)
				kmi_warn("loading stopped at `%s`; removing the %zu module(s) this run loaded\n",
					 kmod_module_get_name(s->m), n_done);
			roll_back(done, n_done);
			return r;
		}
		kmi_info("loaded `%s`\n", kmod_module_get_name(s->m));
		if (is_loaded(s->m))
			done[n_done++] = s->m;
	}
	return 0;
}

int kmi_load(const struct kmi_tree *t, const struct kmi_load_opts *o, struct kmi_error **err)
{
	_cleanup_free_ char *user_options = join_params(o->params, o->n_params);
	struct plan p = { 0 };
	int r = plan_all(t, o, &p, err);

	if (r == 0 && o->dry_run)
		print_plan(&p, o->out ? o->out : stdout);
	else if (r == 0)
		r = run_plan(t, &p, user_options, err);
	plan_free(&p);
	return r;
}

int kmi_load_check(const struct kmi_tree *t, const struct kmi_load_opts *o, struct kmi_error **err)
{
	struct plan p = { 0 };
	int r = plan_all(t, o, &p, err);

	plan_free(&p);
	return r;
}

int kmi_unload_order(const struct kmi_tree *t, char ***names, size_t *n, struct kmi_error **err)
{
	struct kmi_load_opts o = { .dry_run = true };
	struct kmi_strmap mine;
	struct plan p = { 0 };
	char **list;
	size_t count;
	int r;

	*names = NULL;
	*n = 0;
	if ((r = kmi_tree_list(t, &list, &count, err)) < 0)
		return r;
	if ((r = plan_all(t, &o, &p, err)) < 0) {
		kmi_names_free(list, count);
		return r;
	}
	kmi_strmap_init(&mine, count);
	for (size_t i = 0; i < count; i++)
		kmi_strmap_put(&mine, list[i], list[i]);
	*names = xcalloc(p.n + 1, sizeof(char *));
	/* The load sequence backwards: whatever needs a module goes before it. */
	for (size_t i = p.n; i-- > 0;) {
		const char *name = kmod_module_get_name(p.v[i].m);
		if (kmi_strmap_get(&mine, name) != NULL)
			(*names)[(*n)++] = xstrdup(name);
	}
	kmi_strmap_free(&mine);
	kmi_names_free(list, count);
	plan_free(&p);
	return 0;
}
