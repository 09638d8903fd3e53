// SPDX-License-Identifier: LGPL-2.1-or-later
/* Unit tests of kmodimg verify's parsers: Module.symvers, vermagic, the signature trailer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "verify/verify-internal.h"

static int symvers_n(const char *text, size_t len, struct kmi_symset *s, struct kmi_error **err)
{
	kmi_symset_init(s, 16);
	return kmi_symvers_parse(s, text, len, "Module.symvers", err);
}

static int symvers(const char *text, struct kmi_symset *s, struct kmi_error **err)
{
	return symvers_n(text, strlen(text), s, err);
}

static void test_symvers_good(void)
{
	struct kmi_symset s;
	struct kmi_error *err = NULL;
	const struct kmi_ksym *k;

	CHECK(symvers("0x4c9d28b0\tphys_base\tvmlinux\tEXPORT_SYMBOL\t\n"
		      "0x00000001\tfat_attach\tfs/fat/fat\tEXPORT_SYMBOL_GPL\t\n"
		      "\n"
		      "0xdeadbeef\tns_sym\tdrivers/net/foo-bar\tEXPORT_SYMBOL_NS\tFOO\n"
		      "0x12345678\told_format\tvmlinux\tEXPORT_SYMBOL", /* no namespace, no newline */
		      &s, &err) == 0);
	CHECK(err == NULL);
	CHECK(s.n_vmlinux == 2 && s.n_modules == 2);
	k = kmi_symset_get(&s, "phys_base");
	CHECK(k && k->owner == NULL && k->crc == 0x4c9d28b0 && k->has_crc);
	k = kmi_symset_get(&s, "fat_attach");
	CHECK(k && k->owner && strcmp(k->owner, "fat") == 0 && k->crc == 1);
	k = kmi_symset_get(&s, "ns_sym");
	CHECK_STR(k ? k->owner : NULL, "foo_bar");
	CHECK_STR(k ? k->ns : NULL, "FOO");
	CHECK(kmi_symset_get(&s, "phys_base")->ns == NULL);
	CHECK(kmi_symset_get(&s, "old_format") != NULL);
	CHECK(kmi_symset_get(&s, "missing") == NULL);
	kmi_symset_free(&s);
}

static void test_symvers_no_modversions(void)
{
	struct kmi_symset s;
	struct kmi_error *err = NULL;

	CHECK(symvers("0x00000000\ta\tvmlinux\tEXPORT_SYMBOL\t\n0x00000000\tb\tvmlinux\tEXPORT_SYMBOL\t\n",
		      &s, &err) == 0);
	CHECK(kmi_symset_get(&s, "a") && !kmi_symset_get(&s, "a")->has_crc);
	kmi_symset_free(&s);
}

static void expect_error_n(const char *text, size_t len, const char *msg)
{
	struct kmi_symset s;
	struct kmi_error *err = NULL;

	CHECK(symvers_n(text, len, &s, &err) < 0);
	CHECK(err != NULL && kmi_error_code(err) == KMI_EFORMAT);
	if (err)
		CHECK_STR(err->msg, msg);
	kmi_error_free(&err);
	kmi_symset_free(&s);
}

static void expect_error(const char *text, const char *msg)
{
	expect_error_n(text, strlen(text), msg);
}

static void test_symvers_errors(void)
{
	static const char nul[] = "0x1\ta\tvmlinux\n0x1\tb\tvm\0linux\n";

	expect_error("0x1\ta\tvmlinux\tEXPORT_SYMBOL\n0x2 b vmlinux\n",
		     "Module.symvers:2: want CRC, symbol and module separated by tabs");
	expect_error("12345678\ta\tvmlinux\tEXPORT_SYMBOL\n",
		     "Module.symvers:1: bad CRC field (want 0x and 1-8 hex digits)");
	expect_error("0x123456789\ta\tvmlinux\tEXPORT_SYMBOL\n",
		     "Module.symvers:1: bad CRC field (want 0x and 1-8 hex digits)");
	expect_error("0x1\t\tvmlinux\n", "Module.symvers:1: want CRC, symbol and module separated by tabs");
	expect_error_n(nul, sizeof(nul) - 1, "Module.symvers:2: NUL byte in line");
}

