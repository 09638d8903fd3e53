// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The module reader.  ELF headers are read by hand rather than with libelf:
 * depmod needs five sections of each of thousands of files, and libelf's
 * file mode costs four more system calls per file (measured: about 15% of
 * the whole run).  Every offset from the file is checked before use.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "depmod/modfile.h"
#include "util/macro.h"
#include "util/strmap.h"

/* A module version record: a CRC word, then the symbol name, 64 bytes in all. */
#define MODVERSION_SIZE 64
/* Sections closer than this are fetched with one read. */
#define MERGE_GAP 4096
/* How far before the section headers to read, hoping to catch .shstrtab. */
#define SHDR_LOOKBEHIND 2048

struct section {
	const unsigned char *data;
	uint64_t off;
	uint64_t size;
	bool found;
};

struct range {
	uint64_t off, size;
	const unsigned char *data;
};

struct image {
	const unsigned char *mem; /* the whole image, or NULL when reading from fd */
	int fd;
	uint64_t size;
	struct kmi_modreader *r;
	size_t n_scratch;       /* r->sec[] used so far */
	struct range loaded[16]; /* what was read from fd, to serve later lookups */
	size_t n_loaded;
	bool swap, is64;
	uint16_t shnum;
	const unsigned char *shdrs;
	struct kmi_arena *arena;     /* .modinfo strings */
	struct kmi_arena *sym_arena; /* exports and imports: r->sym_arena, or arena */
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

static bool in_file(const struct image *im, uint64_t off, uint64_t size)
{
	return off <= im->size && size <= im->size - off;
}

/* Bytes [off, off + size) of the file, which must lie inside it; NULL on a read error. */
static const unsigned char *fetch(struct image *im, uint64_t off, uint64_t size)
{
	unsigned char *p;
	uint64_t done = 0;

	if (im->mem != NULL)
		return im->mem + off;
	for (size_t i = 0; i < im->n_loaded; i++) {
		const struct range *l = &im->loaded[i];
		if (off >= l->off && off - l->off <= l->size && size <= l->size - (off - l->off))
			return l->data + (off - l->off);
	}
	if (im->n_scratch == ARRAY_SIZE(im->r->sec))
		return NULL;
	p = kmi_scratch(&im->r->sec[im->n_scratch++], size);
	while (done < size) {
		ssize_t r = pread(im->fd, p + done, size - done, (off_t)(off + done));
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return NULL;
		}
		done += (uint64_t)r;
	}
	if (im->n_loaded < ARRAY_SIZE(im->loaded))
		im->loaded[im->n_loaded++] = (struct range){ off, size, p };
	return p;
}

struct shdr {
	uint32_t name;
	uint64_t off, size;
};

static void shdr_read(const struct image *im, size_t i, struct shdr *sh)
{
	const unsigned char *p = im->shdrs + i * (im->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr));

	if (im->is64) {
		sh->name = (uint32_t)rd(im, p + offsetof(Elf64_Shdr, sh_name), 4);
		sh->off = rd(im, p + offsetof(Elf64_Shdr, sh_offset), 8);
		sh->size = rd(im, p + offsetof(Elf64_Shdr, sh_size), 8);
	} else {
		sh->name = (uint32_t)rd(im, p + offsetof(Elf32_Shdr, sh_name), 4);
		sh->off = rd(im, p + offsetof(Elf32_Shdr, sh_offset), 4);
		sh->size = rd(im, p + offsetof(Elf32_Shdr, sh_size), 4);
	}
}

/* Section i's place if it lies inside the file, as libkmod requires. */
static bool section_range(const struct image *im, size_t i, uint64_t *off, uint64_t *size)
{
	struct shdr sh;

	if (i >= im->shnum)
		return false;
	shdr_read(im, i, &sh);
	*off = sh.off;
	*size = sh.size;
	return in_file(im, sh.off, sh.size);
}

static int range_cmp(const void *a, const void *b)
{
	const struct section *x = *(struct section *const *)a, *y = *(struct section *const *)b;
	return x->off < y->off ? -1 : (x->off > y->off);
}

