// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "kmm/yamldoc.h"
#include "util/lazylib.h"
#include "util/xalloc.h"

struct frame {
	struct kmm_ynode *node;
	struct kmm_ynode **items;
	size_t n, cap;
};

struct anchor {
	char *name;
	struct kmm_ynode *node;
};

struct builder {
	struct kmi_arena *arena;
	struct frame stack[KMM_YAML_MAX_DEPTH + 1];
	int depth;
	struct anchor *anchors;
	size_t nanchors;
	size_t weight; /* nodes so far, aliases at expanded size */
	struct kmm_ydocs *out;
	const char *problem;
};

static struct kmm_ynode *new_node(struct builder *b, enum kmm_ytype t, const yaml_mark_t *m)
{
	struct kmm_ynode *n = kmi_arena_alloc(b->arena, sizeof(*n));

	memset(n, 0, sizeof(*n));
	n->type = t;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	n->weight = 1;
	return n;
}

static void frame_push_item(struct frame *f, struct kmm_ynode *n)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 8;
		f->items = xreallocarray(f->items, f->cap, sizeof(*f->items));
	}
	f->items[f->n++] = n;
}

/* Adds a finished node to its parent (or makes it the document's root). */
static int attach(struct builder *b, struct kmm_ynode *n)
{
	if (b->weight + n->weight > KMM_YAML_MAX_NODES || n->weight > KMM_YAML_MAX_NODES) {
		b->problem = "document too big (aliases expanded)";
		return -1;
	}
	b->weight += n->weight;
	if (b->depth == 0) {
		b->out->roots[b->out->n - 1] = n;
		return 0;
	}
	frame_push_item(&b->stack[b->depth - 1], n);
	return 0;
}

static int remember_anchor(struct builder *b, const yaml_char_t *name, struct kmm_ynode *n)
{
	if (name == NULL)
		return 0;
	for (size_t i = 0; i < b->nanchors; i++) {
		if (strcmp(b->anchors[i].name, (const char *)name) == 0) {
			b->anchors[i].node = n; /* YAML: a redefined anchor shadows the old one */
			return 0;
		}
	}
	if (b->nanchors == KMM_YAML_MAX_ANCHORS) {
		b->problem = "too many anchors";
		return -1;
	}
	if (b->nanchors % 64 == 0)
		b->anchors = xreallocarray(b->anchors, b->nanchors + 64, sizeof(*b->anchors));
	b->anchors[b->nanchors].name = kmi_arena_strdup(b->arena, (const char *)name);
	b->anchors[b->nanchors++].node = n;
	return 0;
}

static int open_container(struct builder *b, enum kmm_ytype t, const yaml_event_t *e,
			  const yaml_char_t *anchor)
{
	struct kmm_ynode *n = new_node(b, t, &e->start_mark);

	if (b->depth == KMM_YAML_MAX_DEPTH) {
		b->problem = "nesting too deep";
		return -1;
	}
	memset(&b->stack[b->depth], 0, sizeof(b->stack[0]));
	b->stack[b->depth++].node = n;
	/* an alias to an open container would make a cycle: known only once closed */
	return remember_anchor(b, anchor, NULL) < 0 ? -1 : 0;
}

static bool is_merge_key(const struct kmm_ynode *k)
{
	return k->type == KMM_Y_SCALAR && k->plain && strcmp(k->str, "<<") == 0;
}

static bool has_key(struct kmm_ynode **items, size_t n, const struct kmm_ynode *k)
{
	for (size_t i = 0; i < n; i += 2)
		if (items[i]->type == KMM_Y_SCALAR && k->type == KMM_Y_SCALAR &&
		    strcmp(items[i]->str, k->str) == 0)
			return true;
	return false;
}

/* Appends the pairs of a merged mapping whose keys are not there yet. */
static int merge_from(struct frame *out, const struct kmm_ynode *src)
{
	if (src->type != KMM_Y_MAP)
		return -1;
	for (size_t i = 0; i < src->n; i++) {
		if (has_key(out->items, out->n, src->items[2 * i]))
			continue;
		frame_push_item(out, src->items[2 * i]);
		frame_push_item(out, src->items[2 * i + 1]);
	}
	return 0;
}

/*
 * YAML merge keys ("<<: *base"), which go-yaml and so Kubernetes honour:
 * the mapping's own keys first, then those of the merged mappings (a
 * sequence of them: the first wins) that it does not set itself.
 */
