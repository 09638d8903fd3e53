// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unloading as `modprobe -r` does: each named module if it is loaded, then
 * its dependencies (from the tree's modules.dep) that nothing else holds;
 * a named module with a `remove` command in the host's modprobe.d is left to
 * that command, its dependencies too (a dependency's own command is not run,
 * as with modprobe -r).  A dry run works on the same sysfs facts
 * and counts what it would have removed as gone.  A termination request
 * (util/stop.h) stops it between two removals.
 */
#include <errno.h>
#include <libkmod.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/spawn.h"
#include "util/stop.h"
#include "util/strmap.h"
#include "util/xalloc.h"
#include "worker/worker.h"

struct rm {
	struct kmod_ctx *ctx;
	bool dry_run;
	FILE *out;
	struct kmi_strmap gone; /* names removed (or that a dry run would remove) */
	char **names;           /* keys of gone, owned, in removal order */
	size_t n_names;
	int stop_signal;        /* the signal that stopped it, before stop_before */
	char *stop_before;
	bool stop_during;       /* ... or during the remove command of stop_before */
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

/* Asked to stop (a Pod deleted): noted for the report, before name is removed. */
static bool stop_requested(struct rm *x, const char *name)
{
	int sig = kmi_stop_signal();

	if (sig == 0)
		return false;
	x->stop_signal = sig;
	x->stop_before = xstrdup(name);
	return true;
}

/* Our environment with var ("NAME=value") in place of any NAME: the array only is malloc'ed. */
static char **env_with(char *var)
{
	size_t n = 0, k = 0, len = strcspn(var, "=") + 1;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = xcalloc(n + 2, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], var, len) != 0)
			env[k++] = environ[i];
	}
	env[k] = var;
	return env;
}

/* modprobe -r runs a module's remove command instead of removing it, with MODPROBE_MODULE set. */
static int run_remove_command(struct kmod_module *m, const char *cmd, struct kmi_error **err)
{
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	const char *name = kmod_module_get_name(m);
	_cleanup_free_ char *var = xasprintf("MODPROBE_MODULE=%s", name);
	_cleanup_free_ char **env = env_with(var);
	struct kmi_spawn_opts so = { .argv = argv, .env = env };
	struct kmi_spawn_result res;
	int r;

	r = kmi_spawn(&so, &res, err);
	kmi_spawn_result_free(&res);
	if (r < 0)
		return kmi_error_wrap(err, "`%s`: its remove command", name);
	if (res.exit_status != 0)
		return kmi_error_set(err, EIO, "`%s`: its remove command (%s) failed (%s %d)", name,
				     cmd, res.signal ? "signal" : "exit status",
				     res.signal ? res.signal : res.exit_status);
	kmi_info("ran the remove command of `%s`\n", name);
	return 0;
}

static int remove_by_command(struct rm *x, struct kmod_module *m, const char *cmd,
			     struct kmi_error **err)
{
	const char *name = kmod_module_get_name(m);
	int r;

	if (x->dry_run) {
		fprintf(x->out, "remove %s\n", cmd);
	} else if (stop_requested(x, name)) {
		return -1;
	} else if ((r = run_remove_command(m, cmd, err)) < 0) {
		/* Ctrl-C reaches the command too: a stop, reported as one */
		if (!stop_requested(x, name))
			return r;
		x->stop_during = true;
		kmi_error_free(err);
		return -1;
	}
	mark_gone(x, name);
	return 0;
}

static int remove_module(struct rm *x, struct kmod_module *m, bool named, unsigned depth,
			 struct kmi_error **err)
{
	const char *name = kmod_module_get_name(m);
	const char *cmd = kmod_module_get_remove_commands(m);
	_cleanup_free_ char *holder = NULL;
	size_t n_gone;
	int refcnt, r;

	if (depth > 64 || kmi_strmap_get(&x->gone, name) != NULL || !is_loaded(m))
		return 0;
	/*
	 * The command deals with what uses it, and with its dependencies; as in
	 * modprobe -r, only a named module's runs: a dependency is removed
	 * plainly, and only when unused.
	 */
	if (cmd != NULL && named)
		return remove_by_command(x, m, cmd, err);
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
	} else if (stop_requested(x, name)) {
		return -1;
	} else if ((r = kmod_module_remove_module(m, 0)) < 0 && r != -ENOENT) {
		if (named)
			return kmi_error_set(err, -r, "removing `%s`", name);
		/* as modprobe -r: a dependency that stays is worth a word, not a failure */
		kmi_warn("could not remove the dependency `%s`, now unused: %s\n", name,
			 strerror(-r));
		return 0;
	} else {
		kmi_info("removed `%s`\n", name);
	}
	mark_gone(x, name);
	return remove_unused_deps(x, m, depth, err);
}

static bool loaded_now(struct rm *x, const char *name)
{
	struct kmod_module *m;
	bool loaded;

	if (kmod_module_new_from_name(x->ctx, name, &m) < 0)
		return false;
	loaded = is_loaded(m);
	kmod_module_unref(m);
	return loaded;
}

static void put_name(struct kmi_buf *b, const char *name)
{
	kmi_buf_printf(b, "%s%s", b->len ? ", " : "", name);
}

/* The stop's error: what this run removed, and which of the modules to remove are still in. */
static int stopped(struct rm *x, const char *const *names, size_t n, struct kmi_error **err)
{
	struct kmi_buf removed = { 0 }, left = { 0 };
	int r;

	for (size_t i = 0; i < x->n_names; i++)
		put_name(&removed, x->names[i]);
	if (loaded_now(x, x->stop_before))
		put_name(&left, x->stop_before);
	for (size_t i = 0; i < n; i++) {
		if (!streq(names[i], x->stop_before) && kmi_strmap_get(&x->gone, names[i]) == NULL &&
		    loaded_now(x, names[i]))
			put_name(&left, names[i]);
	}
	kmi_buf_putc(&removed, '\0');
	kmi_buf_putc(&left, '\0');
	r = kmi_error_set(err, EINTR, "interrupted by signal %d (%s) %s `%s`; removed: %s; "
			  "still loaded: %s", x->stop_signal, strsignal(x->stop_signal),
			  x->stop_during ? "while running the remove command of" : "before removing",
			  x->stop_before, removed.len > 1 ? removed.data : "none",
			  left.len > 1 ? left.data : "none");
	kmi_buf_free(&removed);
	kmi_buf_free(&left);
	return r;
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
	if (x->stop_signal != 0)
		r = stopped(x, names, n, err);
	kmi_strmap_free(&x->gone);
	kmi_names_free(x->names, x->n_names);
	free(x->stop_before);
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
