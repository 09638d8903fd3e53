// SPDX-License-Identifier: LGPL-2.1-or-later
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/digest.h"

static void oom(void)
{
	abort(); /* OpenSSL allocation failure: as xmalloc, fatal */
}

/*
 * SHA-256 needs no configuration: skipping openssl.cnf (read on first use
 * otherwise) saves a millisecond or more on every short command.
 */
static void openssl_init(void)
{
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}

void kmi_sha256_init(struct kmi_sha256 *h)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	EVP_MD_CTX *c;

	pthread_once(&once, openssl_init);
	c = EVP_MD_CTX_new();

	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		oom();
	h->ctx = c;
}

void kmi_sha256_update(struct kmi_sha256 *h, const void *data, size_t len)
{
	if (len > 0)
		EVP_DigestUpdate(h->ctx, data, len);
}

void kmi_sha256_final(struct kmi_sha256 *h, char out[KMI_DIGEST_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_DigestFinal_ex(h->ctx, md, &n);
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[KMI_DIGEST_LEN - 1] = '\0';
	kmi_sha256_free(h);
}

void kmi_sha256_free(struct kmi_sha256 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void kmi_sha256_digest(const void *data, size_t len, char out[KMI_DIGEST_LEN])
{
	struct kmi_sha256 h;
	kmi_sha256_init(&h);
	kmi_sha256_update(&h, data, len);
	kmi_sha256_final(&h, out);
}

bool kmi_digest_valid(const char *d)
{
	if (d == NULL || strncmp(d, "sha256:", 7) != 0 || strlen(d) != KMI_DIGEST_LEN - 1)
		return false;
	for (const char *p = d + 7; *p; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	}
	return true;
}

const char *kmi_digest_hex(const char *digest)
{
	return digest + 7;
}
