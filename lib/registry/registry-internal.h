/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Internals of the registry client, shared by its files and the unit tests:
 *
 *   http.c   one curl easy handle per registry: requests, the response
 *            headers the Distribution API needs, capped bodies, sinks,
 *            retries with backoff, progress
 *   tls.c    CA bundles and client certificates from cert dirs
 *   auth.c   WWW-Authenticate challenges, Basic, Bearer tokens per scope
 *   creds.c  credentials: USER:PASS, auth files, Kubernetes pull secrets
 *   yaml.c   YAML documents as jansson values (for pull secrets)
 *   registry.c  the API of registry.h
 */
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"
#include "util/buf.h"
#include "util/error.h"

/* ------------------------------------------------------------------ http.c */

struct kmi_http;

struct kmi_http_tls {
	bool verify;       /* peer and host name */
	char *ca;          /* extra CA certificates (PEM), or NULL */
	size_t ca_len;
	char *client_cert; /* PEM file paths, or NULL */
	char *client_key;
};

/* Where a 2xx response body goes when it is not kept in memory. */
struct kmi_http_sink {
	/* Called before every attempt: a retry starts from zero. */
	int (*reset)(void *ctx, struct kmi_error **err);
	int (*write)(void *ctx, const void *data, size_t len, struct kmi_error **err);
	void *ctx;
};

enum kmi_http_body {
	KMI_BODY_NONE,
	KMI_BODY_MEM, /* body, body_len */
	KMI_BODY_FD,  /* body_len bytes read with pread from body_fd at body_off */
};

struct kmi_http_req {
	const char *method; /* GET HEAD POST PUT PATCH DELETE */
	const char *url;
	const char *accept;
	const char *content_type;
	const char *content_range;
	enum kmi_http_body body_kind;
	const void *body;
	int body_fd;
	uint64_t body_off;
	uint64_t body_len;
	/* credentials for this request only: Basic user/pass, or a Bearer token */
	const char *user;
	const char *pass;
	const char *bearer;
	/* a 2xx body goes to sink if set, else to memory, at most max_body bytes */
	const struct kmi_http_sink *sink;
	size_t max_body;
	bool follow; /* redirects (credentials are never sent to another host) */
	bool retry;  /* transient failures and 5xx/429 are retried here */
	/* progress bar for a big transfer: base + this request's bytes of total */
	const char *progress_label;
	uint64_t progress_total;
	uint64_t progress_base;
};

struct kmi_http_resp {
	long status;
	struct kmi_buf body;      /* 2xx without a sink, or an error body (truncated) */
	char *content_type;
	char *location;
	char *digest;             /* Docker-Content-Digest */
	char *www_auth;           /* every WWW-Authenticate value, joined by ", " */
	long retry_after;         /* seconds, -1 when absent */
	int64_t content_length;   /* -1 when absent */
	bool transient;           /* the last failure was of a kind worth retrying */
};

/* retries: how many times a transient failure is retried; progress: draw bars on stderr. */
int kmi_http_new(const struct kmi_http_tls *tls, unsigned retries, bool progress,
		 struct kmi_http **out, struct kmi_error **err);
/*
 * Once *flag is true, requests on h fail with ECANCELED: the next one at
 * once, one in flight within about a second, a retry's wait at once.
 */
void kmi_http_set_cancel(struct kmi_http *h, const atomic_bool *flag);
void kmi_http_set_retries(struct kmi_http *h, unsigned retries);
/* A second handle with h's settings (own connections, same cancel flag), for another thread. */
int kmi_http_dup(const struct kmi_http *h, bool progress, struct kmi_http **out,
		 struct kmi_error **err);
void kmi_http_free(struct kmi_http *h);

/*
 * Sends the request (retrying if req->retry) and fills resp, which the
 * caller frees with kmi_http_resp_free().  Returns 0 whenever an HTTP answer
 * came back, whatever its status; negative with KMI_ENET, KMI_ETLS or
 * KMI_EPROTO when there was none, or the sink's error.
 */
int kmi_http_do(struct kmi_http *h, const struct kmi_http_req *req,
		struct kmi_http_resp *resp, struct kmi_error **err);
void kmi_http_resp_free(struct kmi_http_resp *resp);
/* Ends a progress line drawn by earlier requests, if any. */
void kmi_http_progress_end(struct kmi_http *h);

/*
 * The error for an unexpected status: "METHOD URL: HTTP 404: <registry's
 * message> (CODE)", with the code util/error.h gives it.
 */
int kmi_http_status_error(const struct kmi_http_req *req, const struct kmi_http_resp *resp,
			  struct kmi_error **err);
/* True when the body is a Distribution API error list holding this code. */
bool kmi_http_has_error_code(const struct kmi_http_resp *resp, const char *code);
/* "message (CODE); message (CODE)" from {"errors":[...]}, or NULL.  Free it. */
char *kmi_registry_error_text(const char *body, size_t len);

/* ref (absolute, or relative to base) resolved against base; NULL if unusable. */
char *kmi_url_resolve(const char *base, const char *ref);
/* url with "key=value" appended after '?' or '&'; value is escaped. */
char *kmi_url_add_query(const char *url, const char *key, const char *value);

