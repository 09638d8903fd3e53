// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Ordering, reading and linking the modules found: kmod's hash order and
 * modules.order sort, a parallel read of every module file, the symbol
 * table, and the topological sort whose numbers order each modules.dep line.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "depmod/depmod-internal.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/parallel.h"
#include "util/xalloc.h"

/* modules.order, Module.symvers, System.map: far below this */
#define INPUT_FILE_MAX (1u << 30)

/* kmod's module hash has 512 buckets; iterating it gives the base order. */
#define MODULE_BUCKETS 512

static int mod_hash_cmp(const void *pa, const void *pb)
{
	const struct mod *a = *(struct mod *const *)pa, *b = *(struct mod *const *)pb;

	if (a->bucket != b->bucket)
		return a->bucket < b->bucket ? -1 : 1;
	return strcmp(a->modname, b->modname);
}

static int mod_sort_cmp(const void *pa, const void *pb)
{
	const struct mod *a = *(struct mod *const *)pa, *b = *(struct mod *const *)pb;

	if (a->sort_idx != b->sort_idx)
		return a->sort_idx < b->sort_idx ? -1 : 1;
	/* glibc's qsort is a stable merge sort here: keep the hash order */
	return a->idx < b->idx ? -1 : (a->idx > b->idx);
}

/* Lines as fgets() into a PATH_MAX buffer would cut them. */
static const char *next_chunk(const struct kmi_buf *b, size_t *pos, size_t *len)
{
	const char *start = b->data + *pos, *nl;
	size_t left = b->len - *pos;

	if (left == 0)
		return NULL;
	if (left > PATH_MAX - 1)
		left = PATH_MAX - 1;
	nl = memchr(start, '\n', left);
	*len = nl ? (size_t)(nl - start) + 1 : left;
	*pos += *len;
	return start;
}

static void sort_by_modules_order(struct depmod *dm)
{
	struct kmi_buf b = { 0 };
	_cleanup_free_ char *file = xasprintf("%s/modules.order", dm->dirname);
	size_t pos = 0, len;
	unsigned idx = 0, total;
	const char *line;
	int err = kmi_read_file(file, INPUT_FILE_MAX, &b);

	if (err < 0) {
		kmi_warn("could not open modules.order at %s: %s\n", dm->dirname, strerror(-err));
		return;
	}
	while ((line = next_chunk(&b, &pos, &len)) != NULL) {
		idx++;
		if (line[len - 1] != '\n') {
			kmi_err("%s/modules.order:%u corrupted line misses '\\n'\n", dm->dirname, idx);
			kmi_buf_free(&b);
			return;
		}
	}
	total = idx + 1;
	idx = 0;
	pos = 0;
	while ((line = next_chunk(&b, &pos, &len)) != NULL) {
		char key[PATH_MAX];
		struct mod *mod;

		idx++;
		memcpy(key, line, len - 1);
		key[len - 1] = '\0';
		/* a later line for the same module wins, as in kmod 30 */
		mod = kmi_strmap_get(&dm->by_uncrelpath, key);
		if (mod != NULL)
			mod->sort_idx = (int)(idx - total);
	}
	kmi_buf_free(&b);

	if (dm->n_mods > 1)
		qsort(dm->mods, dm->n_mods, sizeof(*dm->mods), mod_sort_cmp);
	for (size_t i = 0; i < dm->n_mods; i++)
		dm->mods[i]->idx = (uint32_t)i;
}

int depmod_order(struct depmod *dm)
{
	size_t n = 0;

	for (size_t i = 0; i < dm->n_mods; i++) {
		if (dm->mods[i] != NULL)
			dm->mods[n++] = dm->mods[i];
	}
	dm->n_mods = n;
	if (n >= UINT16_MAX) {
		kmi_err("too many modules: %zu (kmod's limit is %u)\n", n, UINT16_MAX - 1);
		return -E2BIG;
	}
	for (size_t i = 0; i < n; i++) {
		struct mod *m = dm->mods[i];
		m->bucket = kmi_hash_superfast(m->modname, m->modnamesz - 1) & (MODULE_BUCKETS - 1);
	}
	if (n > 1)
		qsort(dm->mods, n, sizeof(*dm->mods), mod_hash_cmp);
	for (size_t i = 0; i < n; i++)
		dm->mods[i]->idx = (uint32_t)i;
	sort_by_modules_order(dm);
	return 0;
}

/* Parallel read ------------------------------------------------------------ */

struct read_ctx {
	struct depmod *dm;
	struct kmi_modreader *readers;
	unsigned flags;
};

