// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Go's regexp (RE2 syntax) on top of PCRE2.  The syntaxes share a large
 * common core with the same meaning; a pre-pass rejects what RE2 rejects
 * (backreferences, lookaround, atomic groups, possessive quantifiers,
 * recursion, conditionals, callouts, verbs, \C and escapes Go does not
 * know) and rewrites what PCRE2 reads otherwise: \v (a vertical tab in
 * RE2), \s (no vertical tab in RE2), octal escapes, a '[' in a class,
 * repeated assertions (^* is legal in RE2), and flag groups, which are not
 * atoms in RE2 ("a(?i)*" repeats the 'a').  PCRE2 is then set up like RE2:
 * $ only at the very end, UTF-8.  tests/integration/kmm-regex-go.sh holds
 * the result against Go's regexp itself.  RE2 runs in linear time; PCRE2
 * backtracks, so a match limit turns a pathological pattern into an error
 * instead of a hang.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmm/kmm.h"
#include "util/buf.h"
#include "util/lazylib.h"

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
	if (c == 'x') {
		/* Go: exactly two hex digits, or any number in braces */
		size_t k = 0;

		if (p[1] == '{') {
			k = 2;
			while (isxdigit((unsigned char)p[k]))
				k++;
			if (p[k] != '}' || k == 2) {
				snprintf(err, errlen, "invalid escape sequence: `\\x`");
				return -1;
			}
			k++;
		} else if (isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
			k = 3;
		} else {
			snprintf(err, errlen, "invalid escape sequence: `\\x`");
			return -1;
		}
		kmi_buf_putc(out, '\\');
		kmi_buf_put(out, p, k);
		*pp = p + k;
		return 0;
	}
	if (c == 'p' || c == 'P') {
		/* one token: \pL or \p{Name} */
		size_t k = p[1] == '{' ? strcspn(p, "}") + 1 : 2;

		if (p[1] == '\0' || (p[1] == '{' && p[k - 1] != '}')) {
			snprintf(err, errlen, "invalid character class range: `\\%c`", c);
			return -1;
		}
		kmi_buf_putc(out, '\\');
		kmi_buf_put(out, p, k);
		*pp = p + k;
		return 0;
	}
	if (!in_class && strchr("AzbB", c) != NULL) {
		/* a group, so that a repeat of it is legal in PCRE2 as it is in RE2 */
		kmi_buf_printf(out, "(?:\\%c)", c);
		*pp = p + 1;
		return 0;
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

/* "(?i)" and the like: flags only, no group. Returns its length, or 0. */
static size_t flags_only(const char *p)
{
	size_t k = 2;

	if (p[0] != '(' || p[1] != '?')
		return 0;
	while (p[k] && strchr("imsU-", p[k]))
		k++;
	return k > 2 && p[k] == ')' ? k + 1 : 0;
}

/*
 * In RE2 a flag group is not an atom: "a(?i)*" repeats the 'a'.  PCRE2
 * would refuse the repeat, so flag groups wait in `pending` and go out
 * after a quantifier that follows them.
 */
static void flush(struct kmi_buf *out, struct kmi_buf *pending)
{
	if (pending->len == 0)
		return;
	kmi_buf_put(out, pending->data, pending->len);
	pending->len = 0;
}

/* Wraps out[from..] in a non-capturing group, so that it can be repeated again. */
static void wrap_group(struct kmi_buf *out, size_t from)
{
	kmi_buf_reserve(out, 4);
	memmove(out->data + from + 3, out->data + from, out->len - from);
	memcpy(out->data + from, "(?:", 3);
	out->len += 3;
	kmi_buf_putc(out, ')');
}

struct xlate {
	struct kmi_buf *out;
	struct kmi_buf pending; /* flag groups waiting for the next token */
	size_t atom;            /* where the last atom (with its repeats) starts in out */
	bool atom_repeated;
	size_t *groups;         /* start of each open group in out */
	size_t depth;
};

static int quantifier(struct xlate *x, const char **pp, bool *quantified, char *err, size_t errlen)
{
	const char *p = *pp;
	size_t n = 1;
	int bad = 0;

	if (*p == '{') {
		n = repeat(p, err, errlen, &bad);
		if (bad)
			return -1;
	}
	if (*quantified) {
		snprintf(err, errlen, "invalid nested repetition operator: `%.*s`", (int)n, p);
		return -1;
	}
	/* RE2: "a*(?i)*" repeats "a*" again, which PCRE2 only takes as a group */
	if (x->pending.len > 0 && x->atom_repeated)
		wrap_group(x->out, x->atom);
	kmi_buf_put(x->out, p, n);
	p += n;
	if (*p == '?')
		kmi_buf_putc(x->out, *p++); /* non-greedy */
	if (*p == '+') {
		snprintf(err, errlen, "invalid nested repetition operator (possessive `+` is not RE2)");
		return -1;
	}
	flush(x->out, &x->pending);
	x->atom_repeated = true;
	*quantified = true;
	*pp = p;
	return 0;
}

static int atom(struct xlate *x, const char **pp, char *err, size_t errlen)
{
	const char *p = *pp;
	int r = 0;

	flush(x->out, &x->pending);
	x->atom = x->out->len;
	x->atom_repeated = false;
	if (*p == '\\') {
		p++;
		if (*p == 'Q')
			p = quoted(p + 1, x->out);
		else
			r = escape(&p, x->out, false, err, errlen);
	} else if (*p == '[') {
		p++;
		r = char_class(&p, x->out, err, errlen);
	} else if (*p == '(') {
		x->groups[x->depth++] = x->out->len;
		r = group(&p, x->out, err, errlen);
	} else if (*p == ')' && x->depth > 0) {
		kmi_buf_putc(x->out, *p++);
		x->atom = x->groups[--x->depth]; /* a repeat after ')' takes the whole group */
	} else if (*p == '^' || *p == '$') {
		kmi_buf_printf(x->out, "(?:%c)", *p++); /* repeatable, as in RE2 */
	} else {
		kmi_buf_putc(x->out, *p++);
	}
	*pp = p;
	return r;
}

static int translate(const char *pat, struct kmi_buf *out, char *err, size_t errlen)
{
	struct xlate x = { .out = out };
	const char *p = pat;
	bool quantified = false; /* the last token was a quantifier */
	int r = 0;

	x.groups = calloc(strlen(pat) + 1, sizeof(*x.groups));
	if (x.groups == NULL)
		abort();
	kmi_buf_reserve(&x.pending, 16);
	while (*p && r == 0) {
		size_t n = 0;
		int bad = 0;

		if (*p == '*' || *p == '+' || *p == '?' ||
		    (*p == '{' && ((n = repeat(p, err, errlen, &bad)) > 0 || bad))) {
			r = quantifier(&x, &p, &quantified, err, errlen);
			continue;
		}
		quantified = false;
		if ((n = flags_only(p)) > 0) {
			kmi_buf_put(&x.pending, p, n);
			p += n;
			continue;
		}
		r = atom(&x, &p, err, errlen);
	}
	flush(out, &x.pending);
	kmi_buf_free(&x.pending);
	free(x.groups);
	if (r < 0)
		return -1;
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

	if (kmi_pcre2_load(NULL) < 0) {
		snprintf(errbuf, errlen, "cannot load libpcre2-8.so.0 (install libpcre2-8-0)");
		return NULL;
	}
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