/* Bounded exponential backoff shared by the request and upload retries. */
struct kmi_backoff {
	unsigned tries;
	unsigned max;
	unsigned slept_ms;
	const atomic_bool *cancel; /* may be NULL */
};
/* Sleeps before the next try and returns true, or returns false when spent or cancelled. */
bool kmi_backoff_wait(struct kmi_backoff *b, long retry_after);
/* The delay the next kmi_backoff_wait() would sleep, or 0 when spent. */
unsigned kmi_backoff_next_ms(const struct kmi_backoff *b, long retry_after);

/* ------------------------------------------------------------------- tls.c */

/*
 * TLS settings for host: *.crt of cert_dir and of /etc/containers/certs.d/HOST
 * and /etc/docker/certs.d/HOST as extra CAs, the first *.cert with its *.key
 * as client certificate.
 */
int kmi_tls_load(const char *host, const struct kmi_registry_opts *opts,
		 struct kmi_http_tls *out, struct kmi_error **err);
int kmi_tls_load_dirs(const char *const *dirs, size_t ndirs, bool verify,
		      struct kmi_http_tls *out, struct kmi_error **err);
void kmi_tls_free(struct kmi_http_tls *t);

/* ----------------------------------------------------------------- creds.c */

struct kmi_creds {
	char *user;   /* NULL: none found */
	char *pass;
	char *source; /* where they came from, for messages */
};

void kmi_creds_clear(struct kmi_creds *c);
/* "USER:PASS" (the password may hold ':'); KMI_EUSAGE if malformed. */
int kmi_creds_parse(const char *userpass, const char *source, struct kmi_creds *out,
		    struct kmi_error **err);
/*
 * From docker config.json / containers auth.json data: 1 found, 0 no entry for
 * host, negative KMI_EFORMAT if the data is malformed.
 */
int kmi_creds_from_authfile(const char *data, size_t len, const char *host, const char *source,
			    struct kmi_creds *out, struct kmi_error **err);
/* From a Kubernetes Secret (JSON or YAML), same returns. */
int kmi_creds_from_pull_secret(const char *data, size_t len, const char *host,
			       const char *source, struct kmi_creds *out, struct kmi_error **err);
/*
 * The first source holding credentials for host: opts->creds,
 * opts->pull_secret, opts->authfile, $REGISTRY_AUTH_FILE,
 * $XDG_RUNTIME_DIR/containers/auth.json, $DOCKER_CONFIG/config.json,
 * ~/.docker/config.json.  0 with out->user NULL when none has any.
 */
int kmi_creds_find(const struct kmi_registry_opts *opts, const char *host,
		   struct kmi_creds *out, struct kmi_error **err);
/* Standard base64, padding optional, whitespace ignored; -EINVAL if invalid. */
int kmi_base64_decode(const char *in, size_t len, struct kmi_buf *out);

/* ------------------------------------------------------------------ yaml.c */

/*
 * The first document of a YAML stream as a jansson value: mappings become
 * objects, sequences arrays, every scalar a string.  NULL with a message in
 * errbuf on a syntax error or a document too deep or too big.
 */
json_t *kmi_yaml_to_json(const char *data, size_t len, char *errbuf, size_t errlen);

/* ------------------------------------------------------------------ auth.c */

enum kmi_auth_scheme {
	KMI_AUTH_NONE,
	KMI_AUTH_BASIC,
	KMI_AUTH_BEARER,
};

struct kmi_challenge {
	enum kmi_auth_scheme scheme;
	char *realm;
	char *service;
	char *scope;
	char *error;
};

/*
 * The challenge to answer in a WWW-Authenticate value (Bearer preferred);
 * -ENOENT if none is usable.
 */
int kmi_challenge_parse(const char *header, struct kmi_challenge *out);
void kmi_challenge_free(struct kmi_challenge *c);
/*
 * A token endpoint's answer: "token" or "access_token", and expires_in (60 if
 * absent); -EINVAL if it holds no usable token.
 */
int kmi_token_parse(const char *body, size_t len, char **token, long *expires_in);

struct kmi_auth;

/* What to send with one request; the strings are borrowed from the auth state. */
struct kmi_auth_use {
	const char *user;
	const char *pass;
	const char *bearer;
	bool fresh; /* the token was fetched for this very request */
};

/* Takes the credentials (moved out of *creds). */
struct kmi_auth *kmi_auth_new(const char *host, struct kmi_creds *creds);
/* A deep copy (credentials, scheme, tokens) that evolves on its own. */
struct kmi_auth *kmi_auth_dup(const struct kmi_auth *a);
void kmi_auth_free(struct kmi_auth *a);
/* The /v2/ ping's challenge, if any: sets the scheme before the first request. */
void kmi_auth_set_challenge(struct kmi_auth *a, const char *www_auth);
/* Credentials for a request needing scope (space-separated scopes), fetching a token if needed. */
int kmi_auth_prepare(struct kmi_auth *a, struct kmi_http *h, const char *scope,
		     struct kmi_auth_use *use, struct kmi_error **err);
/*
 * A 401 came back for a request sent with `use`: 0 if sending it again with
 * what kmi_auth_prepare() gives next can help, else KMI_EAUTH naming `what`.
 */
int kmi_auth_challenged(struct kmi_auth *a, const char *www_auth, const char *scope,
			const struct kmi_auth_use *use, const char *what, struct kmi_error **err);