static void read_one(void *p, size_t i, unsigned worker)
{
	struct read_ctx *c = p;
	struct mod *mod = c->dm->mods[i];

	mod->read_err = kmi_modfile_read(&c->readers[worker], mod->path,
					 &c->dm->thread_arenas[worker], c->flags, &mod->file);
}

unsigned depmod_threads(const struct depmod *dm)
{
	unsigned n = dm->o->threads > 0 ? (unsigned)dm->o->threads : kmi_cpu_count(16);

	/* tiny trees: a thread costs more than it gives */
	if (n > dm->n_mods / 16 + 1)
		n = (unsigned)(dm->n_mods / 16 + 1);
	return n;
}

static void read_all(struct depmod *dm)
{
	unsigned n = depmod_threads(dm);
	struct read_ctx c = {
		.dm = dm,
		.readers = xcalloc(n, sizeof(*c.readers)),
		/* -e reports each import once, in order: that needs the exact match */
		.flags = dm->o->errsyms && (dm->o->symvers || dm->o->system_map) ?
				 KMI_MODFILE_EXACT_CRCS : 0,
	};

	dm->thread_arenas = xcalloc(n, sizeof(*dm->thread_arenas));
	dm->sym_arenas = xcalloc(n, sizeof(*dm->sym_arenas));
	dm->n_thread_arenas = n;
	for (unsigned t = 0; t < n; t++)
		c.readers[t].sym_arena = &dm->sym_arenas[t];
	kmi_parallel_for(dm->n_mods, n, read_one, &c);
	for (unsigned t = 0; t < n; t++)
		kmi_modreader_free(&c.readers[t]);
	free(c.readers);
}

/* Report what kmod would have read silently; 0 if every module was sound. */
static unsigned report_bad_modules(struct depmod *dm)
{
	unsigned bad = 0;
	int prio = dm->o->keep_going ? KMI_LOG_WARN : KMI_LOG_ERR;

	for (size_t i = 0; i < dm->n_mods; i++) {
		struct mod *mod = dm->mods[i];
		if (mod->read_err < 0) {
			kmi_log(prio, "could not read module %s: %s\n", mod->path,
				strerror(-mod->read_err));
			bad++;
		} else if (mod->file.problem != NULL) {
			kmi_log(prio, "corrupt or truncated module %s: %s\n", mod->path,
				mod->file.problem);
			bad++;
		}
	}
	return bad;
}

/* Symbols ------------------------------------------------------------------- */

void depmod_symbol_add(struct depmod *dm, const char *name, bool prefix_skipped, uint64_t crc,
		       struct mod *owner)
{
	struct symbol *sym;

	if (!prefix_skipped && name[0] == dm->o->symbol_prefix && name[0] != '\0')
		name++;
	sym = kmi_arena_alloc(&dm->arena, sizeof(*sym));
	sym->name = kmi_arena_strdup(&dm->arena, name);
	sym->crc = crc;
	sym->owner = owner;
	/* a later definition replaces an earlier one, as kmod's hash_add() does */
	kmi_strmap_put(&dm->symbols, sym->name, sym);
}

static struct symbol *symbol_find(const struct depmod *dm, const char *name)
{
	if (name[0] == '.') /* PPC64: .foo is foo */
		name++;
	if (name[0] == dm->o->symbol_prefix && name[0] != '\0')
		name++;
	return kmi_strmap_get(&dm->symbols, name);
}

static void add_fake_symbols(struct depmod *dm)
{
	depmod_symbol_add(dm, "__this_module", true, 0, NULL);
	depmod_symbol_add(dm, "_GLOBAL_OFFSET_TABLE_", true, 0, NULL);
	if (symbol_find(dm, "TOC.") == NULL)
		depmod_symbol_add(dm, "TOC.", true, 0, NULL);
}

static int load_symvers(struct depmod *dm, const char *file)
{
	struct kmi_buf b = { 0 };
	size_t pos = 0;
	unsigned lineno = 0;
	int err = kmi_read_file(file, INPUT_FILE_MAX, &b);

	if (err < 0)
		return err;
	kmi_buf_putc(&b, '\0');
	b.len--;
	while (pos < b.len) {
		char *line = b.data + pos, *nl = memchr(line, '\n', b.len - pos), *save = NULL;
		char *ver, *sym, *where, *end;
		uint64_t crc;

		char saved = 0;

		/* kmod's fgets() keeps the newline in the last token: so does this */
		pos = nl ? (size_t)(nl - b.data) + 1 : b.len;
		if (nl) {
			saved = nl[1];
			nl[1] = '\0';
		}
		lineno++;
		ver = strtok_r(line, " \t", &save);
		sym = strtok_r(NULL, " \t", &save);
		where = strtok_r(NULL, " \t", &save);
		if (ver && sym && where && streq(where, "vmlinux")) {
			crc = strtoull(ver, &end, 16);
			if (*end != '\0')
				kmi_err("%s:%u Invalid symbol version %s\n", file, lineno, ver);
			else
				depmod_symbol_add(dm, sym, false, crc, NULL);
		}
		if (nl)
			nl[1] = saved;
	}
	add_fake_symbols(dm);
	kmi_buf_free(&b);
	return 0;
}

