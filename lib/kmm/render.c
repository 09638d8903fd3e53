// SPDX-License-Identifier: LGPL-2.1-or-later
/* Pieces every rendered Pod shares, and the defaults of KMM's deployment. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmm/render.h"
#include "util/buf.h"
#include "util/xalloc.h"

void kmm_render_opts_default(struct kmm_render_opts *o)
{
	memset(o, 0, sizeof(*o));
	/* config/manager-base: manager.yaml and kustomization.yaml images */
	o->builder_image = "gcr.io/kaniko-project/executor:latest";
	o->signer_image = "gcr.io/k8s-staging-kmm/kernel-module-management-signimage:latest";
	o->worker_image = "gcr.io/k8s-staging-kmm/kernel-module-management-worker:latest";
	/* internal/config defaults */
	o->run_as_user = 0;
	o->selinux_type = "spc_t";
	o->firmware_host_path = "/lib/firmware";
}

json_t *kmm_r_str(const char *s)
{
	json_t *j = json_string(s ? s : "");

	return j ? j : json_string("\xef\xbf\xbd");
}

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const struct kmm_kv *)a)->key, ((const struct kmm_kv *)b)->key);
}

/* Go serialises maps with sorted keys. */
json_t *kmm_r_sorted_map(const struct kmm_map *m)
{
	struct kmm_kv *kv = xcalloc(m->n + 1, sizeof(*kv));
	json_t *o = json_object();

	memcpy(kv, m->kv, m->n * sizeof(*kv));
	qsort(kv, m->n, sizeof(*kv), cmp_kv);
	for (size_t i = 0; i < m->n; i++)
		json_object_set_new(o, kv[i].key, kmm_r_str(kv[i].value));
	free(kv);
	return o;
}

static json_t *toleration(const char *key, const char *op, const char *value, const char *effect,
			  const int64_t *seconds)
{
	json_t *t = json_object();

	if (key[0])
		json_object_set_new(t, "key", kmm_r_str(key));
	if (op[0])
		json_object_set_new(t, "operator", kmm_r_str(op));
	if (value[0])
		json_object_set_new(t, "value", kmm_r_str(value));
	if (effect[0])
		json_object_set_new(t, "effect", kmm_r_str(effect));
	if (seconds)
		json_object_set_new(t, "tolerationSeconds", json_integer(*seconds));
	return t;
}

/* The Module's tolerations, plus KMM's internal ones for worker pods (§1.7). */
json_t *kmm_r_tolerations(const struct kmm_module *m, bool internal)
{
	static const char *const pressure[] = { "node.kubernetes.io/disk-pressure",
		"node.kubernetes.io/memory-pressure", "node.kubernetes.io/pid-pressure" };
	json_t *a = json_array();

	for (size_t i = 0; i < m->ntols; i++) {
		const struct kmm_toleration *t = &m->tols[i];

		json_array_append_new(a, toleration(t->key, t->op, t->value, t->effect,
						    t->has_seconds ? &t->seconds : NULL));
	}
	for (size_t i = 0; internal && i < 3; i++)
		json_array_append_new(a, toleration(pressure[i], "Exists", "", "NoSchedule", NULL));
	return a;
}

json_t *kmm_r_owner(const char *kind, const char *name, const char *uid)
{
	return json_pack("[{s:s,s:s,s:o,s:s,s:b,s:b}]", "apiVersion", "kmm.sigs.x-k8s.io/v1beta1",
			 "kind", kind, "name", kmm_r_str(name), "uid", uid, "controller", 1,
			 "blockOwnerDeletion", 1);
}

json_t *kmm_r_mount(const char *name, const char *path, bool ro)
{
	json_t *m = json_object();

	json_object_set_new(m, "name", kmm_r_str(name));
	if (ro)
		json_object_set_new(m, "readOnly", json_true());
	json_object_set_new(m, "mountPath", kmm_r_str(path));
	return m;
}

json_t *kmm_r_secret_volume(const char *name, const char *secret, const char *key,
			    const char *path)
{
	json_t *s = json_pack("{s:o}", "secretName", kmm_r_str(secret));

	if (key != NULL)
		json_object_set_new(s, "items", json_pack("[{s:s,s:s}]", "key", key, "path", path));
	return json_pack("{s:o,s:o}", "name", kmm_r_str(name), "secret", s);
}

json_t *kmm_r_field_volume(const char *name, const char *file, const char *annotation)
{
	char *field = xasprintf("metadata.annotations['%s']", annotation);
	json_t *v = json_pack("{s:s,s:{s:[{s:s,s:{s:s}}]}}", "name", name, "downwardAPI", "items",
			      "path", file, "fieldRef", "fieldPath", field);

	free(field);
	return v;
}

char *kmm_r_hash(const json_t *v, const char *extra)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	/* a separator no JSON text contains, so that (spec, extra) pairs cannot collide */
	h = (h ^ 0xff) * 0x100000001b3ULL;
	for (const unsigned char *p = (const unsigned char *)(extra ? extra : ""); *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	free(s);
	return xasprintf("%" PRIu64, h);
}

/* filepath.Join: join with '/', then Clean (no "." or "..", no doubled or trailing '/'). */
char *kmm_r_join(const char *a, const char *b, const char *c)
{
	char *joined = xasprintf("%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");
	char **parts = xcalloc(strlen(joined) + 1, sizeof(char *));
	size_t n = 0;
	bool abs = joined[0] == '/';
	struct kmi_buf out = { 0 };
	char *save = NULL;

	for (char *t = strtok_r(joined, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (strcmp(t, ".") == 0)
			continue;
		if (strcmp(t, "..") == 0 && n > 0 && strcmp(parts[n - 1], "..") != 0) {
			n--;
			continue;
		}
		if (strcmp(t, "..") == 0 && abs)
			continue;
		parts[n++] = t;
	}
	if (abs)
		kmi_buf_putc(&out, '/');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			kmi_buf_putc(&out, '/');
		kmi_buf_puts(&out, parts[i]);
	}
	if (out.len == 0)
		kmi_buf_putc(&out, '.');
	kmi_buf_putc(&out, '\0');
	free(parts);
	free(joined);
	return out.data;
}
