/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

/*
 * Writer of libkmod's ".bin" index: a path-compressed trie over 7-bit ASCII
 * keys whose nodes carry (priority, value) lists.
 *
 * File layout (all integers are 32-bit big-endian):
 *   magic 0xB007F457, version 0x00020001, node-offset word of the root.
 * A node-offset word holds flags in its top nibble (0x80000000 the node has a
 * prefix, 0x40000000 values, 0x20000000 children) and the node's absolute
 * file offset below.  A node is, in this order and only where its flag is set:
 *   prefix   NUL-terminated rest of the label after the branching character
 *   children first and last child character (one byte each), then one
 *            node-offset word per character in [first, last] (0 = none)
 *   values   count, then per value its priority and NUL-terminated text.
 *
 * kmod builds the trie by insertion; the structure is canonical for a key
 * set (the root never has a prefix, every other node's prefix is the common
 * prefix of the keys below it), so it is built here from sorted entries.
 * Values of one key are sorted by ascending priority, equal priorities
 * newest first.  kmod <= 33 writes nodes in post-order (root last), kmod >= 34
 * in pre-order (root at offset 12); libkmod reads either.
 */
enum kmi_index_order {
	KMI_INDEX_POSTORDER, /* kmod 30 (Debian 12) bytes */
	KMI_INDEX_PREORDER,  /* kmod >= 34 bytes */
};

#define KMI_INDEX_KEY_MAX 65536

struct kmi_index;

/* track_dups: make kmi_index_add() report repeated values (costs a hash table). */
struct kmi_index *kmi_index_new(bool track_dups);
void kmi_index_free(struct kmi_index *idx);
/*
 * Adds a value; key and value are copied.  With track_dups, returns true when
 * the key already held the same value (depmod -w reports those).
 */
bool kmi_index_add(struct kmi_index *idx, const char *key, const char *value, uint32_t prio);
/* Returns 0, or -EINVAL if a key or value is not 7-bit ASCII or too long. */
int kmi_index_write(struct kmi_index *idx, enum kmi_index_order order, struct kmi_buf *out);
/* The first key or value that made kmi_index_write() fail. */
const char *kmi_index_bad_string(const struct kmi_index *idx);
