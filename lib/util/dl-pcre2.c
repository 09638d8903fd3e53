/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libpcre2-8, opened on first use (see util/lazylib.h): only KMM's kernel
 * mappings (lib/kmm/regex.c) need it.  The header maps pcre2_compile() and
 * the rest to their 8-bit names, which are the ones defined here.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>

#include "util/lazylib.h"

/* F(return type, name, parameters, arguments); V(...) for void functions. */
#define PCRE2_FUNCS(F, V)                                                                \
	F(pcre2_code *, pcre2_compile_8,                                                 \
	  (PCRE2_SPTR p, PCRE2_SIZE n, uint32_t o, int *e, PCRE2_SIZE *off, pcre2_compile_context *c), \
	  (p, n, o, e, off, c))                                                          \
	F(int, pcre2_get_error_message_8, (int e, PCRE2_UCHAR *buf, PCRE2_SIZE n), (e, buf, n)) \
	F(int, pcre2_match_8,                                                            \
	  (const pcre2_code *c, PCRE2_SPTR s, PCRE2_SIZE n, PCRE2_SIZE start, uint32_t o,  \
	   pcre2_match_data *md, pcre2_match_context *mc),                               \
	  (c, s, n, start, o, md, mc))                                                   \
	F(pcre2_match_context *, pcre2_match_context_create_8, (pcre2_general_context *g), (g)) \
	F(pcre2_match_data *, pcre2_match_data_create_from_pattern_8,                    \
	  (const pcre2_code *c, pcre2_general_context *g), (c, g))                       \
	F(int, pcre2_set_depth_limit_8, (pcre2_match_context *mc, uint32_t n), (mc, n))  \
	F(int, pcre2_set_match_limit_8, (pcre2_match_context *mc, uint32_t n), (mc, n))

/* Written by hand below: they accept NULL even when the library is missing. */
#define PCRE2_FUNCS_BY_HAND(X)                                                           \
	X(pcre2_code_free_8) X(pcre2_match_context_free_8) X(pcre2_match_data_free_8)

KMI_LAZYLIB_DEFINE(PCRE2_FUNCS, PCRE2_FUNCS_BY_HAND, "libpcre2-8.so.0", "libpcre2-8-0",
		   kmi_pcre2_load)

KMI_LAZY_FREE(pcre2_code_free_8, pcre2_code *)
KMI_LAZY_FREE(pcre2_match_context_free_8, pcre2_match_context *)
KMI_LAZY_FREE(pcre2_match_data_free_8, pcre2_match_data *)
