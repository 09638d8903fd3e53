// SPDX-License-Identifier: LGPL-2.1-or-later
/* kmodimg plan: what KMM would do with a Module on given kernels. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmm/output.h"
#include "kmm/render.h"
#include "tools/common.h"
#include "tools/kmm-common.h"
#include "tools/kmodimg.h"
#include "util/xalloc.h"

#define HELP \
	"Usage: kmodimg plan [OPTIONS] FILE... --kernel KVER [--kernel KVER]...\n" \
	"\n" \
	"Read KMM Module manifests (YAML or JSON, several documents per file, ConfigMaps\n" \
	"and Secrets beside them; FILE - is stdin), check them as KMM's admission webhook\n" \
	"does, and tell for each kernel what KMM would do: whether a kernel mapping\n" \
	"targets it (list order, first match wins), the containerImage after\n" \
	"substitution, the merged build (with the effective --build-arg list) and sign\n" \
	"settings, registryTLS, in-tree modules to remove and the modprobe settings.\n" \
	"\n" \
	"Options:\n" \
	"  -k, --kernel=KVER     a kernel version, as `uname -r` prints it (repeatable)\n" \
	"  -n, --node=NAME=KVER  a node and its kernel (repeatable)\n" \
	"  -o, --output=FORMAT   json (default), yaml or text\n" \
	"  -b, --builder-image=IMG  the kaniko image KMM runs (default\n" \
	"                        gcr.io/kaniko-project/executor:latest), for warnings\n" \
	"  -h, --help            this help\n" \
	"\n" \
	"Exit status: 0 every kernel is targeted, 1 validation errors or a kernel that\n" \
	"no mapping targets, 2 usage error or unreadable FILE.\n"

enum format { FMT_JSON, FMT_YAML, FMT_TEXT };

struct target {
	const char *kernel;
	const char *node; /* NULL for --kernel */
};

struct opts {
	struct target *t;
	size_t nt;
	enum format fmt;
	const char *builder_image;
};

static int parse_args(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "node", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "builder-image", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "k:n:o:b:h", longopts, NULL)) != -1) {
		char *eq;

		switch (c) {
		case 'k':
			o->t = xreallocarray(o->t, o->nt + 1, sizeof(*o->t));
			o->t[o->nt++] = (struct target){ optarg, NULL };
			break;
		case 'n':
			eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg || eq[1] == '\0')
				return kmi_usage("plan", "--node wants NAME=KVER, got `%s`", optarg);
			*eq = '\0';
			o->t = xreallocarray(o->t, o->nt + 1, sizeof(*o->t));
			o->t[o->nt++] = (struct target){ eq + 1, optarg };
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				o->fmt = FMT_JSON;
			else if (strcmp(optarg, "yaml") == 0)
				o->fmt = FMT_YAML;
			else if (strcmp(optarg, "text") == 0)
				o->fmt = FMT_TEXT;
			else
				return kmi_usage("plan", "unknown output format `%s`", optarg);
			break;
		case 'b':
			o->builder_image = optarg;
			break;
		case 'h':
			fputs(HELP, stdout);
			return KMI_EXIT_OK;
		default:
			return kmi_usage("plan", "bad option");
		}
	}
	if (optind >= argc)
		return kmi_usage("plan", "want at least one FILE");
	if (o->nt == 0)
		return kmi_usage("plan", "want at least one --kernel or --node");
	return -1;
}

/* MIC-style: each image once, with the first kernel that wants it (§2.1). */
static void add_image(json_t *images, const struct kmm_plan *p)
{
	size_t i;
	json_t *it;

	json_array_foreach(images, i, it) {
		if (strcmp(json_string_value(json_object_get(it, "containerImage")), p->image) == 0) {
			json_array_append_new(json_object_get(it, "kernels"), json_string(p->kernel));
			return;
		}
	}
	json_array_append_new(images, json_pack("{s:s,s:s,s:b,s:b,s:[s]}", "containerImage",
						p->image, "kernel", p->kernel, "build",
						p->build != NULL, "sign", p->sign != NULL, "kernels",
						p->kernel));
}

static json_t *warnings_json(const struct kmm_diags *d)
{
	json_t *a = json_array();

	for (size_t i = 0; i < d->n; i++)
		json_array_append_new(a, json_string(d->msgs[i]));
	return a;
}

