// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ModuleConfig parsing against KMM's own test data
 * (internal/worker/testdata/config.yaml) and the argv KMM's worker_test.go
 * expects, plus the strictness UnmarshalStrict gives.
 */
#include <string.h>

#include "check.h"
#include "worker/kmm.h"
#include "worker/modconfig.h"

static const char kmm_testdata[] =
	"containerImage: registry.local/org/img:tag\n"
	"insecurePull: true\n"
	"inTreeModulesToRemove: [intree1, intree2]\n"
	"modprobe:\n"
	"  moduleName: test\n"
	"  parameters: [key0=value0, key1=value1]\n"
	"  dirName: /path\n"
	"  args:    {load: [load, args],    unload: [unload, args]}\n"
	"  rawArgs: {load: [load, rawargs], unload: [unload, rawargs]}\n"
	"  firmwarePath: /some/path\n"
	"  modulesLoadingOrder: [mod1, mod2]\n";

static int parse(const char *yaml, struct kmi_modconfig *c, char **msg)
{
	struct kmi_error *err = NULL;
	int r = kmi_modconfig_parse(yaml, strlen(yaml), "config.yaml", c, &err);

	*msg = NULL;
	if (r < 0) {
		*msg = strdup(err->msg);
		kmi_error_free(&err);
	}
	return r;
}

static char *joined(char **v, size_t n)
{
	static char buf[512];

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strcat(buf, i ? " " : "");
		strcat(buf, v[i]);
	}
	return buf;
}

static void free_argv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void test_kmm_testdata(void)
{
	struct kmi_modconfig c;
	char *msg;

	CHECK(parse(kmm_testdata, &c, &msg) == 0);
	CHECK_STR(c.container_image, "registry.local/org/img:tag");
	CHECK(c.insecure_pull);
	CHECK(c.in_tree_modules_to_remove.n == 2);
	CHECK_STR(c.in_tree_modules_to_remove.v[1], "intree2");
	CHECK_STR(c.modprobe.module_name, "test");
	CHECK_STR(c.modprobe.dir_name, "/path");
	CHECK_STR(c.modprobe.firmware_path, "/some/path");
	CHECK(c.modprobe.args.set && c.modprobe.raw_args.set);
	CHECK_STR(c.modprobe.raw_args.unload.v[1], "rawargs");
	CHECK(c.modprobe.modules_loading_order.n == 2);
	kmi_modconfig_free(&c);
}

/* worker_test.go: rawArgs verbatim; args after -vd DIR; unload uses the order list. */
static void test_argv(void)
{
	struct kmi_modconfig c;
	char **v, *msg;
	size_t n;

	CHECK(parse(kmm_testdata, &c, &msg) == 0);
	v = kmi_kmm_modprobe_argv(&c, "/tmp", true, &n);
	CHECK_STR(joined(v, n), "load rawargs");
	free_argv(v, n);
	kmi_strv_free(&c.modprobe.raw_args.load);
	kmi_strv_free(&c.modprobe.raw_args.unload);
	c.modprobe.raw_args.set = false;
	v = kmi_kmm_modprobe_argv(&c, "/tmp", true, &n);
	CHECK_STR(joined(v, n), "-vd /tmp/path load args test key0=value0 key1=value1");
	free_argv(v, n);
	v = kmi_kmm_modprobe_argv(&c, "/tmp", false, &n);
	CHECK_STR(joined(v, n), "-rvd /tmp/path unload args mod1 mod2");
	free_argv(v, n);
	kmi_strv_free(&c.modprobe.modules_loading_order);
	v = kmi_kmm_modprobe_argv(&c, "/tmp", false, &n);
	CHECK_STR(joined(v, n), "-rvd /tmp/path unload args test");
	free_argv(v, n);
	c.modprobe.args.set = false;
	CHECK(kmi_kmm_modprobe_argv(&c, "/tmp", true, &n) == NULL);
	kmi_modconfig_free(&c);
}

