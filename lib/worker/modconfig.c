// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * KMM's ModuleConfig, parsed strictly with libyaml's document API.  The
 * shape is fixed and shallow, so each mapping is walked against a table of
 * its fields; aliases are node references there (never expanded), so a
 * hostile document cannot grow the work beyond its own size.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <yaml.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/lazylib.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "worker/modconfig.h"

#define MODCONFIG_MAX_SIZE (1u << 20)

enum field_kind { F_STR, F_BOOL, F_STRV, F_MODPROBE, F_ARGS };

struct field {
	const char *key;
	enum field_kind kind;
	size_t offset;
};

#define FIELD(k, kind, member) { k, kind, offsetof(struct kmi_modconfig, member) }

static const struct field top_fields[] = {
	FIELD("kernelVersion", F_STR, kernel_version),
	FIELD("containerImage", F_STR, container_image),
	FIELD("imagePullPolicy", F_STR, image_pull_policy),
	FIELD("insecurePull", F_BOOL, insecure_pull),
	FIELD("inTreeModulesToRemove", F_STRV, in_tree_modules_to_remove),
	FIELD("inTreeModuleToRemove", F_STR, in_tree_module_to_remove),
	FIELD("modprobe", F_MODPROBE, modprobe),
	{ NULL, 0, 0 },
};

static const struct field modprobe_fields[] = {
	FIELD("moduleName", F_STR, modprobe.module_name),
	FIELD("parameters", F_STRV, modprobe.parameters),
	FIELD("dirName", F_STR, modprobe.dir_name),
	FIELD("args", F_ARGS, modprobe.args),
	FIELD("rawArgs", F_ARGS, modprobe.raw_args),
	FIELD("firmwarePath", F_STR, modprobe.firmware_path),
	FIELD("modulesLoadingOrder", F_STRV, modprobe.modules_loading_order),
	{ NULL, 0, 0 },
};

static const struct field args_fields[] = {
	{ "load", F_STRV, offsetof(struct kmi_modprobe_args, load) },
	{ "unload", F_STRV, offsetof(struct kmi_modprobe_args, unload) },
	{ NULL, 0, 0 },
};

struct parse {
	yaml_document_t *doc;
	const char *name;
	struct kmi_error **err;
};

static int node_error(struct parse *p, const yaml_node_t *n, const char *fmt, ...) _printf_(3, 4);
static int node_error(struct parse *p, const yaml_node_t *n, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	return kmi_error_set(p->err, KMI_EFORMAT, "%s:%zu:%zu: %s", p->name,
			     n->start_mark.line + 1, n->start_mark.column + 1,
			     msg ? msg : "invalid config");
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

/* Go's encoding/json leaves a field at its zero value for `null`. */
static bool is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE)
		return false;
	if (n->tag != NULL && streq((const char *)n->tag, YAML_NULL_TAG))
		return true;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return streq(v, "") || streq(v, "~") || streq(v, "null") || streq(v, "Null") ||
	       streq(v, "NULL");
}

static int get_string(struct parse *p, const yaml_node_t *n, const char *key, char **out)
{
	if (n->type != YAML_SCALAR_NODE)
		return node_error(p, n, "`%s`: want a string, got %s", key, kind_name(n));
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return node_error(p, n, "`%s`: NUL byte in the string", key);
	*out = xstrndup((const char *)n->data.scalar.value, n->data.scalar.length);
	return 0;
}

static int get_bool(struct parse *p, const yaml_node_t *n, const char *key, bool *out)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (streq(v, "true") || streq(v, "True") || streq(v, "TRUE")) {
			*out = true;
			return 0;
		}
		if (streq(v, "false") || streq(v, "False") || streq(v, "FALSE")) {
			*out = false;
			return 0;
		}
	}
	return node_error(p, n, "`%s`: want true or false", key);
}

static int get_strv(struct parse *p, const yaml_node_t *n, const char *key, struct kmi_strv *out)
{
	size_t count;

	if (n->type != YAML_SEQUENCE_NODE)
		return node_error(p, n, "`%s`: want a list of strings, got %s", key, kind_name(n));
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	out->v = xcalloc(count + 1, sizeof(char *));
	out->set = true;
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
		yaml_node_t *item = yaml_document_get_node(p->doc, *i);
		int r;

		if (item == NULL)
			return node_error(p, n, "`%s`: dangling item", key);
		if ((r = get_string(p, item, key, &out->v[out->n])) < 0)
			return r;
		out->n++;
	}
	return 0;
}

static int parse_mapping(struct parse *p, const yaml_node_t *n, const char *where,
			 const struct field *fields, void *base);

static int parse_field(struct parse *p, const yaml_node_t *v, const struct field *f, void *base)
{
	void *at = (char *)base + f->offset;

	if (is_null(v))
		return 0;
	switch (f->kind) {
	case F_STR:
		return get_string(p, v, f->key, at);
	case F_BOOL:
		return get_bool(p, v, f->key, at);
	case F_STRV:
		return get_strv(p, v, f->key, at);
	case F_MODPROBE:
		return parse_mapping(p, v, f->key, modprobe_fields, base);
	case F_ARGS:
		((struct kmi_modprobe_args *)at)->set = true;
		return parse_mapping(p, v, f->key, args_fields, at);
	}
	return -EINVAL;
}

