// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Go's regexp (RE2 syntax) on top of PCRE2.  The syntaxes share a large
 * common core with the same meaning; a pre-pass rejects what RE2 rejects
 * (backreferences, lookaround, atomic groups, possessive quantifiers,
 * recursion, conditionals, callouts, verbs, \C and escapes Go does not
 * know) and rewrites the one escape whose meaning differs (\v).  PCRE2 is
 * then set up like RE2: $ only at the very end, UTF-8, no auto-callouts.
 * RE2 runs in linear time; PCRE2 backtracks, so a match limit turns a
 * pathological pattern into an error instead of a hang.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmm/kmm.h"
#include "util/buf.h"

#define RE2_MAX_REPEAT 1000
#define MATCH_LIMIT 1000000

struct kmm_regex {
	pcre2_code *code;
	pcre2_match_context *mctx;
};

/* Escapes Go accepts, outside and inside classes (besides punctuation and octal). */
static bool go_escape_letter(char c)
{
	return strchr("afnrtvxpPdDsSwWbBAzQE", c) != NULL;
}

static bool is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Checks one escape at p (after the backslash); appends its PCRE form. */
static int escape(const char **pp, struct kmi_buf *out, bool in_class, char *err, size_t errlen)
{
	const char *p = *pp;
	char c = *p;

	if (c == '\0') {
		snprintf(err, errlen, "trailing backslash at end of expression");
		return -1;
	}
	if (c >= '1' && c <= '9' && !(c <= '7' && p[1] >= '0' && p[1] <= '7')) {
		snprintf(err, errlen, "invalid escape sequence: `\\%c` (backreferences are not RE2)", c);
		return -1;
	}
	if (is_word(c) && !(c >= '0' && c <= '9') && !go_escape_letter(c)) {
		snprintf(err, errlen, "invalid escape sequence: `\\%c`", c);
		return -1;
	}
	if (c == 'v') {
		kmi_buf_puts(out, "\\x0B"); /* RE2: vertical tab; PCRE2: any vertical space */
	} else if ((c == 's' || c == 'S') && !in_class) {
		/* RE2's \s is [\t\n\f\r ]; PCRE2's also takes the vertical tab */
		kmi_buf_puts(out, c == 's' ? "[\\t\\n\\f\\r ]" : "[^\\t\\n\\f\\r ]");
	} else if (c == 's') {
		kmi_buf_puts(out, "\\t\\n\\f\\r ");
	} else if (c >= '0' && c <= '7') {
		/* Go: up to three octal digits; PCRE2 would read \12 as a back reference */
		unsigned v = 0;
		int k = 0;

		while (k < 3 && p[k] >= '0' && p[k] <= '7')
			v = v * 8 + (unsigned)(p[k++] - '0');
		kmi_buf_printf(out, "\\x{%x}", v);
		*pp = p + k;
		return 0;
	} else {
		kmi_buf_putc(out, '\\');
		kmi_buf_putc(out, c);
	}
	*pp = p + 1;
	return 0;
}

/* \Q...\E: copied verbatim (both engines treat it as literal text). */
static const char *quoted(const char *p, struct kmi_buf *out)
{
	const char *end = strstr(p, "\\E");
	size_t n = end ? (size_t)(end - p) + 2 : strlen(p);

	kmi_buf_puts(out, "\\Q");
	kmi_buf_put(out, p, n);
	return p + n;
}

static int char_class(const char **pp, struct kmi_buf *out, char *err, size_t errlen)
{
	const char *p = *pp; /* just after '[' */

	kmi_buf_putc(out, '[');
	if (*p == '^')
		kmi_buf_putc(out, *p++);
	if (*p == ']')
		kmi_buf_putc(out, *p++);
	while (*p != ']') {
		if (*p == '\0') {
			snprintf(err, errlen, "missing closing ]");
			return -1;
		}
		if (*p == '[' && p[1] == ':') {
			const char *e = strstr(p + 2, ":]");

			if (e == NULL) {
				kmi_buf_putc(out, *p++);
				continue;
			}
			kmi_buf_put(out, p, (size_t)(e + 2 - p));
			p = e + 2;
			continue;
		}
		if (*p == '[') {
			/* RE2: a plain '[' in a class; PCRE2 could read "[=" or "[." as POSIX syntax */
			kmi_buf_puts(out, "\\[");
			p++;
			continue;
		}
		if (*p == '\\') {
			p++;
			if (*p == 'Q' || *p == 'E' || *p == 'b' || *p == 'B' || *p == 'A' || *p == 'z') {
				snprintf(err, errlen, "invalid escape sequence in class: `\\%c`", *p);
				return -1;
			}
			if (escape(&p, out, true, err, errlen) < 0)
				return -1;
			continue;
		}
		kmi_buf_putc(out, *p++);
	}
	kmi_buf_putc(out, ']');
	*pp = p + 1;
	return 0;
}

