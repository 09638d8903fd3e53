// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Module, ConfigMap and Secret objects from YAML/JSON documents, with the
 * CRD's defaults and structural rules (required fields, minItems, unknown
 * fields rejected as kubectl's strict validation does).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmm/decode.h"
#include "kmm/yamldoc.h"
#include "util/fs.h"
#include "util/xalloc.h"

#define KMM_MAX_FILE (4u << 20)
#define PATHLEN 256

static struct kmm_tls *decode_tls(struct kmm_dec *c, const struct kmm_ynode *v, const char *path,
				  struct kmm_tls *out)
{
	static const char *const fields[] = { "insecure", "insecureSkipTLSVerify", NULL };

	*out = (struct kmm_tls){ 0 };
	if (v == NULL || !kmm_dec_fields(c, v, path, fields))
		return out;
	kmm_dec_bool(c, v, "insecure", path, &out->insecure);
	kmm_dec_bool(c, v, "insecureSkipTLSVerify", path, &out->skip_verify);
	return out;
}

static void required(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		     const char *path)
{
	struct kmm_pos p = kmm_dec_pos(c, map);

	if (kmm_dec_get(map, key) == NULL)
		kmm_error_at(c->d, &p, "%s.%s: Required value", path, key);
}

static void min_items(struct kmm_dec *c, const struct kmm_ynode *map, const char *key,
		      const char *path, const struct kmm_strv *v)
{
	const struct kmm_ynode *n = kmm_dec_get(map, key);
	struct kmm_pos p = kmm_dec_pos(c, n ? n : map);

	if (v->set && v->n == 0)
		kmm_error_at(c->d, &p, "%s.%s: should have at least 1 items", path, key);
}

static void decode_buildargs(struct kmm_dec *c, const struct kmm_ynode *v, const char *path,
			     struct kmm_build *b)
{
	static const char *const fields[] = { "name", "value", NULL };
	char sub[PATHLEN];

	if (v->type != KMM_Y_SEQ) {
		struct kmm_pos p = kmm_dec_pos(c, v);

		kmm_error_at(c->d, &p, "%s.buildArgs: expected a list", path);
		return;
	}
	b->args = kmi_arena_alloc(c->a, (v->n + 1) * sizeof(*b->args));
	for (size_t i = 0; i < v->n; i++) {
		const struct kmm_ynode *it = v->items[i];
		struct kmm_buildarg *a = &b->args[b->nargs];

		snprintf(sub, sizeof(sub), "%.160s.buildArgs[%zu]", path, i);
		if (!kmm_dec_fields(c, it, sub, fields))
			continue;
		required(c, it, "name", sub);
		required(c, it, "value", sub);
		kmm_dec_str(c, it, "name", sub, "", &a->name);
		kmm_dec_str(c, it, "value", sub, "", &a->value);
		b->nargs++;
	}
}

static void decode_secrets(struct kmm_dec *c, const struct kmm_ynode *v, const char *path,
			   struct kmm_strv *out)
{
	static const char *const fields[] = { "name", NULL };
	char sub[PATHLEN];

	*out = (struct kmm_strv){ .set = true };
	if (v->type != KMM_Y_SEQ) {
		struct kmm_pos p = kmm_dec_pos(c, v);

		kmm_error_at(c->d, &p, "%s.secrets: expected a list", path);
		return;
	}
	out->v = kmi_arena_alloc(c->a, (v->n + 1) * sizeof(char *));
	for (size_t i = 0; i < v->n; i++) {
		snprintf(sub, sizeof(sub), "%.160s.secrets[%zu]", path, i);
		if (!kmm_dec_fields(c, v->items[i], sub, fields))
			continue;
		kmm_dec_str(c, v->items[i], "name", sub, "", &out->v[out->n++]);
	}
}

