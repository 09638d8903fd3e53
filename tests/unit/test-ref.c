// SPDX-License-Identifier: LGPL-2.1-or-later
#include "check.h"
#include "oci/ref.h"

static void test_store(void)
{
	struct kmi_ref r;
	struct kmi_error *err = NULL;

	CHECK(kmi_ref_parse("mymod", &r, &err) == 0);
	CHECK(r.kind == KMI_REF_STORE && r.host == NULL);
	CHECK_STR(r.name, "mymod:latest");
	kmi_ref_free(&r);

	CHECK(kmi_ref_parse("127.0.0.1:5000/kmod/foo:6.1.0-56-amd64", &r, &err) == 0);
	CHECK_STR(r.host, "127.0.0.1:5000");
	CHECK_STR(r.repo, "kmod/foo");
	CHECK_STR(r.tag, "6.1.0-56-amd64");
	CHECK_STR(r.name, "127.0.0.1:5000/kmod/foo:6.1.0-56-amd64");
	kmi_ref_free(&r);

	CHECK(kmi_ref_parse("localhost/a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			    &r, &err) == 0);
	CHECK_STR(r.host, "localhost");
	CHECK(r.tag == NULL && r.digest != NULL);
	kmi_ref_free(&r);
}

static void test_registry(void)
{
	struct kmi_ref r, to;
	struct kmi_error *err = NULL;
	char *s;

	CHECK(kmi_ref_parse("docker://registry.example.com/org/mod:v1", &r, &err) == 0);
	CHECK(r.kind == KMI_REF_REGISTRY);
	CHECK_STR(r.host, "registry.example.com");
	CHECK_STR(r.repo, "org/mod");
	CHECK_STR(kmi_ref_ident(&r), "v1");
	s = kmi_ref_format(&r);
	CHECK_STR(s, "docker://registry.example.com/org/mod:v1");
	free(s);
	kmi_ref_free(&r);

	/* a registry reference needs a host */
	CHECK(kmi_ref_parse("docker://mod:v1", &r, &err) < 0);
	CHECK(kmi_error_code(err) == KMI_EUSAGE);
	kmi_error_free(&err);

	CHECK(kmi_ref_parse("127.0.0.1:5000/x:1", &r, &err) == 0);
	CHECK(kmi_ref_store_to_registry(&r, &to, &err) == 0);
	s = kmi_ref_format(&to);
	CHECK_STR(s, "docker://127.0.0.1:5000/x:1");
	free(s);
	kmi_ref_free(&to);
	kmi_ref_free(&r);

	CHECK(kmi_ref_parse("x:1", &r, &err) == 0);
	CHECK(kmi_ref_store_to_registry(&r, &to, &err) < 0);
	kmi_error_free(&err);
	kmi_ref_free(&r);
}

static void test_layout(void)
{
	struct kmi_ref r;
	struct kmi_error *err = NULL;

	CHECK(kmi_ref_parse("oci:/tmp/dir:v1", &r, &err) == 0);
	CHECK(r.kind == KMI_REF_LAYOUT);
	CHECK_STR(r.dir, "/tmp/dir");
	CHECK_STR(r.tag, "v1");
	kmi_ref_free(&r);
	CHECK(kmi_ref_parse("oci:rel", &r, &err) == 0);
	CHECK(r.tag == NULL);
	kmi_ref_free(&r);
}

static void test_bad(void)
{
	static const char *const bad[] = {
		"", "UPPER/case:1", "a//b", "host.com/", "x:bad tag", "x@sha256:short",
		"oci:", "ftp://x/y", "docker:x", "x:", "/abs",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kmi_ref r;
		struct kmi_error *err = NULL;
		int rc = kmi_ref_parse(bad[i], &r, &err);
		CHECK(rc < 0);
		if (rc == 0)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(err != NULL && err->msg != NULL);
		kmi_error_free(&err);
	}
}

int main(void)
{
	RUN(test_store);
	RUN(test_registry);
	RUN(test_layout);
	RUN(test_bad);
	CHECK_EXIT();
}