/* Reads the sections found, nearby ones together. */
static void fetch_sections(struct image *im, struct section **s, size_t n)
{
	if (n > 1)
		qsort(s, n, sizeof(*s), range_cmp);
	for (size_t i = 0; i < n;) {
		uint64_t start = s[i]->off, end = s[i]->off + s[i]->size;
		const unsigned char *p;
		size_t j = i + 1;

		while (j < n && s[j]->off <= end + MERGE_GAP) {
			if (s[j]->off + s[j]->size > end)
				end = s[j]->off + s[j]->size;
			j++;
		}
		p = fetch(im, start, end - start);
		for (; i < j; i++) {
			if (p == NULL) {
				problem(im, "a section could not be read");
				s[i]->found = false;
			} else {
				s[i]->data = p + (s[i]->off - start);
			}
		}
	}
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
	struct section *found[ARRAY_SIZE(wanted)];
	size_t n_found = 0;

	for (size_t i = 1; i < im->shnum && n_found < ARRAY_SIZE(wanted); i++) {
		struct shdr sh;
		const char *name;

		shdr_read(im, i, &sh);
		if (sh.name >= names_len)
			continue;
		name = names + sh.name;
		if (name[0] != '.' && name[0] != '_')
			continue;
		for (size_t w = 0; w < ARRAY_SIZE(wanted); w++) {
			if (wanted[w].s->found || !streq(name, wanted[w].name))
				continue;
			if (!in_file(im, sh.off, sh.size)) {
				/* libkmod skips it and looks further: so do we, but say so */
				problem(im, "a section lies beyond the end of the file");
				break;
			}
			wanted[w].s->off = sh.off;
			wanted[w].s->size = sh.size;
			wanted[w].s->found = true;
			found[n_found++] = wanted[w].s;
			break;
		}
	}
	fetch_sections(im, found, n_found);
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

	if (im->is64 && !im->swap) {
		Elf64_Sym e;
		memcpy(&e, p, sizeof(e));
		s->name = e.st_name;
		s->info = e.st_info;
		s->shndx = e.st_shndx;
		s->value = e.st_value;
	} else if (im->is64) {
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

/* The CRC of an exported symbol: absolute, or a word in the section it points into. */
static uint64_t resolve_crc(struct image *im, uint64_t crc, uint16_t shndx)
{
	const unsigned char *p;
	uint64_t off, size;

	if (shndx == SHN_ABS || shndx == SHN_UNDEF)
		return crc;
	if (!section_range(im, shndx, &off, &size))
		return (uint64_t)-1;
	if (size < 4 || crc > size - 4)
		return (uint64_t)-1;
	/* the whole section: the next export's CRC is in it too */
	p = fetch(im, off, size);
	if (p == NULL) {
		problem(im, "a CRC section could not be read");
		return (uint64_t)-1;
	}
	return rd(im, p + crc, 4);
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
	a = kmi_arena_alloc(im->sym_arena, n * sizeof(*a));
	n = 0;
	for (uint64_t i = 0, start = 0; i <= size; i++) {
		if (i < size && p[i] != '\0')
			continue;
		if (i > start) {
			a[n].name = kmi_arena_strndup(im->sym_arena, p + start, i - start);
			a[n].crc = 0;
			n++;
		}
		start = i + 1;
	}
	im->out->exports = a;
	im->out->n_exports = (uint32_t)n;
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

static uint64_t version_crc(const struct image *im, size_t i)
{
	return rd(im, im->versions.data + i * MODVERSION_SIZE, im->is64 ? 8 : 4);
}

/*
 * One pass over .symtab: "__crc_<name>" symbols are the exports, undefined
 * ones the imports, each as libkmod takes them (its two scans reject a whole
 * list for one name outside .strtab).
 */
struct symscan {
	uint32_t *exp, *imp;
	size_t n_exp, n_imp;
	bool exp_bad, imp_bad;
};

static void scan_symtab(struct image *im, struct symscan *sc)
{
	static const char crc_prefix[] = "__crc_";
	size_t count = im->symtab.size / sym_size(im);
	bool sparc = im->out->machine == EM_SPARC || im->out->machine == EM_SPARCV9;
	bool terminated = im->strtab.size > 0 && im->strtab.data[im->strtab.size - 1] == '\0';

	sc->exp = kmi_scratch(&im->r->exp, count * sizeof(uint32_t));
	sc->imp = kmi_scratch(&im->r->imp, count * sizeof(uint32_t));
	for (size_t i = 1; i < count; i++) {
		struct sym s;
		const char *name;
		bool undef;

		sym_read(im, i, &s);
		undef = s.shndx == SHN_UNDEF && !(sparc && ELF64_ST_TYPE(s.info) == STT_SPARC_REGISTER);
		if (s.name >= im->strtab.size) {
			sc->exp_bad = true;
			sc->imp_bad |= undef;
			continue;
		}
		name = (const char *)im->strtab.data + s.name;
		if (!terminated && str_at(im, &im->strtab, s.name) == NULL)
			continue;
		if (name[0] == '_' && strncmp(name, crc_prefix, sizeof(crc_prefix) - 1) == 0)
			sc->exp[sc->n_exp++] = (uint32_t)i;
		if (undef && name[0] != '\0')
			sc->imp[sc->n_imp++] = (uint32_t)i;
	}
}

static void read_exports(struct image *im, const struct symscan *sc)
{
	struct kmi_export *a;

	if (sc->exp_bad || sc->n_exp == 0) {
		exports_from_ksymtab_strings(im);
		return;
	}
	a = kmi_arena_alloc(im->sym_arena, sc->n_exp * sizeof(*a));
	for (size_t k = 0; k < sc->n_exp; k++) {
		struct sym s;
		sym_read(im, sc->exp[k], &s);
		a[k].name = kmi_arena_strdup(im->sym_arena, (const char *)im->strtab.data + s.name + 6);
		a[k].crc = resolve_crc(im, s.value, s.shndx);
	}
	im->out->exports = a;
	im->out->n_exports = (uint32_t)sc->n_exp;
}

/*
 * CRCs of the imports from __versions, first record of a name wins; records
 * no import referenced (module_layout) are appended.  modpost writes the
 * records in symtab order, so a cursor finds them; only when it does not, or
 * when the caller wants exact CRCs, is a lookup table built.
 */
static size_t match_versions(struct image *im, struct kmi_import *a, size_t n, size_t nver,
			     unsigned flags)
{
	unsigned char *visited = kmi_scratch(&im->r->visited, nver);
	size_t cur = 0, extra = n;
	bool exact = flags & KMI_MODFILE_EXACT_CRCS;
	struct kmi_strmap map = { 0 };

	memset(visited, 0, nver);
	if (exact) {
		kmi_strmap_init(&map, nver);
		for (size_t v = nver; v-- > 0;) {
			const char *name = version_name(im, v);
			if (name != NULL)
				kmi_strmap_put(&map, name, (void *)(uintptr_t)(v + 1));
		}
	}
	for (size_t k = 0; k < n; k++) {
		size_t v = 0;
		if (exact) {
			v = (uintptr_t)kmi_strmap_get(&map, a[k].name);
		} else {
			/* a record may be skipped (module_layout leads): look two ahead */
			for (size_t ahead = cur; ahead < nver && ahead < cur + 3; ahead++) {
				const char *name = version_name(im, ahead);
				if (name != NULL && strcmp(name, a[k].name) == 0) {
					v = ahead + 1;
					cur = ahead + 1;
					break;
				}
			}
		}
		if (v != 0) {
			visited[v - 1] = 1;
			a[k].crc = version_crc(im, v - 1);
			a[k].versioned = true;
		}
	}
	if (exact)
		kmi_strmap_free(&map);
	/*
	 * Without exact matching an unvisited record may name an import that
	 * was looked up already; repeating it changes no dependency.
	 */
	for (size_t v = 0; v < nver; v++) {
		const char *name;
		if (visited[v] || (name = version_name(im, v)) == NULL)
			continue;
		a[extra].name = kmi_arena_strdup(im->sym_arena, name);
		a[extra].weak = false;
		a[extra].crc = version_crc(im, v);
		a[extra].versioned = true;
		extra++;
	}
	return extra;
}

static void read_imports(struct image *im, const struct symscan *sc, unsigned flags)
{
	size_t nver = 0, n;
	struct kmi_import *a;

	if (sc->imp_bad) {
		problem(im, "a symbol name lies outside .strtab");
		return;
	}
	if (im->versions.found) {
		if (im->versions.size % MODVERSION_SIZE == 0)
			nver = im->versions.size / MODVERSION_SIZE;
		else
			problem(im, "__versions size is not a multiple of 64");
	}
	a = kmi_arena_alloc(im->sym_arena, (sc->n_imp + nver) * sizeof(*a));
	for (n = 0; n < sc->n_imp; n++) {
		struct sym s;
		sym_read(im, sc->imp[n], &s);
		a[n].name = kmi_arena_strdup(im->sym_arena, (const char *)im->strtab.data + s.name);
		a[n].weak = ELF64_ST_BIND(s.info) == STB_WEAK;
		a[n].crc = 0;
		a[n].versioned = false;
	}
	if (nver > 0)
		n = match_versions(im, a, n, nver, flags);
	im->out->imports = a;
	im->out->n_imports = (uint32_t)n;
}

static void read_symbols(struct image *im, unsigned flags)
{
	struct symscan sc = { 0 };

	if (!im->symtab.found || !im->strtab.found) {
		exports_from_ksymtab_strings(im);
		return;
	}
	if (im->symtab.size % sym_size(im) != 0) {
		problem(im, ".symtab size is not a multiple of its entry size");
		exports_from_ksymtab_strings(im);
		return;
	}
	scan_symtab(im, &sc);
	read_exports(im, &sc);
	read_imports(im, &sc, flags);
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
	const unsigned char *p;
	size_t ehdr_size, shdr_size;
	uint64_t shoff, off, size, start;
	uint16_t shentsize, shstrndx;
	const unsigned char *strs;

	/* one read for the identification and the largest header */
	if (im->size <= EI_NIDENT ||
	    (p = fetch(im, 0, im->size < sizeof(Elf64_Ehdr) ? im->size : sizeof(Elf64_Ehdr))) == NULL ||
	    memcmp(p, ELFMAG, SELFMAG) != 0) {
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
	im->out->elfclass = p[EI_CLASS];
	im->out->elfdata = p[EI_DATA];
	ehdr_size = im->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	shdr_size = im->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	if (im->size <= ehdr_size || (p = fetch(im, 0, ehdr_size)) == NULL) {
		problem(im, "truncated ELF header");
		return false;
	}
	if (im->is64) {
		im->out->machine = (uint16_t)rd(im, p + offsetof(Elf64_Ehdr, e_machine), 2);
		shoff = rd(im, p + offsetof(Elf64_Ehdr, e_shoff), 8);
		shentsize = (uint16_t)rd(im, p + offsetof(Elf64_Ehdr, e_shentsize), 2);
		im->shnum = (uint16_t)rd(im, p + offsetof(Elf64_Ehdr, e_shnum), 2);
		shstrndx = (uint16_t)rd(im, p + offsetof(Elf64_Ehdr, e_shstrndx), 2);
	} else {
		im->out->machine = (uint16_t)rd(im, p + offsetof(Elf32_Ehdr, e_machine), 2);
		shoff = rd(im, p + offsetof(Elf32_Ehdr, e_shoff), 4);
		shentsize = (uint16_t)rd(im, p + offsetof(Elf32_Ehdr, e_shentsize), 2);
		im->shnum = (uint16_t)rd(im, p + offsetof(Elf32_Ehdr, e_shnum), 2);
		shstrndx = (uint16_t)rd(im, p + offsetof(Elf32_Ehdr, e_shstrndx), 2);
	}
	if (shentsize != shdr_size) {
		problem(im, "unexpected section header size");
		return false;
	}
	size = (uint64_t)im->shnum * shdr_size;
	if (!in_file(im, shoff, size)) {
		problem(im, "truncated: section headers lie beyond the end of the file");
		return false;
	}
	/* .shstrtab usually sits just before the headers: one read gets both */
	start = shoff > SHDR_LOOKBEHIND ? shoff - SHDR_LOOKBEHIND : 0;
	p = fetch(im, start, shoff - start + size);
	if (p == NULL) {
		problem(im, "could not read the section headers");
		return false;
	}
	im->shdrs = p + (shoff - start);
	if (!section_range(im, shstrndx, &off, &size) || size == 0 ||
	    (strs = fetch(im, off, size)) == NULL || strs[size - 1] != '\0') {
		problem(im, "bad section name table");
		return false;
	}
	*names = (const char *)strs;
	*names_len = size;
	return true;
}

static void parse(struct image *im, unsigned flags)
{
	const char *names;
	uint64_t names_len;

	if (open_elf(im, &names, &names_len)) {
		find_sections(im, names, names_len);
		read_symbols(im, flags);
		read_modinfo(im, flags);
	}
}

void *kmi_scratch(struct kmi_scratch *s, size_t n)
{
	if (n > s->cap) {
		free(s->p);
		s->cap = n > 4096 ? n + n / 2 : 4096;
		s->p = malloc(s->cap);
		if (s->p == NULL)
			abort(); /* as xmalloc: out of memory is fatal */
	}
	return s->p;
}

void kmi_modreader_free(struct kmi_modreader *r)
{
	for (size_t i = 0; i < ARRAY_SIZE(r->sec); i++)
		free(r->sec[i].p);
	free(r->exp.p);
	free(r->imp.p);
	free(r->visited.p);
	memset(r, 0, sizeof(*r));
}

void kmi_modfile_parse(struct kmi_modreader *r, const void *image, size_t size,
		       struct kmi_arena *arena, unsigned flags, struct kmi_modfile *out)
{
	struct image im = { .mem = image, .fd = -1, .size = size, .arena = arena, .out = out,
			    .r = r, .sym_arena = r->sym_arena ? r->sym_arena : arena };

	memset(out, 0, sizeof(*out));
	parse(&im, flags);
}

static bool compressed_magic(const unsigned char *m, size_t n)
{
	return (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) ||
	       (n >= 6 && memcmp(m, "\xfd" "7zXZ\0", 6) == 0) ||
	       (n >= 2 && m[0] == 0x1f && m[1] == 0x8b);
}

static int read_compressed(struct image *im, struct kmi_arena *arena, unsigned flags,
			   struct kmi_modfile *out)
{
	const unsigned char *data = fetch(im, 0, im->size);
	void *plain = NULL;
	size_t plain_size = 0;
	const char *why = NULL;

	if (data == NULL)
		return -EIO;
	if (kmi_modfile_decompress(data, im->size, &plain, &plain_size, &why) < 0) {
		out->problem = why;
		return 0;
	}
	kmi_modfile_parse(im->r, plain, plain_size, arena, flags, out);
	free(plain);
	return 0;
}

int kmi_modfile_read(struct kmi_modreader *r, const char *path, struct kmi_arena *arena,
		     unsigned flags, struct kmi_modfile *out)
{
	return kmi_modfile_read_at(r, AT_FDCWD, path, arena, flags, out);
}

int kmi_modfile_read_at(struct kmi_modreader *r, int dirfd, const char *path,
			struct kmi_arena *arena, unsigned flags, struct kmi_modfile *out)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	struct image im = { .fd = fd, .arena = arena, .out = out, .r = r,
			    .sym_arena = r->sym_arena ? r->sym_arena : arena };
	const unsigned char *head;
	struct stat st;

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
	im.size = (uint64_t)st.st_size;
	/* the first read serves both the compression check and the ELF header */
	head = fetch(&im, 0, im.size < sizeof(Elf64_Ehdr) ? im.size : sizeof(Elf64_Ehdr));
	if (head == NULL)
		return -EIO;
	if (compressed_magic(head, im.size < 6 ? im.size : 6))
		return read_compressed(&im, arena, flags, out);
	parse(&im, flags);
	return 0;
}