static int load_system_map(struct depmod *dm, const char *file)
{
	static const char ksym[] = "__ksymtab_";
	struct kmi_buf b = { 0 };
	size_t pos = 0;
	unsigned lineno = 0;
	int err = kmi_read_file(file, INPUT_FILE_MAX, &b);

	if (err < 0)
		return err;
	kmi_buf_putc(&b, '\0');
	b.len--;
	while (pos < b.len) {
		char *line = b.data + pos, *nl = memchr(line, '\n', b.len - pos), *p;

		pos = nl ? (size_t)(nl - b.data) + 1 : b.len;
		if (nl)
			*nl = '\0';
		lineno++;
		p = strchr(line, ' ');
		if (p != NULL)
			p = strchr(p + 1, ' ');
		if (p == NULL) {
			kmi_err("%s:%u: invalid line: %s\n", file, lineno, line);
			continue;
		}
		p++;
		if (p[0] == dm->o->symbol_prefix && p[0] != '\0')
			p++;
		if (strncmp(p, ksym, sizeof(ksym) - 1) != 0)
			continue;
		depmod_symbol_add(dm, p + sizeof(ksym) - 1, true, 0, NULL);
	}
	add_fake_symbols(dm);
	kmi_buf_free(&b);
	return 0;
}

int depmod_load_kernel_symbols(struct depmod *dm)
{
	const char *file = dm->o->symvers ? dm->o->symvers : dm->o->system_map;
	int err;

	if (file == NULL)
		return 0;
	err = dm->o->symvers ? load_symvers(dm, file) : load_system_map(dm, file);
	if (err < 0)
		kmi_log(KMI_LOG_CRIT, "could not load %s: %s\n", file, strerror(-err));
	return err;
}

int depmod_load(struct depmod *dm)
{
	unsigned bad;

	/* the scan read the modules it found as it went: explicit paths are read here */
	if (dm->o->modules != NULL)
		read_all(dm);
	bad = report_bad_modules(dm);
	if (bad > 0 && !dm->o->keep_going) {
		kmi_err("%u module%s could not be read; nothing was written (--keep-going "
			"writes what kmod would)\n", bad, bad == 1 ? "" : "s");
		return -EINVAL;
	}
	for (size_t i = 0; i < dm->n_mods; i++) {
		struct mod *mod = dm->mods[i];
		for (uint32_t s = 0; s < mod->file.n_exports; s++)
			depmod_symbol_add(dm, mod->file.exports[s].name, false,
					  mod->file.exports[s].crc, mod);
	}
	return 0;
}

/* Dependencies ------------------------------------------------------------- */

static void add_dependency(struct depmod *dm, struct mod *mod, const struct symbol *sym,
			   struct kmi_buf *log)
{
	struct mod *owner = sym->owner;

	if (owner == NULL)
		return;
	for (uint32_t i = 0; i < mod->n_deps; i++) {
		if (mod->deps[i] == owner)
			return;
	}
	if (mod->n_deps == mod->cap_deps) {
		mod->cap_deps = mod->cap_deps ? mod->cap_deps * 2 : 4;
		mod->deps = xreallocarray(mod->deps, mod->cap_deps, sizeof(*mod->deps));
	}
	mod->deps[mod->n_deps++] = owner;
	if (dm->o->verbose)
		kmi_buf_printf(log, "O%s needs \"%s\": %s\n", mod->path, sym->name, owner->path);
}

/*
 * Links one module's imports to their owners.  Runs on several threads: the
 * symbol table is only read here, and messages are kept per module (a first
 * character 'O' for stdout, 'W' for a warning) to be printed in module order.
 */