static json_t *plan_module(const struct kmm_module *m, const struct opts *o, int *status)
{
	json_t *kernels = json_array(), *images = json_array(), *out;
	struct kmm_diags warn = { 0 };
	bool warned_kaniko = false;

	kmm_lint_module(m, &warn);
	for (size_t i = 0; i < o->nt; i++) {
		struct kmm_diags d = { 0 };
		struct kmm_plan p;
		json_t *k;

		if (kmm_plan(m, o->t[i].kernel, &p, &d) < 0) {
			k = json_pack("{s:s,s:s}", "kernel", o->t[i].kernel, "error",
				      d.n ? d.msgs[0] : "plan failed");
			*status = KMI_EXIT_FAILURE;
		} else {
			k = kmm_plan_to_json(&p);
			if (p.build != NULL && p.build->kaniko_tag != NULL && !warned_kaniko &&
			    kmm_kaniko_tag_cuts_port(o->builder_image)) {
				kmm_warn_at(&warn, &p.build->pos,
					    "kanikoParams.tag cuts the builder image `%s` at its registry port (as KMM does)",
					    o->builder_image);
				warned_kaniko = true;
			}
			if (!p.targeted)
				*status = KMI_EXIT_FAILURE;
			else
				add_image(images, &p);
		}
		if (o->t[i].node != NULL)
			json_object_set_new(k, "node", json_string(o->t[i].node));
		json_array_append_new(kernels, k);
		kmi_kmm_print_diags(&d);
		kmm_diags_free(&d);
		kmm_plan_free(&p);
	}
	/* lint warnings were printed by the load; kernel-specific ones only now */
	for (size_t i = 0; i < warn.n; i++)
		if (strstr(warn.msgs[i], "kanikoParams.tag") != NULL)
			fprintf(stderr, "%s\n", warn.msgs[i]);
	out = json_pack("{s:{s:s,s:s},s:o,s:o,s:o}", "module", "name", m->name, "namespace", m->ns,
			"kernels", kernels, "images", images, "warnings", warnings_json(&warn));
	kmm_diags_free(&warn);
	return out;
}

static void print_text(struct kmi_buf *b, const json_t *mod)
{
	json_t *k;
	size_t i;

	kmi_buf_printf(b, "Module %s/%s\n",
		       json_string_value(json_object_get(json_object_get(mod, "module"), "namespace")),
		       json_string_value(json_object_get(json_object_get(mod, "module"), "name")));
	json_array_foreach(json_object_get(mod, "kernels"), i, k) {
		json_t *build = json_object_get(k, "build"), *sign = json_object_get(k, "sign");
		const char *err = json_string_value(json_object_get(k, "error"));

		kmi_buf_printf(b, "  %s: ", json_string_value(json_object_get(k, "kernel")));
		if (err != NULL)
			kmi_buf_printf(b, "error: %s\n", err);
		else if (!json_is_true(json_object_get(k, "targeted")))
			kmi_buf_puts(b, "not targeted\n");
		else
			kmi_buf_printf(b, "mapping %lld, image %s%s%s\n",
				       (long long)json_integer_value(json_object_get(k, "mapping")),
				       json_string_value(json_object_get(k, "containerImage")),
				       json_is_object(build) ? ", build" : "",
				       json_is_object(sign) ? ", sign" : "");
	}
}

static int emit(const struct opts *o, json_t *all)
{
	struct kmi_buf b = { 0 };
	size_t i;
	json_t *mod;
	int r;

	json_array_foreach(all, i, mod) {
		if (o->fmt == FMT_JSON) {
			kmm_json_emit(&b, mod);
		} else if (o->fmt == FMT_YAML) {
			if (i > 0)
				kmi_buf_puts(&b, "---\n");
			kmm_yaml_emit(&b, mod);
		} else {
			print_text(&b, mod);
		}
	}
	r = fwrite(b.data, 1, b.len, stdout) == b.len && fflush(stdout) == 0 ? 0 : -1;
	kmi_buf_free(&b);
	if (r < 0) {
		perror("kmodimg plan: writing the plan");
		return KMI_EXIT_FAILURE;
	}
	return 0;
}

static int run(int argc, char *argv[])
{
	struct opts o = { .fmt = FMT_JSON, .builder_image = "gcr.io/kaniko-project/executor:latest" };
	struct kmm_diags d = { 0 };
	struct kmm_set set;
	json_t *all;
	int r, status = KMI_EXIT_OK;

	r = parse_args(argc, argv, &o);
	if (r >= 0) {
		free(o.t);
		return r;
	}
	kmm_set_init(&set);
	r = kmi_kmm_read_files("plan", &set, argv + optind, argc - optind, &d);
	if (r == 0) {
		all = json_array();
		for (size_t i = 0; i < set.nmodules; i++)
			json_array_append_new(all, plan_module(set.modules[i], &o, &status));
		r = emit(&o, all);
		json_decref(all);
		if (r == 0)
			r = status;
	}
	kmm_diags_free(&d);
	kmm_set_free(&set);
	free(o.t);
	return r;
}

const struct kmi_cmd kmi_cmd_plan = { "plan", run, "what KMM would do with a Module on given kernels" };
