// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The registry client's pure parts: WWW-Authenticate challenges, token
 * answers, base64, auth files, pull secrets (JSON and YAML), credential
 * lookup order, URLs, error texts and codes, backoff, cert dirs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "registry/registry-internal.h"
#include "util/log.h"
#include "util/xalloc.h"

static char tmpdir[] = "/tmp/test-registry-auth.XXXXXX";

static char *tmp_write(const char *name, const char *content)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f != NULL) {
		fputs(content, f);
		fclose(f);
	}
	return path;
}

/* ---------------------------------------------------------------- challenges */

static void test_challenge_basic(void)
{
	struct kmi_challenge c;

	CHECK(kmi_challenge_parse("Basic realm=\"kmod-test-realm\"", &c) == 0);
	CHECK(c.scheme == KMI_AUTH_BASIC);
	CHECK_STR(c.realm, "kmod-test-realm");
	CHECK(c.service == NULL && c.scope == NULL);
	kmi_challenge_free(&c);

	/* scheme and parameter names are case-insensitive */
	CHECK(kmi_challenge_parse("basic REALM=\"r\"", &c) == 0);
	CHECK(c.scheme == KMI_AUTH_BASIC);
	CHECK_STR(c.realm, "r");
	kmi_challenge_free(&c);

	/* Basic without realm is still Basic */
	CHECK(kmi_challenge_parse("Basic", &c) == 0);
	CHECK(c.scheme == KMI_AUTH_BASIC);
	kmi_challenge_free(&c);
}

static void test_challenge_bearer(void)
{
	struct kmi_challenge c;

	CHECK(kmi_challenge_parse("Bearer realm=\"http://127.0.0.1:5003/token\","
				  "service=\"kmod-test-registry\","
				  "scope=\"repository:test/kmod:pull,push\"",
				  &c) == 0);
	CHECK(c.scheme == KMI_AUTH_BEARER);
	CHECK_STR(c.realm, "http://127.0.0.1:5003/token");
	CHECK_STR(c.service, "kmod-test-registry");
	CHECK_STR(c.scope, "repository:test/kmod:pull,push");
	kmi_challenge_free(&c);

	/* HTTP/2 style, spaces around '=' and ',', unquoted values, error param */
	CHECK(kmi_challenge_parse("bearer Realm = https://a.example/token , SERVICE=reg,"
				  " error=\"insufficient_scope\" ,scope=\"repository:x:pull\"",
				  &c) == 0);
	CHECK(c.scheme == KMI_AUTH_BEARER);
	CHECK_STR(c.realm, "https://a.example/token");
	CHECK_STR(c.service, "reg");
	CHECK_STR(c.error, "insufficient_scope");
	CHECK_STR(c.scope, "repository:x:pull");
	kmi_challenge_free(&c);

	/* escaped quote inside a quoted string */
	CHECK(kmi_challenge_parse("Bearer realm=\"https://t/to\\\"ken\",service=\"a,b\"", &c) == 0);
	CHECK_STR(c.realm, "https://t/to\"ken");
	CHECK_STR(c.service, "a,b");
	kmi_challenge_free(&c);
}

static void test_challenge_multi(void)
{
	struct kmi_challenge c;

	/* several challenges (headers joined by ", "): Bearer is preferred */
	CHECK(kmi_challenge_parse("Basic realm=\"r\", Bearer realm=\"https://t/token\",service=\"s\"",
				  &c) == 0);
	CHECK(c.scheme == KMI_AUTH_BEARER);
	CHECK_STR(c.realm, "https://t/token");
	CHECK_STR(c.service, "s");
	kmi_challenge_free(&c);

	CHECK(kmi_challenge_parse("Negotiate abc==, Basic realm=\"x\"", &c) == 0);
	CHECK(c.scheme == KMI_AUTH_BASIC);
	CHECK_STR(c.realm, "x");
	kmi_challenge_free(&c);

	CHECK(kmi_challenge_parse("Negotiate abc==", &c) < 0);
	CHECK(kmi_challenge_parse("", &c) < 0);
	CHECK(kmi_challenge_parse("realm=\"x\"", &c) < 0);
	/* Bearer needs a realm */
	CHECK(kmi_challenge_parse("Bearer service=\"s\"", &c) < 0);
	CHECK(kmi_challenge_parse("Bearer realm=\"\"", &c) < 0);
	/* junk does not crash */
	CHECK(kmi_challenge_parse("=,\"\",,= Bearer realm=\"unterminated", &c) == 0);
	CHECK_STR(c.realm, "unterminated");
	kmi_challenge_free(&c);
}

