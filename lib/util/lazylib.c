/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/lazylib.h"

static void record(struct kmi_lazylib *lib)
{
	const char *e = dlerror();

	if (!lib->failed)
		snprintf(lib->why, sizeof(lib->why), "%s", e != NULL ? e : "unknown error");
	lib->failed = true;
}

bool kmi_lazylib_open(struct kmi_lazylib *lib)
{
	/* RTLD_LOCAL: its symbols must not satisfy anyone else's references. */
	lib->handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (lib->handle == NULL)
		record(lib);
	return lib->handle != NULL;
}

void *kmi_lazylib_sym(struct kmi_lazylib *lib, const char *name)
{
	void *p;

	if (lib->handle == NULL)
		return NULL;
	dlerror();
	p = dlsym(lib->handle, name);
	if (p == NULL)
		record(lib);
	return p;
}

int kmi_lazylib_error(const struct kmi_lazylib *lib, struct kmi_error **err)
{
	if (!lib->failed)
		return 0;
	/* ELIBACC: "cannot access a needed shared library", an access error (exit 2). */
	return kmi_error_set(err, ELIBACC, "cannot load %s (%s); install %s", lib->soname,
			     lib->why, lib->package);
}

void kmi_lazylib_die(const struct kmi_lazylib *lib)
{
	static atomic_flag dying = ATOMIC_FLAG_INIT;

	/* two threads meeting the same missing library: one message, one exit() */
	if (atomic_flag_test_and_set(&dying))
		for (;;)
			pause();
	fprintf(stderr, "kmodimg: cannot load %s: %s; install %s\n", lib->soname, lib->why,
		lib->package);
	exit(2);
}
