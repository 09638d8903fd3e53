// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/build.h"
#include "tools/common.h"
#include "tools/kmodimg.h"
#include "util/log.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/xalloc.h"

enum {
	OPT_KERNEL = 1000,
	OPT_PREFIX,
	OPT_SUBDIR,
	OPT_LINK,
	OPT_TREE,
	OPT_FIRMWARE,
	OPT_BASE,
	OPT_LABEL,
	OPT_COMPRESSION,
	OPT_IF_MISSING,
	OPT_FORCE,
};

static const struct option long_opts[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "prefix", required_argument, NULL, OPT_PREFIX },
	{ "subdir", required_argument, NULL, OPT_SUBDIR },
	{ "in-tree-link", required_argument, NULL, OPT_LINK },
	{ "kernel-tree", required_argument, NULL, OPT_TREE },
	{ "firmware", required_argument, NULL, OPT_FIRMWARE },
	{ "base", required_argument, NULL, OPT_BASE },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "compression", required_argument, NULL, OPT_COMPRESSION },
	{ "if-missing", no_argument, NULL, OPT_IF_MISSING },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "tag", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	KMI_IMAGE_LONGOPTS,
	{ NULL, 0, NULL, 0 },
};

static void help(void)
{
	printf("Usage: kmodimg build --kernel KVER -t REF [OPTIONS] PATH...\n"
	       "\n"
	       "Build a KMM kmod image from kernel modules: PATHs are .ko[.xz|.zst|.gz] files\n"
	       "or directories, placed under <prefix>/lib/modules/KVER/, indexed by the\n"
	       "built-in depmod. The same inputs give the same image digest.\n"
	       "\n"
	       "Options:\n"
	       "  -t, --tag=REF            where to store it: NAME[:TAG] (local store),\n"
	       "                           oci:DIR[:TAG], or docker://HOST/REPO:TAG (pushed)\n"
	       "      --kernel=KVER        target kernel release (required)\n"
	       "      --prefix=DIR         module root in the image (default /opt)\n"
	       "      --subdir=DIR         below lib/modules/KVER/ (e.g. extra)\n"
	       "      --in-tree-link=NAME  add NAME -> /lib/modules/KVER (KMM's \"host\")\n"
	       "      --kernel-tree=DIR    the target's lib/modules/KVER, to resolve in-tree\n"
	       "                           dependencies through the link (default /lib/modules/KVER)\n"
	       "      --firmware=DIR       files for /lib/firmware in the image\n"
	       "      --base=REF           append to this image (gives KMM's worker /bin/sh, cp)\n"
	       "      --label=KEY=VALUE    image label (repeatable)\n"
	       "      --compression=gzip|zstd  layer compression (default gzip)\n"
	       "      --if-missing         do nothing if REF already exists\n"
	       "      --force              accept modules built for another kernel release\n"
	       "\n" KMI_IMAGE_OPTS_HELP
	       "\n"
	       "SOURCE_DATE_EPOCH sets the timestamps (default 0).\n"
	       "Exit status: 0 built (or present with --if-missing), 1 failure, 2 usage or\n"
	       "access error. See kmodimg-build(1).\n");
}

struct cmd {
	struct kmi_build_opts b;
	struct kmi_endpoint_opts eo;
	const char *tag, *base;
	bool if_missing;
	const char **labels;
	size_t n_labels;
};

/*
 * The base image for the modules' architecture, copied into `layout`
 * (untagged); desc receives its manifest.
 */
static int fetch_base(void *ctx, const char *arch, struct kmi_layout *layout,
		      struct kmi_descriptor *desc, struct kmi_error **err)
{
	struct cmd *c = ctx;
	struct kmi_endpoint src, dst;
	struct kmi_manifest_data md;
	int r = kmi_endpoint_open(c->base, &c->eo, false, &src, err);

	if (r < 0)
		return r;
	r = kmi_endpoint_get_manifest(&src, NULL, &md, err);
	if (r == 0)
		r = kmi_select_platform_arch(&src, &md, arch, err);
	if (r == 0) {
		kmi_endpoint_from_layout(&dst, layout);
		r = kmi_copy_resolved(&src, &dst, &md, NULL, err);
		dst.layout = NULL;
		kmi_endpoint_close(&dst);
	}
	if (r == 0) {
		memset(desc, 0, sizeof(*desc));
		snprintf(desc->media_type, sizeof(desc->media_type), "%s", md.media_type);
		strcpy(desc->digest, md.digest);
		desc->size = md.len;
	}
	free(md.data);
	kmi_endpoint_close(&src);
	return r < 0 ? kmi_error_wrap(err, "base image `%s`", c->base) : 0;
}

static int build_into(struct cmd *c, struct kmi_layout *layout, struct kmi_descriptor *out,
		      struct kmi_error **err)
{
	struct kmi_build_result res;
	int r;

	if (c->base != NULL) {
		c->b.fetch_base = fetch_base;
		c->b.fetch_base_ctx = c;
	}
	r = kmi_build(&c->b, layout, &res, err);
	if (r == 0)
		*out = res.manifest;
	if (r == 0 && c->base == NULL && !c->eo.registry.quiet)
		fprintf(stderr, "kmodimg build: note: no --base, so the image holds only the "
				"modules; KMM >= 2.2 copies them out with /bin/sh and cp\n");
	return r;
}

