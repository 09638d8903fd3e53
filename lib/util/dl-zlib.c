/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * zlib, opened on first use (see util/lazylib.h): only gzip members too
 * large for libdeflate's buffers and .ko.gz modules need it.
 */
#include <pthread.h>
#include <zlib.h>

#include "util/lazylib.h"

/* F(return type, name, parameters, arguments); V(...) for void functions. */
#define ZLIB_FUNCS(F, V)                                                                 \
	F(int, inflate, (z_streamp z, int flush), (z, flush))                            \
	F(int, inflateEnd, (z_streamp z), (z))                                           \
	F(int, inflateReset, (z_streamp z), (z))                                         \
	F(int, inflateInit2_, (z_streamp z, int bits, const char *version, int size),    \
	  (z, bits, version, size))

#define ZLIB_FUNCS_BY_HAND(X)

KMI_LAZYLIB_DEFINE(ZLIB_FUNCS, ZLIB_FUNCS_BY_HAND, "libz.so.1", "zlib1g", kmi_zlib_load)
