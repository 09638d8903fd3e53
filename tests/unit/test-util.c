// SPDX-License-Identifier: LGPL-2.1-or-later
#include "check.h"
#include "util/buf.h"
#include "util/strmap.h"

/* Values computed with kmod's own shared/hash.c: the order of depmod's outputs hangs on them. */
static void test_superfast(void)
{
	static const struct {
		const char *key;
		uint32_t hash;
	} v[] = {
		{ "", 0x00000000u },           { "a", 0x115ea782u },
		{ "ab", 0x516b8b44u },         { "abc", 0xd2be198au },
		{ "abcd", 0xdad8b8dbu },       { "vfat", 0x2c7f74a9u },
		{ "fat", 0x8a668e00u },        { "kmodimg_a", 0xb15445d8u },
		{ "snd_hda_intel", 0x6e4028a1u }, { "\xe9t\xe9", 0x69bdf30du },
		{ "x\xff\xfe", 0xd18a1078u },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CHECK(kmi_hash_superfast(v[i].key, strlen(v[i].key)) == v[i].hash);
}

static void test_strmap(void)
{
	struct kmi_strmap m;
	char keys[3000][16];

	kmi_strmap_init(&m, 4);
	for (int i = 0; i < 3000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "key%d", i);
		CHECK(kmi_strmap_put(&m, keys[i], keys[i]) == NULL);
	}
	CHECK(m.count == 3000);
	for (int i = 0; i < 3000; i += 2)
		kmi_strmap_del(&m, keys[i]);
	CHECK(m.count == 1500);
	for (int i = 0; i < 3000; i++)
		CHECK(kmi_strmap_get(&m, keys[i]) == (i % 2 ? keys[i] : NULL));
	CHECK(kmi_strmap_put(&m, "key1", "other") == keys[1]);
	CHECK_STR(kmi_strmap_get(&m, "key1"), "other");
	kmi_strmap_free(&m);
}

static void test_buf(void)
{
	struct kmi_buf b = { 0 };
	struct kmi_arena a = { 0 };
	char big[100000];

	for (int i = 0; i < 1000; i++)
		kmi_buf_printf(&b, "%d,", i);
	CHECK(b.len == 3890);
	CHECK(memcmp(b.data, "0,1,2,", 6) == 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(strlen(kmi_arena_strdup(&a, big)) == sizeof(big) - 1);
	CHECK_STR(kmi_arena_strndup(&a, "abcdef", 3), "abc");
	kmi_arena_free(&a);
	kmi_buf_free(&b);
}

int main(void)
{
	RUN(test_superfast);
	RUN(test_strmap);
	RUN(test_buf);
	CHECK_EXIT();
}
