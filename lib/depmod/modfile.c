// SPDX-License-Identifier: LGPL-2.1-or-later
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "depmod/modfile.h"
#include "util/macro.h"
#include "util/strmap.h"

/* A module version record: a CRC word, then the symbol name, 64 bytes in all. */
#define MODVERSION_SIZE 64

struct section {
	const unsigned char *data;
	uint64_t size;
	bool found;
};

struct image {
	const unsigned char *mem;
	uint64_t size;
	Elf *elf;
	bool swap;
	bool is64;
	size_t shnum;
	struct kmi_arena *arena;
	struct kmi_modfile *out;
	struct section modinfo, versions, symtab, strtab, ksymstr;
};

static void problem(struct image *im, const char *why)
{
	if (im->out->problem == NULL)
		im->out->problem = why;
}

static uint64_t rd(const struct image *im, const unsigned char *p, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++) {
		unsigned shift = im->swap ? 8 * (size - 1 - i) : 8 * i;
		v |= (uint64_t)p[i] << shift;
	}
	return v;
}

/* Section i's bytes if they lie inside the file, as libkmod requires. */
static bool section_range(const struct image *im, size_t i, uint64_t *off, uint64_t *size)
{
	GElf_Shdr sh;
	Elf_Scn *scn = elf_getscn(im->elf, i);

	if (scn == NULL || gelf_getshdr(scn, &sh) == NULL)
		return false;
	*off = sh.sh_offset;
	*size = sh.sh_size;
	return sh.sh_offset <= im->size && sh.sh_size <= im->size - sh.sh_offset;
}

static void find_sections(struct image *im, const char *names, uint64_t names_len)
{
	struct {
		const char *name;
		struct section *s;
	} wanted[] = {
		{ ".modinfo", &im->modinfo },   { "__versions", &im->versions },
		{ ".symtab", &im->symtab },     { ".strtab", &im->strtab },
		{ "__ksymtab_strings", &im->ksymstr },
	};

	for (size_t i = 1; i < im->shnum; i++) {
		GElf_Shdr sh;
		Elf_Scn *scn = elf_getscn(im->elf, i);
		uint64_t off, size;
		const char *name;

		if (scn == NULL || gelf_getshdr(scn, &sh) == NULL || sh.sh_name >= names_len)
			continue;
		name = names + sh.sh_name;
		for (size_t w = 0; w < ARRAY_SIZE(wanted); w++) {
			if (wanted[w].s->found || !streq(name, wanted[w].name))
				continue;
			if (!section_range(im, i, &off, &size)) {
				/* libkmod skips it and looks further: so do we, but say so */
				problem(im, "a section lies beyond the end of the file");
				break;
			}
			wanted[w].s->data = im->mem + off;
			wanted[w].s->size = size;
			wanted[w].s->found = true;
			break;
		}
	}
}

/* A NUL-terminated string starting at `off` inside section s, or NULL. */
static const char *str_at(struct image *im, const struct section *s, uint64_t off)
{
	const char *p = (const char *)s->data + off;
	if (off >= s->size)
		return NULL;
	if (memchr(p, '\0', s->size - off) == NULL) {
		problem(im, "a string runs past the end of its section");
		return NULL;
	}
	return p;
}

struct sym {
	uint32_t name;
	uint8_t info;
	uint16_t shndx;
	uint64_t value;
};

static size_t sym_size(const struct image *im)
{
	return im->is64 ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym);
}

static void sym_read(const struct image *im, size_t i, struct sym *s)
{
	const unsigned char *p = im->symtab.data + i * sym_size(im);

	if (im->is64) {
		s->name = (uint32_t)rd(im, p + offsetof(Elf64_Sym, st_name), 4);
		s->info = p[offsetof(Elf64_Sym, st_info)];
		s->shndx = (uint16_t)rd(im, p + offsetof(Elf64_Sym, st_shndx), 2);
		s->value = rd(im, p + offsetof(Elf64_Sym, st_value), 8);
	} else {
		s->name = (uint32_t)rd(im, p + offsetof(Elf32_Sym, st_name), 4);
		s->info = p[offsetof(Elf32_Sym, st_info)];
		s->shndx = (uint16_t)rd(im, p + offsetof(Elf32_Sym, st_shndx), 2);
		s->value = rd(im, p + offsetof(Elf32_Sym, st_value), 4);
	}
}

