/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/digest.h"
#include "util/error.h"

/*
 * A client of one registry host speaking the OCI Distribution API as
 * docker-registry 2.8 and others implement it, over libcurl.
 *
 * Errors carry codes from util/error.h: KMI_ENOTFOUND only when the registry
 * said so (404 / MANIFEST_UNKNOWN / BLOB_UNKNOWN), KMI_EAUTH for 401/403 or
 * missing credentials, KMI_ETLS, KMI_ENET, KMI_EPROTO, KMI_EDIGEST.  Messages
 * name the URL and quote the registry's own error text.
 */
struct kmi_registry_opts {
	bool insecure;                 /* plain HTTP allowed (KMM registryTLS.insecure) */
	bool insecure_skip_tls_verify; /* KMM registryTLS.insecureSkipTLSVerify */
	const char *cert_dir;          /* ca.crt / *.crt, client.cert + client.key */
	const char *creds;             /* USER:PASS */
	const char *authfile;          /* docker config.json or containers auth.json */
	const char *pull_secret;       /* Kubernetes Secret (dockerconfigjson or dockercfg), YAML or JSON */
	bool quiet;                    /* no progress bar on a terminal */
	unsigned retries;              /* transient failures; 0 means the default (4) */
};

struct kmi_registry;

/* Size limit for manifests and configs read from a registry. */
#define KMI_MANIFEST_MAX (4u << 20)

struct kmi_manifest_data {
	char *data; /* malloc'ed, not NUL-terminated */
	size_t len;
	char media_type[128];
	char digest[KMI_DIGEST_LEN]; /* sha256 of data, checked against the reference if by digest */
};

/* host is "host[:port]"; nothing is sent until the first call. */
int kmi_registry_open(const char *host, const struct kmi_registry_opts *opts,
		      struct kmi_registry **out, struct kmi_error **err);
void kmi_registry_close(struct kmi_registry *r);

/*
 * Settles now what the first request would: the scheme (ping) and, for a
 * token registry, the token for repo (pull, or pull+push).  repo may be NULL.
 * Lets a caller open the connection while it does other work.
 */
int kmi_registry_connect(struct kmi_registry *r, const char *repo, bool push,
			 struct kmi_error **err);
/*
 * Another client of the same registry for another thread: its own
 * connections, a copy of r's scheme and tokens (so connect r first), no
 * progress bar.  Close it with kmi_registry_close().
 */
int kmi_registry_clone(const struct kmi_registry *r, struct kmi_registry **out,
		       struct kmi_error **err);

/*
 * How many times a transient failure is retried from now on (0: never);
 * returns the previous count.  A caller trying something optional sets 0,
 * so that a failure costs no waiting and prints no warnings.
 */
unsigned kmi_registry_set_retries(struct kmi_registry *r, unsigned retries);
/*
 * Makes the requests of r and of its clones, in flight or to come, fail
 * soon with ECANCELED, quietly: for a caller that gives up on the work
 * another thread does with r (e.g. kmi_registry_connect() during a build
 * that failed).  Safe to call from any thread.
 */
void kmi_registry_cancel(struct kmi_registry *r);

/* ref is a tag or "sha256:..."; accepts OCI and Docker manifests and indexes. */
int kmi_registry_get_manifest(struct kmi_registry *r, const char *repo, const char *ref,
			      struct kmi_manifest_data *out, struct kmi_error **err);
/* 0 if present (digest filled when the registry sends one), negative with KMI_ENOTFOUND if absent. */
int kmi_registry_head_manifest(struct kmi_registry *r, const char *repo, const char *ref,
			       char digest[KMI_DIGEST_LEN], struct kmi_error **err);
int kmi_registry_put_manifest(struct kmi_registry *r, const char *repo, const char *ref,
			      const char *media_type, const void *data, size_t len,
			      struct kmi_error **err);

/* 1 present, 0 absent, negative on error. */
int kmi_registry_blob_exists(struct kmi_registry *r, const char *repo, const char *digest,
			     struct kmi_error **err);
/* Cross-repository mount: 1 mounted, 0 the registry wants an upload instead. */
int kmi_registry_mount_blob(struct kmi_registry *r, const char *repo, const char *digest,
			    const char *from_repo, struct kmi_error **err);
/* Uploads size bytes read from fd at offset 0 (POST+PUT, PATCH chunks when large). */
int kmi_registry_push_blob(struct kmi_registry *r, const char *repo, const char *digest,
			   uint64_t size, int fd, struct kmi_error **err);
/*
 * Opens an upload session (the POST) ahead of knowing what goes in it, so
 * that its round trip overlaps other work; *location (malloc'ed) is handed
 * to kmi_registry_push_blob_at() or to kmi_registry_cancel_upload().
 */
int kmi_registry_start_upload(struct kmi_registry *r, const char *repo, char **location,
			      struct kmi_error **err);
/*
 * kmi_registry_connect() for a push, which may open the first upload session
 * on the way (*location, else NULL): with `insecure` and a port, that POST
 * also finds whether the registry speaks plain http, instead of a ping.
 * Without `authenticate`, only that POST is tried, and only a registry that
 * wants no credentials gives a session: for a clone made before r was
 * connected, whose POST goes out beside r's (one token request, not two).
 */
int kmi_registry_connect_upload(struct kmi_registry *r, const char *repo, bool authenticate,
				char **location, struct kmi_error **err);
/* Whether kmi_registry_connect_upload() would ask with a POST (not connected yet). */
bool kmi_registry_can_probe(const struct kmi_registry *r);
/* As kmi_registry_push_blob(), through a session from kmi_registry_start_upload() (taken). */
int kmi_registry_push_blob_at(struct kmi_registry *r, const char *repo, const char *digest,
			      uint64_t size, int fd, char *location, struct kmi_error **err);
/* Ends an unused session (best effort). */
void kmi_registry_cancel_upload(struct kmi_registry *r, const char *repo, const char *location);
/*
 * Downloads a blob into out_fd (truncated and rewritten on a retry), checking
 * its size and digest; a mismatch is KMI_EDIGEST and the caller must discard
 * what was written.
 */
int kmi_registry_get_blob(struct kmi_registry *r, const char *repo, const char *digest,
			  uint64_t size, int out_fd, struct kmi_error **err);
