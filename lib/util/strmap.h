/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * String-keyed open-addressing hash map.  Keys are not copied: they must
 * outlive the map.  Iteration order is meaningless; callers that need kmod's
 * order sort by kmi_hash_superfast() themselves.
 */
struct kmi_strmap {
	struct kmi_strmap_slot *slots;
	size_t mask;
	size_t count;
};

struct kmi_strmap_slot {
	const char *key;
	void *value;
	uint32_t hash;
};

uint32_t kmi_hash_superfast(const char *key, size_t len);

void kmi_strmap_init(struct kmi_strmap *m, size_t expected);
void kmi_strmap_free(struct kmi_strmap *m);
void *kmi_strmap_get(const struct kmi_strmap *m, const char *key);
/* Inserts or replaces; returns the previous value, or NULL. */
void *kmi_strmap_put(struct kmi_strmap *m, const char *key, void *value);
void kmi_strmap_del(struct kmi_strmap *m, const char *key);
