/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/*
 * KMM's ModuleConfig (api/v1beta1/nodemodulesconfig_types.go), the file its
 * worker pod mounts at /etc/kmm-worker/config.yaml.  KMM decodes it with
 * UnmarshalStrict; so do we: an unknown or repeated field, a mapping where a
 * list belongs, anything but one document is an error naming FILE:LINE:COL.
 */

/* A list field: `set` tells a missing or null field (Go's nil) from `[]`. */
struct kmi_strv {
	char **v;
	size_t n;
	bool set;
};

struct kmi_modprobe_args {
	struct kmi_strv load;
	struct kmi_strv unload;
	bool set; /* the mapping was given (Go: non-nil pointer) */
};

struct kmi_modconfig {
	char *kernel_version;
	char *container_image;
	char *image_pull_policy;
	bool insecure_pull;
	struct kmi_strv in_tree_modules_to_remove;
	char *in_tree_module_to_remove; /* deprecated single form */
	struct {
		char *module_name;
		struct kmi_strv parameters;
		char *dir_name;
		struct kmi_modprobe_args args;
		struct kmi_modprobe_args raw_args;
		char *firmware_path;
		struct kmi_strv modules_loading_order;
	} modprobe;
};

/* Parses len bytes of YAML; name labels errors ("config.yaml:3:5: ..."). */
int kmi_modconfig_parse(const char *data, size_t len, const char *name,
			struct kmi_modconfig *out, struct kmi_error **err);
int kmi_modconfig_load(const char *path, struct kmi_modconfig *out, struct kmi_error **err);
void kmi_modconfig_free(struct kmi_modconfig *c);
/* The in-tree modules to remove: the list, else the single field (KMM's rule). */
void kmi_modconfig_in_tree(const struct kmi_modconfig *c, const char *const **names, size_t *n);
void kmi_strv_free(struct kmi_strv *s);
