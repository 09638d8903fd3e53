/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A small document tree from libyaml events, each node with its line and
 * column.  Bounded against hostile input: nesting depth, node count with
 * aliases counted at their expanded size (billion laughs), scalar size.
 * Aliases share the anchored node (the tree is a DAG).  JSON is YAML.
 */
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define KMM_YAML_MAX_DEPTH 64
#define KMM_YAML_MAX_NODES 200000
#define KMM_YAML_MAX_SCALAR (1u << 20)
#define KMM_YAML_MAX_ANCHORS 10000

enum kmm_ytype { KMM_Y_SCALAR, KMM_Y_SEQ, KMM_Y_MAP };

struct kmm_ynode {
	enum kmm_ytype type;
	int line, col;           /* 1-based */
	bool plain;              /* a plain scalar: YAML type resolution applies */
	char *str;               /* scalar text, NUL-terminated */
	size_t len;
	size_t n;                /* items (sequence) or pairs (mapping) */
	struct kmm_ynode **items; /* mapping: key i at 2i, value at 2i+1 */
	size_t weight;           /* node count with aliases expanded */
};

struct kmm_ydocs {
	struct kmm_ynode **roots; /* NULL for an empty document */
	size_t n;
};

/*
 * Parses every document into nodes allocated from `a`.  Returns 0, or -1
 * with "line:col: problem" in errbuf (documents before the error are kept).
 */
int kmm_yaml_parse(const char *data, size_t len, struct kmi_arena *a, struct kmm_ydocs *out,
		   char *errbuf, size_t errlen, int *eline, int *ecol);

/* A mapping's value for key, or NULL. */
const struct kmm_ynode *kmm_ymap_get(const struct kmm_ynode *map, const char *key);
/* A plain scalar YAML would read as null (~, null, empty). */
bool kmm_yscalar_is_null(const struct kmm_ynode *n);

/* What YAML 1.1 (go-yaml v2, hence Kubernetes) reads a plain scalar as. */
enum kmm_yplain { KMM_YPLAIN_NULL, KMM_YPLAIN_BOOL, KMM_YPLAIN_INT, KMM_YPLAIN_FLOAT, KMM_YPLAIN_STR };
enum kmm_yplain kmm_yaml_resolve_plain(const char *s);
