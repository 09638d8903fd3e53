// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The per-module checks, in the order the kernel's load_module() makes them:
 * signature, ELF identity, vermagic, then each imported symbol (resolved,
 * same CRC).  Messages use the kernel's own words where it has some, so a
 * finding can be matched with what dmesg says.
 */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/macro.h"
#include "util/xalloc.h"
#include "verify/verify-internal.h"

static const char *machine_name(uint16_t m)
{
	switch (m) {
	case EM_X86_64:
		return "x86-64";
	case EM_386:
		return "i386";
	case EM_AARCH64:
		return "aarch64";
	case EM_ARM:
		return "arm";
	case EM_PPC64:
		return "ppc64";
	case EM_S390:
		return "s390";
	case EM_RISCV:
		return "riscv";
	default:
		return "other";
	}
}

void kmi_check_elf(struct kmi_vctx *c, const struct kmi_vmod *m)
{
	const struct kmi_target *t = &c->t;
	char ev[256];

	if (m->problem) {
		kmi_report_add(c->rep, KMI_SEV_ERROR, "elf", m->name, m->problem,
			       "rebuild the module; a truncated or corrupt file cannot be loaded",
			       "Invalid module format: %s", m->problem);
		return;
	}
	if (!t->arch_known)
		return;
	if (m->mf.elfclass == t->elfclass && m->mf.elfdata == t->elfdata &&
	    m->mf.machine == t->machine)
		return;
	snprintf(ev, sizeof(ev), "module: ELF%d %s-endian %s (%u); kernel: ELF%d %s-endian %s (%u), from %s",
		 m->mf.elfclass == ELFCLASS64 ? 64 : 32, m->mf.elfdata == ELFDATA2MSB ? "big" : "little",
		 machine_name(m->mf.machine), m->mf.machine, t->elfclass == ELFCLASS64 ? 64 : 32,
		 t->elfdata == ELFDATA2MSB ? "big" : "little", machine_name(t->machine), t->machine,
		 t->arch_from);
	/* the kernel's elf_validity_check() words */
	if (m->mf.machine != t->machine)
		kmi_report_add(c->rep, KMI_SEV_ERROR, "elf", m->name, ev,
			       "build the module for the target's architecture (ARCH=, CROSS_COMPILE=)",
			       "Invalid architecture in ELF header: %u", m->mf.machine);
	else
		kmi_report_add(c->rep, KMI_SEV_ERROR, "elf", m->name, ev,
			       "build the module for the target's architecture (ARCH=, CROSS_COMPILE=)",
			       "Invalid module format: ELF class or byte order is not the kernel's");
}

/* Would the kernel refuse m's vermagic?  From a .config only the flag words are known. */
static bool vermagic_refused(const struct kmi_target *t, const struct kmi_vmod *m, unsigned diff)
{
	if (t->vermagic_exact)
		return !kmi_vermagic_accepts(m->vermagic, t->vermagic, m->has_versions);
	return (diff & ~(unsigned)KMI_VM_RELEASE) || ((diff & KMI_VM_RELEASE) && !m->has_versions);
}

void kmi_check_vermagic(struct kmi_vctx *c, const struct kmi_vmod *m)
{
	const struct kmi_target *t = &c->t;
	struct kmi_vermagic mv, tv;
	char words[128], ev[700];
	unsigned diff;
	_cleanup_free_ char *fix = NULL;

	if (t->vermagic == NULL || m->problem)
		return;
	fix = xasprintf("rebuild the module against linux-headers-%s (the kernel's own build tree)",
			t->kver);
	if (m->vermagic == NULL || kmi_vermagic_parse(m->vermagic, &mv) < 0) {
		kmi_report_add(c->rep, KMI_SEV_ERROR, "vermagic", m->name, "no vermagic in .modinfo",
			       fix, "no usable version magic: the kernel refuses it (\"bad vermagic\")");
		return;
	}
	if (kmi_vermagic_parse(t->vermagic, &tv) < 0)
		return;
	diff = kmi_vermagic_diff(&mv, &tv);
	if (!t->vermagic_exact)
		diff &= ~(unsigned)KMI_VM_OTHER; /* a .config does not tell the arch words */
	snprintf(ev, sizeof(ev), "module: '%s'; kernel: '%s' (from %s)", m->vermagic, t->vermagic,
		 t->vermagic_from);
	if (vermagic_refused(t, m, diff)) {
		kmi_vermagic_describe(diff, words, sizeof(words));
		kmi_report_add(c->rep, KMI_SEV_ERROR, "vermagic", m->name, ev, fix,
			       "version magic '%s' should be '%s' (differs in: %s)", m->vermagic,
			       t->vermagic, words[0] ? words : "spacing");
	} else if (diff & KMI_VM_RELEASE) {
		kmi_report_add(c->rep, KMI_SEV_WARNING, "vermagic", m->name, ev, fix,
			       "built for release %s, not %s: loads only because modversions "
			       "checks symbol CRCs instead (see the modversions findings)",
			       mv.release, tv.release);
	}
}

