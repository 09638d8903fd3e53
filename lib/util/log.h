/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>

/* Priorities as syslog numbers them; kmod's tools print the same names. */
enum kmi_log_prio {
	KMI_LOG_CRIT = 2,  /* "FATAL" */
	KMI_LOG_ERR = 3,   /* "ERROR" */
	KMI_LOG_WARN = 4,  /* "WARNING" */
	KMI_LOG_NOTICE = 5,
	KMI_LOG_INFO = 6,
	KMI_LOG_DEBUG = 7,
};

/* Messages read "<prefix>: <PRIO>: text" on stderr, e.g. "depmod: WARNING: ...". */
void kmi_log_set_prefix(const char *prefix);
void kmi_log_set_level(int level);
int kmi_log_get_level(void);
void kmi_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kmi_logv(int prio, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define kmi_err(...) kmi_log(KMI_LOG_ERR, __VA_ARGS__)
#define kmi_warn(...) kmi_log(KMI_LOG_WARN, __VA_ARGS__)
#define kmi_info(...) kmi_log(KMI_LOG_INFO, __VA_ARGS__)
