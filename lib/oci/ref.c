// SPDX-License-Identifier: LGPL-2.1-or-later
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "oci/ref.h"
#include "util/digest.h"
#include "util/macro.h"
#include "util/xalloc.h"

/* Distribution's grammar, simplified: lowercase alphanumerics and separators. */
static bool repo_ok(const char *r)
{
	if (*r == '\0' || *r == '/' || r[strlen(r) - 1] == '/')
		return false;
	for (const char *p = r; *p; p++) {
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '.' ||
		      *p == '_' || *p == '-' || *p == '/'))
			return false;
		if (*p == '/' && p[1] == '/')
			return false;
	}
	return true;
}

static bool tag_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (const char *p = t; *p; p++) {
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-'))
			return false;
	}
	return true;
}

/* A first path component names a registry if it has a dot or a port, or is localhost. */
static bool looks_like_host(const char *s, size_t n)
{
	return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && memcmp(s, "localhost", 9) == 0);
}

/* Splits "[HOST/]REPO[:TAG][@DIGEST]" into ref's host, repo, tag and digest. */
static int split_name(const char *text, struct kmi_ref *ref, bool need_host,
		      struct kmi_error **err)
{
	_cleanup_free_ char *s = xstrdup(text);
	char *at = strchr(s, '@'), *slash, *colon, *rest;

	if (at != NULL) {
		*at = '\0';
		if (!kmi_digest_valid(at + 1))
			return kmi_error_set(err, KMI_EUSAGE,
					     "bad digest in `%s`: want sha256: and 64 hex digits", text);
		ref->digest = xstrdup(at + 1);
	}
	slash = strchr(s, '/');
	rest = s;
	if (slash != NULL && looks_like_host(s, (size_t)(slash - s))) {
		ref->host = xstrndup(s, (size_t)(slash - s));
		rest = slash + 1;
	} else if (need_host) {
		return kmi_error_set(err, KMI_EUSAGE, "`%s` names no registry host (want HOST[:PORT]/REPO[:TAG])",
				     text);
	}
	colon = strrchr(rest, ':');
	if (colon != NULL) {
		*colon = '\0';
		if (!tag_ok(colon + 1))
			return kmi_error_set(err, KMI_EUSAGE, "bad tag `%s` in `%s`", colon + 1, text);
		ref->tag = xstrdup(colon + 1);
	}
	if (!repo_ok(rest))
		return kmi_error_set(err, KMI_EUSAGE,
				     "bad repository `%s` in `%s`: lowercase letters, digits, "
				     "'.', '_', '-' and '/' only",
				     rest, text);
	ref->repo = xstrdup(rest);
	return 0;
}

static int parse(const char *text, struct kmi_ref *ref, struct kmi_error **err)
{
	int r;

	if (text == NULL || *text == '\0')
		return kmi_error_set(err, KMI_EUSAGE, "empty image reference");
	if (strncmp(text, "oci:", 4) == 0) {
		const char *p = text + 4, *colon = strchr(p, ':');
		ref->kind = KMI_REF_LAYOUT;
		ref->dir = colon ? xstrndup(p, (size_t)(colon - p)) : xstrdup(p);
		if (*ref->dir == '\0')
			return kmi_error_set(err, KMI_EUSAGE, "`%s`: no directory after oci:", text);
		if (colon != NULL) {
			if (colon[1] == '\0')
				return kmi_error_set(err, KMI_EUSAGE, "`%s`: empty tag", text);
			ref->tag = xstrdup(colon + 1);
		}
		return 0;
	}
	if (strncmp(text, "docker://", 9) == 0) {
		ref->kind = KMI_REF_REGISTRY;
		return split_name(text + 9, ref, true, err);
	}
	if (strstr(text, "://") != NULL || strncmp(text, "docker:", 7) == 0)
		return kmi_error_set(err, KMI_EUSAGE,
				     "unknown transport in `%s` (oci:DIR[:TAG], docker://HOST/REPO:TAG, or NAME:TAG)",
				     text);
	ref->kind = KMI_REF_STORE;
	if ((r = split_name(text, ref, false, err)) < 0)
		return r;
	if (ref->tag == NULL && ref->digest == NULL)
		ref->tag = xstrdup("latest");
	ref->name = ref->digest ? xasprintf("%s%s%s@%s", ref->host ? ref->host : "",
					    ref->host ? "/" : "", ref->repo, ref->digest)
				: xasprintf("%s%s%s:%s", ref->host ? ref->host : "",
					    ref->host ? "/" : "", ref->repo, ref->tag);
	return 0;
}

int kmi_ref_parse(const char *text, struct kmi_ref *ref, struct kmi_error **err)
{
	int r;

	memset(ref, 0, sizeof(*ref));
	if ((r = parse(text, ref, err)) < 0)
		kmi_ref_free(ref);
	return r;
}

void kmi_ref_free(struct kmi_ref *ref)
{
	free(ref->dir);
	free(ref->name);
	free(ref->host);
	free(ref->repo);
	free(ref->tag);
	free(ref->digest);
	memset(ref, 0, sizeof(*ref));
}

const char *kmi_ref_ident(const struct kmi_ref *ref)
{
	if (ref->digest)
		return ref->digest;
	return ref->tag ? ref->tag : "latest";
}

int kmi_ref_store_to_registry(const struct kmi_ref *store, struct kmi_ref *out,
			      struct kmi_error **err)
{
	memset(out, 0, sizeof(*out));
	if (store->host == NULL)
		return kmi_error_set(err, KMI_EUSAGE,
				     "`%s` names no registry: give a destination (docker://HOST/REPO:TAG)",
				     store->name);
	out->kind = KMI_REF_REGISTRY;
	out->host = xstrdup(store->host);
	out->repo = xstrdup(store->repo);
	out->tag = store->tag ? xstrdup(store->tag) : NULL;
	out->digest = store->digest ? xstrdup(store->digest) : NULL;
	return 0;
}

char *kmi_ref_format(const struct kmi_ref *ref)
{
	switch (ref->kind) {
	case KMI_REF_LAYOUT:
		return ref->tag ? xasprintf("oci:%s:%s", ref->dir, ref->tag) : xasprintf("oci:%s", ref->dir);
	case KMI_REF_REGISTRY:
		return xasprintf("docker://%s/%s%s%s", ref->host, ref->repo, ref->digest ? "@" : ":",
				 ref->digest ? ref->digest : (ref->tag ? ref->tag : "latest"));
	default:
		return xstrdup(ref->name);
	}
}
