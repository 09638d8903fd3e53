// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/build.h"
#include "tools/common.h"
#include "tools/kmodimg.h"
#include "util/lazylib.h"
#include "util/log.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/parallel.h"
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
	/* --dockerfile mode */
	OPT_DOCKERFILE,
	OPT_CONTEXT,
	OPT_BUILD_ARG,
	OPT_SECRET,
	OPT_MODULE_NAME,
	OPT_MODULE_NAMESPACE,
	OPT_HOST_MODULES,
	OPT_BASE_INSECURE,
	OPT_BASE_SKIP_VERIFY,
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
	{ "dockerfile", required_argument, NULL, OPT_DOCKERFILE },
	{ "context", required_argument, NULL, OPT_CONTEXT },
	{ "build-arg", required_argument, NULL, OPT_BUILD_ARG },
	{ "secret", required_argument, NULL, OPT_SECRET },
	{ "module-name", required_argument, NULL, OPT_MODULE_NAME },
	{ "module-namespace", required_argument, NULL, OPT_MODULE_NAMESPACE },
	{ "host-modules", required_argument, NULL, OPT_HOST_MODULES },
	{ "base-insecure", no_argument, NULL, OPT_BASE_INSECURE },
	{ "base-insecure-skip-tls-verify", no_argument, NULL, OPT_BASE_SKIP_VERIFY },
	{ "tag", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	KMI_IMAGE_LONGOPTS,
	{ NULL, 0, NULL, 0 },
};

/* The name of a long option (without "--"), for messages. */
static const char *argv_opt_name(int val)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == val)
			return o->name;
	return "?";
}

static void help(void)
{
	printf("Usage: kmodimg build --kernel KVER -t REF [OPTIONS] PATH...\n"
	       "       kmodimg build --dockerfile FILE --kernel KVER -t REF [OPTIONS]\n"
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
	       "\n"
	       "Dockerfile builds, as KMM's in-cluster build (run by buildah; --prefix,\n"
	       "--label and --if-missing apply too; the modules must end up in\n"
	       "<prefix>/lib/modules/KVER/ of the image):\n"
	       "      --dockerfile=FILE    build this Dockerfile (instead of PATHs)\n"
	       "      --context=DIR        build context (default: the Dockerfile's directory)\n"
	       "      --build-arg=NAME=VALUE  build argument (repeatable, kept in order);\n"
	       "                           KERNEL_FULL_VERSION, KERNEL_VERSION, MOD_NAME and\n"
	       "                           MOD_NAMESPACE are always set, as KMM sets them\n"
	       "      --secret=NAME=DIR    DIR read-only at /run/secrets/NAME/ (repeatable)\n"
	       "      --module-name=N      MOD_NAME (default: the last part of REF's name)\n"
	       "      --module-namespace=NS  MOD_NAMESPACE (default: default)\n"
	       "      --host-modules=DIR   seen at /host/lib/modules (default /lib/modules)\n"
	       "      --base-insecure      FROM images: allow plain HTTP (and no TLS checks)\n"
	       "      --base-insecure-skip-tls-verify  FROM images: no TLS verification\n"
	       "  --insecure, --insecure-skip-tls-verify and the credentials apply to the\n"
	       "  push; --authfile and --cert-dir to the FROM pulls too.\n"
	       "\n" KMI_IMAGE_OPTS_HELP
	       "\n"
	       "SOURCE_DATE_EPOCH sets the timestamps (default 0).\n"
	       "Exit status: 0 built (or present with --if-missing), 1 failure, 2 usage or\n"
	       "access error. See kmodimg-build(1).\n");
}

/*
 * The base image for the modules' architecture, copied into `layout`
 * (untagged); desc receives its manifest.
 */
