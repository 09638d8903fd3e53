/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * KMM's Module resource (kmm.sigs.x-k8s.io/v1beta1) as KMM reads it: parsing
 * with CRD defaults, the admission webhook's rules, kernel mapping selection,
 * substitution, and the per-kernel plan that build, sign and load act on.
 * The reference is /work/shared/reference/kmm-contract.md (sections cited as §).
 *
 *	struct kmm_set set;  kmm_set_init(&set);
 *	kmm_load_file(&set, path, &diags);        // every document of every file
 *	kmm_validate(&set, &diags);               // webhook rules, all errors
 *	kmm_plan(set.modules[0], "6.1.0-18-amd64", &plan, &diags);
 *
 * Strings and arrays live in the set's (or plan's) arena and die with it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Where a value came from, for messages "file:line:col". */
struct kmm_pos {
	const char *file;
	int line, col;
};

/* A string list; `set` tells a present-but-empty list from an absent one (Go's nil). */
struct kmm_strv {
	char **v;
	size_t n;
	bool set;
};

struct kmm_kv {
	char *key, *value;
};

struct kmm_map {
	struct kmm_kv *kv;
	size_t n;
};

struct kmm_tls {
	bool insecure;
	bool skip_verify; /* insecureSkipTLSVerify */
};

struct kmm_buildarg {
	char *name, *value;
};

struct kmm_build {
	struct kmm_buildarg *args;
	size_t nargs;
	char *dockerfile_cm; /* dockerfileConfigMap.name; NULL if absent */
	struct kmm_tls base_tls;
	struct kmm_strv secrets;
	char *kaniko_tag;    /* kanikoParams.tag */
	struct kmm_map selector;
	struct kmm_pos pos;
};

struct kmm_sign {
	char *unsigned_image;
	struct kmm_tls unsigned_tls;
	char *key_secret, *cert_secret; /* NULL when absent */
	struct kmm_strv files;
	struct kmm_pos pos, files_pos;
};

struct kmm_mapping {
	char *literal, *regexp, *image; /* "" when absent */
	struct kmm_build *build;
	struct kmm_sign *sign;
	struct kmm_tls *tls;            /* NULL when absent */
	char *intree_one;               /* deprecated inTreeModuleToRemove, "" if absent */
	struct kmm_strv intree;
	struct kmm_pos pos, regexp_pos, image_pos;
};

struct kmm_modprobe {
	char *module_name;     /* "" when absent */
	struct kmm_strv params;
	char *dir_name;        /* CRD default "/opt" */
	struct kmm_strv args_load, args_unload;
	bool has_args;
	struct kmm_strv raw_load, raw_unload;
	bool has_raw;
	char *firmware_path;   /* "" when absent */
	struct kmm_strv order; /* modulesLoadingOrder */
	struct kmm_pos pos, order_pos;
};

struct kmm_toleration {
	char *key, *op, *value, *effect;
	bool has_seconds;
	int64_t seconds;
	struct kmm_pos pos;
};

struct kmm_module {
	char *name, *ns;
	struct kmm_pos pos, name_pos;
	struct kmm_map selector;
	struct kmm_toleration *tols;
	size_t ntols;
	char *image_repo_secret; /* NULL when absent */
	bool has_loader;         /* spec.moduleLoader present */
	char *service_account;   /* "" when absent */
	/* spec.moduleLoader.container */
	struct kmm_modprobe modprobe;
	struct kmm_mapping *maps;
	size_t nmaps;
	char *image;             /* container-level containerImage, "" if absent */
	char *pull_policy;       /* imagePullPolicy, "" if absent */
	struct kmm_build *build;
	struct kmm_sign *sign;
	struct kmm_tls tls;      /* registryTLS (a value in KMM, not a pointer) */
	char *version;
	char *intree_one;
	struct kmm_strv intree;
	struct kmm_pos container_pos, image_pos, intree_pos;
	bool has_rebuild_gen;
	int64_t rebuild_gen;
};

/* A ConfigMap or Secret found beside the Modules. */
struct kmm_object {
	char *kind, *name, *ns;
	struct kmm_map data; /* ConfigMap data, or Secret data/stringData (data left base64) */
	struct kmm_pos pos;
};

/* Messages collected while reading, validating and planning. */
struct kmm_diags {
	char **msgs; /* "file:line:col: error: text" */
	size_t n;
	size_t nerrors, nwarnings;
};

