// SPDX-License-Identifier: LGPL-2.1-or-later
/* kmodimg render: the Pods KMM would create for a Module on a kernel. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmm/output.h"
#include "kmm/render.h"
#include "tools/common.h"
#include "tools/kmm-common.h"
#include "tools/kmodimg.h"

#define HELP \
	"Usage: kmodimg render build-pod|sign-pod|worker-pod|pull-pod FILE... --kernel KVER\n" \
	"                      [--node NODE] [--action load|unload] [-o yaml|json]\n" \
	"\n" \
	"Print the Pod KMM would create for the Module in FILE on kernel KVER: the\n" \
	"kaniko build Pod, the signing Pod, the worker Pod that loads or unloads the\n" \
	"module on NODE, or the Pod that checks that the image can be pulled.\n" \
	"ConfigMaps and Secrets the Module names need not be in FILE.\n" \
	"\n" \
	"Options:\n" \
	"  -k, --kernel=KVER        the node's kernel version (required)\n" \
	"  -n, --node=NODE          the node's name (required for worker-pod)\n" \
	"  -a, --action=ACTION      worker-pod: load (default) or unload\n" \
	"  -m, --module=NAME        the Module to render when FILE holds several\n" \
	"  -o, --output=FORMAT      yaml (default) or json\n" \
	"      --no-push            build/sign: kaniko --no-push instead of --destination\n" \
	"      --owner-uid=UID      add KMM's controller ownerReference with this uid\n" \
	"      --builder-image=IMG  kaniko image (default gcr.io/kaniko-project/executor:latest)\n" \
	"      --signer-image=IMG   sign image (default\n" \
	"                           gcr.io/k8s-staging-kmm/kernel-module-management-signimage:latest)\n" \
	"      --worker-image=IMG   worker image (default\n" \
	"                           gcr.io/k8s-staging-kmm/kernel-module-management-worker:latest)\n" \
	"      --run-as-user=UID    worker runAsUser (default 0)\n" \
	"      --selinux-type=TYPE  worker seLinuxOptions.type (default spc_t)\n" \
	"      --firmware-host-path=DIR  host firmware directory (default /lib/firmware)\n" \
	"  -h, --help               this help\n" \
	"\n" \
	"Exit status: 0 success, 1 validation errors or nothing to render (kernel not\n" \
	"targeted, no build or sign for it), 2 usage error or unreadable FILE.\n"

enum {
	OPT_NO_PUSH = 3000,
	OPT_OWNER_UID,
	OPT_BUILDER_IMAGE,
	OPT_SIGNER_IMAGE,
	OPT_WORKER_IMAGE,
	OPT_RUN_AS_USER,
	OPT_SELINUX_TYPE,
	OPT_FIRMWARE_HOST_PATH,
};

enum what { BUILD_POD, SIGN_POD, WORKER_POD, PULL_POD };

struct opts {
	struct kmm_render_opts r;
	enum what what;
	const char *kernel;
	const char *module;
	bool json;
};

static int parse_what(const char *s, enum what *w)
{
	static const char *const names[] = { "build-pod", "sign-pod", "worker-pod", "pull-pod" };

	for (int i = 0; i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*w = (enum what)i;
			return 0;
		}
	}
	return -1;
}

static int parse_opt(int c, struct opts *o)
{
	char *end;

	switch (c) {
	case 'k':
		o->kernel = optarg;
		return -1;
	case 'n':
		o->r.node = optarg;
		return -1;
	case 'm':
		o->module = optarg;
		return -1;
	case 'a':
		if (strcmp(optarg, "load") != 0 && strcmp(optarg, "unload") != 0)
			return kmi_usage("render", "--action is load or unload, not `%s`", optarg);
		o->r.unload = strcmp(optarg, "unload") == 0;
		return -1;
	case 'o':
		if (strcmp(optarg, "json") != 0 && strcmp(optarg, "yaml") != 0)
			return kmi_usage("render", "unknown output format `%s`", optarg);
		o->json = strcmp(optarg, "json") == 0;
		return -1;
	case OPT_NO_PUSH:
		o->r.no_push = true;
		return -1;
	case OPT_OWNER_UID:
		o->r.owner_uid = optarg;
		return -1;
	case OPT_BUILDER_IMAGE:
		o->r.builder_image = optarg;
		return -1;
	case OPT_SIGNER_IMAGE:
		o->r.signer_image = optarg;
		return -1;
	case OPT_WORKER_IMAGE:
		o->r.worker_image = optarg;
		return -1;
	case OPT_RUN_AS_USER:
		o->r.run_as_user = strtoll(optarg, &end, 10);
		if (*end != '\0' || end == optarg)
			return kmi_usage("render", "--run-as-user wants a number");
		return -1;
	case OPT_SELINUX_TYPE:
		o->r.selinux_type = optarg;
		return -1;
	case OPT_FIRMWARE_HOST_PATH:
		o->r.firmware_host_path = optarg;
		return -1;
	case 'h':
		fputs(HELP, stdout);
		return KMI_EXIT_OK;
	default:
		return kmi_usage("render", "bad option");
	}
}

static int parse_args(int argc, char *argv[], struct opts *o)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "node", required_argument, NULL, 'n' },
		{ "module", required_argument, NULL, 'm' },
		{ "action", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "no-push", no_argument, NULL, OPT_NO_PUSH },
		{ "owner-uid", required_argument, NULL, OPT_OWNER_UID },
		{ "builder-image", required_argument, NULL, OPT_BUILDER_IMAGE },
		{ "signer-image", required_argument, NULL, OPT_SIGNER_IMAGE },
		{ "worker-image", required_argument, NULL, OPT_WORKER_IMAGE },
		{ "run-as-user", required_argument, NULL, OPT_RUN_AS_USER },
		{ "selinux-type", required_argument, NULL, OPT_SELINUX_TYPE },
		{ "firmware-host-path", required_argument, NULL, OPT_FIRMWARE_HOST_PATH },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, r;

	while ((c = getopt_long(argc, argv, "k:n:m:a:o:h", longopts, NULL)) != -1)
		if ((r = parse_opt(c, o)) >= 0)
			return r;
	if (optind >= argc)
		return kmi_usage("render", "want a Pod kind and at least one FILE");
	if (parse_what(argv[optind], &o->what) < 0)
		return kmi_usage("render", "unknown Pod kind `%s` (build-pod, sign-pod, worker-pod, pull-pod)",
				 argv[optind]);
	if (++optind >= argc)
		return kmi_usage("render", "want at least one FILE");
	if (o->kernel == NULL)
		return kmi_usage("render", "--kernel is required");
	if (o->what == WORKER_POD && o->r.node == NULL)
		return kmi_usage("render", "worker-pod needs --node");
	return -1;
}

static const struct kmm_module *pick_module(const struct kmm_set *set, const char *name)
{
	const struct kmm_module *hit = NULL;

	for (size_t i = 0; i < set->nmodules; i++) {
		if (name != NULL && strcmp(set->modules[i]->name, name) != 0)
			continue;
		if (hit != NULL) {
			fprintf(stderr, "kmodimg render: several Modules%s%s; choose one with --module\n",
				name ? " named " : "", name ? name : "");
			return NULL;
		}
		hit = set->modules[i];
	}
	if (hit == NULL)
		fprintf(stderr, "kmodimg render: no Module named `%s`\n", name);
	return hit;
}

static json_t *render(const struct opts *o, const struct kmm_plan *p, const struct kmm_set *set,
		      struct kmm_diags *d)
{
	switch (o->what) {
	case BUILD_POD:
		return kmm_render_build_pod(p, set, &o->r, d);
	case SIGN_POD:
		return kmm_render_sign_pod(p, set, &o->r, d);
	case WORKER_POD:
		return kmm_render_worker_pod(p, &o->r, d);
	default:
		return kmm_render_pull_pod(p, &o->r, d);
	}
}

static int output(const struct opts *o, const json_t *pod)
{
	struct kmi_buf b = { 0 };
	int r;

	if (o->json)
		kmm_json_emit(&b, pod);
	else
		kmm_yaml_emit(&b, pod);
	r = fwrite(b.data, 1, b.len, stdout) == b.len && fflush(stdout) == 0 ? 0 : -1;
	kmi_buf_free(&b);
	if (r < 0) {
		perror("kmodimg render: writing the Pod");
		return KMI_EXIT_FAILURE;
	}
	return KMI_EXIT_OK;
}

static int run(int argc, char *argv[])
{
	struct opts o = { 0 };
	struct kmm_diags d = { 0 };
	const struct kmm_module *m;
	struct kmm_plan p = { 0 };
	struct kmm_set set;
	json_t *pod = NULL;
	int r;

	kmm_render_opts_default(&o.r);
	r = parse_args(argc, argv, &o);
	if (r >= 0)
		return r;
	kmm_set_init(&set);
	r = kmi_kmm_read_files("render", &set, argv + optind, argc - optind, &d);
	kmm_diags_free(&d);
	if (r == 0 && (m = pick_module(&set, o.module)) == NULL)
		r = KMI_EXIT_FAILURE;
	if (r == 0) {
		if (kmm_plan(m, o.kernel, &p, &d) == 0)
			pod = render(&o, &p, &set, &d);
		kmi_kmm_print_diags(&d);
		r = pod ? output(&o, pod) : KMI_EXIT_FAILURE;
	}
	json_decref(pod);
	kmm_plan_free(&p);
	kmm_diags_free(&d);
	kmm_set_free(&set);
	return r;
}

const struct kmi_cmd kmi_cmd_render = { "render", run, "the Pods KMM would create for a Module" };