static int apply_merge_keys(struct builder *b, struct frame *f)
{
	struct frame out = { 0 };
	bool any = false;

	for (size_t i = 0; i < f->n; i += 2)
		any |= is_merge_key(f->items[i]);
	if (!any)
		return 0;
	for (size_t i = 0; i < f->n; i += 2) {
		if (is_merge_key(f->items[i]))
			continue;
		frame_push_item(&out, f->items[i]);
		frame_push_item(&out, f->items[i + 1]);
	}
	for (size_t i = 0; i < f->n; i += 2) {
		const struct kmm_ynode *v = f->items[i + 1];
		int r = 0;

		if (!is_merge_key(f->items[i]))
			continue;
		if (v->type == KMM_Y_SEQ) {
			for (size_t j = 0; j < v->n && r == 0; j++)
				r = merge_from(&out, v->items[j]);
		} else {
			r = merge_from(&out, v);
		}
		if (r < 0) {
			free(out.items);
			b->problem = "a merge key (<<) needs a mapping or a list of mappings";
			return -1;
		}
	}
	free(f->items);
	f->items = out.items;
	f->n = out.n;
	f->cap = out.cap;
	return 0;
}

static int close_container(struct builder *b)
{
	struct frame *f = &b->stack[--b->depth];
	struct kmm_ynode *n = f->node;
	size_t w = 1;

	if (n->type == KMM_Y_MAP && f->n % 2 != 0) {
		free(f->items);
		b->problem = "mapping with a key and no value";
		return -1;
	}
	for (size_t i = 0; i < f->n; i++) {
		w += f->items[i]->weight;
		if (w > KMM_YAML_MAX_NODES)
			w = KMM_YAML_MAX_NODES + 1;
	}
	if (n->type == KMM_Y_MAP && apply_merge_keys(b, f) < 0) {
		free(f->items);
		return -1;
	}
	n->n = n->type == KMM_Y_MAP ? f->n / 2 : f->n;
	n->items = kmi_arena_alloc(b->arena, (f->n ? f->n : 1) * sizeof(*n->items));
	for (size_t i = 0; i < f->n; i++)
		n->items[i] = f->items[i];
	free(f->items);
	/* children were counted as they were attached; only the container itself is new */
	n->weight = w;
	b->weight -= w - 1;
	return attach(b, n);
}

static int on_scalar(struct builder *b, const yaml_event_t *e)
{
	struct kmm_ynode *n;

	if (e->data.scalar.length > KMM_YAML_MAX_SCALAR) {
		b->problem = "scalar too long";
		return -1;
	}
	n = new_node(b, KMM_Y_SCALAR, &e->start_mark);
	n->str = kmi_arena_strndup(b->arena, (const char *)e->data.scalar.value,
				   e->data.scalar.length);
	n->len = e->data.scalar.length;
	n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		   e->data.scalar.plain_implicit;
	if (remember_anchor(b, e->data.scalar.anchor, n) < 0)
		return -1;
	return attach(b, n);
}

static int on_alias(struct builder *b, const yaml_event_t *e)
{
	for (size_t i = b->nanchors; i-- > 0;) {
		if (strcmp(b->anchors[i].name, (const char *)e->data.alias.anchor) != 0)
			continue;
		if (b->anchors[i].node == NULL) {
			b->problem = "alias to an enclosing node (a cycle)";
			return -1;
		}
		return attach(b, b->anchors[i].node);
	}
	b->problem = "alias to an unknown anchor";
	return -1;
}

/* The anchor of a container is bound when it closes: find its pending entry. */
static void bind_pending_anchor(struct builder *b, const char *name, struct kmm_ynode *n)
{
	for (size_t i = b->nanchors; i-- > 0;) {
		if (b->anchors[i].node == NULL && strcmp(b->anchors[i].name, name) == 0) {
			b->anchors[i].node = n;
			return;
		}
	}
}

