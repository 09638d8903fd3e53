/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Plans and Pods as jansson objects (key order kept), printed as JSON or YAML. */
#include <jansson.h>
#include <stdio.h>

#include "kmm/kmm.h"

/* One kernel's plan, the shape documented in kmodimg-plan(1). */
json_t *kmm_plan_to_json(const struct kmm_plan *p);
json_t *kmm_modprobe_to_json(const struct kmm_modprobe *mp);
json_t *kmm_strv_to_json(const struct kmm_strv *v);
json_t *kmm_map_to_json(const struct kmm_map *m);
json_t *kmm_tls_to_json(const struct kmm_tls *t);

/* Block-style YAML; strings quoted whenever a plain scalar could be read otherwise. */
void kmm_yaml_emit(struct kmi_buf *out, const json_t *v);
/* Pretty JSON with a final newline. */
void kmm_json_emit(struct kmi_buf *out, const json_t *v);