static void resolve_one(void *p, size_t i, unsigned worker)
{
	struct depmod *dm = p;
	struct mod *mod = dm->mods[i];
	bool errsyms = dm->o->errsyms && (dm->o->symvers || dm->o->system_map);
	bool check_crc = dm->o->symvers != NULL;
	struct kmi_buf log = { 0 };

	for (uint32_t k = 0; k < mod->file.n_imports; k++) {
		const struct kmi_import *imp = &mod->file.imports[k];
		const struct symbol *sym = symbol_find(dm, imp->name);

		if (sym == NULL) {
			if (errsyms && !imp->weak)
				kmi_buf_printf(&log, "W%s needs unknown symbol %s\n", mod->path,
					       imp->name);
			continue;
		}
		if (check_crc && errsyms && sym->crc != imp->crc && !imp->weak)
			kmi_buf_printf(&log, "W%s disagrees about version of symbol %s\n", mod->path,
				       imp->name);
		add_dependency(dm, mod, sym, &log);
	}
	if (log.len > 0) {
		kmi_buf_putc(&log, '\0');
		mod->log = log.data;
	}
	(void)worker;
}

static void print_log(struct mod *mod)
{
	char *line = mod->log, *nl;

	for (; line != NULL && *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		*nl = '\0';
		if (line[0] == 'W')
			kmi_warn("%s\n", line + 1);
		else
			printf("%s\n", line + 1);
	}
	free(mod->log);
	mod->log = NULL;
}

static struct mod *first_unplaced_dep(const struct mod *m)
{
	for (uint32_t i = 0; i < m->n_deps; i++) {
		if (m->deps[i]->dep_sort_idx == UINT32_MAX)
			return m->deps[i];
	}
	return NULL;
}

/*
 * Every module the sort could not place has an unplaced dependency, so
 * following them from `start` must come back to a module of this walk: that
 * loop is a cycle, named once.
 */
static void report_cycle(struct mod *start, uint32_t stamp)
{
	struct kmi_buf b = { 0 };
	struct mod *m = start, *first;

	while (m != NULL && m->stamp == 0) {
		m->stamp = stamp;
		m = first_unplaced_dep(m);
	}
	if (m == NULL || m->stamp != stamp)
		return; /* ran into a cycle that was already reported */
	first = m;
	do {
		kmi_buf_printf(&b, "%s -> ", m->modname);
		m = first_unplaced_dep(m);
	} while (m != NULL && m != first);
	kmi_buf_printf(&b, "%s", first->modname);
	kmi_err("Cycle detected: %s\n", b.data);
	kmi_buf_free(&b);
}

static int topo_sort(struct depmod *dm)
{
	size_t n = dm->n_mods, n_roots = 0, n_sorted = 0;
	uint32_t *users = xmalloc(n * sizeof(*users)), *roots = xmalloc(n * sizeof(*roots));

	for (size_t i = 0; i < n; i++) {
		users[i] = dm->mods[i]->users;
		dm->mods[i]->dep_sort_idx = UINT32_MAX;
		if (users[i] == 0)
			roots[n_roots++] = (uint32_t)i;
	}
	/* Kahn's algorithm with a stack: modules nothing uses come first */
	while (n_roots > 0) {
		struct mod *src = dm->mods[roots[--n_roots]];
		src->dep_sort_idx = (uint32_t)n_sorted++;
		for (uint32_t d = 0; d < src->n_deps; d++) {
			uint32_t di = src->deps[d]->idx;
			if (--users[di] == 0)
				roots[n_roots++] = di;
		}
	}
	free(users);
	free(roots);
	if (n_sorted < n) {
		uint32_t stamp = 1;
		for (size_t i = 0; i < n; i++) {
			struct mod *m = dm->mods[i];
			if (m->dep_sort_idx == UINT32_MAX && m->stamp == 0)
				report_cycle(m, stamp++);
		}
		kmi_err("Found %zu modules in dependency cycles!\n", n - n_sorted);
		return -EINVAL;
	}
	return 0;
}

int depmod_resolve(struct depmod *dm)
{
	kmi_parallel_for(dm->n_mods, depmod_threads(dm), resolve_one, dm);
	for (size_t i = 0; i < dm->n_mods; i++) {
		struct mod *mod = dm->mods[i];
		for (uint32_t d = 0; d < mod->n_deps; d++)
			mod->deps[d]->users++;
		if (mod->log)
			print_log(mod);
		/* the symbol table holds copies: what the modules import or export is done with */
		mod->file.exports = NULL;
		mod->file.imports = NULL;
		mod->file.n_exports = mod->file.n_imports = 0;
	}
	for (size_t t = 0; t < dm->n_thread_arenas; t++)
		kmi_arena_free(&dm->sym_arenas[t]);
	if (dm->o->verbose)
		fflush(stdout);
	return topo_sort(dm);
}
