// SPDX-License-Identifier: LGPL-2.1-or-later
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tools/kmodimg.h"

static const struct kmi_cmd *const commands[] = {
	&kmi_cmd_apply,
	&kmi_cmd_build,
	&kmi_cmd_copy,
	&kmi_cmd_delete,
	&kmi_cmd_depmod,
	&kmi_cmd_exists,
	&kmi_cmd_extract,
	&kmi_cmd_images,
	&kmi_cmd_inspect,
	&kmi_cmd_load,
	&kmi_cmd_plan,
	&kmi_cmd_pull,
	&kmi_cmd_push,
	&kmi_cmd_render,
	&kmi_cmd_rmi,
	&kmi_cmd_unload,
	&kmi_cmd_verify,
	&kmi_cmd_worker,
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: kmodimg [--help] [--version] COMMAND [ARGS...]\n"
		   "\n"
		   "Kernel module container images: build, check, move and load them.\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->help);
	fprintf(f, "\nRun 'kmodimg COMMAND --help' for a command's options; man kmodimg(1).\n");
}

int main(int argc, char *argv[])
{
	const char *name;

	/* A closed pipe is an error to report, not a reason to die by a signal. */
	signal(SIGPIPE, SIG_IGN);

	if (argc < 2) {
		usage(stderr);
		return KMI_EXIT_USAGE;
	}
	name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
		usage(stdout);
		return KMI_EXIT_OK;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
		printf("kmodimg %s\n", KMODIMG_VERSION);
		return KMI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i]->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "kmodimg: unknown command '%s'\n\n", name);
	usage(stderr);
	return KMI_EXIT_USAGE;
}
