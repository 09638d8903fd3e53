/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/*
 * Runs fn(ctx, i, worker) for every i in [0, n) on up to `threads` threads
 * (the caller's included), handing out items in order.  worker is in
 * [0, threads) and tells a task which per-thread state is its own.
 */
typedef void (*kmi_task_fn)(void *ctx, size_t i, unsigned worker);

void kmi_parallel_for(size_t n, unsigned threads, kmi_task_fn fn, void *ctx);

/* One per online CPU, at most `max`, at least 1. */
unsigned kmi_cpu_count(unsigned max);
