// SPDX-License-Identifier: LGPL-2.1-or-later
/* The worker Pod (§5.1, internal/pod/workerpodmanager.go) and the pull Pod (§3.1). */
#include <stdlib.h>
#include <string.h>

#include "kmm/output.h"
#include "kmm/render.h"
#include "util/buf.h"
#include "util/xalloc.h"

char *kmm_softdep_text(const struct kmm_strv *order)
{
	struct kmi_buf b = { 0 };

	for (size_t i = 0; i + 1 < order->n; i++)
		kmi_buf_printf(&b, "softdep %s pre: %s\n", order->v[i], order->v[i + 1]);
	kmi_buf_putc(&b, '\0');
	return b.data;
}

static void put_strv(json_t *o, const char *key, const struct kmm_strv *v)
{
	if (v->n > 0) /* omitempty */
		json_object_set_new(o, key, kmm_strv_to_json(v));
}

static json_t *load_unload(const struct kmm_strv *load, const struct kmm_strv *unload)
{
	json_t *o = json_object();

	put_strv(o, "load", load);
	put_strv(o, "unload", unload);
	return o;
}

/* ModprobeSpec with its omitempty tags, keys sorted (sigs.k8s.io/yaml goes through a map). */
static json_t *modprobe_config(const struct kmm_modprobe *mp)
{
	json_t *o = json_object();

	if (mp->has_args)
		json_object_set_new(o, "args", load_unload(&mp->args_load, &mp->args_unload));
	if (mp->dir_name[0])
		json_object_set_new(o, "dirName", kmm_r_str(mp->dir_name));
	if (mp->firmware_path[0])
		json_object_set_new(o, "firmwarePath", kmm_r_str(mp->firmware_path));
	if (mp->module_name[0])
		json_object_set_new(o, "moduleName", kmm_r_str(mp->module_name));
	put_strv(o, "modulesLoadingOrder", &mp->order);
	put_strv(o, "parameters", &mp->params);
	if (mp->has_raw)
		json_object_set_new(o, "rawArgs", load_unload(&mp->raw_load, &mp->raw_unload));
	return o;
}

char *kmm_worker_config_yaml(const struct kmm_plan *p)
{
	const struct kmm_module *m = p->module;
	struct kmi_buf b = { 0 };
	json_t *cfg = json_object();

	json_object_set_new(cfg, "containerImage", kmm_r_str(p->image));
	json_object_set_new(cfg, "imagePullPolicy", kmm_r_str(m->pull_policy));
	put_strv(cfg, "inTreeModulesToRemove", &p->intree);
	json_object_set_new(cfg, "insecurePull", json_boolean(p->tls.insecure || p->tls.skip_verify));
	json_object_set_new(cfg, "kernelVersion", kmm_r_str(p->kernel_trim));
	json_object_set_new(cfg, "modprobe", modprobe_config(&m->modprobe));
	kmm_yaml_emit(&b, cfg);
	json_decref(cfg);
	kmi_buf_putc(&b, '\0');
	return b.data;
}

static json_t *resources(void)
{
	/* 0.5 CPU is "500m" once the API server has it: Quantity's canonical form */
	return json_pack("{s:{s:s,s:s},s:{s:s,s:s}}", "limits", "cpu", "1", "memory", "128Mi",
			 "requests", "cpu", "500m", "memory", "64Mi");
}

/* addCopyCommand: "\nmkdir -p DST;\ncp -R SRC DST;\n" */
static void copy_command(struct kmi_buf *b, const char *src, const char *dst)
{
	kmi_buf_printf(b, "\nmkdir -p %s;\ncp -R %s %s;\n", dst, src, dst);
}

static char *init_script(const struct kmm_plan *p)
{
	const struct kmm_modprobe *mp = &p->module->modprobe;
	char *src = kmm_r_join(mp->dir_name, "lib/modules", p->kernel_trim);
	char *dst = kmm_r_join("/tmp", mp->dir_name, "lib/modules");
	struct kmi_buf b = { 0 };

	copy_command(&b, src, dst);
	free(src);
	free(dst);
	if (mp->firmware_path[0]) {
		src = kmm_r_join(mp->firmware_path, "*", NULL);
		dst = kmm_r_join("/tmp", mp->firmware_path, NULL);
		copy_command(&b, src, dst);
		free(src);
		free(dst);
	}
	kmi_buf_putc(&b, '\0');
	return b.data;
}

static json_t *security_context(const struct kmm_render_opts *o, bool privileged)
{
	if (privileged)
		return json_pack("{s:b}", "privileged", 1);
	return json_pack("{s:{s:[s]},s:{s:s},s:I}", "capabilities", "add", "SYS_MODULE",
			 "seLinuxOptions", "type", o->selinux_type, "runAsUser",
			 (json_int_t)o->run_as_user);
}

