// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench/layer-driver: writes a layer of a directory tree with
 * kmi_layer_write(), for bench/layer.sh (not installed, not a test).
 *
 *   layer-driver [-c gzip|zstd|none] [-l LEVEL] [-j THREADS] [-o OUT] DIR NAME
 *
 * The layer holds DIR/NAME and everything below it, as "NAME/...", like
 * `tar c -C DIR NAME`.  Prints "digest diff_id size" on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/layer.h"
#include "util/buf.h"
#include "util/xalloc.h"

static struct kmi_layer_entry *entries;
static size_t nentries, cap;
static struct kmi_arena arena;
static size_t root_len; /* of "DIR/" */

static int add(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	struct kmi_layer_entry *e;
	char target[4096];
	ssize_t n;

	if (nentries == cap) {
		cap = cap ? 2 * cap : 1024;
		entries = xreallocarray(entries, cap, sizeof(*entries));
	}
	e = &entries[nentries];
	*e = (struct kmi_layer_entry){ .path = kmi_arena_strdup(&arena, path + root_len),
				       .mode = st->st_mode & 07777 };
	switch (flag) {
	case FTW_D:
		e->type = KMI_ENTRY_DIR;
		break;
	case FTW_SL:
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0) {
			fprintf(stderr, "readlink %s: %s\n", path, strerror(errno));
			return -1;
		}
		target[n] = '\0';
		e->type = KMI_ENTRY_SYMLINK;
		e->target = kmi_arena_strdup(&arena, target);
		break;
	case FTW_F:
		if (!S_ISREG(st->st_mode))
			return 0; /* no devices or fifos in a module tree */
		e->type = KMI_ENTRY_FILE;
		e->source = kmi_arena_strdup(&arena, path);
		break;
	default:
		fprintf(stderr, "cannot read %s\n", path);
		return -1;
	}
	nentries++;
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: layer-driver [-c gzip|zstd|none] [-l LEVEL] [-j THREADS] "
			"[-o OUT] DIR NAME\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct kmi_layer_opts opts = { .compression = KMI_COMPRESS_GZIP };
	struct kmi_layer_result res;
	struct kmi_error *err = NULL;
	const char *out = "/dev/null";
	char *top;
	int c, fd;

	while ((c = getopt(argc, argv, "c:l:j:o:")) != -1) {
		switch (c) {
		case 'c':
			if (strcmp(optarg, "gzip") == 0)
				opts.compression = KMI_COMPRESS_GZIP;
			else if (strcmp(optarg, "zstd") == 0)
				opts.compression = KMI_COMPRESS_ZSTD;
			else if (strcmp(optarg, "none") == 0)
				opts.compression = KMI_COMPRESS_NONE;
			else
				return usage();
			break;
		case 'l':
			opts.level = atoi(optarg);
			break;
		case 'j':
			opts.threads = (unsigned)atoi(optarg);
			break;
		case 'o':
			out = optarg;
			break;
		default:
			return usage();
		}
	}
	if (argc - optind != 2)
		return usage();

	root_len = strlen(argv[optind]) + 1;
	top = xasprintf("%s/%s", argv[optind], argv[optind + 1]);
	if (nftw(top, add, 64, FTW_PHYS) != 0) {
		fprintf(stderr, "walking %s failed\n", top);
		return 1;
	}
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", out, strerror(errno));
		return 1;
	}
	if (kmi_layer_write(entries, nentries, &opts, fd, &res, &err) < 0) {
		fprintf(stderr, "layer-driver: %s\n", err->msg);
		kmi_error_free(&err);
		return 1;
	}
	if (close(fd) < 0) {
		fprintf(stderr, "close %s: %s\n", out, strerror(errno));
		return 1;
	}
	printf("%s %s %llu\n", res.digest, res.diff_id, (unsigned long long)res.size);
	free(top);
	free(entries);
	kmi_arena_free(&arena);
	return 0;
}
