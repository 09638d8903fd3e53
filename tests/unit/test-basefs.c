// SPDX-License-Identifier: LGPL-2.1-or-later
#include "check.h"
#include "build/basefs.h"

static void link_(struct kmi_basefs *fs, const char *path, const char *target)
{
	kmi_strmap_put(&fs->links, kmi_arena_strdup(&fs->arena, path),
		       kmi_arena_strdup(&fs->arena, target));
}

static void expect(const struct kmi_basefs *fs, const char *path, bool whole, const char *want)
{
	char *got = kmi_basefs_resolve(fs, path, whole);

	if (want == NULL)
		CHECK(got == NULL);
	else
		CHECK_STR(got, want);
	free(got);
}

static void test_resolve(void)
{
	struct kmi_basefs fs = { 0 };

	kmi_strmap_init(&fs.links, 8);
	link_(&fs, "lib", "usr/lib");          /* merged /usr, relative */
	link_(&fs, "opt", "/var/opt");         /* absolute: from the root */
	link_(&fs, "usr/lib64", "../lib/x");   /* ".." inside the path */
	link_(&fs, "a", "../../../b");         /* ".." above the root stays there */
	link_(&fs, "loop1", "loop2");
	link_(&fs, "loop2", "loop1");
	link_(&fs, "c", "lib");                /* chain: c -> lib -> usr/lib */

	expect(&fs, "lib/firmware/x.bin", false, "usr/lib/firmware/x.bin");
	expect(&fs, "lib", false, "lib");      /* the last component is ours ... */
	expect(&fs, "lib", true, "usr/lib");   /* ... unless it is a directory */
	expect(&fs, "opt/lib/modules/k/a.ko", false, "var/opt/lib/modules/k/a.ko");
	expect(&fs, "usr/lib64/y", false, "usr/lib/x/y"); /* lib/x, then lib is a link */
	expect(&fs, "a/f", false, "b/f");
	expect(&fs, "c/f", false, "usr/lib/f");
	expect(&fs, "./lib//f", false, "usr/lib/f");
	expect(&fs, "etc/f", false, "etc/f");
	expect(&fs, "loop1/f", false, NULL);
	kmi_basefs_free(&fs);
}

int main(void)
{
	RUN(test_resolve);
	CHECK_EXIT();
}