static void test_token_parse(void)
{
	char *t = NULL;
	long exp = 0;

	const char *s = "{\"token\":\"abc.def\",\"expires_in\":300}";
	CHECK(kmi_token_parse(s, strlen(s), &t, &exp) == 0);
	CHECK_STR(t, "abc.def");
	CHECK(exp == 300);
	free(t);

	s = "{\"access_token\":\"xyz\"}";
	CHECK(kmi_token_parse(s, strlen(s), &t, &exp) == 0);
	CHECK_STR(t, "xyz");
	CHECK(exp == 60);
	free(t);

	s = "{\"token\":\"\",\"access_token\":\"at\",\"expires_in\":5}";
	CHECK(kmi_token_parse(s, strlen(s), &t, &exp) == 0);
	CHECK_STR(t, "at");
	CHECK(exp == 60);
	free(t);

	s = "{\"token\":\"a b\"}"; /* would break the header */
	CHECK(kmi_token_parse(s, strlen(s), &t, &exp) < 0);
	s = "{\"token\":\"a\\r\\nX-Evil: 1\"}";
	CHECK(kmi_token_parse(s, strlen(s), &t, &exp) < 0);
	s = "{\"tok\":\"a\"}";
	CHECK(kmi_token_parse(s, strlen(s), &t, &exp) < 0);
	CHECK(kmi_token_parse("not json", 8, &t, &exp) < 0);
	CHECK(kmi_token_parse(NULL, 0, &t, &exp) < 0);
}

/* The decisions after a 401 (none of these paths touches the network). */
static void test_auth_state(void)
{
	struct kmi_creds none = { 0 }, some = { 0 };
	struct kmi_auth_use use = { 0 };
	struct kmi_error *err = NULL;
	struct kmi_auth *a;
	const char *bearer = "Bearer realm=\"http://t/token\",service=\"s\","
			     "scope=\"repository:a:pull\",error=\"insufficient_scope\"";

	a = kmi_auth_new("h:1", &none);
	CHECK(kmi_auth_prepare(a, NULL, "repository:a:pull", &use, &err) == 0);
	CHECK(use.user == NULL && use.bearer == NULL);
	CHECK(kmi_auth_challenged(a, "Basic realm=\"r\"", "repository:a:pull", &use, "GET u",
				  &err) == -1 - KMI_EAUTH);
	CHECK_STR(err->msg, "GET u: HTTP 401: authentication required and no credentials found for h:1");
	kmi_error_free(&err);
	CHECK(kmi_auth_challenged(a, NULL, "repository:a:pull", &use, "GET u", &err) < 0);
	CHECK_STR(err->msg, "GET u: HTTP 401 without a usable WWW-Authenticate challenge");
	kmi_error_free(&err);
	/* a fresh anonymous token that is refused: nothing else to try */
	use = (struct kmi_auth_use){ .bearer = "tok", .fresh = true };
	CHECK(kmi_auth_challenged(a, bearer, "repository:a:pull", &use, "GET u", &err) < 0);
	CHECK_STR(err->msg, "GET u: HTTP 401: anonymous access denied (insufficient_scope) and no "
			    "credentials found for h:1");
	kmi_error_free(&err);
	kmi_auth_free(a);

	CHECK(kmi_creds_parse("u:p", "the given USER:PASSWORD", &some, &err) == 0);
	a = kmi_auth_new("h:1", &some);
	CHECK(some.user == NULL); /* moved */
	memset(&use, 0, sizeof(use));
	CHECK(kmi_auth_challenged(a, "basic realm=x", "repository:a:pull", &use, "GET u", &err) == 0);
	CHECK(kmi_auth_prepare(a, NULL, "repository:a:pull", &use, &err) == 0);
	CHECK_STR(use.user, "u");
	CHECK_STR(use.pass, "p");
	CHECK(kmi_auth_challenged(a, "Basic realm=x", "repository:a:pull", &use, "GET u", &err) < 0);
	CHECK_STR(err->msg, "GET u: HTTP 401: the credentials from the given USER:PASSWORD were rejected");
	kmi_error_free(&err);

	/* a cached (not fresh) token refused: fetch again */
	use = (struct kmi_auth_use){ .bearer = "old" };
	CHECK(kmi_auth_challenged(a, bearer, "repository:a:pull", &use, "GET u", &err) == 0);
	/* a fresh token, but the registry wants a scope we did not ask for: ask for it */
	use = (struct kmi_auth_use){ .bearer = "tok", .fresh = true };
	CHECK(kmi_auth_challenged(a, "Bearer realm=\"http://t/token\",service=\"s\","
				     "scope=\"repository:b:pull\"",
				  "repository:a:pull", &use, "GET u", &err) == 0);
	/* ... and once it was asked for, give up */
	CHECK(kmi_auth_challenged(a, "Bearer realm=\"http://t/token\",service=\"s\","
				     "scope=\"repository:b:pull\"",
				  "repository:a:pull", &use, "GET u", &err) < 0);
	CHECK_STR(err->msg, "GET u: HTTP 401: the token for the credentials from the given "
			    "USER:PASSWORD does not grant `repository:b:pull` (unauthorized)");
	kmi_error_free(&err);
	kmi_auth_free(a);
}