void kmm_diags_free(struct kmm_diags *d);
void kmm_error_at(struct kmm_diags *d, const struct kmm_pos *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void kmm_warn_at(struct kmm_diags *d, const struct kmm_pos *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct kmm_set {
	struct kmi_arena arena;
	struct kmm_module **modules;
	size_t nmodules;
	struct kmm_object **objects;
	size_t nobjects;
	char **files; /* the paths, kept for kmm_pos.file */
	size_t nfiles;
};

void kmm_set_init(struct kmm_set *s);
void kmm_set_free(struct kmm_set *s);
/*
 * Reads every document of a YAML or JSON file (path "-" is stdin).  Returns 0,
 * or -errno when the file cannot be read (then a message is in diags too).
 * Malformed content is reported in diags; the caller checks diags->nerrors.
 */
int kmm_load_file(struct kmm_set *s, const char *path, struct kmm_diags *d);
/* The same for a buffer; `name` is used in messages. */
void kmm_load_buffer(struct kmm_set *s, const char *name, const char *data, size_t len,
		     struct kmm_diags *d);
const struct kmm_object *kmm_set_find(const struct kmm_set *s, const char *kind, const char *ns,
				      const char *name);

/* The webhook's rules (§1.5), every error collected. */
void kmm_validate_module(const struct kmm_module *m, struct kmm_diags *d);
void kmm_validate(const struct kmm_set *s, struct kmm_diags *d);
/* Warnings for settings that are surely mistakes (§9). */
void kmm_lint_module(const struct kmm_module *m, struct kmm_diags *d);

/* Kernel strings (§1.8, internal/kernel): */
/* "+"-trimmed, as the controller reads node.status.nodeInfo.kernelVersion. */
char *kmm_kernel_trim(const char *kver);
/* Every byte outside [A-Za-z0-9._-] becomes '_'. */
char *kmm_kernel_normalize(const char *kver);
/* Normalised, lower-cased, '_' and '.' to '-', '-' trimmed: for object names. */
char *kmm_kernel_dns(const char *kver);

/* Regular expressions with Go's RE2 syntax and semantics (§1.6). */
struct kmm_regex;
/* NULL with a message in errbuf if RE2 would reject the pattern. */
struct kmm_regex *kmm_regex_compile(const char *pattern, char *errbuf, size_t errlen);
/* 1 match, 0 no match, -1 error (message in errbuf). Unanchored, as MatchString. */
int kmm_regex_match(const struct kmm_regex *re, const char *subject, char *errbuf, size_t errlen);
void kmm_regex_free(struct kmm_regex *re);

/*
 * Finds the mapping for a "+"-trimmed kernel: list order, first match wins.
 * Returns the index, -1 for no match, -2 on an invalid regexp (message in errbuf).
 */
int kmm_find_mapping(const struct kmm_module *m, const char *kernel, char *errbuf, size_t errlen);

/* a8m/envsubst over a list of NAME=VALUE pairs; NULL with errbuf on syntax errors. */
struct kmm_env {
	const char *name[8];
	const char *value[8];
	size_t n;
};
char *kmm_envsubst(const char *tmpl, const struct kmm_env *env, char *errbuf, size_t errlen);
/* KERNEL_FULL_VERSION..KERNEL_Z for an already-normalised kernel; -1 if < 3 components. */
int kmm_kernel_env(const char *normalized, struct kmm_env *env, struct kmi_arena *a);

/* What KMM would do for one module on one kernel (§1.6-§1.8, §2.3). */
struct kmm_plan {
	struct kmi_arena arena;
	const struct kmm_module *module;
	char *kernel;      /* as given */
	char *kernel_trim; /* "+"-trimmed: literal match, build args, init script */
	char *kernel_norm;
	char *kernel_dns;
	bool targeted;
	int mapping;       /* index, -1 if not targeted */
	char *image;       /* substituted containerImage */
	struct kmm_build *build; /* merged; args are the effective --build-arg list */
	struct kmm_sign *sign;   /* merged and substituted */
	struct kmm_tls tls;
	struct kmm_strv intree;
	struct kmm_diags notes;  /* warnings specific to this kernel */
};

/* 0 (targeted or not: see plan->targeted), or -1 with an error in diags. */
int kmm_plan(const struct kmm_module *m, const char *kernel, struct kmm_plan *p,
	     struct kmm_diags *d);
void kmm_plan_free(struct kmm_plan *p);
