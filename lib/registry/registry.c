// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The registry client of registry.h: Distribution API calls on top of
 * http.c (transport, retries) and auth.c (challenges, tokens).
 *
 * The first call pings /v2/ over https; with `insecure`, a connection or
 * TLS failure there falls back to plain http (and plain http is asked
 * first when the host names its port: see plain_http_first(); a push's
 * first POST can ask it instead of a ping, see probe_upload()).  Every request is sent with
 * what the auth state says (nothing, Basic, or a Bearer token for its
 * scope) and sent again after a 401 if the challenge leaves something to try.
 *
 * Uploads: POST .../blobs/uploads/, then one PUT <location>&digest= for up
 * to 32 MiB, else PATCH chunks of 32 MiB (Content-Range: start-end) each
 * following the Location of the previous answer, then the PUT.  An upload
 * that fails in a way worth retrying is started again from the POST.  A
 * caller may open sessions ahead (kmi_registry_start_upload()) to take the
 * POST's round trip off its path; the first attempt then uses that session.
 *
 * A struct kmi_registry (its curl handle, token cache) serves one thread at
 * a time; kmi_registry_clone() gives another thread its own, starting from
 * what this one learnt (scheme, tokens), so it sends no ping of its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "registry/registry-internal.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"

#define UPLOAD_CHUNK (32ull << 20)
#define DEFAULT_RETRIES 4

static const char manifest_accept[] =
	"application/vnd.oci.image.manifest.v1+json, "
	"application/vnd.oci.image.index.v1+json, "
	"application/vnd.docker.distribution.manifest.v2+json, "
	"application/vnd.docker.distribution.manifest.list.v2+json";

struct kmi_registry {
	char *host;     /* as the user named it */
	char *api_host; /* where requests go */
	char *base;     /* "https://api_host" or "http://api_host", after the ping */
	bool insecure;
	unsigned retries;
	bool progress;
	struct kmi_http_tls tls; /* until the first request creates http */
	struct kmi_http *http;
	struct kmi_auth *auth;
	bool plain_refused;         /* the plain-http probe got no HTTP answer */
	atomic_bool cancelled;      /* set by kmi_registry_cancel() */
	const atomic_bool *cancel;  /* ours, or the original's for a clone */
};

/* ---------------------------------------------------------------- names */

static bool host_valid(const char *h)
{
	if (*h == '\0' || strlen(h) > 255)
		return false;
	for (const char *p = h; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_'))
			return false;
	}
	return true;
}

/* Repository names: lower-case components of [a-z0-9] joined by . _ - and '/'. */
static bool repo_valid(const char *r)
{
	char prev = '/';

	if (*r == '\0' || strlen(r) > 255)
		return false;
	for (const char *p = r; *p; p++) {
		char c = *p;
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		bool sep = c == '.' || c == '_' || c == '-' || c == '/';
		if (!alnum && !sep)
			return false;
		if (sep && (prev == '/' || (c == '/' && !((prev >= 'a' && prev <= 'z') ||
							   (prev >= '0' && prev <= '9')))))
			return false;
		prev = c;
	}
	return prev != '/';
}