static void test_vermagic(void)
{
	const char *kernel = "6.1.0-56-amd64 SMP preempt mod_unload modversions ";
	struct kmi_vermagic k, m;
	char words[128];

	CHECK(kmi_vermagic_parse(kernel, &k) == 0);
	CHECK_STR(k.release, "6.1.0-56-amd64");
	CHECK(k.smp && k.mod_unload && k.modversions && k.n_other == 0);
	CHECK_STR(k.preempt, "preempt");

	CHECK(kmi_vermagic_parse("6.1.0-56-amd64 SMP mod_unload modversions ", &m) == 0);
	CHECK(kmi_vermagic_diff(&m, &k) == KMI_VM_PREEMPT);
	CHECK(!kmi_vermagic_accepts("6.1.0-56-amd64 SMP mod_unload modversions ", kernel, true));

	CHECK(kmi_vermagic_parse("6.12.9-amd64 SMP preempt mod_unload modversions ", &m) == 0);
	CHECK(kmi_vermagic_diff(&m, &k) == KMI_VM_RELEASE);
	/* with __versions the release is not compared: CRCs decide */
	CHECK(kmi_vermagic_accepts("6.12.9-amd64 SMP preempt mod_unload modversions ", kernel, true));
	CHECK(!kmi_vermagic_accepts("6.12.9-amd64 SMP preempt mod_unload modversions ", kernel, false));

	CHECK(kmi_vermagic_parse("6.1.0 preempt_rt mod_unload 486 ", &m) == 0);
	CHECK(kmi_vermagic_diff(&m, &k) ==
	      (KMI_VM_RELEASE | KMI_VM_SMP | KMI_VM_PREEMPT | KMI_VM_MODVERSIONS | KMI_VM_OTHER));
	kmi_vermagic_describe(KMI_VM_SMP | KMI_VM_MODVERSIONS, words, sizeof(words));
	CHECK_STR(words, "SMP, modversions");

	CHECK(kmi_vermagic_parse("", &m) == -EINVAL);
	CHECK(kmi_vermagic_parse("   ", &m) == -EINVAL);
}

static void test_vermagic_from_config(void)
{
	const char cfg[] = "# comment\nCONFIG_SMP=y\nCONFIG_PREEMPT_BUILD=y\nCONFIG_MODULE_UNLOAD=y\n"
			   "# CONFIG_MODULE_FORCE_LOAD is not set\nCONFIG_MODVERSIONS=y\n";
	const char cfg2[] = "CONFIG_SMP=y\nCONFIG_MODVERSIONS=m\nCONFIG_SMP_X=y\n";
	char *v = kmi_vermagic_from_config(cfg, sizeof(cfg) - 1, "6.1.0-56-amd64");

	CHECK_STR(v, "6.1.0-56-amd64 SMP preempt mod_unload modversions ");
	free(v);
	v = kmi_vermagic_from_config(cfg2, sizeof(cfg2) - 1, "6.1.0");
	CHECK_STR(v, "6.1.0 SMP ");
	free(v);
}

/* content | sig | module_signature | magic */
static size_t make_signed(unsigned char *buf, size_t content, size_t siglen, const unsigned char ms[12])
{
	size_t n = 0;

	memset(buf, 'c', content);
	n += content;
	memset(buf + n, 's', siglen);
	n += siglen;
	memcpy(buf + n, ms, 12);
	n += 12;
	memcpy(buf + n, KMI_MODSIG_MAGIC, strlen(KMI_MODSIG_MAGIC));
	return n + strlen(KMI_MODSIG_MAGIC);
}

static void test_modsig(void)
{
	unsigned char buf[512];
	unsigned char ms[12] = { 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 100 };
	struct kmi_modsig s;
	size_t n;

	memset(buf, 'x', 64);
	CHECK(kmi_modsig_parse(buf, 64, &s) == 0 && !s.present && s.content_len == 64);
	CHECK(kmi_modsig_parse(buf, 0, &s) == 0 && !s.present);

	n = make_signed(buf, 50, 100, ms);
	CHECK(kmi_modsig_parse(buf, n, &s) == 1);
	CHECK(s.present && s.problem == NULL && s.content_len == 50 && s.sig_off == 50 &&
	      s.sig_len == 100 && s.id_type == 2);

	/* sig_len reaching the start of the file (the kernel: >= file_len - 12) */
	n = make_signed(buf, 0, 100, ms);
	CHECK(kmi_modsig_parse(buf, n, &s) == -EBADMSG && s.problem != NULL);
	ms[11] = 0xff;
	ms[10] = 0xff;
	n = make_signed(buf, 50, 100, ms);
	CHECK(kmi_modsig_parse(buf, n, &s) == -EBADMSG);
	ms[10] = 0;
	ms[11] = 100;

	ms[2] = 1; /* X.509 id type: not PKCS#7 */
	n = make_signed(buf, 50, 100, ms);
	CHECK(kmi_modsig_parse(buf, n, &s) == -EBADMSG);
	CHECK_STR(s.problem, "not signed with a PKCS#7 message");
	CHECK(s.kernel_err == -ENOPKG);
	ms[2] = 2;
	ms[5] = 1; /* padding must be zero */
	n = make_signed(buf, 50, 100, ms);
	CHECK(kmi_modsig_parse(buf, n, &s) == -EBADMSG);
	CHECK_STR(s.problem, "PKCS#7 signature info has unexpected non-zero params");
	CHECK(s.kernel_err == -EBADMSG);

	/* only the magic, no room for the struct */
	memcpy(buf, KMI_MODSIG_MAGIC, strlen(KMI_MODSIG_MAGIC));
	CHECK(kmi_modsig_parse(buf, strlen(KMI_MODSIG_MAGIC) + 4, &s) == 0);
	CHECK(kmi_modsig_parse(buf, strlen(KMI_MODSIG_MAGIC), &s) == -EBADMSG);
	CHECK_STR(s.problem, "signature trailer is truncated");
}

