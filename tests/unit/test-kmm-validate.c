// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Validation cases from KMM's webhook tests (internal/webhook/module_test.go)
 * and the CRD's structural rules, one YAML file each under tests/kmm/validate/.
 * A file's "# expect:" lines list substrings that must each appear in one
 * error message ("ok": no error at all; "@count N": exactly N errors).
 */

#include "check.h"
#include "kmm-data.h"
#include "kmm/kmm.h"
#include "util/buf.h"
#include "util/fs.h"

static bool has_error(const struct kmm_diags *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->msgs[i], ": error: ") && strstr(d->msgs[i], needle))
			return true;
	return false;
}

static void check_case(const char *dir, const char *name)
{
	struct kmi_buf b = { 0 };
	struct kmm_diags d = { 0 };
	struct kmm_set set;
	char *path, *line, *save = NULL;
	bool failed = false;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	CHECK(kmi_read_file(path, 1 << 20, &b) == 0);
	kmi_buf_putc(&b, '\0');
	kmm_set_init(&set);
	kmm_load_buffer(&set, name, b.data, b.len - 1, &d);
	kmm_validate(&set, &d);
	for (line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *e;

		if (strncmp(line, "# expect: ", 10) != 0)
			continue;
		e = line + 10;
		if (strcmp(e, "ok") == 0)
			failed |= d.nerrors != 0;
		else if (strncmp(e, "@count ", 7) == 0)
			failed |= d.nerrors != (size_t)atoi(e + 7);
		else if (!has_error(&d, e)) {
			fprintf(stderr, "%s: no error contains \"%s\"\n", name, e);
			failed = true;
		}
	}
	if (failed) {
		fprintf(stderr, "%s: %zu errors:\n", name, d.nerrors);
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "    %s\n", d.msgs[i]);
	}
	CHECK(!failed);
	kmm_diags_free(&d);
	kmm_set_free(&set);
	kmi_buf_free(&b);
	free(path);
}

static void test_validate_cases(void)
{
	CHECK(kmm_data_each_yaml("validate", check_case) >= 50);
}

/* A scalar over the limit is refused with a message, not kept. */
static void test_huge_scalar(void)
{
	size_t n = 2u << 20;
	char *doc = malloc(n + 16);
	struct kmm_diags d = { 0 };
	struct kmm_set set;

	memcpy(doc, "a: ", 3);
	memset(doc + 3, 'x', n);
	memcpy(doc + 3 + n, "\n", 2);
	kmm_set_init(&set);
	kmm_load_buffer(&set, "huge.yaml", doc, n + 4, &d);
	CHECK(d.nerrors == 1 && strstr(d.msgs[0], "huge.yaml:1:4: error: invalid YAML: scalar too long"));
	kmm_diags_free(&d);
	kmm_set_free(&set);
	free(doc);
}

int main(void)
{
	RUN(test_validate_cases);
	RUN(test_huge_scalar);
	CHECK_EXIT();
}
