// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * One module of the image, read whole: verify needs its bytes (the
 * signature covers all of them) besides what depmod's reader extracts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/fs.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "verify/verify-internal.h"

char *kmi_modname_of(const char *path)
{
	const char *base = strrchr(path, '/');
	char *name;

	base = base ? base + 1 : path;
	name = xstrndup(base, strcspn(base, "."));
	for (char *p = name; *p; p++)
		if (*p == '-')
			*p = '_';
	return name;
}

static const char *info_get(const struct kmi_modfile *mf, const char *key)
{
	for (uint32_t i = 0; i < mf->n_info; i++)
		if (streq(mf->info[i].key, key))
			return mf->info[i].value;
	return NULL;
}

static bool has_versions(const struct kmi_modfile *mf)
{
	for (uint32_t i = 0; i < mf->n_imports; i++)
		if (mf->imports[i].versioned)
			return true;
	return false;
}

static void read_signature(struct kmi_vmod *m, const unsigned char *data, size_t size, void *cert)
{
	if (kmi_modsig_parse(data, size, &m->sig) != 1)
		return;
	m->sig_info = kmi_modsig_pkcs7_info(data + m->sig.sig_off, m->sig.sig_len, &m->sigsum);
	if (m->sig_info == 0 && cert != NULL)
		m->sig_verify = kmi_modsig_verify(data, &m->sig, cert, m->sig_why, sizeof(m->sig_why));
}

int kmi_vmod_load(struct kmi_vmod *m, const char *path, const char *relpath,
		  struct kmi_modreader *r, struct kmi_arena *arena, void *cert)
{
	struct kmi_buf raw = { 0 };
	void *plain = NULL;
	size_t plain_size = 0;
	const char *why = NULL;
	unsigned char *data;
	size_t size;
	int ret;

	memset(m, 0, sizeof(*m));
	m->sig_verify = -1;
	m->name = kmi_modname_of(path);
	m->relpath = xstrdup(relpath);
	ret = kmi_read_file(path, KMI_MODFILE_MAX_SIZE, &raw);
	if (ret < 0) {
		kmi_buf_free(&raw);
		return ret;
	}
	ret = kmi_modfile_decompress(raw.data, raw.len, &plain, &plain_size, &why);
	if (ret < 0) {
		m->problem = why ? why : "cannot be decompressed";
		kmi_buf_free(&raw);
		return 0;
	}
	if (ret > 0) {
		kmi_buf_free(&raw);
		data = plain;
		size = plain_size;
	} else {
		data = (unsigned char *)raw.data;
		size = raw.len;
	}
	m->read = true;
	kmi_modfile_parse(r, data, size, arena, KMI_MODFILE_ALL_INFO | KMI_MODFILE_EXACT_CRCS,
			  &m->mf);
	m->problem = m->mf.problem;
	m->vermagic = info_get(&m->mf, "vermagic");
	m->depends = info_get(&m->mf, "depends");
	m->has_versions = has_versions(&m->mf);
	read_signature(m, data, size, cert);
	free(data);
	return 0;
}

void kmi_vmod_free(struct kmi_vmod *m)
{
	free(m->name);
	free(m->relpath);
	free(m->sigsum.signer);
	free(m->sigsum.key_id);
	free(m->sigsum.hash_algo);
	memset(m, 0, sizeof(*m));
}
