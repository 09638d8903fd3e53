/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * kmodimg_depmod(): compute the module dependency and alias indexes of one
 * kernel's module directory, byte for byte as kmod 30's depmod writes them.
 */
enum kmodimg_index_order {
	KMODIMG_INDEX_POST = 0, /* kmod <= 33 node order (Debian 12) */
	KMODIMG_INDEX_PRE = 1,  /* kmod >= 34 node order */
};

struct kmodimg_depmod_opts {
	const char *kver;      /* kernel release, required */
	const char *basedir;   /* root of lib/modules/<kver>; NULL for / */
	const char *outdir;    /* root of the output lib/modules/<kver>; NULL: basedir */
	const char *const *config_paths; /* depmod.d files or dirs; NULL: the host's */
	const char *symvers;   /* Module.symvers: kernel symbols with CRCs (-E) */
	const char *system_map; /* System.map: kernel symbols (-F), ignored with symvers */
	const char *const *modules; /* explicit absolute module paths; NULL: walk the tree */
	char symbol_prefix;    /* -P */
	bool errsyms;          /* -e: warn about unknown symbols and CRC mismatches */
	bool dry_run;          /* -n: text outputs to stdout, nothing written */
	bool quick;            /* -A: do nothing if modules.dep is newer than every module */
	bool warn_dups;        /* -w */
	bool verbose;          /* -v: print which symbol makes each dependency */
	bool keep_going;       /* report corrupt modules and bad links as warnings */
	enum kmodimg_index_order order;
	int threads;           /* 0: one per online CPU */
	/*
	 * If set, receives each output file (name such as "modules.dep", its
	 * bytes) instead of the output directory, one call at a time; returns 0
	 * or -errno.  Not used with dry_run.
	 */
	int (*output)(void *ctx, const char *name, const void *data, size_t len);
	void *output_ctx;
};

/* Returns 0 on success, 1 when something was wrong (all of it reported on stderr). */
int kmodimg_depmod(const struct kmodimg_depmod_opts *opts);

#ifdef __cplusplus
}
#endif
