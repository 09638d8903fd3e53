// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target: KMM's a8m/envsubst substitution, and the same bytes as
 * a Go (RE2) regexp translated to PCRE2 and matched against a kernel.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmm/kmm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmm_env env = { .n = 3,
		.name = { "KERNEL_FULL_VERSION", "EMPTY", "MOD_NAME" },
		.value = { "6.1.0-18-amd64", "", "kmm-ci" } };
	char err[256], *s = malloc(size + 1), *r;
	struct kmm_regex *re;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0'; /* the strings come from YAML: no NUL inside */
	r = kmm_envsubst(s, &env, err, sizeof(err));
	free(r);
	re = kmm_regex_compile(s, err, sizeof(err));
	if (re != NULL) {
		kmm_regex_match(re, "6.1.0-18-amd64", err, sizeof(err));
		kmm_regex_free(re);
	}
	free(s);
	return 0;
}
