// SPDX-License-Identifier: LGPL-2.1-or-later
/* Kernel strings, kernel mapping selection (§1.6) and the substitution variables (§1.8). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "kmm/kmm.h"
#include "util/xalloc.h"

char *kmm_kernel_trim(const char *kver)
{
	size_t n = strlen(kver);

	/* strings.TrimSuffix: one "+" only */
	if (n > 0 && kver[n - 1] == '+')
		n--;
	return xstrndup(kver, n);
}

char *kmm_kernel_normalize(const char *kver)
{
	char *s = xstrdup(kver);

	/* bytes, where Go maps runes: a multi-byte rune gives several '_' here, one there */
	for (char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80)
			if (*p != '-' && *p != '.' && *p != '_')
				*p = '_';
	return s;
}

char *kmm_kernel_dns(const char *kver)
{
	char *s = kmm_kernel_normalize(kver);
	char *b = s, *e;

	for (char *p = s; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (*p == '_' || *p == '.')
			*p = '-';
	}
	while (*b == '-')
		b++;
	e = b + strlen(b);
	while (e > b && e[-1] == '-')
		e--;
	*e = '\0';
	memmove(s, b, (size_t)(e - b) + 1);
	return s;
}

int kmm_find_mapping(const struct kmm_module *m, const char *kernel, char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < m->nmaps; i++) {
		const struct kmm_mapping *km = &m->maps[i];
		struct kmm_regex *re;
		char err[256];
		int r;

		if (km->literal[0] != '\0' && strcmp(km->literal, kernel) == 0)
			return (int)i;
		if (km->regexp[0] == '\0')
			continue;
		re = kmm_regex_compile(km->regexp, err, sizeof(err));
		r = re ? kmm_regex_match(re, kernel, err, sizeof(err)) : -1;
		kmm_regex_free(re);
		if (r < 0) {
			snprintf(errbuf, errlen, "kernelMappings[%zu].regexp \"%s\": %s", i, km->regexp, err);
			return -2;
		}
		if (r > 0)
			return (int)i;
	}
	return -1;
}

int kmm_kernel_env(const char *normalized, struct kmm_env *env, struct kmi_arena *a)
{
	/* KernelRegexp "[.,-]" splits; fewer than three fields is an error */
	const char *f[3], *p = normalized;
	size_t len[3];
	int n = 0;

	while (n < 3) {
		size_t k = strcspn(p, ".,-");

		f[n] = p;
		len[n++] = k;
		if (p[k] == '\0')
			break;
		p += k + 1;
	}
	if (n < 3)
		return -1;
	env->n = 0;
	env->name[env->n] = "KERNEL_FULL_VERSION";
	env->value[env->n++] = normalized;
	env->name[env->n] = "KERNEL_VERSION";
	env->value[env->n++] = normalized;
	env->name[env->n] = "KERNEL_XYZ";
	env->value[env->n++] = kmi_arena_strndup(a, f[0], (size_t)(f[2] + len[2] - f[0]));
	/* the XYZ value joins the fields with '.', whatever separated them */
	for (char *q = (char *)env->value[2]; *q; q++)
		if (*q == ',' || *q == '-')
			*q = '.';
	env->name[env->n] = "KERNEL_X";
	env->value[env->n++] = kmi_arena_strndup(a, f[0], len[0]);
	env->name[env->n] = "KERNEL_Y";
	env->value[env->n++] = kmi_arena_strndup(a, f[1], len[1]);
	env->name[env->n] = "KERNEL_Z";
	env->value[env->n++] = kmi_arena_strndup(a, f[2], len[2]);
	return 0;
}

/* §9: settings KMM accepts that are surely mistakes. */
void kmm_lint_module(const struct kmm_module *m, struct kmm_diags *d)
{
	size_t mn = strlen(m->modprobe.module_name);

	if (mn > 3 && strcmp(m->modprobe.module_name + mn - 3, ".ko") == 0)
		kmm_warn_at(d, &m->modprobe.pos,
			    "modprobe.moduleName \"%s\" is a file name: modprobe wants the module name",
			    m->modprobe.module_name);
	for (size_t i = 0; i < m->nmaps; i++) {
		const struct kmm_mapping *km = &m->maps[i];
		size_t n = strlen(km->literal);

		if (n > 0 && km->literal[n - 1] == '+')
			kmm_warn_at(d, &km->pos,
				    "kernelMappings[%zu].literal ends with \"+\": KMM trims one \"+\" from the node's kernel before matching, so this literal never matches",
				    i);
		if (km->regexp[0] != '\0' && strstr(km->regexp, ".ko") != NULL &&
		    strstr(km->regexp, "\\.ko") == NULL)
			kmm_warn_at(d, &km->regexp_pos,
				    "kernelMappings[%zu].regexp contains an unescaped \".ko\" ('.' matches any character)",
				    i);
	}
	for (size_t i = 0; i < m->intree.n; i++) {
		size_t n = strlen(m->intree.v[i]);

		if (n > 3 && strcmp(m->intree.v[i] + n - 3, ".ko") == 0)
			kmm_warn_at(d, &m->intree_pos,
				    "inTreeModulesToRemove \"%s\" is a file name: the worker looks for \"^%s.ko\" and runs modprobe -r with it; give the module name",
				    m->intree.v[i], m->intree.v[i]);
		else if (strpbrk(m->intree.v[i], ".*+?[](){}|^$\\") != NULL)
			kmm_warn_at(d, &m->intree_pos,
				    "inTreeModulesToRemove \"%s\": the worker looks for it with the regexp \"^%s.ko\", where these characters are operators",
				    m->intree.v[i], m->intree.v[i]);
	}
}