static void test_pkcs7_garbage(void)
{
	struct kmi_sig_summary sum = { 0 };
	const unsigned char junk[] = { 0x30, 0x82, 0x01, 0x00, 0x06 };

	CHECK(kmi_modsig_pkcs7_info(junk, sizeof(junk), &sum) == -EBADMSG);
	CHECK(sum.signer == NULL && sum.key_id == NULL);
}

static void test_report_strdup(void)
{
	char *s = kmi_report_strdup("ok\x1b[31m\xff");
	CHECK_STR(s, "ok?[31m?");
	free(s);
}

/* The JSON schema of kmodimg-verify(1), exactly: CI parses it. */
static void test_report_json(void)
{
	struct kmi_report r = { 0 };
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	r.image = strdup("oci:img:v1");
	r.kver = strdup("6.1.0-56-amd64");
	r.moddir = strdup("/opt/lib/modules/6.1.0-56-amd64");
	r.mods = calloc(1, sizeof(*r.mods));
	r.n_mods = r.cap_mods = 1;
	r.mods[0].name = strdup("kmodimg_b");
	r.mods[0].path = strdup("extra/kmodimg_b.ko");
	r.mods[0].sig.verified = -1;
	kmi_report_add(&r, KMI_SEV_ERROR, "modversions", "kmodimg_b", "ev", NULL,
		       "disagrees about version of symbol %s", "x");
	kmi_report_add(&r, KMI_SEV_INFO, "symbols", NULL, NULL, "fix", "not checked");
	CHECK(kmi_report_count(&r, KMI_SEV_ERROR) == 1);
	CHECK(kmi_report_print_json(&r, f) == 0);
	fclose(f);
	CHECK_STR(out, "{\n"
		       "  \"schema\": 1,\n"
		       "  \"image\": \"oci:img:v1\",\n"
		       "  \"kernel\": \"6.1.0-56-amd64\",\n"
		       "  \"module_dir\": \"/opt/lib/modules/6.1.0-56-amd64\",\n"
		       "  \"target_vermagic\": null,\n"
		       "  \"verdict\": \"fail\",\n"
		       "  \"counts\": {\n"
		       "    \"errors\": 1,\n"
		       "    \"warnings\": 0,\n"
		       "    \"info\": 1\n"
		       "  },\n"
		       "  \"modules\": [\n"
		       "    {\n"
		       "      \"name\": \"kmodimg_b\",\n"
		       "      \"path\": \"extra/kmodimg_b.ko\",\n"
		       "      \"vermagic\": null,\n"
		       "      \"signature\": {\n"
		       "        \"signed\": false\n"
		       "      }\n"
		       "    }\n"
		       "  ],\n"
		       "  \"findings\": [\n"
		       "    {\n"
		       "      \"severity\": \"error\",\n"
		       "      \"check\": \"modversions\",\n"
		       "      \"module\": \"kmodimg_b\",\n"
		       "      \"message\": \"disagrees about version of symbol x\",\n"
		       "      \"evidence\": \"ev\",\n"
		       "      \"fix\": null\n"
		       "    },\n"
		       "    {\n"
		       "      \"severity\": \"info\",\n"
		       "      \"check\": \"symbols\",\n"
		       "      \"module\": null,\n"
		       "      \"message\": \"not checked\",\n"
		       "      \"evidence\": null,\n"
		       "      \"fix\": \"fix\"\n"
		       "    }\n"
		       "  ]\n"
		       "}\n");
	free(out);
	kmi_report_free(&r);
}

int main(void)
{
	RUN(test_symvers_good);
	RUN(test_symvers_no_modversions);
	RUN(test_symvers_errors);
	RUN(test_vermagic);
	RUN(test_vermagic_from_config);
	RUN(test_modsig);
	RUN(test_pkcs7_garbage);
	RUN(test_report_strdup);
	RUN(test_report_json);
	CHECK_EXIT();
}
