// SPDX-License-Identifier: LGPL-2.1-or-later
/* The module reader on generated ELF files: what libkmod would read, and what is corrupt. */
#include "check.h"
#include "depmod/modfile.h"
#include "elfgen.h"

static const char modinfo[] = "\0\0license=GPL\0alias=pci:v00001234d*\0softdep=pre: crc32c\0"
			      "alias=fs-foo\0depends=\0noequals\0";
static const char *const versions[] = { "module_layout", "printk", "kfree" };
static const uint32_t crcs[] = { 0xdeadbeef, 0x12345678 };
static const struct elfgen_sym syms[] = {
	{ "__crc_foo_export", ELFGEN_SEC_KCRCTAB, STB_GLOBAL, 0 },
	{ "__crc_foo_abs", SHN_ABS, STB_GLOBAL, 0xabcdef },
	{ "foo_export", 9, STB_GLOBAL, 0 },
	{ "printk", SHN_UNDEF, STB_GLOBAL, 0 },
	{ "kfree", SHN_UNDEF, STB_GLOBAL, 0 },
	{ "maybe", SHN_UNDEF, STB_WEAK, 0 },
};

static void build(struct kmi_buf *b)
{
	struct elfgen g = {
		.modinfo = modinfo,
		.modinfo_len = sizeof(modinfo),
		.versions = versions,
		.n_versions = 3,
		.kcrctab = crcs,
		.n_kcrctab = 2,
		.syms = syms,
		.n_syms = sizeof(syms) / sizeof(syms[0]),
	};
	elfgen_build(&g, b);
}

static void parse(const struct kmi_buf *b, unsigned flags, struct kmi_modfile *f,
		  struct kmi_arena *a)
{
	struct kmi_modreader r = { 0 };
	kmi_modfile_parse(&r, b->data, b->len, a, flags, f);
	kmi_modreader_free(&r);
}

static void test_good(void)
{
	struct kmi_buf b = { 0 };
	struct kmi_arena a = { 0 };
	struct kmi_modfile f;

	build(&b);
	parse(&b, KMI_MODFILE_EXACT_CRCS, &f, &a);
	CHECK(f.problem == NULL);
	CHECK(f.machine == EM_X86_64 && f.elfclass == ELFCLASS64);
	CHECK(f.n_exports == 2);
	CHECK_STR(f.exports[0].name, "foo_export");
	CHECK(f.exports[0].crc == 0xdeadbeef);
	CHECK_STR(f.exports[1].name, "foo_abs");
	CHECK(f.exports[1].crc == 0xabcdef);
	/* undefined symbols in symtab order, then the unreferenced module_layout */
	CHECK(f.n_imports == 4);
	CHECK_STR(f.imports[0].name, "printk");
	CHECK(f.imports[0].crc == 0x1001 && f.imports[0].versioned);
	CHECK_STR(f.imports[1].name, "kfree");
	CHECK(f.imports[1].crc == 0x1002 && f.imports[1].versioned);
	CHECK_STR(f.imports[2].name, "maybe");
	/* no __versions record: verify must not take CRC 0 for one */
	CHECK(f.imports[2].weak && f.imports[2].crc == 0 && !f.imports[2].versioned);
	CHECK_STR(f.imports[3].name, "module_layout");
	CHECK(f.imports[3].crc == 0x1000 && f.imports[3].versioned);
	/* only alias and softdep by default, in .modinfo order */
	CHECK(f.n_info == 3);
	CHECK_STR(f.info[0].key, "alias");
	CHECK_STR(f.info[0].value, "pci:v00001234d*");
	CHECK_STR(f.info[1].key, "softdep");
	CHECK_STR(f.info[2].value, "fs-foo");
	kmi_arena_free(&a);

	parse(&b, KMI_MODFILE_ALL_INFO, &f, &a);
	CHECK(f.n_info == 6);
	CHECK_STR(f.info[5].key, "noequals");
	CHECK_STR(f.info[5].value, "");
	kmi_arena_free(&a);
	kmi_buf_free(&b);
}

/* Every truncation is named, never read past. */
static void test_truncated(void)
{
	struct kmi_buf b = { 0 };
	struct kmi_arena a = { 0 };
	struct kmi_modfile f;

	build(&b);
	for (size_t len = 0; len < b.len; len += 7) {
		parse(&(struct kmi_buf){ .data = b.data, .len = len }, 0, &f, &a);
		CHECK(f.problem != NULL);
	}
	kmi_arena_free(&a);
	kmi_buf_free(&b);
}

static void test_garbage(void)
{
	struct kmi_arena a = { 0 };
	struct kmi_modfile f;
	char junk[4096];

	memset(junk, 0x41, sizeof(junk));
	parse(&(struct kmi_buf){ .data = junk, .len = sizeof(junk) }, 0, &f, &a);
	CHECK_STR(f.problem, "not an ELF file");
	CHECK(f.n_exports == 0 && f.n_imports == 0 && f.n_info == 0);
	kmi_arena_free(&a);
}

/* A symbol name outside .strtab: libkmod drops every import and falls back for exports. */
static void test_bad_name_offset(void)
{
	struct kmi_buf b = { 0 };
	struct kmi_arena a = { 0 };
	struct kmi_modfile f;
	Elf64_Ehdr eh;
	Elf64_Shdr sh;
	Elf64_Sym s;

	build(&b);
	memcpy(&eh, b.data, sizeof(eh));
	memcpy(&sh, b.data + eh.e_shoff + ELFGEN_SEC_SYMTAB * sizeof(sh), sizeof(sh));
	memcpy(&s, b.data + sh.sh_offset + 4 * sizeof(s), sizeof(s)); /* "printk" */
	s.st_name = 100000;
	memcpy(b.data + sh.sh_offset + 4 * sizeof(s), &s, sizeof(s));
	parse(&b, 0, &f, &a);
	CHECK(f.problem != NULL);
	CHECK(f.n_imports == 0);
	CHECK(f.n_exports == 0); /* no __ksymtab_strings content to fall back on */
	kmi_arena_free(&a);
	kmi_buf_free(&b);
}

int main(void)
{
	RUN(test_good);
	RUN(test_truncated);
	RUN(test_garbage);
	RUN(test_bad_name_offset);
	CHECK_EXIT();
}
