// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Exported symbols of a kernel, from Module.symvers as modpost writes it:
 *
 *	0x1a2b3c4d<TAB>symbol<TAB>module<TAB>EXPORT_SYMBOL[_GPL]<TAB>namespace
 *
 * one per line; module is "vmlinux" or the module's path without ".ko"
 * ("drivers/net/foo"); the namespace column may be empty or (older kernels)
 * absent.  CRCs are 0 where the kernel has no modversions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/macro.h"
#include "verify/verify-internal.h"

void kmi_symset_init(struct kmi_symset *s, size_t expected)
{
	memset(s, 0, sizeof(*s));
	kmi_strmap_init(&s->map, expected);
}

void kmi_symset_free(struct kmi_symset *s)
{
	kmi_strmap_free(&s->map);
	kmi_arena_free(&s->arena);
	memset(s, 0, sizeof(*s));
}

struct kmi_ksym *kmi_symset_add(struct kmi_symset *s, const char *name, const char *owner,
				uint32_t crc, bool has_crc, bool *added)
{
	struct kmi_ksym *k = kmi_strmap_get(&s->map, name);

	*added = false;
	if (k != NULL)
		return k;
	k = kmi_arena_alloc(&s->arena, sizeof(*k));
	k->name = kmi_arena_strdup(&s->arena, name);
	k->owner = owner ? kmi_arena_strdup(&s->arena, owner) : NULL;
	k->ns = NULL;
	k->crc = crc;
	k->has_crc = has_crc;
	kmi_strmap_put(&s->map, k->name, k);
	if (owner)
		s->n_modules++;
	else
		s->n_vmlinux++;
	*added = true;
	return k;
}

/* "drivers/net/foo-bar" -> "foo_bar", in place. */
static char *owner_name(char *path)
{
	char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (char *p = base; *p; p++)
		if (*p == '-')
			*p = '_';
	return base;
}

static int parse_crc(const char *s, uint32_t *crc)
{
	char *end;
	unsigned long long v;

	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || s[2] == '\0')
		return -EINVAL;
	errno = 0;
	v = strtoull(s + 2, &end, 16);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return -EINVAL;
	*crc = (uint32_t)v;
	return 0;
}

static int parse_line(struct kmi_symset *s, char *line, bool *nonzero)
{
	char *field[5] = { 0 };
	struct kmi_ksym *k;
	size_t n = 0;
	uint32_t crc;
	bool added;

	for (char *p = line; n < ARRAY_SIZE(field);) {
		char *tab = strchr(p, '\t');
		field[n++] = p;
		if (tab == NULL)
			break;
		*tab = '\0';
		p = tab + 1;
	}
	if (n < 3 || field[1][0] == '\0' || field[2][0] == '\0')
		return -EINVAL;
	if (parse_crc(field[0], &crc) < 0)
		return -ERANGE;
	*nonzero |= crc != 0;
	k = kmi_symset_add(s, field[1], streq(field[2], "vmlinux") ? NULL : owner_name(field[2]),
			   crc, true, &added);
	if (added && field[4] != NULL && field[4][0] != '\0')
		k->ns = kmi_arena_strdup(&s->arena, field[4]);
	return 0;
}

int kmi_symvers_parse(struct kmi_symset *s, const char *data, size_t len, const char *what,
		      struct kmi_error **err)
{
	size_t lineno = 0;
	bool nonzero = false;

	for (size_t start = 0; start < len; lineno++) {
		const char *nl = memchr(data + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - data) : len;
		_cleanup_free_ char *line = NULL;
		int r;

		if (memchr(data + start, '\0', end - start) != NULL)
			return kmi_error_set(err, KMI_EFORMAT, "%s:%zu: NUL byte in line", what,
					     lineno + 1);
		line = strndup(data + start, end - start);
		if (line == NULL)
			abort();
		start = end + 1;
		if (line[0] == '\0')
			continue;
		r = parse_line(s, line, &nonzero);
		if (r == -ERANGE)
			return kmi_error_set(err, KMI_EFORMAT, "%s:%zu: bad CRC field (want 0x and 1-8 hex digits)",
					     what, lineno + 1);
		if (r < 0)
			return kmi_error_set(err, KMI_EFORMAT,
					     "%s:%zu: want CRC, symbol and module separated by tabs",
					     what, lineno + 1);
	}
	if (!nonzero) {
		/* a kernel without modversions: CRCs mean nothing */
		for (size_t i = 0; s->map.slots != NULL && i <= s->map.mask; i++) {
			struct kmi_ksym *k = s->map.slots[i].value;
			if (s->map.slots[i].key != NULL)
				k->has_crc = false;
		}
	}
	return 0;
}
