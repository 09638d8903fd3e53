// SPDX-License-Identifier: LGPL-2.1-or-later
/* kmodimg verify: would the target kernel load the image's modules? */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "oci/extract.h"
#include "tools/common.h"
#include "tools/kmodimg.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "verify/verify.h"

enum {
	OPT_KERNEL = 3000,
	OPT_TREE,
	OPT_SYMVERS,
	OPT_DIR_NAME,
	OPT_CERT,
	OPT_REQUIRE_SIG,
};

#define HELP \
	"Usage: kmodimg verify REF --kernel KVER [OPTIONS]\n" \
	"\n" \
	"Check, before any node tries, that the kernel KVER would load the image's\n" \
	"modules: layout, depmod output, ELF class and machine, vermagic, symbol CRCs\n" \
	"(modversions), unresolved and duplicate symbols, symbol namespaces, the\n" \
	"in-tree (host) link, signatures and firmware.  Each finding names the module,\n" \
	"the evidence and the fix, in the kernel's words where it has some.\n" \
	"\n" \
	"Options:\n" \
	"      --kernel=KVER        target kernel release (required)\n" \
	"      --kernel-tree=DIR    the target's lib/modules/KVER (from linux-image, or a\n" \
	"                           node); default /lib/modules/KVER if it exists\n" \
	"      --symvers=FILE       the target's Module.symvers (linux-headers); the\n" \
	"                           .config beside it gives the vermagic and machine\n" \
	"      --dir-name=DIR       module root in the image (default /opt)\n" \
	"      --cert=FILE          X.509 certificate (PEM or DER): check that signatures\n" \
	"                           verify with its key\n" \
	"      --require-signature  an unsigned module is an error\n" \
	"  -o, --output=text|json   report format (default text; json: see the man page)\n" \
	"\n" KMI_IMAGE_OPTS_HELP \
	"\n" \
	"Exit status: 0 nothing would stop a load, 1 something would, 2 usage or\n" \
	"access error.  See kmodimg-verify(1).\n"

struct args {
	struct kmi_verify_opts v;
	struct kmi_endpoint_opts eo;
	const char *ref;
	bool json;
};

/* "/opt/" -> "/opt", "opt" -> "/opt", "/" -> "". */
static char *normalize_dir(const char *d)
{
	size_t len;
	char *s;

	while (*d == '/')
		d++;
	len = strlen(d);
	while (len > 0 && d[len - 1] == '/')
		len--;
	s = xmalloc(len + 2);
	s[0] = '\0';
	if (len > 0)
		snprintf(s, len + 2, "/%.*s", (int)len, d);
	return s;
}

static int parse(int argc, char *argv[], struct args *a)
{
	static const struct option long_opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "kernel-tree", required_argument, NULL, OPT_TREE },
		{ "symvers", required_argument, NULL, OPT_SYMVERS },
		{ "dir-name", required_argument, NULL, OPT_DIR_NAME },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "require-signature", no_argument, NULL, OPT_REQUIRE_SIG },
		{ "output", required_argument, NULL, 'o' },
		KMI_IMAGE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", long_opts, NULL)) != -1) {
		if (kmi_image_opt(c, optarg, &a->eo))
			continue;
		switch (c) {
		case 'h':
			fputs(HELP, stdout);
			return KMI_EXIT_OK;
		case OPT_KERNEL:
			a->v.kver = optarg;
			break;
		case OPT_TREE:
			a->v.kernel_tree = optarg;
			break;
		case OPT_SYMVERS:
			a->v.symvers = optarg;
			break;
		case OPT_DIR_NAME:
			a->v.dir_name = optarg;
			break;
		case OPT_CERT:
			a->v.cert = optarg;
			break;
		case OPT_REQUIRE_SIG:
			a->v.require_signature = true;
			break;
		case 'o':
			if (!streq(optarg, "text") && !streq(optarg, "json"))
				return kmi_usage("verify", "--output: want text or json, not `%s`", optarg);
			a->json = streq(optarg, "json");
			break;
		default:
			fprintf(stderr, "Try 'kmodimg verify --help'.\n");
			return KMI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return kmi_usage("verify", "want one image reference");
	if (a->v.kver == NULL || *a->v.kver == '\0' || strchr(a->v.kver, '/'))
		return kmi_usage("verify", "--kernel KVER is required (a release, no '/')");
	a->ref = argv[optind];
	return -1;
}