static int fetch_base(void *ctx, const char *arch, struct kmi_layout *layout,
		      struct kmi_descriptor *desc, struct kmi_error **err)
{
	struct build_cmd *c = ctx;
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

static int build_into(struct build_cmd *c, struct kmi_layout *layout, struct kmi_descriptor *out,
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

int build_check_missing(struct build_cmd *c, struct kmi_endpoint *dst, struct kmi_error **err)
{
	char have[KMI_DIGEST_LEN] = "";
	int r = kmi_endpoint_exists(dst, have, err);

	if (r > 0) {
		/* the digest on stdout, as after a build, when the registry told it */
		if (have[0] != '\0')
			printf("%s\n", have);
		fprintf(stderr, "kmodimg build: %s exists: nothing to do\n", c->tag);
	}
	return r;
}

/* Blobs of a build without --base: its config and its one layer. */
#define PUSH_SESSIONS 2

static void prepare_push(void *ctx)
{
	kmi_endpoint_prepare_push(ctx, PUSH_SESSIONS);
}

static int run_build(struct build_cmd *c, struct kmi_error **err)
{
	struct kmi_endpoint dst, tmp;
	struct kmi_descriptor desc;
	struct kmi_layout *layout = NULL;
	struct kmi_async connecting = { 0 };
	_cleanup_free_ char *tmpl = kmi_tmp_template("kmodimg-push");
	bool via_tmp;
	int r = kmi_endpoint_open(c->tag, &c->eo, true, &dst, err);

	if (r < 0)
		return r;
	if (c->if_missing && (r = build_check_missing(c, &dst, err)) != 0) {
		kmi_endpoint_close(&dst);
		return r < 0 ? r : 0;
	}
	via_tmp = dst.reg != NULL;
	if (via_tmp) {
		/* the registry's round trips before the first upload overlap the build */
		kmi_async_start(&connecting, prepare_push, &dst);
		if (mkdtemp(tmpl) == NULL) {
			r = kmi_error_set(err, errno, "creating a scratch directory");
			tmpl[0] = '\0';
		} else {
			r = kmi_layout_open_scratch(tmpl, &layout, err);
		}
	} else {
		layout = dst.layout;
	}
	if (r == 0)
		r = build_into(c, layout, &desc, err);
	if (r < 0)
		kmi_endpoint_cancel(&dst);
	kmi_async_wait(&connecting);
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
		if (tmpl[0] != '\0' && kmi_rm_rf(tmpl) < 0)
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

static void push_str(const char ***v, size_t *n, const char *s)
{
	*v = xreallocarray(*v, *n + 2, sizeof(**v));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static void cmd_free(struct build_cmd *c)
{
	free(c->labels);
	free(c->build_args);
	free(c->secrets);
}

/* Options of one mode only: the name of the last one seen, for the usage error. */
struct mode_opts {
	int modules_only, dockerfile_only; /* option values, 0: none */
};

/* The options of the Dockerfile mode; false if opt is not one of them. */
static bool dockerfile_opt(int opt, struct build_cmd *c, struct mode_opts *m)
{
	struct kmi_dockerfile_opts *df = &c->df;

	switch (opt) {
	case OPT_DOCKERFILE:
		df->dockerfile = optarg;
		return true;
	case OPT_CONTEXT:
		df->context = optarg;
		break;
	case OPT_BUILD_ARG:
		push_str(&c->build_args, &c->n_build_args, optarg);
		break;
	case OPT_SECRET:
		push_str(&c->secrets, &c->n_secrets, optarg);
		break;
	case OPT_MODULE_NAME:
		df->module_name = optarg;
		break;
	case OPT_MODULE_NAMESPACE:
		df->module_namespace = optarg;
		break;
	case OPT_HOST_MODULES:
		df->host_modules = optarg;
		break;
	case OPT_BASE_INSECURE:
		df->base_insecure = true;
		break;
	case OPT_BASE_SKIP_VERIFY:
		df->base_insecure_skip_tls_verify = true;
		break;
	default:
		return false;
	}
	m->dockerfile_only = opt;
	return true;
}

/* The options of the modules mode; false if opt is not one of them. */
static bool modules_opt(int opt, struct build_cmd *c, struct mode_opts *m)
{
	switch (opt) {
	case OPT_SUBDIR:
		c->b.subdir = optarg;
		break;
	case OPT_LINK:
		c->b.in_tree_link = optarg;
		break;
	case OPT_TREE:
		c->b.kernel_tree = optarg;
		break;
	case OPT_FIRMWARE:
		c->b.firmware = optarg;
		break;
	case OPT_BASE:
		c->base = optarg;
		break;
	case OPT_FORCE:
		c->b.force = true;
		break;
	default:
		return false;
	}
	m->modules_only = opt;
	return true;
}

/* Returns -1 to go on with argv[optind...], or an exit status. */
static int parse(int argc, char *argv[], struct build_cmd *c, struct mode_opts *m)
{
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "t:h", long_opts, NULL)) != -1) {
		if (kmi_image_opt(opt, optarg, &c->eo) || dockerfile_opt(opt, c, m) ||
		    modules_opt(opt, c, m))
			continue;
		switch (opt) {
		case 't':
			c->tag = optarg;
			break;
		case OPT_KERNEL:
			c->b.kver = c->df.kver = optarg;
			break;
		case OPT_PREFIX:
			c->b.prefix = c->df.prefix = optarg;
			break;
		case OPT_LABEL:
			push_str(&c->labels, &c->n_labels, optarg);
			break;
		case OPT_COMPRESSION:
			if (strcmp(optarg, "gzip") == 0)
				c->b.compression = KMI_COMPRESS_GZIP;
			else if (strcmp(optarg, "zstd") == 0)
				c->b.compression = KMI_COMPRESS_ZSTD;
			else
				return kmi_usage("build", "--compression takes gzip or zstd, not '%s'", optarg);
			m->modules_only = OPT_COMPRESSION;
			break;
		case OPT_IF_MISSING:
			c->if_missing = true;
			break;
		case 'h':
			help();
			return KMI_EXIT_OK;
		default:
			fprintf(stderr, "Try 'kmodimg build --help'.\n");
			return KMI_EXIT_USAGE;
		}
	}
	return -1;
}

static int check_mode(int argc, char *argv[], struct build_cmd *c, const struct mode_opts *m)
{
	if (c->df.dockerfile != NULL) {
		if (m->modules_only)
			return kmi_usage("build", "--%s does not apply to --dockerfile builds",
					 argv_opt_name(m->modules_only));
		if (optind != argc)
			return kmi_usage("build", "--dockerfile takes no PATH (`%s`): the Dockerfile "
					 "puts the modules in the image", argv[optind]);
		if (c->tag == NULL || c->df.kver == NULL)
			return kmi_usage("build", "-t REF and --kernel KVER are required");
		return -1;
	}
	if (m->dockerfile_only)
		return kmi_usage("build", "--%s applies to --dockerfile builds only",
				 argv_opt_name(m->dockerfile_only));
	if (c->tag == NULL || c->b.kver == NULL || optind == argc)
		return kmi_usage("build", "-t REF, --kernel KVER and at least one PATH are required");
	return -1;
}

static int run(int argc, char *argv[])
{
	struct build_cmd c = { .b = { .prefix = "/opt", .compression = KMI_COMPRESS_GZIP },
			       .df = { .prefix = "/opt" } };
	struct mode_opts m = { 0 };
	struct kmi_error *err = NULL;
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	int r;

	kmi_log_set_prefix("kmodimg build");
	if ((r = parse(argc, argv, &c, &m)) >= 0 || (r = check_mode(argc, argv, &c, &m)) >= 0) {
		cmd_free(&c);
		return r;
	}
	c.b.labels = c.labels;
	c.b.paths = (const char *const *)argv + optind;
	if (sde != NULL && c.df.dockerfile == NULL) {
		char *end;
		long long v = strtoll(sde, &end, 10);
		if (*sde == '\0' || *end != '\0' || v < 0) {
			cmd_free(&c);
			return kmi_usage("build", "SOURCE_DATE_EPOCH='%s' is not a number of seconds", sde);
		}
		c.b.mtime = v;
	}
	/*
	 * The libraries the build opens on first use, opened now: one missing
	 * is an error before anything is written (and before libcurl's dlopen
	 * on the connecting thread holds the loader's lock for some 5 ms).
	 */
	r = kmi_jansson_load(&err);
	if (r == 0 && c.df.dockerfile == NULL && c.b.compression == KMI_COMPRESS_GZIP)
		r = kmi_deflate_load(&err);
	if (r == 0)
		r = c.df.dockerfile ? build_dockerfile(&c, &err) : run_build(&c, &err);
	cmd_free(&c);
	return r < 0 ? kmi_fail("build", &err) : KMI_EXIT_OK;
}

const struct kmi_cmd kmi_cmd_build = {
	.name = "build",
	.run = run,
	.help = "build a kmod image from kernel modules or a Dockerfile",
};
