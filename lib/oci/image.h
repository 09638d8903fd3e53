/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "oci/layout.h"
#include "util/error.h"

#define KMI_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define KMI_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define KMI_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define KMI_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define KMI_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define KMI_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define KMI_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define KMI_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define KMI_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define KMI_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* Annotations and labels kmodimg puts on the images it builds. */
#define KMI_ANN_KERNEL "io.kmodimg.kernel.version"
#define KMI_ANN_MODULES "io.kmodimg.modules"
#define KMI_ANN_VERMAGIC "io.kmodimg.vermagic"
#define KMI_ANN_PREFIX "io.kmodimg.prefix"
#define KMI_ANN_TOOL "io.kmodimg.tool"

/* Size limit for manifests, indexes and configs read from anywhere. */
#define KMI_MANIFEST_BLOB_MAX (4u << 20)

/* A manifest or an index, parsed from untrusted bytes and checked. */
struct kmi_manifest {
	char media_type[128];
	bool is_index;
	struct kmi_descriptor config;   /* manifests */
	struct kmi_descriptor *layers;  /* manifests */
	size_t n_layers;
	struct kmi_descriptor *manifests; /* indexes; platform filled */
	size_t n_manifests;
	json_t *annotations;            /* object or NULL; owned */
};

/* media_type: from the transport (Content-Type, descriptor), or NULL to read it from data. */
int kmi_manifest_parse(const char *data, size_t len, const char *media_type,
		       struct kmi_manifest *m, struct kmi_error **err);
void kmi_manifest_free(struct kmi_manifest *m);
/* One descriptor object; `where` names it in errors ("layers[2]"). */
int kmi_descriptor_parse(const json_t *o, const char *where, struct kmi_descriptor *d,
			 struct kmi_error **err);
bool kmi_media_type_is_manifest(const char *mt);
bool kmi_media_type_is_index(const char *mt);
/* The OCI layer media type for a Docker one (same bytes), or mt itself. */
const char *kmi_layer_media_type_oci(const char *mt);
/* "amd64" etc. for this machine, as Go names architectures. */
const char *kmi_host_arch(void);
/* Compact JSON with sorted keys: the same object always gives the same bytes. */
char *kmi_json_dump(const json_t *j, size_t *len);
