// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Drives kmm_regex for tests/integration/kmm-regex-go.sh, which compares it
 * with Go's regexp.  Each input line: PATTERN<TAB>SUBJECT... (\n and \\
 * escapes in subjects); each output line: "reject", or one 0/1 per subject.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmm/kmm.h"

static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '\\' && s[1] == 'n') {
			*o++ = '\n';
			s++;
		} else if (*s == '\\' && s[1] == '\\') {
			*o++ = '\\';
			s++;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

int main(void)
{
	char *line = NULL, err[256];
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		char *save = NULL, *pat, *subj;
		struct kmm_regex *re;

		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		pat = strtok_r(line, "\t", &save);
		if (pat == NULL) {
			puts("reject");
			continue;
		}
		re = kmm_regex_compile(pat, err, sizeof(err));
		if (re == NULL) {
			puts("reject");
			continue;
		}
		while ((subj = strtok_r(NULL, "\t", &save)) != NULL) {
			int m;

			unescape(subj);
			m = kmm_regex_match(re, subj, err, sizeof(err));
			putchar(m < 0 ? 'E' : m ? '1' : '0');
		}
		putchar('\n');
		kmm_regex_free(re);
	}
	free(line);
	return 0;
}
