/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "kmm/kmm.h"
#include "util/error.h"

/* kmodimg apply / delete (apply.c: options; apply-module.c: one Module). */
struct apply_opts {
	char **files;
	int nfiles;
	const char *kver;
	const char *host_modules;
	const char *state_dir;
	bool no_load;
	bool dry_run;
};

int kmi_apply_module(const struct apply_opts *a, const struct kmm_set *set, const struct kmm_module *m,
		 struct kmi_error **err);
int kmi_apply_delete(const struct apply_opts *a, const struct kmm_set *set,
		  const struct kmm_module *m, struct kmi_error **err);
