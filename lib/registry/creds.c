// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Registry credentials from the places podman and docker keep them.
 *
 * Auth files (docker config.json, containers auth.json):
 *	{"auths": {"KEY": {"auth": base64("user:pass")} or {"username":..,"password":..}}}
 * KEY is "host[:port]", optionally with a scheme and a path
 * ("https://index.docker.io/v1/", "http://host:5000/v2/"); an entry naming
 * the host alone (or with /v1/, /v2/) wins over one with a repository path.
 *
 * Kubernetes pull secrets (JSON or YAML):
 *	type: kubernetes.io/dockerconfigjson  data: {.dockerconfigjson: base64({"auths":{..}})}
 *	type: kubernetes.io/dockercfg         data: {.dockercfg: base64({"KEY": {..}})}
 * stringData holds the same keys unencoded.
 *
 * Credential helpers (docker's protocol): `credHelpers: {HOST: NAME}` sends
 * HOST's lookups to docker-credential-NAME alone; otherwise an `auths`
 * entry with credentials wins, then `credsStore: NAME` for everything else.
 * `docker-credential-NAME get` reads the server on stdin and prints
 * {"ServerURL":..,"Username":..,"Secret":..}.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry-internal.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/spawn.h"
#include "util/xalloc.h"

#define CREDS_FILE_MAX (1u << 20)
/* A credential helper answers with one small JSON object, quickly. */
#define HELPER_OUT_MAX (64u << 10)
#define HELPER_TIMEOUT_MS 60000

static void wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void wipe_buf(struct kmi_buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	kmi_buf_free(b);
}

void kmi_creds_clear(struct kmi_creds *c)
{
	wipe_free(c->user);
	wipe_free(c->pass);
	free(c->source);
	c->user = c->pass = c->source = NULL;
}

static void creds_set(struct kmi_creds *out, const char *user, size_t ulen, const char *pass,
		      const char *source)
{
	kmi_creds_clear(out);
	out->user = xstrndup(user, ulen);
	out->pass = xstrdup(pass);
	out->source = xstrdup(source);
}

int kmi_creds_parse(const char *userpass, const char *source, struct kmi_creds *out,
		    struct kmi_error **err)
{
	const char *colon = strchr(userpass, ':');

	if (colon == NULL || colon == userpass)
		return kmi_error_set(err, KMI_EUSAGE, "credentials must be USER:PASSWORD");
	creds_set(out, userpass, (size_t)(colon - userpass), colon + 1, source);
	return 0;
}

/* ---------------------------------------------------------------- base64 */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return 64; /* not in the alphabet */
}

int kmi_base64_decode(const char *in, size_t len, struct kmi_buf *out)
{
	uint32_t acc = 0;
	unsigned bits = 0, npad = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c == '=') {
			if (++npad > 2)
				return -EINVAL;
			continue;
		}
		if (npad > 0 || (v = b64_value(c)) > 63)
			return -EINVAL;
		acc = ((acc << 6) | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			kmi_buf_putc(out, (char)((acc >> bits) & 0xff));
		}
	}
	/* one lone character carries no whole byte */
	return bits >= 6 ? -EINVAL : 0;
}

/* ---------------------------------------------------------------- auth files */

static const char *canonical_host(const char *h)
{
	if (strcmp(h, "index.docker.io") == 0 || strcmp(h, "registry-1.docker.io") == 0)
		return "docker.io";
	return h;
}

/*
 * Whether an auths key names host: 2 for the host alone (also "/v1/" or
 * "/v2/" after it), 1 for a repository path on it, 0 for another host.
 */
