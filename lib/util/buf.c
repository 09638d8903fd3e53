// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/buf.h"
#include "util/xalloc.h"

void kmi_buf_reserve(struct kmi_buf *b, size_t extra)
{
	size_t want = b->len + extra;
	size_t cap = b->cap ? b->cap : 256;

	if (want < b->len)
		abort(); /* size_t overflow: cannot happen with real inputs */
	while (cap < want)
		cap *= 2;
	if (cap != b->cap) {
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
}

void kmi_buf_free(struct kmi_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void kmi_buf_printf(struct kmi_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->data ? b->data + b->len : NULL, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		kmi_buf_reserve(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

struct kmi_arena_chunk {
	struct kmi_arena_chunk *next;
	max_align_t data[];
};

#define ARENA_CHUNK (256 * 1024)

void *kmi_arena_alloc(struct kmi_arena *a, size_t n)
{
	void *p;

	/* never 0: callers may keep the pointer, and NULL + 0 is undefined */
	n = n ? (n + 7) & ~(size_t)7 : 8;
	if (n > a->left) {
		size_t sz = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
		struct kmi_arena_chunk *c = xmalloc(sizeof(*c) + sz);

		c->next = a->head;
		a->head = c;
		if (n > ARENA_CHUNK / 4) /* big blocks don't waste the current chunk */
			return c->data;
		a->cur = (char *)c->data;
		a->left = sz;
	}
	p = a->cur;
	a->cur += n;
	a->left -= n;
	return p;
}

char *kmi_arena_strndup(struct kmi_arena *a, const char *s, size_t n)
{
	char *p = kmi_arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *kmi_arena_strdup(struct kmi_arena *a, const char *s)
{
	return kmi_arena_strndup(a, s, strlen(s));
}

void kmi_arena_free(struct kmi_arena *a)
{
	while (a->head) {
		struct kmi_arena_chunk *c = a->head;
		a->head = c->next;
		free(c);
	}
	a->cur = NULL;
	a->left = 0;
}
