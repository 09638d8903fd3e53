// SPDX-License-Identifier: LGPL-2.1-or-later
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "util/parallel.h"

#define MAX_THREADS 64

struct pool {
	atomic_size_t next;
	size_t n;
	kmi_task_fn fn;
	void *ctx;
};

struct worker {
	struct pool *pool;
	unsigned id;
};

static void *work(void *p)
{
	struct worker *w = p;

	for (;;) {
		size_t i = atomic_fetch_add_explicit(&w->pool->next, 1, memory_order_relaxed);
		if (i >= w->pool->n)
			break;
		w->pool->fn(w->pool->ctx, i, w->id);
	}
	return NULL;
}

void kmi_parallel_for(size_t n, unsigned threads, kmi_task_fn fn, void *ctx)
{
	struct pool pool = { .n = n, .fn = fn, .ctx = ctx };
	struct worker w[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	unsigned started = 1;

	atomic_init(&pool.next, 0);
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	if (threads > n)
		threads = n ? (unsigned)n : 1;
	for (unsigned t = 0; t < threads; t++)
		w[t] = (struct worker){ &pool, t };
	/* if a thread cannot start, the others simply take its share */
	for (unsigned t = 1; t < threads; t++, started++) {
		if (pthread_create(&tid[t], NULL, work, &w[t]) != 0)
			break;
	}
	work(&w[0]);
	for (unsigned t = 1; t < started; t++)
		pthread_join(tid[t], NULL);
}

unsigned kmi_cpu_count(unsigned max)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	return (unsigned)n < max ? (unsigned)n : max;
}

static void *async_run(void *p)
{
	struct kmi_async *a = p;

	a->fn(a->ctx);
	return NULL;
}

void kmi_async_start(struct kmi_async *a, kmi_async_fn fn, void *ctx)
{
	*a = (struct kmi_async){ .fn = fn, .ctx = ctx };
	a->started = pthread_create(&a->tid, NULL, async_run, a) == 0;
}

void kmi_async_wait(struct kmi_async *a)
{
	if (a->fn == NULL)
		return;
	if (a->started)
		pthread_join(a->tid, NULL);
	else
		async_run(a);
	a->fn = NULL;
}
