// SPDX-License-Identifier: LGPL-2.1-or-later
/* RE2 acceptance and matching, kernel strings, mapping order: the files in tests/kmm/. */
#include "check.h"
#include "kmm-data.h"
#include "kmm/kmm.h"

static void test_regex_cases(void)
{
	FILE *f = kmm_data_open("regex.txt");
	char line[512], *fl[3] = { 0 }, err[256];
	int n = 0;

	while (fgets(line, sizeof(line), f)) {
		struct kmm_regex *re;

		if (kmm_data_fields(line, fl, 3) != 3)
			continue;
		n++;
		kmm_unescape(fl[1]);
		re = kmm_regex_compile(fl[0], err, sizeof(err));
		if (strcmp(fl[2], "!reject") == 0) {
			if (re != NULL)
				fprintf(stderr, "pattern `%s` should be rejected as RE2 does\n", fl[0]);
			CHECK(re == NULL);
		} else if (re == NULL) {
			fprintf(stderr, "pattern `%s` rejected: %s\n", fl[0], err);
			CHECK(re != NULL);
		} else {
			int m = kmm_regex_match(re, fl[1], err, sizeof(err));

			if (m != atoi(fl[2]))
				fprintf(stderr, "`%s` on \"%s\": %d, want %s\n", fl[0], fl[1], m, fl[2]);
			CHECK(m == atoi(fl[2]));
		}
		kmm_regex_free(re);
	}
	fclose(f);
	CHECK(n > 40);
}

static void test_kernel_strings(void)
{
	FILE *f = kmm_data_open("kernel.txt");
	char line[512], *fl[4] = { 0 };

	while (fgets(line, sizeof(line), f)) {
		char *s;

		if (kmm_data_fields(line, fl, 4) != 4)
			continue;
		s = kmm_kernel_normalize(fl[0]);
		CHECK_STR(s, fl[1]);
		free(s);
		s = kmm_kernel_dns(fl[0]);
		CHECK_STR(s, fl[2]);
		free(s);
		s = kmm_kernel_trim(fl[0]);
		CHECK_STR(s, fl[3]);
		free(s);
	}
	fclose(f);
}

/* kernelmapper_test.go findKernelMapping, plus list order. */
static void test_find_mapping(void)
{
	struct kmm_mapping maps[3] = { 0 };
	struct kmm_module m = { .maps = maps, .nmaps = 1 };
	char err[256];

	for (int i = 0; i < 3; i++)
		maps[i].literal = maps[i].regexp = maps[i].image = maps[i].intree_one = "";
	maps[0].literal = "1.2.3";
	CHECK(kmm_find_mapping(&m, "1.2.3", err, sizeof(err)) == 0);
	maps[0].literal = "";
	maps[0].regexp = "1\\..*";
	CHECK(kmm_find_mapping(&m, "1.2.3", err, sizeof(err)) == 0);
	maps[0].regexp = "invalid)";
	CHECK(kmm_find_mapping(&m, "1.2.3", err, sizeof(err)) == -2);
	maps[0].regexp = "1.2.2";
	maps[1].regexp = "0\\..*";
	m.nmaps = 2;
	CHECK(kmm_find_mapping(&m, "1.2.3", err, sizeof(err)) == -1);
	/* first match wins, literal is exact */
	maps[0].regexp = "";
	maps[0].literal = "1.2";
	maps[1].regexp = "^1\\.2";
	maps[2].literal = "1.2.3";
	m.nmaps = 3;
	CHECK(kmm_find_mapping(&m, "1.2.3", err, sizeof(err)) == 1);
	CHECK(kmm_find_mapping(&m, "1.2", err, sizeof(err)) == 0);
}

int main(void)
{
	RUN(test_regex_cases);
	RUN(test_kernel_strings);
	RUN(test_find_mapping);
	CHECK_EXIT();
}
