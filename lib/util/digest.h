/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "sha256:" + 64 lowercase hex digits + NUL */
#define KMI_DIGEST_LEN (7 + 64 + 1)

struct kmi_sha256 {
	void *ctx; /* OpenSSL EVP_MD_CTX */
};

void kmi_sha256_init(struct kmi_sha256 *h);
void kmi_sha256_update(struct kmi_sha256 *h, const void *data, size_t len);
/* Writes "sha256:<hex>" and frees the context. */
void kmi_sha256_final(struct kmi_sha256 *h, char out[KMI_DIGEST_LEN]);
void kmi_sha256_free(struct kmi_sha256 *h);
void kmi_sha256_digest(const void *data, size_t len, char out[KMI_DIGEST_LEN]);

/*
 * True for a digest this project can verify and use as a file name:
 * "sha256:" and exactly 64 lowercase hex digits (untrusted input: manifests).
 */
bool kmi_digest_valid(const char *digest);
/* The hex part of a valid digest. */
const char *kmi_digest_hex(const char *digest);
