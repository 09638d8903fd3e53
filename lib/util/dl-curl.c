/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcurl, opened on first use (see util/lazylib.h): these definitions stand
 * in for the library's under the same names, so callers include <curl/curl.h>
 * and call it as usual.  A function the project starts calling must be added
 * to CURL_FUNCS, or the link fails.
 */
/* Here only: its macros would rename the definitions of setopt and getinfo below. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>

#include "util/lazylib.h"

/* F(return type, name, parameters, arguments); V(...) for void functions. */
#define CURL_FUNCS(F, V)                                                                 \
	F(CURLcode, curl_global_init, (long flags), (flags))                             \
	F(CURL *, curl_easy_init, (void), ())                                            \
	F(char *, curl_easy_escape, (CURL *c, const char *s, int n), (c, s, n))          \
	F(CURLcode, curl_easy_perform, (CURL *c), (c))                                   \
	V(curl_easy_reset, (CURL *c), (c))                                               \
	F(const char *, curl_easy_strerror, (CURLcode rc), (rc))                         \
	F(struct curl_slist *, curl_slist_append, (struct curl_slist *l, const char *s), (l, s)) \
	F(CURLU *, curl_url, (void), ())                                                 \
	F(CURLUcode, curl_url_get, (CURLU *u, CURLUPart what, char **part, unsigned int flags), \
	  (u, what, part, flags))                                                        \
	F(CURLUcode, curl_url_set,                                                       \
	  (CURLU *u, CURLUPart what, const char *part, unsigned int flags), (u, what, part, flags))

/* Written by hand below: they accept NULL even when the library is missing, or are variadic. */
#define CURL_FUNCS_BY_HAND(X)                                                            \
	X(curl_easy_cleanup) X(curl_free) X(curl_slist_free_all) X(curl_url_cleanup)     \
	X(curl_easy_setopt) X(curl_easy_getinfo)

KMI_LAZYLIB_DEFINE(CURL_FUNCS, CURL_FUNCS_BY_HAND, "libcurl.so.4", "libcurl4", kmi_curl_load)

/* Cleanup paths free NULL objects; that must not need the library. */
KMI_LAZY_FREE(curl_easy_cleanup, CURL *)
KMI_LAZY_FREE(curl_free, void *)
KMI_LAZY_FREE(curl_slist_free_all, struct curl_slist *)
KMI_LAZY_FREE(curl_url_cleanup, CURLU *)

/*
 * The option's number says the type of its argument (curl.h: CURLOPTTYPE_*,
 * in steps of 10000); read it as that type to pass it on.
 */
CURLcode curl_easy_setopt(CURL *c, CURLoption option, ...)
{
	va_list ap;
	CURLcode rc;

	need();
	va_start(ap, option);
	switch (option / 10000 * 10000) {
	case CURLOPTTYPE_LONG:
		rc = fn.curl_easy_setopt(c, option, va_arg(ap, long));
		break;
	case CURLOPTTYPE_OBJECTPOINT: /* also STRINGPOINT, SLISTPOINT, CBPOINT */
	case CURLOPTTYPE_BLOB:        /* a struct curl_blob * */
		rc = fn.curl_easy_setopt(c, option, va_arg(ap, void *));
		break;
	case CURLOPTTYPE_FUNCTIONPOINT:
		rc = fn.curl_easy_setopt(c, option, va_arg(ap, void (*)(void)));
		break;
	case CURLOPTTYPE_OFF_T:
		rc = fn.curl_easy_setopt(c, option, va_arg(ap, curl_off_t));
		break;
	default:
		rc = CURLE_UNKNOWN_OPTION;
		break;
	}
	va_end(ap);
	return rc;
}

/* Every CURLINFO_* type (CURLINFO_TYPEMASK) is returned through a pointer. */
CURLcode curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
	va_list ap;
	void *out;

	need();
	va_start(ap, info);
	out = va_arg(ap, void *);
	va_end(ap);
	switch (info & CURLINFO_TYPEMASK) {
	case CURLINFO_STRING:
	case CURLINFO_LONG:
	case CURLINFO_DOUBLE:
	case CURLINFO_SLIST: /* also CURLINFO_PTR */
	case CURLINFO_SOCKET:
	case CURLINFO_OFF_T:
		return fn.curl_easy_getinfo(c, info, out);
	default:
		return CURLE_UNKNOWN_OPTION;
	}
}