static int parse_mapping(struct parse *p, const yaml_node_t *n, const char *where,
			 const struct field *fields, void *base)
{
	unsigned seen = 0;

	if (n->type != YAML_MAPPING_NODE)
		return node_error(p, n, "`%s`: want a mapping, got %s", where, kind_name(n));
	for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, pair->value);
		const char *key;
		size_t i;
		int r;

		if (k == NULL || v == NULL)
			return node_error(p, n, "`%s`: dangling node", where);
		if (k->type != YAML_SCALAR_NODE)
			return node_error(p, k, "`%s`: a key must be a string", where);
		key = (const char *)k->data.scalar.value;
		for (i = 0; fields[i].key != NULL; i++) {
			if (streq(fields[i].key, key))
				break;
		}
		if (fields[i].key == NULL)
			return node_error(p, k, "unknown field `%.64s` in %s", key, where);
		if (seen & (1u << i))
			return node_error(p, k, "`%s` given twice in %s", key, where);
		seen |= 1u << i;
		if ((r = parse_field(p, v, &fields[i], base)) < 0)
			return r;
	}
	return 0;
}

static int yaml_failure(struct kmi_error **err, const char *name, const yaml_parser_t *y)
{
	return kmi_error_set(err, KMI_EFORMAT, "%s:%zu:%zu: %s%s%s", name, y->problem_mark.line + 1,
			     y->problem_mark.column + 1, y->problem ? y->problem : "invalid YAML",
			     y->context ? " " : "", y->context ? y->context : "");
}

static int parse_doc(const char *data, size_t len, const char *name, struct kmi_modconfig *out,
		     struct kmi_error **err)
{
	yaml_parser_t y;
	yaml_document_t doc, extra;
	struct parse p = { .doc = &doc, .name = name, .err = err };
	yaml_node_t *root;
	int r = 0;

	if ((r = kmi_yaml_load(err)) < 0)
		return r;
	if (!yaml_parser_initialize(&y))
		return kmi_error_set(err, ENOMEM, "%s: initialising the YAML parser", name);
	yaml_parser_set_input_string(&y, (const unsigned char *)data, len);
	if (!yaml_parser_load(&y, &doc)) {
		r = yaml_failure(err, name, &y);
		yaml_parser_delete(&y);
		return r;
	}
	root = yaml_document_get_root_node(&doc);
	if (root == NULL)
		r = kmi_error_set(err, KMI_EFORMAT, "%s: empty config", name);
	else
		r = parse_mapping(&p, root, "the config", top_fields, out);
	if (r == 0) {
		if (!yaml_parser_load(&y, &extra)) {
			r = yaml_failure(err, name, &y);
		} else {
			if (yaml_document_get_root_node(&extra) != NULL)
				r = kmi_error_set(err, KMI_EFORMAT,
						  "%s:%zu: a second YAML document (one config per file)",
						  name, extra.start_mark.line + 1);
			yaml_document_delete(&extra);
		}
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&y);
	return r;
}

int kmi_modconfig_parse(const char *data, size_t len, const char *name,
			struct kmi_modconfig *out, struct kmi_error **err)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (len > MODCONFIG_MAX_SIZE)
		return kmi_error_set(err, KMI_EFORMAT, "%s: over %u bytes", name, MODCONFIG_MAX_SIZE);
	r = parse_doc(data, len, name, out, err);
	if (r < 0)
		kmi_modconfig_free(out);
	return r;
}

int kmi_modconfig_load(const char *path, struct kmi_modconfig *out, struct kmi_error **err)
{
	struct kmi_buf b = { 0 };
	int r = kmi_read_file(path, MODCONFIG_MAX_SIZE, &b);

	memset(out, 0, sizeof(*out));
	if (r == -EFBIG)
		r = kmi_error_set(err, KMI_EFORMAT, "`%s`: over %u bytes", path, MODCONFIG_MAX_SIZE);
	else if (r < 0)
		r = -r == ENOENT || -r == EACCES
			    ? kmi_error_set(err, KMI_EUSAGE, "reading `%s`: %s", path, strerror(-r))
			    : kmi_error_set(err, -r, "reading `%s`", path);
	else
		r = kmi_modconfig_parse(b.data ? b.data : "", b.len, path, out, err);
	kmi_buf_free(&b);
	return r;
}

void kmi_strv_free(struct kmi_strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

void kmi_modconfig_free(struct kmi_modconfig *c)
{
	free(c->kernel_version);
	free(c->container_image);
	free(c->image_pull_policy);
	kmi_strv_free(&c->in_tree_modules_to_remove);
	free(c->in_tree_module_to_remove);
	free(c->modprobe.module_name);
	kmi_strv_free(&c->modprobe.parameters);
	free(c->modprobe.dir_name);
	kmi_strv_free(&c->modprobe.args.load);
	kmi_strv_free(&c->modprobe.args.unload);
	kmi_strv_free(&c->modprobe.raw_args.load);
	kmi_strv_free(&c->modprobe.raw_args.unload);
	free(c->modprobe.firmware_path);
	kmi_strv_free(&c->modprobe.modules_loading_order);
	memset(c, 0, sizeof(*c));
}

void kmi_modconfig_in_tree(const struct kmi_modconfig *c, const char *const **names, size_t *n)
{
	if (c->in_tree_modules_to_remove.set) {
		*names = (const char *const *)c->in_tree_modules_to_remove.v;
		*n = c->in_tree_modules_to_remove.n;
	} else if (c->in_tree_module_to_remove != NULL && c->in_tree_module_to_remove[0] != '\0') {
		*names = (const char *const *)&c->in_tree_module_to_remove;
		*n = 1;
	} else {
		*names = NULL;
		*n = 0;
	}
}
