/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "util/error.h"
#include "util/macro.h"

/*
 * A shared library opened on first use rather than by the dynamic linker at
 * start: libcurl and libarchive pull in three dozen more libraries, which cost
 * most of the start-up time of commands that never use them (depmod, load
 * --dry-run).  lib/util/dl-curl.c and dl-archive.c define the functions the
 * project calls, under their real names, and forward to the library.
 *
 * Each user keeps one of these and a pthread_once_t whose routine calls
 * kmi_lazylib_open() and kmi_lazylib_sym(); after that the fields are read-only.
 */
struct kmi_lazylib {
	const char *soname;  /* e.g. "libcurl.so.4" */
	const char *package; /* the Debian package that ships it */
	void *handle;        /* never closed: its code may still be on a stack */
	bool failed;
	char why[512]; /* dlerror() of the first failure */
};

/* dlopen()s lib->soname; returns false (and records why) if it cannot. */
bool kmi_lazylib_open(struct kmi_lazylib *lib);
/* The address of `name` in lib, or NULL (and lib->failed) if it is missing. */
void *kmi_lazylib_sym(struct kmi_lazylib *lib, const char *name);
/* 0 if lib is usable, else a kmi_error saying which package to install. */
int kmi_lazylib_error(const struct kmi_lazylib *lib, struct kmi_error **err);
/*
 * For calls that have no way to report failure to their caller: says the same
 * and exits 2.  Entry points call kmi_curl_load()/kmi_archive_load() first, so
 * this is only a backstop against a crash.
 */
_noreturn_ void kmi_lazylib_die(const struct kmi_lazylib *lib);

/* Opens libcurl / libarchive now; the first call of any of their functions would, too. */
int kmi_curl_load(struct kmi_error **err);
int kmi_archive_load(struct kmi_error **err);