static bool symtab_usable(const struct image *im)
{
	return im->symtab.found && im->strtab.found && im->symtab.size % sym_size(im) == 0;
}

/* The CRC of an exported symbol: absolute, or a word in the section it points into. */
static uint64_t resolve_crc(struct image *im, uint64_t crc, uint16_t shndx)
{
	uint64_t off, size;

	if (shndx == SHN_ABS || shndx == SHN_UNDEF)
		return crc;
	if (shndx >= im->shnum || !section_range(im, shndx, &off, &size))
		return (uint64_t)-1;
	if (size < 4 || crc > size - 4)
		return (uint64_t)-1;
	return rd(im, im->mem + off + crc, 4);
}

static void exports_from_ksymtab_strings(struct image *im)
{
	const char *p = (const char *)im->ksymstr.data;
	uint64_t size = im->ksymstr.size, n = 0;
	struct kmi_export *a;

	if (!im->ksymstr.found || size == 0)
		return;
	while (p[0] == '\0' && size > 1) {
		p++;
		size--;
	}
	if (size <= 1)
		return;
	for (uint64_t i = 0; i < size; i++)
		n += p[i] == '\0' && i > 0 && p[i - 1] != '\0';
	n += p[size - 1] != '\0';
	a = kmi_arena_alloc(im->arena, n * sizeof(*a));
	n = 0;
	for (uint64_t i = 0, start = 0; i <= size; i++) {
		if (i < size && p[i] != '\0')
			continue;
		if (i > start) {
			a[n].name = kmi_arena_strndup(im->arena, p + start, i - start);
			a[n].crc = 0;
			n++;
		}
		start = i + 1;
	}
	im->out->exports = a;
	im->out->n_exports = (uint32_t)n;
}

static void read_exports(struct image *im)
{
	static const char crc_prefix[] = "__crc_";
	size_t count, n = 0;
	struct kmi_export *a;

	if (!symtab_usable(im))
		goto fallback;
	count = im->symtab.size / sym_size(im);
	for (size_t i = 1; i < count; i++) {
		struct sym s;
		const char *name;

		sym_read(im, i, &s);
		if (s.name >= im->strtab.size)
			goto fallback;
		name = str_at(im, &im->strtab, s.name);
		if (name != NULL && strncmp(name, crc_prefix, sizeof(crc_prefix) - 1) == 0)
			n++;
	}
	if (n == 0)
		goto fallback;

	a = kmi_arena_alloc(im->arena, n * sizeof(*a));
	n = 0;
	for (size_t i = 1; i < count; i++) {
		struct sym s;
		const char *name;

		sym_read(im, i, &s);
		name = str_at(im, &im->strtab, s.name);
		if (name == NULL || strncmp(name, crc_prefix, sizeof(crc_prefix) - 1) != 0)
			continue;
		a[n].name = kmi_arena_strdup(im->arena, name + sizeof(crc_prefix) - 1);
		a[n].crc = resolve_crc(im, s.value, s.shndx);
		n++;
	}
	im->out->exports = a;
	im->out->n_exports = (uint32_t)n;
	return;

fallback:
	exports_from_ksymtab_strings(im);
}

static const char *version_name(struct image *im, size_t i)
{
	const char *name = (const char *)im->versions.data + i * MODVERSION_SIZE;
	size_t crclen = im->is64 ? 8 : 4;

	if (memchr(name + crclen, '\0', MODVERSION_SIZE - crclen) == NULL) {
		problem(im, "a __versions entry has an unterminated name");
		return NULL;
	}
	return name + crclen;
}

