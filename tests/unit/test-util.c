// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/strmap.h"
#include "util/xalloc.h"

/* Values computed with kmod's own shared/hash.c: the order of depmod's outputs hangs on them. */
static void test_superfast(void)
{
	static const struct {
		const char *key;
		uint32_t hash;
	} v[] = {
		{ "", 0x00000000u },           { "a", 0x115ea782u },
		{ "ab", 0x516b8b44u },         { "abc", 0xd2be198au },
		{ "abcd", 0xdad8b8dbu },       { "vfat", 0x2c7f74a9u },
		{ "fat", 0x8a668e00u },        { "kmodimg_a", 0xb15445d8u },
		{ "snd_hda_intel", 0x6e4028a1u }, { "\xe9t\xe9", 0x69bdf30du },
		{ "x\xff\xfe", 0xd18a1078u },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK(kmi_hash_superfast(v[i].key, strlen(v[i].key)) == v[i].hash);
}

static void test_strmap(void)
{
	struct kmi_strmap m;
	char keys[3000][16];

	kmi_strmap_init(&m, 4);
	for (int i = 0; i < 3000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "key%d", i);
		CHECK(kmi_strmap_put(&m, keys[i], keys[i]) == NULL);
	}
	CHECK(m.count == 3000);
	for (int i = 0; i < 3000; i += 2)
		kmi_strmap_del(&m, keys[i]);
	CHECK(m.count == 1500);
	for (int i = 0; i < 3000; i++)
		CHECK(kmi_strmap_get(&m, keys[i]) == (i % 2 ? keys[i] : NULL));
	CHECK(kmi_strmap_put(&m, "key1", "other") == keys[1]);
	CHECK_STR(kmi_strmap_get(&m, "key1"), "other");
	kmi_strmap_free(&m);
}

static void test_buf(void)
{
	struct kmi_buf b = { 0 };
	struct kmi_arena a = { 0 };
	char big[100000];

	for (int i = 0; i < 1000; i++)
		kmi_buf_printf(&b, "%d,", i);
	CHECK(b.len == 3890);
	CHECK(memcmp(b.data, "0,1,2,", 6) == 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(strlen(kmi_arena_strdup(&a, big)) == sizeof(big) - 1);
	CHECK_STR(kmi_arena_strndup(&a, "abcdef", 3), "abc");
	kmi_arena_free(&a);
	kmi_buf_free(&b);
}

/* top/rel in a static buffer */
static const char *at(const char *top, const char *rel)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s/%s", top, rel);
	return buf;
}

/* kmi_rm_rf_at: symlinks are removed, never followed; read-only directories emptied too. */
static void test_rm_rf(void)
{
	char *top = kmi_tmp_template("kmodimg-test-rm");
	char outside[4200];
	struct kmi_buf names = { 0 };
	int fd;

	CHECK(mkdtemp(top) != NULL);
	CHECK(mkdir(at(top, "outside"), 0755) == 0);
	close(open(at(top, "outside/keep"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	snprintf(outside, sizeof(outside), "%s", at(top, "outside"));
	CHECK(mkdir(at(top, "tree"), 0755) == 0);
	CHECK(mkdir(at(top, "tree/ro"), 0755) == 0);
	close(open(at(top, "tree/ro/file"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	CHECK(symlink(outside, at(top, "tree/ro/abs")) == 0);
	CHECK(symlink("../outside", at(top, "tree/rel")) == 0);
	CHECK(chmod(at(top, "tree/ro"), 0555) == 0);

	fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(kmi_list_dir(fd, &names) == 2);
	CHECK(kmi_rm_rf_at(fd, "tree") == 0);
	CHECK(faccessat(fd, "tree", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	CHECK(faccessat(fd, "outside/keep", F_OK, 0) == 0);
	CHECK(kmi_rm_rf_at(fd, "nothing") == 0);
	close(fd);
	CHECK(kmi_rm_rf(top) == 0);
	CHECK(access(top, F_OK) < 0);
	kmi_buf_free(&names);
	free(top);
}

/*
 * A bind mount of a directory of the same file system below the tree (same
 * st_dev): the removal must not go into it.  In a child with a mount
 * namespace of its own, so that nothing is left mounted; skipped where no
 * namespace can be had (not root, no user namespaces).
 */
static int rm_rf_bind_child(const char *top)
{
	char outside[4200];

	if (unshare(CLONE_NEWNS) < 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return 77;
	snprintf(outside, sizeof(outside), "%s", at(top, "outside"));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(outside, at(top, "tree/bm"), NULL, MS_BIND, NULL) < 0)
		return 77;
	if (kmi_rm_rf(at(top, "tree")) != -EXDEV)
		return 1;
	return access(at(top, "outside/keep"), F_OK) == 0 ? 0 : 2;
}

static void test_rm_rf_bind_mount(void)
{
	char *top = kmi_tmp_template("kmodimg-test-rmbind");
	int status = -1;
	pid_t pid;

	CHECK(mkdtemp(top) != NULL);
	CHECK(mkdir(at(top, "outside"), 0755) == 0);
	close(open(at(top, "outside/keep"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
	CHECK(mkdir(at(top, "tree"), 0755) == 0);
	CHECK(mkdir(at(top, "tree/bm"), 0755) == 0);
	pid = fork();
	if (pid == 0)
		_exit(rm_rf_bind_child(top));
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		fprintf(stderr, "  (bind mount case skipped: no mount namespace here)\n");
	else
		CHECK(WEXITSTATUS(status) == 0);
	CHECK(access(at(top, "outside/keep"), F_OK) == 0);
	CHECK(kmi_rm_rf(top) == 0);
	free(top);
}

int main(void)
{
	RUN(test_superfast);
	RUN(test_strmap);
	RUN(test_buf);
	RUN(test_rm_rf);
	RUN(test_rm_rf_bind_mount);
	CHECK_EXIT();
}