/* ---------------------------------------------------------------- base64 */

static int b64(const char *in, char **out)
{
	struct kmi_buf b = { 0 };
	int r = kmi_base64_decode(in, strlen(in), &b);

	kmi_buf_putc(&b, '\0');
	*out = b.data;
	return r;
}

static void test_base64(void)
{
	char *s;

	CHECK(b64("dXNlcjpwYXNz", &s) == 0);
	CHECK_STR(s, "user:pass");
	free(s);
	CHECK(b64("YQ==", &s) == 0);
	CHECK_STR(s, "a");
	free(s);
	CHECK(b64("YQ", &s) == 0);
	CHECK_STR(s, "a");
	free(s);
	CHECK(b64("YWI=", &s) == 0);
	CHECK_STR(s, "ab");
	free(s);
	CHECK(b64(" dGVz\n dHVz\r\nZXI6cA==\n", &s) == 0);
	CHECK_STR(s, "testuser:p");
	free(s);
	CHECK(b64("", &s) == 0);
	CHECK_STR(s, "");
	free(s);
	CHECK(b64("+/+/", &s) == 0);
	CHECK(memcmp(s, "\xfb\xff\xbf", 3) == 0);
	free(s);

	CHECK(b64("Y", &s) < 0);
	free(s);
	CHECK(b64("YQ*=", &s) < 0);
	free(s);
	CHECK(b64("YQ==YQ", &s) < 0);
	free(s);
	CHECK(b64("YQ===", &s) < 0);
	free(s);
	CHECK(b64("YQ-_", &s) < 0); /* URL-safe alphabet is not accepted */
	free(s);
}

/* ---------------------------------------------------------------- auth files */

static int authfile(const char *json, const char *host, struct kmi_creds *c,
		    struct kmi_error **err)
{
	return kmi_creds_from_authfile(json, strlen(json), host, "auth file `t`", c, err);
}

static void test_authfile(void)
{
	/* dXNlcjE6cGFzczE= is user1:pass1, dTI6cDI6d2l0aDpjb2xvbnM= is u2:p2:with:colons */
	const char *json =
		"{\"auths\":{"
		"\"127.0.0.1:5000\":{\"auth\":\"dXNlcjE6cGFzczE=\"},"
		"\"https://127.0.0.1:5001\":{\"username\":\"bob\",\"password\":\"secret\"},"
		"\"http://reg.example/v1/\":{\"auth\":\"dTI6cDI6d2l0aDpjb2xvbnM=\"},"
		"\"quay.example/team/repo\":{\"auth\":\"dXNlcjE6cGFzczE=\"},"
		"\"quay.example\":{\"username\":\"exact\",\"password\":\"x\"},"
		"\"ns.example/only/ns\":{\"username\":\"ns\",\"password\":\"y\"},"
		"\"https://index.docker.io/v1/\":{\"username\":\"hub\",\"password\":\"z\"},"
		"\"helper.example\":{}"
		"},\"credHelpers\":{\"x\":\"y\"}}";
	struct kmi_creds c = { 0 };
	struct kmi_error *err = NULL;

	CHECK(authfile(json, "127.0.0.1:5000", &c, &err) == 1);
	CHECK_STR(c.user, "user1");
	CHECK_STR(c.pass, "pass1");
	CHECK_STR(c.source, "auth file `t`");
	CHECK(authfile(json, "127.0.0.1:5001", &c, &err) == 1);
	CHECK_STR(c.user, "bob");
	CHECK_STR(c.pass, "secret");
	CHECK(authfile(json, "reg.example", &c, &err) == 1);
	CHECK_STR(c.user, "u2");
	CHECK_STR(c.pass, "p2:with:colons");
	/* the host-only key wins over a repository-scoped one, in any order */
	CHECK(authfile(json, "quay.example", &c, &err) == 1);
	CHECK_STR(c.user, "exact");
	CHECK(authfile(json, "ns.example", &c, &err) == 1);
	CHECK_STR(c.user, "ns");
	CHECK(authfile(json, "docker.io", &c, &err) == 1);
	CHECK_STR(c.user, "hub");
	CHECK(authfile(json, "registry-1.docker.io", &c, &err) == 1);
	CHECK_STR(c.user, "hub");
	kmi_creds_clear(&c);

	CHECK(authfile(json, "127.0.0.1:5002", &c, &err) == 0);
	CHECK(authfile(json, "127.0.0.1", &c, &err) == 0);
	CHECK(authfile(json, "helper.example", &c, &err) == 0);
	CHECK(c.user == NULL);
	CHECK(authfile("{}", "a", &c, &err) == 0);
	CHECK(err == NULL);

	CHECK(authfile("{\"auths\":{\"a\":{\"auth\":\"!!\"}}}", "a", &c, &err) < 0);
	CHECK(kmi_error_code(err) == KMI_EFORMAT);
	CHECK_STR(err->msg, "auth file `t`: entry `a`: `auth` is not base64");
	kmi_error_free(&err);
	/* bm9jb2xvbg== is "nocolon" */
	CHECK(authfile("{\"auths\":{\"a\":{\"auth\":\"bm9jb2xvbg==\"}}}", "a", &c, &err) < 0);
	CHECK_STR(err->msg, "auth file `t`: entry `a`: `auth` does not decode to USER:PASSWORD");
	kmi_error_free(&err);
	CHECK(authfile("{\"auths\":[]}", "a", &c, &err) < 0);
	CHECK_STR(err->msg, "auth file `t`: `auths` is not an object");
	kmi_error_free(&err);
	CHECK(authfile("{\"auths\":", "a", &c, &err) < 0);
	CHECK(kmi_error_code(err) == KMI_EFORMAT);
	CHECK(strncmp(err->msg, "auth file `t`: line 1: ", 23) == 0);
	kmi_error_free(&err);
	CHECK(authfile("[1]", "a", &c, &err) < 0);
	kmi_error_free(&err);
	CHECK(c.user == NULL);
}

