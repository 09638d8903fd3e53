// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "depmod/index.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define INDEX_MAGIC 0xB007F457u
#define INDEX_VERSION 0x00020001u
#define NODE_PREFIX 0x80000000u
#define NODE_VALUES 0x40000000u
#define NODE_CHILDS 0x20000000u
#define NODE_OFFSET_MAX 0x0FFFFFFFu

struct entry {
	uint64_t pfx; /* 8 key bytes after the common prefix, big-endian: most compares stop here */
	const char *key;
	const char *value;
	uint32_t prio;
	uint32_t seq;
	uint32_t prev; /* index + 1 of the previous entry with this key, or 0 */
};

struct kmi_index {
	struct kmi_arena arena;
	struct entry *e;
	size_t n, cap;
	/* key -> last entry index + 1, to report duplicates as kmod's -w does */
	struct kmi_strmap keys;
	bool track_dups;
	size_t skip; /* length of the prefix all keys share, for entry_cmp */
	const char *bad;
};

struct kmi_index *kmi_index_new(bool track_dups)
{
	struct kmi_index *idx = xcalloc(1, sizeof(*idx));

	idx->track_dups = track_dups;
	if (track_dups)
		kmi_strmap_init(&idx->keys, 1024);
	return idx;
}

void kmi_index_free(struct kmi_index *idx)
{
	if (idx == NULL)
		return;
	kmi_arena_free(&idx->arena);
	kmi_strmap_free(&idx->keys);
	free(idx->e);
	free(idx);
}

bool kmi_index_add(struct kmi_index *idx, const char *key, const char *value, uint32_t prio)
{
	struct entry *e;
	bool dup = false;
	uint32_t last;

	if (idx->n == idx->cap) {
		idx->cap = idx->cap ? idx->cap * 2 : 1024;
		idx->e = xreallocarray(idx->e, idx->cap, sizeof(*idx->e));
	}
	e = &idx->e[idx->n];
	last = idx->track_dups ? (uint32_t)(uintptr_t)kmi_strmap_get(&idx->keys, key) : 0;
	if (last != 0) {
		/* Same key seen: share its copy and look for the same value. */
		e->key = idx->e[last - 1].key;
		for (uint32_t i = last; i != 0 && !dup; i = idx->e[i - 1].prev)
			dup = strcmp(idx->e[i - 1].value, value) == 0;
	} else {
		e->key = kmi_arena_strdup(&idx->arena, key);
	}
	e->value = kmi_arena_strdup(&idx->arena, value);
	e->prio = prio;
	e->seq = (uint32_t)idx->n;
	e->prev = last;
	idx->n++;
	if (idx->track_dups)
		kmi_strmap_put(&idx->keys, e->key, (void *)(uintptr_t)idx->n);
	return dup;
}

static int entry_cmp(const void *pa, const void *pb, void *skip_p)
{
	const struct entry *a = pa, *b = pb;
	size_t skip = *(const size_t *)skip_p;
	int c;

	if (a->pfx != b->pfx)
		return a->pfx < b->pfx ? -1 : 1;
	/* equal 8 bytes that hold the end of the key: the keys are equal */
	if ((a->pfx & 0xff) == 0 || a->key == b->key)
		c = 0;
	else
		c = strcmp(a->key + skip + 8, b->key + skip + 8);
	if (c != 0)
		return c;
	if (a->prio != b->prio)
		return a->prio < b->prio ? -1 : 1;
	/* equal priorities: the value added last comes first, as in kmod */
	return a->seq < b->seq ? 1 : -1;
}

static bool ascii_ok(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
		if (*p >= 128)
			return false;
	}
	return n < KMI_INDEX_KEY_MAX;
}

/* The prefix all keys share, then each key's next 8 bytes as one number. */
static void set_prefixes(struct kmi_index *idx)
{
	size_t skip = idx->n ? strlen(idx->e[0].key) : 0;

	for (size_t i = 1; i < idx->n && skip > 0; i++) {
		const char *a = idx->e[0].key, *b = idx->e[i].key;
		size_t j = 0;
		while (j < skip && a[j] == b[j])
			j++;
		skip = j;
	}
	idx->skip = skip;
	for (size_t i = 0; i < idx->n; i++) {
		const unsigned char *k = (const unsigned char *)idx->e[i].key + skip;
		uint64_t v = 0;
		size_t j = 0;
		for (; j < 8 && k[j] != '\0'; j++)
			v = v << 8 | k[j];
		/* left-align: a shorter key sorts first, as with strcmp (j == 0: v is 0) */
		idx->e[i].pfx = j == 0 ? 0 : j == 8 ? v : v << (8 * (8 - j));
	}
}

