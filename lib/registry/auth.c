// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Registry authentication as docker's token spec describes it.  Requests go
 * out anonymously until a 401 (or the /v2/ ping) names a scheme:
 *
 *	WWW-Authenticate: Basic realm="kmod-test-realm"
 *	WWW-Authenticate: Bearer realm="https://auth/token",service="reg",
 *	                  scope="repository:a/b:pull,push",error="insufficient_scope"
 *
 * Basic: the credentials go with every later request.  Bearer: a token for
 * the request's scope is fetched from realm?service=..&scope=.. (with Basic
 * credentials when there are any, anonymously otherwise) and cached per
 * scope until it expires.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "registry/registry-internal.h"
#include "util/macro.h"
#include "util/xalloc.h"

#define TOKEN_BODY_MAX (1u << 20)

/* ---------------------------------------------------------------- parsing */

static bool is_tchar(char c)
{
	return c != '\0' && c != ' ' && c != '\t' && c != ',' && c != '=' && c != '"';
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A token or a quoted string at p, unescaped, into *out; returns the end. */
static const char *parse_value(const char *p, char **out)
{
	struct kmi_buf b = { 0 };

	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			kmi_buf_putc(&b, *p);
		}
		if (*p == '"')
			p++;
	} else {
		while (*p && *p != ',' && *p != ' ' && *p != '\t')
			kmi_buf_putc(&b, *p++);
	}
	kmi_buf_putc(&b, '\0');
	*out = b.data;
	return p;
}

static int rank(const struct kmi_challenge *c)
{
	if (c->scheme == KMI_AUTH_BEARER && c->realm != NULL && c->realm[0] != '\0')
		return 2;
	if (c->scheme == KMI_AUTH_BASIC)
		return 1;
	return 0;
}

static void keep_better(struct kmi_challenge *best, struct kmi_challenge *cur)
{
	if (rank(cur) > rank(best)) {
		kmi_challenge_free(best);
		*best = *cur;
	} else {
		kmi_challenge_free(cur);
	}
	memset(cur, 0, sizeof(*cur));
}

int kmi_challenge_parse(const char *header, struct kmi_challenge *out)
{
	struct kmi_challenge cur = { 0 }, best = { 0 };
	bool in_challenge = false;
	const char *p = header;

	memset(out, 0, sizeof(*out));
	while (*p) {
		const char *t;
		size_t tlen;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		t = p;
		while (is_tchar(*p))
			p++;
		tlen = (size_t)(p - t);
		if (tlen == 0) { /* stray '=' or '"': skip one character */
			p++;
			continue;
		}
		p = skip_ws(p);
		if (*p == '=' && in_challenge) {
			char *v = NULL;
			char **slot = NULL;

			p = parse_value(skip_ws(p + 1), &v);
			if (tlen == 5 && strncasecmp(t, "realm", 5) == 0)
				slot = &cur.realm;
			else if (tlen == 7 && strncasecmp(t, "service", 7) == 0)
				slot = &cur.service;
			else if (tlen == 5 && strncasecmp(t, "scope", 5) == 0)
				slot = &cur.scope;
			else if (tlen == 5 && strncasecmp(t, "error", 5) == 0)
				slot = &cur.error;
			if (slot != NULL && *slot == NULL)
				*slot = v;
			else
				free(v);
			continue;
		}
		if (*p == '=') { /* a token68 or junk before any scheme */
			while (*p == '=')
				p++;
			continue;
		}
		/* a new challenge begins with its scheme */
		if (in_challenge)
			keep_better(&best, &cur);
		in_challenge = true;
		if (tlen == 5 && strncasecmp(t, "basic", 5) == 0)
			cur.scheme = KMI_AUTH_BASIC;
		else if (tlen == 6 && strncasecmp(t, "bearer", 6) == 0)
			cur.scheme = KMI_AUTH_BEARER;
		else
			cur.scheme = KMI_AUTH_NONE;
	}
	if (in_challenge)
		keep_better(&best, &cur);
	if (rank(&best) == 0) {
		kmi_challenge_free(&best);
		return -ENOENT;
	}
	*out = best;
	return 0;
}

