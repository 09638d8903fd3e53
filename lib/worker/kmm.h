/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "util/error.h"
#include "worker/modconfig.h"

/*
 * KMM's worker (`worker kmod load|unload CONFIG`) over a ModuleConfig:
 * the same steps in the same order as internal/worker/worker.go at HEAD.
 */
struct kmi_kmm_opts {
	const char *root;          /* where the image's files are: KMM's /tmp */
	const char *firmware_path; /* --firmware-path (host firmware dir), or NULL */
	const char *host_modules;  /* the node's module trees: /lib/modules */
	const char *kver;          /* NULL: the running kernel, as KMM's modprobe uses */
	bool dry_run;              /* print what would run; change nothing */
	FILE *out;
};

int kmi_kmm_load(const struct kmi_modconfig *c, const struct kmi_kmm_opts *o,
		 struct kmi_error **err);
int kmi_kmm_unload(const struct kmi_modconfig *c, const struct kmi_kmm_opts *o,
		   struct kmi_error **err);

/*
 * The modprobe argv KMM runs (without argv[0]), or NULL when the config
 * has neither args nor rawArgs and libkmod does the work instead.
 *   load:   rawArgs.load | -vd ROOT+dirName args.load... moduleName parameters...
 *   unload: rawArgs.unload | -rvd ROOT+dirName args.unload... (modulesLoadingOrder | moduleName)
 */
char **kmi_kmm_modprobe_argv(const struct kmi_modconfig *c, const char *root, bool load,
			     size_t *argc);