static struct kmm_build *decode_build(struct kmm_dec *c, const struct kmm_ynode *v,
				      const char *path)
{
	static const char *const fields[] = { "buildArgs", "dockerfileConfigMap",
		"baseImageRegistryTLS", "secrets", "kanikoParams", "selector", NULL };
	static const char *const kfields[] = { "tag", NULL };
	struct kmm_build *b;
	const struct kmm_ynode *n;
	char sub[PATHLEN];

	if (v == NULL || !kmm_dec_fields(c, v, path, fields))
		return NULL;
	b = kmi_arena_alloc(c->a, sizeof(*b));
	memset(b, 0, sizeof(*b));
	b->pos = kmm_dec_pos(c, v);
	if ((n = kmm_dec_get(v, "buildArgs")) != NULL)
		decode_buildargs(c, n, path, b);
	required(c, v, "dockerfileConfigMap", path);
	b->dockerfile_cm = kmm_dec_ref(c, v, "dockerfileConfigMap", path);
	snprintf(sub, sizeof(sub), "%.160s.baseImageRegistryTLS", path);
	decode_tls(c, kmm_dec_get(v, "baseImageRegistryTLS"), sub, &b->base_tls);
	if ((n = kmm_dec_get(v, "secrets")) != NULL)
		decode_secrets(c, n, path, &b->secrets);
	if ((n = kmm_dec_get(v, "kanikoParams")) != NULL) {
		snprintf(sub, sizeof(sub), "%.160s.kanikoParams", path);
		if (kmm_dec_fields(c, n, sub, kfields))
			kmm_dec_str(c, n, "tag", sub, NULL, &b->kaniko_tag);
	}
	kmm_dec_strmap(c, v, "selector", path, &b->selector);
	return b;
}

static struct kmm_sign *decode_sign(struct kmm_dec *c, const struct kmm_ynode *v, const char *path)
{
	static const char *const fields[] = { "unsignedImage", "unsignedImageRegistryTLS",
		"keySecret", "certSecret", "filesToSign", NULL };
	const struct kmm_ynode *f;
	struct kmm_sign *s;
	char sub[PATHLEN];

	if (v == NULL || !kmm_dec_fields(c, v, path, fields))
		return NULL;
	s = kmi_arena_alloc(c->a, sizeof(*s));
	memset(s, 0, sizeof(*s));
	s->pos = kmm_dec_pos(c, v);
	f = kmm_dec_get(v, "filesToSign");
	s->files_pos = kmm_dec_pos(c, f ? f : v);
	kmm_dec_str(c, v, "unsignedImage", path, "", &s->unsigned_image);
	snprintf(sub, sizeof(sub), "%.160s.unsignedImageRegistryTLS", path);
	decode_tls(c, kmm_dec_get(v, "unsignedImageRegistryTLS"), sub, &s->unsigned_tls);
	required(c, v, "keySecret", path);
	required(c, v, "certSecret", path);
	s->key_secret = kmm_dec_ref(c, v, "keySecret", path);
	s->cert_secret = kmm_dec_ref(c, v, "certSecret", path);
	kmm_dec_strv(c, v, "filesToSign", path, &s->files);
	return s;
}

static void decode_mapping(struct kmm_dec *c, const struct kmm_ynode *v, const char *path,
			   struct kmm_mapping *m)
{
	static const char *const fields[] = { "literal", "regexp", "containerImage", "build",
		"sign", "registryTLS", "inTreeModuleToRemove", "inTreeModulesToRemove", NULL };
	const struct kmm_ynode *n;
	char sub[PATHLEN];

