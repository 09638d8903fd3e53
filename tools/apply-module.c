// SPDX-License-Identifier: LGPL-2.1-or-later
/* One Module through KMM's flow on this machine: plan, image check, build, load. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/dockerfile.h"
#include "oci/transport.h"
#include "registry/registry-internal.h"
#include "tools/apply.h"
#include "tools/kmm-common.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "worker/kmm.h"
#include "worker/modconfig.h"
#include "worker/worker.h"

/* What one Module needs while it is worked on; work is a private scratch dir. */
struct job {
	const struct apply_opts *a;
	const struct kmm_set *set;
	const struct kmm_module *m;
	struct kmm_plan plan;
	char *who;  /* "Module ns/name" */
	char *ref;  /* the image with its transport */
	char *work;
	struct kmi_endpoint_opts eo;
};

/* KMM's images are registry references without a transport. */
static char *image_ref(const char *image)
{
	if (strstr(image, "://") || strncmp(image, "oci:", 4) == 0)
		return xstrdup(image);
	return xasprintf("docker://%s", image);
}

/*
 * A Secret's value: Kubernetes hands Secrets out with `data` in base64;
 * one written with `stringData` is plain text.  The set keeps either
 * without saying which: a value that is valid base64 is decoded.
 */
static void secret_value(const char *v, struct kmi_buf *out)
{
	out->len = 0;
	if (kmi_base64_decode(v, strlen(v), out) == 0)
		return;
	out->len = 0;
	kmi_buf_puts(out, v);
}

static const struct kmm_object *find(const struct job *j, const char *kind, const char *name,
				     struct kmi_error **err)
{
	const struct kmm_object *o = kmm_set_find(j->set, kind, j->m->ns, name);

	if (o == NULL)
		kmi_error_set(err, KMI_EUSAGE, "%s: %s %s/%s is not in the files given", j->who, kind,
			      j->m->ns, name);
	return o;
}

/* Each key of the Secret as a file of dir, as a Secret volume shows it. */
static int write_secret_dir(const struct kmm_object *o, const char *dir, struct kmi_error **err)
{
	struct kmi_buf b = { 0 };
	int r = kmi_mkdir_p(dir, 0700);

	if (r < 0)
		return kmi_error_set(err, -r, "creating `%s`", dir);
	for (size_t i = 0; r == 0 && i < o->data.n; i++) {
		const char *k = o->data.kv[i].key;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, k);
		FILE *f;
		if (strchr(k, '/') || streq(k, ".") || streq(k, "..") || *k == '\0') {
			r = kmi_error_set(err, KMI_EUSAGE, "Secret %s/%s: key `%s` is not a file name",
					  o->ns, o->name, k);
			break;
		}
		secret_value(o->data.kv[i].value, &b);
		f = fopen(path, "wxe");
		if (f == NULL || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0)
			r = kmi_error_set(err, errno ? errno : EIO, "writing `%s`", path);
	}
	kmi_buf_free(&b);
	return r;
}

/* The imageRepoSecret as a standalone Secret file for the registry client. */
static int write_pull_secret(struct job *j, struct kmi_error **err)
{
	const struct kmm_object *o;
	_cleanup_free_ char *path = NULL;
	json_t *sec, *data;
	int r;

	if (j->m->image_repo_secret == NULL)
		return 0;
	if ((o = find(j, "Secret", j->m->image_repo_secret, err)) == NULL)
		return -1;
	sec = json_object();
	data = json_object();
	for (size_t i = 0; i < o->data.n; i++) {
		struct kmi_buf b = { 0 };
		secret_value(o->data.kv[i].value, &b);
		kmi_buf_putc(&b, '\0');
		json_object_set_new(data, o->data.kv[i].key, json_string(b.data));
		kmi_buf_free(&b);
	}
	json_object_set_new(sec, "kind", json_string("Secret"));
	json_object_set_new(sec, "stringData", data);
	path = xasprintf("%s/image-repo-secret.json", j->work);
	r = json_dump_file(sec, path, 0);
	json_decref(sec);
	if (r < 0)
		return kmi_error_set(err, EIO, "writing `%s`", path);
	j->eo.registry.pull_secret = TAKE_PTR(path);
	return 0;
}

static void print_diags(const struct kmm_diags *d)
{
	kmi_kmm_print_diags(d);
}

