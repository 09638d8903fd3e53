/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * jansson, opened on first use (see util/lazylib.h): a dry run that finds
 * its tree through the state dir's record reads no JSON, and depmod none.
 * The library's hash seed is set as it loads (jansson would otherwise open
 * /dev/urandom itself for it when the first object is made).
 */
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/random.h>

#include "util/lazylib.h"

/* F(return type, name, parameters, arguments); V(...) for void functions. */
#define JANSSON_FUNCS(F, V)                                                              \
	F(json_t *, json_array, (void), ())                                              \
	F(int, json_array_append_new, (json_t *a, json_t *v), (a, v))                    \
	F(json_t *, json_array_get, (const json_t *a, size_t i), (a, i))                 \
	F(int, json_array_remove, (json_t *a, size_t i), (a, i))                         \
	F(size_t, json_array_size, (const json_t *a), (a))                               \
	V(json_delete, (json_t *j), (j))                                                 \
	F(int, json_dump_file, (const json_t *j, const char *path, size_t flags),        \
	  (j, path, flags))                                                              \
	F(int, json_dumpf, (const json_t *j, FILE *f, size_t flags), (j, f, flags))      \
	F(char *, json_dumps, (const json_t *j, size_t flags), (j, flags))               \
	F(int, json_equal, (const json_t *a, const json_t *b), (a, b))                   \
	F(json_t *, json_false, (void), ())                                              \
	F(json_t *, json_integer, (json_int_t v), (v))                                   \
	F(json_int_t, json_integer_value, (const json_t *j), (j))                        \
	F(json_t *, json_loadb, (const char *s, size_t n, size_t flags, json_error_t *e), \
	  (s, n, flags, e))                                                              \
	F(json_t *, json_loads, (const char *s, size_t flags, json_error_t *e), (s, flags, e)) \
	F(json_t *, json_null, (void), ())                                               \
	F(json_t *, json_object, (void), ())                                             \
	F(int, json_object_del, (json_t *o, const char *k), (o, k))                      \
	F(json_t *, json_object_get, (const json_t *o, const char *k), (o, k))           \
	F(void *, json_object_iter, (json_t *o), (o))                                    \
	F(const char *, json_object_iter_key, (void *it), (it))                          \
	F(void *, json_object_iter_next, (json_t *o, void *it), (o, it))                 \
	F(json_t *, json_object_iter_value, (void *it), (it))                            \
	F(void *, json_object_key_to_iter, (const char *k), (k))                         \
	F(int, json_object_set_new, (json_t *o, const char *k, json_t *v), (o, k, v))    \
	F(int, json_object_setn_new, (json_t *o, const char *k, size_t n, json_t *v),    \
	  (o, k, n, v))                                                                  \
	F(size_t, json_object_size, (const json_t *o), (o))                              \
	F(json_t *, json_string, (const char *s), (s))                                   \
	F(const char *, json_string_value, (const json_t *j), (j))                       \
	F(json_t *, json_stringn, (const char *s, size_t n), (s, n))                     \
	F(json_t *, json_true, (void), ())

/* Variadic, and the seed, which only the loader calls. */
#define JANSSON_FUNCS_BY_HAND(X) X(json_vpack_ex) X(json_object_seed)

static void seed(void);

KMI_LAZYLIB_DEFINE_AFTER(JANSSON_FUNCS, JANSSON_FUNCS_BY_HAND, "libjansson.so.4", "libjansson4",
			 kmi_jansson_load, seed)

static void seed(void)
{
	size_t s = 0;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s) && s != 0)
		fn.json_object_seed(s);
}

json_t *json_pack(const char *fmt, ...)
{
	va_list ap;
	json_t *j;

	need();
	va_start(ap, fmt);
	j = fn.json_vpack_ex(NULL, 0, fmt, ap);
	va_end(ap);
	return j;
}