static void test_creds_parse(void)
{
	struct kmi_creds c = { 0 };
	struct kmi_error *err = NULL;

	CHECK(kmi_creds_parse("testuser:pa:ss", "the given USER:PASSWORD", &c, &err) == 0);
	CHECK_STR(c.user, "testuser");
	CHECK_STR(c.pass, "pa:ss");
	CHECK(kmi_creds_parse("user:", "credentials", &c, &err) == 0);
	CHECK_STR(c.pass, "");
	kmi_creds_clear(&c);
	CHECK(kmi_creds_parse("nocolon", "credentials", &c, &err) < 0);
	CHECK(kmi_error_code(err) == KMI_EUSAGE);
	/* the value itself is never echoed */
	CHECK_STR(err->msg, "credentials must be USER:PASSWORD");
	kmi_error_free(&err);
	CHECK(kmi_creds_parse(":pass", "credentials", &c, &err) < 0);
	kmi_error_free(&err);
}

/* ---------------------------------------------------------------- pull secrets */

static int secret(const char *text, const char *host, struct kmi_creds *c, struct kmi_error **err)
{
	return kmi_creds_from_pull_secret(text, strlen(text), host, "pull secret `s`", c, err);
}

static void test_pull_secret_json(void)
{
	/* base64 of {"auths":{"127.0.0.1:5000":{"auth":"dXNlcjE6cGFzczE="}}} */
	const char *cfgjson = "eyJhdXRocyI6eyIxMjcuMC4wLjE6NTAwMCI6eyJhdXRoIjoiZFhObGNqRTZjR0Z6Y3pFPSJ9fX0=";
	/* base64 of {"https://127.0.0.1:5000":{"username":"old","password":"cfg"}} */
	const char *cfg = "eyJodHRwczovLzEyNy4wLjAuMTo1MDAwIjp7InVzZXJuYW1lIjoib2xkIiwicGFzc3dvcmQiOiJjZmcifX0=";
	struct kmi_creds c = { 0 };
	struct kmi_error *err = NULL;
	char *text;

	text = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"p\"},"
			 "\"type\":\"kubernetes.io/dockerconfigjson\","
			 "\"data\":{\".dockerconfigjson\":\"%s\"}}",
			 cfgjson);
	CHECK(secret(text, "127.0.0.1:5000", &c, &err) == 1);
	CHECK_STR(c.user, "user1");
	CHECK_STR(c.pass, "pass1");
	CHECK(secret(text, "127.0.0.1:5001", &c, &err) == 0);
	free(text);

	text = xasprintf("  {\"kind\":\"Secret\",\"type\":\"kubernetes.io/dockercfg\","
			 "\"data\":{\".dockercfg\":\"%s\"}}",
			 cfg);
	CHECK(secret(text, "127.0.0.1:5000", &c, &err) == 1);
	CHECK_STR(c.user, "old");
	CHECK_STR(c.pass, "cfg");
	free(text);

	/* stringData, and a bare config.json */
	CHECK(secret("{\"type\":\"kubernetes.io/dockerconfigjson\",\"stringData\":"
		     "{\".dockerconfigjson\":\"{\\\"auths\\\":{\\\"h\\\":{\\\"username\\\":\\\"s\\\","
		     "\\\"password\\\":\\\"d\\\"}}}\"}}",
		     "h", &c, &err) == 1);
	CHECK_STR(c.user, "s");
	CHECK(secret("{\"auths\":{\"h\":{\"username\":\"bare\",\"password\":\"p\"}}}", "h", &c,
		     &err) == 1);
	CHECK_STR(c.user, "bare");
	kmi_creds_clear(&c);
	CHECK(err == NULL);

	CHECK(secret("{\"kind\":\"Secret\",\"type\":\"Opaque\",\"data\":{}}", "h", &c, &err) < 0);
	CHECK_STR(err->msg, "pull secret `s`: type `Opaque` is not kubernetes.io/dockerconfigjson "
			    "or kubernetes.io/dockercfg");
	kmi_error_free(&err);
	CHECK(secret("{\"kind\":\"ConfigMap\",\"data\":{}}", "h", &c, &err) < 0);
	CHECK_STR(err->msg, "pull secret `s`: kind is `ConfigMap`, not Secret");
	kmi_error_free(&err);
	CHECK(secret("{\"kind\":\"Secret\",\"type\":\"kubernetes.io/dockerconfigjson\",\"data\":{}}",
		     "h", &c, &err) < 0);
	CHECK_STR(err->msg, "pull secret `s`: no data..dockerconfigjson in the Secret");
	kmi_error_free(&err);
	CHECK(secret("{\"data\":{\".dockerconfigjson\":\"%%%\"}}", "h", &c, &err) < 0);
	CHECK_STR(err->msg, "pull secret `s`: data..dockerconfigjson is not base64");
	kmi_error_free(&err);
	/* e30= is {} : no auths */
	CHECK(secret("{\"data\":{\".dockerconfigjson\":\"e30=\"}}", "h", &c, &err) < 0);
	CHECK_STR(err->msg, "pull secret `s`: .dockerconfigjson has no `auths`");
	kmi_error_free(&err);
	/* bm90IGpzb24= is "not json" */
	CHECK(secret("{\"data\":{\".dockerconfigjson\":\"bm90IGpzb24=\"}}", "h", &c, &err) < 0);
	CHECK(kmi_error_code(err) == KMI_EFORMAT);
	CHECK(strncmp(err->msg, "pull secret `s`: .dockerconfigjson: line 1: ", 44) == 0);
	kmi_error_free(&err);
	CHECK(c.user == NULL);
}

