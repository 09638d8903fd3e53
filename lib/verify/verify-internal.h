/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "depmod/modfile.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/strmap.h"
#include "verify/verify.h"

/* ---- symvers.c: exported symbols with their CRCs and owners */

struct kmi_ksym {
	const char *name;
	const char *owner; /* module name, or NULL for vmlinux */
	const char *ns;    /* symbol namespace (EXPORT_SYMBOL_NS), or NULL */
	uint32_t crc;
	bool has_crc;      /* false: unknown (no modversions, or sources disagree) */
};

struct kmi_symset {
	struct kmi_strmap map; /* name -> struct kmi_ksym */
	struct kmi_arena arena;
	size_t n_vmlinux, n_modules;
};

void kmi_symset_init(struct kmi_symset *s, size_t expected);
void kmi_symset_free(struct kmi_symset *s);
/* Adds name unless present; returns the entry (new or old) and sets *added. */
struct kmi_ksym *kmi_symset_add(struct kmi_symset *s, const char *name, const char *owner,
				uint32_t crc, bool has_crc, bool *added);
static inline const struct kmi_ksym *kmi_symset_get(const struct kmi_symset *s, const char *name)
{
	return kmi_strmap_get(&s->map, name);
}
/*
 * Module.symvers lines: "0xCRC\tsymbol\tmodule\texport-type[\tnamespace]",
 * module "vmlinux" or a path ("drivers/net/foo").  `what` names the file in
 * errors ("Module.symvers:12: ...").  Returns 0, or a negative value with
 * *err set (KMI_EFORMAT).
 */
int kmi_symvers_parse(struct kmi_symset *s, const char *data, size_t len, const char *what,
		      struct kmi_error **err);

/* ---- vermagic.c */

enum {
	KMI_VM_RELEASE = 1 << 0,
	KMI_VM_SMP = 1 << 1,
	KMI_VM_PREEMPT = 1 << 2,
	KMI_VM_MOD_UNLOAD = 1 << 3,
	KMI_VM_MODVERSIONS = 1 << 4,
	KMI_VM_OTHER = 1 << 5, /* arch words, RANDSTRUCT seeds, order */
};

struct kmi_vermagic {
	char buf[256];
	const char *release;
	const char *preempt; /* "preempt", "preempt_rt" or "" */
	bool smp, mod_unload, modversions;
	const char *other[16];
	size_t n_other;
};

/* Splits a vermagic string; -EINVAL if empty or too long. */
int kmi_vermagic_parse(const char *s, struct kmi_vermagic *v);
/* The KMI_VM_* words in which a and b differ. */
unsigned kmi_vermagic_diff(const struct kmi_vermagic *a, const struct kmi_vermagic *b);
/*
 * The kernel's same_magic(): with __versions in the module only what
 * follows the release is compared.  True if the kernel accepts it.
 */
bool kmi_vermagic_accepts(const char *modmagic, const char *kernelmagic, bool has_versions);
/* "SMP, preempt model": the words of mask, for messages. */
void kmi_vermagic_describe(unsigned mask, char *buf, size_t size);
/*
 * The vermagic a kernel built from this .config would have (release from
 * kver): "<kver> SMP preempt mod_unload modversions ".  Only the words from
 * include/linux/vermagic.h the config decides; arch words are not known.
 */
char *kmi_vermagic_from_config(const char *config, size_t len, const char *kver);

/* ---- signature.c: the appended module signature */

#define KMI_MODSIG_MAGIC "~Module signature appended~\n"

struct kmi_modsig {
	bool present;
	size_t content_len; /* bytes the signature covers */
	size_t sig_off, sig_len;
	uint8_t algo, hash, id_type, signer_len, key_id_len;
	const char *problem; /* why the kernel would reject the trailer, or NULL */
	int kernel_err;      /* what mod_check_sig() returns for it: -EBADMSG (fatal), -ENOPKG */
};

/*
 * Returns 0 unsigned, 1 signed, -EBADMSG for a trailer the kernel refuses
 * (see problem, and kernel_err: -ENOPKG, not PKCS#7, only taints).
 */
int kmi_modsig_parse(const unsigned char *data, size_t len, struct kmi_modsig *out);
/* modinfo's signer, sig_key and sig_hashalgo from the PKCS#7 blob; -EBADMSG if unreadable. */
int kmi_modsig_pkcs7_info(const unsigned char *sig, size_t len, struct kmi_sig_summary *out);
/* Loads an X.509 certificate, PEM or DER; an opaque X509 * in *cert. */
int kmi_modsig_load_cert(const char *path, void **cert, struct kmi_error **err);
void kmi_modsig_free_cert(void *cert);
/*
 * 1 if the PKCS#7 signature over data[0, content_len) verifies with cert,
 * 0 if it does not (*why says how), -ENOKEY if cert is not the signer.
 */
