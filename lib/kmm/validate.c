// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The admission webhook's rules (§1.5, internal/webhook/module.go).  KMM
 * stops at the first broken rule; we report them all, each at its place,
 * with KMM's own wording so that messages can be searched for.
 */
#include <stdio.h>
#include <string.h>

#include "kmm/kmm.h"

/* A Go-style "%q" is close enough to "\"%s\"" for names and paths. */
#define MAX_COMBINED_LENGTH 41

/* IsQualifiedName: [prefix/]name, name <= 63 of [A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]. */
static bool qualified_name_part(const char *s, size_t n)
{
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9');

		if ((i == 0 || i == n - 1) ? !alnum : !(alnum || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

static bool dns1123_subdomain(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');

		if ((i == 0 || i == n - 1) ? !alnum : !(alnum || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

static bool qualified_name(const char *s)
{
	const char *slash = strchr(s, '/');

	if (slash == NULL)
		return qualified_name_part(s, strlen(s));
	return dns1123_subdomain(s, (size_t)(slash - s)) && qualified_name_part(slash + 1, strlen(slash + 1));
}

static bool label_value(const char *s)
{
	return s[0] == '\0' || qualified_name_part(s, strlen(s));
}

static void validate_toleration(const struct kmm_toleration *t, size_t i, struct kmm_diags *d)
{
	static const char *const effects[] = { "NoSchedule", "PreferNoSchedule", "NoExecute" };
	bool ok = false;

	if (t->key[0] != '\0' && !qualified_name(t->key))
		kmm_error_at(d, &t->pos, "Toleration[%zu] invalid key '%s': not a qualified name", i, t->key);
	if (t->key[0] == '\0' && strcmp(t->op, "Exists") != 0)
		kmm_error_at(d, &t->pos, "Toleration[%zu] operator must be 'Exists' when key is empty", i);
	if (t->has_seconds && strcmp(t->effect, "NoExecute") != 0)
		kmm_error_at(d, &t->pos,
			     "Toleration[%zu] effect must be 'NoExecute' when tolerationSeconds is set", i);
	if (strcmp(t->op, "Equal") == 0 || t->op[0] == '\0') {
		if (!label_value(t->value))
			kmm_error_at(d, &t->pos, "Toleration[%zu] invalid value '%s' for Equal operator",
				     i, t->value);
	} else if (strcmp(t->op, "Exists") == 0) {
		if (t->value[0] != '\0')
			kmm_error_at(d, &t->pos,
				     "Toleration[%zu] value must be empty when operator is 'Exists'", i);
	} else {
		kmm_error_at(d, &t->pos,
			     "Toleration[%zu] invalid operator '%s', allowed values are ['Equal', 'Exists']",
			     i, t->op);
	}
	if (t->effect[0] == '\0')
		return;
	for (size_t j = 0; j < 3; j++)
		ok |= strcmp(t->effect, effects[j]) == 0;
	if (!ok)
		kmm_error_at(d, &t->pos,
			     "Toleration[%zu] invalid effect '%s', allowed values are ['NoSchedule', 'PreferNoSchedule', 'NoExecute']",
			     i, t->effect);
}

static bool has_tag_or_digest(const char *img)
{
	return strchr(img, ':') != NULL || strchr(img, '@') != NULL;
}

static void validate_mapping(const struct kmm_module *m, size_t i, struct kmm_diags *d)
{
	const struct kmm_mapping *km = &m->maps[i];
	char err[256];

	if (km->regexp[0] != '\0' && km->literal[0] != '\0')
		kmm_error_at(d, &km->pos,
			     "regexp and literal are mutually exclusive properties at kernelMappings[%zu]", i);
	if (km->regexp[0] == '\0' && km->literal[0] == '\0')
		kmm_error_at(d, &km->pos, "regexp or literal must be set at kernelMappings[%zu]", i);
	if (km->regexp[0] != '\0') {
		struct kmm_regex *re = kmm_regex_compile(km->regexp, err, sizeof(err));

		if (re == NULL)
			kmm_error_at(d, &km->regexp_pos, "invalid regexp at index %zu: %s", i, err);
		kmm_regex_free(re);
	}
	if (km->image[0] == '\0') {
		if (m->image[0] == '\0')
			kmm_error_at(d, &km->pos,
				     "missing spec.moduleLoader.container.kernelMappings[%zu].containerImage", i);
	} else if (!has_tag_or_digest(km->image)) {
		kmm_error_at(d, &km->image_pos,
			     "container image must explicitely set a tag or digest; got: %s (kernelMappings[%zu])",
			     km->image, i);
	}
	if (km->intree.set && km->intree_one[0] != '\0')
		kmm_error_at(d, &km->pos,
			     "only one of the KernelMapping fields: InTreeModulesToRemove or InTreeModuleToRemove can be defined (kernelMappings[%zu])",
			     i);
	if ((km->intree.set && m->intree_one[0] != '\0') ||
	    (km->intree_one[0] != '\0' && m->intree.set))
		kmm_error_at(d, &km->pos,
			     "only one type of field (InTreeModuleToRemove or InTreeModulesToRemove) can be defined in KernelMapping or Container (kernelMappings[%zu])",
			     i);
}

static void validate_modprobe(const struct kmm_module *m, struct kmm_diags *d)
{
	const struct kmm_modprobe *mp = &m->modprobe;
	const struct kmm_pos *p = mp->pos.file ? &mp->pos : &m->container_pos;
	bool named = mp->module_name[0] != '\0';
	bool raw_load = mp->has_raw && mp->raw_load.n > 0;
	bool raw_unload = mp->has_raw && mp->raw_unload.n > 0;

	if (named && (raw_load || raw_unload))
		kmm_error_at(d, p, "rawArgs cannot be set when moduleName is set");
	else if (!named && (!raw_load || !raw_unload))
		kmm_error_at(d, p, "load and unload rawArgs must be set when moduleName is unset");
	if (!mp->order.set)
		return;
	if (mp->order.n < 2)
		kmm_error_at(d, &mp->order_pos,
			     "if a loading order is defined, at least two values must be defined");
	if (!named)
		kmm_error_at(d, &mp->order_pos, "if a loading order is defined, moduleName must be set");
	else if (mp->order.n > 0 && strcmp(mp->order.v[0], mp->module_name) != 0)
		kmm_error_at(d, &mp->order_pos,
			     "if a loading order is defined, the first element must be moduleName");
	for (size_t i = 0; i < mp->order.n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(mp->order.v[i], mp->order.v[j]) == 0) {
				kmm_error_at(d, &mp->order_pos,
					     "\"%s\": duplicate value in the loading order list",
					     mp->order.v[i]);
				break;
			}
		}
	}
}

static void validate_sign(const struct kmm_sign *s, const char *dir, const char *where,
			  struct kmm_diags *d)
{
	size_t dl = strlen(dir);

	if (s == NULL)
		return;
	if (s->files.n == 0) {
		kmm_error_at(d, &s->pos, "%s: filesToSign is required when Sign is set", where);
		return;
	}
	for (size_t i = 0; i < s->files.n; i++) {
		const char *f = s->files.v[i];

		if (strncmp(f, dir, dl) != 0 || f[dl] != '/')
			kmm_error_at(d, &s->files_pos, "%s: filesToSign[\"%s\"] must be under dirName \"%s\"",
				     where, f, dir);
	}
}

static bool dns1123_label(const char *s)
{
	size_t n = strlen(s);

	return n <= 63 && dns1123_subdomain(s, n) && strchr(s, '.') == NULL;
}

/* The API server's rules for any object's name and namespace. */
static void validate_meta(const struct kmm_module *m, struct kmm_diags *d)
{
	if (m->name[0] != '\0' && !dns1123_subdomain(m->name, strlen(m->name)))
		kmm_error_at(d, &m->name_pos,
			     "metadata.name: Invalid value: \"%s\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
			     m->name);
	if (!dns1123_label(m->ns))
		kmm_error_at(d, &m->pos,
			     "metadata.namespace: Invalid value: \"%s\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
			     m->ns);
}

void kmm_validate_module(const struct kmm_module *m, struct kmm_diags *d)
{
	size_t len = strlen(m->name) + strlen(m->ns);
	char where[64];

	validate_meta(m, d);
	if (len > MAX_COMBINED_LENGTH)
		kmm_error_at(d, &m->name_pos,
			     "module name and namespace have a combined length of %zu characters, which exceeds the maximum of %d",
			     len, MAX_COMBINED_LENGTH);
	for (size_t i = 0; i < m->ntols; i++)
		validate_toleration(&m->tols[i], i, d);
	if (!m->has_loader)
		return;
	if (m->intree.set && m->intree_one[0] != '\0')
		kmm_error_at(d, &m->intree_pos,
			     "only one of the Container's fields: InTreeModulesToRemove or InTreeModuleToRemove can be defined");
	if (m->image[0] != '\0' && !has_tag_or_digest(m->image))
		kmm_error_at(d, &m->image_pos,
			     "container image must explicitely set a tag or digest; got: %s", m->image);
	for (size_t i = 0; i < m->nmaps; i++)
		validate_mapping(m, i, d);
	validate_modprobe(m, d);
	validate_sign(m->sign, m->modprobe.dir_name, "global Sign", d);
	for (size_t i = 0; i < m->nmaps; i++) {
		snprintf(where, sizeof(where), "kernelMappings[%zu].Sign", i);
		validate_sign(m->maps[i].sign, m->modprobe.dir_name, where, d);
	}
}

void kmm_validate(const struct kmm_set *s, struct kmm_diags *d)
{
	for (size_t i = 0; i < s->nmodules; i++) {
		kmm_validate_module(s->modules[i], d);
		kmm_lint_module(s->modules[i], d);
	}
}
