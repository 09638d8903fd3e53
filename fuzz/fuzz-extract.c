// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target: the extractor on one layer's bytes (gzip, zstd or plain
 * tar, as found), into a temp dir that is removed after each run.  Besides
 * the sanitizers, it checks what the extractor promises: a sentinel file
 * beside DEST never changes, nothing else appears beside DEST, and a failed
 * run leaves DEST absent (or, when it was an empty directory, empty).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/extract.h"
#include "util/fs.h"
#include "util/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[] = "/tmp/kmodimg-fuzz-extract.XXXXXX";
static char *dest, *sentinel;
static int memfd = -1;

static void cleanup(void)
{
	kmi_rm_rf(base);
}

static void setup(void)
{
	int fd;

	if (mkdtemp(base) == NULL)
		abort();
	dest = xasprintf("%s/dest", base);
	sentinel = xasprintf("%s/sentinel", base);
	fd = open(sentinel, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "sentinel\n", 9) != 9)
		abort();
	close(fd);
	memfd = memfd_create("layer", MFD_CLOEXEC);
	if (memfd < 0)
		abort();
	atexit(cleanup);
}

/* base must hold the sentinel, unchanged, and DEST only if `dest_ok`. */
static void check_base(int dest_ok)
{
	DIR *d = opendir(base);
	struct dirent *de;
	struct stat st;
	char buf[16] = "";
	int fd;

	if (d == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "sentinel") == 0 || (dest_ok && strcmp(de->d_name, "dest") == 0))
			continue;
		fprintf(stderr, "left beside DEST: %s\n", de->d_name);
		abort();
	}
	closedir(d);
	fd = open(sentinel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    read(fd, buf, sizeof(buf)) != 9 || memcmp(buf, "sentinel\n", 9) != 0)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmi_extract_limits lim;
	struct kmi_extract_layer layer = { .digest = "sha256:fuzz" };
	struct kmi_error *err = NULL;
	bool into_empty = size & 1;
	int r;

	if (memfd < 0)
		setup();
	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size ||
	    lseek(memfd, 0, SEEK_SET) != 0)
		abort();
	kmi_extract_limits_default(&lim);
	lim.max_entries = 4096;
	lim.max_total_size = 16u << 20;
	lim.max_file_size = 4u << 20;
	layer.fd = memfd;
	if (into_empty && mkdir(dest, 0755) < 0)
		abort();
	r = kmi_extract_fds(&layer, 1, dest, &lim, &err);
	if ((r < 0) != (err != NULL))
		abort();
	kmi_error_free(&err);
	if (r < 0 && into_empty) {
		DIR *d = opendir(dest);
		struct dirent *de;
		if (d == NULL)
			abort();
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				abort();
		}
		closedir(d);
	}
	if (r < 0 && !into_empty && access(dest, F_OK) == 0)
		abort();
	check_base(r == 0 || into_empty);
	if (kmi_rm_rf(dest) < 0)
		abort();
	return 0;
}
