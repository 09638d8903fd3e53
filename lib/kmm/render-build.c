// SPDX-License-Identifier: LGPL-2.1-or-later
/* The kaniko Pods: build (§2.2, §2.3) and sign (§4), internal/buildsign/resource. */
#include <stdlib.h>
#include <string.h>

#include "kmm/render.h"
#include "util/buf.h"
#include "util/xalloc.h"

static void arg(json_t *a, const char *s)
{
	json_array_append_new(a, kmm_r_str(s));
}

/* containerArgs: destination and push TLS flags, then the pull TLS flags. */
static json_t *kaniko_args(const struct kmm_plan *p, const struct kmm_tls *pull, bool push)
{
	json_t *a = json_array();

	if (push) {
		arg(a, "--destination");
		arg(a, p->image);
		if (p->tls.insecure)
			arg(a, "--insecure");
		if (p->tls.skip_verify)
			arg(a, "--skip-tls-verify");
	} else {
		arg(a, "--no-push");
	}
	if (pull->insecure)
		arg(a, "--insecure-pull");
	if (pull->skip_verify)
		arg(a, "--skip-tls-verify-pull");
	return a;
}

static json_t *labels(const struct kmm_plan *p, const char *type)
{
	/* sorted, as Go writes a map */
	return json_pack("{s:s,s:s,s:s,s:o,s:s,s:o}",
			 "app.kubernetes.io/component", type,
			 "app.kubernetes.io/name", "kmm",
			 "app.kubernetes.io/part-of", "kmm",
			 "kmm.node.kubernetes.io/module.name", kmm_r_str(p->module->name),
			 "kmm.node.kubernetes.io/resource-type", type,
			 "kmm.node.kubernetes.io/target-kernel", kmm_r_str(p->kernel_dns));
}

static json_t *pod(const struct kmm_plan *p, const char *what, const char *type,
		   json_t *annotations, json_t *spec, const struct kmm_render_opts *o)
{
	char *name = xasprintf("%s-%s-%s", p->module->name, what, p->kernel_dns);
	json_t *meta = json_pack("{s:o,s:o,s:o,s:o}", "name", kmm_r_str(name), "namespace",
				 kmm_r_str(p->module->ns), "labels", labels(p, type), "annotations",
				 annotations);

	free(name);
	if (o->owner_uid != NULL)
		json_object_set_new(meta, "ownerReferences",
				    kmm_r_owner("ModuleBuildSignConfig", p->module->name, o->owner_uid));
	json_object_set_new(meta, "finalizers",
			    json_pack("[s,s]", "kmm.node.kubernetes.io/gc-delay",
				      "kmm.node.kubernetes.io/job-event-finalizer"));
	return json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "v1", "kind", "Pod", "metadata", meta,
			 "spec", spec);
}

bool kmm_kaniko_tag_cuts_port(const char *img)
{
	size_t cut = strcspn(img, "@:");
	const char *slash = strchr(img, '/');

	return img[cut] == ':' && slash != NULL && (size_t)(slash - img) > cut;
}

/* The kaniko image, with kanikoParams.tag cut in as KMM does (§9.9: even at a port's ':'). */
static char *kaniko_image(const struct kmm_plan *p, const struct kmm_render_opts *o,
			  struct kmm_diags *d)
{
	const char *img = o->builder_image, *tag = p->build->kaniko_tag;

	if (tag == NULL || tag[0] == '\0')
		return xstrdup(img);
	if (kmm_kaniko_tag_cuts_port(img))
		kmm_warn_at(d, &p->build->pos,
			    "kanikoParams.tag cuts the builder image `%s` at its registry port (as KMM does)",
			    img);
	return xasprintf("%.*s:%s", (int)strcspn(img, "@:"), img, tag);
}

/* The imageRepoSecret as kaniko's docker config, for the push (build and sign alike). */
static void add_push_secret(json_t *vols, json_t *mounts, const char *irs)
{
	char *vn = xasprintf("secret-%s", irs);

	json_array_append_new(vols, kmm_r_secret_volume(vn, irs, ".dockerconfigjson", "config.json"));
	json_array_append_new(mounts, kmm_r_mount(vn, "/kaniko/.docker", true));
	free(vn);
}