int kmi_modsig_verify(const unsigned char *data, const struct kmi_modsig *s, void *cert,
		      char *why, size_t whysize);

/* ---- module.c: one module, read whole */

struct kmi_vmod {
	char *name;    /* modname: '-' as '_', no suffix */
	char *relpath; /* below the module directory */
	bool read;     /* the bytes could be read (and decompressed) */
	struct kmi_modfile mf;
	const char *vermagic, *depends; /* .modinfo, or NULL */
	bool has_versions;              /* a __versions section */
	struct kmi_modsig sig;
	int sig_info;                   /* 0, or -EBADMSG: the PKCS#7 blob does not parse */
	struct kmi_sig_summary sigsum;  /* owned until handed to the report */
	int sig_verify;                 /* kmi_modsig_verify()'s answer, -1 without a cert */
	char sig_why[160];
	const char *problem;            /* unreadable as a module: why */
};

/*
 * Reads path whole (decompressing), with every .modinfo key and exact CRCs,
 * and checks its signature (with cert, if not NULL) while the bytes are at
 * hand: they are not kept, so an image of many modules costs one at a time.
 */
int kmi_vmod_load(struct kmi_vmod *m, const char *path, const char *relpath,
		  struct kmi_modreader *r, struct kmi_arena *arena, void *cert);
void kmi_vmod_free(struct kmi_vmod *m);
/* Module name from a file name: basename, up to the first '.', '-' as '_'. */
char *kmi_modname_of(const char *path);

/* ---- target.c: what the target kernel offers */

struct kmi_target {
	const char *kver;
	char *vermagic;          /* NULL if unknown */
	char *vermagic_from;     /* where it was read */
	bool vermagic_exact;     /* from a real module, not a .config */
	bool arch_known;
	uint16_t machine;
	uint8_t elfclass, elfdata;
	char *arch_from;
	struct kmi_symset syms;  /* vmlinux (owner NULL) and tree modules */
	bool kernel_complete;    /* from Module.symvers: every vmlinux export is known */
	bool have_syms;
	bool modversions;        /* CRCs are checked by this kernel */
	struct kmi_strmap tree_mods; /* modname -> relpath (arena) in the tree */
	bool have_tree;
	struct kmi_arena arena;
	char *tree;              /* <root>/lib/modules/<kver>, or NULL */
	char *fw_root;           /* <root>/lib/firmware of the tree, or NULL */
};

int kmi_target_load(struct kmi_target *t, const struct kmi_verify_opts *o, struct kmi_error **err);
/*
 * Only the tree, for the checks of the image alone: o->kernel_tree (made
 * absolute) is where the in-tree link leads; nothing is read from it, and
 * have_tree says only that it is a directory.
 */
void kmi_target_set_tree(struct kmi_target *t, const struct kmi_verify_opts *o);
void kmi_target_free(struct kmi_target *t);

/* ---- checks (verify.c, checks.c) */

struct kmi_vctx {
	const struct kmi_verify_opts *o;
	struct kmi_report *rep;
	struct kmi_target t;
	char *moddir;            /* <root><dir-name>/lib/modules/<kver> */
	struct kmi_vmod *mods;
	size_t n_mods, cap_mods;
	struct kmi_symset exports; /* the image's own modules */
	struct kmi_strmap by_name; /* modname -> struct kmi_vmod */
	void *cert;              /* --cert's X509, or NULL */
	char *link_name;         /* the in-tree link ("host"), or NULL */
	char *host_target;       /* where it points, or NULL */
	struct kmi_modreader reader;
	struct kmi_arena arena;
	const char *depmod_fix;  /* the fix for missing or stale depmod output, or NULL */
};

/* The module directory and its modules (c->mods), other kernels, the in-tree link (c->link_name). */
void kmi_check_layout(struct kmi_vctx *c);
void kmi_check_depmod(struct kmi_vctx *c);
void kmi_check_elf(struct kmi_vctx *c, const struct kmi_vmod *m);
void kmi_check_vermagic(struct kmi_vctx *c, const struct kmi_vmod *m);
void kmi_check_symbols(struct kmi_vctx *c, const struct kmi_vmod *m);
/* Reports m's signature findings; hands its summary over to *sum. */
void kmi_check_signature(struct kmi_vctx *c, struct kmi_vmod *m, struct kmi_sig_summary *sum);
void kmi_check_firmware(struct kmi_vctx *c, const struct kmi_vmod *m);