/* The record of `name` in the module's __versions, or NULL. */
static const struct kmi_import *find_import(const struct kmi_vmod *m, const char *name)
{
	for (uint32_t i = 0; i < m->mf.n_imports; i++)
		if (m->mf.imports[i].versioned && streq(m->mf.imports[i].name, name))
			return &m->mf.imports[i];
	return NULL;
}

static bool has_link(const struct kmi_vctx *c)
{
	return c->host_target != NULL;
}

/* Does the target check CRCs?  For an unknown target: as the module was built. */
static bool target_modversions(const struct kmi_vctx *c)
{
	struct kmi_vermagic v;

	if (c->t.vermagic && kmi_vermagic_parse(c->t.vermagic, &v) == 0)
		return v.modversions;
	return c->t.have_syms ? c->t.modversions : true;
}

static void check_crc(struct kmi_vctx *c, const struct kmi_vmod *m, const struct kmi_import *im,
		      const struct kmi_ksym *k, const char *provider, const char *from)
{
	const struct kmi_import *rec;
	char ev[512];
	_cleanup_free_ char *fix = NULL;

	if (!k->has_crc || !m->has_versions || !target_modversions(c))
		return;
	rec = im->versioned ? im : find_import(m, im->name);
	if (rec == NULL || (uint32_t)rec->crc == k->crc)
		return;
	snprintf(ev, sizeof(ev), "module's __versions: 0x%08x; %s exports 0x%08x (%s)%s",
		 (uint32_t)rec->crc, provider, k->crc, from,
		 streq(im->name, "module_layout")
			 ? "; struct module differs: built for another kernel (checked first)"
			 : "");
	fix = k->owner && kmi_strmap_get(&c->by_name, k->owner)
		      ? xasprintf("rebuild %s and %s together (KBUILD_EXTRA_SYMBOLS=<%s's "
				  "Module.symvers>) against linux-headers-%s",
				  m->name, k->owner, k->owner, c->t.kver)
		      : xasprintf("rebuild the module against linux-headers-%s", c->t.kver);
	kmi_report_add(c->rep, KMI_SEV_ERROR, "modversions", m->name, ev, fix,
		       "disagrees about version of symbol %s", im->name);
}

/* The kernel's verify_namespace_is_imported(): a namespaced export needs import_ns=. */
static void check_namespace(struct kmi_vctx *c, const struct kmi_vmod *m, const struct kmi_ksym *k)
{
	_cleanup_free_ char *fix = NULL, *ev = NULL;

	if (k->ns == NULL)
		return;
	for (uint32_t i = 0; i < m->mf.n_info; i++)
		if (streq(m->mf.info[i].key, "import_ns") && streq(m->mf.info[i].value, k->ns))
			return;
	ev = xasprintf("Module.symvers exports %s in namespace %s; the module's .modinfo has no "
		       "import_ns=%s", k->name, k->ns, k->ns);
	fix = xasprintf("add MODULE_IMPORT_NS(%s); to the module's source and rebuild", k->ns);
	kmi_report_add(c->rep, KMI_SEV_ERROR, "namespace", m->name, ev, fix,
		       "module uses symbol (%s) from namespace %s, but does not import it.", k->name,
		       k->ns);
}

