// SPDX-License-Identifier: LGPL-2.1-or-later
/* The plan as JSON: the stable shape documented in kmodimg-plan(1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmm/output.h"
#include "kmm/render.h"

/* json_string() refuses invalid UTF-8: such bytes in a Module are replaced, not fatal. */
static json_t *str(const char *s)
{
	json_t *j;

	if (s == NULL)
		return json_null();
	j = json_string(s);
	return j ? j : json_string("\xef\xbf\xbd");
}

json_t *kmm_strv_to_json(const struct kmm_strv *v)
{
	json_t *a = json_array();

	for (size_t i = 0; i < v->n; i++)
		json_array_append_new(a, str(v->v[i]));
	return a;
}

json_t *kmm_map_to_json(const struct kmm_map *m)
{
	json_t *o = json_object();

	for (size_t i = 0; i < m->n; i++)
		json_object_set_new(o, m->kv[i].key, str(m->kv[i].value));
	return o;
}

json_t *kmm_tls_to_json(const struct kmm_tls *t)
{
	return json_pack("{s:b,s:b}", "insecure", t->insecure, "insecureSkipTLSVerify",
			 t->skip_verify);
}

static json_t *strv(const struct kmm_strv *v)
{
	json_t *a = json_array();

	for (size_t i = 0; i < v->n; i++)
		json_array_append_new(a, str(v->v[i]));
	return a;
}

static json_t *load_unload(bool has, const struct kmm_strv *load, const struct kmm_strv *unload)
{
	if (!has)
		return json_null();
	return json_pack("{s:o,s:o}", "load", strv(load), "unload", strv(unload));
}

static void add_argv(json_t *a, const char *s)
{
	json_array_append_new(a, str(s));
}

/* The modprobe command lines the worker runs (§5.4, §5.5). */
static json_t *command(const struct kmm_modprobe *mp, bool load)
{
	json_t *a = json_array();
	const struct kmm_strv *raw = load ? &mp->raw_load : &mp->raw_unload;
	const struct kmm_strv *args = load ? &mp->args_load : &mp->args_unload;
	char *dir;

	add_argv(a, "modprobe");
	if (mp->has_raw) {
		for (size_t i = 0; i < raw->n; i++)
			add_argv(a, raw->v[i]);
		return a;
	}
	add_argv(a, load ? "-vd" : "-rvd");
	dir = kmm_r_join("/tmp", mp->dir_name, NULL); /* filepath.Join, as the worker */
	add_argv(a, dir);
	free(dir);
	for (size_t i = 0; i < args->n; i++)
		add_argv(a, args->v[i]);
	if (load) {
		add_argv(a, mp->module_name);
		for (size_t i = 0; i < mp->params.n; i++)
			add_argv(a, mp->params.v[i]);
	} else if (mp->order.n > 0) {
		for (size_t i = 0; i < mp->order.n; i++)
			add_argv(a, mp->order.v[i]);
	} else {
		add_argv(a, mp->module_name);
	}
	return a;
}

json_t *kmm_modprobe_to_json(const struct kmm_modprobe *mp)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
			 "moduleName", str(mp->module_name),
			 "parameters", strv(&mp->params),
			 "dirName", str(mp->dir_name),
			 "args", load_unload(mp->has_args, &mp->args_load, &mp->args_unload),
			 "rawArgs", load_unload(mp->has_raw, &mp->raw_load, &mp->raw_unload),
			 "firmwarePath", str(mp->firmware_path),
			 "modulesLoadingOrder", strv(&mp->order),
			 "loadCommand", command(mp, true),
			 "unloadCommand", command(mp, false));
}

static json_t *build_json(const struct kmm_build *b)
{
	json_t *args, *secrets;

	if (b == NULL)
		return json_null();
	args = json_array();
	secrets = json_array();
	for (size_t i = 0; i < b->nargs; i++)
		json_array_append_new(args, json_pack("{s:o,s:o}", "name", str(b->args[i].name),
						      "value", str(b->args[i].value)));
	for (size_t i = 0; i < b->secrets.n; i++)
		json_array_append_new(secrets, str(b->secrets.v[i]));
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}",
			 "dockerfileConfigMap", str(b->dockerfile_cm),
			 "buildArgs", args,
			 "baseImageRegistryTLS", kmm_tls_to_json(&b->base_tls),
			 "secrets", secrets,
			 "kanikoParams", b->kaniko_tag ? json_pack("{s:o}", "tag", str(b->kaniko_tag)) :
							 json_null(),
			 "selector", kmm_map_to_json(&b->selector));
}

static json_t *sign_json(const struct kmm_sign *s)
{
	if (s == NULL)
		return json_null();
	return json_pack("{s:o,s:o,s:o,s:o,s:o}",
			 "unsignedImage", str(s->unsigned_image),
			 "unsignedImageRegistryTLS", kmm_tls_to_json(&s->unsigned_tls),
			 "keySecret", str(s->key_secret),
			 "certSecret", str(s->cert_secret),
			 "filesToSign", strv(&s->files));
}

json_t *kmm_plan_to_json(const struct kmm_plan *p)
{
	json_t *o = json_object();
	bool t = p->targeted;

	/* every key is always there: null (or []) when the kernel is not targeted */
	json_object_set_new(o, "kernel", str(p->kernel));
	json_object_set_new(o, "targeted", json_boolean(t));
	json_object_set_new(o, "mapping", t ? json_integer(p->mapping) : json_null());
	json_object_set_new(o, "containerImage", t ? str(p->image) : json_null());
	json_object_set_new(o, "build", t ? build_json(p->build) : json_null());
	json_object_set_new(o, "sign", t ? sign_json(p->sign) : json_null());
	json_object_set_new(o, "registryTLS", t ? kmm_tls_to_json(&p->tls) : json_null());
	json_object_set_new(o, "inTreeModulesToRemove", strv(&p->intree));
	json_object_set_new(o, "modprobe", p->module->has_loader ?
				   kmm_modprobe_to_json(&p->module->modprobe) : json_null());
	return o;
}
