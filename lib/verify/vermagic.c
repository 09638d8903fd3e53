// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vermagic: "<release> [SMP ][preempt |preempt_rt ][mod_unload ][modversions ]
 * [arch words]", as include/linux/vermagic.h builds it.  The kernel compares
 * it byte for byte with its own (from after the release when the module has
 * __versions); the words are split here only to say which one differs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/macro.h"
#include "util/xalloc.h"
#include "verify/verify-internal.h"

int kmi_vermagic_parse(const char *s, struct kmi_vermagic *v)
{
	char *save = NULL, *w;
	size_t len = strlen(s);

	memset(v, 0, sizeof(*v));
	v->preempt = "";
	if (len == 0 || len >= sizeof(v->buf))
		return -EINVAL;
	memcpy(v->buf, s, len + 1);
	for (w = strtok_r(v->buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (v->release == NULL)
			v->release = w;
		else if (streq(w, "SMP"))
			v->smp = true;
		else if (streq(w, "preempt") || streq(w, "preempt_rt"))
			v->preempt = w;
		else if (streq(w, "mod_unload"))
			v->mod_unload = true;
		else if (streq(w, "modversions"))
			v->modversions = true;
		else if (v->n_other < ARRAY_SIZE(v->other))
			v->other[v->n_other++] = w;
	}
	return v->release ? 0 : -EINVAL;
}

unsigned kmi_vermagic_diff(const struct kmi_vermagic *a, const struct kmi_vermagic *b)
{
	unsigned d = 0;

	if (!streq(a->release, b->release))
		d |= KMI_VM_RELEASE;
	if (a->smp != b->smp)
		d |= KMI_VM_SMP;
	if (!streq(a->preempt, b->preempt))
		d |= KMI_VM_PREEMPT;
	if (a->mod_unload != b->mod_unload)
		d |= KMI_VM_MOD_UNLOAD;
	if (a->modversions != b->modversions)
		d |= KMI_VM_MODVERSIONS;
	if (a->n_other != b->n_other)
		d |= KMI_VM_OTHER;
	for (size_t i = 0; i < a->n_other && i < b->n_other; i++)
		if (!streq(a->other[i], b->other[i]))
			d |= KMI_VM_OTHER;
	return d;
}

bool kmi_vermagic_accepts(const char *modmagic, const char *kernelmagic, bool has_versions)
{
	if (has_versions) {
		modmagic += strcspn(modmagic, " ");
		kernelmagic += strcspn(kernelmagic, " ");
	}
	return strcmp(modmagic, kernelmagic) == 0;
}

void kmi_vermagic_describe(unsigned mask, char *buf, size_t size)
{
	static const struct {
		unsigned bit;
		const char *name;
	} words[] = {
		{ KMI_VM_RELEASE, "release" },         { KMI_VM_SMP, "SMP" },
		{ KMI_VM_PREEMPT, "preempt model" },   { KMI_VM_MOD_UNLOAD, "mod_unload" },
		{ KMI_VM_MODVERSIONS, "modversions" }, { KMI_VM_OTHER, "other words" },
	};
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(words) && used < size; i++) {
		if (!(mask & words[i].bit))
			continue;
		int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", words[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* CONFIG_NAME=y in a .config. */
static bool config_set(const char *config, size_t len, const char *name)
{
	size_t nlen = strlen(name);

	for (size_t i = 0; i + nlen + 2 <= len;) {
		const char *nl = memchr(config + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - config) : len;
		if (end - i == nlen + 2 && memcmp(config + i, name, nlen) == 0 &&
		    memcmp(config + i + nlen, "=y", 2) == 0)
			return true;
		i = end + 1;
	}
	return false;
}

char *kmi_vermagic_from_config(const char *config, size_t len, const char *kver)
{
	bool smp = config_set(config, len, "CONFIG_SMP");
	const char *preempt = config_set(config, len, "CONFIG_PREEMPT_BUILD") ? "preempt "
			      : config_set(config, len, "CONFIG_PREEMPT_RT") ? "preempt_rt "
									     : "";

	return xasprintf("%s %s%s%s%s", kver, smp ? "SMP " : "", preempt,
			 config_set(config, len, "CONFIG_MODULE_UNLOAD") ? "mod_unload " : "",
			 config_set(config, len, "CONFIG_MODVERSIONS") ? "modversions " : "");
}
