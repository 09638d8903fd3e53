/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "tools/common.h"

/* What `kmodimg load` and `kmodimg unload` share: options, the image, the state dir. */
struct kmi_node_opts {
	struct kmi_endpoint_opts eo;
	struct kmi_endpoint ep;
	bool ep_open;
	const char *ref;
	const char *module;
	char **params; /* argv's PARAM=VALUE words */
	size_t n_params;
	const char *dir_name;
	const char *kver;
	const char *firmware_path;
	char **remove;
	size_t n_remove;
	char **order;
	size_t n_order;
	bool dry_run;
	const char *state_dir;
	int lockfd;
};

/*
 * A whole `load` (load true) or `unload` command: parses argv, opens the
 * image and extracts it under the state dir or reuses it (unload falls back
 * to the tree extracted before if the reference no longer resolves), runs
 * act on its tree and returns the exit status.
 */
int kmi_node_main(const char *cmd, const char *help, int argc, char *argv[], bool load,
		  int (*act)(struct kmi_node_opts *n, const char *root, struct kmi_error **err));
/* The node's module tree for kver: $KMODIMG_HOST_MODULES or /lib/modules, then /kver. */
char *kmi_node_host_moddir(const char *kver);
/* Remembers beside the extracted tree where load copied its firmware, for unload. */
int kmi_node_record_firmware(const char *root, const char *dir, struct kmi_error **err);
char *kmi_node_recorded_firmware(const char *root);
void kmi_node_forget_firmware(const char *root);
