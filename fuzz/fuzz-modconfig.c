// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer target: KMM's ModuleConfig YAML, and the modprobe argv built from it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "worker/kmm.h"
#include "worker/modconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmi_modconfig c;
	struct kmi_error *err = NULL;

	if (kmi_modconfig_parse((const char *)data, size, "fuzz.yaml", &c, &err) < 0) {
		kmi_error_free(&err);
		return 0;
	}
	for (int load = 0; load < 2; load++) {
		size_t n;
		char **v = kmi_kmm_modprobe_argv(&c, "/tmp", load, &n);
		for (size_t i = 0; v != NULL && i < n; i++)
			free(v[i]);
		free(v);
	}
	kmi_modconfig_free(&c);
	return 0;
}