static void test_pull_secret_yaml(void)
{
	struct kmi_creds c = { 0 };
	struct kmi_error *err = NULL;

	/* kubectl create secret docker-registry, as YAML; base64 split over lines */
	CHECK(secret("apiVersion: v1\n"
		     "kind: Secret\n"
		     "metadata:\n"
		     "  name: regcred\n"
		     "  namespace: default\n"
		     "type: kubernetes.io/dockerconfigjson\n"
		     "data:\n"
		     "  .dockerconfigjson: |\n"
		     "    eyJhdXRocyI6eyIxMjcuMC4wLjE6NTAwMCI6eyJhdXRoIjoiZFhObGNqRTZjR0Z6\n"
		     "    Y3pFPSJ9fX0=\n",
		     "127.0.0.1:5000", &c, &err) == 1);
	CHECK_STR(c.user, "user1");
	CHECK_STR(c.pass, "pass1");

	CHECK(secret("---\n"
		     "kind: Secret\n"
		     "type: \"kubernetes.io/dockercfg\"\n"
		     "stringData:\n"
		     "  .dockercfg: '{\"127.0.0.1:5000\": {\"username\": \"yes\", \"password\": \"no\"}}'\n"
		     "---\n"
		     "kind: Other\n",
		     "127.0.0.1:5000", &c, &err) == 1);
	/* YAML 1.1 booleans stay the strings they are */
	CHECK_STR(c.user, "yes");
	CHECK_STR(c.pass, "no");
	kmi_creds_clear(&c);
	CHECK(err == NULL);

	CHECK(secret("kind: Secret\ntype: [unclosed\n", "h", &c, &err) < 0);
	CHECK(kmi_error_code(err) == KMI_EFORMAT);
	CHECK(strncmp(err->msg, "pull secret `s`: YAML line ", 27) == 0);
	kmi_error_free(&err);
	CHECK(secret("", "h", &c, &err) < 0);
	CHECK_STR(err->msg, "pull secret `s`: empty YAML document");
	kmi_error_free(&err);
	CHECK(secret("just a string\n", "h", &c, &err) < 0);
	CHECK_STR(err->msg, "pull secret `s`: not a Kubernetes Secret");
	kmi_error_free(&err);
}

