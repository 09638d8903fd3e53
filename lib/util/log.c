// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdio.h>

#include "util/log.h"

static const char *log_prefix = "kmodimg";
static int log_level = KMI_LOG_WARN;

void kmi_log_set_prefix(const char *prefix)
{
	log_prefix = prefix;
}

void kmi_log_set_level(int level)
{
	log_level = level;
}

int kmi_log_get_level(void)
{
	return log_level;
}

static const char *prio_name(int prio)
{
	switch (prio) {
	case KMI_LOG_CRIT:
		return "FATAL";
	case KMI_LOG_ERR:
		return "ERROR";
	case KMI_LOG_WARN:
		return "WARNING";
	case KMI_LOG_NOTICE:
		return "NOTICE";
	case KMI_LOG_INFO:
		return "INFO";
	default:
		return "DEBUG";
	}
}

void kmi_logv(int prio, const char *fmt, va_list ap)
{
	if (prio > log_level)
		return;
	/* One locked stdio call per message keeps lines whole across threads. */
	flockfile(stderr);
	fprintf(stderr, "%s: %s: ", log_prefix, prio_name(prio));
	vfprintf(stderr, fmt, ap);
	funlockfile(stderr);
}

void kmi_log(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kmi_logv(prio, fmt, ap);
	va_end(ap);
}
