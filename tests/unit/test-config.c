// SPDX-License-Identifier: LGPL-2.1-or-later
#include "check.h"
#include "depmod/config.h"

static int streq_path(const struct kmi_cfg_search *s, const char *path)
{
	return s->type == KMI_SEARCH_PATH && strcmp(s->path, path) == 0;
}

static int streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static void parse(struct kmi_depmod_cfg *cfg, const char *text)
{
	kmi_depmod_cfg_parse(cfg, "test.conf", text, strlen(text));
}

/* "search A B built-in" is stored reversed, as kmod prepends. */
static void test_search(void)
{
	struct kmi_depmod_cfg cfg = { .kver = "6.1.0-56-amd64" };

	const struct kmi_cfg_search *s;

	parse(&cfg, "# comment\nsearch updates extra built-in\n\nsearch host\n");
	s = cfg.searches;
	CHECK(s && streq_path(s, "host"));
	s = s ? s->next : NULL;
	CHECK(s && s->type == KMI_SEARCH_BUILTIN);
	s = s ? s->next : NULL;
	CHECK(s && streq_path(s, "extra"));
	s = s ? s->next : NULL;
	CHECK(s && streq_path(s, "updates") && s->next == NULL);
	kmi_depmod_cfg_free(&cfg);
}

static void test_override_external_exclude(void)
{
	struct kmi_depmod_cfg cfg = { .kver = "6.1.0-56-amd64" };

	parse(&cfg, "override vfat 6\\.1.* extra\n"
		    "override fat ^5\\..* updates\n"
		    "override ext4 * weird\n"
		    "external * /opt/ext\n"
		    "exclude host debug\n"
		    "override broken\n"
		    "bogus line\n");
	CHECK(cfg.overrides != NULL);
	CHECK_STR(cfg.overrides->path, "weird/ext4");
	CHECK(cfg.overrides->next && streq(cfg.overrides->next->path, "extra/vfat"));
	CHECK(cfg.overrides->next->next == NULL); /* fat's kernel pattern did not match */
	CHECK(cfg.externals && streq(cfg.externals->path, "/opt/ext"));
	CHECK(kmi_depmod_cfg_excluded(&cfg, "host"));
	CHECK(kmi_depmod_cfg_excluded(&cfg, "debug"));
	CHECK(kmi_depmod_cfg_excluded(&cfg, "build"));
	CHECK(kmi_depmod_cfg_excluded(&cfg, ".."));
	CHECK(!kmi_depmod_cfg_excluded(&cfg, "kernel"));
	kmi_depmod_cfg_free(&cfg);
}

/* A backslash-newline joins lines, as kmod's reader does. */
static void test_continuation(void)
{
	struct kmi_depmod_cfg cfg = { .kver = "6.1.0" };

	parse(&cfg, "exclude one \\\ntwo");
	CHECK(kmi_depmod_cfg_excluded(&cfg, "one"));
	CHECK(kmi_depmod_cfg_excluded(&cfg, "two"));
	kmi_depmod_cfg_free(&cfg);
}

/* Stacked repetitions cost glibc's regex exponential memory: refused (fuzz finding). */
static void test_hostile_pattern(void)
{
	struct kmi_depmod_cfg cfg = { .kver = "6.1.0-56-amd64" };

	parse(&cfg, "override a 6.++++++++++++++++* x\noverride b (6.*)* y\noverride c 6\\.1.* z\n");
	CHECK(cfg.overrides != NULL && streq(cfg.overrides->path, "z/c"));
	CHECK(cfg.overrides != NULL && cfg.overrides->next == NULL);
	kmi_depmod_cfg_free(&cfg);
}

int main(void)
{
	RUN(test_search);
	RUN(test_override_external_exclude);
	RUN(test_continuation);
	RUN(test_hostile_pattern);
	CHECK_EXIT();
}
