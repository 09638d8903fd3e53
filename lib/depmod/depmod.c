// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "depmod/depmod-internal.h"
#include "kmodimg/depmod.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"

static char *make_absolute(const char *path)
{
	_cleanup_free_ char *cwd = NULL;

	if (path[0] == '/')
		return xstrdup(path);
	cwd = getcwd(NULL, 0);
	if (cwd == NULL)
		return NULL;
	return xasprintf("%s/%s", cwd, path);
}

static void depmod_free(struct depmod *dm)
{
	for (size_t i = 0; i < dm->n_mods; i++) {
		struct mod *m = dm->mods[i];
		if (m == NULL)
			continue;
		free(m->path);
		free(m->uncrelpath);
		free(m->modname);
		free(m->deps);
		free(m->log);
		free(m);
	}
	free(dm->mods);
	kmi_strmap_free(&dm->by_name);
	kmi_strmap_free(&dm->by_uncrelpath);
	kmi_strmap_free(&dm->symbols);
	kmi_arena_free(&dm->arena);
	for (size_t i = 0; i < dm->n_thread_arenas; i++) {
		kmi_arena_free(&dm->thread_arenas[i]);
		kmi_arena_free(&dm->sym_arenas[i]);
	}
	free(dm->thread_arenas);
	free(dm->sym_arenas);
	free(dm->dirname);
	free(dm->outdirname);
	kmi_depmod_cfg_free(&dm->cfg);
}

static int find_modules(struct depmod *dm)
{
	const struct kmodimg_depmod_opts *o = dm->o;
	int err;

	if (o->modules != NULL) {
		for (size_t i = 0; o->modules[i] != NULL; i++) {
			if ((err = depmod_add_path(dm, o->modules[i])) < 0)
				return err;
		}
		return 0;
	}
	kmi_depmod_cfg_load(&dm->cfg, o->config_paths);
	err = depmod_scan(dm);
	if (err < 0) {
		kmi_log(KMI_LOG_CRIT, "could not search modules: %s\n", strerror(-err));
		return err;
	}
	if (dm->strict_errors > 0 && !o->keep_going) {
		kmi_err("the module tree has %u problem%s listed above; nothing was written "
			"(--keep-going writes what kmod would)\n",
			dm->strict_errors, dm->strict_errors == 1 ? "" : "s");
		return -EINVAL;
	}
	return 0;
}

static int run(struct depmod *dm)
{
	const struct kmodimg_depmod_opts *o = dm->o;
	int err;

	if (o->quick) {
		if (o->dry_run)
			return 0;
		if (depmod_up_to_date(dm) == 1)
			return 0;
	}
	if ((err = depmod_load_kernel_symbols(dm)) < 0)
		return err;
	if (o->errsyms && o->symvers == NULL && o->system_map == NULL)
		kmi_warn("-e needs -E or -F\n");
	if ((err = find_modules(dm)) < 0)
		return err;
	if ((err = depmod_order(dm)) < 0)
		return err;
	if ((err = depmod_load(dm)) < 0)
		return err;
	if ((err = depmod_resolve(dm)) < 0)
		return err;
	return depmod_output(dm);
}

int kmodimg_depmod(const struct kmodimg_depmod_opts *o)
{
	struct depmod dm = { .o = o };
	_cleanup_free_ char *root = NULL;
	int err;

	if (o->kver == NULL || o->kver[0] == '\0') {
		kmi_err("no kernel version given\n");
		return 1;
	}
	if (o->basedir != NULL && (root = make_absolute(o->basedir)) == NULL) {
		kmi_err("could not resolve %s: %s\n", o->basedir, strerror(errno));
		return 1;
	}
	dm.cfg.kver = o->kver;
	dm.dirname = xasprintf("%s/lib/modules/%s", root ? root : "", o->kver);
	dm.dirnamelen = strlen(dm.dirname);
	if (o->outdir != NULL) {
		_cleanup_free_ char *out = make_absolute(o->outdir);
		if (out == NULL) {
			kmi_err("could not resolve %s: %s\n", o->outdir, strerror(errno));
			depmod_free(&dm);
			return 1;
		}
		dm.outdirname = xasprintf("%s/lib/modules/%s", out, o->kver);
	} else {
		dm.outdirname = xstrdup(dm.dirname);
	}
	kmi_strmap_init(&dm.by_name, 8192);
	kmi_strmap_init(&dm.by_uncrelpath, 8192);
	kmi_strmap_init(&dm.symbols, 32768);

	err = run(&dm);
	depmod_free(&dm);
	return err < 0 ? 1 : 0;
}
