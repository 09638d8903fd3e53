// SPDX-License-Identifier: LGPL-2.1-or-later
/* kmodimg load: an image's modules into the running kernel, with modprobe's semantics. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/common.h"
#include "tools/kmodimg.h"
#include "tools/node.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/stop.h"
#include "util/xalloc.h"
#include "worker/worker.h"

#define HELP \
	"Usage: kmodimg load [OPTIONS] REF [MODULE [PARAM=VALUE...]]\n" \
	"\n" \
	"Load MODULE from the image REF into the running kernel, with its dependencies\n" \
	"and parameters, as modprobe would; without MODULE, every module the image has\n" \
	"for the kernel, in dependency order.  The image is extracted once per digest\n" \
	"under the state directory and reused while its digest is unchanged; when a\n" \
	"reference moves to another tree, trees no reference names are removed.\n" \
	"In-tree dependencies are reached through the image's in-tree link (`host`).\n" \
	"If a module fails to load, the ones this run loaded are removed again.\n" \
	"\n" \
	"Options:\n" \
	"      --dir-name=DIR       module root in the image (default /opt; KMM's dirName)\n" \
	"      --kernel=KVER        kernel release (default: the running kernel)\n" \
	"      --firmware-path=DIR  copy the image's firmware into DIR and point the\n" \
	"                           kernel's firmware loader at DIR\n" \
	"      --remove-in-tree=MOD remove this in-tree module first if the node's tree\n" \
	"                           has it (repeatable)\n" \
	"      --order=A,B,...      KMM's modulesLoadingOrder: A needs B loaded first, ...\n" \
	"      --dry-run            print the insmod sequence (modprobe --show-depends\n" \
	"                           lines); load nothing\n" \
	"      --state-dir=DIR      where images are extracted (default " KMI_STATE_DIR ")\n" \
	"  -v, --verbose            say what is done\n" \
	"  -h, --help               this help\n" \
	"\n" KMI_IMAGE_OPTS_HELP \
	"\n" \
	"Exit status: 0 success, 1 failure (module or kernel directory not in the\n" \
	"image, the kernel refused a module), 2 usage or access error.\n"

static int load_firmware(const struct kmi_node_opts *n, const char *root, struct kmi_error **err)
{
	_cleanup_free_ char *src = kmi_firmware_source(root, n->dir_name);
	int r;

	if (src == NULL) {
		kmi_warn("the image has no firmware (no %s/lib/firmware or /lib/firmware)\n", n->dir_name);
		return 0;
	}
	if (n->dry_run) {
		fprintf(stderr, "would copy %s/ to %s/ and set the firmware search path\n", src,
			n->firmware_path);
		return 0;
	}
	if ((r = kmi_firmware_copy(src, n->firmware_path, err)) < 0)
		return r;
	if ((r = kmi_node_record_firmware(root, n->firmware_path, err)) < 0)
		return r;
	return kmi_firmware_class_path(n->firmware_path, err);
}

static int do_load(struct kmi_node_opts *n, const char *root, struct kmi_error **err)
{
	struct kmi_load_opts lo = {
		.module = n->module,
		.params = (const char *const *)n->params,
		.n_params = n->n_params,
		.order = (const char *const *)n->order,
		.n_order = n->n_order,
		.dry_run = n->dry_run,
		.out = stdout,
	};
	struct kmi_tree t;
	int r = kmi_tree_open(root, n->dir_name, n->kver, &t, err);

	if (r == 0)
		r = kmi_tree_set_order(&t, lo.order, lo.n_order, err);
	if (r < 0) {
		kmi_tree_close(&t);
		return r;
	}
	/* Unknown module names fail here, before anything on the node changes. */
	if (!n->dry_run) {
		kmi_stop_catch();
		r = kmi_load_check(&t, &lo, err);
	}
	if (r == 0 && n->n_remove > 0) {
		_cleanup_free_ char *host = kmi_node_host_moddir(t.kver);
		r = kmi_remove_in_tree(host, (const char *const *)n->remove, n->n_remove, n->dry_run,
				       stderr, err);
	}
	if (r == 0 && n->firmware_path != NULL)
		r = load_firmware(n, root, err);
	if (r == 0)
		r = kmi_load(&t, &lo, err);
	kmi_tree_close(&t);
	return r;
}

static int run(int argc, char *argv[])
{
	return kmi_node_main("load", HELP, argc, argv, true, do_load);
}

const struct kmi_cmd kmi_cmd_load = { "load", run, "load an image's modules into the running kernel" };
