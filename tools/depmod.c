// SPDX-License-Identifier: LGPL-2.1-or-later
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "kmodimg/depmod.h"
#include "tools/kmodimg.h"
#include "util/log.h"
#include "util/xalloc.h"

enum {
	OPT_INDEX_ORDER = 1000,
	OPT_KEEP_GOING,
	OPT_THREADS,
};

static const char short_opts[] = "aAb:C:E:F:euqrvnP:wmo:Vh";
static const struct option long_opts[] = {
	{ "all", no_argument, NULL, 'a' },
	{ "quick", no_argument, NULL, 'A' },
	{ "basedir", required_argument, NULL, 'b' },
	{ "config", required_argument, NULL, 'C' },
	{ "symvers", required_argument, NULL, 'E' },
	{ "filesyms", required_argument, NULL, 'F' },
	{ "errsyms", no_argument, NULL, 'e' },
	{ "unresolved-error", no_argument, NULL, 'u' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "root", no_argument, NULL, 'r' },
	{ "map", no_argument, NULL, 'm' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "show", no_argument, NULL, 'n' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "symbol-prefix", required_argument, NULL, 'P' },
	{ "warn", no_argument, NULL, 'w' },
	{ "outdir", required_argument, NULL, 'o' },
	{ "index-order", required_argument, NULL, OPT_INDEX_ORDER },
	{ "keep-going", no_argument, NULL, OPT_KEEP_GOING },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void help(void)
{
	printf("Usage: kmodimg depmod [OPTIONS] [KVER] [MODULE...]\n"
	       "\n"
	       "Write modules.dep and the other module indexes of <BASEDIR>/lib/modules/KVER,\n"
	       "byte for byte as kmod's depmod does. KVER defaults to the running kernel.\n"
	       "\n"
	       "Options:\n"
	       "  -a, --all               index every module (the default)\n"
	       "  -A, --quick             do nothing if no module is newer than modules.dep\n"
	       "  -b, --basedir=DIR       module tree under DIR/lib/modules/KVER\n"
	       "  -C, --config=PATH       depmod.d file or directory (repeatable; replaces\n"
	       "                          /etc/depmod.d /run/depmod.d /usr/local/lib/depmod.d\n"
	       "                          /lib/depmod.d)\n"
	       "  -E, --symvers=FILE      kernel symbols and CRCs from Module.symvers\n"
	       "  -F, --filesyms=FILE     kernel symbols from System.map (ignored with -E)\n"
	       "  -e, --errsyms           warn about unknown symbols and CRC mismatches\n"
	       "  -n, --show, --dry-run   print the text files on stdout, write nothing\n"
	       "  -o, --outdir=DIR        write to DIR/lib/modules/KVER instead\n"
	       "  -P, --symbol-prefix=C   architecture symbol prefix\n"
	       "  -v, --verbose           print why each dependency exists\n"
	       "  -w, --warn              warn about duplicate index entries\n"
	       "      --index-order=post|pre  .bin node order: post (kmod <= 33, default)\n"
	       "                          or pre (kmod >= 34)\n"
	       "      --keep-going        corrupt modules and bad links are warnings; write\n"
	       "                          what kmod would\n"
	       "      --threads=N         module reader threads (default: one per CPU)\n"
	       "  -V, --version           print the version\n"
	       "  -h, --help              print this help\n"
	       "\n"
	       "Exit status: 0 success, 1 failure, 2 usage error. See kmodimg-depmod(8).\n");
}

static bool is_version_number(const char *s)
{
	unsigned a, b;
	return sscanf(s, "%u.%u", &a, &b) == 2;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kmodimg depmod: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'kmodimg depmod --help'.\n");
	return KMI_EXIT_USAGE;
}

static int run(int argc, char *argv[])
{
	struct kmodimg_depmod_opts o = { 0 };
	const char **configs = NULL;
	size_t n_configs = 0;
	struct utsname un;
	int c, ret;

	kmi_log_set_prefix("depmod");
	optind = 1;
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			break;
		case 'A':
			o.quick = true;
			break;
		case 'b':
			o.basedir = optarg;
			break;
		case 'C':
			configs = xreallocarray(configs, n_configs + 2, sizeof(*configs));
			configs[n_configs++] = optarg;
			configs[n_configs] = NULL;
			break;
		case 'E':
			o.symvers = optarg;
			break;
		case 'F':
			o.system_map = optarg;
			break;
		case 'e':
			o.errsyms = true;
			break;
		case 'u':
		case 'q':
		case 'r':
		case 'm':
			kmi_warn("Ignored deprecated option -%c\n", c);
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'n':
			o.dry_run = true;
			break;
		case 'P':
			if (optarg[0] == '\0' || optarg[1] != '\0') {
				free(configs);
				return usage_error("-P only takes a single char, not '%s'", optarg);
			}
			o.symbol_prefix = optarg[0];
			break;
		case 'w':
			o.warn_dups = true;
			break;
		case 'o':
			o.outdir = optarg;
			break;
		case OPT_INDEX_ORDER:
			if (strcmp(optarg, "post") == 0)
				o.order = KMODIMG_INDEX_POST;
			else if (strcmp(optarg, "pre") == 0)
				o.order = KMODIMG_INDEX_PRE;
			else {
				free(configs);
				return usage_error("--index-order takes post or pre, not '%s'",
						   optarg);
			}
			break;
		case OPT_KEEP_GOING:
			o.keep_going = true;
			break;
		case OPT_THREADS:
			o.threads = atoi(optarg);
			if (o.threads < 1 || o.threads > 64) {
				free(configs);
				return usage_error("--threads takes 1 to 64, not '%s'", optarg);
			}
			break;
		case 'V':
			free(configs);
			printf("kmodimg depmod %s (kmod 30 compatible)\n", KMODIMG_VERSION);
			return KMI_EXIT_OK;
		case 'h':
			free(configs);
			help();
			return KMI_EXIT_OK;
		default:
			free(configs);
			fprintf(stderr, "Try 'kmodimg depmod --help'.\n");
			return KMI_EXIT_USAGE;
		}
	}
	o.config_paths = configs;

	if (optind < argc) {
		if (!is_version_number(argv[optind])) {
			free(configs);
			return usage_error("Bad version passed %s", argv[optind]);
		}
		o.kver = argv[optind++];
	} else {
		if (uname(&un) < 0) {
			free(configs);
			return usage_error("%s", "uname() failed");
		}
		o.kver = un.release;
	}
	if (optind < argc)
		o.modules = (const char *const *)argv + optind;

	ret = kmodimg_depmod(&o);
	free(configs);
	return ret == 0 ? KMI_EXIT_OK : KMI_EXIT_FAILURE;
}

const struct kmi_cmd kmi_cmd_depmod = {
	.name = "depmod",
	.run = run,
	.help = "write modules.dep and the module indexes (kmod 30 byte-compatible)",
};
