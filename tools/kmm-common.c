// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdio.h>

#include "tools/common.h"
#include "tools/kmm-common.h"
#include "tools/kmodimg.h"
#include "util/lazylib.h"

void kmi_kmm_print_diags(const struct kmm_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "%s\n", d->msgs[i]);
}

int kmi_kmm_read_files(const char *cmd, struct kmm_set *set, char **files, int nfiles,
		 struct kmm_diags *d)
{
	struct kmi_error *err = NULL;
	bool unreadable = false;

	/* Not a YAML or regexp error in the input: say which package is missing. */
	if (kmi_yaml_load(&err) < 0 || kmi_pcre2_load(&err) < 0)
		return kmi_fail(cmd, &err);
	for (int i = 0; i < nfiles; i++)
		if (kmm_load_file(set, files[i], d) < 0)
			unreadable = true;
	/* the webhook's rules too, even after a structural error: report everything at once */
	kmm_validate(set, d);
	kmi_kmm_print_diags(d);
	if (unreadable)
		return KMI_EXIT_USAGE;
	if (d->nerrors > 0) {
		fprintf(stderr, "kmodimg %s: %zu error%s\n", cmd, d->nerrors, d->nerrors == 1 ? "" : "s");
		return KMI_EXIT_FAILURE;
	}
	if (set->nmodules == 0) {
		fprintf(stderr, "kmodimg %s: no Module (kmm.sigs.x-k8s.io/v1beta1) in the input\n", cmd);
		return KMI_EXIT_FAILURE;
	}
	return 0;
}
