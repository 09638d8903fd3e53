// SPDX-License-Identifier: LGPL-2.1-or-later
/* a8m/envsubst semantics and KMM's kernel variables, from the files in tests/kmm/. */
#include "check.h"
#include "kmm-data.h"
#include "kmm/kmm.h"
#include "util/buf.h"

struct env_store {
	char *buf;
	struct kmm_env env;
};

static void set_env(struct env_store *e, const char *line)
{
	char *save = NULL;

	free(e->buf);
	e->buf = strdup(line);
	e->env.n = 0;
	for (char *t = strtok_r(e->buf, " ", &save); t && e->env.n < 8; t = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(t, '=');

		*eq = '\0';
		e->env.name[e->env.n] = t;
		e->env.value[e->env.n++] = eq + 1;
	}
}

static void test_envsubst_cases(void)
{
	FILE *f = kmm_data_open("envsubst.txt");
	struct env_store e = { 0 };
	char line[1024], *fl[3] = { 0 }, err[256];
	int ncases = 0;

	while (fgets(line, sizeof(line), f)) {
		int n;

		if (strncmp(line, "@env ", 5) == 0) {
			line[strcspn(line, "\n")] = '\0';
			set_env(&e, line + 5);
			continue;
		}
		n = kmm_data_fields(line, fl, 3);
		if (n < 2)
			continue;
		if (n == 2)
			fl[2] = "";
		kmm_unescape(fl[1]);
		kmm_unescape(fl[2]);
		char *r = kmm_envsubst(fl[1], &e.env, err, sizeof(err));

		ncases++;
		if (strcmp(fl[2], "!error") == 0) {
			if (r != NULL)
				fprintf(stderr, "case '%s': expected an error, got \"%s\"\n", fl[0], r);
			CHECK(r == NULL);
		} else {
			if (r == NULL || strcmp(r, fl[2]) != 0)
				fprintf(stderr, "case '%s': \"%s\" gave \"%s\", want \"%s\" (%s)\n", fl[0],
					fl[1], r ? r : "(error)", fl[2], r ? "" : err);
			CHECK(r != NULL && strcmp(r, fl[2]) == 0);
		}
		free(r);
	}
	free(e.buf);
	fclose(f);
	CHECK(ncases > 50);
}

static void test_kernel_env(void)
{
	FILE *f = kmm_data_open("kernel-env.txt");
	char line[512], *fl[2] = { 0 };

	while (fgets(line, sizeof(line), f)) {
		struct kmi_arena a = { 0 };
		struct kmm_env env;
		char got[256];
		int r;

		if (kmm_data_fields(line, fl, 2) != 2)
			continue;
		r = kmm_kernel_env(fl[0], &env, &a);
		if (strcmp(fl[1], "!error") == 0) {
			CHECK(r < 0);
		} else {
			CHECK(r == 0 && env.n == 6);
			if (r == 0) {
				snprintf(got, sizeof(got), "%s %s %s %s", env.value[2], env.value[3],
					 env.value[4], env.value[5]);
				CHECK_STR(got, fl[1]);
				CHECK_STR(env.name[0], "KERNEL_FULL_VERSION");
				CHECK_STR(env.value[0], fl[0]);
				CHECK_STR(env.value[1], fl[0]);
			}
		}
		kmi_arena_free(&a);
	}
	fclose(f);
}

int main(void)
{
	RUN(test_envsubst_cases);
	RUN(test_kernel_env);
	CHECK_EXIT();
}