static int key_matches(const char *key, const char *host)
{
	const char *slash, *rest;
	_cleanup_free_ char *khost = NULL;

	if (strncasecmp(key, "https://", 8) == 0)
		key += 8;
	else if (strncasecmp(key, "http://", 7) == 0)
		key += 7;
	slash = strchr(key, '/');
	khost = slash ? xstrndup(key, (size_t)(slash - key)) : xstrdup(key);
	if (strcasecmp(canonical_host(khost), canonical_host(host)) != 0)
		return 0;
	rest = slash ? slash : "";
	if (*rest == '\0' || strcmp(rest, "/") == 0 || strcmp(rest, "/v1/") == 0 ||
	    strcmp(rest, "/v1") == 0 || strcmp(rest, "/v2/") == 0 || strcmp(rest, "/v2") == 0)
		return 2;
	return 1;
}

static int entry_creds(json_t *entry, const char *key, const char *source, struct kmi_creds *out,
		       struct kmi_error **err)
{
	const char *auth = json_string_value(json_object_get(entry, "auth"));
	const char *user = json_string_value(json_object_get(entry, "username"));
	const char *pass = json_string_value(json_object_get(entry, "password"));

	if (!json_is_object(entry))
		return kmi_error_set(err, KMI_EFORMAT, "%s: entry `%s` is not an object", source, key);
	if (auth != NULL && auth[0] != '\0') {
		struct kmi_buf b = { 0 };
		char *colon;

		if (kmi_base64_decode(auth, strlen(auth), &b) < 0 || b.len == 0) {
			wipe_buf(&b);
			return kmi_error_set(err, KMI_EFORMAT, "%s: entry `%s`: `auth` is not base64",
					     source, key);
		}
		kmi_buf_putc(&b, '\0');
		colon = memchr(b.data, ':', b.len - 1);
		if (colon == NULL || colon == b.data || strlen(b.data) != b.len - 1) {
			wipe_buf(&b);
			return kmi_error_set(err, KMI_EFORMAT,
					     "%s: entry `%s`: `auth` does not decode to USER:PASSWORD",
					     source, key);
		}
		creds_set(out, b.data, (size_t)(colon - b.data), colon + 1, source);
		wipe_buf(&b);
		return 1;
	}
	if (user != NULL && user[0] != '\0') {
		creds_set(out, user, strlen(user), pass ? pass : "", source);
		return 1;
	}
	return 0; /* e.g. a credential helper's placeholder */
}

static int from_auths(json_t *auths, const char *host, const char *source,
		      struct kmi_creds *out, struct kmi_error **err)
{
	const char *key;
	json_t *entry;

	if (!json_is_object(auths))
		return kmi_error_set(err, KMI_EFORMAT, "%s: `auths` is not an object", source);
	for (int want = 2; want >= 1; want--) {
		json_object_foreach(auths, key, entry) {
			int r;
			if (key_matches(key, host) != want)
				continue;
			r = entry_creds(entry, key, source, out, err);
			if (r != 0)
				return r;
		}
	}
	return 0;
}

static json_t *load_json(const char *data, size_t len, const char *source, struct kmi_error **err)
{
	json_error_t je;
	json_t *root = json_loadb(data, len, 0, &je);

	if (root == NULL)
		kmi_error_set(err, KMI_EFORMAT, "%s: line %d: %s", source, je.line, je.text);
	return root;
}

/* ---------------------------------------------------------------- credential helpers */

static bool helper_name_ok(const char *name)
{
	if (name[0] == '\0' || name[0] == '.' || strlen(name) > 64)
		return false;
	for (const char *p = name; *p; p++) {
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '-' && *p != '_' && *p != '.')
			return false;
	}
	return true;
}

/* Parses a helper's answer: 1 with credentials, 0 for "none stored". */
static int helper_answer(const struct kmi_buf *b, const char *what, struct kmi_creds *out,
			 struct kmi_error **err)
{
	json_t *root = json_loadb(b->data ? b->data : "", b->len, 0, NULL);
	const char *user = json_string_value(json_object_get(root, "Username"));
	const char *secret = json_string_value(json_object_get(root, "Secret"));
	int r = 0;

