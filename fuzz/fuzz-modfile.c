// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer target: the module reader, compressed or not, on hostile bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "depmod/modfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmi_modreader r = { 0 };
	struct kmi_arena a = { 0 };
	struct kmi_modfile f;
	void *plain = NULL;
	size_t plain_size = 0;
	const char *why = NULL;

	if (kmi_modfile_decompress(data, size, &plain, &plain_size, &why) > 0) {
		kmi_modfile_parse(&r, plain, plain_size, &a, KMI_MODFILE_ALL_INFO, &f);
		free(plain);
	} else {
		kmi_modfile_parse(&r, data, size, &a, KMI_MODFILE_ALL_INFO | KMI_MODFILE_EXACT_CRCS,
				  &f);
		kmi_arena_free(&a);
		kmi_modfile_parse(&r, data, size, &a, 0, &f);
	}
	kmi_arena_free(&a);
	kmi_modreader_free(&r);
	return 0;
}
