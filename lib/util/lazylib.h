/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "util/error.h"
#include "util/macro.h"

/*
 * A shared library opened on first use rather than by the dynamic linker at
 * start: libcurl and libarchive pull in three dozen more libraries, which cost
 * most of the start-up time of commands that never use them (depmod, load
 * --dry-run); libdeflate, zlib, libyaml and libpcre2 cost a tenth of a dry run.
 * lib/util/dl-*.c define the functions the project calls, under their real
 * names, and forward to the library.
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
 * and exits 2.  Entry points call kmi_curl_load(), kmi_archive_load(), ...
 * first, so this is only a backstop against a crash.
 */
_noreturn_ void kmi_lazylib_die(const struct kmi_lazylib *lib);

/*
 * KMI_LAZYLIB_DEFINE(FUNCS, BY_HAND, SONAME, PACKAGE, LOAD_FN) writes, for one
 * library: the table `fn` of its functions, `lib`, the loader (static bool
 * loaded(void), static void need(void)), LOAD_FN (kmi_curl_load...) and a
 * forwarding definition of each function of FUNCS.
 *   FUNCS(F, V): F(return type, name, (parameters), (arguments)) for each
 *                function, V(name, (parameters), (arguments)) for void ones;
 *   BY_HAND(X):  X(name) for the ones the file defines itself.
 */
#define KMI_LAZY_MEMBER(ret, name, params, args) __typeof__(name) *name;
#define KMI_LAZY_VMEMBER(name, params, args) __typeof__(name) *name;
#define KMI_LAZY_XMEMBER(name) __typeof__(name) *name;
/* POSIX's way to store dlsym()'s object pointer into a function pointer. */
#define KMI_LAZY_XRESOLVE(name) *(void **)&fn.name = kmi_lazylib_sym(&lib, #name);
#define KMI_LAZY_RESOLVE(ret, name, params, args) KMI_LAZY_XRESOLVE(name)
#define KMI_LAZY_VRESOLVE(name, params, args) KMI_LAZY_XRESOLVE(name)
#define KMI_LAZY_FORWARD(ret, name, params, args)                                        \
	ret name params                                                                  \
	{                                                                                \
		need();                                                                  \
		return fn.name args;                                                     \
	}
#define KMI_LAZY_VFORWARD(name, params, args)                                            \
	void name params                                                                 \
	{                                                                                \
		need();                                                                  \
		fn.name args;                                                            \
	}
/* KMI_LAZYLIB_DEFINE_AFTER(..., AFTER): AFTER() runs once, right after the loading. */
static inline void kmi_lazylib_nothing_after(void)
{
}
#define KMI_LAZYLIB_DEFINE(FUNCS, BY_HAND, soname_, package_, load_fn)                   \
	KMI_LAZYLIB_DEFINE_AFTER(FUNCS, BY_HAND, soname_, package_, load_fn,             \
				 kmi_lazylib_nothing_after)
#define KMI_LAZYLIB_DEFINE_AFTER(FUNCS, BY_HAND, soname_, package_, load_fn, after)      \
	static struct {                                                                  \
		FUNCS(KMI_LAZY_MEMBER, KMI_LAZY_VMEMBER)                                 \
		BY_HAND(KMI_LAZY_XMEMBER)                                                \
	} fn;                                                                            \
	static struct kmi_lazylib lib = { .soname = soname_, .package = package_ };      \
	static pthread_once_t once = PTHREAD_ONCE_INIT;                                  \
	static void load(void)                                                           \
	{                                                                                \
		if (!kmi_lazylib_open(&lib))                                             \
			return;                                                          \
		FUNCS(KMI_LAZY_RESOLVE, KMI_LAZY_VRESOLVE)                               \
		BY_HAND(KMI_LAZY_XRESOLVE)                                               \
		if (!lib.failed)                                                         \
			after();                                                         \
	}                                                                                \
	static bool loaded(void)                                                         \
	{                                                                                \
		pthread_once(&once, load);                                               \
		return !lib.failed;                                                      \
	}                                                                                \
	int load_fn(struct kmi_error **err)                                              \
	{                                                                                \
		loaded();                                                                \
		return kmi_lazylib_error(&lib, err);                                     \
	}                                                                                \
	static void need(void)                                                           \
	{                                                                                \
		if (!loaded())                                                           \
			kmi_lazylib_die(&lib);                                           \
	}                                                                                \
	FUNCS(KMI_LAZY_FORWARD, KMI_LAZY_VFORWARD)

/*
 * KMI_LAZY_FREE(name, type): a by-hand `void name(type p)` that frees p
 * without needing the library when p is NULL (cleanup paths free NULL
 * objects, and must work where the library is missing).
 */
#define KMI_LAZY_FREE(name, type)                                                        \
	void name(type p)                                                                \
	{                                                                                \
		if (p != NULL && loaded())                                               \
			fn.name(p);                                                      \
	}

/* Opens the library now; the first call of any of its functions would, too. */
int kmi_curl_load(struct kmi_error **err);
int kmi_archive_load(struct kmi_error **err);
int kmi_deflate_load(struct kmi_error **err);
int kmi_zlib_load(struct kmi_error **err);
int kmi_yaml_load(struct kmi_error **err);
int kmi_pcre2_load(struct kmi_error **err);
int kmi_jansson_load(struct kmi_error **err);