static bool tag_valid(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 128 || t[0] == '.' || t[0] == '-')
		return false;
	for (const char *p = t; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static bool is_digest_ref(const char *ref)
{
	return strchr(ref, ':') != NULL;
}

static int check_repo_ref(const char *repo, const char *ref, struct kmi_error **err)
{
	if (!repo_valid(repo))
		return kmi_error_set(err, KMI_EUSAGE, "invalid repository name `%s`", repo);
	if (ref != NULL && !(is_digest_ref(ref) ? kmi_digest_valid(ref) : tag_valid(ref)))
		return kmi_error_set(err, KMI_EUSAGE, "invalid tag or digest `%s`", ref);
	return 0;
}

static int check_digest(const char *repo, const char *digest, struct kmi_error **err)
{
	if (!repo_valid(repo))
		return kmi_error_set(err, KMI_EUSAGE, "invalid repository name `%s`", repo);
	if (!kmi_digest_valid(digest))
		return kmi_error_set(err, KMI_EUSAGE, "invalid digest `%s`", digest);
	return 0;
}

/* ---------------------------------------------------------------- open */

int kmi_registry_open(const char *host, const struct kmi_registry_opts *opts,
		      struct kmi_registry **out, struct kmi_error **err)
{
	static const struct kmi_registry_opts defaults;
	struct kmi_http_tls tls = { 0 };
	struct kmi_creds creds = { 0 };
	struct kmi_registry *r;
	int rc;

	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	if (host == NULL || !host_valid(host))
		return kmi_error_set(err, KMI_EUSAGE, "invalid registry host `%s`",
				     host ? host : "(null)");
	if ((rc = kmi_tls_load(host, opts, &tls, err)) < 0)
		return kmi_error_wrap(err, "registry %s", host);
	if ((rc = kmi_creds_find(opts, host, &creds, err)) < 0) {
		kmi_tls_free(&tls);
		return kmi_error_wrap(err, "registry %s", host);
	}
	r = xcalloc(1, sizeof(*r));
	r->host = xstrdup(host);
	/* docker.io is a name; its API lives elsewhere */
	r->api_host = xstrdup(strcmp(host, "docker.io") == 0 || strcmp(host, "index.docker.io") == 0
				      ? "registry-1.docker.io"
				      : host);
	r->insecure = opts->insecure;
	r->retries = opts->retries ? opts->retries : DEFAULT_RETRIES;
	r->progress = !opts->quiet && isatty(STDERR_FILENO);
	r->tls = tls;
	r->auth = kmi_auth_new(host, &creds);
	atomic_init(&r->cancelled, false);
	r->cancel = &r->cancelled;
	*out = r;
	return 0;
}

unsigned kmi_registry_set_retries(struct kmi_registry *r, unsigned retries)
{
	unsigned old = r->retries;

	r->retries = retries;
	if (r->http != NULL)
		kmi_http_set_retries(r->http, retries);
	return old;
}

void kmi_registry_cancel(struct kmi_registry *r)
{
	if (r != NULL)
		atomic_store(&r->cancelled, true);
}

/* libcurl is loaded here, on the first request, not by kmi_registry_open(). */
static int http_ready(struct kmi_registry *r, struct kmi_error **err)
{
	int rc;

	if (r->http != NULL)
		return 0;
	rc = kmi_http_new(&r->tls, r->retries, r->progress, &r->http, err);
	kmi_tls_free(&r->tls);
	if (rc == 0)
		kmi_http_set_cancel(r->http, r->cancel);
	return rc;
}

void kmi_registry_close(struct kmi_registry *r)
{
	if (r == NULL)
		return;
	kmi_tls_free(&r->tls);
	kmi_http_free(r->http);
	kmi_auth_free(r->auth);
	free(r->host);
	free(r->api_host);
	free(r->base);
	free(r);
}

/* ---------------------------------------------------------------- requests */

static int ping_once(struct kmi_registry *r, const char *scheme, bool retry,
		     struct kmi_http_resp *resp, struct kmi_error **err)
{
	_cleanup_free_ char *url = xasprintf("%s://%s/v2/", scheme, r->api_host);
	struct kmi_http_req req = { .method = "GET", .url = url, .follow = true, .retry = retry };

	return kmi_http_do(r->http, &req, resp, err);
}

static bool ping_answered(const struct kmi_http_resp *resp)
{
	return (resp->status >= 200 && resp->status < 300) || resp->status == 401 ||
	       resp->status == 403;
}

static bool has_port(const char *host)
{
	const char *colon = strrchr(host, ':');

	return colon != NULL && (host[0] != '[' || colon > strchr(host, ']'));
}

/*
 * With `insecure` and an explicit port, plain http is asked first: one port
 * speaks one protocol, so a registry answer there (no redirect) settles it,
 * and a plain-http registry then costs no TLS attempt (loading the system
 * CA bundle alone takes ~25 ms).  A TLS port answers plain http with an
 * error or not at all, and the usual https-first probe follows.  Without a
 * port, :80 and :443 are different services and https keeps precedence.
 */
static bool plain_http_first(struct kmi_registry *r, struct kmi_http_resp *resp)
{
	_cleanup_free_ char *url = NULL;
	struct kmi_http_req req = { .method = "GET" };
	struct kmi_error *e = NULL;

	if (!r->insecure || !has_port(r->api_host) || r->plain_refused)
		return false;
	url = xasprintf("http://%s/v2/", r->api_host);
	req.url = url;
	if (kmi_http_do(r->http, &req, resp, &e) == 0 && ping_answered(resp))
		return true;
	kmi_error_free(&e);
	kmi_http_resp_free(resp);
	memset(resp, 0, sizeof(*resp));
	return false;
}

/* Finds the scheme (https, or http if insecure allows) and the auth scheme. */
static int ping(struct kmi_registry *r, struct kmi_error **err)
{
	struct kmi_http_resp resp = { 0 };
	struct kmi_error *e = NULL;
	const char *scheme = "https";
	int rc;

	if (r->base != NULL)
		return 0;
	if ((rc = http_ready(r, err)) < 0)
		return kmi_error_wrap(err, "registry %s", r->host);
	if (plain_http_first(r, &resp)) {
		scheme = "http";
		rc = 0;
	} else {
		rc = ping_once(r, "https", !r->insecure, &resp, &e);
	}
	if (rc < 0 && r->insecure &&
	    (kmi_error_code(e) == KMI_ENET || kmi_error_code(e) == KMI_ETLS)) {
		struct kmi_http_resp resp2 = { 0 };
		struct kmi_error *e2 = NULL;
		int rc2 = ping_once(r, "http", true, &resp2, &e2);

		if (rc2 == 0 && ping_answered(&resp2)) {
			kmi_error_free(&e);
			kmi_http_resp_free(&resp);
			resp = resp2;
			scheme = "http";
			rc = 0;
		} else {
			/* the https failure explains more: keep its code */
			if (rc2 < 0)
				kmi_error_set(&e, e->code, "%s (plain http: %s)", e->msg, e2->msg);
			else
				kmi_error_set(&e, e->code, "%s (plain http: HTTP %ld)", e->msg,
					      resp2.status);
			kmi_error_free(&e2);
			kmi_http_resp_free(&resp2);
		}
	}
	if (rc < 0) {
		kmi_http_resp_free(&resp);
		if (err != NULL) {
			kmi_error_free(err);
			*err = TAKE_PTR(e);
		}
		kmi_error_free(&e);
		return kmi_error_wrap(err, "registry %s", r->host);
	}
	if (!ping_answered(&resp)) {
		rc = kmi_error_set(err, KMI_EPROTO,
				   "GET %s://%s/v2/: HTTP %ld: not a registry (no /v2/ API)", scheme,
				   r->api_host, resp.status);
		kmi_http_resp_free(&resp);
		return rc;
	}
	if (resp.status == 401)
		kmi_auth_set_challenge(r->auth, resp.www_auth);
	if (strcmp(scheme, "http") == 0)
		kmi_log(KMI_LOG_INFO, "registry %s: using plain http\n", r->host);
	r->base = xasprintf("%s://%s", scheme, r->api_host);
	kmi_http_resp_free(&resp);
	return 0;
}

/*
 * Sends req with credentials for scope, answering up to two 401s.  Returns
 * 0 with resp filled (any status; a last 401 is left for the caller).
 */
static int reg_request(struct kmi_registry *r, struct kmi_http_req *req, const char *scope,
		       struct kmi_http_resp *resp, struct kmi_error **err)
{
	for (int round = 0; round < 3; round++) {
		struct kmi_auth_use use;
		_cleanup_free_ char *what = NULL;
		int rc = kmi_auth_prepare(r->auth, r->http, scope, &use, err);

		if (rc < 0)
			return rc;
		req->user = use.user;
		req->pass = use.pass;
		req->bearer = use.bearer;
		rc = kmi_http_do(r->http, req, resp, err);
		req->user = req->pass = req->bearer = NULL;
		if (rc < 0 || resp->status != 401)
			return rc;
		what = xasprintf("%s %s", req->method, req->url);
		rc = kmi_auth_challenged(r->auth, resp->www_auth, scope, &use, what, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static char *pull_scope(const char *repo)
{
	return xasprintf("repository:%s:pull", repo);
}

static char *push_scope(const char *repo)
{
	return xasprintf("repository:%s:pull,push", repo);
}

int kmi_registry_connect(struct kmi_registry *r, const char *repo, bool push,
			 struct kmi_error **err)
{
	struct kmi_auth_use use;
	_cleanup_free_ char *scope = NULL;
	int rc = ping(r, err);

	if (rc < 0 || repo == NULL)
		return rc;
	scope = push ? push_scope(repo) : pull_scope(repo);
	return kmi_auth_prepare(r->auth, r->http, scope, &use, err);
}

int kmi_registry_clone(const struct kmi_registry *r, struct kmi_registry **out,
		       struct kmi_error **err)
{
	struct kmi_registry *c = xcalloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	c->host = xstrdup(r->host);
	c->api_host = xstrdup(r->api_host);
	c->base = xstrdup_null(r->base);
	c->insecure = r->insecure;
	c->retries = r->retries;
	c->auth = kmi_auth_dup(r->auth);
	atomic_init(&c->cancelled, false);
	c->cancel = r->cancel;
	/* one progress line at a time: the original's */
	rc = r->http ? kmi_http_dup(r->http, false, &c->http, err)
		     : kmi_http_new(&r->tls, r->retries, false, &c->http, err);
	if (rc < 0) {
		kmi_registry_close(c);
		return rc;
	}
	kmi_http_set_cancel(c->http, c->cancel);
	*out = c;
	return 0;
}

/* ---------------------------------------------------------------- manifests */

/* The media type: Content-Type without parameters, or the document's mediaType. */
static void manifest_media_type(const struct kmi_http_resp *resp, char out[128])
{
	const char *ct = resp->content_type;
	size_t n = ct ? strcspn(ct, ";") : 0;
	json_t *root;
	const char *mt;

	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	out[0] = '\0';
	if (n > 0 && n < 128 && strncasecmp(ct, "application/json", n) != 0 &&
	    strncasecmp(ct, "text/plain", n) != 0) {
		memcpy(out, ct, n);
		out[n] = '\0';
		return;
	}
	root = json_loadb(resp->body.data, resp->body.len, 0, NULL);
	mt = json_string_value(json_object_get(root, "mediaType"));
	if (mt != NULL && strlen(mt) < 128)
		snprintf(out, 128, "%s", mt);
	json_decref(root);
}

int kmi_registry_get_manifest(struct kmi_registry *r, const char *repo, const char *ref,
			      struct kmi_manifest_data *out, struct kmi_error **err)
{
	_cleanup_free_ char *url = NULL, *scope = NULL;
	struct kmi_http_resp resp = { 0 };
	struct kmi_http_req req = {
		.method = "GET",
		.accept = manifest_accept,
		.max_body = KMI_MANIFEST_MAX,
		.follow = true,
		.retry = true,
	};
	char digest[KMI_DIGEST_LEN];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_repo_ref(repo, ref, err)) < 0 || (rc = ping(r, err)) < 0)
		return rc;
	url = xasprintf("%s/v2/%s/manifests/%s", r->base, repo, ref);
	scope = pull_scope(repo);
	req.url = url;
	rc = reg_request(r, &req, scope, &resp, err);
	if (rc == 0 && resp.status != 200)
		rc = kmi_http_status_error(&req, &resp, err);
	if (rc < 0)
		goto out;
	if (resp.body.len == 0) {
		rc = kmi_error_set(err, KMI_EPROTO, "GET %s: empty manifest", url);
		goto out;
	}
	kmi_sha256_digest(resp.body.data, resp.body.len, digest);
	if (is_digest_ref(ref) && strcmp(digest, ref) != 0) {
		rc = kmi_error_set(err, KMI_EDIGEST, "GET %s: manifest content has digest %s", url,
				   digest);
		goto out;
	}
	if (resp.digest != NULL && strncmp(resp.digest, "sha256:", 7) == 0 &&
	    strcmp(resp.digest, digest) != 0) {
		rc = kmi_error_set(err, KMI_EDIGEST,
				   "GET %s: Docker-Content-Digest is %s but the content has %s", url,
				   resp.digest, digest);
		goto out;
	}
	manifest_media_type(&resp, out->media_type);
	memcpy(out->digest, digest, sizeof(digest));
	out->len = resp.body.len;
	out->data = TAKE_PTR(resp.body.data);
out:
	kmi_http_resp_free(&resp);
	return rc;
}

int kmi_registry_head_manifest(struct kmi_registry *r, const char *repo, const char *ref,
			       char digest[KMI_DIGEST_LEN], struct kmi_error **err)
{
	_cleanup_free_ char *url = NULL, *scope = NULL;
	struct kmi_http_resp resp = { 0 };
	struct kmi_http_req req = {
		.method = "HEAD",
		.accept = manifest_accept,
		.follow = true,
		.retry = true,
	};
	int rc;

	if (digest != NULL)
		digest[0] = '\0';
	if ((rc = check_repo_ref(repo, ref, err)) < 0 || (rc = ping(r, err)) < 0)
		return rc;
	url = xasprintf("%s/v2/%s/manifests/%s", r->base, repo, ref);
	scope = pull_scope(repo);
	req.url = url;
	rc = reg_request(r, &req, scope, &resp, err);
	if (rc == 0 && resp.status != 200)
		rc = kmi_http_status_error(&req, &resp, err);
	if (rc == 0 && resp.digest != NULL && kmi_digest_valid(resp.digest) &&
	    is_digest_ref(ref) && strcmp(resp.digest, ref) != 0)
		rc = kmi_error_set(err, KMI_EDIGEST, "HEAD %s: Docker-Content-Digest is %s", url,
				   resp.digest);
	if (rc == 0 && digest != NULL) {
		if (resp.digest != NULL && kmi_digest_valid(resp.digest))
			memcpy(digest, resp.digest, KMI_DIGEST_LEN);
		else if (is_digest_ref(ref))
			memcpy(digest, ref, KMI_DIGEST_LEN);
	}
	kmi_http_resp_free(&resp);
	return rc;
}

int kmi_registry_put_manifest(struct kmi_registry *r, const char *repo, const char *ref,
			      const char *media_type, const void *data, size_t len,
			      struct kmi_error **err)
{
	_cleanup_free_ char *url = NULL, *scope = NULL;
	struct kmi_http_resp resp = { 0 };
	struct kmi_http_req req = {
		.method = "PUT",
		.content_type = media_type,
		.body_kind = KMI_BODY_MEM,
		.body = data,
		.body_len = len,
		.retry = true,
	};
	char digest[KMI_DIGEST_LEN];
	int rc;

	if ((rc = check_repo_ref(repo, ref, err)) < 0)
		return rc;
	if (media_type == NULL || media_type[0] == '\0' || strpbrk(media_type, "\r\n") != NULL)
		return kmi_error_set(err, KMI_EUSAGE, "invalid manifest media type");
	if (len == 0 || len > KMI_MANIFEST_MAX)
		return kmi_error_set(err, KMI_EUSAGE, "manifest of %zu bytes (1 to %u allowed)", len,
				     KMI_MANIFEST_MAX);
	kmi_sha256_digest(data, len, digest);
	if (is_digest_ref(ref) && strcmp(ref, digest) != 0)
		return kmi_error_set(err, KMI_EDIGEST, "pushing manifest %s: its content has digest %s",
				     ref, digest);
	if ((rc = ping(r, err)) < 0)
		return rc;
	url = xasprintf("%s/v2/%s/manifests/%s", r->base, repo, ref);
	scope = push_scope(repo);
	req.url = url;
	rc = reg_request(r, &req, scope, &resp, err);
	if (rc == 0 && (resp.status < 200 || resp.status >= 300))
		rc = kmi_http_status_error(&req, &resp, err);
	if (rc == 0 && resp.digest != NULL && strncmp(resp.digest, "sha256:", 7) == 0 &&
	    strcmp(resp.digest, digest) != 0)
		rc = kmi_error_set(err, KMI_EDIGEST,
				   "PUT %s: the registry stored digest %s, the content has %s", url,
				   resp.digest, digest);
	kmi_http_resp_free(&resp);
	return rc;
}

/* ---------------------------------------------------------------- blobs */

int kmi_registry_blob_exists(struct kmi_registry *r, const char *repo, const char *digest,
			     struct kmi_error **err)
{
	_cleanup_free_ char *url = NULL, *scope = NULL;
	struct kmi_http_resp resp = { 0 };
	struct kmi_http_req req = { .method = "HEAD", .follow = true, .retry = true };
	int rc;

	if ((rc = check_digest(repo, digest, err)) < 0 || (rc = ping(r, err)) < 0)
		return rc;
	url = xasprintf("%s/v2/%s/blobs/%s", r->base, repo, digest);
	scope = pull_scope(repo);
	req.url = url;
	rc = reg_request(r, &req, scope, &resp, err);
	if (rc == 0) {
		if (resp.status == 200)
			rc = 1;
		else if (resp.status == 404)
			rc = 0;
		else
			rc = kmi_http_status_error(&req, &resp, err);
	}
	kmi_http_resp_free(&resp);
	return rc;
}

/* Best effort: an abandoned upload session only costs the registry a little. */
static void cancel_upload(struct kmi_registry *r, const char *location, const char *scope)
{
	struct kmi_http_resp resp = { 0 };
	struct kmi_http_req req = { .method = "DELETE", .url = location };

	if (reg_request(r, &req, scope, &resp, NULL) == 0 && resp.status >= 300)
		kmi_log(KMI_LOG_DEBUG, "DELETE %s: HTTP %ld\n", location, resp.status);
	kmi_http_resp_free(&resp);
}

int kmi_registry_mount_blob(struct kmi_registry *r, const char *repo, const char *digest,
			    const char *from_repo, struct kmi_error **err)
{
	_cleanup_free_ char *url = NULL, *scope = NULL, *loc = NULL;
	struct kmi_http_resp resp = { 0 };
	struct kmi_http_req req = { .method = "POST", .retry = true };
	struct kmi_error *e = NULL;
	int rc;

	if ((rc = check_digest(repo, digest, err)) < 0)
		return rc;
	if (!repo_valid(from_repo))
		return kmi_error_set(err, KMI_EUSAGE, "invalid repository name `%s`", from_repo);
	if ((rc = ping(r, err)) < 0)
		return rc;
	url = xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s", r->base, repo, digest,
			from_repo);
	scope = xasprintf("repository:%s:pull repository:%s:pull,push", from_repo, repo);
	req.url = url;
	rc = reg_request(r, &req, scope, &resp, &e);
	if (rc == 0 && resp.status == 201) {
		rc = 1;
	} else if (rc == 0 && resp.status == 202) {
		/* no mount, an upload session instead: we do not want it */
		if (resp.location != NULL && (loc = kmi_url_resolve(url, resp.location)) != NULL)
			cancel_upload(r, loc, scope);
		rc = 0;
	} else if (rc == 0) {
		rc = kmi_http_status_error(&req, &resp, &e);
	}
	/* no pull access to the source repository: an upload may still work */
	if (rc < 0 && kmi_error_code(e) == KMI_EAUTH) {
		kmi_log(KMI_LOG_INFO, "%s; uploading instead\n", e->msg);
		kmi_error_free(&e);
		rc = 0;
	}
	if (rc < 0 && err != NULL) {
		kmi_error_free(err);
		*err = TAKE_PTR(e);
	}
	kmi_error_free(&e);
	kmi_http_resp_free(&resp);
	return rc;
}

static char *next_location(const char *current, const struct kmi_http_resp *resp)
{
	if (resp->location == NULL || resp->location[0] == '\0')
		return xstrdup(current);
	return kmi_url_resolve(current, resp->location);
}

/* POST .../blobs/uploads/: *loc receives the session's absolute URL. */
/* The upload session a POST's 202 answer names. */
static int session_location(const char *url, const struct kmi_http_resp *resp, char **loc,
			    struct kmi_error **err)
{
	if ((*loc = next_location(url, resp)) == NULL)
		return kmi_error_set(err, KMI_EPROTO, "POST %s: unusable upload Location `%s`", url,
				     resp->location ? resp->location : "");
	return 0;
}

static int start_upload(struct kmi_registry *r, const char *repo, const char *scope, char **loc,
			struct kmi_error **err)
{
	_cleanup_free_ char *url = xasprintf("%s/v2/%s/blobs/uploads/", r->base, repo);
	struct kmi_http_resp resp = { 0 };
	struct kmi_http_req req = { .method = "POST", .url = url, .retry = true };
	int rc = reg_request(r, &req, scope, &resp, err);

	*loc = NULL;
	if (rc == 0 && resp.status != 202)
		rc = kmi_http_status_error(&req, &resp, err);
	if (rc == 0)
		rc = session_location(url, &resp, loc, err);
	kmi_http_resp_free(&resp);
	return rc;
}

int kmi_registry_start_upload(struct kmi_registry *r, const char *repo, char **location,
			      struct kmi_error **err)
{
	_cleanup_free_ char *scope = NULL;
	int rc;

	*location = NULL;
	if (!repo_valid(repo))
		return kmi_error_set(err, KMI_EUSAGE, "invalid repository name `%s`", repo);
	if ((rc = ping(r, err)) < 0)
		return rc;
	scope = push_scope(repo);
	return start_upload(r, repo, scope, location, err);
}

bool kmi_registry_can_probe(const struct kmi_registry *r)
{
	return r->base == NULL && r->insecure && has_port(r->api_host) && !r->plain_refused;
}

/*
 * Where plain http is asked first (plain_http_first()), the first upload's
 * POST can be that question itself: a registry answers it with 202, or with
 * 401 and its challenge, and the ping's round trip is saved.  Returns 1 when
 * the answer did not tell (the caller pings as usual), else 0 or an error;
 * 0 and no session after a 401 unless `authenticate`.
 */
static int probe_upload(struct kmi_registry *r, const char *repo, const char *scope,
			bool authenticate, char **loc, struct kmi_error **err)
{
	_cleanup_free_ char *url = NULL;
	struct kmi_http_resp resp = { 0 };
	struct kmi_http_req req = { .method = "POST" };
	struct kmi_error *e = NULL;
	int rc;

	if (!kmi_registry_can_probe(r))
		return 1;
	if ((rc = http_ready(r, err)) < 0)
		return kmi_error_wrap(err, "registry %s", r->host);
	url = xasprintf("http://%s/v2/%s/blobs/uploads/", r->api_host, repo);
	req.url = url;
	if (kmi_http_do(r->http, &req, &resp, &e) < 0) {
		/* no answer: asking the same port again in plain_http_first() is no use */
		r->plain_refused = true;
		kmi_error_free(&e);
		kmi_http_resp_free(&resp);
		return 1;
	}
	if (resp.status != 202 && resp.status != 401) {
		kmi_http_resp_free(&resp);
		return 1;
	}
	if (resp.status == 401 && !authenticate) {
		kmi_http_resp_free(&resp);
		return 0;
	}
	if (authenticate) /* the clone beside it need not say it again */
		kmi_log(KMI_LOG_INFO, "registry %s: using plain http\n", r->host);
	r->base = xasprintf("http://%s", r->api_host);
	if (resp.status == 401) {
		kmi_auth_set_challenge(r->auth, resp.www_auth);
		kmi_http_resp_free(&resp);
		return start_upload(r, repo, scope, loc, err);
	}
	rc = session_location(url, &resp, loc, err);
	kmi_http_resp_free(&resp);
	return rc;
}

int kmi_registry_connect_upload(struct kmi_registry *r, const char *repo, bool authenticate,
				char **location, struct kmi_error **err)
{
	_cleanup_free_ char *scope = NULL;
	int rc;

	*location = NULL;
	if (!repo_valid(repo))
		return kmi_error_set(err, KMI_EUSAGE, "invalid repository name `%s`", repo);
	scope = push_scope(repo);
	if ((rc = probe_upload(r, repo, scope, authenticate, location, err)) <= 0 || !authenticate)
		return rc < 0 ? rc : 0;
	return kmi_registry_connect(r, repo, true, err);
}

void kmi_registry_cancel_upload(struct kmi_registry *r, const char *repo, const char *location)
{
	_cleanup_free_ char *scope = push_scope(repo);

	if (r->base != NULL && location != NULL)
		cancel_upload(r, location, scope);
}

struct upload {
	struct kmi_registry *r;
	const char *repo;
	const char *digest;
	const char *scope;
	uint64_t size;
	int fd;
	char *started; /* a session opened beforehand, used by the first attempt */
	char label[32];
};

/* One whole upload; *transient tells whether starting it again may help. */
static int upload_once(struct upload *u, bool *transient, struct kmi_error **err)
{
	struct kmi_registry *r = u->r;
	_cleanup_free_ char *loc = TAKE_PTR(u->started), *put_url = NULL;
	struct kmi_http_resp resp = { 0 };
	int rc = 0;

	*transient = false;
	if (loc == NULL && (rc = start_upload(r, u->repo, u->scope, &loc, err)) < 0)
		goto out;

	if (u->size > UPLOAD_CHUNK) {
		for (uint64_t off = 0; off < u->size; off += UPLOAD_CHUNK) {
			uint64_t n = u->size - off < UPLOAD_CHUNK ? u->size - off : UPLOAD_CHUNK;
			char range[48];
			char *next = NULL;
			struct kmi_http_req patch = {
				.method = "PATCH",
				.url = loc,
				.content_type = "application/octet-stream",
				.content_range = range,
				.body_kind = KMI_BODY_FD,
				.body_fd = u->fd,
				.body_off = off,
				.body_len = n,
				.progress_label = u->label,
				.progress_total = u->size,
				.progress_base = off,
			};

			snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, off, off + n - 1);
			kmi_http_resp_free(&resp);
			rc = reg_request(r, &patch, u->scope, &resp, err);
			if (rc == 0 && resp.status != 202)
				rc = kmi_http_status_error(&patch, &resp, err);
			if (rc == 0 && (next = next_location(loc, &resp)) == NULL)
				rc = kmi_error_set(err, KMI_EPROTO, "PATCH %s: unusable Location `%s`",
						   loc, resp.location);
			if (rc < 0)
				goto out;
			free(loc);
			loc = next;
		}
	}

	put_url = kmi_url_add_query(loc, "digest", u->digest);
	{
		struct kmi_http_req put = {
			.method = "PUT",
			.url = put_url,
			.progress_label = u->label,
			.progress_total = u->size,
		};
		if (u->size <= UPLOAD_CHUNK) {
			put.content_type = "application/octet-stream";
			put.body_kind = KMI_BODY_FD;
			put.body_fd = u->fd;
			put.body_len = u->size;
		}
		kmi_http_resp_free(&resp);
		rc = reg_request(r, &put, u->scope, &resp, err);
		if (rc == 0 && resp.status != 201)
			rc = kmi_http_status_error(&put, &resp, err);
	}
out:
	if (rc < 0) {
		*transient = resp.transient;
		if (loc != NULL)
			cancel_upload(r, loc, u->scope);
	}
	kmi_http_resp_free(&resp);
	return rc;
}

