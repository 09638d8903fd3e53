/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Builds small 64-bit little-endian relocatable ELF files that look like
 * kernel modules to depmod: .modinfo, __versions, .symtab, .strtab,
 * __ksymtab_strings and a CRC section.  For unit tests and fuzz seeds.
 */
#include <elf.h>
#include <stdint.h>
#include <string.h>

#include "util/buf.h"

struct elfgen_sym {
	const char *name;
	uint16_t shndx; /* SHN_UNDEF, SHN_ABS, or a section index (see ELFGEN_SEC_*) */
	uint8_t bind;
	uint64_t value;
};

enum {
	ELFGEN_SEC_MODINFO = 1,
	ELFGEN_SEC_VERSIONS,
	ELFGEN_SEC_KCRCTAB,
	ELFGEN_SEC_KSYMSTR,
	ELFGEN_SEC_SYMTAB,
	ELFGEN_SEC_STRTAB,
	ELFGEN_SEC_SHSTRTAB,
	ELFGEN_NSEC,
};

struct elfgen {
	const char *modinfo; /* NUL-separated, ends with "\0\0" */
	size_t modinfo_len;
	const char *const *versions; /* names; CRCs are 0x1000 + index */
	size_t n_versions;
	const uint32_t *kcrctab;
	size_t n_kcrctab;
	const struct elfgen_sym *syms;
	size_t n_syms;
};

static inline void elfgen_pad(struct kmi_buf *b, size_t align)
{
	while (b->len % align)
		kmi_buf_putc(b, 0);
}

static inline void elfgen_build(const struct elfgen *g, struct kmi_buf *out)
{
	static const char shstr[] = "\0.modinfo\0__versions\0__kcrctab\0__ksymtab_strings\0"
				    ".symtab\0.strtab\0.shstrtab";
	static const uint32_t names[ELFGEN_NSEC] = { 0, 1, 10, 21, 31, 49, 57, 65 };
	struct kmi_buf strtab = { 0 };
	uint64_t off[ELFGEN_NSEC] = { 0 }, size[ELFGEN_NSEC] = { 0 };
	Elf64_Ehdr eh = { 0 };

	out->len = 0;
	kmi_buf_put(out, &eh, sizeof(eh));

	off[ELFGEN_SEC_MODINFO] = out->len;
	kmi_buf_put(out, g->modinfo, g->modinfo_len);
	size[ELFGEN_SEC_MODINFO] = g->modinfo_len;

	elfgen_pad(out, 8);
	off[ELFGEN_SEC_VERSIONS] = out->len;
	for (size_t i = 0; i < g->n_versions; i++) {
		unsigned char rec[64] = { 0 };
		uint64_t crc = 0x1000 + i;
		memcpy(rec, &crc, 8);
		strncpy((char *)rec + 8, g->versions[i], 55);
		kmi_buf_put(out, rec, 64);
	}
	size[ELFGEN_SEC_VERSIONS] = g->n_versions * 64;

	off[ELFGEN_SEC_KCRCTAB] = out->len;
	kmi_buf_put(out, g->kcrctab, g->n_kcrctab * 4);
	size[ELFGEN_SEC_KCRCTAB] = g->n_kcrctab * 4;

	off[ELFGEN_SEC_KSYMSTR] = out->len;
	size[ELFGEN_SEC_KSYMSTR] = 0;

	kmi_buf_putc(&strtab, 0);
	elfgen_pad(out, 8);
	off[ELFGEN_SEC_SYMTAB] = out->len;
	{
		Elf64_Sym null = { 0 };
		kmi_buf_put(out, &null, sizeof(null));
	}
	for (size_t i = 0; i < g->n_syms; i++) {
		Elf64_Sym s = { 0 };
		s.st_name = (uint32_t)strtab.len;
		s.st_info = ELF64_ST_INFO(g->syms[i].bind, STT_NOTYPE);
		s.st_shndx = g->syms[i].shndx;
		s.st_value = g->syms[i].value;
		kmi_buf_putsz(&strtab, g->syms[i].name);
		kmi_buf_put(out, &s, sizeof(s));
	}
	size[ELFGEN_SEC_SYMTAB] = (g->n_syms + 1) * sizeof(Elf64_Sym);

	off[ELFGEN_SEC_STRTAB] = out->len;
	kmi_buf_put(out, strtab.data, strtab.len);
	size[ELFGEN_SEC_STRTAB] = strtab.len;
	kmi_buf_free(&strtab);

	off[ELFGEN_SEC_SHSTRTAB] = out->len;
	kmi_buf_put(out, shstr, sizeof(shstr));
	size[ELFGEN_SEC_SHSTRTAB] = sizeof(shstr);

	elfgen_pad(out, 8);
	eh.e_shoff = out->len;
	for (int i = 0; i < ELFGEN_NSEC; i++) {
		Elf64_Shdr sh = { 0 };
		if (i > 0) {
			sh.sh_name = names[i];
			sh.sh_type = i == ELFGEN_SEC_SYMTAB ? SHT_SYMTAB :
				     i >= ELFGEN_SEC_STRTAB ? SHT_STRTAB : SHT_PROGBITS;
			sh.sh_offset = off[i];
			sh.sh_size = size[i];
			sh.sh_entsize = i == ELFGEN_SEC_SYMTAB ? sizeof(Elf64_Sym) : 0;
		}
		kmi_buf_put(out, &sh, sizeof(sh));
	}
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_REL;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_ehsize = sizeof(eh);
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = ELFGEN_NSEC;
	eh.e_shstrndx = ELFGEN_SEC_SHSTRTAB;
	memcpy(out->data, &eh, sizeof(eh));
}
