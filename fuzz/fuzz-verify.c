// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target: kmodimg verify's parsers on hostile bytes.  The first
 * byte picks one: Module.symvers, the module signature trailer (and the
 * PKCS#7 blob it points at), vermagic, a .config.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verify/verify-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_symvers(const uint8_t *data, size_t size)
{
	struct kmi_symset s;
	struct kmi_error *err = NULL;

	kmi_symset_init(&s, 16);
	kmi_symvers_parse(&s, (const char *)data, size, "fuzz", &err);
	kmi_error_free(&err);
	kmi_symset_free(&s);
}

static void fuzz_modsig(const uint8_t *data, size_t size)
{
	struct kmi_modsig s;
	struct kmi_sig_summary sum = { 0 };

	if (kmi_modsig_parse(data, size, &s) == 1)
		kmi_modsig_pkcs7_info(data + s.sig_off, s.sig_len, &sum);
	else
		kmi_modsig_pkcs7_info(data, size, &sum);
	free(sum.signer);
	free(sum.key_id);
	free(sum.hash_algo);
}

static void fuzz_vermagic(const uint8_t *data, size_t size)
{
	char a[300], b[300];
	struct kmi_vermagic va, vb;
	size_t half = size / 2;

	if (half >= sizeof(a))
		return;
	memcpy(a, data, half);
	a[half] = '\0';
	memcpy(b, data + half, size - half < sizeof(b) - 1 ? size - half : sizeof(b) - 1);
	b[size - half < sizeof(b) - 1 ? size - half : sizeof(b) - 1] = '\0';
	if (kmi_vermagic_parse(a, &va) == 0 && kmi_vermagic_parse(b, &vb) == 0)
		(void)kmi_vermagic_diff(&va, &vb);
	(void)kmi_vermagic_accepts(a, b, true);
	(void)kmi_vermagic_accepts(a, b, false);
}

static void fuzz_config(const uint8_t *data, size_t size)
{
	free(kmi_vermagic_from_config((const char *)data, size, "6.1.0"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_symvers(data + 1, size - 1);
		break;
	case 1:
		fuzz_modsig(data + 1, size - 1);
		break;
	case 2:
		fuzz_vermagic(data + 1, size - 1);
		break;
	default:
		fuzz_config(data + 1, size - 1);
		break;
	}
	return 0;
}
