// SPDX-License-Identifier: LGPL-2.1-or-later
/* KMM's build argument rule and the buildah command line of `build --dockerfile`. */
#include <stdlib.h>
#include <unistd.h>

#include "build/dockerfile.h"
#include "check.h"
#include "util/fs.h"

static size_t count(char **v)
{
	size_t n = 0;
	while (v[n])
		n++;
	return n;
}

/* KMM's common_test.go case: a user arg first, then the overrides appended sorted. */
static void test_args_appended_sorted(void)
{
	const char *user[] = { "name1=value1", NULL };
	struct kmi_dockerfile_opts o = { .kver = "1.2.3+4", .module_name = "m", .module_namespace = "ns",
					 .build_args = user };
	char **a = kmi_kmm_build_args(&o);

	CHECK(count(a) == 5);
	CHECK_STR(a[0], "name1=value1");
	CHECK_STR(a[1], "KERNEL_FULL_VERSION=1.2.3+4");
	CHECK_STR(a[2], "KERNEL_VERSION=1.2.3+4");
	CHECK_STR(a[3], "MOD_NAME=m");
	CHECK_STR(a[4], "MOD_NAMESPACE=ns");
	kmi_argv_free(a);
}

/* A user arg with KMM's name is replaced where it stands (every occurrence); order kept. */
static void test_args_override_in_place(void)
{
	const char *user[] = { "MOD_NAME=mine", "A=1", "KERNEL_VERSION=x", "B=", "MOD_NAME=again",
			       "KERNEL_VERSIONX=y", NULL };
	struct kmi_dockerfile_opts o = { .kver = "6.1.0-56-amd64", .module_name = "kmm",
					 .module_namespace = "ns", .build_args = user };
	char **a = kmi_kmm_build_args(&o);
	const char *want[] = { "MOD_NAME=kmm", "A=1", "KERNEL_VERSION=6.1.0-56-amd64", "B=", "MOD_NAME=kmm",
			       "KERNEL_VERSIONX=y", "KERNEL_FULL_VERSION=6.1.0-56-amd64",
			       "MOD_NAMESPACE=ns" };

	CHECK(count(a) == sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]) && a[i]; i++)
		CHECK_STR(a[i], want[i]);
	kmi_argv_free(a);
}

static void test_args_none(void)
{
	struct kmi_dockerfile_opts o = { .kver = "k" };
	char **a = kmi_kmm_build_args(&o);

	CHECK(count(a) == 4);
	CHECK_STR(a[2], "MOD_NAME=");
	kmi_argv_free(a);
}

static bool has(char **v, const char *s)
{
	for (size_t i = 0; v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static size_t index_of(char **v, const char *s)
{
	for (size_t i = 0; v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return i;
	return (size_t)-1;
}

static void test_argv(void)
{
	const char *user[] = { "X=1", NULL };
	const char *secrets[] = { "repo-secret=/nonexistent/sec", NULL };
	struct kmi_dockerfile_opts o = { .dockerfile = "/nonexistent/ctx/Dockerfile", .kver = "k",
					 .module_name = "m", .module_namespace = "n", .build_args = user,
					 .secrets = secrets, .host_modules = "/nonexistent/mods",
					 .prefix = "/opt", .base_insecure = true };
	char **v = kmi_dockerfile_argv(&o, "/w", "/w/oci");
	size_t n = count(v);

	CHECK_STR(v[0], "buildah");
	CHECK(has(v, "--root=/w/storage") && has(v, "--runroot=/w/run") && has(v, "--storage-driver=vfs"));
	CHECK(index_of(v, "--storage-driver=vfs") < index_of(v, "build"));
	CHECK(has(v, "--isolation=chroot"));
	CHECK(has(v, "--file=/nonexistent/ctx/Dockerfile"));
	CHECK(has(v, "--tls-verify=false"));
	CHECK(has(v, "--volume=/nonexistent/mods:/host/lib/modules:ro"));
	CHECK(has(v, "--volume=/nonexistent/sec:/run/secrets/repo-secret:ro"));
	CHECK(index_of(v, "--build-arg=X=1") < index_of(v, "--build-arg=KERNEL_FULL_VERSION=k"));
	CHECK(index_of(v, "--build-arg=MOD_NAME=m") < index_of(v, "--build-arg=MOD_NAMESPACE=n"));
	CHECK(has(v, "--tag=oci:/w/oci:" KMI_DOCKERFILE_TAG));
	/* the context last: the Dockerfile's directory by default */
	CHECK_STR(v[n - 1], "/nonexistent/ctx");
	kmi_argv_free(v);

	o.base_insecure = false;
	o.context = "/nonexistent/other";
	v = kmi_dockerfile_argv(&o, "/w", "/w/oci");
	CHECK(!has(v, "--tls-verify=false"));
	CHECK_STR(v[count(v) - 1], "/nonexistent/other");
	kmi_argv_free(v);
}

static void test_check_opts(void)
{
	char *dir = kmi_tmp_template("test-dockerfile");
	struct kmi_error *err = NULL;
	const char *bad_arg[] = { "NOVALUE", NULL }, *bad_sec[] = { "a/b=/tmp", NULL };
	const char *colon_sec[] = { "s=/tmp/a:b", NULL }, *twice[] = { "s=/tmp", "s=/tmp", NULL };

	CHECK(mkdtemp(dir) != NULL);
	char *df = malloc(strlen(dir) + 20);
	sprintf(df, "%s/Dockerfile", dir);
	FILE *f = fopen(df, "w");
	CHECK(f != NULL);
	fputs("FROM scratch\n", f);
	fclose(f);

	struct kmi_dockerfile_opts o = { .dockerfile = df, .kver = "k", .prefix = "/opt",
					 .host_modules = dir };
	CHECK(kmi_dockerfile_check_opts(&o, &err) == 0);
	o.build_args = bad_arg;
	CHECK(kmi_dockerfile_check_opts(&o, &err) < 0 && kmi_error_code(err) == KMI_EUSAGE);
	CHECK(err && strstr(err->msg, "NOVALUE"));
	kmi_error_free(&err);
	o.build_args = NULL;
	o.secrets = bad_sec;
	CHECK(kmi_dockerfile_check_opts(&o, &err) < 0 && kmi_error_code(err) == KMI_EUSAGE);
	kmi_error_free(&err);
	o.secrets = colon_sec;
	CHECK(kmi_dockerfile_check_opts(&o, &err) < 0);
	kmi_error_free(&err);
	o.secrets = twice;
	CHECK(kmi_dockerfile_check_opts(&o, &err) < 0 && err && strstr(err->msg, "twice"));
	kmi_error_free(&err);
	o.secrets = NULL;
	o.kver = "../x";
	CHECK(kmi_dockerfile_check_opts(&o, &err) < 0);
	kmi_error_free(&err);
	o.kver = "k";
	o.dockerfile = dir;
	CHECK(kmi_dockerfile_check_opts(&o, &err) < 0 && err && strstr(err->msg, "regular file"));
	kmi_error_free(&err);

	unlink(df);
	rmdir(dir);
	free(df);
	free(dir);
}

int main(void)
{
	RUN(test_args_appended_sorted);
	RUN(test_args_override_in_place);
	RUN(test_args_none);
	RUN(test_argv);
	RUN(test_check_opts);
	CHECK_EXIT();
}