static void read_imports(struct image *im)
{
	size_t count, nver = 0, n = 0, crclen = im->is64 ? 8 : 4;
	struct kmi_strmap vermap = { 0 };
	unsigned char *visited = NULL;
	struct kmi_import *a;
	bool sparc = im->out->machine == EM_SPARC || im->out->machine == EM_SPARCV9;

	if (!symtab_usable(im)) {
		if (im->symtab.found && im->strtab.found)
			problem(im, ".symtab size is not a multiple of its entry size");
		return;
	}
	if (im->versions.found) {
		if (im->versions.size % MODVERSION_SIZE == 0)
			nver = im->versions.size / MODVERSION_SIZE;
		else
			problem(im, "__versions size is not a multiple of 64");
	}
	count = im->symtab.size / sym_size(im);

	/* libkmod fails the whole list on one bad name offset: check first */
	for (size_t i = 1; i < count; i++) {
		struct sym s;
		sym_read(im, i, &s);
		if (s.shndx == SHN_UNDEF && !(sparc && GELF_ST_TYPE(s.info) == STT_SPARC_REGISTER) &&
		    s.name >= im->strtab.size) {
			problem(im, "a symbol name lies outside .strtab");
			return;
		}
	}

	if (nver > 0) {
		kmi_strmap_init(&vermap, nver);
		visited = calloc(nver, 1);
		if (visited == NULL)
			abort();
		for (size_t v = nver; v-- > 0;) {
			/* inserted backwards so that the first of equal names wins */
			const char *name = version_name(im, v);
			if (name != NULL)
				kmi_strmap_put(&vermap, name, (void *)(v + 1));
		}
	}

	a = kmi_arena_alloc(im->arena, (count + nver) * sizeof(*a));
	for (size_t i = 1; i < count; i++) {
		struct sym s;
		const char *name;
		uintptr_t v;

		sym_read(im, i, &s);
		if (s.shndx != SHN_UNDEF)
			continue;
		if (sparc && GELF_ST_TYPE(s.info) == STT_SPARC_REGISTER)
			continue;
		name = str_at(im, &im->strtab, s.name);
		if (name == NULL || name[0] == '\0')
			continue;
		a[n].name = kmi_arena_strdup(im->arena, name);
		a[n].weak = GELF_ST_BIND(s.info) == STB_WEAK;
		a[n].crc = 0;
		v = nver ? (uintptr_t)kmi_strmap_get(&vermap, name) : 0;
		if (v != 0) {
			visited[v - 1] = 1;
			a[n].crc = rd(im, im->versions.data + (v - 1) * MODVERSION_SIZE, crclen);
		}
		n++;
	}
	/* version records no symbol referenced (module_layout) come last */
	for (size_t v = 0; v < nver; v++) {
		const char *name;
		if (visited[v])
			continue;
		name = version_name(im, v);
		if (name == NULL)
			continue;
		a[n].name = kmi_arena_strdup(im->arena, name);
		a[n].weak = false;
		a[n].crc = rd(im, im->versions.data + v * MODVERSION_SIZE, crclen);
		n++;
	}
	if (nver > 0) {
		kmi_strmap_free(&vermap);
		free(visited);
	}
	im->out->imports = a;
	im->out->n_imports = (uint32_t)n;
}

static void read_modinfo(struct image *im, unsigned flags)
{
	const char *p = (const char *)im->modinfo.data;
	uint64_t size = im->modinfo.size, n = 0;
	struct kmi_modinfo_kv *a;

	if (!im->modinfo.found || size == 0)
		return;
	while (p[0] == '\0' && size > 1) {
		p++;
		size--;
	}
	if (size <= 1)
		return;
	for (uint64_t i = 0; i < size; i++)
		n += p[i] == '\0' && i > 0 && p[i - 1] != '\0';
	n += p[size - 1] != '\0';
	a = kmi_arena_alloc(im->arena, n * sizeof(*a));
	n = 0;
	for (uint64_t i = 0, start = 0; i <= size; i++) {
		const char *s, *eq;
		size_t len, klen;

		if (i < size && p[i] != '\0')
			continue;
		s = p + start;
		len = i - start;
		start = i + 1;
		if (len == 0)
			continue;
		eq = memchr(s, '=', len);
		klen = eq ? (size_t)(eq - s) : len;
		if (!(flags & KMI_MODFILE_ALL_INFO) &&
		    !((klen == 5 && memcmp(s, "alias", 5) == 0) ||
		      (klen == 7 && memcmp(s, "softdep", 7) == 0)))
			continue;
		a[n].key = kmi_arena_strndup(im->arena, s, klen);
		a[n].value = eq ? kmi_arena_strndup(im->arena, eq + 1, len - klen - 1) : "";
		n++;
	}
	im->out->info = a;
	im->out->n_info = (uint32_t)n;
}