/* Checks one import; returns the target tree's module it needs through the link, or NULL. */
static const char *check_import(struct kmi_vctx *c, const struct kmi_vmod *m,
				const struct kmi_import *im)
{
	const struct kmi_ksym *k = kmi_symset_get(&c->t.syms, im->name);
	const struct kmi_ksym *own = kmi_symset_get(&c->exports, im->name);
	_cleanup_free_ char *ev = NULL, *fix = NULL, *deps = NULL;

	if (k != NULL && k->owner == NULL) {
		check_crc(c, m, im, k, "the kernel",
			  c->o->symvers ? "Module.symvers" : "inferred from the tree's modules");
		check_namespace(c, m, k);
		return NULL;
	}
	/* __versions records that name no undefined symbol: only module_layout */
	if (streq(im->name, "module_layout"))
		return NULL;
	if (own != NULL) {
		if (!streq(own->owner, m->name))
			check_crc(c, m, im, own, own->owner, "in the image");
		return NULL;
	}
	if (k != NULL) {
		check_crc(c, m, im, k, k->owner, "the target's module");
		check_namespace(c, m, k);
		return has_link(c) ? NULL : k->owner;
	}
	if (im->weak || !c->t.have_syms)
		return NULL;
	deps = m->depends && *m->depends ? xasprintf("; modinfo depends: %s", m->depends) : NULL;
	ev = xasprintf("exported neither by the kernel (%s) nor by a module in the image%s%s",
		       c->t.kernel_complete ? "Module.symvers"
					    : "no Module.symvers: vmlinux known only from the tree",
		       c->t.have_tree ? " or the target tree" : "", deps ? deps : "");
	fix = xasprintf("add the module that exports %s to the image, or build against a kernel "
			"that exports it", im->name);
	kmi_report_add(c->rep, c->t.kernel_complete ? KMI_SEV_ERROR : KMI_SEV_WARNING, "symbols",
		       m->name, ev, fix, "Unknown symbol %s", im->name);
	return NULL;
}

/* One finding per in-tree module needed without a link, naming the symbols. */
struct link_need {
	const char *owner;
	struct kmi_buf syms;
};

static void need_link(struct link_need *needs, size_t *n, size_t max, const char *owner,
		      const char *sym)
{
	size_t i;

	for (i = 0; i < *n && !streq(needs[i].owner, owner); i++)
		;
	if (i == *n) {
		if (*n == max)
			return;
		needs[(*n)++] = (struct link_need){ .owner = owner };
	}
	kmi_buf_printf(&needs[i].syms, "%sUnknown symbol %s", needs[i].syms.len ? "; " : "", sym);
}

/* The kernel's verify_exported_symbols(): vmlinux's symbols cannot be exported again. */
static void check_exports(struct kmi_vctx *c, const struct kmi_vmod *m)
{
	for (uint32_t i = 0; i < m->mf.n_exports; i++) {
		const struct kmi_ksym *k = kmi_symset_get(&c->t.syms, m->mf.exports[i].name);
		if (k == NULL || k->owner != NULL || !c->t.kernel_complete)
			continue;
		kmi_report_add(c->rep, KMI_SEV_ERROR, "symbols", m->name,
			       "Module.symvers lists it as vmlinux's",
			       "rename the module's symbol, or drop the export the kernel already has",
			       "exports duplicate symbol %s (owned by kernel)", m->mf.exports[i].name);
	}
}

void kmi_check_symbols(struct kmi_vctx *c, const struct kmi_vmod *m)
{
	struct link_need needs[32];
	size_t n = 0;

	if (m->problem)
		return;
	check_exports(c, m);
	for (uint32_t i = 0; i < m->mf.n_imports; i++) {
		const char *owner = check_import(c, m, &m->mf.imports[i]);
		if (owner)
			need_link(needs, &n, ARRAY_SIZE(needs), owner, m->mf.imports[i].name);
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *ev = NULL;
		kmi_buf_putc(&needs[i].syms, '\0');
		ev = xasprintf("the kernel would say: %s (exported by the target's module %s, which "
			       "modprobe cannot reach from the image without the link)",
			       needs[i].syms.data, needs[i].owner);
		kmi_report_add(c->rep, KMI_SEV_ERROR, "host-link", m->name, ev,
			       "build with --in-tree-link host, so modules.dep reaches the target's "
			       "modules through <dir-name>/lib/modules/<kver>/host",
			       "needs in-tree module %s, but the image has no host link",
			       needs[i].owner);
		kmi_buf_free(&needs[i].syms);
	}
}