void kmi_challenge_free(struct kmi_challenge *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
	free(c->error);
	memset(c, 0, sizeof(*c));
}

/* Tokens go into an Authorization header: no spaces or control characters. */
static bool token_ok(const char *t)
{
	if (*t == '\0')
		return false;
	for (; *t; t++) {
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
			return false;
	}
	return true;
}

int kmi_token_parse(const char *body, size_t len, char **token, long *expires_in)
{
	json_t *root = json_loadb(body ? body : "", len, 0, NULL);
	const char *t = json_string_value(json_object_get(root, "token"));
	json_t *exp = json_object_get(root, "expires_in");

	if (t == NULL || t[0] == '\0')
		t = json_string_value(json_object_get(root, "access_token"));
	if (t == NULL || !token_ok(t)) {
		json_decref(root);
		return -EINVAL;
	}
	*token = xstrdup(t);
	/* the token spec: 60 s when absent, and never trust less */
	*expires_in = 60;
	if (json_is_integer(exp) && json_integer_value(exp) > 60 &&
	    json_integer_value(exp) < 365L * 86400)
		*expires_in = (long)json_integer_value(exp);
	json_decref(root);
	return 0;
}

/* ---------------------------------------------------------------- state */

struct token {
	char *scope;  /* the key: scopes as the client asks for them */
	char *extra;  /* a scope a challenge asked for on top, or NULL */
	char *token;  /* NULL until fetched */
	double expires;
};

struct kmi_auth {
	char *host;
	struct kmi_creds creds;
	enum kmi_auth_scheme scheme;
	char *realm;
	char *service;
	struct token *tokens;
	size_t ntokens;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void token_clear(struct token *t)
{
	if (t->token != NULL) {
		explicit_bzero(t->token, strlen(t->token));
		free(t->token);
	}
	free(t->scope);
	free(t->extra);
	memset(t, 0, sizeof(*t));
}

static void tokens_drop_all(struct kmi_auth *a)
{
	for (size_t i = 0; i < a->ntokens; i++)
		token_clear(&a->tokens[i]);
	free(a->tokens);
	a->tokens = NULL;
	a->ntokens = 0;
}

static struct token *token_slot(struct kmi_auth *a, const char *scope)
{
	for (size_t i = 0; i < a->ntokens; i++) {
		if (strcmp(a->tokens[i].scope, scope) == 0)
			return &a->tokens[i];
	}
	a->tokens = xreallocarray(a->tokens, a->ntokens + 1, sizeof(*a->tokens));
	memset(&a->tokens[a->ntokens], 0, sizeof(*a->tokens));
	a->tokens[a->ntokens].scope = xstrdup(scope);
	return &a->tokens[a->ntokens++];
}

struct kmi_auth *kmi_auth_new(const char *host, struct kmi_creds *creds)
{
	struct kmi_auth *a = xcalloc(1, sizeof(*a));

	a->host = xstrdup(host);
	a->creds = *creds;
	memset(creds, 0, sizeof(*creds));
	return a;
}

struct kmi_auth *kmi_auth_dup(const struct kmi_auth *a)
{
	struct kmi_auth *d = xcalloc(1, sizeof(*d));

