// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A small YAML writer for trees we build ourselves (strings, numbers,
 * booleans, null, objects, arrays).  Every string that YAML 1.1 or 1.2
 * could read as something else, or that has special characters, is
 * double-quoted with JSON escapes (a JSON string is a valid YAML one).
 */
#include <stdlib.h>
#include <string.h>

#include "kmm/output.h"
#include "kmm/yamldoc.h"

/* Whether YAML syntax lets s be a plain scalar (libyaml's emitter analysis, simplified). */
static bool plain_syntax_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || s[0] == ' ' || s[n - 1] == ' ' || s[n - 1] == ':')
		return false;
	if (strchr("?:,[]{}#&*!|>'\"%@`", s[0]) != NULL)
		return false;
	if (s[0] == '-' && (s[1] == ' ' || s[1] == '\0'))
		return false;
	if (strncmp(s, "---", 3) == 0 || strncmp(s, "...", 3) == 0)
		return false;
	if (strstr(s, ": ") != NULL || strstr(s, " #") != NULL)
		return false;
	return true;
}

static bool has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

/* A YAML double-quoted scalar: JSON-like escapes, other bytes as they are. */
static void emit_quoted(struct kmi_buf *out, const char *s)
{
	kmi_buf_putc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			kmi_buf_putc(out, '\\');
			kmi_buf_putc(out, (char)*p);
		} else if (*p == '\n') {
			kmi_buf_puts(out, "\\n");
		} else if (*p == '\t') {
			kmi_buf_puts(out, "\\t");
		} else if (*p < 0x20 || *p == 0x7f) {
			kmi_buf_printf(out, "\\x%02x", *p);
		} else {
			kmi_buf_putc(out, (char)*p);
		}
	}
	kmi_buf_putc(out, '"');
}

static void emit_single_quoted(struct kmi_buf *out, const char *s)
{
	kmi_buf_putc(out, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			kmi_buf_putc(out, '\'');
		kmi_buf_putc(out, *s);
	}
	kmi_buf_putc(out, '\'');
}

/* As go-yaml writes strings: plain if it reads back as the same string. */
static void emit_string(struct kmi_buf *out, const char *s)
{
	if (has_control(s) || kmm_yaml_resolve_plain(s) != KMM_YPLAIN_STR)
		emit_quoted(out, s);
	else if (!plain_syntax_ok(s))
		emit_single_quoted(out, s);
	else
		kmi_buf_puts(out, s);
}

static void indent(struct kmi_buf *out, int n)
{
	for (int i = 0; i < n; i++)
		kmi_buf_putc(out, ' ');
}

static bool is_empty_container(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v) == 0) ||
	       (json_is_array(v) && json_array_size(v) == 0);
}

static void emit_scalar(struct kmi_buf *out, const json_t *v)
{
	char *s;

	if (json_is_string(v)) {
		emit_string(out, json_string_value(v));
		return;
	}
	if (json_is_object(v)) {
		kmi_buf_puts(out, "{}");
		return;
	}
	if (json_is_array(v)) {
		kmi_buf_puts(out, "[]");
		return;
	}
	s = json_dumps(v, JSON_ENCODE_ANY);
	kmi_buf_puts(out, s ? s : "null");
	free(s);
}

static void emit_node(struct kmi_buf *out, const json_t *v, int level);

static void emit_object(struct kmi_buf *out, const json_t *v, int level, bool first_inline)
{
	const char *k;
	json_t *val;
	bool first = true;

	json_object_foreach((json_t *)v, k, val) {
		if (!(first && first_inline))
			indent(out, level);
		first = false;
		emit_string(out, k);
		kmi_buf_putc(out, ':');
		if ((json_is_object(val) || json_is_array(val)) && !is_empty_container(val)) {
			kmi_buf_putc(out, '\n');
			/* sequences under a key are not indented further, as kubectl prints them */
			emit_node(out, val, json_is_array(val) ? level : level + 2);
		} else {
			kmi_buf_putc(out, ' ');
			emit_scalar(out, val);
			kmi_buf_putc(out, '\n');
		}
	}
}

static void emit_array(struct kmi_buf *out, const json_t *v, int level)
{
	size_t i;
	json_t *item;

	json_array_foreach((json_t *)v, i, item) {
		indent(out, level);
		kmi_buf_puts(out, "- ");
		if (json_is_object(item) && json_object_size(item) > 0) {
			emit_object(out, item, level + 2, true);
		} else if (json_is_array(item) && json_array_size(item) > 0) {
			kmi_buf_putc(out, '\n');
			emit_array(out, item, level + 2);
		} else {
			emit_scalar(out, item);
			kmi_buf_putc(out, '\n');
		}
	}
}

static void emit_node(struct kmi_buf *out, const json_t *v, int level)
{
	if (json_is_object(v) && json_object_size(v) > 0)
		emit_object(out, v, level, false);
	else if (json_is_array(v) && json_array_size(v) > 0)
		emit_array(out, v, level);
	else {
		emit_scalar(out, v);
		kmi_buf_putc(out, '\n');
	}
}

void kmm_yaml_emit(struct kmi_buf *out, const json_t *v)
{
	emit_node(out, v, 0);
}

void kmm_json_emit(struct kmi_buf *out, const json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

	kmi_buf_puts(out, s ? s : "null");
	kmi_buf_putc(out, '\n');
	free(s);
}
