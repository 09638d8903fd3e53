/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* mkdir -p: returns 0 or -errno. */
int kmi_mkdir_p(const char *path, unsigned mode);
/* rm -rf without following symlinks: returns 0 or -errno of the first failure. */
int kmi_rm_rf(const char *path);
/* "$TMPDIR/NAME.XXXXXX" (TMPDIR defaults to /tmp), malloc'ed, for mkdtemp()/mkstemp(). */
char *kmi_tmp_template(const char *name);