static void test_yaml(void)
{
	char msg[128];
	json_t *v;
	struct kmi_buf bomb = { 0 };

	v = kmi_yaml_to_json("a: [1, x, {b: null}]\nc: !!int 3\n", 31, msg, sizeof(msg));
	CHECK(v != NULL);
	CHECK_STR(json_string_value(json_array_get(json_object_get(v, "a"), 1)), "x");
	CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(v, "a"), 2), "b")),
		  "null");
	CHECK_STR(json_string_value(json_object_get(v, "c")), "3");
	json_decref(v);

	v = kmi_yaml_to_json("? [a]\n: b\n", 10, msg, sizeof(msg));
	CHECK(v == NULL);
	CHECK_STR(msg, "YAML: mapping key is not a scalar");

	/* billion laughs: aliases are expanded within a node budget */
	kmi_buf_puts(&bomb, "a: &a [x,x,x,x,x,x,x,x,x,x]\n");
	for (char k = 'b'; k <= 'j'; k++)
		kmi_buf_printf(&bomb, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", k, k,
			       k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1, k - 1);
	v = kmi_yaml_to_json(bomb.data, bomb.len, msg, sizeof(msg));
	CHECK(v == NULL);
	CHECK_STR(msg, "YAML: document too deep or too big");
	kmi_buf_free(&bomb);

	for (int i = 0; i < 100; i++)
		kmi_buf_putc(&bomb, '[');
	v = kmi_yaml_to_json(bomb.data, bomb.len, msg, sizeof(msg));
	CHECK(v == NULL);
	kmi_buf_free(&bomb);
}

/* ---------------------------------------------------------------- lookup order */

/* kmi_creds_find() fills an empty out-parameter: clear the previous answer. */
static int find(const struct kmi_registry_opts *o, const char *host, struct kmi_creds *c,
		struct kmi_error **err)
{
	kmi_creds_clear(c);
	return kmi_creds_find(o, host, c, err);
}

static void test_creds_find(void)
{
	struct kmi_registry_opts o = { 0 };
	struct kmi_creds c = { 0 };
	struct kmi_error *err = NULL;
	char *home = xasprintf("%s/home", tmpdir);
	char *xdg = xasprintf("%s/xdg", tmpdir);
	char *dcfg = xasprintf("%s/dcfg", tmpdir);
	char *p1, *p2, *p3, *p4, *p5, *p6, *p7, *p8;

	mkdir(home, 0700);
	mkdir(xdg, 0700);
	mkdir(dcfg, 0700);
	p1 = xasprintf("%s/.docker", home);
	mkdir(p1, 0700);
	p2 = tmp_write("home/.docker/config.json",
		       "{\"auths\":{\"h\":{\"username\":\"home\",\"password\":\"1\"},"
		       "\"only-home\":{\"username\":\"home\",\"password\":\"1\"}}}");
	p3 = tmp_write("dcfg/config.json", "{\"auths\":{\"h\":{\"username\":\"dockercfg\",\"password\":\"2\"}}}");
	free(p1);
	p1 = xasprintf("%s/containers", xdg);
	mkdir(p1, 0700);
	p4 = tmp_write("xdg/containers/auth.json", "{\"auths\":{\"h\":{\"username\":\"xdg\",\"password\":\"3\"}}}");
	p5 = tmp_write("regauth.json", "{\"auths\":{\"h\":{\"username\":\"regauth\",\"password\":\"4\"}}}");
	p6 = tmp_write("authfile.json", "{\"auths\":{\"h\":{\"username\":\"authfile\",\"password\":\"5\"}}}");
	p7 = tmp_write("secret.yaml", "kind: Secret\ntype: kubernetes.io/dockerconfigjson\n"
				      "stringData:\n  .dockerconfigjson: '{\"auths\":{\"h\":{\"username\":\"secret\",\"password\":\"6\"}}}'\n");
	p8 = tmp_write("broken.json", "{broken");

	setenv("HOME", home, 1);
	unsetenv("DOCKER_CONFIG");
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("REGISTRY_AUTH_FILE");
	CHECK(find(&o, "h", &c, &err) == 0);
	CHECK_STR(c.user, "home");
	CHECK(c.source != NULL && strstr(c.source, "/home/.docker/config.json") != NULL);
	setenv("DOCKER_CONFIG", dcfg, 1);
	CHECK(find(&o, "h", &c, &err) == 0);
	CHECK_STR(c.user, "dockercfg");
	/* first found wins: a file without the host does not stop the search */
	CHECK(find(&o, "only-home", &c, &err) == 0);
	CHECK_STR(c.user, "home");
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	CHECK(find(&o, "h", &c, &err) == 0);
	CHECK_STR(c.user, "xdg");
	/* a broken default file is skipped with a warning */
	setenv("REGISTRY_AUTH_FILE", p8, 1);
	CHECK(find(&o, "h", &c, &err) == 0);
	CHECK_STR(c.user, "xdg");
	setenv("REGISTRY_AUTH_FILE", p5, 1);
	CHECK(find(&o, "h", &c, &err) == 0);
	CHECK_STR(c.user, "regauth");
	o.authfile = p6;
	CHECK(find(&o, "h", &c, &err) == 0);
	CHECK_STR(c.user, "authfile");
	o.pull_secret = p7;
	CHECK(find(&o, "h", &c, &err) == 0);
	CHECK_STR(c.user, "secret");
	CHECK_STR(c.pass, "6");
	o.creds = "given:7";
	CHECK(find(&o, "h", &c, &err) == 0);
	CHECK_STR(c.user, "given");
	CHECK_STR(c.source, "the given USER:PASSWORD");
	o.creds = NULL;
	CHECK(find(&o, "nowhere", &c, &err) == 0);
	CHECK(c.user == NULL);
	CHECK(err == NULL);

	/* files the user named must exist and parse */
	o.pull_secret = NULL;
	o.authfile = p8;
	CHECK(find(&o, "h", &c, &err) < 0);
	CHECK(kmi_error_code(err) == KMI_EFORMAT);
	kmi_error_free(&err);
	o.authfile = "/nonexistent/auth.json";
	CHECK(find(&o, "h", &c, &err) < 0);
	CHECK(kmi_error_code(err) == ENOENT);
	CHECK_STR(err->msg, "reading auth file `/nonexistent/auth.json`: No such file or directory");
	kmi_error_free(&err);
	kmi_creds_clear(&c);

	unsetenv("DOCKER_CONFIG");
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("REGISTRY_AUTH_FILE");
	free(home);
	free(xdg);
	free(dcfg);
	free(p1);
	free(p2);
	free(p3);
	free(p4);
	free(p5);
	free(p6);
	free(p7);
	free(p8);
}

