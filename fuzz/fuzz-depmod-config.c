// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer target: depmod.d parsing, including kernel-version regexes. */
#include <stdint.h>

#include "depmod/config.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmi_depmod_cfg cfg = { .kver = "6.1.0-56-amd64" };

	kmi_log_set_level(0); /* bad lines are expected here: keep the output quiet */
	kmi_depmod_cfg_parse(&cfg, "fuzz.conf", (const char *)data, size);
	kmi_depmod_cfg_excluded(&cfg, "kernel");
	kmi_depmod_cfg_free(&cfg);
	return 0;
}