	memset(m, 0, sizeof(*m));
	m->pos = kmm_dec_pos(c, v);
	m->literal = m->regexp = m->image = m->intree_one = "";
	if (!kmm_dec_fields(c, v, path, fields))
		return;
	kmm_dec_str(c, v, "literal", path, "", &m->literal);
	kmm_dec_str(c, v, "regexp", path, "", &m->regexp);
	n = kmm_dec_get(v, "regexp");
	m->regexp_pos = kmm_dec_pos(c, n ? n : v);
	n = kmm_ymap_get(v, "containerImage");
	m->image_pos = kmm_dec_pos(c, n ? n : v);
	if (n == NULL)
		kmm_error_at(c->d, &m->pos, "%s.containerImage: Required value", path);
	kmm_dec_str(c, v, "containerImage", path, "", &m->image);
	snprintf(sub, sizeof(sub), "%.160s.build", path);
	m->build = decode_build(c, kmm_dec_get(v, "build"), sub);
	snprintf(sub, sizeof(sub), "%.160s.sign", path);
	m->sign = decode_sign(c, kmm_dec_get(v, "sign"), sub);
	if ((n = kmm_dec_get(v, "registryTLS")) != NULL) {
		snprintf(sub, sizeof(sub), "%.160s.registryTLS", path);
		m->tls = decode_tls(c, n, sub, kmi_arena_alloc(c->a, sizeof(*m->tls)));
	}
	kmm_dec_str(c, v, "inTreeModuleToRemove", path, "", &m->intree_one);
	kmm_dec_strv(c, v, "inTreeModulesToRemove", path, &m->intree);
}

static void decode_loadargs(struct kmm_dec *c, const struct kmm_ynode *mp, const char *key,
			    const char *path, struct kmm_strv *load, struct kmm_strv *unload)
{
	static const char *const fields[] = { "load", "unload", NULL };
	const struct kmm_ynode *v = kmm_dec_get(mp, key);
	char sub[PATHLEN];

	snprintf(sub, sizeof(sub), "%.160s.%.60s", path, key);
	if (!kmm_dec_fields(c, v, sub, fields))
		return;
	kmm_dec_strv(c, v, "load", sub, load);
	kmm_dec_strv(c, v, "unload", sub, unload);
	min_items(c, v, "load", sub, load);
	min_items(c, v, "unload", sub, unload);
}

static void decode_modprobe(struct kmm_dec *c, const struct kmm_ynode *v, const char *path,
			    struct kmm_modprobe *mp)
{
	static const char *const fields[] = { "moduleName", "parameters", "dirName", "args",
		"rawArgs", "firmwarePath", "modulesLoadingOrder", NULL };
	const struct kmm_ynode *n;

	mp->module_name = mp->firmware_path = "";
	mp->dir_name = "/opt";
	if (v == NULL || !kmm_dec_fields(c, v, path, fields))
		return;
	mp->pos = kmm_dec_pos(c, v);
	kmm_dec_str(c, v, "moduleName", path, "", &mp->module_name);
	kmm_dec_strv(c, v, "parameters", path, &mp->params);
	kmm_dec_str(c, v, "dirName", path, "/opt", &mp->dir_name);
	if (kmm_dec_get(v, "args") != NULL) {
		mp->has_args = true;
		decode_loadargs(c, v, "args", path, &mp->args_load, &mp->args_unload);
	}
	if (kmm_dec_get(v, "rawArgs") != NULL) {
		mp->has_raw = true;
		decode_loadargs(c, v, "rawArgs", path, &mp->raw_load, &mp->raw_unload);
	}
	kmm_dec_str(c, v, "firmwarePath", path, "", &mp->firmware_path);
	kmm_dec_strv(c, v, "modulesLoadingOrder", path, &mp->order);
	n = kmm_dec_get(v, "modulesLoadingOrder");
	mp->order_pos = kmm_dec_pos(c, n ? n : v);
}