static int extract(struct args *a, const char *dest, struct kmi_error **err)
{
	struct kmi_endpoint ep;
	int r = kmi_endpoint_open(a->ref, &a->eo, false, &ep, err);

	if (r == 0)
		r = kmi_extract_image(&ep, dest, NULL, NULL, err);
	kmi_endpoint_close(&ep);
	return r;
}

/* Extracts, verifies, prints: the exit status.  Runs in the child (see guarded()). */
static int verify_image(struct args *a, const char *tmp)
{
	_cleanup_free_ char *root = xasprintf("%s/rootfs", tmp);
	struct kmi_report rep = { 0 };
	struct kmi_error *err = NULL;
	int r, status;

	a->v.root = root;
	a->v.scratch = tmp; /* one dir for the parent to remove, whatever happens */
	r = extract(a, root, &err);
	if (r == 0) {
		rep.image = kmi_report_strdup(a->ref);
		r = kmi_verify(&a->v, &rep, &err);
	}
	kmi_rm_rf(tmp);
	if (r < 0) {
		kmi_report_free(&rep);
		return kmi_fail("verify", &err);
	}
	if (a->json)
		r = kmi_report_print_json(&rep, stdout);
	else
		kmi_report_print_text(&rep, stdout);
	status = kmi_report_count(&rep, KMI_SEV_ERROR) ? KMI_EXIT_FAILURE : KMI_EXIT_OK;
	kmi_report_free(&rep);
	if (r < 0 || fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "kmodimg verify: error: writing the report: %s\n", strerror(errno));
		return KMI_EXIT_USAGE;
	}
	return status;
}

static volatile pid_t child_pid;

static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

/*
 * The work runs in a child while this process waits: whatever signal ends
 * the child (Ctrl-C reaches both; a TERM sent here is passed on), the temp
 * dir with the extracted image is removed here, and the exit status says
 * what happened (128 + signal) instead of a death by a signal.
 */
static int guarded(struct args *a, const char *tmp)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction fwd = { .sa_handler = forward_signal }, old[4];
	int st = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		exit(verify_image(a, tmp));
	if (pid < 0)
		return verify_image(a, tmp);
	child_pid = pid;
	sigemptyset(&fwd.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &fwd, &old[i]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &old[i], NULL);
	kmi_rm_rf(tmp);
	if (WIFSIGNALED(st)) {
		fprintf(stderr, "kmodimg verify: stopped by signal %d\n", WTERMSIG(st));
		return 128 + WTERMSIG(st);
	}
	return WEXITSTATUS(st);
}

static int run(int argc, char *argv[])
{
	struct args a = { .v.dir_name = "/opt" };
	struct kmi_error *err = NULL;
	_cleanup_free_ char *tmp = kmi_tmp_template("kmodimg-verify");
	_cleanup_free_ char *dir = NULL;
	int r;

	if ((r = parse(argc, argv, &a)) >= 0)
		return r;
	dir = normalize_dir(a.v.dir_name);
	a.v.dir_name = dir;
	a.eo.registry.quiet = true;
	if (mkdtemp(tmp) == NULL) {
		kmi_error_set(&err, errno, "creating a temp dir `%s`", tmp);
		return kmi_fail("verify", &err);
	}
	return guarded(&a, tmp);
}

const struct kmi_cmd kmi_cmd_verify = { "verify", run,
					"check that a kernel would load an image's modules" };
