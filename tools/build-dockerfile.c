// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `kmodimg build --dockerfile`: buildah builds into a scratch OCI layout,
 * the result is checked as KMM's worker will use it, and only then copied
 * to REF by kmodimg's own transports (store, layout, registry: TLS, auth
 * and retries are the same as for every other image command).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/build.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"

/* MOD_NAME when --module-name is not given: the last component of REF's repository. */
static char *default_module_name(const struct kmi_ref *ref)
{
	_cleanup_free_ char *s = xstrdup(ref->kind == KMI_REF_REGISTRY ? ref->repo
					 : ref->kind == KMI_REF_LAYOUT  ? ref->dir
									: ref->name);
	char *end;

	while (strlen(s) > 1 && s[strlen(s) - 1] == '/')
		s[strlen(s) - 1] = '\0';
	if (ref->kind == KMI_REF_STORE && (end = strpbrk(s, "@")) != NULL)
		*end = '\0';
	if (ref->kind == KMI_REF_STORE && (end = strrchr(s, ':')) != NULL && !strchr(end, '/'))
		*end = '\0';
	return xstrdup(strrchr(s, '/') ? strrchr(s, '/') + 1 : s);
}

/* Only opened (and a store locked) to look, then again once there is something to copy. */
static int check_missing(struct build_cmd *c, struct kmi_error **err)
{
	struct kmi_endpoint dst;
	int r = kmi_endpoint_open(c->tag, &c->eo, true, &dst, err);

	if (r == 0)
		r = build_check_missing(c, &dst, err);
	kmi_endpoint_close(&dst);
	return r;
}

int build_dockerfile(struct build_cmd *c, struct kmi_error **err)
{
	struct kmi_ref ref;
	_cleanup_free_ char *modname = NULL;
	char digest[KMI_DIGEST_LEN];
	int r;

	c->df.labels = c->labels;
	c->df.build_args = c->build_args;
	c->df.secrets = c->secrets;
	c->df.authfile = c->eo.registry.authfile;
	c->df.cert_dir = c->eo.registry.cert_dir;
	c->df.quiet = c->eo.registry.quiet;
	c->df.who = "kmodimg build";
	if ((r = kmi_dockerfile_check_opts(&c->df, err)) < 0)
		return r;
	if ((r = kmi_ref_parse(c->tag, &ref, err)) < 0)
		return r;
	if (c->df.module_name == NULL)
		c->df.module_name = modname = default_module_name(&ref);
	kmi_ref_free(&ref);
	if (c->df.module_namespace == NULL)
		c->df.module_namespace = "default";
	if (c->if_missing && (r = check_missing(c, err)) != 0)
		return r < 0 ? r : 0;
	r = kmi_dockerfile_run(&c->df, c->tag, &c->eo, digest, err);
	if (r == 0) {
		printf("%s\n", digest);
		if (!c->eo.registry.quiet)
			fprintf(stderr, "kmodimg build: %s %s\n", c->tag, digest);
	}
	return r;
}