static void decode_container(struct kmm_dec *c, const struct kmm_ynode *v, struct kmm_module *m)
{
	static const char *const fields[] = { "modprobe", "kernelMappings", "containerImage",
		"imagePullPolicy", "build", "sign", "registryTLS", "version",
		"inTreeModuleToRemove", "inTreeModulesToRemove", NULL };
	static const char *const policies[] = { "Always", "Never", "IfNotPresent" };
	const char *path = "spec.moduleLoader.container";
	const struct kmm_ynode *n;
	char sub[PATHLEN];

	m->container_pos = kmm_dec_pos(c, v);
	if (!kmm_dec_fields(c, v, path, fields))
		return;
	required(c, v, "modprobe", path);
	required(c, v, "kernelMappings", path);
	decode_modprobe(c, kmm_dec_get(v, "modprobe"), "spec.moduleLoader.container.modprobe",
			&m->modprobe);
	if ((n = kmm_dec_get(v, "kernelMappings")) != NULL) {
		if (n->type != KMM_Y_SEQ) {
			struct kmm_pos p = kmm_dec_pos(c, n);

			kmm_error_at(c->d, &p, "%s.kernelMappings: expected a list", path);
		} else {
			if (n->n == 0) {
				struct kmm_pos p = kmm_dec_pos(c, n);

				kmm_error_at(c->d, &p, "%s.kernelMappings: should have at least 1 items",
					     path);
			}
			m->maps = kmi_arena_alloc(c->a, (n->n + 1) * sizeof(*m->maps));
			for (size_t i = 0; i < n->n; i++) {
				snprintf(sub, sizeof(sub), "%.160s.kernelMappings[%zu]", path, i);
				decode_mapping(c, n->items[i], sub, &m->maps[m->nmaps++]);
			}
		}
	}
	kmm_dec_str(c, v, "containerImage", path, "", &m->image);
	n = kmm_dec_get(v, "containerImage");
	m->image_pos = kmm_dec_pos(c, n ? n : v);
	kmm_dec_str(c, v, "imagePullPolicy", path, "", &m->pull_policy);
	if (m->pull_policy[0] != '\0') {
		bool ok = false;

		for (size_t i = 0; i < 3; i++)
			ok |= strcmp(m->pull_policy, policies[i]) == 0;
		if (!ok) {
			struct kmm_pos p = kmm_dec_pos(c, kmm_dec_get(v, "imagePullPolicy"));

			kmm_error_at(c->d, &p,
				     "%s.imagePullPolicy: Unsupported value \"%s\": supported values: \"Always\", \"Never\", \"IfNotPresent\"",
				     path, m->pull_policy);
		}
	}
	m->build = decode_build(c, kmm_dec_get(v, "build"), "spec.moduleLoader.container.build");
	m->sign = decode_sign(c, kmm_dec_get(v, "sign"), "spec.moduleLoader.container.sign");
	decode_tls(c, kmm_dec_get(v, "registryTLS"), "spec.moduleLoader.container.registryTLS",
		   &m->tls);
	kmm_dec_str(c, v, "version", path, "", &m->version);
	kmm_dec_str(c, v, "inTreeModuleToRemove", path, "", &m->intree_one);
	kmm_dec_strv(c, v, "inTreeModulesToRemove", path, &m->intree);
	n = kmm_dec_get(v, "inTreeModulesToRemove");
	m->intree_pos = kmm_dec_pos(c, n ? n : v);
}

static void decode_tolerations(struct kmm_dec *c, const struct kmm_ynode *v, struct kmm_module *m)
{
	static const char *const fields[] = { "key", "operator", "value", "effect",
		"tolerationSeconds", NULL };
	char sub[PATHLEN];

	if (v->type != KMM_Y_SEQ) {
		struct kmm_pos p = kmm_dec_pos(c, v);

		kmm_error_at(c->d, &p, "spec.tolerations: expected a list");
		return;
	}
	m->tols = kmi_arena_alloc(c->a, (v->n + 1) * sizeof(*m->tols));
	for (size_t i = 0; i < v->n; i++) {
		struct kmm_toleration *t = &m->tols[m->ntols];
		const struct kmm_ynode *it = v->items[i];

		snprintf(sub, sizeof(sub), "spec.tolerations[%zu]", i);
		if (!kmm_dec_fields(c, it, sub, fields))
			continue;
		t->pos = kmm_dec_pos(c, it);
		kmm_dec_str(c, it, "key", sub, "", &t->key);
		kmm_dec_str(c, it, "operator", sub, "", &t->op);
		kmm_dec_str(c, it, "value", sub, "", &t->value);
		kmm_dec_str(c, it, "effect", sub, "", &t->effect);
		t->has_seconds = kmm_dec_int(c, it, "tolerationSeconds", sub, &t->seconds);
		m->ntols++;
	}
}

