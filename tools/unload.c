// SPDX-License-Identifier: LGPL-2.1-or-later
/* kmodimg unload: an image's modules out of the running kernel, then its firmware. */
#include <stdio.h>
#include <stdlib.h>

#include "tools/common.h"
#include "tools/kmodimg.h"
#include "tools/node.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/stop.h"
#include "worker/worker.h"

#define HELP \
	"Usage: kmodimg unload [OPTIONS] REF [MODULE]\n" \
	"\n" \
	"Remove MODULE (default: every module the image has for the kernel, dependents\n" \
	"first) from the running kernel, then the dependencies nothing else uses, as\n" \
	"modprobe -r would; a module that is not loaded is skipped.  Then remove the\n" \
	"firmware files `kmodimg load --firmware-path` copied.  If REF cannot be\n" \
	"resolved any more, the tree it was extracted to before is used.  SIGTERM,\n" \
	"SIGINT or SIGHUP stop it between two removals (exit status 1, naming the\n" \
	"modules removed and those still loaded); removed modules stay removed.\n" \
	"\n" \
	"Options:\n" \
	"      --dir-name=DIR       module root in the image (default /opt; KMM's dirName)\n" \
	"      --kernel=KVER        kernel release (default: the running kernel)\n" \
	"      --order=A,B,...      remove these modules, in this order (KMM's\n" \
	"                           modulesLoadingOrder)\n" \
	"      --firmware-path=DIR  remove the image's firmware files from DIR (default:\n" \
	"                           the directory load copied them to)\n" \
	"      --dry-run            print `rmmod NAME` lines; remove nothing\n" \
	"      --state-dir=DIR      where images are extracted (default " KMI_STATE_DIR ")\n" \
	"  -v, --verbose            say what is done\n" \
	"  -h, --help               this help\n" \
	"\n" KMI_IMAGE_OPTS_HELP \
	"\n" \
	"Exit status: 0 success, 1 failure (a module is in use, the kernel refused,\n" \
	"stopped by a signal), 2 usage or access error.\n"

static int unload_firmware(const struct kmi_node_opts *n, const char *root, struct kmi_error **err)
{
	_cleanup_free_ char *recorded = kmi_node_recorded_firmware(root);
	_cleanup_free_ char *src = kmi_firmware_source(root, n->dir_name);
	const char *dst = n->firmware_path ? n->firmware_path : recorded;
	int r;

	if (dst == NULL || src == NULL)
		return 0;
	if (n->dry_run) {
		fprintf(stderr, "would remove the files of %s/ from %s/\n", src, dst);
		return 0;
	}
	if ((r = kmi_firmware_remove(src, dst, err)) < 0)
		return r;
	if (recorded != NULL && streq(recorded, dst))
		kmi_node_forget_firmware(root);
	return 0;
}

static int do_unload(struct kmi_node_opts *n, const char *root, struct kmi_error **err)
{
	struct kmi_tree t;
	char **all = NULL;
	size_t n_all = 0;
	int r = kmi_tree_open(root, n->dir_name, n->kver, &t, err);

	if (r < 0)
		return r;
	/* from here SIGTERM, SIGINT and SIGHUP stop it between two removals */
	if (!n->dry_run)
		kmi_stop_catch();
	if (n->n_order > 0) {
		r = kmi_unload(&t, (const char *const *)n->order, n->n_order, n->dry_run, stdout, err);
	} else if (n->module != NULL) {
		struct kmod_list *found;
		/* A name the image does not have is an error listing what it has. */
		if ((r = kmi_tree_lookup(&t, n->module, &found, err)) == 0) {
			kmi_tree_list_free(found);
			r = kmi_unload(&t, &n->module, 1, n->dry_run, stdout, err);
		}
	} else if ((r = kmi_unload_order(&t, &all, &n_all, err)) == 0) {
		r = kmi_unload(&t, (const char *const *)all, n_all, n->dry_run, stdout, err);
		kmi_names_free(all, n_all);
	}
	if (r == 0)
		r = unload_firmware(n, root, err);
	kmi_tree_close(&t);
	return r;
}

static int run(int argc, char *argv[])
{
	return kmi_node_main("unload", HELP, argc, argv, false, do_unload);
}

const struct kmi_cmd kmi_cmd_unload = { "unload", run, "unload an image's modules and firmware" };
