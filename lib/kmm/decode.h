/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Typed reads from the YAML tree, with Kubernetes' strictness (unknown fields, types). */
#include "kmm/kmm.h"
#include "kmm/yamldoc.h"

struct kmm_dec {
	struct kmi_arena *a;
	struct kmm_diags *d;
	const char *file;
};

struct kmm_pos kmm_dec_pos(const struct kmm_dec *c, const struct kmm_ynode *n);
/* Reports keys of map not in known (NULL-terminated); false if map is not a mapping. */
bool kmm_dec_fields(struct kmm_dec *c, const struct kmm_ynode *map, const char *path,
		    const char *const *known);
/* A field's value node, NULL when absent or null. */
const struct kmm_ynode *kmm_dec_get(const struct kmm_ynode *map, const char *key);
/* A string field: *out = dflt when absent/null; reports non-strings. */
void kmm_dec_str(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		 const char *path, const char *dflt, char **out);
void kmm_dec_bool(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		  const char *path, bool *out);
bool kmm_dec_int(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		 const char *path, int64_t *out);
void kmm_dec_strv(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		  const char *path, struct kmm_strv *out);
void kmm_dec_strmap(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		    const char *path, struct kmm_map *out);
/* {name: X} (LocalObjectReference): X, or NULL when absent. */
char *kmm_dec_ref(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		  const char *path);
