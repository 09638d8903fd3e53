/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The Pods KMM creates for a plan: build (§2.2-2.3), sign (§4), worker
 * (§5.1) and image pull (§3.1), field for field, in Kubernetes' JSON field
 * order.  The hash annotations use our own hash (see kmodimg-render(1)).
 */
#include <jansson.h>

#include "kmm/kmm.h"

struct kmm_render_opts {
	const char *builder_image;       /* RELATED_IMAGE_BUILD */
	const char *signer_image;        /* RELATED_IMAGE_SIGN */
	const char *worker_image;        /* RELATED_IMAGE_WORKER */
	const char *node;                /* worker pod: the node's name */
	bool unload;                     /* worker pod: Unload instead of Load */
	bool no_push;                    /* build/sign: --no-push */
	const char *owner_uid;           /* NULL: no ownerReferences */
	int64_t run_as_user;             /* worker.runAsUser */
	const char *selinux_type;        /* worker.seLinuxType */
	const char *firmware_host_path;  /* worker.firmwareHostPath */
};

void kmm_render_opts_default(struct kmm_render_opts *o);

/* NULL with an error in d when the plan has nothing of that kind (no build, ...). */
json_t *kmm_render_build_pod(const struct kmm_plan *p, const struct kmm_set *set,
			     const struct kmm_render_opts *o, struct kmm_diags *d);
json_t *kmm_render_sign_pod(const struct kmm_plan *p, const struct kmm_set *set,
			    const struct kmm_render_opts *o, struct kmm_diags *d);
json_t *kmm_render_worker_pod(const struct kmm_plan *p, const struct kmm_render_opts *o,
			      struct kmm_diags *d);
json_t *kmm_render_pull_pod(const struct kmm_plan *p, const struct kmm_render_opts *o,
			    struct kmm_diags *d);

/* KMM cuts a builder image at its first ':' or '@' for kanikoParams.tag: at a port's, here. */
bool kmm_kaniko_tag_cuts_port(const char *builder_image);
/* The sign Dockerfile (templates/Dockerfile.gotmpl), NULL if there is no image to sign. */
char *kmm_sign_dockerfile(const struct kmm_plan *p, const char *signer_image);
/* The worker's config file (ModuleConfig as sigs.k8s.io/yaml writes it). */
char *kmm_worker_config_yaml(const struct kmm_plan *p);
/* "softdep a pre: b\n..." for modulesLoadingOrder. */
char *kmm_softdep_text(const struct kmm_strv *order);

/* --- shared by the render files --- */
json_t *kmm_r_str(const char *s);
json_t *kmm_r_sorted_map(const struct kmm_map *m);
json_t *kmm_r_tolerations(const struct kmm_module *m, bool internal);
json_t *kmm_r_owner(const char *kind, const char *name, const char *uid);
json_t *kmm_r_mount(const char *name, const char *path, bool ro);
json_t *kmm_r_secret_volume(const char *name, const char *secret, const char *key,
			    const char *path);
json_t *kmm_r_field_volume(const char *name, const char *file, const char *annotation);
/* Decimal FNV-1a 64 over the canonical JSON of v (keys sorted, compact) and extra text. */
char *kmm_r_hash(const json_t *v, const char *extra);
/* Go's filepath.Join of two or three parts. */
char *kmm_r_join(const char *a, const char *b, const char *c);