	if (!json_is_object(root))
		r = kmi_error_set(err, KMI_EAUTH, "%s printed no JSON object", what);
	else if (user != NULL && strcmp(user, "<token>") == 0)
		r = kmi_error_set(err, KMI_EAUTH,
				  "%s returned an identity token, which kmodimg does not "
				  "support; store a user name and password or registry token",
				  what);
	else if (secret != NULL && secret[0] != '\0')
		creds_set(out, user ? user : "", user ? strlen(user) : 0, secret, what), r = 1;
	json_decref(root);
	return r;
}

/*
 * Asks docker-credential-NAME for host's credentials: 1 found, 0 none
 * stored (older helpers answer empty fields, newer ones exit 1 with
 * "credentials not found"), negative KMI_EAUTH if the helper fails.
 */
static int helper_creds(const char *name, const char *host, const char *source,
			struct kmi_creds *out, struct kmi_error **err)
{
	_cleanup_free_ char *prog = NULL, *what = NULL;
	/* docker keys Docker Hub by its v1 index URL, every other registry by host */
	const char *server = strcmp(canonical_host(host), "docker.io") == 0
				     ? "https://index.docker.io/v1/"
				     : host;
	struct kmi_spawn_opts so = { .input = server, .input_len = strlen(server),
				     .output = KMI_SPAWN_CAPTURE, .out_max = HELPER_OUT_MAX,
				     .timeout_ms = HELPER_TIMEOUT_MS };
	struct kmi_spawn_result res;
	struct kmi_error *serr = NULL;
	int r;

	if (!helper_name_ok(name))
		return kmi_error_set(err, KMI_EFORMAT, "%s: `%s` is not a credential helper name",
				     source, name);
	prog = xasprintf("docker-credential-%s", name);
	what = xasprintf("credential helper %s (from %s)", prog, source);
	so.argv = (const char *const[]){ prog, "get", NULL };
	r = kmi_spawn(&so, &res, &serr);
	if (r < 0 && kmi_error_code(serr) == ENOENT)
		r = kmi_error_set(err, KMI_EAUTH, "%s: program not found in PATH", what);
	else if (r < 0)
		r = kmi_error_set(err, KMI_EAUTH, "%s: %s", what, serr->msg);
	else if (res.timed_out)
		r = kmi_error_set(err, KMI_EAUTH, "%s: no answer within %d s", what,
				  HELPER_TIMEOUT_MS / 1000);
	else if (res.signal)
		r = kmi_error_set(err, KMI_EAUTH, "%s: killed by signal %d", what, res.signal);
	else if (res.exit_status != 0 && res.out.len > 0 &&
		 memmem(res.out.data, res.out.len, "not found", 9) != NULL)
		r = 0;
	else if (res.exit_status != 0)
		r = kmi_error_set(err, KMI_EAUTH, "%s: exit status %d", what, res.exit_status);
	else
		r = helper_answer(&res.out, what, out, err);
	wipe_buf(&res.out);
	kmi_error_free(&serr);
	return r;
}

static const char *helper_for(json_t *helpers, const char *host)
{
	const char *key;
	json_t *name;

	json_object_foreach(helpers, key, name) {
		if (key_matches(key, host) == 2 && json_is_string(name))
			return json_string_value(name);
	}
	return NULL;
}

int kmi_creds_from_authfile(const char *data, size_t len, const char *host, const char *source,
			    struct kmi_creds *out, struct kmi_error **err)
{
	json_t *root = load_json(data, len, source, err);
	const char *helper, *store;
	json_t *auths;
	int r = 0;