/* ---------------------------------------------------------------- http helpers */

static void test_urls(void)
{
	char *s;

	s = kmi_url_resolve("http://127.0.0.1:5000/v2/a/blobs/uploads/",
			    "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=xy%3D");
	CHECK_STR(s, "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=xy%3D");
	free(s);
	s = kmi_url_resolve("https://h:1/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/u2");
	CHECK_STR(s, "https://h:1/v2/a/blobs/uploads/u2");
	free(s);
	s = kmi_url_resolve("https://h/v2/a/blobs/uploads/u2", "u3?x=1");
	CHECK_STR(s, "https://h/v2/a/blobs/uploads/u3?x=1");
	free(s);
	CHECK(kmi_url_resolve("https://h/", "ftp://elsewhere/") == NULL);

	s = kmi_url_add_query("http://h/u?_state=a", "digest", "sha256:ab");
	CHECK_STR(s, "http://h/u?_state=a&digest=sha256%3Aab");
	free(s);
	s = kmi_url_add_query("http://h/u", "digest", "sha256:ab");
	CHECK_STR(s, "http://h/u?digest=sha256%3Aab");
	free(s);
	s = kmi_url_add_query("http://h/token?", "scope", "repository:a/b:pull,push");
	CHECK_STR(s, "http://h/token?scope=repository%3Aa%2Fb%3Apull%2Cpush");
	free(s);
}

static int status_error(long status, const char *body, struct kmi_error **err)
{
	struct kmi_http_req req = { .method = "GET", .url = "http://r/v2/a/manifests/v1" };
	struct kmi_http_resp resp = { .status = status };

	if (body != NULL)
		kmi_buf_puts(&resp.body, body);
	int r = kmi_http_status_error(&req, &resp, err);
	kmi_http_resp_free(&resp);
	return r;
}

static void test_status_errors(void)
{
	struct kmi_error *err = NULL;

	CHECK(status_error(404, "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":"
				"\"manifest unknown\",\"detail\":{\"Tag\":\"v1\"}}]}",
			   &err) == -1 - KMI_ENOTFOUND);
	CHECK_STR(err->msg, "GET http://r/v2/a/manifests/v1: HTTP 404: manifest unknown (MANIFEST_UNKNOWN)");
	kmi_error_free(&err);
	/* docker-registry's answer to a missing OCI Accept header */
	status_error(400, "{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"repository name not known to registry\"}]}", &err);
	CHECK(kmi_error_code(err) == KMI_ENOTFOUND);
	kmi_error_free(&err);
	status_error(400, "{\"errors\":[{\"code\":\"MANIFEST_BLOB_UNKNOWN\",\"message\":\"blob unknown to registry\"}]}", &err);
	CHECK(kmi_error_code(err) == KMI_EPROTO);
	CHECK_STR(err->msg, "GET http://r/v2/a/manifests/v1: HTTP 400: blob unknown to registry (MANIFEST_BLOB_UNKNOWN)");
	kmi_error_free(&err);
	status_error(401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"},"
			  "{\"code\":\"DENIED\"}]}", &err);
	CHECK(kmi_error_code(err) == KMI_EAUTH);
	CHECK_STR(err->msg, "GET http://r/v2/a/manifests/v1: HTTP 401: authentication required (UNAUTHORIZED); DENIED");
	kmi_error_free(&err);
	status_error(403, NULL, &err);
	CHECK(kmi_error_code(err) == KMI_EAUTH);
	CHECK_STR(err->msg, "GET http://r/v2/a/manifests/v1: HTTP 403");
	kmi_error_free(&err);
	status_error(400, "{\"errors\":[{\"code\":\"DIGEST_INVALID\",\"message\":\"provided digest did not match uploaded content\"}]}", &err);
	CHECK(kmi_error_code(err) == KMI_EDIGEST);
	kmi_error_free(&err);
	status_error(502, "Bad gateway\r\n\x01", &err);
	CHECK(kmi_error_code(err) == KMI_EPROTO);
	CHECK_STR(err->msg, "GET http://r/v2/a/manifests/v1: HTTP 502: Bad gateway");
	kmi_error_free(&err);
}