	d->host = xstrdup(a->host);
	d->creds.user = xstrdup_null(a->creds.user);
	d->creds.pass = xstrdup_null(a->creds.pass);
	d->creds.source = xstrdup_null(a->creds.source);
	d->scheme = a->scheme;
	d->realm = xstrdup_null(a->realm);
	d->service = xstrdup_null(a->service);
	if (a->ntokens > 0)
		d->tokens = xreallocarray(NULL, a->ntokens, sizeof(*d->tokens));
	for (size_t i = 0; i < a->ntokens; i++) {
		d->tokens[i].scope = xstrdup(a->tokens[i].scope);
		d->tokens[i].extra = xstrdup_null(a->tokens[i].extra);
		d->tokens[i].token = xstrdup_null(a->tokens[i].token);
		d->tokens[i].expires = a->tokens[i].expires;
	}
	d->ntokens = a->ntokens;
	return d;
}

void kmi_auth_free(struct kmi_auth *a)
{
	if (a == NULL)
		return;
	tokens_drop_all(a);
	kmi_creds_clear(&a->creds);
	free(a->host);
	free(a->realm);
	free(a->service);
	free(a);
}

static void set_bearer(struct kmi_auth *a, const struct kmi_challenge *c)
{
	bool same = a->scheme == KMI_AUTH_BEARER && a->realm != NULL &&
		    strcmp(a->realm, c->realm) == 0 &&
		    (a->service ? c->service && strcmp(a->service, c->service) == 0 : !c->service);

	if (!same) {
		tokens_drop_all(a);
		free(a->realm);
		free(a->service);
		a->realm = xstrdup(c->realm);
		a->service = c->service ? xstrdup(c->service) : NULL;
	}
	a->scheme = KMI_AUTH_BEARER;
}

void kmi_auth_set_challenge(struct kmi_auth *a, const char *www_auth)
{
	struct kmi_challenge c;

	if (www_auth == NULL || kmi_challenge_parse(www_auth, &c) < 0)
		return;
	if (c.scheme == KMI_AUTH_BEARER)
		set_bearer(a, &c);
	else
		a->scheme = KMI_AUTH_BASIC;
	kmi_challenge_free(&c);
}

/* ---------------------------------------------------------------- tokens */

static bool has_word(const char *list, const char *w, size_t n)
{
	for (const char *p = list; p && *p;) {
		size_t m = strcspn(p, " ");
		if (m == n && strncmp(p, w, n) == 0)
			return true;
		p += m;
		p += strspn(p, " ");
	}
	return false;
}

static char *token_url(const struct kmi_auth *a, const struct token *t)
{
	char *url = xstrdup(a->realm), *next;
	const char *lists[2] = { t->scope, t->extra };

	if (a->service != NULL) {
		next = kmi_url_add_query(url, "service", a->service);
		free(url);
		url = next;
	}
	for (int l = 0; l < 2; l++) {
		for (const char *p = lists[l]; p && *p;) {
			size_t n = strcspn(p, " ");
			if (n > 0 && (l == 0 || !has_word(t->scope, p, n))) {
				_cleanup_free_ char *w = xstrndup(p, n);
				next = kmi_url_add_query(url, "scope", w);
				free(url);
				url = next;
			}
			p += n;
			p += strspn(p, " ");
		}
	}
	return url;
}

static int fetch_token(struct kmi_auth *a, struct kmi_http *h, struct token *t,
		       struct kmi_error **err)
{
	_cleanup_free_ char *url = NULL;
	struct kmi_http_resp resp = { 0 };
	struct kmi_http_req req = {
		.method = "GET",
		.accept = "application/json",
		.user = a->creds.user,
		.pass = a->creds.pass,
		.max_body = TOKEN_BODY_MAX,
		.follow = true,
		.retry = true,
	};
	long expires_in;
	int r;

	if (strncmp(a->realm, "https://", 8) != 0 && strncmp(a->realm, "http://", 7) != 0)
		return kmi_error_set(err, KMI_EPROTO, "%s: token realm `%s` is not an http(s) URL",
				     a->host, a->realm);
	url = token_url(a, t);
	req.url = url;
	r = kmi_http_do(h, &req, &resp, err);
	if (r < 0) {
		kmi_http_resp_free(&resp);
		return kmi_error_wrap(err, "fetching a token for %s", a->host);
	}
	if (resp.status == 401 || resp.status == 403) {
		if (a->creds.user != NULL)
			r = kmi_error_set(err, KMI_EAUTH,
					  "GET %s: HTTP %ld: the token server rejected the "
					  "credentials from %s",
					  url, resp.status, a->creds.source);
		else
			r = kmi_error_set(err, KMI_EAUTH,
					  "GET %s: HTTP %ld: anonymous token refused and no "
					  "credentials found for %s",
					  url, resp.status, a->host);
	} else if (resp.status != 200) {
		r = kmi_http_status_error(&req, &resp, err);
		/* the token server's 404 says nothing about the image */
		if (err != NULL && *err != NULL && (*err)->code == KMI_ENOTFOUND) {
			(*err)->code = KMI_EPROTO;
			r = -1 - KMI_EPROTO;
		}
	} else {
		char *tok = NULL;
		if (kmi_token_parse(resp.body.data, resp.body.len, &tok, &expires_in) < 0) {
			r = kmi_error_set(err, KMI_EPROTO, "GET %s: the answer holds no usable token",
					  url);
		} else {
			free(t->token);
			t->token = tok;
			t->expires = now_s() + (double)expires_in - 5;
		}
	}
	kmi_http_resp_free(&resp);
	return r;
}

int kmi_auth_prepare(struct kmi_auth *a, struct kmi_http *h, const char *scope,
		     struct kmi_auth_use *use, struct kmi_error **err)
{
	struct token *t;
	int r;

