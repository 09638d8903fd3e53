// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Kubernetes reads YAML through JSON: a plain scalar YAML 1.1 resolves to a
 * boolean or a number is not a string ("literal: 5.10" is the float 5.1 and
 * the API server rejects it).  We report that rather than guess.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmm/decode.h"

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

enum ykind { Y_NULL = KMM_YPLAIN_NULL, Y_BOOL = KMM_YPLAIN_BOOL, Y_INT = KMM_YPLAIN_INT,
	     Y_FLOAT = KMM_YPLAIN_FLOAT, Y_STR = KMM_YPLAIN_STR };

static enum ykind resolve(const struct kmm_ynode *n)
{
	if (!n->plain)
		return Y_STR;
	return (enum ykind)kmm_yaml_resolve_plain(n->str);
}

static const char *kind_name(const struct kmm_ynode *n)
{
	if (n->type == KMM_Y_SEQ)
		return "a list";
	if (n->type == KMM_Y_MAP)
		return "an object";
	switch (resolve(n)) {
	case Y_BOOL:
		return "a boolean";
	case Y_INT:
		return "an integer";
	case Y_FLOAT:
		return "a number";
	default:
		return "a string";
	}
}

struct kmm_pos kmm_dec_pos(const struct kmm_dec *c, const struct kmm_ynode *n)
{
	return (struct kmm_pos){ c->file, n ? n->line : 0, n ? n->col : 0 };
}

const struct kmm_ynode *kmm_dec_get(const struct kmm_ynode *map, const char *key)
{
	const struct kmm_ynode *v = kmm_ymap_get(map, key);

	return v == NULL || kmm_yscalar_is_null(v) ? NULL : v;
}

bool kmm_dec_fields(struct kmm_dec *c, const struct kmm_ynode *map, const char *path,
		    const char *const *known)
{
	if (map->type != KMM_Y_MAP) {
		struct kmm_pos p = kmm_dec_pos(c, map);

		kmm_error_at(c->d, &p, "%s: expected an object, got %s", path, kind_name(map));
		return false;
	}
	for (size_t i = 0; i < map->n; i++) {
		const struct kmm_ynode *k = map->items[2 * i];
		struct kmm_pos p = kmm_dec_pos(c, k);

		if (k->type != KMM_Y_SCALAR) {
			kmm_error_at(c->d, &p, "%s: a key is not a string", path);
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			const struct kmm_ynode *k2 = map->items[2 * j];

			if (k2->type == KMM_Y_SCALAR && strcmp(k2->str, k->str) == 0)
				kmm_error_at(c->d, &p, "%s: duplicate field \"%s\"", path, k->str);
		}
		if (known != NULL && !in_list(k->str, known))
			kmm_error_at(c->d, &p, "%s: unknown field \"%s\"", path, k->str);
	}
	return true;
}

static bool scalar_string(struct kmm_dec *c, const struct kmm_ynode *v, const char *path,
			  const char *key)
{
	struct kmm_pos p = kmm_dec_pos(c, v);
	enum ykind k = v->type == KMM_Y_SCALAR ? resolve(v) : Y_STR;

	if (v->type != KMM_Y_SCALAR || (k != Y_STR && k != Y_NULL)) {
		kmm_error_at(c->d, &p, "%s%s%s: expected a string, got %s%s", path, key ? "." : "",
			     key ? key : "", kind_name(v),
			     v->type == KMM_Y_SCALAR ? " (quote it)" : "");
		return false;
	}
	return true;
}

void kmm_dec_str(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		 const char *path, const char *dflt, char **out)
{
	const struct kmm_ynode *v = kmm_dec_get(map, key);

	*out = dflt ? kmi_arena_strdup(c->a, dflt) : NULL;
	if (v == NULL || !scalar_string(c, v, path, key))
		return;
	*out = v->str;
}

void kmm_dec_bool(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		  const char *path, bool *out)
{
	const struct kmm_ynode *v = kmm_dec_get(map, key);
	struct kmm_pos p;

	*out = false;
	if (v == NULL)
		return;
	if (v->type == KMM_Y_SCALAR && resolve(v) == Y_BOOL) {
		*out = strchr("yYtTo", v->str[0]) != NULL && strcmp(v->str, "off") != 0 &&
		       strcmp(v->str, "Off") != 0 && strcmp(v->str, "OFF") != 0;
		return;
	}
	p = kmm_dec_pos(c, v);
	kmm_error_at(c->d, &p, "%s.%s: expected a boolean, got %s", path, key, kind_name(v));
}

bool kmm_dec_int(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		 const char *path, int64_t *out)
{
	const struct kmm_ynode *v = kmm_dec_get(map, key);
	struct kmm_pos p;
	char *end;

	if (v == NULL)
		return false;
	if (v->type == KMM_Y_SCALAR && resolve(v) == Y_INT) {
		errno = 0;
		*out = strtoll(v->str, &end, 0);
		if (errno == 0 && *end == '\0')
			return true;
	}
	p = kmm_dec_pos(c, v);
	kmm_error_at(c->d, &p, "%s.%s: expected an integer, got %s", path, key, kind_name(v));
	return false;
}

void kmm_dec_strv(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		  const char *path, struct kmm_strv *out)
{
	const struct kmm_ynode *v = kmm_dec_get(map, key);
	struct kmm_pos p;

	*out = (struct kmm_strv){ 0 };
	if (v == NULL)
		return;
	if (v->type != KMM_Y_SEQ) {
		p = kmm_dec_pos(c, v);
		kmm_error_at(c->d, &p, "%s.%s: expected a list, got %s", path, key, kind_name(v));
		return;
	}
	out->set = true;
	out->v = kmi_arena_alloc(c->a, (v->n + 1) * sizeof(char *));
	for (size_t i = 0; i < v->n; i++) {
		if (scalar_string(c, v->items[i], path, key))
			out->v[out->n++] = kmm_yscalar_is_null(v->items[i]) ? "" : v->items[i]->str;
	}
	out->v[out->n] = NULL;
}

void kmm_dec_strmap(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		    const char *path, struct kmm_map *out)
{
	const struct kmm_ynode *v = kmm_dec_get(map, key);
	char sub[256];

	*out = (struct kmm_map){ 0 };
	if (v == NULL)
		return;
	snprintf(sub, sizeof(sub), "%.160s.%.60s", path, key);
	if (!kmm_dec_fields(c, v, sub, NULL))
		return;
	out->kv = kmi_arena_alloc(c->a, (v->n + 1) * sizeof(*out->kv));
	for (size_t i = 0; i < v->n; i++) {
		const struct kmm_ynode *k = v->items[2 * i], *val = v->items[2 * i + 1];

		if (k->type != KMM_Y_SCALAR || !scalar_string(c, val, sub, k->str))
			continue;
		out->kv[out->n].key = k->str;
		out->kv[out->n++].value = kmm_yscalar_is_null(val) ? "" : val->str;
	}
}

char *kmm_dec_ref(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		  const char *path)
{
	static const char *const fields[] = { "name", NULL };
	const struct kmm_ynode *v = kmm_dec_get(map, key);
	char sub[256], *name;

	if (v == NULL)
		return NULL;
	snprintf(sub, sizeof(sub), "%.160s.%.60s", path, key);
	if (!kmm_dec_fields(c, v, sub, fields))
		return NULL;
	kmm_dec_str(c, v, "name", sub, "", &name);
	return name;
}