static json_t *build_spec(const struct kmm_plan *p, const struct kmm_render_opts *o,
			  struct kmm_diags *d)
{
	const struct kmm_build *b = p->build;
	const char *irs = p->module->image_repo_secret;
	json_t *args = kaniko_args(p, &b->base_tls, !o->no_push);
	json_t *mounts = json_array(), *vols = json_array(), *spec;
	char *image = kaniko_image(p, o, d);

	for (size_t i = 0; i < b->nargs; i++) {
		char *kv = xasprintf("%s=%s", b->args[i].name, b->args[i].value);

		arg(args, "--build-arg");
		arg(args, kv);
		free(kv);
	}
	json_array_append_new(vols, json_pack("{s:s,s:{s:o,s:[{s:s,s:s}]}}", "name", "dockerfile",
					      "configMap", "name", kmm_r_str(b->dockerfile_cm),
					      "items", "key", "dockerfile", "path", "Dockerfile"));
	json_array_append_new(vols, json_pack("{s:s,s:{s:s,s:s}}", "name", "lib-modules", "hostPath",
					      "path", "/lib/modules", "type", "Directory"));
	json_array_append_new(mounts, kmm_r_mount("dockerfile", "/workspace", true));
	json_array_append_new(mounts, kmm_r_mount("lib-modules", "/host/lib/modules", true));
	for (size_t i = 0; i < b->secrets.n; i++) {
		char *vn = xasprintf("secret-%s", b->secrets.v[i]);
		char *mp = xasprintf("/run/secrets/%s", b->secrets.v[i]);

		json_array_append_new(vols, kmm_r_secret_volume(vn, b->secrets.v[i], NULL, NULL));
		json_array_append_new(mounts, kmm_r_mount(vn, mp, true));
		free(vn);
		free(mp);
	}
	if (irs != NULL)
		add_push_secret(vols, mounts, irs);
	spec = json_pack("{s:o,s:[{s:s,s:o,s:o,s:o}],s:s}", "volumes", vols, "containers", "name",
			 "kaniko", "image", kmm_r_str(image), "args", args, "volumeMounts", mounts,
			 "restartPolicy", "Never");
	free(image);
	/* mld.Selector is nil in the MBSC path: only build.selector selects nodes (§9.4) */
	if (b->selector.n > 0)
		json_object_set_new(spec, "nodeSelector", kmm_r_sorted_map(&b->selector));
	if (p->module->ntols > 0)
		json_object_set_new(spec, "tolerations", kmm_r_tolerations(p->module, false));
	return spec;
}

json_t *kmm_render_build_pod(const struct kmm_plan *p, const struct kmm_set *set,
			     const struct kmm_render_opts *o, struct kmm_diags *d)
{
	const struct kmm_object *cm;
	const char *dockerfile = NULL;
	json_t *spec, *ann;
	char *hash;

	if (!p->targeted || p->build == NULL) {
		kmm_error_at(d, &p->module->pos, "kernel %s: %s", p->kernel,
			     p->targeted ? "no build configured for this kernel" : "not targeted");
		return NULL;
	}
	spec = build_spec(p, o, d);
	cm = kmm_set_find(set, "ConfigMap", p->module->ns, p->build->dockerfile_cm);
	for (size_t i = 0; cm != NULL && i < cm->data.n; i++)
		if (strcmp(cm->data.kv[i].key, "dockerfile") == 0)
			dockerfile = cm->data.kv[i].value;
	hash = kmm_r_hash(spec, dockerfile);
	ann = json_pack("{s:s}", "kmm.node.kubernetes.io/last-hash", hash);
	free(hash);
	return pod(p, "build", "BuildImage", ann, spec, o);
}

char *kmm_sign_dockerfile(const struct kmm_plan *p, const char *signer_image)
{
	const char *dir = p->module->modprobe.dir_name;
	const char *unsigned_image;
	struct kmi_buf b = { 0 };

	/* module.ShouldBeBuilt: with a build, the image just built is the one to sign */
	if (p->build != NULL)
		unsigned_image = p->image;
	else if (p->sign != NULL && p->sign->unsigned_image[0] != '\0')
		unsigned_image = p->sign->unsigned_image;
	else
		return NULL;
	kmi_buf_printf(&b, "FROM %s as source\n\nFROM %s AS signimage\nCOPY --from=source %s /opt%s",
		       unsigned_image, signer_image, dir, dir);
	for (size_t i = 0; i < p->sign->files.n; i++)
		kmi_buf_printf(&b,
			       "\nRUN for file in /opt%s; do \\\n"
			       "      [ -e \"${file}\" ] && /usr/local/bin/sign-file sha256 /run/secrets/key/key.pem /run/secrets/cert/cert.pem \"${file}\"; \\\n"
			       "    done",
			       p->sign->files.v[i]);
	kmi_buf_printf(&b, "\n\nFROM source\nCOPY --from=signimage /opt%s %s\n", dir, dir);
	kmi_buf_putc(&b, '\0');
	return b.data;
}

