/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <pthread.h>
#include <stdbool.h>
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

/*
 * One call run on another thread while the caller goes on with other work
 * (e.g. opening a registry connection during a build): best-effort work
 * whose outcome the caller finds in ctx, if anywhere.  If no thread can be
 * had, the call runs inside kmi_async_wait() instead.
 */
typedef void (*kmi_async_fn)(void *ctx);

struct kmi_async {
	kmi_async_fn fn;
	void *ctx;
	pthread_t tid;
	bool started;
};

void kmi_async_start(struct kmi_async *a, kmi_async_fn fn, void *ctx);
/* Returns once the call has run. */
void kmi_async_wait(struct kmi_async *a);
