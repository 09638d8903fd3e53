// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * YAML to jansson, for Kubernetes Secrets written as YAML.  Only the first
 * document is read.  Scalars stay strings (a Secret's values all are), so
 * no YAML 1.1 typing surprises ("no" -> false) can happen.  Aliases are
 * expanded, with a node budget so that nested aliases cannot blow up.
 */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "registry/registry-internal.h"
#include "util/lazylib.h"

#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES 100000

struct conv {
	yaml_document_t *doc;
	size_t budget;
	const char *problem;
};

static json_t *node_to_json(struct conv *c, yaml_node_t *n, int depth)
{
	json_t *v = NULL;

	if (n == NULL) {
		c->problem = "dangling node";
		return NULL;
	}
	if (depth > YAML_MAX_DEPTH || c->budget == 0) {
		c->problem = "document too deep or too big";
		return NULL;
	}
	c->budget--;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		v = json_stringn((const char *)n->data.scalar.value, n->data.scalar.length);
		if (v == NULL)
			c->problem = "scalar is not valid UTF-8";
		return v;
	case YAML_SEQUENCE_NODE:
		v = json_array();
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++) {
			json_t *item = node_to_json(c, yaml_document_get_node(c->doc, *i), depth + 1);
			if (item == NULL || json_array_append_new(v, item) < 0) {
				json_decref(v);
				return NULL;
			}
		}
		return v;
	case YAML_MAPPING_NODE:
		v = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
			json_t *item;

			if (k == NULL || k->type != YAML_SCALAR_NODE) {
				c->problem = "mapping key is not a scalar";
				json_decref(v);
				return NULL;
			}
			item = node_to_json(c, yaml_document_get_node(c->doc, p->value), depth + 1);
			if (item == NULL ||
			    json_object_setn_new(v, (const char *)k->data.scalar.value,
						 k->data.scalar.length, item) < 0) {
				if (c->problem == NULL)
					c->problem = "bad mapping key";
				json_decref(v);
				return NULL;
			}
		}
		return v;
	default:
		c->problem = "empty node";
		return NULL;
	}
}

json_t *kmi_yaml_to_json(const char *data, size_t len, char *errbuf, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	json_t *out = NULL;

	if (kmi_yaml_load(NULL) < 0) {
		snprintf(errbuf, errlen, "cannot load libyaml-0.so.2 (install libyaml-0-2)");
		return NULL;
	}
	if (!yaml_parser_initialize(&parser)) {
		snprintf(errbuf, errlen, "cannot initialise the YAML parser");
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(errbuf, errlen, "YAML line %zu: %s", parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "syntax error");
		yaml_parser_delete(&parser);
		return NULL;
	}
	if (yaml_document_get_root_node(&doc) == NULL) {
		snprintf(errbuf, errlen, "empty YAML document");
	} else {
		struct conv c = { .doc = &doc, .budget = YAML_MAX_NODES };
		out = node_to_json(&c, yaml_document_get_root_node(&doc), 0);
		if (out == NULL)
			snprintf(errbuf, errlen, "YAML: %s", c.problem ? c.problem : "unusable document");
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return out;
}
