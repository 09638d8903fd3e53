/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libyaml, opened on first use (see util/lazylib.h): only the KMM configs
 * and credentials files need it, not load or depmod.  A function the
 * project starts calling must be added to YAML_FUNCS, or the link fails.
 */
#include <pthread.h>
#include <yaml.h>

#include "util/lazylib.h"

/* F(return type, name, parameters, arguments); V(...) for void functions. */
#define YAML_FUNCS(F, V)                                                                 \
	V(yaml_document_delete, (yaml_document_t *d), (d))                               \
	F(yaml_node_t *, yaml_document_get_node, (yaml_document_t *d, int i), (d, i))    \
	F(yaml_node_t *, yaml_document_get_root_node, (yaml_document_t *d), (d))         \
	V(yaml_event_delete, (yaml_event_t *e), (e))                                     \
	V(yaml_parser_delete, (yaml_parser_t *p), (p))                                   \
	F(int, yaml_parser_initialize, (yaml_parser_t *p), (p))                          \
	F(int, yaml_parser_load, (yaml_parser_t *p, yaml_document_t *d), (p, d))         \
	F(int, yaml_parser_parse, (yaml_parser_t *p, yaml_event_t *e), (p, e))           \
	V(yaml_parser_set_input_string, (yaml_parser_t *p, const unsigned char *s, size_t n), \
	  (p, s, n))

#define YAML_FUNCS_BY_HAND(X)

KMI_LAZYLIB_DEFINE(YAML_FUNCS, YAML_FUNCS_BY_HAND, "libyaml-0.so.2", "libyaml-0-2", kmi_yaml_load)
