/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A growable byte buffer; output files are built in memory, then written once. */
struct kmi_buf {
	char *data;
	size_t len;
	size_t cap;
};

void kmi_buf_reserve(struct kmi_buf *b, size_t extra);
void kmi_buf_free(struct kmi_buf *b);
void kmi_buf_printf(struct kmi_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void kmi_buf_put(struct kmi_buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n)
		kmi_buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static inline void kmi_buf_putc(struct kmi_buf *b, char c)
{
	if (b->cap == b->len)
		kmi_buf_reserve(b, 1);
	b->data[b->len++] = c;
}

static inline void kmi_buf_puts(struct kmi_buf *b, const char *s)
{
	kmi_buf_put(b, s, strlen(s));
}

/* Appends a string with its terminating NUL. */
static inline void kmi_buf_putsz(struct kmi_buf *b, const char *s)
{
	kmi_buf_put(b, s, strlen(s) + 1);
}

static inline void kmi_buf_put_be32(struct kmi_buf *b, uint32_t v)
{
	unsigned char x[4] = { v >> 24, v >> 16, v >> 8, v };
	kmi_buf_put(b, x, 4);
}

static inline void kmi_buf_set_be32(struct kmi_buf *b, size_t off, uint32_t v)
{
	unsigned char *p = (unsigned char *)b->data + off;
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Bump allocator for many small strings that all die together. */
struct kmi_arena {
	struct kmi_arena_chunk *head;
	char *cur;
	size_t left;
};

void *kmi_arena_alloc(struct kmi_arena *a, size_t n);
char *kmi_arena_strndup(struct kmi_arena *a, const char *s, size_t n);
char *kmi_arena_strdup(struct kmi_arena *a, const char *s);
void kmi_arena_free(struct kmi_arena *a);