int kmi_registry_push_blob(struct kmi_registry *r, const char *repo, const char *digest,
			   uint64_t size, int fd, struct kmi_error **err)
{
	return kmi_registry_push_blob_at(r, repo, digest, size, fd, NULL, err);
}

int kmi_registry_push_blob_at(struct kmi_registry *r, const char *repo, const char *digest,
			      uint64_t size, int fd, char *location, struct kmi_error **err)
{
	/* on an early return the session is left to the registry's purge of stale ones */
	_cleanup_free_ char *scope = NULL, *started = location;
	struct kmi_backoff b = { .cancel = r->cancel };
	struct upload u = { .r = r, .repo = repo, .digest = digest, .size = size, .fd = fd };
	struct kmi_error *e = NULL;
	bool transient;
	unsigned ms;
	int rc;

	if ((rc = check_digest(repo, digest, err)) < 0)
		return rc;
	if (fd < 0)
		return kmi_error_set(err, EBADF, "pushing blob %s", digest);
	if ((rc = ping(r, err)) < 0)
		return rc;
	u.started = TAKE_PTR(started);
	scope = push_scope(repo);
	u.scope = scope;
	snprintf(u.label, sizeof(u.label), "push %.19s", digest);
	b.max = r->retries;
	for (;;) {
		rc = upload_once(&u, &transient, &e);
		if (rc == 0 || !transient || (ms = kmi_backoff_next_ms(&b, -1)) == 0)
			break;
		kmi_http_progress_end(r->http);
		kmi_warn("%s; restarting the upload in %.1f s (%u/%u)\n", e->msg, ms / 1000.0,
			 b.tries + 1, b.max);
		kmi_error_free(&e);
		kmi_backoff_wait(&b, -1);
	}
	kmi_http_progress_end(r->http);
	if (rc < 0) {
		if (err != NULL) {
			kmi_error_free(err);
			*err = TAKE_PTR(e);
		}
		kmi_error_free(&e);
		return kmi_error_wrap(err, "pushing blob %s", digest);
	}
	return 0;
}

