// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * registry-driver: the registry client (lib/registry) from the command line,
 * for tests/integration/registry-client.sh.  Not a unit test: it needs a
 * running registry.
 *
 *   registry-driver [OPTIONS] CMD HOST REPO ARGS...
 *
 *   head-manifest REF              prints the digest
 *   get-manifest REF OUT           writes the manifest, prints media type and digest
 *   put-manifest REF MEDIATYPE FILE
 *   blob-exists DIGEST             exit 0 present, 1 absent
 *   push-blob DIGEST FILE
 *   get-blob DIGEST SIZE OUT
 *   mount DIGEST FROMREPO          prints "mounted" or "upload-required"
 *
 * Exit: 0 success, 1 not found (KMI_ENOTFOUND), 2 any other error (message
 * on stderr, prefixed with the error's kind).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"
#include "util/macro.h"

enum {
	OPT_INSECURE = 1000,
	OPT_SKIP_VERIFY,
	OPT_CERT_DIR,
	OPT_CREDS,
	OPT_AUTHFILE,
	OPT_PULL_SECRET,
	OPT_RETRIES,
	OPT_QUIET,
	OPT_VERBOSE,
};

static const struct option longopts[] = {
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "skip-verify", no_argument, NULL, OPT_SKIP_VERIFY },
	{ "cert-dir", required_argument, NULL, OPT_CERT_DIR },
	{ "creds", required_argument, NULL, OPT_CREDS },
	{ "authfile", required_argument, NULL, OPT_AUTHFILE },
	{ "pull-secret", required_argument, NULL, OPT_PULL_SECRET },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ NULL, 0, NULL, 0 },
};

static _noreturn_ void usage(void)
{
	fprintf(stderr,
		"usage: registry-driver [--insecure] [--skip-verify] [--cert-dir D] [--creds U:P]\n"
		"       [--authfile F] [--pull-secret F] [--retries N] [--quiet] [--verbose]\n"
		"       CMD HOST REPO ARGS...\n"
		"CMD: head-manifest REF | get-manifest REF OUT | put-manifest REF MEDIATYPE FILE |\n"
		"     blob-exists DIGEST | push-blob DIGEST FILE | get-blob DIGEST SIZE OUT |\n"
		"     mount DIGEST FROMREPO\n");
	exit(2);
}

static const char *kind(int code)
{
	switch (code) {
	case KMI_ENOTFOUND:
		return "not found";
	case KMI_EAUTH:
		return "auth";
	case KMI_ETLS:
		return "tls";
	case KMI_ENET:
		return "net";
	case KMI_EPROTO:
		return "proto";
	case KMI_EDIGEST:
		return "digest";
	case KMI_EFORMAT:
		return "format";
	case KMI_EUSAGE:
		return "usage";
	default:
		return "system";
	}
}

static int read_all(const char *path, struct kmi_buf *b, struct kmi_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char chunk[65536];
	ssize_t n;

	if (fd < 0)
		return kmi_error_set(err, errno, "open `%s`", path);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		kmi_buf_put(b, chunk, (size_t)n);
	if (n < 0)
		return kmi_error_set(err, errno, "read `%s`", path);
	return 0;
}

static int write_all(const char *path, const void *data, size_t len, struct kmi_error **err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return kmi_error_set(err, errno, "open `%s`", path);
	if (len > 0 && write(fd, data, len) != (ssize_t)len)
		return kmi_error_set(err, errno, "write `%s`", path);
	return 0;
}

static int run(struct kmi_registry *r, const char *cmd, const char *repo, int argc, char **argv,
	       struct kmi_error **err)
{
	int rc;

	if (strcmp(cmd, "head-manifest") == 0 && argc == 1) {
		char digest[KMI_DIGEST_LEN];
		if ((rc = kmi_registry_head_manifest(r, repo, argv[0], digest, err)) == 0)
			printf("%s\n", digest);
		return rc;
	}
	if (strcmp(cmd, "get-manifest") == 0 && argc == 2) {
		struct kmi_manifest_data m;
		if ((rc = kmi_registry_get_manifest(r, repo, argv[0], &m, err)) < 0)
			return rc;
		rc = write_all(argv[1], m.data, m.len, err);
		if (rc == 0)
			printf("%s %s\n", m.media_type, m.digest);
		free(m.data);
		return rc;
	}
	if (strcmp(cmd, "put-manifest") == 0 && argc == 3) {
		struct kmi_buf b = { 0 };
		if ((rc = read_all(argv[2], &b, err)) == 0)
			rc = kmi_registry_put_manifest(r, repo, argv[0], argv[1], b.data, b.len, err);
		kmi_buf_free(&b);
		return rc;
	}
	if (strcmp(cmd, "blob-exists") == 0 && argc == 1) {
		rc = kmi_registry_blob_exists(r, repo, argv[0], err);
		if (rc == 0)
			return kmi_error_set(err, KMI_ENOTFOUND, "blob %s absent", argv[0]);
		return rc < 0 ? rc : 0;
	}
	if (strcmp(cmd, "push-blob") == 0 && argc == 2) {
		_cleanup_close_ int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0)
			return kmi_error_set(err, errno, "open `%s`", argv[1]);
		return kmi_registry_push_blob(r, repo, argv[0], (uint64_t)st.st_size, fd, err);
	}
	if (strcmp(cmd, "get-blob") == 0 && argc == 3) {
		char *end;
		uint64_t size = strtoull(argv[1], &end, 10);
		_cleanup_close_ int fd = -1;
		if (*argv[1] == '\0' || *end != '\0')
			return kmi_error_set(err, KMI_EUSAGE, "bad size `%s`", argv[1]);
		fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return kmi_error_set(err, errno, "open `%s`", argv[2]);
		return kmi_registry_get_blob(r, repo, argv[0], size, fd, err);
	}
	if (strcmp(cmd, "mount") == 0 && argc == 2) {
		if ((rc = kmi_registry_mount_blob(r, repo, argv[0], argv[1], err)) >= 0)
			printf("%s\n", rc == 1 ? "mounted" : "upload-required");
		return rc < 0 ? rc : 0;
	}
	usage();
}

int main(int argc, char **argv)
{
	struct kmi_registry_opts opts = { 0 };
	struct kmi_registry *r = NULL;
	struct kmi_error *err = NULL;
	int c, rc;

	kmi_log_set_prefix("registry-driver");
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_INSECURE:
			opts.insecure = true;
			break;
		case OPT_SKIP_VERIFY:
			opts.insecure_skip_tls_verify = true;
			break;
		case OPT_CERT_DIR:
			opts.cert_dir = optarg;
			break;
		case OPT_CREDS:
			opts.creds = optarg;
			break;
		case OPT_AUTHFILE:
			opts.authfile = optarg;
			break;
		case OPT_PULL_SECRET:
			opts.pull_secret = optarg;
			break;
		case OPT_RETRIES:
			opts.retries = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case OPT_QUIET:
			opts.quiet = true;
			break;
		case OPT_VERBOSE:
			kmi_log_set_level(KMI_LOG_DEBUG);
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 3)
		usage();
	rc = kmi_registry_open(argv[optind + 1], &opts, &r, &err);
	if (rc == 0)
		rc = run(r, argv[optind], argv[optind + 2], argc - optind - 3, argv + optind + 3, &err);
	kmi_registry_close(r);
	if (rc < 0) {
		int code = kmi_error_code(err);
		fprintf(stderr, "registry-driver: %s error: %s\n", kind(code),
			err ? err->msg : "unknown");
		kmi_error_free(&err);
		return code == KMI_ENOTFOUND ? 1 : 2;
	}
	return 0;
}