static void decode_spec(struct kmm_dec *c, const struct kmm_ynode *spec, struct kmm_module *m)
{
	static const char *const fields[] = { "moduleLoader", "devicePlugin", "dra",
		"imageRepoSecret", "selector", "tolerations", "imageRebuildTriggerGeneration", NULL };
	static const char *const lfields[] = { "container", "serviceAccountName", NULL };
	const struct kmm_ynode *n;

	if (!kmm_dec_fields(c, spec, "spec", fields))
		return;
	required(c, spec, "selector", "spec");
	kmm_dec_strmap(c, spec, "selector", "spec", &m->selector);
	m->image_repo_secret = kmm_dec_ref(c, spec, "imageRepoSecret", "spec");
	if ((n = kmm_dec_get(spec, "tolerations")) != NULL)
		decode_tolerations(c, n, m);
	m->has_rebuild_gen = kmm_dec_int(c, spec, "imageRebuildTriggerGeneration", "spec",
					 &m->rebuild_gen);
	if (kmm_dec_get(spec, "dra") != NULL && kmm_dec_get(spec, "devicePlugin") != NULL) {
		struct kmm_pos p = kmm_dec_pos(c, spec);

		kmm_error_at(c->d, &p, "spec: dra and devicePlugin are mutually exclusive");
	}
	n = kmm_dec_get(spec, "moduleLoader");
	if (n == NULL || !kmm_dec_fields(c, n, "spec.moduleLoader", lfields))
		return;
	m->has_loader = true;
	kmm_dec_str(c, n, "serviceAccountName", "spec.moduleLoader", "", &m->service_account);
	required(c, n, "container", "spec.moduleLoader");
	if ((n = kmm_dec_get(n, "container")) != NULL)
		decode_container(c, n, m);
}

static void decode_meta(struct kmm_dec *c, const struct kmm_ynode *doc, char **name, char **ns,
			struct kmm_pos *name_pos)
{
	const struct kmm_ynode *meta = kmm_dec_get(doc, "metadata");
	struct kmm_pos p = kmm_dec_pos(c, doc);

	*name = "";
	*ns = "default";
	*name_pos = p;
	if (meta == NULL || meta->type != KMM_Y_MAP) {
		kmm_error_at(c->d, &p, "metadata.name: Required value");
		return;
	}
	kmm_dec_str(c, meta, "name", "metadata", NULL, name);
	kmm_dec_str(c, meta, "namespace", "metadata", "default", ns);
	if (kmm_dec_get(meta, "name") != NULL)
		*name_pos = kmm_dec_pos(c, kmm_dec_get(meta, "name"));
	if (*name == NULL || (*name)[0] == '\0') {
		kmm_error_at(c->d, &p, "metadata.name: Required value");
		*name = "";
	}
}

static void add_module(struct kmm_set *s, struct kmm_dec *c, const struct kmm_ynode *doc)
{
	struct kmm_module *m = kmi_arena_alloc(c->a, sizeof(*m));
	const struct kmm_ynode *spec = kmm_dec_get(doc, "spec");

	memset(m, 0, sizeof(*m));
	m->pos = kmm_dec_pos(c, doc);
	decode_meta(c, doc, &m->name, &m->ns, &m->name_pos);
	m->image = m->pull_policy = m->version = m->intree_one = m->service_account = "";
	m->modprobe.module_name = m->modprobe.firmware_path = "";
	m->modprobe.dir_name = "/opt";
	if (spec == NULL)
		kmm_error_at(c->d, &m->pos, "spec: Required value");
	else
		decode_spec(c, spec, m);
	s->modules = xreallocarray(s->modules, s->nmodules + 1, sizeof(*s->modules));
	s->modules[s->nmodules++] = m;
}

static void add_object(struct kmm_set *s, struct kmm_dec *c, const struct kmm_ynode *doc,
		       const char *kind)
{
	struct kmm_object *o = kmi_arena_alloc(c->a, sizeof(*o));

	memset(o, 0, sizeof(*o));
	o->kind = kmi_arena_strdup(c->a, kind);
	o->pos = kmm_dec_pos(c, doc);
	decode_meta(c, doc, &o->name, &o->ns, &o->pos);
	kmm_dec_strmap(c, doc, strcmp(kind, "Secret") == 0 && kmm_dec_get(doc, "data") == NULL ?
			       "stringData" : "data", kind, &o->data);
	s->objects = xreallocarray(s->objects, s->nobjects + 1, sizeof(*s->objects));
	s->objects[s->nobjects++] = o;
}