struct writer {
	const struct entry *e;
	struct kmi_buf *out;
	enum kmi_index_order order;
	int err;
};

static size_t common_prefix(const char *a, const char *b)
{
	size_t i = 0;
	while (a[i] != '\0' && a[i] == b[i])
		i++;
	return i;
}

static void put_values(struct writer *w, size_t lo, size_t hi)
{
	kmi_buf_put_be32(w->out, (uint32_t)(hi - lo));
	for (size_t i = lo; i < hi; i++) {
		kmi_buf_put_be32(w->out, w->e[i].prio);
		kmi_buf_putsz(w->out, w->e[i].value);
	}
}

/*
 * Writes the node for entries [lo, hi), whose keys agree on their first
 * `depth` characters, and returns its node-offset word.
 */
static uint32_t write_node(struct writer *w, size_t lo, size_t hi, size_t depth, bool root)
{
	const struct entry *e = w->e;
	size_t plen = root ? 0 : common_prefix(e[lo].key + depth, e[hi - 1].key + depth);
	size_t pos = depth + plen, vend = lo, nchild = 0, slots = 0;
	unsigned char first = 0, last = 0;
	uint32_t word, child_words[128];
	size_t node_off;

	while (vend < hi && e[vend].key[pos] == '\0')
		vend++;
	if (vend < hi) {
		first = (unsigned char)e[vend].key[pos];
		last = (unsigned char)e[hi - 1].key[pos];
		nchild = (size_t)(last - first) + 1;
		memset(child_words, 0, nchild * sizeof(uint32_t));
	}

	if (w->order == KMI_INDEX_POSTORDER) {
		for (size_t i = vend; i < hi;) {
			unsigned char c = (unsigned char)e[i].key[pos];
			size_t j = i + 1;
			while (j < hi && (unsigned char)e[j].key[pos] == c)
				j++;
			child_words[c - first] = write_node(w, i, j, pos + 1, false);
			i = j;
		}
	}

	node_off = w->out->len;
	word = (uint32_t)node_off;
	if (plen > 0) {
		kmi_buf_put(w->out, e[lo].key + depth, plen);
		kmi_buf_putc(w->out, '\0');
		word |= NODE_PREFIX;
	}
	if (nchild > 0) {
		kmi_buf_putc(w->out, (char)first);
		kmi_buf_putc(w->out, (char)last);
		slots = w->out->len;
		for (size_t i = 0; i < nchild; i++)
			kmi_buf_put_be32(w->out, child_words[i]);
		word |= NODE_CHILDS;
	}
	if (vend > lo) {
		put_values(w, lo, vend);
		word |= NODE_VALUES;
	}
	if (node_off > NODE_OFFSET_MAX)
		w->err = -EFBIG;

	if (w->order == KMI_INDEX_PREORDER) {
		for (size_t i = vend; i < hi;) {
			unsigned char c = (unsigned char)e[i].key[pos];
			size_t j = i + 1;
			while (j < hi && (unsigned char)e[j].key[pos] == c)
				j++;
			kmi_buf_set_be32(w->out, slots + 4 * (size_t)(c - first),
					 write_node(w, i, j, pos + 1, false));
			i = j;
		}
	}
	return word;
}

int kmi_index_write(struct kmi_index *idx, enum kmi_index_order order, struct kmi_buf *out)
{
	/* Node offsets are file offsets: the index must start the buffer. */
	out->len = 0;
	struct writer w = { .e = idx->e, .out = out, .order = order };
	uint32_t root;

	for (size_t i = 0; i < idx->n; i++) {
		if (!ascii_ok(idx->e[i].key)) {
			idx->bad = idx->e[i].key;
			return -EINVAL;
		}
		if (!ascii_ok(idx->e[i].value)) {
			idx->bad = idx->e[i].value;
			return -EINVAL;
		}
	}
	set_prefixes(idx);
	if (idx->n > 1)
		qsort_r(idx->e, idx->n, sizeof(*idx->e), entry_cmp, &idx->skip);

	kmi_buf_put_be32(out, INDEX_MAGIC);
	kmi_buf_put_be32(out, INDEX_VERSION);
	kmi_buf_put_be32(out, 0);
	if (idx->n == 0) {
		root = 12; /* an empty root node: no flags, no bytes */
	} else {
		w.out = out;
		root = write_node(&w, 0, idx->n, 0, true);
	}
	kmi_buf_set_be32(out, 8, root);
	return w.err;
}

const char *kmi_index_bad_string(const struct kmi_index *idx)
{
	return idx->bad;
}
