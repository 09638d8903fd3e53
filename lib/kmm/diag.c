// SPDX-License-Identifier: LGPL-2.1-or-later
/* Collected messages: validation reports every problem, not just the first. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "kmm/kmm.h"
#include "util/xalloc.h"

/* Enough for every real mistake; a hostile file must not flood the terminal. */
#define KMM_MAX_DIAGS 200

static void add(struct kmm_diags *d, const char *level, const struct kmm_pos *p,
		const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static void add(struct kmm_diags *d, const char *level, const struct kmm_pos *p,
		const char *fmt, va_list ap)
{
	char *text = NULL, *msg;

	if (vasprintf(&text, fmt, ap) < 0)
		abort();
	if (p != NULL && p->file != NULL && p->line > 0)
		msg = xasprintf("%s:%d:%d: %s: %s", p->file, p->line, p->col, level, text);
	else if (p != NULL && p->file != NULL)
		msg = xasprintf("%s: %s: %s", p->file, level, text);
	else
		msg = xasprintf("%s: %s", level, text);
	free(text);
	if (d->n == KMM_MAX_DIAGS) {
		free(msg);
		return;
	}
	d->msgs = xreallocarray(d->msgs, d->n + 1, sizeof(*d->msgs));
	d->msgs[d->n++] = msg;
}

void kmm_error_at(struct kmm_diags *d, const struct kmm_pos *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add(d, "error", p, fmt, ap);
	va_end(ap);
	d->nerrors++;
}

void kmm_warn_at(struct kmm_diags *d, const struct kmm_pos *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add(d, "warning", p, fmt, ap);
	va_end(ap);
	d->nwarnings++;
}

void kmm_diags_free(struct kmm_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	*d = (struct kmm_diags){ 0 };
}
