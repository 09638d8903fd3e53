/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libdeflate, opened on first use (see util/lazylib.h): only building and
 * extracting gzip layers need it.
 */
#include <libdeflate.h>
#include <pthread.h>

#include "util/lazylib.h"

/* F(return type, name, parameters, arguments); V(...) for void functions. */
#define DEFLATE_FUNCS(F, V)                                                              \
	F(struct libdeflate_compressor *, libdeflate_alloc_compressor, (int level), (level)) \
	F(struct libdeflate_decompressor *, libdeflate_alloc_decompressor, (void), ())   \
	F(size_t, libdeflate_gzip_compress,                                              \
	  (struct libdeflate_compressor *c, const void *in, size_t n, void *out, size_t avail), \
	  (c, in, n, out, avail))                                                        \
	F(size_t, libdeflate_gzip_compress_bound, (struct libdeflate_compressor *c, size_t n), \
	  (c, n))                                                                        \
	F(enum libdeflate_result, libdeflate_gzip_decompress_ex,                         \
	  (struct libdeflate_decompressor *d, const void *in, size_t n, void *out, size_t avail, \
	   size_t *in_used, size_t *out_len),                                            \
	  (d, in, n, out, avail, in_used, out_len))

/* Written by hand below: they accept NULL even when the library is missing. */
#define DEFLATE_FUNCS_BY_HAND(X) X(libdeflate_free_compressor) X(libdeflate_free_decompressor)

KMI_LAZYLIB_DEFINE(DEFLATE_FUNCS, DEFLATE_FUNCS_BY_HAND, "libdeflate.so.0", "libdeflate0",
		   kmi_deflate_load)

KMI_LAZY_FREE(libdeflate_free_compressor, struct libdeflate_compressor *)
KMI_LAZY_FREE(libdeflate_free_decompressor, struct libdeflate_decompressor *)
