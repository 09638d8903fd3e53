/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

/*
 * kmodimg verify: would the kernel described by a module tree and/or a
 * Module.symvers load the modules of an extracted image?  Every problem is
 * a finding naming the check, the module, the evidence and the fix.
 */
enum kmi_severity {
	KMI_SEV_INFO = 0,  /* something not checked, or worth knowing */
	KMI_SEV_WARNING,   /* loads, but taints, or might fail elsewhere */
	KMI_SEV_ERROR,     /* the kernel (or modprobe) would refuse it */
};

struct kmi_finding {
	enum kmi_severity sev;
	const char *check; /* "layout", "depmod", "elf", "vermagic", "modversions", ... */
	char *module;      /* module name, or NULL for the image as a whole */
	char *message;
	char *evidence;    /* or NULL */
	char *fix;         /* or NULL */
};

struct kmi_sig_summary {
	bool is_signed;
	const char *id_type;    /* "PKCS#7", ... */
	char *signer;           /* issuer CN, as modinfo's signer */
	char *key_id;           /* "AB:CD:...", as modinfo's sig_key */
	char *hash_algo;        /* "sha256", as modinfo's sig_hashalgo */
	int verified;           /* 1 verifies with --cert, 0 does not, -1 not checked */
};

struct kmi_module_summary {
	char *name;
	char *path;     /* relative to the module directory */
	char *vermagic; /* or NULL */
	struct kmi_sig_summary sig;
};

struct kmi_report {
	char *image;
	char *kver;
	char *moddir; /* "<dir-name>/lib/modules/<kver>" inside the image */
	char *target_vermagic;
	struct kmi_finding *f;
	size_t n, cap;
	struct kmi_module_summary *mods;
	size_t n_mods, cap_mods;
};

void kmi_report_add(struct kmi_report *r, enum kmi_severity sev, const char *check,
		    const char *module, const char *evidence, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
/* A copy with control and non-ASCII bytes as '?': module data is hostile. */
char *kmi_report_strdup(const char *s);
size_t kmi_report_count(const struct kmi_report *r, enum kmi_severity sev);
void kmi_report_free(struct kmi_report *r);
/* Human-readable, one finding per paragraph. */
void kmi_report_print_text(const struct kmi_report *r, FILE *f);
/* JSON (kmodimg-verify(1) documents the schema): returns 0 or -errno. */
int kmi_report_print_json(const struct kmi_report *r, FILE *f);

struct kmi_verify_opts {
	const char *kver;        /* required */
	const char *root;        /* the extracted image */
	const char *dir_name;    /* module root inside the image, "/opt" by default */
	const char *kernel_tree; /* the target's lib/modules/<kver>, or NULL */
	const char *symvers;     /* the target's Module.symvers, or NULL */
	const char *cert;        /* X.509 certificate (PEM or DER) to verify signatures with */
	const char *scratch;     /* where temp files go (the caller removes it), or NULL: $TMPDIR */
	bool require_signature;
};

/*
 * Runs every check into rep.  Returns 0 (the verdict is in rep: any
 * KMI_SEV_ERROR means a load would fail), or a negative value with *err set
 * when the target could not be read (a usage or access error).
 */
int kmi_verify(const struct kmi_verify_opts *o, struct kmi_report *rep, struct kmi_error **err);