	if (root == NULL)
		return -1 - KMI_EFORMAT;
	if (!json_is_object(root)) {
		json_decref(root);
		return kmi_error_set(err, KMI_EFORMAT, "%s: not a JSON object", source);
	}
	auths = json_object_get(root, "auths");
	helper = helper_for(json_object_get(root, "credHelpers"), host);
	store = json_string_value(json_object_get(root, "credsStore"));
	if (helper != NULL)
		r = helper_creds(helper, host, source, out, err);
	else if (auths != NULL)
		r = from_auths(auths, host, source, out, err);
	if (r == 0 && helper == NULL && store != NULL && store[0] != '\0')
		r = helper_creds(store, host, source, out, err);
	json_decref(root);
	return r;
}

/* ---------------------------------------------------------------- pull secrets */

static json_t *load_json_or_yaml(const char *data, size_t len, const char *source,
				 struct kmi_error **err)
{
	size_t i = 0;
	char msg[256];
	json_t *root;

	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
		i++;
	if (i < len && data[i] == '{')
		return load_json(data + i, len - i, source, err);
	root = kmi_yaml_to_json(data, len, msg, sizeof(msg));
	if (root == NULL)
		kmi_error_set(err, KMI_EFORMAT, "%s: %s", source, msg);
	return root;
}

static int secret_creds(json_t *secret, const char *host, const char *source,
			struct kmi_creds *out, struct kmi_error **err)
{
	const char *kind = json_string_value(json_object_get(secret, "kind"));
	const char *type = json_string_value(json_object_get(secret, "type"));
	json_t *data = json_object_get(secret, "data");
	json_t *sdata = json_object_get(secret, "stringData");
	const char *key, *value;
	struct kmi_buf b = { 0 };
	json_t *inner;
	int r;

	if (!json_is_object(secret))
		return kmi_error_set(err, KMI_EFORMAT, "%s: not a Kubernetes Secret", source);
	/* a bare docker config.json is accepted too */
	if (kind == NULL && type == NULL && json_object_get(secret, "auths") != NULL)
		return from_auths(json_object_get(secret, "auths"), host, source, out, err);
	if (kind != NULL && strcmp(kind, "Secret") != 0)
		return kmi_error_set(err, KMI_EFORMAT, "%s: kind is `%s`, not Secret", source, kind);
	if (type == NULL)
		type = json_object_get(data, ".dockercfg") || json_object_get(sdata, ".dockercfg")
			       ? "kubernetes.io/dockercfg"
			       : "kubernetes.io/dockerconfigjson";
	if (strcmp(type, "kubernetes.io/dockerconfigjson") == 0)
		key = ".dockerconfigjson";
	else if (strcmp(type, "kubernetes.io/dockercfg") == 0)
		key = ".dockercfg";
	else
		return kmi_error_set(err, KMI_EFORMAT,
				     "%s: type `%s` is not kubernetes.io/dockerconfigjson or "
				     "kubernetes.io/dockercfg",
				     source, type);

	if ((value = json_string_value(json_object_get(sdata, key))) != NULL) {
		kmi_buf_puts(&b, value);
	} else if ((value = json_string_value(json_object_get(data, key))) != NULL) {
		if (kmi_base64_decode(value, strlen(value), &b) < 0) {
			wipe_buf(&b);
			return kmi_error_set(err, KMI_EFORMAT, "%s: data.%s is not base64", source,
					     key);
		}
	} else {
		return kmi_error_set(err, KMI_EFORMAT, "%s: no data.%s in the Secret", source, key);
	}
	{
		_cleanup_free_ char *what = xasprintf("%s: %s", source, key);
		inner = load_json(b.data ? b.data : "", b.len, what, err);
	}
	wipe_buf(&b);
	if (inner == NULL)
		return -1 - KMI_EFORMAT;
	if (!json_is_object(inner)) {
		r = kmi_error_set(err, KMI_EFORMAT, "%s: %s is not a JSON object", source, key);
	} else if (strcmp(key, ".dockerconfigjson") == 0) {
		json_t *auths = json_object_get(inner, "auths");
		r = auths == NULL ? kmi_error_set(err, KMI_EFORMAT, "%s: %s has no `auths`", source, key)
				  : from_auths(auths, host, source, out, err);
	} else {
		/* dockercfg is the auths object itself (tolerate a wrapped one) */
		json_t *auths = json_object_get(inner, "auths");
		r = from_auths(auths ? auths : inner, host, source, out, err);
	}
	json_decref(inner);
	return r;
}

