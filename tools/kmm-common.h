/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What `kmodimg plan` and `kmodimg render` share: reading Modules, printing messages. */
#include "kmm/kmm.h"

/* Loads and validates FILEs; prints diagnostics. 0, or an exit status. */
int kmi_kmm_read_files(const char *cmd, struct kmm_set *set, char **files, int nfiles,
		 struct kmm_diags *d);
void kmi_kmm_print_diags(const struct kmm_diags *d);