static void test_in_tree_single(void)
{
	struct kmi_modconfig c;
	const char *const *names;
	size_t n;
	char *msg;

	CHECK(parse("inTreeModuleToRemove: dummy\nmodprobe: {moduleName: a}\n", &c, &msg) == 0);
	kmi_modconfig_in_tree(&c, &names, &n);
	CHECK(n == 1 && strcmp(names[0], "dummy") == 0);
	kmi_modconfig_free(&c);
	/* The list wins when both are given, even empty (Go: non-nil slice). */
	CHECK(parse("inTreeModuleToRemove: dummy\ninTreeModulesToRemove: []\n", &c, &msg) == 0);
	kmi_modconfig_in_tree(&c, &names, &n);
	CHECK(n == 0);
	kmi_modconfig_free(&c);
}

static void test_nulls(void)
{
	struct kmi_modconfig c;
	char *msg;

	CHECK(parse("kernelVersion: null\nmodprobe:\n  args: ~\n  parameters:\n  moduleName: \"null\"\n",
		    &c, &msg) == 0);
	CHECK(c.kernel_version == NULL);
	CHECK(!c.modprobe.args.set);
	CHECK(!c.modprobe.parameters.set);
	CHECK_STR(c.modprobe.module_name, "null");
	kmi_modconfig_free(&c);
}

struct bad {
	const char *yaml;
	const char *msg;
};

static void test_strict(void)
{
	static const struct bad cases[] = {
		{ "modprobe:\n  moduleName: x\n  bogus: 1\n", "config.yaml:3:3: unknown field `bogus` in modprobe" },
		{ "containerimage: x\n", "config.yaml:1:1: unknown field `containerimage` in the config" },
		{ "modprobe:\n  args: {load: [a], reload: [b]}\n", "config.yaml:2:21: unknown field `reload` in args" },
		{ "kernelVersion: a\nkernelVersion: b\n", "config.yaml:2:1: `kernelVersion` given twice" },
		{ "insecurePull: yes\n", "config.yaml:1:15: `insecurePull`: want true or false" },
		{ "insecurePull: \"true\"\n", "want true or false" },
		{ "modprobe:\n  parameters: a=1\n", "config.yaml:2:15: `parameters`: want a list of strings, got a scalar" },
		{ "modprobe:\n  parameters: [[a]]\n", "`parameters`: want a string, got a list" },
		{ "modprobe: [a]\n", "`modprobe`: want a mapping, got a list" },
		{ "- a\n", "`the config`: want a mapping" },
		{ "", "empty config" },
		{ "a: [\n", "config.yaml:2:1:" },
		{ "kernelVersion: a\n---\nkernelVersion: b\n", "a second YAML document" },
		{ "? [a]\n: b\n", "a key must be a string" },
		{ "kernelVersion: \"a\\0b\"\n", "NUL byte" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kmi_modconfig c;
		char *msg;

		if (parse(cases[i].yaml, &c, &msg) == 0) {
			fprintf(stderr, "case %zu accepted: %s\n", i, cases[i].yaml);
			check_failures++;
			kmi_modconfig_free(&c);
			continue;
		}
		if (strstr(msg, cases[i].msg) == NULL) {
			fprintf(stderr, "case %zu: got \"%s\", want \"%s\"\n", i, msg, cases[i].msg);
			check_failures++;
		}
		free(msg);
	}
}

/* Aliases are references to one node: repeated use costs nothing. */
static void test_aliases(void)
{
	struct kmi_modconfig c;
	char *msg;

	CHECK(parse("inTreeModulesToRemove: &l [a, b]\nmodprobe:\n  modulesLoadingOrder: *l\n", &c,
		    &msg) == 0);
	CHECK(c.modprobe.modules_loading_order.n == 2);
	kmi_modconfig_free(&c);
}

int main(void)
{
	RUN(test_kmm_testdata);
	RUN(test_argv);
	RUN(test_in_tree_single);
	RUN(test_nulls);
	RUN(test_strict);
	RUN(test_aliases);
	CHECK_EXIT();
}