	memset(use, 0, sizeof(*use));
	switch (a->scheme) {
	case KMI_AUTH_BASIC:
		use->user = a->creds.user;
		use->pass = a->creds.pass;
		return 0;
	case KMI_AUTH_BEARER:
		t = token_slot(a, scope);
		if (t->token != NULL && now_s() >= t->expires) {
			explicit_bzero(t->token, strlen(t->token));
			free(t->token);
			t->token = NULL;
		}
		if (t->token == NULL) {
			if ((r = fetch_token(a, h, t, err)) < 0)
				return r;
			use->fresh = true;
		}
		use->bearer = t->token;
		return 0;
	default:
		return 0;
	}
}

/* Every scope the challenge names was asked for already. */
static bool scope_covered(const char *wanted, const struct token *t)
{
	for (const char *p = wanted; p && *p;) {
		size_t n = strcspn(p, " ");
		if (n > 0 && !has_word(t->scope, p, n) && !has_word(t->extra, p, n))
			return false;
		p += n;
		p += strspn(p, " ");
	}
	return true;
}

int kmi_auth_challenged(struct kmi_auth *a, const char *www_auth, const char *scope,
			const struct kmi_auth_use *use, const char *what, struct kmi_error **err)
{
	struct kmi_challenge c;
	struct token *t;

	if (www_auth == NULL || kmi_challenge_parse(www_auth, &c) < 0)
		return kmi_error_set(err, KMI_EAUTH,
				     "%s: HTTP 401 without a usable WWW-Authenticate challenge", what);
	if (c.scheme == KMI_AUTH_BASIC) {
		kmi_challenge_free(&c);
		if (a->creds.user == NULL)
			return kmi_error_set(err, KMI_EAUTH,
					     "%s: HTTP 401: authentication required and no "
					     "credentials found for %s",
					     what, a->host);
		if (use->user != NULL)
			return kmi_error_set(err, KMI_EAUTH,
					     "%s: HTTP 401: the credentials from %s were rejected",
					     what, a->creds.source);
		a->scheme = KMI_AUTH_BASIC;
		return 0;
	}
	/* a fresh token was refused: only a scope we did not ask for can help */
	if (use->bearer != NULL && use->fresh &&
	    (c.scope == NULL || scope_covered(c.scope, token_slot(a, scope)))) {
		int r;
		if (a->creds.user == NULL)
			r = kmi_error_set(err, KMI_EAUTH,
					  "%s: HTTP 401: anonymous access denied (%s) and no "
					  "credentials found for %s",
					  what, c.error ? c.error : "unauthorized", a->host);
		else
			r = kmi_error_set(err, KMI_EAUTH,
					  "%s: HTTP 401: the token for the credentials from %s "
					  "does not grant `%s` (%s)",
					  what, a->creds.source, c.scope ? c.scope : scope,
					  c.error ? c.error : "unauthorized");
		kmi_challenge_free(&c);
		return r;
	}
	set_bearer(a, &c);
	t = token_slot(a, scope);
	if (t->token != NULL) {
		explicit_bzero(t->token, strlen(t->token));
		free(t->token);
		t->token = NULL;
	}
	free(t->extra);
	t->extra = c.scope ? xstrdup(c.scope) : NULL;
	kmi_challenge_free(&c);
	return 0;
}
