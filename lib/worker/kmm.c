// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * KMM's worker, step for step.  Where the config asks for modprobe flags
 * (args, rawArgs) kmod's modprobe runs with exactly KMM's argv, since only
 * it knows those flags; otherwise libkmod loads with modprobe's semantics
 * and our error messages.
 */
#include <errno.h>
#include <string.h>

#include "util/log.h"
#include "util/macro.h"
#include "util/spawn.h"
#include "util/xalloc.h"
#include "worker/kmm.h"
#include "worker/worker.h"

static void push(char ***v, size_t *n, const char *s)
{
	*v = xreallocarray(*v, *n + 2, sizeof(char *));
	(*v)[(*n)++] = xstrdup(s);
	(*v)[*n] = NULL;
}

static void push_all(char ***v, size_t *n, const struct kmi_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		push(v, n, s->v[i]);
}

/* The CRD defaults dirName to /opt; a hand-written config may leave it out. */
static const char *dir_name(const struct kmi_modconfig *c)
{
	return c->modprobe.dir_name ? c->modprobe.dir_name : "/opt";
}

static char *module_dir(const struct kmi_modconfig *c, const char *root)
{
	return xasprintf("%s%s", root, dir_name(c));
}

char **kmi_kmm_modprobe_argv(const struct kmi_modconfig *c, const char *root, bool load,
			     size_t *argc)
{
	const struct kmi_modprobe_args *raw = &c->modprobe.raw_args, *args = &c->modprobe.args;
	_cleanup_free_ char *dir = NULL;
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;

	if (raw->set) {
		push_all(&v, &n, load ? &raw->load : &raw->unload);
	} else if (args->set) {
		dir = module_dir(c, root);
		push(&v, &n, load ? "-vd" : "-rvd");
		push(&v, &n, dir);
		push_all(&v, &n, load ? &args->load : &args->unload);
		if (load) {
			push(&v, &n, c->modprobe.module_name ? c->modprobe.module_name : "");
			push_all(&v, &n, &c->modprobe.parameters);
		} else if (c->modprobe.modules_loading_order.n > 0) {
			push_all(&v, &n, &c->modprobe.modules_loading_order);
		} else {
			push(&v, &n, c->modprobe.module_name ? c->modprobe.module_name : "");
		}
	} else {
		free(v);
		return NULL;
	}
	*argc = n;
	return v;
}

static void print_argv(FILE *out, char *const *argv)
{
	fputs("modprobe", out);
	for (size_t i = 0; argv[i] != NULL; i++)
		fprintf(out, " %s", argv[i]);
	fputc('\n', out);
}

/* Runs kmod's modprobe (from PATH) with args; its output goes where ours does. */
static int run_modprobe(char *const *args, size_t n, struct kmi_error **err)
{
	_cleanup_free_ const char **argv = xcalloc(n + 2, sizeof(char *));
	struct kmi_spawn_opts so = { .argv = argv };
	struct kmi_spawn_result res;
	struct kmi_error *serr = NULL;
	int r;

	argv[0] = "modprobe";
	memcpy(argv + 1, args, n * sizeof(char *));
	r = kmi_spawn(&so, &res, &serr);
	kmi_spawn_result_free(&res);
	/* like a modprobe that fails: the worker's failure (exit 1), whatever errno says */
	if (r < 0)
		r = kmi_error_set(err, KMI_EFORMAT, "cannot run modprobe: %s", serr->msg);
	else if (res.exit_status > 0)
		r = kmi_error_set(err, KMI_EFORMAT, "modprobe exited with status %d", res.exit_status);
	else if (res.exit_status < 0)
		r = kmi_error_set(err, EINTR, "modprobe was killed by signal %d", res.signal);
	kmi_error_free(&serr);
	return r;
}

