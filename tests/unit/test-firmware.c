// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Firmware copy and removal as KMM's worker does them (worker_test.go:
 * merge into the host dir, symlinks kept as symlinks, only files removed),
 * the firmware class path written only when it differs (a fake sysfs root
 * through $KMODIMG_SYSFS), and a host-side symlink never written through.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "worker/worker.h"

static char top[] = "/tmp/kmodimg-test-firmware.XXXXXX";

static void put(const char *rel, const char *content)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", top, rel);
	_cleanup_free_ char *dir = xstrdup(p);
	FILE *f;

	*strrchr(dir, '/') = '\0';
	kmi_mkdir_p(dir, 0755);
	f = fopen(p, "w");
	if (f == NULL) {
		perror(p);
		exit(1);
	}
	fputs(content, f);
	fclose(f);
}

static char *get(const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", top, rel);
	struct kmi_buf b = { 0 };

	if (kmi_read_file(p, 4096, &b) < 0)
		return NULL;
	kmi_buf_putc(&b, '\0');
	return b.data;
}

static bool exists(const char *rel)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", top, rel);
	struct stat st;

	return lstat(p, &st) == 0;
}

static char *path(const char *rel)
{
	return xasprintf("%s/%s", top, rel);
}

static void check_content(const char *rel, const char *want)
{
	_cleanup_free_ char *got = get(rel);

	CHECK_STR(got, want);
}

static void test_copy_and_remove(void)
{
	_cleanup_free_ char *src = path("img/lib/firmware"), *dst = path("host/fw");
	_cleanup_free_ char *link = path("img/lib/firmware/acme/current.bin");
	_cleanup_free_ char *mode = path("host/fw/acme/blob.bin");
	struct kmi_error *err = NULL;
	struct stat st;
	char target[64] = { 0 };

	put("img/lib/firmware/acme/blob.bin", "new blob");
	put("img/lib/firmware/acme/sub/deep.bin", "deep");
	put("img/lib/firmware/top.bin", "top");
	CHECK(symlink("blob.bin", link) == 0);
	put("host/fw/acme/blob.bin", "old blob");
	put("host/fw/other/keep.bin", "keep");

	CHECK(kmi_firmware_copy(src, dst, &err) == 0);
	check_content("host/fw/acme/blob.bin", "new blob");
	check_content("host/fw/acme/sub/deep.bin", "deep");
	check_content("host/fw/top.bin", "top");
	check_content("host/fw/other/keep.bin", "keep");
	_cleanup_free_ char *copied = path("host/fw/acme/current.bin");
	CHECK(readlink(copied, target, sizeof(target) - 1) > 0);
	CHECK_STR(target, "blob.bin");
	CHECK(stat(mode, &st) == 0 && (st.st_mode & 0777) == 0644);
	/* Copying twice is fine (the pod restarts). */
	CHECK(kmi_firmware_copy(src, dst, &err) == 0);

	CHECK(kmi_firmware_remove(src, dst, &err) == 0);
	CHECK(!exists("host/fw/acme/blob.bin"));
	CHECK(!exists("host/fw/acme/current.bin"));
	CHECK(!exists("host/fw/acme/sub/deep.bin"));
	CHECK(!exists("host/fw/top.bin"));
	CHECK(exists("host/fw/acme/sub")); /* directories stay, as KMM leaves them */
	check_content("host/fw/other/keep.bin", "keep");
	/* Removing again, or from a host dir that is gone, is not an error. */
	CHECK(kmi_firmware_remove(src, dst, &err) == 0);
	CHECK(kmi_firmware_remove(src, "/nonexistent/kmodimg-fw", &err) == 0);
	if (err != NULL) {
		fprintf(stderr, "%s\n", err->msg);
		kmi_error_free(&err);
	}
}

/* A host symlink where the image has a directory is not written through. */
static void test_host_symlink(void)
{
	_cleanup_free_ char *src = path("img2/fw"), *dst = path("host2/fw");
	_cleanup_free_ char *outside = path("outside"), *link = path("host2/fw/vendor");
	struct kmi_error *err = NULL;

	put("img2/fw/vendor/x.bin", "x");
	kmi_mkdir_p(outside, 0755);
	kmi_mkdir_p(dst, 0755);
	CHECK(symlink(outside, link) == 0);
	CHECK(kmi_firmware_copy(src, dst, &err) < 0);
	CHECK(err != NULL && strstr(err->msg, "vendor") != NULL);
	kmi_error_free(&err);
	CHECK(!exists("outside/x.bin"));
}

static void test_class_path(void)
{
	_cleanup_free_ char *sys = path("sys");
	_cleanup_free_ char *param = path("sys/module/firmware_class/parameters/path");
	struct kmi_error *err = NULL;
	struct stat st1, st2;
	char *big;

	setenv("KMODIMG_SYSFS", sys, 1);
	/* Missing parameter: a clear error. */
	CHECK(kmi_firmware_class_path("/var/lib/firmware", &err) < 0);
	CHECK(err != NULL && strstr(err->msg, "firmware_class") != NULL);
	kmi_error_free(&err);

	put("sys/module/firmware_class/parameters/path", "\n");
	CHECK(kmi_firmware_class_path("/var/lib/firmware", &err) == 0);
	check_content("sys/module/firmware_class/parameters/path", "/var/lib/firmware");
	/* Same value (sysfs shows it with a newline): not written again. */
	put("sys/module/firmware_class/parameters/path", "/var/lib/firmware\n");
	CHECK(stat(param, &st1) == 0);
	chmod(param, 0444);
	CHECK(kmi_firmware_class_path("/var/lib/firmware", &err) == 0);
	CHECK(stat(param, &st2) == 0 && st1.st_mtime == st2.st_mtime);
	chmod(param, 0644);
	/* Over the kernel's 255 bytes. */
	big = xcalloc(300, 1);
	memset(big, 'a', 299);
	big[0] = '/';
	CHECK(kmi_firmware_class_path(big, &err) < 0);
	kmi_error_free(&err);
	free(big);
	unsetenv("KMODIMG_SYSFS");
}

static void test_source(void)
{
	_cleanup_free_ char *root = path("img3"), *got = NULL, *want = NULL;

	CHECK(kmi_firmware_source(root, "/opt") == NULL);
	put("img3/lib/firmware/a.bin", "a");
	got = kmi_firmware_source(root, "/opt");
	want = path("img3/lib/firmware");
	CHECK_STR(got, want);
	free(got);
	free(want);
	put("img3/opt/lib/firmware/a.bin", "a");
	got = kmi_firmware_source(root, "/opt");
	want = path("img3/opt/lib/firmware");
	CHECK_STR(got, want);
}

int main(void)
{
	if (mkdtemp(top) == NULL)
		return 1;
	RUN(test_copy_and_remove);
	RUN(test_host_symlink);
	RUN(test_class_path);
	RUN(test_source);
	kmi_rm_rf(top);
	CHECK_EXIT();
}
