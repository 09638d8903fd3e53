/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * depmod.d configuration, kept in kmod's shapes: every list is built by
 * prepending, so `search A B built-in` is stored as built-in, B, A and the
 * priority of a search entry grows towards the first-listed one.
 */
enum kmi_search_type {
	KMI_SEARCH_PATH,
	KMI_SEARCH_BUILTIN,
	KMI_SEARCH_EXTERNAL,
};

struct kmi_cfg_search {
	struct kmi_cfg_search *next;
	enum kmi_search_type type;
	size_t len;
	char path[];
};

struct kmi_cfg_path {
	struct kmi_cfg_path *next;
	size_t len;
	char path[];
};

struct kmi_depmod_cfg {
	const char *kver;
	struct kmi_cfg_search *searches;
	struct kmi_cfg_path *overrides; /* "subdir/modname", no extension */
	struct kmi_cfg_path *externals;
	struct kmi_cfg_path *excludes;
};

/*
 * Loads *.conf files from `paths` (NULL: the host's /etc/depmod.d,
 * /run/depmod.d, /usr/local/lib/depmod.d, /lib/depmod.d), merged by file
 * name, first seen wins, read in name order.  Bad lines are reported and
 * skipped, as kmod does.
 */
void kmi_depmod_cfg_load(struct kmi_depmod_cfg *cfg, const char *const *paths);
void kmi_depmod_cfg_free(struct kmi_depmod_cfg *cfg);
bool kmi_depmod_cfg_excluded(const struct kmi_depmod_cfg *cfg, const char *name);
/* Parses one configuration file's text (for tests and fuzzing). */
void kmi_depmod_cfg_parse(struct kmi_depmod_cfg *cfg, const char *filename, const char *text,
			  size_t len);