static int run_build(struct cmd *c, struct kmi_error **err)
{
	struct kmi_endpoint dst, tmp;
	struct kmi_descriptor desc;
	struct kmi_layout *layout = NULL;
	_cleanup_free_ char *tmpl = kmi_tmp_template("kmodimg-push");
	bool via_tmp;
	int r = kmi_endpoint_open(c->tag, &c->eo, true, &dst, err);

	if (r < 0)
		return r;
	if (c->if_missing) {
		char have[KMI_DIGEST_LEN] = "";
		r = kmi_endpoint_exists(&dst, have, err);
		if (r != 0) {
			if (r > 0) {
				/* the digest on stdout, as after a build, when the registry told it */
				if (have[0] != '\0')
					printf("%s\n", have);
				fprintf(stderr, "kmodimg build: %s exists: nothing to do\n", c->tag);
			}
			kmi_endpoint_close(&dst);
			return r < 0 ? r : 0;
		}
	}
	via_tmp = dst.reg != NULL;
	if (via_tmp) {
		if (mkdtemp(tmpl) == NULL) {
			kmi_endpoint_close(&dst);
			return kmi_error_set(err, errno, "creating a scratch directory");
		}
		r = kmi_layout_open(tmpl, true, &layout, err);
		if (r == 0)
			kmi_layout_set_scratch(layout);
	} else {
		layout = dst.layout;
	}
	if (r == 0)
		r = build_into(c, layout, &desc, err);
	if (r == 0 && !via_tmp && kmi_endpoint_tag(&dst) != NULL)
		r = kmi_layout_tag(layout, kmi_endpoint_tag(&dst), &desc, err);
	if (r == 0 && via_tmp) {
		struct kmi_manifest_data md = { 0 };
		kmi_endpoint_from_layout(&tmp, layout);
		r = kmi_endpoint_get_manifest(&tmp, desc.digest, &md, err);
		if (r == 0)
			r = kmi_copy_resolved(&tmp, &dst, &md, kmi_ref_ident(&dst.ref), err);
		free(md.data);
		tmp.layout = NULL;
		kmi_endpoint_close(&tmp);
	}
	if (via_tmp) {
		kmi_layout_close(layout);
		if (kmi_rm_rf(tmpl) < 0)
			kmi_warn("could not remove %s\n", tmpl);
	}
	if (r == 0) {
		printf("%s\n", desc.digest);
		if (!c->eo.registry.quiet)
			fprintf(stderr, "kmodimg build: %s %s\n", c->tag, desc.digest);
	}
	kmi_endpoint_close(&dst);
	return r;
}

static int run(int argc, char *argv[])
{
	struct cmd c = { .b = { .prefix = "/opt", .compression = KMI_COMPRESS_GZIP } };
	struct kmi_error *err = NULL;
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	int opt, r;

	kmi_log_set_prefix("kmodimg build");
	optind = 1;
	while ((opt = getopt_long(argc, argv, "t:h", long_opts, NULL)) != -1) {
		if (kmi_image_opt(opt, optarg, &c.eo))
			continue;
		switch (opt) {
		case 't':
			c.tag = optarg;
			break;
		case OPT_KERNEL:
			c.b.kver = optarg;
			break;
		case OPT_PREFIX:
			c.b.prefix = optarg;
			break;
		case OPT_SUBDIR:
			c.b.subdir = optarg;
			break;
		case OPT_LINK:
			c.b.in_tree_link = optarg;
			break;
		case OPT_TREE:
			c.b.kernel_tree = optarg;
			break;
		case OPT_FIRMWARE:
			c.b.firmware = optarg;
			break;
		case OPT_BASE:
			c.base = optarg;
			break;
		case OPT_LABEL:
			c.labels = xreallocarray(c.labels, c.n_labels + 2, sizeof(*c.labels));
			c.labels[c.n_labels++] = optarg;
			c.labels[c.n_labels] = NULL;
			break;
		case OPT_COMPRESSION:
			if (strcmp(optarg, "gzip") == 0)
				c.b.compression = KMI_COMPRESS_GZIP;
			else if (strcmp(optarg, "zstd") == 0)
				c.b.compression = KMI_COMPRESS_ZSTD;
			else
				return free(c.labels),
				       kmi_usage("build", "--compression takes gzip or zstd, not '%s'", optarg);
			break;
		case OPT_IF_MISSING:
			c.if_missing = true;
			break;
		case OPT_FORCE:
			c.b.force = true;
			break;
		case 'h':
			free(c.labels);
			help();
			return KMI_EXIT_OK;
		default:
			free(c.labels);
			fprintf(stderr, "Try 'kmodimg build --help'.\n");
			return KMI_EXIT_USAGE;
		}
	}
	c.b.labels = c.labels;
	c.b.paths = (const char *const *)argv + optind;
	if (c.tag == NULL || c.b.kver == NULL || optind == argc) {
		free(c.labels);
		return kmi_usage("build", "-t REF, --kernel KVER and at least one PATH are required");
	}
	if (sde != NULL) {
		char *end;
		long long v = strtoll(sde, &end, 10);
		if (*sde == '\0' || *end != '\0' || v < 0) {
			free(c.labels);
			return kmi_usage("build", "SOURCE_DATE_EPOCH='%s' is not a number of seconds", sde);
		}
		c.b.mtime = v;
	}
	r = run_build(&c, &err);
	free(c.labels);
	return r < 0 ? kmi_fail("build", &err) : KMI_EXIT_OK;
}

const struct kmi_cmd kmi_cmd_build = {
	.name = "build",
	.run = run,
	.help = "build a kmod image from kernel modules",
};
