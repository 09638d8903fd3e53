// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The target kernel, from what the user has of it: its Module.symvers (from
 * linux-headers, with the .config beside it) and/or its module tree (from
 * linux-image, or a node's /lib/modules/<kver>).  Without Module.symvers,
 * vmlinux's CRCs are inferred from the __versions of the tree's modules:
 * they were all built against the same vmlinux, so they agree (a symbol on
 * which they do not is left without a CRC).
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "verify/verify-internal.h"

#define SYMVERS_MAX_SIZE (64u << 20)
#define CONFIG_MAX_SIZE (16u << 20)
#define TREE_MAX_DEPTH 16

static bool config_has(const char *cfg, size_t len, const char *opt)
{
	size_t n = strlen(opt);
	for (const char *p = cfg; p && p + n + 2 <= cfg + len;) {
		if (memcmp(p, opt, n) == 0 && p[n] == '=' && p[n + 1] == 'y')
			return true;
		p = memchr(p, '\n', (size_t)(cfg + len - p));
		p = p ? p + 1 : NULL;
	}
	return false;
}

static void arch_from_config(struct kmi_target *t, const char *cfg, size_t len, const char *path)
{
	static const struct {
		const char *opt;
		uint16_t machine;
		uint8_t elfclass;
	} arches[] = {
		{ "CONFIG_X86_64", EM_X86_64, ELFCLASS64 }, { "CONFIG_X86_32", EM_386, ELFCLASS32 },
		{ "CONFIG_ARM64", EM_AARCH64, ELFCLASS64 }, { "CONFIG_PPC64", EM_PPC64, ELFCLASS64 },
		{ "CONFIG_S390", EM_S390, ELFCLASS64 },     { "CONFIG_RISCV", EM_RISCV, ELFCLASS64 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(arches); i++) {
		if (!config_has(cfg, len, arches[i].opt))
			continue;
		t->arch_known = true;
		t->machine = arches[i].machine;
		t->elfclass = config_has(cfg, len, "CONFIG_64BIT") ? ELFCLASS64 : ELFCLASS32;
		t->elfdata = config_has(cfg, len, "CONFIG_CPU_BIG_ENDIAN") ||
					     arches[i].machine == EM_S390
				     ? ELFDATA2MSB
				     : ELFDATA2LSB;
		if (arches[i].machine == EM_PPC64 && !config_has(cfg, len, "CONFIG_CPU_LITTLE_ENDIAN"))
			t->elfdata = ELFDATA2MSB;
		t->arch_from = xstrdup(path);
		return;
	}
}

/* The .config beside Module.symvers (linux-headers ships both). */
static void read_config(struct kmi_target *t, const char *symvers)
{
	_cleanup_free_ char *dir = xstrdup(symvers);
	_cleanup_free_ char *path = NULL;
	struct kmi_buf cfg = { 0 };
	char *slash = strrchr(dir, '/');

	if (slash)
		*slash = '\0';
	path = xasprintf("%s/.config", slash ? dir : ".");
	if (kmi_read_file(path, CONFIG_MAX_SIZE, &cfg) == 0 && cfg.len > 0) {
		if (t->vermagic == NULL) {
			t->vermagic = kmi_vermagic_from_config(cfg.data, cfg.len, t->kver);
			t->vermagic_from = xstrdup(path);
		}
		if (!t->arch_known)
			arch_from_config(t, cfg.data, cfg.len, path);
	}
	kmi_buf_free(&cfg);
}

static int load_symvers(struct kmi_target *t, const char *path, struct kmi_error **err)
{
	struct kmi_buf b = { 0 };
	int r = kmi_read_file(path, SYMVERS_MAX_SIZE, &b);

	if (r < 0) {
		kmi_buf_free(&b);
		/* the user's file: unusable is a usage or access error (exit 2) */
		return kmi_error_set(err, KMI_EUSAGE, "reading `%s`: %s", path, strerror(-r));
	}
	r = kmi_symvers_parse(&t->syms, b.data ? b.data : "", b.len, path, err);
	kmi_buf_free(&b);
	if (r < 0)
		return r;
	t->have_syms = true;
	t->kernel_complete = true;
	for (size_t i = 0; i <= t->syms.map.mask && !t->modversions; i++) {
		const struct kmi_ksym *k = t->syms.map.slots[i].value;
		t->modversions = t->syms.map.slots[i].key != NULL && k->has_crc;
	}
	return 0;
}

/* CRCs the tree's modules expect of a symbol none of them exports. */
struct inferred {
	uint32_t crc;
	bool conflict;
};

struct walk {
	struct kmi_target *t;
	struct kmi_modreader r;
	struct kmi_arena scratch; /* one module's strings at a time */
	struct kmi_strmap imports; /* name (t->arena) -> struct inferred */
	size_t n_read;
};

static void note_imports(struct walk *w, const struct kmi_modfile *mf)
{
	for (uint32_t i = 0; i < mf->n_imports; i++) {
		const struct kmi_import *im = &mf->imports[i];
		struct inferred *inf;
		if (!im->versioned)
			continue;
		inf = kmi_strmap_get(&w->imports, im->name);
		if (inf == NULL) {
			inf = kmi_arena_alloc(&w->t->arena, sizeof(*inf));
			inf->crc = (uint32_t)im->crc;
			inf->conflict = false;
			kmi_strmap_put(&w->imports, kmi_arena_strdup(&w->t->arena, im->name), inf);
		} else if (inf->crc != (uint32_t)im->crc) {
			inf->conflict = true;
		}
	}
}

static void read_tree_module(struct walk *w, const char *path, const char *rel)
{
	struct kmi_target *t = w->t;
	_cleanup_free_ char *name = kmi_modname_of(rel);
	/* a few modules are read whole for vermagic and ELF identity */
	unsigned flags = KMI_MODFILE_EXACT_CRCS | (t->vermagic_exact ? 0 : KMI_MODFILE_ALL_INFO);
	struct kmi_modfile mf;
	bool added;

	if (kmi_strmap_get(&t->tree_mods, name) != NULL)
		return;
	kmi_strmap_put(&t->tree_mods, kmi_arena_strdup(&t->arena, name),
		       kmi_arena_strdup(&t->arena, rel));
	if (kmi_modfile_read(&w->r, path, &w->scratch, flags, &mf) < 0 || mf.problem != NULL) {
		kmi_arena_free(&w->scratch);
		return;
	}
	w->n_read++;
	for (uint32_t i = 0; i < mf.n_exports; i++)
		/* a module without modversions exports no __crc_: its CRCs read 0 */
		kmi_symset_add(&t->syms, mf.exports[i].name, name, (uint32_t)mf.exports[i].crc,
			       mf.exports[i].crc != 0, &added);
	note_imports(w, &mf);
	for (uint32_t i = 0; i < mf.n_info && !t->vermagic_exact; i++) {
		if (!streq(mf.info[i].key, "vermagic"))
			continue;
		free(t->vermagic);
		free(t->vermagic_from);
		t->vermagic = xstrdup(mf.info[i].value);
		t->vermagic_from = xstrdup(path);
		t->vermagic_exact = true;
		free(t->arch_from);
		t->arch_known = true;
		t->machine = mf.machine;
		t->elfclass = mf.elfclass;
		t->elfdata = mf.elfdata;
		t->arch_from = xstrdup(path);
	}
	kmi_arena_free(&w->scratch);
}

static void walk_dir(struct walk *w, const char *dir, const char *rel, unsigned depth)
{
	DIR *d;
	struct dirent *de;

	if (depth > TREE_MAX_DEPTH || (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		_cleanup_free_ char *path = NULL, *r = NULL;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		r = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		/* never through symlinks: build/, source/, a KMM image's host link */
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			walk_dir(w, path, r, depth + 1);
		else if (S_ISREG(st.st_mode) && kmi_modfile_name_ok(de->d_name))
			read_tree_module(w, path, r);
	}
	closedir(d);
}

static void add_inferred(struct walk *w)
{
	struct kmi_strmap *m = &w->imports;
	bool added;

	for (size_t i = 0; m->slots != NULL && i <= m->mask; i++) {
		const struct inferred *inf = m->slots[i].value;
		if (m->slots[i].key == NULL)
			continue;
		if (kmi_symset_get(&w->t->syms, m->slots[i].key) != NULL)
			continue;
		kmi_symset_add(&w->t->syms, m->slots[i].key, NULL, inf->crc, !inf->conflict, &added);
		w->t->modversions = true;
	}
}

static void load_tree(struct kmi_target *t, const char *tree)
{
	struct walk w = { .t = t };
	const char *suffix = "/lib/modules/";
	size_t len = strlen(tree);

	kmi_strmap_init(&w.imports, 4096);
	walk_dir(&w, tree, "", 0);
	if (!t->kernel_complete)
		add_inferred(&w);
	kmi_strmap_free(&w.imports);
	kmi_modreader_free(&w.r);
	kmi_arena_free(&w.scratch);
	t->have_tree = t->tree_mods.count > 0;
	t->have_syms |= w.n_read > 0;
	t->tree = xstrdup(tree);
	/* <root>/lib/modules/<kver>: the firmware is in <root>/lib/firmware */
	for (size_t i = len; i-- > 0;) {
		if (strncmp(tree + i, suffix, strlen(suffix)) == 0) {
			t->fw_root = xasprintf("%.*s/lib/firmware", (int)i, tree);
			break;
		}
	}
}

static void target_init(struct kmi_target *t, const char *kver)
{
	memset(t, 0, sizeof(*t));
	t->kver = kver;
	kmi_symset_init(&t->syms, 32768);
	kmi_strmap_init(&t->tree_mods, 8192);
}

/* absolute: depmod's mirror of the image links to it */
static char *absolute(const char *path)
{
	char *abs = realpath(path, NULL);

	return abs ? abs : xstrdup(path);
}

void kmi_target_set_tree(struct kmi_target *t, const struct kmi_verify_opts *o)
{
	struct stat st;

	target_init(t, o->kver);
	if (o->kernel_tree == NULL)
		return;
	t->tree = absolute(o->kernel_tree);
	t->have_tree = stat(t->tree, &st) == 0 && S_ISDIR(st.st_mode);
}

int kmi_target_load(struct kmi_target *t, const struct kmi_verify_opts *o, struct kmi_error **err)
{
	_cleanup_free_ char *deftree = NULL;
	const char *tree = o->kernel_tree;
	struct stat st;
	int r;

	target_init(t, o->kver);
	if (o->symvers && (r = load_symvers(t, o->symvers, err)) < 0)
		return r;
	if (tree == NULL) {
		deftree = xasprintf("/lib/modules/%s", o->kver);
		if (stat(deftree, &st) == 0 && S_ISDIR(st.st_mode))
			tree = deftree;
	} else if (stat(tree, &st) < 0 || !S_ISDIR(st.st_mode)) {
		return kmi_error_set(err, KMI_EUSAGE, "--kernel-tree `%s`: not a directory", tree);
	}
	if (tree) {
		_cleanup_free_ char *abs = absolute(tree);
		load_tree(t, abs);
	}
	if (o->symvers)
		read_config(t, o->symvers);
	return 0;
}

void kmi_target_free(struct kmi_target *t)
{
	free(t->vermagic);
	free(t->vermagic_from);
	free(t->arch_from);
	free(t->tree);
	free(t->fw_root);
	kmi_symset_free(&t->syms);
	kmi_strmap_free(&t->tree_mods);
	kmi_arena_free(&t->arena);
}
