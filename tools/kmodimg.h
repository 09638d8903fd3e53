/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Exit codes of every subcommand. */
enum {
	KMI_EXIT_OK = 0,
	KMI_EXIT_FAILURE = 1, /* a failure or a negative answer */
	KMI_EXIT_USAGE = 2,   /* bad usage, or access errors */
};

struct kmi_cmd {
	const char *name;
	int (*run)(int argc, char *argv[]);
	const char *help;
};

extern const struct kmi_cmd kmi_cmd_depmod;
extern const struct kmi_cmd kmi_cmd_build;
extern const struct kmi_cmd kmi_cmd_copy;
extern const struct kmi_cmd kmi_cmd_exists;
extern const struct kmi_cmd kmi_cmd_extract;
extern const struct kmi_cmd kmi_cmd_images;
extern const struct kmi_cmd kmi_cmd_inspect;
extern const struct kmi_cmd kmi_cmd_plan;
extern const struct kmi_cmd kmi_cmd_pull;
extern const struct kmi_cmd kmi_cmd_push;
extern const struct kmi_cmd kmi_cmd_render;
extern const struct kmi_cmd kmi_cmd_rmi;
extern const struct kmi_cmd kmi_cmd_verify;
extern const struct kmi_cmd kmi_cmd_load;
extern const struct kmi_cmd kmi_cmd_unload;
extern const struct kmi_cmd kmi_cmd_worker;
extern const struct kmi_cmd kmi_cmd_apply;
extern const struct kmi_cmd kmi_cmd_delete;