static int on_event(struct builder *b, const yaml_event_t *e, char **pending_anchor_names)
{
	switch (e->type) {
	case YAML_DOCUMENT_START_EVENT:
		b->out->roots = xreallocarray(b->out->roots, b->out->n + 1, sizeof(*b->out->roots));
		b->out->roots[b->out->n++] = NULL;
		return 0;
	case YAML_SCALAR_EVENT:
		return on_scalar(b, e);
	case YAML_ALIAS_EVENT:
		return on_alias(b, e);
	case YAML_SEQUENCE_START_EVENT:
		pending_anchor_names[b->depth] = e->data.sequence_start.anchor ?
			kmi_arena_strdup(b->arena, (const char *)e->data.sequence_start.anchor) : NULL;
		return open_container(b, KMM_Y_SEQ, e, e->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		pending_anchor_names[b->depth] = e->data.mapping_start.anchor ?
			kmi_arena_strdup(b->arena, (const char *)e->data.mapping_start.anchor) : NULL;
		return open_container(b, KMM_Y_MAP, e, e->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: {
		struct kmm_ynode *n = b->stack[b->depth - 1].node;
		char *anchor = pending_anchor_names[b->depth - 1];

		if (close_container(b) < 0)
			return -1;
		if (anchor != NULL)
			bind_pending_anchor(b, anchor, n);
		return 0;
	}
	default:
		return 0;
	}
}

int kmm_yaml_parse(const char *data, size_t len, struct kmi_arena *a, struct kmm_ydocs *out,
		   char *errbuf, size_t errlen, int *eline, int *ecol)
{
	struct builder b = { .arena = a, .out = out };
	char *pending[KMM_YAML_MAX_DEPTH + 1] = { 0 };
	yaml_parser_t parser;
	yaml_event_t e;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (kmi_yaml_load(NULL) < 0) {
		snprintf(errbuf, errlen, "cannot load libyaml-0.so.2 (install libyaml-0-2)");
		return -1;
	}
	if (!yaml_parser_initialize(&parser)) {
		snprintf(errbuf, errlen, "cannot initialise the YAML parser");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	for (;;) {
		if (!yaml_parser_parse(&parser, &e)) {
			*eline = (int)parser.problem_mark.line + 1;
			*ecol = (int)parser.problem_mark.column + 1;
			snprintf(errbuf, errlen, "%s%s%s",
				 parser.problem ? parser.problem : "YAML syntax error",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			r = -1;
			break;
		}
		if (e.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&e);
			break;
		}
		if (on_event(&b, &e, pending) < 0) {
			*eline = (int)e.start_mark.line + 1;
			*ecol = (int)e.start_mark.column + 1;
			snprintf(errbuf, errlen, "%s", b.problem);
			yaml_event_delete(&e);
			r = -1;
			break;
		}
		yaml_event_delete(&e);
	}
	while (b.depth > 0)
		free(b.stack[--b.depth].items);
	free(b.anchors);
	yaml_parser_delete(&parser);
	return r;
}

const struct kmm_ynode *kmm_ymap_get(const struct kmm_ynode *map, const char *key)
{
	if (map == NULL || map->type != KMM_Y_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++) {
		const struct kmm_ynode *k = map->items[2 * i];

		if (k->type == KMM_Y_SCALAR && strcmp(k->str, key) == 0)
			return map->items[2 * i + 1];
	}
	return NULL;
}

bool kmm_yscalar_is_null(const struct kmm_ynode *n)
{
	if (n->type != KMM_Y_SCALAR || !n->plain)
		return false;
	return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
	       strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

/* YAML 1.1 resolution of plain scalars, as go-yaml (and so Kubernetes) does it. */
static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static bool is_number(const char *s, bool *is_float)
{
	const char *p = s;
	bool digits = false, dot = false;

	*is_float = false;
	if (*p == '+' || *p == '-')
		p++;
	if (strcmp(p, ".inf") == 0 || strcmp(p, ".Inf") == 0 || strcmp(p, ".INF") == 0) {
		*is_float = true;
		return true;
	}
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b') && p[2] != '\0') {
		for (p += 2; *p; p++)
			if (!strchr("0123456789abcdefABCDEF_", *p))
				return false;
		return true;
	}
	for (; *p; p++) {
		if ((*p >= '0' && *p <= '9') || (*p == '_' && digits)) {
			digits = true;
		} else if (*p == '.' && !dot) {
			dot = true;
		} else if ((*p == 'e' || *p == 'E') && digits) {
			p++;
			if (*p == '+' || *p == '-')
				p++;
			if (*p < '0' || *p > '9')
				return false;
			while (*p >= '0' && *p <= '9')
				p++;
			*is_float = true;
			return *p == '\0';
		} else {
			return false;
		}
	}
	*is_float = dot;
	return digits;
}

enum kmm_yplain kmm_yaml_resolve_plain(const char *s)
{
	static const char *const bools[] = { "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No",
		"NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off",
		"Off", "OFF", NULL };
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	bool f;

	if (in_list(s, nulls))
		return KMM_YPLAIN_NULL;
	if (in_list(s, bools))
		return KMM_YPLAIN_BOOL;
	if (strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0)
		return KMM_YPLAIN_FLOAT;
	if (is_number(s, &f))
		return f ? KMM_YPLAIN_FLOAT : KMM_YPLAIN_INT;
	return KMM_YPLAIN_STR;
}
