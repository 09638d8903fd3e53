// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * kmodimg apply / delete: one machine as a KMM cluster of one node.  For
 * each Module in the files: the plan for the kernel (mapping, image,
 * build), the image-exists check with the mapping's registryTLS and the
 * Module's imageRepoSecret, a build and push (Dockerfile from the ConfigMap,
 * secrets from the Secrets, buildah as in `build --dockerfile`) only when
 * the image is missing, then the worker's load (or, for delete, unload).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/apply.h"
#include "tools/common.h"
#include "tools/kmm-common.h"
#include "tools/kmodimg.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "worker/kmm.h"
#include "worker/worker.h"

enum {
	OPT_FILE = 'f',
	OPT_KERNEL = 3100,
	OPT_HOST_MODULES,
	OPT_NO_LOAD,
	OPT_DRY_RUN,
	OPT_STATE_DIR,
};

#define APPLY_HELP \
	"Usage: kmodimg apply -f FILE... [OPTIONS]\n" \
	"\n" \
	"Do on this machine what KMM does on a node running kernel KVER for each\n" \
	"Module in the FILEs (YAML or JSON, with the ConfigMaps and Secrets it names):\n" \
	"pick the kernel mapping, check that the image exists (registryTLS,\n" \
	"imageRepoSecret), build and push it with buildah if it is missing and the\n" \
	"Module has a build (an error if it has none), then load the modules as KMM's\n" \
	"worker does.  Running it again changes nothing.\n" \
	"\n" \
	"Options:\n" \
	"  -f, --filename=FILE      Module, ConfigMap and Secret objects (repeatable)\n" \
	"      --kernel=KVER        the node's kernel (default: uname -r)\n" \
	"      --host-modules=DIR   the node's module trees (default /lib/modules): seen\n" \
	"                           by builds at /host/lib/modules, and by the worker\n" \
	"      --no-load            stop after the image exists\n" \
	"      --dry-run            print every step; build, push and load nothing\n" \
	"      --state-dir=DIR      where images are extracted to load them\n" \
	"                           (default " KMI_STATE_DIR ")\n" \
	"  -h, --help               this help\n" \
	"\n" \
	"Exit status: 0 done, 1 failure, 2 usage error or invalid input.\n"

#define DELETE_HELP \
	"Usage: kmodimg delete -f FILE... [--kernel KVER] [--host-modules DIR] [--dry-run]\n" \
	"\n" \
	"Unload the modules of each Module in the FILEs as KMM's worker does when a\n" \
	"Module is deleted (modulesLoadingOrder or moduleName, then the firmware\n" \
	"files).  A Module whose module is not loaded is left alone.\n" \
	"\n" \
	"Exit status: 0 done, 1 failure, 2 usage error or invalid input.\n"

static int parse(const char *cmd, int argc, char *argv[], struct apply_opts *a)
{
	static const struct option long_opts[] = {
		{ "filename", required_argument, NULL, OPT_FILE },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "host-modules", required_argument, NULL, OPT_HOST_MODULES },
		{ "no-load", no_argument, NULL, OPT_NO_LOAD },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool del = streq(cmd, "delete");
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:h", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_FILE:
			a->files = xreallocarray(a->files, (size_t)a->nfiles + 1, sizeof(*a->files));
			a->files[a->nfiles++] = optarg;
			break;
		case OPT_KERNEL:
			if (optarg[0] == '\0' || strchr(optarg, '/') != NULL)
				return kmi_usage(cmd, "invalid kernel release `%s`", optarg);
			a->kver = optarg;
			break;
		case OPT_HOST_MODULES:
			a->host_modules = optarg;
			break;
		case OPT_NO_LOAD:
			if (del)
				return kmi_usage(cmd, "--no-load is for apply");
			a->no_load = true;
			break;
		case OPT_DRY_RUN:
			a->dry_run = true;
			break;
		case OPT_STATE_DIR:
			a->state_dir = optarg;
			break;
		case 'h':
			fputs(del ? DELETE_HELP : APPLY_HELP, stdout);
			return KMI_EXIT_OK;
		default:
			fprintf(stderr, "Try 'kmodimg %s --help'.\n", cmd);
			return KMI_EXIT_USAGE;
		}
	}
	if (optind != argc)
		return kmi_usage(cmd, "unexpected argument `%s`: give files with -f", argv[optind]);
	if (a->nfiles == 0)
		return kmi_usage(cmd, "-f FILE is required");
	return -1;
}

static int run_cmd(const char *cmd, int argc, char *argv[])
{
	struct apply_opts a = { .state_dir = KMI_STATE_DIR };
	struct kmm_set set;
	struct kmm_diags d = { 0 };
	_cleanup_free_ char *running = NULL;
	int r = parse(cmd, argc, argv, &a), failed = 0;

	if (r >= 0) {
		free(a.files);
		return r;
	}
	kmi_log_set_prefix(streq(cmd, "apply") ? "kmodimg apply" : "kmodimg delete");
	if (a.kver == NULL)
		a.kver = running = kmi_running_kernel();
	if (a.host_modules == NULL)
		a.host_modules = "/lib/modules";
	kmm_set_init(&set);
	r = kmi_kmm_read_files(cmd, &set, a.files, a.nfiles, &d);
	for (size_t i = 0; r == 0 && i < set.nmodules; i++) {
		struct kmi_error *err = NULL;
		int rr = streq(cmd, "apply") ? kmi_apply_module(&a, &set, set.modules[i], &err)
					     : kmi_apply_delete(&a, &set, set.modules[i], &err);
		if (rr < 0) {
			int st = kmi_fail(cmd, &err);
			failed = failed > st ? failed : st;
		}
	}
	kmm_diags_free(&d);
	kmm_set_free(&set);
	free(a.files);
	return r ? r : failed;
}

static int run_apply(int argc, char *argv[])
{
	return run_cmd("apply", argc, argv);
}

static int run_delete(int argc, char *argv[])
{
	return run_cmd("delete", argc, argv);
}

const struct kmi_cmd kmi_cmd_apply = { "apply", run_apply,
				       "run KMM's flow for Modules on this machine" };
const struct kmi_cmd kmi_cmd_delete = { "delete", run_delete,
					"unload the modules of Modules, as KMM does" };
