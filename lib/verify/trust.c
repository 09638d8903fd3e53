// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Signature and firmware checks.  The kernel (6.1 module_sig_check) treats
 * a malformed trailer or a signature that fails to verify as fatal even
 * without enforcement; an unsigned module, or one signed by a key it does
 * not hold, only taints it unless module.sig_enforce is set.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util/macro.h"
#include "util/xalloc.h"
#include "verify/verify-internal.h"

static void report_unsigned(struct kmi_vctx *c, const struct kmi_vmod *m)
{
	if (c->o->require_signature)
		kmi_report_add(c->rep, KMI_SEV_ERROR, "signature", m->name,
			       "no \"~Module signature appended~\" trailer",
			       "sign it with the kernel's sign-file and a key the node trusts",
			       "unsigned module, and --require-signature is set (a kernel with "
			       "module.sig_enforce=1 refuses it: \"Key was rejected by service\")");
}

static void check_signed(struct kmi_vctx *c, const struct kmi_vmod *m, struct kmi_sig_summary *sum)
{
	const struct kmi_modsig *s = &m->sig;

	if (s->problem) {
		/* ENOPKG is "module with unsupported crypto": a taint, unless enforced */
		bool fatal = s->kernel_err != -ENOPKG || c->o->require_signature;
		kmi_report_add(c->rep, fatal ? KMI_SEV_ERROR : KMI_SEV_WARNING, "signature", m->name,
			       s->problem,
			       "strip the trailer (strip -g, or rebuild) and sign again with sign-file",
			       "malformed signature: %s", s->problem);
		return;
	}
	if (m->sig_info < 0) {
		kmi_report_add(c->rep, KMI_SEV_ERROR, "signature", m->name,
			       "the PKCS#7 message does not parse",
			       "sign it again with the kernel's sign-file",
			       "malformed signature: the kernel rejects it (EBADMSG)");
		return;
	}
	if (c->cert == NULL)
		return;
	if (m->sig_verify == -ENOKEY) {
		kmi_report_add(c->rep, c->o->require_signature ? KMI_SEV_ERROR : KMI_SEV_WARNING,
			       "signature", m->name, sum->key_id,
			       "sign it with the key of the --cert certificate",
			       "signed by another key than --cert's (signer \"%s\"): a kernel that "
			       "only trusts that certificate taints it, or refuses it with enforcement",
			       sum->signer ? sum->signer : "?");
		return;
	}
	sum->verified = m->sig_verify;
	if (m->sig_verify == 0)
		kmi_report_add(c->rep, KMI_SEV_ERROR, "signature", m->name, m->sig_why,
			       "the module was changed after signing: sign it again (after any strip)",
			       "signature does not verify over the content: the kernel refuses it "
			       "(\"Key was rejected by service\")");
}

void kmi_check_signature(struct kmi_vctx *c, struct kmi_vmod *m, struct kmi_sig_summary *sum)
{
	*sum = m->sigsum;
	memset(&m->sigsum, 0, sizeof(m->sigsum));
	sum->verified = -1;
	if (!m->read)
		return;
	if (!m->sig.present) {
		report_unsigned(c, m);
		return;
	}
	sum->is_signed = true;
	sum->id_type = m->sig.id_type == 2 ? "PKCS#7" : m->sig.id_type == 1 ? "X509" : "PGP";
	check_signed(c, m, sum);
}

static bool exists_in(const char *dir, const char *kver, const char *name)
{
	/* the firmware loader's search order below one firmware root */
	const char *subs[] = { "updates/", kver, "updates/", "", kver, "", "", "" };
	struct stat st;

	if (dir == NULL)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(subs); i += 2) {
		_cleanup_free_ char *path = xasprintf("%s/%s%s%s%s", dir, subs[i], subs[i + 1],
						      *subs[i + 1] ? "/" : "", name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			return true;
	}
	return false;
}

void kmi_check_firmware(struct kmi_vctx *c, const struct kmi_vmod *m)
{
	_cleanup_free_ char *img_fw = xasprintf("%s/lib/firmware", c->o->root);

	for (uint32_t i = 0; i < m->mf.n_info; i++) {
		const char *name = m->mf.info[i].value;
		_cleanup_free_ char *ev = NULL;
		if (!streq(m->mf.info[i].key, "firmware") || *name == '\0')
			continue;
		/* a name reaching out of the firmware dir is nothing a loader finds */
		if (name[0] == '/' || strstr(name, "..") != NULL ||
		    (!exists_in(img_fw, c->t.kver, name) && !exists_in(c->t.fw_root, c->t.kver, name))) {
			ev = xasprintf("looked in the image's /lib/firmware%s%s", c->t.fw_root ? " and " : "",
				       c->t.fw_root ? c->t.fw_root : "");
			kmi_report_add(c->rep, KMI_SEV_WARNING, "firmware", m->name, ev,
				       "add it to the image (kmodimg build --firmware DIR) or install it "
				       "on the node",
				       "firmware %s not found", name);
		}
	}
}
