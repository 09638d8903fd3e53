/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/digest.h"
#include "util/error.h"

struct kmi_endpoint_opts;

/*
 * `kmodimg build --dockerfile`: KMM's in-cluster build (a kaniko pod) done
 * on one machine by buildah, then the result checked as KMM's worker will
 * use it.  See kmodimg-build(1), DOCKERFILE BUILDS.
 */
struct kmi_dockerfile_opts {
	const char *dockerfile;
	const char *context;          /* NULL: the Dockerfile's directory */
	const char *kver;             /* KERNEL_FULL_VERSION and KERNEL_VERSION */
	const char *module_name;      /* MOD_NAME */
	const char *module_namespace; /* MOD_NAMESPACE */
	const char *const *build_args; /* the user's "NAME=VALUE", NULL-terminated, or NULL */
	const char *const *secrets;    /* "NAME=DIR": DIR at /run/secrets/NAME, or NULL */
	const char *const *labels;     /* "KEY=VALUE" image labels, or NULL */
	const char *host_modules;     /* at /host/lib/modules; NULL: /lib/modules */
	const char *prefix;           /* KMM's dirName, where the check looks ("/opt") */
	/* for the FROM pulls */
	bool base_insecure;
	bool base_insecure_skip_tls_verify;
	const char *authfile;
	const char *cert_dir;
	bool quiet;                   /* buildah's output only when it fails */
	const char *who;              /* prefix of progress messages: "kmodimg build" */
};

/*
 * KMM's build arguments (ApplyBuildArgOverrides): the user's in their order,
 * each one named KERNEL_FULL_VERSION, KERNEL_VERSION, MOD_NAME or
 * MOD_NAMESPACE replaced in place by KMM's value, and those not given
 * appended sorted by name.  Returns a NULL-terminated array of malloc'ed
 * "NAME=VALUE" strings (free with kmi_argv_free).
 */
char **kmi_kmm_build_args(const struct kmi_dockerfile_opts *o);
/* The buildah command line: storage under `work`, the image to oci:`out`:TAG. */
char **kmi_dockerfile_argv(const struct kmi_dockerfile_opts *o, const char *work,
			   const char *out);
void kmi_argv_free(char **v);

/* Checks the options (files, directories, names) before anything runs. */
int kmi_dockerfile_check_opts(const struct kmi_dockerfile_opts *o, struct kmi_error **err);

/*
 * Runs buildah with storage in `work` (an empty private directory) and the
 * image written to the OCI layout `work`/oci, tagged KMI_DOCKERFILE_TAG.
 * buildah's output goes to stderr as it comes; a failure names the step.
 * buildah's storage is removed before returning, the layout is not.
 */
#define KMI_DOCKERFILE_TAG "build"
int kmi_dockerfile_build(const struct kmi_dockerfile_opts *o, const char *work,
			 struct kmi_error **err);

/*
 * Unpacks the image of the layout `work`/oci into `work`/rootfs and checks it
 * the way KMM's worker will use it: <prefix>/lib/modules/<kver>/ must hold at
 * least one module (an error otherwise); depmod output that is missing, or
 * that differs from what the built-in depmod computes for the modules the
 * image holds, is a warning naming the fix.  Returns the number of modules.
 */
int kmi_dockerfile_check_image(const struct kmi_dockerfile_opts *o, const char *work,
			       struct kmi_error **err);

/*
 * The whole build: kmi_dockerfile_build() and kmi_dockerfile_check_image()
 * in a scratch directory of $TMPDIR, then the image copied to `ref` with the
 * endpoint options (the push's TLS and credentials); digest receives its
 * manifest digest.  Nothing reaches ref unless the check passed.
 */
int kmi_dockerfile_run(const struct kmi_dockerfile_opts *o, const char *ref,
		       const struct kmi_endpoint_opts *eo, char digest[KMI_DIGEST_LEN],
		       struct kmi_error **err);