static void free_argv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The modprobe step through kmod's modprobe; 1 if the config does not ask for it. */
static int modprobe_step(const struct kmi_modconfig *c, const struct kmi_kmm_opts *o, bool load,
			 struct kmi_error **err)
{
	size_t n;
	char **argv = kmi_kmm_modprobe_argv(c, o->root, load, &n);
	int r;

	if (argv == NULL)
		return 1;
	if (o->dry_run) {
		print_argv(o->out, argv);
		r = 0;
	} else {
		r = run_modprobe(argv, n, err);
		if (r < 0 && !load)
			kmi_error_wrap(err, "failed to unload module `%s`",
				       c->modprobe.module_name ? c->modprobe.module_name : "");
	}
	free_argv(argv, n);
	return r;
}

static int open_tree(const struct kmi_modconfig *c, const struct kmi_kmm_opts *o,
		     struct kmi_tree *t, struct kmi_error **err)
{
	/* KMM's modprobe reads lib/modules/$(uname -r), whatever kernelVersion says. */
	return kmi_tree_open(o->root, dir_name(c), o->kver, t, err);
}

static int libkmod_load_do(const struct kmi_modconfig *c, const struct kmi_kmm_opts *o,
			   bool check, struct kmi_error **err)
{
	const struct kmi_strv *order = &c->modprobe.modules_loading_order;
	struct kmi_load_opts lo = {
		.module = c->modprobe.module_name,
		.params = (const char *const *)c->modprobe.parameters.v,
		.n_params = c->modprobe.parameters.n,
		.order = (const char *const *)order->v,
		.n_order = order->n,
		.dry_run = o->dry_run,
		.out = o->out,
	};
	struct kmi_tree t;
	int r;

	if (c->modprobe.module_name == NULL || c->modprobe.module_name[0] == '\0')
		return kmi_error_set(err, KMI_EUSAGE, "the config has no modprobe.moduleName");
	if ((r = open_tree(c, o, &t, err)) < 0)
		return r;
	if ((r = kmi_tree_set_order(&t, lo.order, lo.n_order, err)) < 0) {
		kmi_tree_close(&t);
		return r;
	}
	r = check ? kmi_load_check(&t, &lo, err) : kmi_load(&t, &lo, err);
	kmi_tree_close(&t);
	return r;
}

static int libkmod_load(const struct kmi_modconfig *c, const struct kmi_kmm_opts *o,
			struct kmi_error **err)
{
	return libkmod_load_do(c, o, false, err);
}

static int libkmod_load_check(const struct kmi_modconfig *c, const struct kmi_kmm_opts *o,
			      struct kmi_error **err)
{
	return libkmod_load_do(c, o, true, err);
}

static int libkmod_unload(const struct kmi_modconfig *c, const struct kmi_kmm_opts *o,
			  struct kmi_error **err)
{
	const struct kmi_strv *order = &c->modprobe.modules_loading_order;
	const char *name = c->modprobe.module_name;
	struct kmi_tree t;
	int r;

	if (order->n == 0 && (name == NULL || name[0] == '\0'))
		return kmi_error_set(err, KMI_EUSAGE, "the config has no modprobe.moduleName");
	if ((r = open_tree(c, o, &t, err)) < 0)
		return r;
	if (order->n > 0)
		r = kmi_unload(&t, (const char *const *)order->v, order->n, o->dry_run, o->out, err);
	else
		r = kmi_unload(&t, &name, 1, o->dry_run, o->out, err);
	if (r < 0)
		kmi_error_wrap(err, "failed to unload module `%s`", name ? name : order->v[0]);
	kmi_tree_close(&t);
	return r;
}

static char *firmware_src(const struct kmi_modconfig *c, const struct kmi_kmm_opts *o)
{
	return xasprintf("%s%s", o->root, c->modprobe.firmware_path);
}

static const char *firmware_dst(const struct kmi_kmm_opts *o)
{
	/* KMM's worker.firmwareHostPath default. */
	return o->firmware_path ? o->firmware_path : "/lib/firmware";
}

