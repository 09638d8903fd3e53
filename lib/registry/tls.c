// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TLS material for a registry host, as containers/image finds it in a
 * certs.d directory: every *.crt is a CA certificate (all of them are added,
 * concatenated into one PEM bundle, since curl takes a single CA file), and
 * a *.cert with the *.key of the same name is the client certificate.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry-internal.h"
#include "util/macro.h"
#include "util/xalloc.h"

#define CERT_MAX (1u << 20)

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && strcmp(s + n - m, suffix) == 0;
}

static int append_file(const char *path, struct kmi_buf *out, struct kmi_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t done = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		return kmi_error_set(err, errno, "reading CA certificate `%s`", path);
	if (!S_ISREG(st.st_mode) || st.st_size > CERT_MAX)
		return kmi_error_set(err, KMI_ETLS, "CA certificate `%s` is not a regular file under 1 MiB",
				     path);
	kmi_buf_reserve(out, (size_t)st.st_size + 1);
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, out->data + out->len, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kmi_error_set(err, errno, "reading CA certificate `%s`", path);
		if (n == 0)
			break;
		out->len += (size_t)n;
		done += (size_t)n;
	}
	kmi_buf_putc(out, '\n');
	return 0;
}

static int filter_visible(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int load_dir(const char *dir, struct kmi_buf *ca, struct kmi_http_tls *out,
		    struct kmi_error **err)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, filter_visible, alphasort);
	int r = 0;

	if (n < 0)
		return errno == ENOENT ? 0 : kmi_error_set(err, errno, "reading cert dir `%s`", dir);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);

		if (r < 0)
			continue;
		if (has_suffix(name, ".crt")) {
			r = append_file(path, ca, err);
		} else if (has_suffix(name, ".cert") && out->client_cert == NULL) {
			_cleanup_free_ char *key = xasprintf("%s/%.*s.key", dir,
							     (int)(strlen(name) - 5), name);
			if (access(key, R_OK) != 0) {
				r = kmi_error_set(err, KMI_ETLS,
						  "client certificate `%s` has no key `%s`", path, key);
				continue;
			}
			out->client_cert = TAKE_PTR(path);
			out->client_key = TAKE_PTR(key);
		}
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

int kmi_tls_load_dirs(const char *const *dirs, size_t ndirs, bool verify,
		      struct kmi_http_tls *out, struct kmi_error **err)
{
	struct kmi_buf ca = { 0 };

	memset(out, 0, sizeof(*out));
	out->verify = verify;
	for (size_t i = 0; i < ndirs; i++) {
		int r = load_dir(dirs[i], &ca, out, err);
		if (r < 0) {
			kmi_buf_free(&ca);
			kmi_tls_free(out);
			return r;
		}
	}
	if (ca.len > 0) {
		out->ca = ca.data;
		out->ca_len = ca.len;
	}
	return 0;
}

int kmi_tls_load(const char *host, const struct kmi_registry_opts *opts,
		 struct kmi_http_tls *out, struct kmi_error **err)
{
	_cleanup_free_ char *sys1 = xasprintf("/etc/containers/certs.d/%s", host);
	_cleanup_free_ char *sys2 = xasprintf("/etc/docker/certs.d/%s", host);
	const char *dirs[3];
	size_t n = 0;

	if (opts->cert_dir != NULL) {
		struct stat st;
		if (stat(opts->cert_dir, &st) < 0 || !S_ISDIR(st.st_mode))
			return kmi_error_set(err, KMI_EUSAGE, "cert dir `%s` is not a directory",
					     opts->cert_dir);
		dirs[n++] = opts->cert_dir;
	}
	dirs[n++] = sys1;
	dirs[n++] = sys2;
	return kmi_tls_load_dirs(dirs, n, !opts->insecure_skip_tls_verify, out, err);
}

void kmi_tls_free(struct kmi_http_tls *t)
{
	free(t->ca);
	free(t->client_cert);
	free(t->client_key);
	t->ca = t->client_cert = t->client_key = NULL;
	t->ca_len = 0;
}
