/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "verify/verify.h"

/*
 * The checks of kmodimg verify that look at the image alone, for other
 * commands that make images (kmodimg build --dockerfile checks what buildah
 * wrote with them): the layout (the module directory, the modules below it,
 * other kernels' directories) and the depmod output, recomputed by the
 * built-in depmod over the image's modules and compared byte for byte.
 *
 * Uses o->kver, root, dir_name and scratch.  o->kernel_tree is only where
 * the in-tree link leads while depmod runs (it is not read for symbols), and
 * the link's target is not judged.  depmod_fix is the fix given for missing
 * or stale depmod output, in the caller's terms (NULL: verify's own).
 * Findings go to rep, worded as kmodimg verify words them (checks "layout"
 * and "depmod").  Returns the number of modules found.
 */
size_t kmi_verify_image_alone(const struct kmi_verify_opts *o, const char *depmod_fix,
			      struct kmi_report *rep);