static bool has_firmware(const struct kmi_modconfig *c)
{
	return c->modprobe.firmware_path != NULL && c->modprobe.firmware_path[0] != '\0';
}

static int remove_in_tree(const struct kmi_modconfig *c, const struct kmi_kmm_opts *o,
			  struct kmi_error **err)
{
	const char *const *names;
	size_t n;
	_cleanup_free_ char *kver = o->kver ? xstrdup(o->kver) : kmi_running_kernel();
	_cleanup_free_ char *host = NULL;

	kmi_modconfig_in_tree(c, &names, &n);
	if (n == 0)
		return 0;
	host = xasprintf("%s/%s", o->host_modules ? o->host_modules : "/lib/modules", kver);
	return kmi_remove_in_tree(host, names, n, o->dry_run, o->out, err);
}

/* A path below ROOT must stay there: no `..` component. */
static bool has_dotdot(const char *p)
{
	for (const char *s = p; s != NULL && *s != '\0';) {
		size_t len = strcspn(s, "/");
		if (len == 2 && s[0] == '.' && s[1] == '.')
			return true;
		s += len;
		s += strspn(s, "/");
	}
	return false;
}

static int check_paths(const struct kmi_modconfig *c, struct kmi_error **err)
{
	if (has_dotdot(c->modprobe.dir_name))
		return kmi_error_set(err, KMI_EUSAGE, "modprobe.dirName `%s` leaves the root (`..`)",
				     c->modprobe.dir_name);
	if (has_dotdot(c->modprobe.firmware_path))
		return kmi_error_set(err, KMI_EUSAGE,
				     "modprobe.firmwarePath `%s` leaves the root (`..`)",
				     c->modprobe.firmware_path);
	return 0;
}

int kmi_kmm_load(const struct kmi_modconfig *c, const struct kmi_kmm_opts *o,
		 struct kmi_error **err)
{
	size_t n;
	char **argv;
	int r;

	if ((r = check_paths(c, err)) < 0)
		return r;
	argv = kmi_kmm_modprobe_argv(c, o->root, true, &n);

	/* Without modprobe flags, libkmod must find the module: check before changing anything. */
	if (argv == NULL && (r = libkmod_load_check(c, o, err)) < 0)
		return r;
	free_argv(argv, argv ? n : 0);

	if (o->firmware_path != NULL && o->dry_run)
		fprintf(stderr, "would set the firmware search path to %s\n", o->firmware_path);
	else if (o->firmware_path != NULL && (r = kmi_firmware_class_path(o->firmware_path, err)) < 0)
		return r;
	if ((r = remove_in_tree(c, o, err)) < 0)
		return r;
	if (has_firmware(c)) {
		_cleanup_free_ char *src = firmware_src(c, o);
		if (o->dry_run)
			fprintf(stderr, "would copy %s/ to %s/\n", src, firmware_dst(o));
		else if ((r = kmi_firmware_copy(src, firmware_dst(o), err)) < 0)
			return r;
	}
	r = modprobe_step(c, o, true, err);
	if (r == 1)
		r = libkmod_load(c, o, err);
	return r;
}

int kmi_kmm_unload(const struct kmi_modconfig *c, const struct kmi_kmm_opts *o,
		   struct kmi_error **err)
{
	int r = check_paths(c, err);

	if (r < 0)
		return r;
	r = modprobe_step(c, o, false, err);

	if (r == 1)
		r = libkmod_unload(c, o, err);
	if (r < 0)
		return r;
	if (has_firmware(c)) {
		_cleanup_free_ char *src = firmware_src(c, o);
		struct kmi_error *fwerr = NULL;

		if (o->dry_run) {
			fprintf(stderr, "would remove the files of %s/ from %s/\n", src, firmware_dst(o));
		} else if (kmi_firmware_remove(src, firmware_dst(o), &fwerr) < 0) {
			/* KMM only logs these. */
			kmi_warn("%s\n", fwerr->msg);
			kmi_error_free(&fwerr);
		}
	}
	return 0;
}