/* The checks of libkmod's kmod_elf_new(): if they fail it reads nothing at all. */
static bool open_elf(struct image *im, const char **names, uint64_t *names_len)
{
	const unsigned char *p = im->mem;
	GElf_Ehdr eh;
	size_t shdr_size;
	uint64_t off, size;

	if (im->size <= EI_NIDENT || memcmp(p, ELFMAG, SELFMAG) != 0) {
		problem(im, "not an ELF file");
		return false;
	}
	if ((p[EI_CLASS] != ELFCLASS32 && p[EI_CLASS] != ELFCLASS64) ||
	    (p[EI_DATA] != ELFDATA2LSB && p[EI_DATA] != ELFDATA2MSB)) {
		problem(im, "unknown ELF class or byte order");
		return false;
	}
	im->is64 = p[EI_CLASS] == ELFCLASS64;
	im->swap = (p[EI_DATA] == ELFDATA2MSB) != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
	shdr_size = im->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	if (im->size <= (im->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
		problem(im, "truncated ELF header");
		return false;
	}
	im->elf = elf_memory((char *)p, im->size);
	if (im->elf == NULL || gelf_getehdr(im->elf, &eh) == NULL) {
		problem(im, "unreadable ELF header");
		return false;
	}
	im->out->elfclass = p[EI_CLASS];
	im->out->elfdata = p[EI_DATA];
	im->out->machine = eh.e_machine;
	if (eh.e_shentsize != shdr_size) {
		problem(im, "unexpected section header size");
		return false;
	}
	if (eh.e_shoff > im->size || (uint64_t)eh.e_shnum * shdr_size > im->size - eh.e_shoff) {
		problem(im, "truncated: section headers lie beyond the end of the file");
		return false;
	}
	im->shnum = eh.e_shnum;
	if (eh.e_shstrndx >= im->shnum || !section_range(im, eh.e_shstrndx, &off, &size) ||
	    size == 0 || p[off + size - 1] != '\0') {
		problem(im, "bad section name table");
		return false;
	}
	*names = (const char *)p + off;
	*names_len = size;
	return true;
}

void kmi_modfile_parse(const void *image, size_t size, struct kmi_arena *arena, unsigned flags,
		       struct kmi_modfile *out)
{
	struct image im = { .mem = image, .size = size, .arena = arena, .out = out };
	const char *names;
	uint64_t names_len;

	memset(out, 0, sizeof(*out));
	if (open_elf(&im, &names, &names_len)) {
		find_sections(&im, names, names_len);
		read_exports(&im);
		read_modinfo(&im, flags);
		read_imports(&im);
	}
	if (im.elf != NULL)
		elf_end(im.elf);
}

void kmi_modfile_init(void)
{
	elf_version(EV_CURRENT);
}

int kmi_modfile_read(const char *path, struct kmi_arena *arena, unsigned flags,
		     struct kmi_modfile *out)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *map, *plain = NULL;
	size_t plain_size = 0;
	const char *why = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size == 0) {
		out->problem = "empty file";
		return 0;
	}
	if ((uint64_t)st.st_size > KMI_MODFILE_MAX_SIZE) {
		out->problem = "file is larger than any module could be";
		return 0;
	}
	/* Private and writable so that libelf may convert in place without harm. */
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	r = kmi_modfile_decompress(map, (size_t)st.st_size, &plain, &plain_size, &why);
	if (r < 0)
		out->problem = why;
	else if (r > 0)
		kmi_modfile_parse(plain, plain_size, arena, flags, out);
	else
		kmi_modfile_parse(map, (size_t)st.st_size, arena, flags, out);
	free(plain);
	munmap(map, (size_t)st.st_size);
	return 0;
}
