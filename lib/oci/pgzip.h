/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "util/error.h"

/*
 * Parallel, deterministic gzip: the input is cut into fixed blocks of
 * KMI_PGZIP_BLOCK bytes (the last one shorter) and each block becomes one
 * complete gzip member (RFC 1952 2.2: a gzip file is a series of members),
 * compressed with libdeflate on up to `threads` threads and emitted in
 * order.  The output depends only on the input bytes and the level: not on
 * the thread count nor on how the caller splits its writes.  An empty input
 * gives one empty member, so the result is always a valid gzip file.
 *
 * Memory is bounded: at most 2 blocks per thread are in flight, each with
 * its input and output buffer (about 2 MiB per block).
 */
#define KMI_PGZIP_BLOCK (1024 * 1024)
#define KMI_PGZIP_MAX_THREADS 64

struct kmi_pgzip;

/*
 * Receives the compressed stream, in order, always on the thread calling
 * kmi_pgzip_write() or kmi_pgzip_finish().  Returns 0, or a negative value
 * with *err set; the error is then returned by the call that fed it.
 */
typedef int (*kmi_pgzip_sink_fn)(void *ctx, const void *data, size_t len,
				 struct kmi_error **err);

/*
 * level: libdeflate's 1..12 (6 is gzip's default); threads: 1 compresses on
 * the caller's thread, more start that many workers (at most
 * KMI_PGZIP_MAX_THREADS).  The stream must be released with kmi_pgzip_free().
 */
int kmi_pgzip_new(int level, unsigned threads, kmi_pgzip_sink_fn sink, void *sink_ctx,
		  struct kmi_pgzip **out, struct kmi_error **err);
/*
 * Members of `block` input bytes instead of KMI_PGZIP_BLOCK (at most that),
 * before the first write; like the level, it is part of what the output
 * depends on.
 */
void kmi_pgzip_set_block(struct kmi_pgzip *z, size_t block);
/* Buffers and compresses len bytes; may call the sink. */
int kmi_pgzip_write(struct kmi_pgzip *z, const void *data, size_t len,
		    struct kmi_error **err);
/* Compresses what is left and passes everything to the sink. */
int kmi_pgzip_finish(struct kmi_pgzip *z, struct kmi_error **err);
/* Stops the workers and frees everything, finished or not; NULL is fine. */
void kmi_pgzip_free(struct kmi_pgzip *z);