static json_t *worker_volumes(bool softdep, const char *fw_host)
{
	json_t *v = json_array();

	json_array_append_new(v, kmm_r_field_volume("config", "config.yaml",
						    "kmm.node.kubernetes.io/worker-config"));
	json_array_append_new(v, json_pack("{s:s,s:{s:s,s:s}}", "name", "lib-modules", "hostPath",
					   "path", "/lib/modules", "type", "Directory"));
	json_array_append_new(v, json_pack("{s:s,s:{}}", "name", "tmp", "emptyDir"));
	if (softdep)
		json_array_append_new(v, kmm_r_field_volume("modules-order", "softdep.conf",
							    "kmm.node.kubernetes.io/modules-order"));
	if (fw_host != NULL)
		json_array_append_new(v, json_pack("{s:s,s:{s:s,s:s}}", "name", "lib-firmware",
						   "hostPath", "path", fw_host, "type",
						   "DirectoryOrCreate"));
	return v;
}

static json_t *worker_mounts(bool softdep, const char *fw_host)
{
	json_t *m = json_array();

	json_array_append_new(m, kmm_r_mount("config", "/etc/kmm-worker", true));
	json_array_append_new(m, kmm_r_mount("lib-modules", "/lib/modules", true));
	json_array_append_new(m, kmm_r_mount("lib-modules", "/host/lib/modules", true));
	json_array_append_new(m, kmm_r_mount("tmp", "/tmp", true));
	if (softdep)
		json_array_append_new(m, kmm_r_mount("modules-order", "/etc/modprobe.d", true));
	if (fw_host != NULL)
		json_array_append_new(m, kmm_r_mount("lib-firmware", fw_host, false));
	return m;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A copy with the keys in Go's map order. */
static json_t *sorted_object(const json_t *o)
{
	const char **keys = xcalloc(json_object_size(o) + 1, sizeof(*keys));
	json_t *out = json_object(), *v;
	const char *k;
	size_t n = 0;

	json_object_foreach((json_t *)o, k, v)
		keys[n++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (size_t i = 0; i < n; i++)
		json_object_set(out, keys[i], json_object_get(o, keys[i]));
	free(keys);
	return out;
}

static json_t *worker_annotations(const struct kmm_plan *p, bool load, bool softdep)
{
	const struct kmm_module *m = p->module;
	json_t *a = json_object();
	char *s;

	/* sorted keys; worker-hash is added last, over everything else */
	if (softdep) {
		s = kmm_softdep_text(&m->modprobe.order);
		json_object_set_new(a, "kmm.node.kubernetes.io/modules-order", kmm_r_str(s));
		free(s);
	}
	s = kmm_worker_config_yaml(p);
	json_object_set_new(a, "kmm.node.kubernetes.io/worker-config", kmm_r_str(s));
	free(s);
	if (load && m->version[0])
		json_object_set_new(a, "kmm.node.kubernetes.io/worker-module-version",
				    kmm_r_str(m->version));
	{
		json_t *tols = kmm_r_tolerations(m, true), *sorted = json_array(), *t;
		struct kmi_buf b = { 0 };
		size_t i;

		/* sigs.k8s.io/yaml writes objects with sorted keys */
		json_array_foreach(tols, i, t)
			json_array_append_new(sorted, sorted_object(t));
		json_decref(tols);
		tols = sorted;

		kmm_yaml_emit(&b, tols);
		kmi_buf_putc(&b, '\0');
		json_object_set_new(a, "kmm.node.kubernetes.io/worker-tolerations", kmm_r_str(b.data));
		kmi_buf_free(&b);
		json_decref(tols);
	}
	return a;
}

json_t *kmm_render_worker_pod(const struct kmm_plan *p, const struct kmm_render_opts *o,
			      struct kmm_diags *d)
{
	const struct kmm_module *m = p->module;
	bool load = !o->unload, fw = m->modprobe.firmware_path[0] != '\0';
	bool softdep = load && m->modprobe.order.n > 0;
	const char *fw_host = fw ? o->firmware_host_path : NULL;
	json_t *args, *meta, *spec, *podj, *ann;
	char *name, *script, *hash;

	if (!p->targeted) {
		kmm_error_at(d, &m->pos, "kernel %s: not targeted", p->kernel);
		return NULL;
	}
	args = json_pack("[s,s,s]", "kmod", load ? "load" : "unload", "/etc/kmm-worker/config.yaml");
	if (fw) {
		json_array_append_new(args, json_string("--firmware-path"));
		json_array_append_new(args, kmm_r_str(fw_host));
	}
	name = xasprintf("kmm-worker-%s-%s", o->node, m->name);
	ann = worker_annotations(p, load, softdep);
	meta = json_pack("{s:o,s:o,s:{s:s,s:s,s:s,s:o,s:s},s:o}", "name", kmm_r_str(name),
			 "namespace", kmm_r_str(m->ns), "labels",
			 "app.kubernetes.io/component", "worker", "app.kubernetes.io/name", "kmm",
			 "app.kubernetes.io/part-of", "kmm", "kmm.node.kubernetes.io/module.name",
			 kmm_r_str(m->name), "kmm.node.kubernetes.io/worker-action",
			 load ? "Load" : "Unload", "annotations", ann);
	free(name);
	if (o->owner_uid != NULL)
		json_object_set_new(meta, "ownerReferences",
				    kmm_r_owner("NodeModulesConfig", o->node, o->owner_uid));
	json_object_set_new(meta, "finalizers",
			    json_pack("[s]", "kmm.node.kubernetes.io/nodemodulesconfig-reconciler"));
	script = init_script(p);
	spec = json_pack("{s:o,s:[{s:s,s:o,s:[s,s],s:[o],s:o,s:[{s:s,s:s}]}]}",
			 "volumes", worker_volumes(softdep, fw_host),
			 "initContainers", "name", "image-extractor", "image", kmm_r_str(p->image),
			 "command", "/bin/sh", "-c", "args", kmm_r_str(script),
			 "resources", resources(), "volumeMounts", "name", "tmp", "mountPath", "/tmp");
	free(script);
	if (m->pull_policy[0])
		json_object_set_new(json_array_get(json_object_get(spec, "initContainers"), 0),
				    "imagePullPolicy", kmm_r_str(m->pull_policy));
	json_object_set_new(spec, "containers",
			    json_pack("[{s:s,s:o,s:o,s:o,s:o,s:o}]", "name", "worker", "image",
				      kmm_r_str(o->worker_image), "args", args, "resources",
				      resources(), "volumeMounts", worker_mounts(softdep, fw_host),
				      "securityContext", security_context(o, load && fw)));
	json_object_set_new(spec, "restartPolicy", json_string("OnFailure"));
	json_object_set_new(spec, "serviceAccountName",
			    kmm_r_str(m->service_account[0] ? m->service_account : "default"));
	json_object_set_new(spec, "nodeName", kmm_r_str(o->node));
	if (m->image_repo_secret != NULL)
		json_object_set_new(spec, "imagePullSecrets",
				    json_pack("[{s:o}]", "name", kmm_r_str(m->image_repo_secret)));
	json_object_set_new(spec, "tolerations", kmm_r_tolerations(m, true));
	podj = json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "v1", "kind", "Pod", "metadata", meta,
			 "spec", spec);
	hash = kmm_r_hash(podj, NULL);
	json_object_set_new(ann, "kmm.node.kubernetes.io/worker-hash", json_string(hash));
	free(hash);
	json_object_set_new(meta, "annotations", sorted_object(ann));
	return podj;
}

json_t *kmm_render_pull_pod(const struct kmm_plan *p, const struct kmm_render_opts *o,
			    struct kmm_diags *d)
{
	const struct kmm_module *m = p->module;
	bool one_time = p->build != NULL || p->sign != NULL;
	json_t *meta, *spec;
	char *gen;

	if (!p->targeted) {
		kmm_error_at(d, &m->pos, "kernel %s: not targeted", p->kernel);
		return NULL;
	}
	gen = xasprintf("%s-pull-pod-", m->name);
	meta = json_pack("{s:o,s:o,s:{s:o,s:s}}", "generateName", kmm_r_str(gen), "namespace",
			 kmm_r_str(m->ns), "labels", "kmm.node.kubernetes.io/image-owner",
			 kmm_r_str(m->name), "kmm.node.kubernetes.io/pull-pod-type",
			 one_time ? "one-time-pull" : "until-success");
	free(gen);
	if (o->owner_uid != NULL)
		json_object_set_new(meta, "ownerReferences",
				    kmm_r_owner("ModuleImagesConfig", m->name, o->owner_uid));
	/* the MIC CRD defaults imagePullPolicy to IfNotPresent */
	spec = json_pack("{s:[{s:s,s:o,s:[s,s,s],s:o}],s:s}", "containers", "name", "puller",
			 "image", kmm_r_str(p->image), "command", "/bin/sh", "-c", "exit 0",
			 "imagePullPolicy", kmm_r_str(m->pull_policy[0] ? m->pull_policy : "IfNotPresent"),
			 "restartPolicy", "Never");
	if (m->image_repo_secret != NULL)
		json_object_set_new(spec, "imagePullSecrets",
				    json_pack("[{s:o}]", "name", kmm_r_str(m->image_repo_secret)));
	if (m->ntols > 0)
		json_object_set_new(spec, "tolerations", kmm_r_tolerations(m, false));
	return json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "v1", "kind", "Pod", "metadata", meta,
			 "spec", spec);
}