static int build_image(struct job *j, struct kmi_error **err)
{
	const struct kmm_build *b = j->plan.build;
	const struct kmm_object *cm = NULL;
	_cleanup_free_ char *ctx = xasprintf("%s/context", j->work);
	_cleanup_free_ char *df = xasprintf("%s/Dockerfile", ctx);
	const char **args = xcalloc(b->nargs + 1, sizeof(*args));
	const char **secrets = xcalloc(b->secrets.n + 1, sizeof(*secrets));
	char digest[KMI_DIGEST_LEN];
	const char *text = NULL;
	int r = 0;

	if (b->dockerfile_cm == NULL)
		r = kmi_error_set(err, KMI_EUSAGE, "%s: the build has no dockerfileConfigMap", j->who);
	else if ((cm = find(j, "ConfigMap", b->dockerfile_cm, err)) == NULL)
		r = -1;
	for (size_t i = 0; r == 0 && i < cm->data.n; i++)
		if (streq(cm->data.kv[i].key, "dockerfile"))
			text = cm->data.kv[i].value;
	if (r == 0 && text == NULL)
		r = kmi_error_set(err, KMI_EUSAGE, "%s: ConfigMap %s has no key `dockerfile`", j->who,
				  b->dockerfile_cm);
	if (r == 0 && (r = kmi_mkdir_p(ctx, 0700)) < 0)
		r = kmi_error_set(err, -r, "creating `%s`", ctx);
	if (r == 0) {
		FILE *f = fopen(df, "we");
		if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
			r = kmi_error_set(err, errno ? errno : EIO, "writing `%s`", df);
	}
	for (size_t i = 0; r == 0 && i < b->secrets.n; i++) {
		const struct kmm_object *o = find(j, "Secret", b->secrets.v[i], err);
		char *dir = xasprintf("%s/secrets/%s", j->work, b->secrets.v[i]);
		r = o ? write_secret_dir(o, dir, err) : -1;
		secrets[i] = xasprintf("%s=%s", b->secrets.v[i], dir);
		free(dir);
	}
	for (size_t i = 0; i < b->nargs; i++)
		args[i] = xasprintf("%s=%s", b->args[i].name, b->args[i].value);
	if (r == 0) {
		struct kmi_dockerfile_opts o = {
			.dockerfile = df, .context = ctx, .kver = j->plan.kernel_trim,
			.module_name = j->m->name, .module_namespace = j->m->ns,
			.build_args = args, .secrets = secrets, .host_modules = j->a->host_modules,
			.prefix = j->m->modprobe.dir_name, .base_insecure = b->base_tls.insecure,
			.base_insecure_skip_tls_verify = b->base_tls.skip_verify,
			.who = "kmodimg apply",
		};
		printf("%s: building %s with buildah (Dockerfile from ConfigMap %s)\n", j->who,
		       j->plan.image, b->dockerfile_cm);
		fflush(stdout);
		r = kmi_dockerfile_check_opts(&o, err);
		if (r == 0)
			r = kmi_dockerfile_run(&o, j->ref, &j->eo, digest, err);
		if (r == 0)
			printf("%s: pushed %s %s\n", j->who, j->plan.image, digest);
	}
	for (size_t i = 0; i < b->nargs; i++)
		free((char *)args[i]);
	for (size_t i = 0; i < b->secrets.n; i++)
		free((char *)secrets[i]);
	free(args);
	free(secrets);
	return r;
}

/* 1 present, 0 missing (built unless dry-run), negative on error. */
static int ensure_image(struct job *j, struct kmi_error **err)
{
	struct kmi_endpoint ep;
	int r = kmi_endpoint_open(j->ref, &j->eo, false, &ep, err);

	if (r == 0) {
		r = kmi_endpoint_exists(&ep, NULL, err);
		kmi_endpoint_close(&ep);
	}
	if (r < 0)
		return kmi_error_wrap(err, "%s: checking image %s", j->who, j->plan.image);
	if (r == 1) {
		printf("%s: image %s exists\n", j->who, j->plan.image);
		return 1;
	}
	if (j->plan.build == NULL)
		return kmi_error_set(err, KMI_ENOTFOUND,
				     "%s: image %s does not exist and the Module has no build for "
				     "kernel %s",
				     j->who, j->plan.image, j->a->kver);
	if (j->plan.sign != NULL)
		kmi_warn("%s: kmodimg does not sign: the image is pushed unsigned\n", j->who);
	if (j->a->dry_run) {
		printf("%s: would build %s from ConfigMap %s with buildah and push it\n", j->who,
		       j->plan.image, j->plan.build->dockerfile_cm ? j->plan.build->dockerfile_cm : "?");
		return 0;
	}
	return build_image(j, err);
}

static void strv_from(struct kmi_strv *to, const struct kmm_strv *from)
{
	to->v = from->v;
	to->n = from->n;
	to->set = from->set;
}

/* The ModuleConfig KMM would hand its worker for this Module and kernel (borrowed strings). */
static void modconfig(const struct job *j, struct kmi_modconfig *c)
{
	const struct kmm_modprobe *mp = &j->m->modprobe;

	memset(c, 0, sizeof(*c));
	c->kernel_version = j->plan.kernel_trim;
	c->container_image = j->plan.image;
	strv_from(&c->in_tree_modules_to_remove, &j->plan.intree);
	c->modprobe.module_name = mp->module_name;
	strv_from(&c->modprobe.parameters, &mp->params);
	c->modprobe.dir_name = mp->dir_name;
	strv_from(&c->modprobe.args.load, &mp->args_load);
	strv_from(&c->modprobe.args.unload, &mp->args_unload);
	c->modprobe.args.set = mp->has_args;
	strv_from(&c->modprobe.raw_args.load, &mp->raw_load);
	strv_from(&c->modprobe.raw_args.unload, &mp->raw_unload);
	c->modprobe.raw_args.set = mp->has_raw;
	c->modprobe.firmware_path = *mp->firmware_path ? mp->firmware_path : NULL;
	strv_from(&c->modprobe.modules_loading_order, &mp->order);
}

