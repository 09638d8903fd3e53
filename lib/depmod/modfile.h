/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/strmap.h"

/*
 * What depmod needs from one module file, read the way libkmod reads it
 * (kmod_module_get_symbols, _get_dependency_symbols, _get_info), so that the
 * indexes come out the same.  Input is untrusted: every offset is checked,
 * and anything libkmod would have silently skipped or misread is recorded in
 * `problem` as well.
 */
struct kmi_export {
	const char *name;
	uint64_t crc;
};

struct kmi_import {
	const char *name;
	uint64_t crc;
	bool weak;
	bool versioned; /* crc comes from a __versions record (0 is a valid CRC) */
};

struct kmi_modinfo_kv {
	const char *key;
	const char *value;
};

struct kmi_modfile {
	struct kmi_export *exports;
	struct kmi_import *imports;
	struct kmi_modinfo_kv *info;
	uint32_t n_exports, n_imports, n_info;
	uint16_t machine;
	uint8_t elfclass; /* ELFCLASS32 or ELFCLASS64, 0 if unreadable */
	uint8_t elfdata;  /* ELFDATA2LSB or ELFDATA2MSB */
	const char *problem; /* first reason the file is corrupt, or NULL */
};

enum {
	KMI_MODFILE_ALL_INFO = 1 << 0,   /* keep every .modinfo pair, not only alias/softdep */
	KMI_MODFILE_EXACT_CRCS = 1 << 1, /* match imports to __versions exactly: no repeats */
};

/* A buffer reused from one module to the next. */
struct kmi_scratch {
	void *p;
	size_t cap;
};

void *kmi_scratch(struct kmi_scratch *s, size_t n);

/* Per-thread reusable state of the reader; zero-initialise, then free once. */
struct kmi_modreader {
	struct kmi_scratch sec[16];
	struct kmi_scratch exp, imp, visited;
	/*
	 * Where exports and imports go, if not with the .modinfo strings: depmod
	 * drops them once dependencies are resolved, before writing indexes.
	 */
	struct kmi_arena *sym_arena;
};

void kmi_modreader_free(struct kmi_modreader *r);

/* Upper bound for a decompressed module: larger than any real one. */
#define KMI_MODFILE_MAX_SIZE ((size_t)1 << 30)

/*
 * Reads the module at `path` (.ko, or xz/zstd/gzip by magic bytes).  Strings
 * in `out` live in `arena`.  Returns 0 (check out->problem), or -errno when
 * the file could not be opened or read at all.
 */
int kmi_modfile_read(struct kmi_modreader *r, const char *path, struct kmi_arena *arena, unsigned flags,
		     struct kmi_modfile *out);
/* The same, relative to a directory fd (a walk reading as it goes saves path lookups). */
int kmi_modfile_read_at(struct kmi_modreader *r, int dirfd, const char *path,
			struct kmi_arena *arena, unsigned flags, struct kmi_modfile *out);
/* Parses an uncompressed module image already in memory. */
void kmi_modfile_parse(struct kmi_modreader *r, const void *image, size_t size, struct kmi_arena *arena, unsigned flags,
		       struct kmi_modfile *out);
/* Decompresses if `data` starts with a known magic; *out is then malloc'ed. */
int kmi_modfile_decompress(const void *data, size_t size, void **out, size_t *out_size,
			   const char **why);
/* Whether a file name is a module's as depmod sees it: .ko, .ko.xz, .ko.zst or .ko.gz. */
bool kmi_modfile_name_ok(const char *name);
