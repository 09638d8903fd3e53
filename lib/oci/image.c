// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "oci/image.h"
#include "util/xalloc.h"

bool kmi_media_type_is_manifest(const char *mt)
{
	return strcmp(mt, KMI_MT_OCI_MANIFEST) == 0 || strcmp(mt, KMI_MT_DOCKER_MANIFEST) == 0;
}

bool kmi_media_type_is_index(const char *mt)
{
	return strcmp(mt, KMI_MT_OCI_INDEX) == 0 || strcmp(mt, KMI_MT_DOCKER_LIST) == 0;
}

const char *kmi_layer_media_type_oci(const char *mt)
{
	if (strcmp(mt, KMI_MT_DOCKER_LAYER_GZIP) == 0)
		return KMI_MT_OCI_LAYER_GZIP;
	return mt;
}

const char *kmi_host_arch(void)
{
	static const struct {
		const char *uname, *go;
	} map[] = {
		{ "x86_64", "amd64" }, { "aarch64", "arm64" }, { "i686", "386" },
		{ "armv7l", "arm" },   { "ppc64le", "ppc64le" }, { "s390x", "s390x" },
		{ "riscv64", "riscv64" },
	};
	static struct utsname un;

	if (uname(&un) < 0)
		return "amd64";
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(un.machine, map[i].uname) == 0)
			return map[i].go;
	}
	return un.machine;
}

char *kmi_json_dump(const json_t *j, size_t *len)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);

	if (s == NULL)
		abort(); /* only on allocation failure */
	if (len)
		*len = strlen(s);
	return s;
}

int kmi_descriptor_parse(const json_t *o, const char *where, struct kmi_descriptor *d,
			    struct kmi_error **err)
{
	const json_t *mt = json_object_get(o, "mediaType");
	const json_t *dg = json_object_get(o, "digest");
	const json_t *sz = json_object_get(o, "size");

	memset(d, 0, sizeof(*d));
	if (!json_is_object(o))
		return kmi_error_set(err, KMI_EFORMAT, "%s: not an object", where);
	if (!json_is_string(dg) || !kmi_digest_valid(json_string_value(dg)))
		return kmi_error_set(err, KMI_EFORMAT, "%s.digest: missing or not sha256:<64 hex>",
				     where);
	if (!json_is_integer(sz) || json_integer_value(sz) < 0 ||
	    json_integer_value(sz) > ((json_int_t)1 << 50))
		return kmi_error_set(err, KMI_EFORMAT, "%s.size: missing or out of range", where);
	if (mt != NULL && (!json_is_string(mt) || strlen(json_string_value(mt)) >= sizeof(d->media_type)))
		return kmi_error_set(err, KMI_EFORMAT, "%s.mediaType: not a short string", where);
	strcpy(d->digest, json_string_value(dg));
	d->size = (uint64_t)json_integer_value(sz);
	if (mt != NULL)
		strcpy(d->media_type, json_string_value(mt));
	return 0;
}

static int parse_list(const json_t *a, const char *name, struct kmi_descriptor **out, size_t *n,
		      bool platform, struct kmi_error **err)
{
	size_t i, count;

	if (!json_is_array(a))
		return kmi_error_set(err, KMI_EFORMAT, "%s: missing or not an array", name);
	count = json_array_size(a);
	if (count > 4096)
		return kmi_error_set(err, KMI_EFORMAT, "%s: %zu entries, more than 4096", name, count);
	*out = xcalloc(count ? count : 1, sizeof(**out));
	*n = count;
	for (i = 0; i < count; i++) {
		char where[64];
		const json_t *e = json_array_get(a, i), *p;
		int r;

		snprintf(where, sizeof(where), "%s[%zu]", name, i);
		if ((r = kmi_descriptor_parse(e, where, &(*out)[i], err)) < 0)
			return r;
		p = json_object_get(e, "platform");
		if (platform && json_is_object(p)) {
			const char *os = json_string_value(json_object_get(p, "os"));
			const char *arch = json_string_value(json_object_get(p, "architecture"));
			const char *var = json_string_value(json_object_get(p, "variant"));
			snprintf((*out)[i].platform, sizeof((*out)[i].platform), "%s/%s%s%s",
				 os ? os : "", arch ? arch : "", var ? "/" : "", var ? var : "");
		}
	}
	return 0;
}

int kmi_manifest_parse(const char *data, size_t len, const char *media_type,
		       struct kmi_manifest *m, struct kmi_error **err)
{
	json_error_t jerr;
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	const json_t *mt, *ver;
	int r = 0;

	memset(m, 0, sizeof(*m));
	if (root == NULL)
		return kmi_error_set(err, KMI_EFORMAT, "manifest is not JSON: %s at line %d column %d",
				     jerr.text, jerr.line, jerr.column);
	if (!json_is_object(root)) {
		r = kmi_error_set(err, KMI_EFORMAT, "manifest is not a JSON object");
		goto out;
	}
	ver = json_object_get(root, "schemaVersion");
	if (!json_is_integer(ver) || json_integer_value(ver) != 2) {
		r = kmi_error_set(err, KMI_EFORMAT, "manifest schemaVersion is not 2");
		goto out;
	}
	mt = json_object_get(root, "mediaType");
	if (json_is_string(mt))
		media_type = json_string_value(mt);
	else if (media_type == NULL || *media_type == '\0')
		/* OCI allows leaving it out: tell an index by its manifests list */
		media_type = json_object_get(root, "manifests") ? KMI_MT_OCI_INDEX : KMI_MT_OCI_MANIFEST;
	if (strlen(media_type) >= sizeof(m->media_type)) {
		r = kmi_error_set(err, KMI_EFORMAT, "manifest mediaType too long");
		goto out;
	}
	strcpy(m->media_type, media_type);
	if (kmi_media_type_is_index(media_type)) {
		m->is_index = true;
		r = parse_list(json_object_get(root, "manifests"), "manifests", &m->manifests,
			       &m->n_manifests, true, err);
	} else if (kmi_media_type_is_manifest(media_type)) {
		r = kmi_descriptor_parse(json_object_get(root, "config"), "config", &m->config, err);
		if (r == 0)
			r = parse_list(json_object_get(root, "layers"), "layers", &m->layers,
				       &m->n_layers, false, err);
	} else {
		r = kmi_error_set(err, KMI_EFORMAT, "unsupported manifest media type `%s`", media_type);
	}
	if (r == 0 && json_is_object(json_object_get(root, "annotations")))
		m->annotations = json_incref(json_object_get(root, "annotations"));
out:
	json_decref(root);
	if (r < 0)
		kmi_manifest_free(m);
	return r;
}

void kmi_manifest_free(struct kmi_manifest *m)
{
	kmi_descriptors_free(m->layers, m->n_layers);
	kmi_descriptors_free(m->manifests, m->n_manifests);
	json_decref(m->annotations);
	memset(m, 0, sizeof(*m));
}
