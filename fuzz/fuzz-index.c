// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer target: the index writer on arbitrary "key value priority" lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "depmod/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmi_index *idx = kmi_index_new(size & 1);
	struct kmi_buf out = { 0 };
	char *text = malloc(size + 1), *line, *save = NULL;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *value = strchr(line, ' ');
		if (value == NULL)
			continue;
		*value++ = '\0';
		kmi_index_add(idx, line, value, (uint32_t)strlen(value) % 7);
	}
	kmi_index_write(idx, KMI_INDEX_POSTORDER, &out);
	kmi_index_write(idx, KMI_INDEX_PREORDER, &out);
	kmi_buf_free(&out);
	kmi_index_free(idx);
	free(text);
	return 0;
}