/* "(?" forms: only flags [imsU], non-capturing groups and named groups. */
static int group(const char **pp, struct kmi_buf *out, char *err, size_t errlen)
{
	const char *p = *pp; /* at '(' */

	if (p[1] == '*') {
		snprintf(err, errlen, "missing argument to repetition operator: `*`");
		return -1;
	}
	if (p[1] != '?') {
		kmi_buf_putc(out, '(');
		*pp = p + 1;
		return 0;
	}
	if (p[2] == 'P' && p[3] == '<')
		p += 4;
	else if (p[2] == '<' && p[3] != '=' && p[3] != '!')
		p += 3;
	else
		p = NULL;
	if (p != NULL) {
		const char *name = p;

		while (is_word(*p))
			p++;
		if (*p != '>' || p == name) {
			snprintf(err, errlen, "invalid named capture");
			return -1;
		}
		kmi_buf_puts(out, "(?<");
		kmi_buf_put(out, name, (size_t)(p - name));
		kmi_buf_putc(out, '>');
		*pp = p + 1;
		return 0;
	}
	p = *pp + 2;
	while (*p && strchr("imsU-", *p))
		p++;
	if ((*p == ')' || *p == ':') && p > *pp + 2 - (*p == ':')) {
		kmi_buf_put(out, *pp, (size_t)(p + 1 - *pp));
		*pp = p + 1;
		return 0;
	}
	snprintf(err, errlen, "invalid or unsupported Perl syntax: `%.*s` (not RE2)",
		 (int)(strnlen(*pp, 3)), *pp);
	return -1;
}

/* {n}, {n,}, {n,m}: returns the length, 0 if not a repeat (then it is a literal '{'). */
static size_t repeat(const char *p, char *err, size_t errlen, int *bad)
{
	const char *q = p + 1;
	long lo = -1, hi = -1;
	char *end;

	*bad = 0;
	if (*q < '0' || *q > '9')
		return 0;
	lo = strtol(q, &end, 10);
	q = end;
	if (*q == ',') {
		q++;
		if (*q >= '0' && *q <= '9') {
			hi = strtol(q, &end, 10);
			q = end;
		}
	}
	if (*q != '}')
		return 0;
	if (lo > RE2_MAX_REPEAT || hi > RE2_MAX_REPEAT || (hi >= 0 && hi < lo)) {
		snprintf(err, errlen, "invalid repeat count: `%.*s`", (int)(q + 1 - p), p);
		*bad = 1;
	}
	return (size_t)(q + 1 - p);
}

static int translate(const char *pat, struct kmi_buf *out, char *err, size_t errlen)
{
	const char *p = pat;
	bool quantified = false; /* the last token was a quantifier */

	while (*p) {
		size_t n = 0;
		int bad = 0;

		if (*p == '*' || *p == '+' || *p == '?' ||
		    (*p == '{' && (n = repeat(p, err, errlen, &bad)) > 0)) {
			if (*p == '{' && bad)
				return -1;
			n = *p == '{' ? repeat(p, err, errlen, &bad) : 1;
			if (quantified) {
				snprintf(err, errlen, "invalid nested repetition operator: `%.*s`",
					 (int)n, p);
				return -1;
			}
			kmi_buf_put(out, p, n);
			p += n;
			if (*p == '?')
				kmi_buf_putc(out, *p++); /* non-greedy */
			if (*p == '+') {
				snprintf(err, errlen, "invalid nested repetition operator (possessive `+` is not RE2)");
				return -1;
			}
			quantified = true;
			continue;
		}
		quantified = false;
		if (*p == '\\') {
			p++;
			if (*p == 'Q') {
				p = quoted(p + 1, out);
				continue;
			}
			if (escape(&p, out, false, err, errlen) < 0)
				return -1;
		} else if (*p == '[') {
			p++;
			if (char_class(&p, out, err, errlen) < 0)
				return -1;
		} else if (*p == '(') {
			if (group(&p, out, err, errlen) < 0)
				return -1;
		} else {
			kmi_buf_putc(out, *p++);
		}
	}
	kmi_buf_putc(out, '\0');
	return 0;
}

struct kmm_regex *kmm_regex_compile(const char *pattern, char *errbuf, size_t errlen)
{
	struct kmi_buf pcre = { 0 };
	struct kmm_regex *re;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int code;

	if (translate(pattern, &pcre, errbuf, errlen) < 0) {
		kmi_buf_free(&pcre);
		return NULL;
	}
	re = calloc(1, sizeof(*re));
	if (re == NULL)
		abort();
	re->code = pcre2_compile((PCRE2_SPTR)pcre.data, PCRE2_ZERO_TERMINATED,
				 PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C |
					 PCRE2_MATCH_INVALID_UTF,
				 &code, &off, NULL);
	kmi_buf_free(&pcre);
	if (re->code == NULL) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(errbuf, errlen, "%s", (char *)msg);
		free(re);
		return NULL;
	}
	re->mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(re->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, MATCH_LIMIT);
	return re;
}

int kmm_regex_match(const struct kmm_regex *re, const char *subject, char *errbuf, size_t errlen)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
	int r = pcre2_match(re->code, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, re->mctx);
	PCRE2_UCHAR msg[256];

	pcre2_match_data_free(md);
	if (r >= 0)
		return 1;
	if (r == PCRE2_ERROR_NOMATCH)
		return 0;
	pcre2_get_error_message(r, msg, sizeof(msg));
	snprintf(errbuf, errlen, "matching: %s", (char *)msg);
	return -1;
}

void kmm_regex_free(struct kmm_regex *re)
{
	if (re == NULL)
		return;
	pcre2_code_free(re->code);
	pcre2_match_context_free(re->mctx);
	free(re);
}
