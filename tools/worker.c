// SPDX-License-Identifier: LGPL-2.1-or-later
/* kmodimg worker kmod load|unload CONFIG: a drop-in for KMM's worker binary. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common.h"
#include "tools/kmodimg.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/stop.h"
#include "util/xalloc.h"
#include "worker/kmm.h"
#include "worker/modconfig.h"
#include "worker/worker.h"

enum {
	OPT_FIRMWARE_PATH = 3000,
	OPT_ROOT,
	OPT_PULL,
	OPT_STATE_DIR,
	OPT_DRY_RUN,
	OPT_KERNEL,
};

#define HELP \
	"Usage: kmodimg worker kmod load|unload CONFIG [OPTIONS]\n" \
	"\n" \
	"Do what KMM's worker does with its ModuleConfig file CONFIG (the pod's\n" \
	"/etc/kmm-worker/config.yaml): on load, remove the in-tree modules the node\n" \
	"has (inTreeModulesToRemove), copy the firmware (firmwarePath) and load\n" \
	"moduleName with its parameters from ROOT+dirName; on unload, remove the\n" \
	"modules (modulesLoadingOrder, or moduleName), then the firmware files.  With\n" \
	"args or rawArgs, kmod's modprobe runs with exactly KMM's arguments; otherwise\n" \
	"libkmod loads, with modprobe's semantics.  CONFIG is checked strictly: an\n" \
	"unknown field is an error naming its line and column.\n" \
	"\n" \
	"Options:\n" \
	"      --firmware-path=DIR  the host's firmware directory: set as the kernel's\n" \
	"                           firmware search path on load, and where firmware is\n" \
	"                           copied (default /lib/firmware)\n" \
	"      --root=DIR           where the image's files are (default /tmp, where KMM's\n" \
	"                           init container copies them)\n" \
	"      --pull               fetch containerImage and extract it (once per digest,\n" \
	"                           under --state-dir) instead of using --root\n" \
	"      --state-dir=DIR      for --pull (default " KMI_STATE_DIR ")\n" \
	"      --kernel=KVER        kernel release for libkmod and in-tree checks\n" \
	"                           (default: the running kernel, as KMM's modprobe)\n" \
	"      --dry-run            print the modprobe command or insmod sequence; change\n" \
	"                           nothing\n" \
	"  -h, --help               this help\n" \
	"\n" KMI_IMAGE_OPTS_HELP \
	"\n" \
	"Exit status: 0 success, 1 failure, 2 usage error or invalid CONFIG.\n"

struct worker_opts {
	struct kmi_endpoint_opts eo;
	struct kmi_kmm_opts kmm;
	bool pull;
	bool root_set;
	const char *state_dir;
};

static int parse(int argc, char *argv[], struct worker_opts *w)
{
	static const struct option long_opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "firmware-path", required_argument, NULL, OPT_FIRMWARE_PATH },
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "pull", no_argument, NULL, OPT_PULL },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		KMI_IMAGE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (kmi_image_opt(c, optarg, &w->eo))
			continue;
		switch (c) {
		case 'h':
			fputs(HELP, stdout);
			return KMI_EXIT_OK;
		case OPT_FIRMWARE_PATH:
			if (optarg[0] != '/')
				return kmi_usage("worker", "--firmware-path wants an absolute path");
			w->kmm.firmware_path = optarg;
			break;
		case OPT_ROOT:
			w->kmm.root = optarg;
			w->root_set = true;
			break;
		case OPT_PULL:
			w->pull = true;
			break;
		case OPT_STATE_DIR:
			w->state_dir = optarg;
			break;
		case OPT_DRY_RUN:
			w->kmm.dry_run = true;
			break;
		case OPT_KERNEL:
			if (optarg[0] == '\0' || strchr(optarg, '/') != NULL)
				return kmi_usage("worker", "invalid kernel release `%s`", optarg);
			w->kmm.kver = optarg;
			break;
		default:
			fprintf(stderr, "Try 'kmodimg worker --help'.\n");
			return KMI_EXIT_USAGE;
		}
	}
	if (argc - optind != 3 || !streq(argv[optind], "kmod") ||
	    !(streq(argv[optind + 1], "load") || streq(argv[optind + 1], "unload")))
		return kmi_usage("worker", "want: kmod load|unload CONFIG");
	if (w->pull && w->root_set)
		return kmi_usage("worker", "--pull and --root exclude each other");
	return -1;
}

/* --pull: containerImage extracted under the state dir becomes the root. */
static int pull(struct worker_opts *w, const struct kmi_modconfig *c, char **root, int *lockfd,
		struct kmi_error **err)
{
	_cleanup_free_ char *text = NULL;
	struct kmi_endpoint ep;
	char digest[KMI_DIGEST_LEN];
	int r;

	if (c->container_image == NULL || c->container_image[0] == '\0')
		return kmi_error_set(err, KMI_EUSAGE, "--pull: the config has no containerImage");
	/* KMM's images are registry references without a transport. */
	text = strstr(c->container_image, "://") || strncmp(c->container_image, "oci:", 4) == 0
		       ? xstrdup(c->container_image)
		       : xasprintf("docker://%s", c->container_image);
	if (c->insecure_pull)
		w->eo.registry.insecure = true;
	if ((r = kmi_endpoint_open(text, &w->eo, false, &ep, err)) < 0)
		return r;
	/* recorded as `kmodimg load` records it, so that the tree is kept while named */
	r = kmi_state_obtain_ref(&ep, text, false, w->state_dir, root, digest, lockfd, err);
	kmi_endpoint_close(&ep);
	return r;
}

static int run(int argc, char *argv[])
{
	struct worker_opts w = { .kmm = { .root = "/tmp", .out = stdout }, .state_dir = KMI_STATE_DIR };
	struct kmi_modconfig c;
	struct kmi_error *err = NULL;
	_cleanup_free_ char *pulled = NULL;
	int lockfd = -1, r = parse(argc, argv, &w);
	bool load;

	if (r >= 0)
		return r;
	kmi_log_set_prefix("kmodimg worker");
	kmi_log_set_level(KMI_LOG_INFO); /* KMM's worker logs every step */
	load = streq(argv[optind + 1], "load");
	if (kmi_modconfig_load(argv[optind + 2], &c, &err) < 0) {
		kmi_fail("worker", &err);
		return KMI_EXIT_USAGE;
	}
	r = 0;
	if (w.pull && (r = pull(&w, &c, &pulled, &lockfd, &err)) == 0)
		w.kmm.root = pulled;
	w.kmm.host_modules = getenv("KMODIMG_HOST_MODULES");
	/* from here a SIGTERM (the Pod deleted) stops a load or unload between two modules */
	if (r == 0 && !w.kmm.dry_run)
		kmi_stop_catch();
	if (r == 0)
		r = load ? kmi_kmm_load(&c, &w.kmm, &err) : kmi_kmm_unload(&c, &w.kmm, &err);
	kmi_state_release(&lockfd);
	kmi_modconfig_free(&c);
	if (r < 0)
		return kmi_fail("worker", &err);
	return KMI_EXIT_OK;
}

const struct kmi_cmd kmi_cmd_worker = { "worker", run, "KMM's worker: kmod load|unload CONFIG" };
