/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Line-oriented test data under tests/kmm/: fields separated by tabs, '#'
 * comments, C escapes (\n \t \\ \xNN) in fields.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KMI_SRCDIR
#error "KMI_SRCDIR must be defined by the build"
#endif

static inline char *kmm_data_path(const char *name)
{
	const char *src = getenv("KMODIMG_SRC");
	char *p;

	if (asprintf(&p, "%s/tests/kmm/%s", src && *src ? src : KMI_SRCDIR, name) < 0)
		abort();
	return p;
}

/*
 * Calls check(dir, file) for every *.yaml file of tests/kmm/<name>/ and
 * returns how many there were (-1 if the directory cannot be read).
 */
static inline int kmm_data_each_yaml(const char *name, void (*check)(const char *, const char *))
{
	char *dir = kmm_data_path(name);
	DIR *dp = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (dp && (de = readdir(dp)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
			continue;
		check(dir, de->d_name);
		n++;
	}
	if (dp)
		closedir(dp);
	free(dir);
	return dp ? n : -1;
}

static inline FILE *kmm_data_open(const char *name)
{
	char *p = kmm_data_path(name);
	FILE *f = fopen(p, "r");

	if (f == NULL) {
		perror(p);
		exit(1);
	}
	free(p);
	return f;
}

static inline void kmm_unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s != '\\' || s[1] == '\0') {
			*o++ = *s;
			continue;
		}
		s++;
		if (*s == 'n')
			*o++ = '\n';
		else if (*s == 't')
			*o++ = '\t';
		else if (*s == 'x' && s[1] && s[2]) {
			char hex[3] = { s[1], s[2], 0 };

			*o++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else if (*s == '\\')
			*o++ = '\\';
		else {
			*o++ = '\\';
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Splits a line at tabs into at most max fields; returns the count (0 for comments/blank). */
static inline int kmm_data_fields(char *line, char **f, int max)
{
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	if (line[0] == '#' || line[0] == '\0')
		return 0;
	for (char *p = line; n < max; n++) {
		f[n] = p;
		p = strchr(p, '\t');
		if (p == NULL) {
			n++;
			break;
		}
		*p++ = '\0';
	}
	return n;
}
