// SPDX-License-Identifier: LGPL-2.1-or-later
/* The .bin index writer, against layouts worked out by hand from libkmod's format. */
#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "depmod/index.h"

static uint32_t be32(const struct kmi_buf *b, size_t off)
{
	const unsigned char *p = (const unsigned char *)b->data + off;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_empty(void)
{
	struct kmi_index *idx = kmi_index_new(false);
	struct kmi_buf b = { 0 };
	static const unsigned char want[12] = { 0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1, 0, 0, 0, 12 };

	CHECK(kmi_index_write(idx, KMI_INDEX_POSTORDER, &b) == 0);
	CHECK(b.len == 12 && memcmp(b.data, want, 12) == 0);
	kmi_index_free(idx);
	kmi_buf_free(&b);
}

/*
 * One key "ab" -> "v" (priority 7).  Post-order: the child node (prefix "b",
 * one value) at 12, then the root (children 'a'..'a') after it.
 */
static void test_one_key_post(void)
{
	struct kmi_index *idx = kmi_index_new(false);
	struct kmi_buf b = { 0 };

	kmi_index_add(idx, "ab", "v", 7);
	CHECK(kmi_index_write(idx, KMI_INDEX_POSTORDER, &b) == 0);
	/* child: "b\0" + count 1 + prio 7 + "v\0" = 2 + 4 + 4 + 2 = 12 bytes at 12 */
	CHECK(b.len == 12 + 12 + 2 + 4);
	CHECK(memcmp(b.data + 12, "b", 2) == 0);
	CHECK(be32(&b, 14) == 1 && be32(&b, 18) == 7 && memcmp(b.data + 22, "v", 2) == 0);
	/* root at 24: first = last = 'a', one slot pointing at 12 with PREFIX|VALUES */
	CHECK((unsigned char)b.data[24] == 'a' && (unsigned char)b.data[25] == 'a');
	CHECK(be32(&b, 26) == (0x80000000u | 0x40000000u | 12));
	CHECK(be32(&b, 8) == (0x20000000u | 24));
	kmi_index_free(idx);
	kmi_buf_free(&b);
}

static void test_one_key_pre(void)
{
	struct kmi_index *idx = kmi_index_new(false);
	struct kmi_buf b = { 0 };

	kmi_index_add(idx, "ab", "v", 7);
	CHECK(kmi_index_write(idx, KMI_INDEX_PREORDER, &b) == 0);
	CHECK(b.len == 30);
	CHECK(be32(&b, 8) == (0x20000000u | 12)); /* root first */
	CHECK(be32(&b, 14) == (0x80000000u | 0x40000000u | 18));
	CHECK(memcmp(b.data + 18, "b", 2) == 0);
	kmi_index_free(idx);
	kmi_buf_free(&b);
}

/* Equal priorities come out newest first, lower priorities before higher. */
static void test_value_order(void)
{
	struct kmi_index *idx = kmi_index_new(true);
	struct kmi_buf b = { 0 };

	CHECK(!kmi_index_add(idx, "k", "first", 0));
	CHECK(!kmi_index_add(idx, "k", "second", 0));
	CHECK(!kmi_index_add(idx, "k", "low", 5));
	CHECK(!kmi_index_add(idx, "k", "lowest", 1));
	CHECK(kmi_index_add(idx, "k", "first", 9)); /* a duplicate value */
	CHECK(kmi_index_write(idx, KMI_INDEX_PREORDER, &b) == 0);
	/* root (12): 'k'..'k' + slot = 6 bytes; child at 18: no prefix, values */
	CHECK(be32(&b, 14) == (0x40000000u | 18));
	CHECK(be32(&b, 18) == 5);
	CHECK(be32(&b, 22) == 0 && strcmp(b.data + 26, "second") == 0);
	CHECK(be32(&b, 33) == 0 && strcmp(b.data + 37, "first") == 0);
	CHECK(be32(&b, 43) == 1 && strcmp(b.data + 47, "lowest") == 0);
	kmi_index_free(idx);
	kmi_buf_free(&b);
}

/* A key that is a prefix of another splits the node; the root never has a prefix. */
static void test_split(void)
{
	struct kmi_index *idx = kmi_index_new(false);
	struct kmi_buf b = { 0 };

	kmi_index_add(idx, "symbol:abc", "m1", 0);
	kmi_index_add(idx, "symbol:ab", "m2", 1);
	CHECK(kmi_index_write(idx, KMI_INDEX_PREORDER, &b) == 0);
	/* root: 's'..'s' */
	CHECK((unsigned char)b.data[12] == 's' && (unsigned char)b.data[13] == 's');
	/* child 's' at 18: prefix "ymbol:ab", value m2, one child 'c' */
	CHECK(be32(&b, 14) == (0x80000000u | 0x40000000u | 0x20000000u | 18));
	CHECK(strcmp(b.data + 18, "ymbol:ab") == 0);
	kmi_index_free(idx);
	kmi_buf_free(&b);
}

static void test_non_ascii(void)
{
	struct kmi_index *idx = kmi_index_new(false);
	struct kmi_buf b = { 0 };

	kmi_index_add(idx, "caf\xc3\xa9", "m", 0);
	CHECK(kmi_index_write(idx, KMI_INDEX_POSTORDER, &b) == -EINVAL);
	CHECK_STR(kmi_index_bad_string(idx), "caf\xc3\xa9");
	kmi_index_free(idx);
	kmi_buf_free(&b);
}

int main(void)
{
	RUN(test_empty);
	RUN(test_one_key_post);
	RUN(test_one_key_pre);
	RUN(test_value_order);
	RUN(test_split);
	RUN(test_non_ascii);
	CHECK_EXIT();
}