/* Whether the Module's module is in the running kernel (/sys/module/NAME). */
static bool module_loaded(const struct job *j)
{
	_cleanup_free_ char *name = xstrdup(j->m->modprobe.module_name);
	_cleanup_free_ char *path = NULL;
	const char *sysfs = getenv("KMODIMG_SYSFS");
	struct stat st;

	for (char *p = name; *p; p++)
		if (*p == '-')
			*p = '_';
	path = xasprintf("%s/module/%s", sysfs ? sysfs : "/sys", name);
	return *name != '\0' && stat(path, &st) == 0;
}

/* The worker's load or unload, on the image extracted under the state dir. */
static int work_on_node(struct job *j, bool load, struct kmi_error **err)
{
	struct kmi_kmm_opts ko = { .host_modules = j->a->host_modules, .kver = j->a->kver,
				   .out = stdout };
	struct kmi_modconfig c;
	struct kmi_endpoint ep;
	char digest[KMI_DIGEST_LEN];
	_cleanup_free_ char *root = NULL;
	int lockfd = -1, r;

	modconfig(j, &c);
	if (j->a->dry_run) {
		printf("%s: would %s module %s from %s (dirName %s)\n", j->who, load ? "load" : "unload",
		       c.modprobe.module_name, j->plan.image, c.modprobe.dir_name);
		return 0;
	}
	if ((r = kmi_endpoint_open(j->ref, &j->eo, false, &ep, err)) < 0)
		return r;
	/* recorded, so that a load's collection of unused trees keeps it */
	r = kmi_state_obtain_ref(&ep, j->ref, false, j->a->state_dir, &root, digest, &lockfd, err);
	kmi_endpoint_close(&ep);
	if (r == 0) {
		ko.root = root;
		fflush(stdout);
		r = load ? kmi_kmm_load(&c, &ko, err) : kmi_kmm_unload(&c, &ko, err);
	}
	kmi_state_release(&lockfd);
	if (r == 0)
		printf("%s: module %s %s\n", j->who, c.modprobe.module_name, load ? "loaded" : "unloaded");
	return r;
}

static int job_start(struct job *j, const struct apply_opts *a, const struct kmm_set *set,
		     const struct kmm_module *m, struct kmi_error **err)
{
	struct kmm_diags d = { 0 };
	int r;

	memset(j, 0, sizeof(*j));
	j->a = a;
	j->set = set;
	j->m = m;
	j->who = xasprintf("Module %s/%s", m->ns, m->name);
	r = kmm_plan(m, a->kver, &j->plan, &d);
	print_diags(&d);
	kmm_diags_free(&d);
	if (r < 0)
		return kmi_error_set(err, KMI_EUSAGE, "%s: no plan for kernel %s (see above)", j->who,
				     a->kver);
	print_diags(&j->plan.notes);
	if (!j->plan.targeted) {
		printf("%s: no kernel mapping matches %s: nothing to do\n", j->who, a->kver);
		return 1;
	}
	printf("%s: kernel %s: image %s\n", j->who, a->kver, j->plan.image);
	j->ref = image_ref(j->plan.image);
	j->eo.registry.insecure = j->plan.tls.insecure;
	j->eo.registry.insecure_skip_tls_verify = j->plan.tls.skip_verify;
	j->eo.registry.quiet = true;
	j->work = kmi_tmp_template("kmodimg-apply");
	if (mkdtemp(j->work) == NULL) {
		free(j->work);
		j->work = NULL;
		return kmi_error_set(err, errno, "creating a scratch directory");
	}
	return write_pull_secret(j, err);
}

static void job_end(struct job *j)
{
	if (j->work && kmi_rm_rf(j->work) < 0)
		kmi_warn("could not remove %s\n", j->work);
	free(j->work);
	free((char *)j->eo.registry.pull_secret);
	free(j->ref);
	free(j->who);
	kmm_plan_free(&j->plan);
}

int kmi_apply_module(const struct apply_opts *a, const struct kmm_set *set, const struct kmm_module *m,
		 struct kmi_error **err)
{
	struct job j;
	int r = job_start(&j, a, set, m, err); /* 1: not targeted */

	if (r == 0)
		r = ensure_image(&j, err);
	if (r >= 0 && j.plan.targeted && !a->no_load) {
		if (module_loaded(&j))
			printf("%s: module %s is loaded: nothing to do\n", j.who, m->modprobe.module_name);
		else
			r = work_on_node(&j, true, err);
	}
	job_end(&j);
	return r < 0 ? r : 0;
}

int kmi_apply_delete(const struct apply_opts *a, const struct kmm_set *set,
		  const struct kmm_module *m, struct kmi_error **err)
{
	struct job j;
	int r = job_start(&j, a, set, m, err);

	if (r == 0) {
		if (!module_loaded(&j))
			printf("%s: module %s is not loaded: nothing to do\n", j.who,
			       m->modprobe.module_name);
		else
			r = work_on_node(&j, false, err);
	}
	job_end(&j);
	return r < 0 ? r : 0;
}
