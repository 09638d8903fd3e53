/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "build/build.h"
#include "util/strmap.h"

struct input {
	char *src;      /* host path */
	char *dest;     /* relative to <prefix>/lib/modules/<kver>/ */
	bool is_module;
	char *modname;
	char *vermagic;
	char *depends;  /* modinfo depends=, comma-separated */
	unsigned machine;
	unsigned elfdata;
};

struct inputs {
	struct input *f;
	size_t n, cap;
	struct kmi_strmap by_dest; /* dest -> index + 1: two inputs may not land on one path */
};

int inputs_collect(struct inputs *in, const char *const *paths, const char *subdir,
		   struct kmi_error **err);
int inputs_check(struct inputs *in, const char *kver, bool force, unsigned *machine,
		 unsigned *elfdata, struct kmi_error **err);
void inputs_free(struct inputs *in);
const char *kmi_machine_arch(unsigned machine, unsigned elfdata);