static json_t *sign_spec(const struct kmm_plan *p, const struct kmm_render_opts *o)
{
	const struct kmm_sign *s = p->sign;
	const char *irs = p->module->image_repo_secret;
	json_t *mounts = json_array(), *vols = json_array(), *spec;
	char *cert = xasprintf("secret-%s", s->cert_secret ? s->cert_secret : "");
	char *key = xasprintf("secret-%s", s->key_secret ? s->key_secret : "");

	json_array_append_new(vols, kmm_r_secret_volume(cert, s->cert_secret, "cert", "cert.pem"));
	json_array_append_new(vols, kmm_r_secret_volume(key, s->key_secret, "key", "key.pem"));
	json_array_append_new(vols, kmm_r_field_volume("dockerfile", "Dockerfile", "dockerfile"));
	json_array_append_new(mounts, kmm_r_mount(cert, "/run/secrets/cert", true));
	json_array_append_new(mounts, kmm_r_mount(key, "/run/secrets/key", true));
	json_array_append_new(mounts, kmm_r_mount("dockerfile", "/workspace", true));
	free(cert);
	free(key);
	if (irs != NULL)
		add_push_secret(vols, mounts, irs);
	/* no kanikoParams for signing; the pull flags come from unsignedImageRegistryTLS */
	spec = json_pack("{s:o,s:[{s:s,s:o,s:o,s:o}],s:s}", "volumes", vols, "containers", "name",
			 "kaniko", "image", kmm_r_str(o->builder_image), "args",
			 kaniko_args(p, &s->unsigned_tls, !o->no_push), "volumeMounts", mounts,
			 "restartPolicy", "Never");
	if (p->module->ntols > 0)
		json_object_set_new(spec, "tolerations", kmm_r_tolerations(p->module, false));
	return spec;
}

static const char *secret_value(const struct kmm_set *set, const char *ns, const char *name,
				const char *key)
{
	const struct kmm_object *o = name ? kmm_set_find(set, "Secret", ns, name) : NULL;

	for (size_t i = 0; o != NULL && i < o->data.n; i++)
		if (strcmp(o->data.kv[i].key, key) == 0)
			return o->data.kv[i].value;
	return "";
}

json_t *kmm_render_sign_pod(const struct kmm_plan *p, const struct kmm_set *set,
			    const struct kmm_render_opts *o, struct kmm_diags *d)
{
	char *dockerfile, *extra, *hash;
	json_t *spec, *ann;

	if (!p->targeted || p->sign == NULL) {
		kmm_error_at(d, &p->module->pos, "kernel %s: %s", p->kernel,
			     p->targeted ? "no sign configured for this kernel" : "not targeted");
		return NULL;
	}
	dockerfile = kmm_sign_dockerfile(p, o->signer_image);
	if (dockerfile == NULL) {
		kmm_error_at(d, &p->sign->pos, "kernel %s: no image to sign given", p->kernel);
		return NULL;
	}
	spec = sign_spec(p, o);
	/* KMM hashes the key and cert bytes too: those we have, when the Secrets are in FILE */
	extra = xasprintf("%s%c%s%c%s", secret_value(set, p->module->ns, p->sign->key_secret, "key"),
			  0xff, secret_value(set, p->module->ns, p->sign->cert_secret, "cert"), 0xff,
			  dockerfile);
	hash = kmm_r_hash(spec, extra);
	/* sorted keys */
	ann = json_pack("{s:o,s:s}", "dockerfile", kmm_r_str(dockerfile),
			"kmm.node.kubernetes.io/last-hash", hash);
	free(extra);
	free(hash);
	free(dockerfile);
	return pod(p, "sign", "SignImage", ann, spec, o);
}
