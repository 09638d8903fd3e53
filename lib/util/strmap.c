// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdlib.h>
#include <string.h>

#include "util/strmap.h"
#include "util/xalloc.h"

static inline uint32_t get16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/*
 * Paul Hsieh's SuperFastHash, as kmod's shared/hash.c computes it: its
 * bucket order decides the order of modules.dep without modules.order and of
 * modules.symbols.  The 16-bit reads are little-endian, and the single byte of
 * the odd tails is sign-extended as a plain char is on x86.
 */
uint32_t kmi_hash_superfast(const char *key, size_t len)
{
	const unsigned char *p = (const unsigned char *)key;
	uint32_t hash = (uint32_t)len, tmp;
	size_t rem = len & 3;

	for (len /= 4; len > 0; len--) {
		hash += get16(p);
		tmp = (get16(p + 2) << 11) ^ hash;
		hash = (hash << 16) ^ tmp;
		p += 4;
		hash += hash >> 11;
	}

	switch (rem) {
	case 3:
		hash += get16(p);
		hash ^= hash << 16;
		hash ^= (uint32_t)(int32_t)(signed char)p[2] << 18;
		hash += hash >> 11;
		break;
	case 2:
		hash += get16(p);
		hash ^= hash << 11;
		hash += hash >> 17;
		break;
	case 1:
		hash += (uint32_t)(int32_t)(signed char)p[0];
		hash ^= hash << 10;
		hash += hash >> 1;
		break;
	}

	hash ^= hash << 3;
	hash += hash >> 5;
	hash ^= hash << 4;
	hash += hash >> 17;
	hash ^= hash << 25;
	hash += hash >> 6;
	return hash;
}

/*
 * A word-at-a-time multiplicative hash: symbol names are short and looked up
 * hundreds of thousands of times, so this beats a byte loop (and needs no
 * kmod order, unlike kmi_hash_superfast()).
 */
static uint32_t strhash(const char *key)
{
	size_t len = strlen(key);
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len, w;
	const unsigned char *p = (const unsigned char *)key;

	for (; len >= 8; len -= 8, p += 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, p, len);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return (uint32_t)h | 1; /* 0 marks an empty slot */
}

void kmi_strmap_init(struct kmi_strmap *m, size_t expected)
{
	size_t n = 16;
	while (n < expected * 2)
		n *= 2;
	m->slots = xcalloc(n, sizeof(*m->slots));
	m->mask = n - 1;
	m->count = 0;
}

void kmi_strmap_free(struct kmi_strmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->mask = m->count = 0;
}

static struct kmi_strmap_slot *find(const struct kmi_strmap *m, const char *key, uint32_t h)
{
	size_t i = h & m->mask;
	for (;;) {
		struct kmi_strmap_slot *s = &m->slots[i];
		if (s->hash == 0 || (s->hash == h && strcmp(s->key, key) == 0))
			return s;
		i = (i + 1) & m->mask;
	}
}

static void grow(struct kmi_strmap *m)
{
	struct kmi_strmap_slot *old = m->slots;
	size_t n = m->mask + 1;

	m->slots = xcalloc(n * 2, sizeof(*m->slots));
	m->mask = n * 2 - 1;
	for (size_t i = 0; i < n; i++) {
		if (old[i].hash != 0)
			*find(m, old[i].key, old[i].hash) = old[i];
	}
	free(old);
}

void *kmi_strmap_get(const struct kmi_strmap *m, const char *key)
{
	struct kmi_strmap_slot *s = find(m, key, strhash(key));
	return s->hash ? s->value : NULL;
}

void *kmi_strmap_put(struct kmi_strmap *m, const char *key, void *value)
{
	uint32_t h = strhash(key);
	struct kmi_strmap_slot *s;
	void *prev;

	if ((m->count + 1) * 4 > (m->mask + 1) * 3)
		grow(m);
	s = find(m, key, h);
	if (s->hash == 0) {
		s->hash = h;
		s->key = key;
		s->value = value;
		m->count++;
		return NULL;
	}
	prev = s->value;
	s->key = key;
	s->value = value;
	return prev;
}

void kmi_strmap_del(struct kmi_strmap *m, const char *key)
{
	struct kmi_strmap_slot *s = find(m, key, strhash(key));
	size_t i, j;

	if (s->hash == 0)
		return;
	/* Backward-shift deletion keeps probe chains intact without tombstones. */
	i = (size_t)(s - m->slots);
	for (j = (i + 1) & m->mask; m->slots[j].hash != 0; j = (j + 1) & m->mask) {
		size_t home = m->slots[j].hash & m->mask;
		if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].hash = 0;
	m->slots[i].key = NULL;
	m->slots[i].value = NULL;
	m->count--;
}
