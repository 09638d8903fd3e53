/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "oci/transport.h"
#include "util/digest.h"
#include "util/error.h"

/*
 * The node side: put an image's files on disk once per digest, load and
 * unload its modules through libkmod with modprobe's semantics, copy its
 * firmware, and KMM's worker on top of that.
 */

struct kmod_ctx;
struct kmod_module;
struct kmod_list;

/* ---- state.c: one extraction per image digest ---- */

#define KMI_STATE_DIR "/var/lib/kmodimg/images"

/*
 * The image ep names, extracted under state_dir (created if missing) as
 * `<algo>-<hex>` of its manifest digest, reused while it exists: the
 * extraction lands by a rename, so an existing directory is complete.
 * Runs hold `<state_dir>/.lock` (flock) from here until kmi_state_release(),
 * so concurrent runs neither extract twice nor load while another unloads.
 * *root is the extracted tree (malloc'ed), *lockfd the lock to release.
 */
int kmi_state_obtain(struct kmi_endpoint *ep, const char *state_dir, char **root,
		     char digest[KMI_DIGEST_LEN], int *lockfd, struct kmi_error **err);
/*
 * The same, remembering which tree the reference `ref` resolved to; with
 * `cached_ok`, a reference that cannot be resolved now (registry down, tag
 * deleted) falls back to that tree, so that what was loaded can always be
 * unloaded.  ep NULL: opening the reference already failed (*err says why).
 */
int kmi_state_obtain_ref(struct kmi_endpoint *ep, const char *ref, bool cached_ok,
			 const char *state_dir, char **root, char digest[KMI_DIGEST_LEN],
			 int *lockfd, struct kmi_error **err);
void kmi_state_release(int *lockfd);
/*
 * state-gc.c: under the lock, removes the trees of state_dir that no record
 * names (but keep, the tree this run uses), the temp dirs of interrupted
 * extractions, and the records and firmware records of trees that are gone.
 * A tree that cannot be removed fully is a warning.  kmi_state_obtain_ref()
 * calls it when a reference's record changes to another tree.
 */
void kmi_state_collect(const char *state_dir, const char *keep);

/* ---- tree.c: the image's module tree for one kernel ---- */

struct kmi_tree {
	char *moddir;          /* <root><dir_name>/lib/modules/<kver> */
	char *kver;
	struct kmod_ctx *ctx;  /* libkmod over moddir, the host's modprobe.d config */
};

/*
 * Opens the tree; a missing directory for kver is an error listing the
 * kernel versions the image has.  kver NULL: the running kernel.
 */
int kmi_tree_open(const char *root, const char *dir_name, const char *kver,
		  struct kmi_tree *t, struct kmi_error **err);
void kmi_tree_close(struct kmi_tree *t);
/*
 * KMM's modulesLoadingOrder [a, b, c]: the softdeps "a pre: b" and
 * "b pre: c" on top of the host's modprobe.d, as the modules-order file KMM
 * mounts into its worker, so that loading a loads c, b, then a.
 */
int kmi_tree_set_order(struct kmi_tree *t, const char *const *order, size_t n,
		       struct kmi_error **err);
/* The modules the image itself carries (modules.dep entries not under an in-tree link). */
int kmi_tree_list(const struct kmi_tree *t, char ***names, size_t *n, struct kmi_error **err);
void kmi_names_free(char **names, size_t n);
/*
 * The modules name (a module or an alias) resolves to in the tree, as
 * modprobe looks it up; none is an error listing what the image has.
 */
int kmi_tree_lookup(const struct kmi_tree *t, const char *name, struct kmod_list **list,
		    struct kmi_error **err);
void kmi_tree_list_free(struct kmod_list *list);
/* The running kernel's release (uname -r), malloc'ed. */
char *kmi_running_kernel(void);

/* ---- load.c / unload.c ---- */

struct kmi_load_opts {
	const char *module;         /* NULL: every module of the image */
	const char *const *params;  /* PARAM=VALUE for module */
	size_t n_params;
	const char *const *order;   /* KMM's modulesLoadingOrder (set on the tree too): module */
	size_t n_order;             /* defaults to its first entry */
	bool dry_run;               /* print modprobe --show-depends lines, load nothing */
	FILE *out;                  /* where dry-run lines go */
};

/*
 * Loads with dependencies (modprobe's order, softdeps and install commands
 * from the host config); on a failure removes what this call inserted.  A
 * termination request noted by kmi_stop_catch() (util/stop.h) stops it
 * between two modules, as a failure does (EINTR).
 */
int kmi_load(const struct kmi_tree *t, const struct kmi_load_opts *o, struct kmi_error **err);
/* Resolves what kmi_load() would load, without loading: names checked before any side effect. */
int kmi_load_check(const struct kmi_tree *t, const struct kmi_load_opts *o, struct kmi_error **err);

/*
 * Removes each module of names (in that order) unless it is not loaded,
 * then the dependencies nothing else uses any more.  dry_run prints
 * `rmmod NAME` lines instead.
 */
int kmi_unload(const struct kmi_tree *t, const char *const *names, size_t n, bool dry_run,
	       FILE *out, struct kmi_error **err);
/* Every module of the image, dependents before dependencies. */
int kmi_unload_order(const struct kmi_tree *t, char ***names, size_t *n, struct kmi_error **err);

/*
 * In-tree modules to remove before loading (KMM's inTreeModulesToRemove):
 * only those the node's tree host_moddir (e.g. /lib/modules/<kver>) has;
 * each is removed with its unused dependencies if loaded.
 */
int kmi_remove_in_tree(const char *host_moddir, const char *const *names, size_t n,
		       bool dry_run, FILE *out, struct kmi_error **err);

/* ---- explain.c ---- */

/* What an init_module/delete_module errno means for this module, and what to do. */
int kmi_explain_insert(struct kmod_module *m, const char *options, const char *kver, int errnum,
		       struct kmi_error **err);

/* A parameter in options ("a=1 b") that the module does not declare (malloc'ed), or NULL. */
char *kmi_unknown_param(struct kmod_module *m, const char *options);

/* ---- firmware.c ---- */

/*
 * Copies the regular files and symlinks below src into dst (merging into
 * existing directories, replacing files by a rename), as KMM's worker does.
 */
int kmi_firmware_copy(const char *src, const char *dst, struct kmi_error **err);
/* Removes from dst each regular file src has at the same relative path; directories stay. */
int kmi_firmware_remove(const char *src, const char *dst, struct kmi_error **err);
/*
 * Points the firmware loader at path: writes
 * <sysfs>/module/firmware_class/parameters/path if it holds something else.
 * sysfs is $KMODIMG_SYSFS or /sys.
 */
int kmi_firmware_class_path(const char *path, struct kmi_error **err);
/* The image's firmware dir: <root><dir_name>/lib/firmware, else <root>/lib/firmware; NULL if none. */
char *kmi_firmware_source(const char *root, const char *dir_name);
