/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "depmod/config.h"
#include "depmod/modfile.h"
#include "kmodimg/depmod.h"
#include "util/buf.h"
#include "util/strmap.h"

struct mod {
	char *path;          /* as found: <dirname>/<relpath>, or absolute for externals */
	const char *relpath; /* inside path, NULL outside the module directory */
	char *uncrelpath;    /* relpath with its name cut to "<modname>.ko", for modules.order */
	char *modname;
	size_t baselen;      /* offset of the last '/' in path */
	size_t modnamesz;    /* strlen(modname) + 1 */
	int sort_idx;
	uint32_t idx;        /* position in modules.dep: the index priority */
	uint32_t dep_sort_idx;
	uint32_t users;
	uint32_t stamp;      /* scratch for walks over the dependency graph */
	uint32_t bucket;     /* kmod's module hash bucket */
	struct mod **deps;
	uint32_t n_deps, cap_deps;
	struct kmi_modfile file;
	int read_err;
	char *log; /* messages from the parallel resolve, printed in order */
};

struct symbol {
	const char *name;
	uint64_t crc;
	struct mod *owner; /* NULL for the kernel's own symbols */
};

struct dir_id {
	dev_t dev;
	ino_t ino;
};

struct depmod {
	const struct kmodimg_depmod_opts *o;
	struct kmi_depmod_cfg cfg;
	char *dirname; /* <basedir>/lib/modules/<kver> */
	size_t dirnamelen;
	char *outdirname;
	struct mod **mods; /* during the walk: every module added, NULL where replaced */
	size_t n_mods, cap_mods;
	struct kmi_strmap by_name;
	struct kmi_strmap by_uncrelpath;
	struct kmi_strmap symbols;
	struct kmi_arena arena;
	struct kmi_arena *thread_arenas;     /* .modinfo strings, per reader thread */
	struct kmi_arena *sym_arenas;        /* exports and imports, dropped after resolving */
	size_t n_thread_arenas;
	unsigned strict_errors; /* what kmod would let pass but we do not */
};

/* walk.c */
struct mod *depmod_search_file(struct depmod *dm, const char *path, size_t baselen,
			       size_t namelen);
int depmod_add_path(struct depmod *dm, const char *path);
bool depmod_ext_ok(const char *name, size_t len);
int depmod_up_to_date(struct depmod *dm);

/* scan.c: walk the tree(s) and read the modules found, in parallel */
int depmod_scan(struct depmod *dm);

/* load.c */
unsigned depmod_threads(const struct depmod *dm);
int depmod_order(struct depmod *dm);
int depmod_load(struct depmod *dm);
void depmod_symbol_add(struct depmod *dm, const char *name, bool prefix_skipped, uint64_t crc,
		       struct mod *owner);
int depmod_load_kernel_symbols(struct depmod *dm);
int depmod_resolve(struct depmod *dm);

/* output.c */
int depmod_output(struct depmod *dm);

const char *modname_normalize(const char *name, char *buf, size_t bufsz, size_t *len);
