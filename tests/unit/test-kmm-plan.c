// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Plan cases from KMM's kernel mapper tests (internal/module/kernelmapper_test.go,
 * buildargoverrider_test.go, replaceStrings_test.go), one YAML file each under
 * tests/kmm/plan/.  Validation is not applied: some of KMM's cases exercise
 * the merge with objects the CRD would refuse (a Sign with no keySecret).
 * "# expect: JSON" lists fields the kernel's plan must have (objects as subsets,
 * other values exactly);
 * "# expect-error: TEXT" wants the plan to fail with TEXT in the message.
 */
#include <jansson.h>

#include "check.h"
#include "kmm-data.h"
#include "kmm/kmm.h"
#include "kmm/output.h"
#include "util/buf.h"
#include "util/fs.h"

static const char *header(char *data, const char *key)
{
	size_t kl = strlen(key);

	for (char *line = data; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, key, kl) == 0)
			return line + kl;
	return NULL;
}

static char *header_dup(char *data, const char *key)
{
	const char *v = header(data, key);

	return v ? strndup(v, strcspn(v, "\n")) : NULL;
}

/* Objects in the expectation are subsets (recursively); anything else must be equal. */
static bool compare(const char *name, json_t *actual, json_t *expect)
{
	const char *k;
	json_t *v;
	bool ok = true;

	json_object_foreach(expect, k, v) {
		json_t *a = json_object_get(actual, k);

		if (json_is_object(v) && json_is_object(a) && json_object_size(v) > 0) {
			ok &= compare(name, a, v);
			continue;
		}
		if (a == NULL || !json_equal(a, v)) {
			char *as = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
			char *es = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			fprintf(stderr, "%s: %s is %s, want %s\n", name, k, as ? as : "(absent)", es);
			free(as);
			free(es);
			ok = false;
		}
	}
	return ok;
}

static void check_case(const char *dir, const char *name)
{
	struct kmi_buf b = { 0 };
	struct kmm_diags d = { 0 }, pd = { 0 };
	struct kmm_set set;
	struct kmm_plan p;
	char *path, *kernel, *expect, *experr;
	int r;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	CHECK(kmi_read_file(path, 1 << 20, &b) == 0);
	kmi_buf_putc(&b, '\0');
	kernel = header_dup(b.data, "# kernel: ");
	expect = header_dup(b.data, "# expect: ");
	experr = header_dup(b.data, "# expect-error: ");
	kmm_set_init(&set);
	kmm_load_buffer(&set, name, b.data, b.len - 1, &d);
	CHECK(set.nmodules == 1 && kernel != NULL);
	if (set.nmodules == 1 && kernel != NULL) {
		r = kmm_plan(set.modules[0], kernel, &p, &pd);
		if (experr != NULL) {
			bool found = r < 0 && pd.n > 0 && strstr(pd.msgs[0], experr) != NULL;

			if (!found)
				fprintf(stderr, "%s: want an error with \"%s\", got %d %s\n", name, experr,
					r, pd.n ? pd.msgs[0] : "");
			CHECK(found);
		} else {
			json_error_t je;
			json_t *e = json_loads(expect ? expect : "{}", 0, &je), *a;

			CHECK(r == 0 && e != NULL);
			if (r < 0)
				fprintf(stderr, "%s: plan failed: %s\n", name, pd.n ? pd.msgs[0] : "");
			a = r == 0 ? kmm_plan_to_json(&p) : NULL;
			CHECK(a != NULL && compare(name, a, e));
			json_decref(a);
			json_decref(e);
		}
		kmm_plan_free(&p);
	}
	kmm_diags_free(&pd);
	kmm_diags_free(&d);
	kmm_set_free(&set);
	kmi_buf_free(&b);
	free(kernel);
	free(expect);
	free(experr);
	free(path);
}

static void test_plan_cases(void)
{
	CHECK(kmm_data_each_yaml("plan", check_case) >= 30);
}

int main(void)
{
	RUN(test_plan_cases);
	CHECK_EXIT();
}