/* Download sink: out_fd from offset 0, hashed and counted. */
struct blob_sink {
	int fd;
	bool seekable;
	bool hashing;
	uint64_t size;
	uint64_t written;
	const char *digest;
	struct kmi_sha256 hash;
};

static int sink_reset(void *ctx, struct kmi_error **err)
{
	struct blob_sink *s = ctx;

	if (s->seekable) {
		if (ftruncate(s->fd, 0) < 0)
			return kmi_error_set(err, errno, "truncating the output of blob %s", s->digest);
	} else if (s->written > 0) {
		return kmi_error_set(err, ESPIPE, "cannot restart blob %s on an unseekable output",
				     s->digest);
	}
	s->written = 0;
	if (s->hashing)
		kmi_sha256_free(&s->hash);
	kmi_sha256_init(&s->hash);
	s->hashing = true;
	return 0;
}

static int sink_write(void *ctx, const void *data, size_t len, struct kmi_error **err)
{
	struct blob_sink *s = ctx;
	const char *p = data;
	size_t left = len;

	if (len > s->size - s->written)
		return kmi_error_set(err, KMI_EDIGEST, "blob %s is larger than its %" PRIu64 " bytes",
				     s->digest, s->size);
	while (left > 0) {
		ssize_t n = s->seekable ? pwrite(s->fd, p, left, (off_t)s->written)
					: write(s->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return kmi_error_set(err, n < 0 ? errno : EIO, "writing blob %s", s->digest);
		p += n;
		left -= (size_t)n;
		s->written += (uint64_t)n;
	}
	kmi_sha256_update(&s->hash, data, len);
	return 0;
}

int kmi_registry_get_blob(struct kmi_registry *r, const char *repo, const char *digest,
			  uint64_t size, int out_fd, struct kmi_error **err)
{
	_cleanup_free_ char *url = NULL, *scope = NULL;
	struct blob_sink s = { .fd = out_fd, .size = size, .digest = digest };
	struct kmi_http_sink sink = { .reset = sink_reset, .write = sink_write, .ctx = &s };
	struct kmi_http_resp resp = { 0 };
	struct kmi_http_req req = {
		.method = "GET",
		.sink = &sink,
		.follow = true,
		.retry = true,
		.progress_total = size,
	};
	char label[32], got[KMI_DIGEST_LEN];
	int rc;

	if ((rc = check_digest(repo, digest, err)) < 0)
		return rc;
	if (out_fd < 0)
		return kmi_error_set(err, EBADF, "pulling blob %s", digest);
	if ((rc = ping(r, err)) < 0)
		return rc;
	s.seekable = lseek(out_fd, 0, SEEK_CUR) >= 0;
	url = xasprintf("%s/v2/%s/blobs/%s", r->base, repo, digest);
	scope = pull_scope(repo);
	snprintf(label, sizeof(label), "pull %.19s", digest);
	req.url = url;
	req.progress_label = label;
	rc = reg_request(r, &req, scope, &resp, err);
	kmi_http_progress_end(r->http);
	if (rc == 0 && resp.status != 200)
		rc = kmi_http_status_error(&req, &resp, err);
	if (rc == 0 && s.written != size)
		rc = kmi_error_set(err, KMI_EDIGEST, "GET %s: got %" PRIu64 " bytes, expected %" PRIu64,
				   url, s.written, size);
	if (rc == 0) {
		kmi_sha256_final(&s.hash, got);
		s.hashing = false;
		if (strcmp(got, digest) != 0)
			rc = kmi_error_set(err, KMI_EDIGEST, "GET %s: content has digest %s", url, got);
	}
	/* as if written with write(2): the offset ends after the blob */
	if (rc == 0 && s.seekable && lseek(out_fd, (off_t)s.written, SEEK_SET) < 0)
		rc = kmi_error_set(err, errno, "seeking in the output of blob %s", digest);
	if (s.hashing)
		kmi_sha256_free(&s.hash);
	kmi_http_resp_free(&resp);
	return rc;
}
