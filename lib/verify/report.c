// SPDX-License-Identifier: LGPL-2.1-or-later
/* The findings of kmodimg verify, as text for people and JSON for CI. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/xalloc.h"
#include "verify/verify.h"

static const char *const sev_names[] = { "info", "warning", "error" };

char *kmi_report_strdup(const char *s)
{
	char *d = xstrdup(s);

	/* names come from hostile modules: keep terminals and JSON safe */
	for (unsigned char *p = (unsigned char *)d; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			*p = '?';
	return d;
}

void kmi_report_add(struct kmi_report *r, enum kmi_severity sev, const char *check,
		    const char *module, const char *evidence, const char *fix, const char *fmt, ...)
{
	struct kmi_finding *f;
	va_list ap;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->f = xreallocarray(r->f, r->cap, sizeof(*r->f));
	}
	f = &r->f[r->n++];
	f->sev = sev;
	f->check = check;
	char *msg;

	f->module = module ? kmi_report_strdup(module) : NULL;
	f->evidence = evidence ? kmi_report_strdup(evidence) : NULL;
	f->fix = fix ? kmi_report_strdup(fix) : NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	f->message = kmi_report_strdup(msg);
	free(msg);
}

size_t kmi_report_count(const struct kmi_report *r, enum kmi_severity sev)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->f[i].sev == sev;
	return n;
}

void kmi_report_free(struct kmi_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->f[i].module);
		free(r->f[i].message);
		free(r->f[i].evidence);
		free(r->f[i].fix);
	}
	for (size_t i = 0; i < r->n_mods; i++) {
		struct kmi_module_summary *m = &r->mods[i];
		free(m->name);
		free(m->path);
		free(m->vermagic);
		free(m->sig.signer);
		free(m->sig.key_id);
		free(m->sig.hash_algo);
	}
	free(r->mods);
	free(r->f);
	free(r->image);
	free(r->kver);
	free(r->moddir);
	free(r->target_vermagic);
	memset(r, 0, sizeof(*r));
}

static void print_sig(const struct kmi_sig_summary *s, FILE *f)
{
	if (!s->is_signed) {
		fputs("unsigned", f);
		return;
	}
	fprintf(f, "signed (%s", s->id_type ? s->id_type : "?");
	if (s->signer)
		fprintf(f, ", signer \"%s\"", s->signer);
	if (s->key_id)
		fprintf(f, ", key %s", s->key_id);
	if (s->hash_algo)
		fprintf(f, ", %s", s->hash_algo);
	fprintf(f, "%s)", s->verified == 1 ? ", verified" : s->verified == 0 ? ", DOES NOT VERIFY" : "");
}

void kmi_report_print_text(const struct kmi_report *r, FILE *f)
{
	size_t ne = kmi_report_count(r, KMI_SEV_ERROR), nw = kmi_report_count(r, KMI_SEV_WARNING);

	fprintf(f, "image %s, kernel %s, modules in %s\n", r->image ? r->image : "?", r->kver,
		r->moddir ? r->moddir : "?");
	if (r->target_vermagic)
		fprintf(f, "target vermagic: %s\n", r->target_vermagic);
	for (size_t i = 0; i < r->n_mods; i++) {
		const struct kmi_module_summary *m = &r->mods[i];
		fprintf(f, "module %s (%s): ", m->name, m->path);
		print_sig(&m->sig, f);
		fputc('\n', f);
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct kmi_finding *x = &r->f[i];
		fprintf(f, "%s: [%s] %s%s%s\n", sev_names[x->sev], x->check, x->module ? x->module : "",
			x->module ? ": " : "", x->message);
		if (x->evidence)
			fprintf(f, "    evidence: %s\n", x->evidence);
		if (x->fix)
			fprintf(f, "    fix: %s\n", x->fix);
	}
	fprintf(f, "%s: %zu error(s), %zu warning(s)\n",
		ne ? "FAIL: the kernel would refuse to load this" : "OK: nothing stops a load", ne, nw);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *module_json(const struct kmi_module_summary *m)
{
	const struct kmi_sig_summary *s = &m->sig;
	json_t *sig = json_pack("{s:b}", "signed", s->is_signed);

	if (s->is_signed) {
		json_object_set_new(sig, "id_type", str_or_null(s->id_type));
		json_object_set_new(sig, "signer", str_or_null(s->signer));
		json_object_set_new(sig, "key_id", str_or_null(s->key_id));
		json_object_set_new(sig, "hash_algo", str_or_null(s->hash_algo));
		json_object_set_new(sig, "verified",
				    s->verified < 0 ? json_null() : json_boolean(s->verified));
	}
	return json_pack("{s:s, s:s, s:o, s:o}", "name", m->name, "path", m->path, "vermagic",
			 str_or_null(m->vermagic), "signature", sig);
}

int kmi_report_print_json(const struct kmi_report *r, FILE *f)
{
	size_t ne = kmi_report_count(r, KMI_SEV_ERROR);
	json_t *findings = json_array(), *mods = json_array(), *root;
	int ret;

	for (size_t i = 0; i < r->n_mods; i++)
		json_array_append_new(mods, module_json(&r->mods[i]));
	for (size_t i = 0; i < r->n; i++) {
		const struct kmi_finding *x = &r->f[i];
		json_array_append_new(findings,
				      json_pack("{s:s, s:s, s:o, s:s, s:o, s:o}", "severity",
						sev_names[x->sev], "check", x->check, "module",
						str_or_null(x->module), "message", x->message,
						"evidence", str_or_null(x->evidence), "fix",
						str_or_null(x->fix)));
	}
	root = json_pack("{s:i, s:o, s:s, s:o, s:o, s:s, s:{s:I, s:I, s:I}, s:o, s:o}",
			 "schema", 1, "image", str_or_null(r->image), "kernel", r->kver,
			 "module_dir", str_or_null(r->moddir), "target_vermagic",
			 str_or_null(r->target_vermagic), "verdict", ne ? "fail" : "pass",
			 "counts", "errors", (json_int_t)ne, "warnings",
			 (json_int_t)kmi_report_count(r, KMI_SEV_WARNING), "info",
			 (json_int_t)kmi_report_count(r, KMI_SEV_INFO), "modules", mods,
			 "findings", findings);
	if (root == NULL)
		return -ENOMEM;
	ret = json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ? -EIO : 0;
	if (ret == 0)
		fputc('\n', f);
	json_decref(root);
	return ret;
}
