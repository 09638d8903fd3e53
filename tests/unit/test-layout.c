// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "oci/image.h"
#include "oci/layout.h"
#include "util/fs.h"

static char dir[] = "/tmp/kmodimg-test-layout.XXXXXX";

static void test_blobs_and_tags(void)
{
	struct kmi_layout *l;
	struct kmi_error *err = NULL;
	struct kmi_descriptor d = { .media_type = KMI_MT_OCI_MANIFEST }, got, *list;
	char cfg[KMI_DIGEST_LEN], *data;
	size_t len, n;
	const char manifest_fmt[] = "{\"schemaVersion\":2,\"mediaType\":\"" KMI_MT_OCI_MANIFEST
				    "\",\"config\":{\"mediaType\":\"" KMI_MT_OCI_CONFIG
				    "\",\"digest\":\"%s\",\"size\":2},\"layers\":[]}";
	char manifest[512];

	CHECK(kmi_layout_open(dir, true, &l, &err) == 0);
	CHECK(kmi_layout_lock(l, true, &err) == 0);
	CHECK(kmi_layout_put_blob(l, "{}", 2, cfg, &err) == 0);
	CHECK(kmi_layout_has_blob(l, cfg));
	snprintf(manifest, sizeof(manifest), manifest_fmt, cfg);
	d.size = strlen(manifest);
	CHECK(kmi_layout_put_blob(l, manifest, d.size, d.digest, &err) == 0);
	CHECK(kmi_layout_tag(l, "a:1", &d, &err) == 0);
	CHECK(kmi_layout_tag(l, "b:2", &d, &err) == 0);
	CHECK(kmi_layout_tag(l, "a:1", &d, &err) == 0); /* retagging replaces */
	CHECK(kmi_layout_list(l, &list, &n, &err) == 0 && n == 2);
	kmi_descriptors_free(list, n);
	CHECK(kmi_layout_resolve(l, "b:2", &got, &err) == 0);
	CHECK_STR(got.digest, d.digest);
	free(got.ref_name);
	CHECK(kmi_layout_resolve(l, NULL, &got, &err) < 0); /* two images: name one */
	kmi_error_free(&err);
	CHECK(kmi_layout_resolve(l, "nope", &got, &err) < 0 && kmi_error_code(err) == KMI_ENOTFOUND);
	kmi_error_free(&err);

	/* gc keeps what a tag reaches, then drops it all */
	CHECK(kmi_layout_untag(l, "a:1", &err) == 0);
	CHECK(kmi_layout_gc(l, &err) == 0);
	CHECK(kmi_layout_has_blob(l, cfg));
	CHECK(kmi_layout_untag(l, "b:2", &err) == 0);
	CHECK(kmi_layout_gc(l, &err) == 2);
	CHECK(!kmi_layout_has_blob(l, cfg));
	CHECK(kmi_layout_untag(l, "b:2", &err) < 0);
	kmi_error_free(&err);

	/* a corrupt blob is refused by its digest */
	CHECK(kmi_layout_put_blob(l, "{}", 2, cfg, &err) == 0);
	{
		char *path = kmi_layout_blob_path(l, cfg);
		FILE *f = fopen(path, "w");
		fputs("{ }", f);
		fclose(f);
		free(path);
	}
	CHECK(kmi_layout_read_blob(l, cfg, 100, &data, &len, &err) < 0);
	CHECK(kmi_error_code(err) == KMI_EDIGEST);
	kmi_error_free(&err);
	kmi_layout_close(l);
}

/* A manifest gc cannot read keeps everything: it might need any blob. */
static void test_gc_keeps_all_when_unsure(void)
{
	struct kmi_layout *l;
	struct kmi_error *err = NULL;
	struct kmi_descriptor d = { .media_type = KMI_MT_OCI_MANIFEST, .size = 10 };
	char blob[KMI_DIGEST_LEN];

	CHECK(kmi_layout_open(dir, true, &l, &err) == 0);
	CHECK(kmi_layout_put_blob(l, "layer", 5, blob, &err) == 0);
	memcpy(d.digest, "sha256:", 7);
	memset(d.digest + 7, 'a', 64);
	d.digest[71] = '\0';
	CHECK(kmi_layout_tag(l, "broken:1", &d, &err) == 0);
	CHECK(kmi_layout_gc(l, &err) < 0);
	CHECK(err != NULL && strstr(err->msg, "nothing removed") != NULL);
	kmi_error_free(&err);
	CHECK(kmi_layout_has_blob(l, blob));
	CHECK(kmi_layout_untag(l, "broken:1", &err) == 0);
	CHECK(kmi_layout_gc(l, &err) >= 1); /* and the corrupt blob the test before left */
	CHECK(!kmi_layout_has_blob(l, blob));
	kmi_layout_close(l);
}

static void test_not_a_layout(void)
{
	struct kmi_layout *l;
	struct kmi_error *err = NULL;

	CHECK(kmi_layout_open("/nonexistent/kmodimg", false, &l, &err) < 0);
	CHECK(kmi_error_code(err) == KMI_ENOTFOUND);
	kmi_error_free(&err);
}

int main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	RUN(test_blobs_and_tags);
	RUN(test_gc_keeps_all_when_unsure);
	RUN(test_not_a_layout);
	kmi_rm_rf(dir);
	CHECK_EXIT();
}
