// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/kmodimg.h"
#include "tools/node.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "worker/worker.h"

enum {
	OPT_DIR_NAME = 3000,
	OPT_KERNEL,
	OPT_FIRMWARE_PATH,
	OPT_REMOVE_IN_TREE,
	OPT_ORDER,
	OPT_DRY_RUN,
	OPT_STATE_DIR,
};

static void split_order(struct kmi_node_opts *n, const char *list)
{
	_cleanup_free_ char *copy = xstrdup(list);
	char *save = NULL;

	for (char *w = strtok_r(copy, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
		n->order = xreallocarray(n->order, n->n_order + 1, sizeof(char *));
		n->order[n->n_order++] = xstrdup(w);
	}
}

static int positional(const char *cmd, int argc, char *argv[], bool load, struct kmi_node_opts *n)
{
	int left = argc - optind;

	if (left < 1)
		return kmi_usage(cmd, "want REF");
	if (!load && left > 2)
		return kmi_usage(cmd, "want REF and at most one MODULE");
	n->ref = argv[optind];
	n->module = left > 1 ? argv[optind + 1] : NULL;
	if (left > 2) {
		n->params = argv + optind + 2;
		n->n_params = (size_t)(left - 2);
	}
	for (size_t i = 0; i < n->n_params; i++) {
		if (strchr(n->params[i], '=') == NULL || n->params[i][0] == '=')
			return kmi_usage(cmd, "`%s` is not PARAM=VALUE", n->params[i]);
	}
	if (n->module != NULL && n->n_order > 0 && !streq(n->module, n->order[0]))
		return kmi_usage(cmd, "--order must start with MODULE (`%s`)", n->module);
	return -1;
}

static int node_parse(const char *cmd, const char *help, int argc, char *argv[], bool load,
		   struct kmi_node_opts *n)
{
	static const struct option long_opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "dir-name", required_argument, NULL, OPT_DIR_NAME },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "firmware-path", required_argument, NULL, OPT_FIRMWARE_PATH },
		{ "remove-in-tree", required_argument, NULL, OPT_REMOVE_IN_TREE },
		{ "order", required_argument, NULL, OPT_ORDER },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		KMI_IMAGE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(n, 0, sizeof(*n));
	n->dir_name = "/opt";
	n->state_dir = KMI_STATE_DIR;
	n->lockfd = -1;
	kmi_log_set_prefix(load ? "kmodimg load" : "kmodimg unload");
	optind = 1;
	while ((c = getopt_long(argc, argv, "hv", long_opts, NULL)) != -1) {
		if (kmi_image_opt(c, optarg, &n->eo))
			continue;
		switch (c) {
		case 'h':
			fputs(help, stdout);
			return KMI_EXIT_OK;
		case 'v':
			kmi_log_set_level(KMI_LOG_INFO);
			break;
		case OPT_DIR_NAME:
			n->dir_name = optarg;
			break;
		case OPT_KERNEL:
			if (optarg[0] == '\0' || strchr(optarg, '/') != NULL || streq(optarg, "..") ||
			    streq(optarg, "."))
				return kmi_usage(cmd, "invalid kernel release `%s`", optarg);
			n->kver = optarg;
			break;
		case OPT_FIRMWARE_PATH:
			if (optarg[0] != '/')
				return kmi_usage(cmd, "--firmware-path wants an absolute path");
			n->firmware_path = optarg;
			break;
		case OPT_REMOVE_IN_TREE:
			if (!load)
				goto bad;
			n->remove = xreallocarray(n->remove, n->n_remove + 1, sizeof(char *));
			n->remove[n->n_remove++] = optarg;
			break;
		case OPT_ORDER:
			split_order(n, optarg);
			if (n->n_order == 0)
				return kmi_usage(cmd, "--order wants module names");
			break;
		case OPT_DRY_RUN:
			n->dry_run = true;
			break;
		case OPT_STATE_DIR:
			n->state_dir = optarg;
			break;
		default:
		bad:
			fprintf(stderr, "Try 'kmodimg %s --help'.\n", cmd);
			return KMI_EXIT_USAGE;
		}
	}
	return positional(cmd, argc, argv, load, n);
}

static int node_obtain(struct kmi_node_opts *n, bool cached_ok, char **root, struct kmi_error **err)
{
	char digest[KMI_DIGEST_LEN];
	int r = kmi_endpoint_open(n->ref, &n->eo, false, &n->ep, err);

	if (r < 0 && !cached_ok)
		return r;
	n->ep_open = r == 0;
	return kmi_state_obtain_ref(r == 0 ? &n->ep : NULL, n->ref, cached_ok, n->state_dir, root, digest,
				    &n->lockfd, err);
}

static void node_done(struct kmi_node_opts *n)
{
	if (n->ep_open)
		kmi_endpoint_close(&n->ep);
	kmi_state_release(&n->lockfd);
	for (size_t i = 0; i < n->n_order; i++)
		free(n->order[i]);
	free(n->order);
	free(n->remove);
}

int kmi_node_main(const char *cmd, const char *help, int argc, char *argv[], bool load,
		  int (*act)(struct kmi_node_opts *n, const char *root, struct kmi_error **err))
{
	struct kmi_node_opts n;
	struct kmi_error *err = NULL;
	_cleanup_free_ char *root = NULL;
	int r = node_parse(cmd, help, argc, argv, load, &n);

	if (r >= 0) {
		node_done(&n);
		return r;
	}
	/* What was loaded must stay unloadable when the image is gone. */
	r = node_obtain(&n, !load, &root, &err);
	if (r == 0)
		r = act(&n, root, &err);
	node_done(&n);
	if (r < 0)
		return kmi_fail(cmd, &err);
	return KMI_EXIT_OK;
}

char *kmi_node_host_moddir(const char *kver)
{
	const char *base = getenv("KMODIMG_HOST_MODULES");

	return xasprintf("%s/%s", base && base[0] ? base : "/lib/modules", kver);
}

/* <state>/.firmware/<tree>: beside the trees, not among them. */
static char *firmware_record(const char *root)
{
	const char *slash = strrchr(root, '/');

	if (slash == NULL)
		return xasprintf(".firmware/%s", root);
	return xasprintf("%.*s/.firmware/%s", (int)(slash - root), root, slash + 1);
}

int kmi_node_record_firmware(const char *root, const char *dir, struct kmi_error **err)
{
	_cleanup_free_ char *path = firmware_record(root);
	_cleanup_free_ char *tmp = xasprintf("%s.%d", path, (int)getpid());
	_cleanup_free_ char *parent = xstrdup(path);
	_cleanup_close_ int fd = -1;

	*strrchr(parent, '/') = '\0';
	kmi_mkdir_p(parent, 0755);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || kmi_write_all(fd, dir, strlen(dir)) < 0 || rename(tmp, path) < 0) {
		int r = kmi_error_set(err, errno, "recording the firmware directory in `%s`", path);
		unlink(tmp);
		return r;
	}
	return 0;
}

char *kmi_node_recorded_firmware(const char *root)
{
	_cleanup_free_ char *path = firmware_record(root);
	struct kmi_buf b = { 0 };

	if (kmi_read_file(path, 4096, &b) < 0 || b.len == 0) {
		kmi_buf_free(&b);
		return NULL;
	}
	kmi_buf_putc(&b, '\0');
	return b.data;
}

void kmi_node_forget_firmware(const char *root)
{
	_cleanup_free_ char *path = firmware_record(root);

	unlink(path);
}
