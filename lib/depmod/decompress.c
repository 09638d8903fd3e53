// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "depmod/modfile.h"
#include "util/lazylib.h"
#include "util/xalloc.h"

/* Grows the output in steps; fails past KMI_MODFILE_MAX_SIZE (a bomb). */
static int grow(unsigned char **buf, size_t *cap, size_t want)
{
	size_t n = *cap ? *cap : 1 << 20;

	if (want > KMI_MODFILE_MAX_SIZE)
		return -EFBIG;
	while (n < want)
		n *= 2;
	if (n > KMI_MODFILE_MAX_SIZE)
		n = KMI_MODFILE_MAX_SIZE;
	*buf = xrealloc(*buf, n);
	*cap = n;
	return 0;
}

static int unxz(const unsigned char *in, size_t size, unsigned char **out, size_t *olen,
		const char **why)
{
	lzma_stream s = LZMA_STREAM_INIT;
	unsigned char *buf = NULL;
	size_t cap = 0;
	lzma_ret r;
	int err = 0;

	if (lzma_stream_decoder(&s, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) {
		*why = "xz decoder could not start";
		return -ENOMEM;
	}
	s.next_in = in;
	s.avail_in = size;
	for (;;) {
		if (s.avail_out == 0) {
			size_t used = s.total_out;
			if ((err = grow(&buf, &cap, used + 1)) < 0) {
				*why = "xz data expands beyond the size limit";
				break;
			}
			s.next_out = buf + used;
			s.avail_out = cap - used;
		}
		r = lzma_code(&s, LZMA_FINISH);
		if (r == LZMA_STREAM_END)
			break;
		if (r != LZMA_OK) {
			*why = r == LZMA_BUF_ERROR ? "truncated xz data" : "corrupt xz data";
			err = -EINVAL;
			break;
		}
	}
	*olen = s.total_out;
	lzma_end(&s);
	if (err < 0) {
		free(buf);
		return err;
	}
	*out = buf;
	return 0;
}

static int unzstd(const unsigned char *in, size_t size, unsigned char **out, size_t *olen,
		  const char **why)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, size, 0 };
	ZSTD_outBuffer ob = { NULL, 0, 0 };
	unsigned char *buf = NULL;
	size_t cap = 0, r = 1;
	int err = 0;

	if (ds == NULL) {
		*why = "zstd decoder could not start";
		return -ENOMEM;
	}
	ZSTD_initDStream(ds);
	for (;;) {
		if (ob.pos == ob.size) {
			if ((err = grow(&buf, &cap, ob.pos + 1)) < 0) {
				*why = "zstd data expands beyond the size limit";
				break;
			}
			ob.dst = buf;
			ob.size = cap;
		}
		r = ZSTD_decompressStream(ds, &ob, &ib);
		if (ZSTD_isError(r)) {
			*why = "corrupt zstd data";
			err = -EINVAL;
			break;
		}
		if (r == 0 && ib.pos == ib.size)
			break;
		if (ib.pos == ib.size && ob.pos < ob.size) {
			*why = "truncated zstd data";
			err = -EINVAL;
			break;
		}
	}
	ZSTD_freeDStream(ds);
	if (err < 0) {
		free(buf);
		return err;
	}
	*out = buf;
	*olen = ob.pos;
	return 0;
}

static int ungzip(const unsigned char *in, size_t size, unsigned char **out, size_t *olen,
		  const char **why)
{
	z_stream z = { 0 };
	unsigned char *buf = NULL;
	size_t cap = 0;
	int r, err = 0;

	if (kmi_zlib_load(NULL) < 0) {
		*why = "cannot load libz.so.1 (install zlib1g)";
		return -ELIBACC;
	}
	if (inflateInit2(&z, 15 + 16) != Z_OK) {
		*why = "gzip decoder could not start";
		return -ENOMEM;
	}
	z.next_in = (unsigned char *)in;
	for (size_t left = size;;) {
		size_t chunk;
		if (z.avail_in == 0) {
			chunk = left > (1u << 30) ? (1u << 30) : left;
			z.avail_in = (uInt)chunk;
			left -= chunk;
		}
		if (z.avail_out == 0) {
			size_t used = z.total_out;
			if ((err = grow(&buf, &cap, used + 1)) < 0) {
				*why = "gzip data expands beyond the size limit";
				break;
			}
			z.next_out = buf + used;
			chunk = cap - used;
			z.avail_out = chunk > (1u << 30) ? (1u << 30) : (uInt)chunk;
		}
		r = inflate(&z, Z_NO_FLUSH);
		if (r == Z_STREAM_END)
			break;
		if (r != Z_OK && !(r == Z_BUF_ERROR && z.avail_out == 0)) {
			*why = r == Z_BUF_ERROR ? "truncated gzip data" : "corrupt gzip data";
			err = -EINVAL;
			break;
		}
	}
	*olen = z.total_out;
	inflateEnd(&z);
	if (err < 0) {
		free(buf);
		return err;
	}
	*out = buf;
	return 0;
}

int kmi_modfile_decompress(const void *data, size_t size, void **out, size_t *out_size,
			   const char **why)
{
	static const unsigned char zstd_magic[] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const unsigned char xz_magic[] = { 0xfd, '7', 'z', 'X', 'Z', 0 };
	static const unsigned char gz_magic[] = { 0x1f, 0x8b };
	const unsigned char *p = data;
	unsigned char *buf = NULL;
	size_t len = 0;
	int err;

	*out = NULL;
	if (size >= sizeof(zstd_magic) && memcmp(p, zstd_magic, sizeof(zstd_magic)) == 0)
		err = unzstd(p, size, &buf, &len, why);
	else if (size >= sizeof(xz_magic) && memcmp(p, xz_magic, sizeof(xz_magic)) == 0)
		err = unxz(p, size, &buf, &len, why);
	else if (size >= sizeof(gz_magic) && memcmp(p, gz_magic, sizeof(gz_magic)) == 0)
		err = ungzip(p, size, &buf, &len, why);
	else
		return 0; /* not compressed */
	if (err < 0)
		return err;
	*out = buf;
	*out_size = len;
	return 1;
}