int kmi_creds_from_pull_secret(const char *data, size_t len, const char *host,
			       const char *source, struct kmi_creds *out, struct kmi_error **err)
{
	json_t *root = load_json_or_yaml(data, len, source, err);
	int r;

	if (root == NULL)
		return -1 - KMI_EFORMAT;
	r = secret_creds(root, host, source, out, err);
	json_decref(root);
	return r;
}

/* ---------------------------------------------------------------- lookup */

/*
 * Credentials for host from one file: 1 found, 0 not.  A file the user
 * named must exist and parse; a default one that is missing is skipped and
 * one that is broken only warned about.
 */
static int file_creds(const char *path, bool named, bool secret, const char *host,
		      struct kmi_creds *out, struct kmi_error **err)
{
	_cleanup_free_ char *source = xasprintf("%s `%s`", secret ? "pull secret" : "auth file", path);
	struct kmi_buf b = { 0 };
	struct kmi_error *e = NULL;
	int r = kmi_read_file(path, CREDS_FILE_MAX, &b);

	if (r < 0) {
		wipe_buf(&b);
		if (!named && r == -ENOENT)
			return 0;
		if (!named) {
			kmi_warn("ignoring %s: %s\n", source, strerror(-r));
			return 0;
		}
		return kmi_error_set(err, -r, "reading %s", source);
	}
	r = secret ? kmi_creds_from_pull_secret(b.data ? b.data : "", b.len, host, source, out, &e)
		   : kmi_creds_from_authfile(b.data ? b.data : "", b.len, host, source, out, &e);
	wipe_buf(&b);
	if (r < 0 && !named) {
		kmi_warn("ignoring %s\n", e->msg);
		kmi_error_free(&e);
		return 0;
	}
	if (r < 0) {
		if (err != NULL) {
			kmi_error_free(err);
			*err = e;
		} else {
			kmi_error_free(&e);
		}
	}
	return r;
}

int kmi_creds_find(const struct kmi_registry_opts *opts, const char *host,
		   struct kmi_creds *out, struct kmi_error **err)
{
	const char *env;
	_cleanup_free_ char *path = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (opts->creds != NULL)
		return kmi_creds_parse(opts->creds, "the given USER:PASSWORD", out, err);
	if (opts->pull_secret != NULL &&
	    (r = file_creds(opts->pull_secret, true, true, host, out, err)) != 0)
		return r < 0 ? r : 0;
	if (opts->authfile != NULL &&
	    (r = file_creds(opts->authfile, true, false, host, out, err)) != 0)
		return r < 0 ? r : 0;
	if ((env = getenv("REGISTRY_AUTH_FILE")) != NULL && *env &&
	    (r = file_creds(env, false, false, host, out, err)) != 0)
		return 0;
	if ((env = getenv("XDG_RUNTIME_DIR")) != NULL && *env) {
		path = xasprintf("%s/containers/auth.json", env);
		if (file_creds(path, false, false, host, out, err) != 0)
			return 0;
		free(TAKE_PTR(path));
	}
	if ((env = getenv("DOCKER_CONFIG")) != NULL && *env) {
		path = xasprintf("%s/config.json", env);
		if (file_creds(path, false, false, host, out, err) != 0)
			return 0;
		free(TAKE_PTR(path));
	}
	env = getenv("HOME");
	if (env == NULL || *env == '\0') {
		struct passwd *pw = getpwuid(getuid());
		env = pw ? pw->pw_dir : NULL;
	}
	if (env != NULL) {
		path = xasprintf("%s/.docker/config.json", env);
		file_creds(path, false, false, host, out, err);
	}
	return 0;
}