static void test_backoff(void)
{
	struct kmi_backoff b = { .max = 4 };

	CHECK(kmi_backoff_next_ms(&b, -1) == 200);
	b.tries = 1, b.slept_ms = 200;
	CHECK(kmi_backoff_next_ms(&b, -1) == 400);
	CHECK(kmi_backoff_next_ms(&b, 3) == 3000);
	CHECK(kmi_backoff_next_ms(&b, 3600) == 5000);
	b.tries = 3, b.slept_ms = 1400;
	CHECK(kmi_backoff_next_ms(&b, -1) == 1600);
	b.tries = 4;
	CHECK(kmi_backoff_next_ms(&b, -1) == 0);
	/* the total is capped whatever the count */
	b = (struct kmi_backoff){ .max = 100, .tries = 6, .slept_ms = 9000 };
	CHECK(kmi_backoff_next_ms(&b, -1) == 1000);
	b.slept_ms = 10000;
	CHECK(kmi_backoff_next_ms(&b, -1) == 0);
	b = (struct kmi_backoff){ .max = 0 };
	CHECK(kmi_backoff_next_ms(&b, -1) == 0);
}

static void test_cert_dirs(void)
{
	char *d = xasprintf("%s/certs", tmpdir);
	char *paths[5];
	const char *dirs[2] = { d, "/nonexistent/certs.d" };
	struct kmi_http_tls t;
	struct kmi_error *err = NULL;

	mkdir(d, 0700);
	paths[0] = tmp_write("certs/b.crt", "B");
	paths[1] = tmp_write("certs/a.crt", "A");
	paths[2] = tmp_write("certs/client.cert", "C");
	paths[3] = tmp_write("certs/client.key", "K");
	paths[4] = tmp_write("certs/README", "ignored");
	CHECK(kmi_tls_load_dirs(dirs, 2, true, &t, &err) == 0);
	CHECK(t.verify);
	CHECK(t.ca_len == 4 && memcmp(t.ca, "A\nB\n", 4) == 0);
	CHECK(t.client_cert != NULL && strstr(t.client_cert, "/certs/client.cert") != NULL);
	CHECK(t.client_key != NULL && strstr(t.client_key, "/certs/client.key") != NULL);
	kmi_tls_free(&t);

	unlink(paths[3]);
	CHECK(kmi_tls_load_dirs(dirs, 1, false, &t, &err) < 0);
	CHECK(kmi_error_code(err) == KMI_ETLS);
	kmi_error_free(&err);
	for (int i = 0; i < 5; i++) {
		unlink(paths[i]);
		free(paths[i]);
	}
	CHECK(kmi_tls_load_dirs(dirs, 1, false, &t, &err) == 0);
	CHECK(t.ca == NULL && t.client_cert == NULL && !t.verify);
	kmi_tls_free(&t);
	free(d);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	kmi_log_set_level(KMI_LOG_CRIT); /* the skipped broken file warns */
	RUN(test_challenge_basic);
	RUN(test_challenge_bearer);
	RUN(test_challenge_multi);
	RUN(test_token_parse);
	RUN(test_auth_state);
	RUN(test_base64);
	RUN(test_authfile);
	RUN(test_creds_parse);
	RUN(test_pull_secret_json);
	RUN(test_pull_secret_yaml);
	RUN(test_yaml);
	RUN(test_creds_find);
	RUN(test_urls);
	RUN(test_status_errors);
	RUN(test_backoff);
	RUN(test_cert_dirs);
	{
		char *cmd = xasprintf("rm -rf '%s'", tmpdir);
		CHECK(system(cmd) == 0);
		free(cmd);
	}
	CHECK_EXIT();
}
