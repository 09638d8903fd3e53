// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The signature the kernel's sign-file appends to a module:
 *
 *	module bytes | PKCS#7 (DER) | struct module_signature | "~Module signature appended~\n"
 *
 * struct module_signature is 12 bytes: algo, hash, id_type, signer_len,
 * key_id_len (u8 each), 3 pad bytes, sig_len (big-endian u32).  For PKCS#7
 * (id_type 2) everything but id_type and sig_len must be 0: the kernel
 * (mod_check_sig) rejects the module otherwise, as it does a sig_len that
 * does not fit.  What modinfo shows (signer, sig_key, sig_hashalgo) comes
 * from the first SignerInfo: the issuer's CN, the serial number, the digest.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "verify/verify-internal.h"

#define MODSIG_SIZE 12
#define PKEY_ID_PKCS7 2

int kmi_modsig_parse(const unsigned char *data, size_t len, struct kmi_modsig *out)
{
	const size_t mlen = sizeof(KMI_MODSIG_MAGIC) - 1;
	const unsigned char *ms;
	size_t rest;
	uint32_t sig_len;

	memset(out, 0, sizeof(*out));
	out->content_len = len;
	if (len < mlen || memcmp(data + len - mlen, KMI_MODSIG_MAGIC, mlen) != 0)
		return 0;
	out->present = true;
	rest = len - mlen;
	out->kernel_err = -EBADMSG;
	if (rest < MODSIG_SIZE) {
		out->problem = "signature trailer is truncated";
		return -EBADMSG;
	}
	ms = data + rest - MODSIG_SIZE;
	out->algo = ms[0];
	out->hash = ms[1];
	out->id_type = ms[2];
	out->signer_len = ms[3];
	out->key_id_len = ms[4];
	sig_len = (uint32_t)ms[8] << 24 | (uint32_t)ms[9] << 16 | (uint32_t)ms[10] << 8 | ms[11];
	if (sig_len >= rest - MODSIG_SIZE) {
		out->problem = "signature length runs past the start of the file";
		return -EBADMSG;
	}
	out->sig_len = sig_len;
	out->sig_off = rest - MODSIG_SIZE - sig_len;
	out->content_len = out->sig_off;
	if (out->id_type != PKEY_ID_PKCS7) {
		out->problem = "not signed with a PKCS#7 message";
		out->kernel_err = -ENOPKG;
		return -EBADMSG;
	}
	if (ms[0] || ms[1] || ms[3] || ms[4] || ms[5] || ms[6] || ms[7]) {
		out->problem = "PKCS#7 signature info has unexpected non-zero params";
		return -EBADMSG;
	}
	out->kernel_err = 0;
	return 1;
}

static char *issuer_cn(X509_NAME *name)
{
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	ASN1_STRING *d;

	if (i < 0)
		return NULL;
	d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	return xstrndup((const char *)ASN1_STRING_get0_data(d), (size_t)ASN1_STRING_length(d));
}

/* The serial as modinfo prints it: "4A:0B:..." (big-endian bytes, no sign byte). */
static char *serial_hex(const ASN1_INTEGER *serial)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	struct kmi_buf b = { 0 };
	unsigned char *bytes;
	int n;

	if (bn == NULL)
		return NULL;
	n = BN_num_bytes(bn);
	bytes = xmalloc((size_t)n + 1);
	BN_bn2bin(bn, bytes);
	for (int i = 0; i < n; i++)
		kmi_buf_printf(&b, "%s%02X", i ? ":" : "", bytes[i]);
	kmi_buf_putc(&b, '\0');
	free(bytes);
	BN_free(bn);
	return b.data;
}

int kmi_modsig_pkcs7_info(const unsigned char *sig, size_t len, struct kmi_sig_summary *out)
{
	const unsigned char *p = sig;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)len);
	STACK_OF(PKCS7_SIGNER_INFO) *sis;
	PKCS7_SIGNER_INFO *si;
	X509_ALGOR *dig = NULL;
	const ASN1_OBJECT *obj = NULL;
	char name[80];

	out->id_type = "PKCS#7";
	if (p7 == NULL || (sis = PKCS7_get_signer_info(p7)) == NULL ||
	    (si = sk_PKCS7_SIGNER_INFO_value(sis, 0)) == NULL || si->issuer_and_serial == NULL) {
		PKCS7_free(p7);
		ERR_clear_error();
		return -EBADMSG;
	}
	out->signer = issuer_cn(si->issuer_and_serial->issuer);
	out->key_id = serial_hex(si->issuer_and_serial->serial);
	PKCS7_SIGNER_INFO_get0_algs(si, NULL, &dig, NULL);
	if (dig != NULL) {
		X509_ALGOR_get0(&obj, NULL, NULL, dig);
		if (obj != NULL && OBJ_obj2txt(name, sizeof(name), obj, 0) > 0)
			out->hash_algo = xstrdup(name);
	}
	PKCS7_free(p7);
	return 0;
}

int kmi_modsig_load_cert(const char *path, void **cert, struct kmi_error **err)
{
	BIO *b = BIO_new_file(path, "rb");
	X509 *x;

	if (b == NULL) {
		ERR_clear_error();
		return kmi_error_set(err, KMI_EUSAGE, "opening certificate `%s`: %s", path,
				     strerror(errno ? errno : EIO));
	}
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (x == NULL) {
		ERR_clear_error();
		(void)BIO_reset(b);
		x = d2i_X509_bio(b, NULL);
	}
	BIO_free(b);
	if (x == NULL) {
		ERR_clear_error();
		return kmi_error_set(err, KMI_EUSAGE, "`%s`: not an X.509 certificate (PEM or DER)",
				     path);
	}
	*cert = x;
	return 0;
}

void kmi_modsig_free_cert(void *cert)
{
	X509_free(cert);
}

/* Whether cert is the one the signer info names (issuer and serial). */
static bool cert_is_signer(CMS_ContentInfo *cms, X509 *cert)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);

	for (int i = 0; sis && i < sk_CMS_SignerInfo_num(sis); i++)
		if (CMS_SignerInfo_cert_cmp(sk_CMS_SignerInfo_value(sis, i), cert) == 0)
			return true;
	return false;
}

int kmi_modsig_verify(const unsigned char *data, const struct kmi_modsig *s, void *cert,
		      char *why, size_t whysize)
{
	const unsigned char *p = data + s->sig_off;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)s->sig_len);
	STACK_OF(X509) *certs = NULL;
	BIO *content = NULL;
	int r;

	if (cms == NULL) {
		snprintf(why, whysize, "the PKCS#7 message does not parse");
		ERR_clear_error();
		return 0;
	}
	if (!cert_is_signer(cms, cert)) {
		CMS_ContentInfo_free(cms);
		return -ENOKEY;
	}
	certs = sk_X509_new_null();
	sk_X509_push(certs, cert);
	content = BIO_new_mem_buf(data, (int)s->content_len);
	/* the key is trusted as given: no chain, as the kernel's keyring does */
	r = CMS_verify(cms, certs, NULL, content, NULL,
		       CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY | CMS_NOINTERN);
	if (r != 1) {
		unsigned long e = ERR_peek_last_error();
		const char *reason = e ? ERR_reason_error_string(e) : NULL;
		snprintf(why, whysize, "%s", reason ? reason : "verification failed");
		ERR_clear_error();
	}
	BIO_free(content);
	sk_X509_free(certs);
	CMS_ContentInfo_free(cms);
	return r == 1;
}
