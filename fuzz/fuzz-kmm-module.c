// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target: a KMM manifest (YAML or JSON, any number of documents)
 * through parsing, validation, planning on a few kernels, the plan's JSON
 * and YAML output, and every Pod rendering.
 */
#include <stdint.h>

#include "kmm/kmm.h"
#include "kmm/output.h"
#include "kmm/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render_all(const struct kmm_set *set, const struct kmm_plan *p)
{
	struct kmm_render_opts o;
	struct kmm_diags d = { 0 };
	json_t *pods[4];
	struct kmi_buf b = { 0 };

	kmm_render_opts_default(&o);
	o.node = "node-1";
	o.owner_uid = "uid";
	pods[0] = kmm_render_build_pod(p, set, &o, &d);
	pods[1] = kmm_render_sign_pod(p, set, &o, &d);
	pods[2] = kmm_render_worker_pod(p, &o, &d);
	pods[3] = kmm_render_pull_pod(p, &o, &d);
	for (int i = 0; i < 4; i++) {
		if (pods[i] != NULL)
			kmm_yaml_emit(&b, pods[i]);
		json_decref(pods[i]);
	}
	kmi_buf_free(&b);
	kmm_diags_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kernels[] = { "6.1.0-18-amd64", "5.14.0-362.el9.x86_64+", "1.2" };
	struct kmm_diags d = { 0 };
	struct kmm_set set;

	kmm_set_init(&set);
	kmm_load_buffer(&set, "fuzz.yaml", (const char *)data, size, &d);
	kmm_validate(&set, &d);
	for (size_t i = 0; i < set.nmodules && i < 4; i++) {
		for (size_t k = 0; k < 3; k++) {
			struct kmm_plan p;
			struct kmi_buf b = { 0 };

			if (kmm_plan(set.modules[i], kernels[k], &p, &d) == 0) {
				json_t *j = kmm_plan_to_json(&p);

				kmm_yaml_emit(&b, j);
				kmm_json_emit(&b, j);
				json_decref(j);
				render_all(&set, &p);
			}
			kmi_buf_free(&b);
			kmm_plan_free(&p);
		}
	}
	kmm_diags_free(&d);
	kmm_set_free(&set);
	return 0;
}