static void add_document(struct kmm_set *s, struct kmm_dec *c, const struct kmm_ynode *doc)
{
	char *api = NULL, *kind = NULL;
	struct kmm_pos p = kmm_dec_pos(c, doc);

	if (doc->type != KMM_Y_MAP) {
		kmm_error_at(c->d, &p, "a document is not an object");
		return;
	}
	kmm_dec_str(c, doc, "apiVersion", "", NULL, &api);
	kmm_dec_str(c, doc, "kind", "", NULL, &kind);
	if (api == NULL || kind == NULL) {
		kmm_error_at(c->d, &p, "object has no %s", api == NULL ? "apiVersion" : "kind");
		return;
	}
	if (strcmp(kind, "Module") == 0 && strncmp(api, "kmm.sigs.x-k8s.io/", 18) == 0) {
		if (strcmp(api, "kmm.sigs.x-k8s.io/v1beta1") != 0) {
			kmm_error_at(c->d, &p, "Module apiVersion \"%s\" is not supported (want kmm.sigs.x-k8s.io/v1beta1)",
				     api);
			return;
		}
		add_module(s, c, doc);
	} else if ((strcmp(kind, "ConfigMap") == 0 || strcmp(kind, "Secret") == 0) &&
		   strcmp(api, "v1") == 0) {
		add_object(s, c, doc, kind);
	} else {
		kmm_warn_at(c->d, &p, "ignoring %s %s: not a Module, ConfigMap or Secret", api, kind);
	}
}

void kmm_load_buffer(struct kmm_set *s, const char *name, const char *data, size_t len,
		     struct kmm_diags *d)
{
	struct kmm_dec c = { .a = &s->arena, .d = d };
	struct kmm_ydocs docs;
	char err[256];
	int line = 0, col = 0;

	s->files = xreallocarray(s->files, s->nfiles + 1, sizeof(*s->files));
	s->files[s->nfiles++] = xstrdup(name);
	c.file = s->files[s->nfiles - 1];
	if (kmm_yaml_parse(data, len, &s->arena, &docs, err, sizeof(err), &line, &col) < 0) {
		struct kmm_pos p = { c.file, line, col };

		kmm_error_at(d, &p, "invalid YAML: %s", err);
	}
	for (size_t i = 0; i < docs.n; i++)
		if (docs.roots[i] != NULL)
			add_document(s, &c, docs.roots[i]);
	free(docs.roots);
}

int kmm_load_file(struct kmm_set *s, const char *path, struct kmm_diags *d)
{
	struct kmi_buf b = { 0 };
	struct kmm_pos p = { path, 0, 0 };
	int r = kmi_read_file(strcmp(path, "-") == 0 ? "/dev/stdin" : path, KMM_MAX_FILE, &b);

	if (r < 0) {
		kmm_error_at(d, &p, "%s", r == -EFBIG ? "file too big (over 4 MiB)" : strerror(-r));
		kmi_buf_free(&b);
		return r;
	}
	kmm_load_buffer(s, path, b.data ? b.data : "", b.len, d);
	kmi_buf_free(&b);
	return 0;
}

void kmm_set_init(struct kmm_set *s)
{
	memset(s, 0, sizeof(*s));
}

void kmm_set_free(struct kmm_set *s)
{
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i]);
	free(s->files);
	free(s->modules);
	free(s->objects);
	kmi_arena_free(&s->arena);
	memset(s, 0, sizeof(*s));
}

const struct kmm_object *kmm_set_find(const struct kmm_set *s, const char *kind, const char *ns,
				      const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < s->nobjects; i++) {
		const struct kmm_object *o = s->objects[i];

		if (strcmp(o->kind, kind) == 0 && strcmp(o->ns, ns) == 0 && strcmp(o->name, name) == 0)
			return o;
	}
	return NULL;
}
