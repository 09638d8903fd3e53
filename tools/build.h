/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "build/build.h"
#include "build/dockerfile.h"
#include "oci/transport.h"

/* `kmodimg build`, either mode: from modules (build.c) or from a Dockerfile (build-dockerfile.c). */
struct build_cmd {
	struct kmi_build_opts b;
	struct kmi_dockerfile_opts df;
	struct kmi_endpoint_opts eo;
	const char *tag, *base;
	bool if_missing;
	const char **labels, **build_args, **secrets;
	size_t n_labels, n_build_args, n_secrets;
};

/* With --if-missing: 1 when `dst` has the image (reported), 0 to build, negative on error. */
int build_check_missing(struct build_cmd *c, struct kmi_endpoint *dst, struct kmi_error **err);
int build_dockerfile(struct build_cmd *c, struct kmi_error **err);
