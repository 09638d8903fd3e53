// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "depmod/config.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"

/* depmod.d files are a few lines: anything this big is not one */
#define CONFIG_FILE_MAX (16u << 20)

static const char *const default_paths[] = {
	"/etc/depmod.d",
	"/run/depmod.d",
	"/usr/local/lib/depmod.d",
	"/lib/depmod.d",
	NULL,
};

static struct kmi_cfg_path *path_new(const char *a, const char *b)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0;
	struct kmi_cfg_path *p = xmalloc(sizeof(*p) + la + lb + 2);

	memcpy(p->path, a, la);
	p->len = la;
	if (b != NULL) {
		p->path[la] = '/';
		memcpy(p->path + la + 1, b, lb);
		p->len = la + 1 + lb;
	}
	p->path[p->len] = '\0';
	return p;
}

static void push(struct kmi_cfg_path **list, struct kmi_cfg_path *p)
{
	p->next = *list;
	*list = p;
}

static void search_add(struct kmi_depmod_cfg *cfg, const char *path)
{
	struct kmi_cfg_search *s;
	enum kmi_search_type type = KMI_SEARCH_PATH;
	size_t len = strlen(path);

	if (streq(path, "built-in"))
		type = KMI_SEARCH_BUILTIN;
	else if (streq(path, "external"))
		type = KMI_SEARCH_EXTERNAL;
	if (type != KMI_SEARCH_PATH)
		len = 0;
	s = xmalloc(sizeof(*s) + len + 1);
	s->type = type;
	s->len = len;
	memcpy(s->path, path, len);
	s->path[len] = '\0';
	s->next = cfg->searches;
	cfg->searches = s;
}

/*
 * Kernel-version patterns are POSIX extended regexes, as in kmod.  Stacked
 * repetitions ("a++", "(a*)*") can make glibc's matcher take exponential
 * memory, and no kernel version needs them: such a pattern, or one longer
 * than KERNEL_PATTERN_MAX, is reported and matches nothing.
 */
#define KERNEL_PATTERN_MAX 256

static bool is_quantifier(char c)
{
	return c == '*' || c == '+' || c == '?' || c == '{';
}

static const char *pattern_problem(const char *p)
{
	size_t n = strlen(p);

	if (n > KERNEL_PATTERN_MAX)
		return "longer than 256 characters";
	for (size_t i = 1; i < n; i++) {
		if (!is_quantifier(p[i]))
			continue;
		if (is_quantifier(p[i - 1]) || p[i - 1] == '}' || p[i - 1] == ')')
			return "repeats a repetition or a group";
	}
	return NULL;
}

static bool kernel_matches(const struct kmi_depmod_cfg *cfg, const char *filename, unsigned lineno,
			   const char *pattern)
{
	const char *why;
	regex_t re;
	int status;

	if (streq(pattern, "*"))
		return true;
	if ((why = pattern_problem(pattern)) != NULL) {
		kmi_err("%s:%u: kernel pattern '%.64s' %s: ignored\n", filename, lineno, pattern, why);
		return false;
	}
	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	status = regexec(&re, cfg->kver, 0, NULL, 0);
	regfree(&re);
	return status == 0;
}

static void parse_line(struct kmi_depmod_cfg *cfg, const char *filename, unsigned lineno,
		       char *line)
{
	char *save = NULL, *cmd, *a, *b, *c;

	if (line[0] == '\0' || line[0] == '#')
		return;
	cmd = strtok_r(line, "\t ", &save);
	if (cmd == NULL)
		return;

	if (streq(cmd, "search")) {
		while ((a = strtok_r(NULL, "\t ", &save)) != NULL)
			search_add(cfg, a);
	} else if (streq(cmd, "override")) {
		a = strtok_r(NULL, "\t ", &save);
		b = strtok_r(NULL, "\t ", &save);
		c = strtok_r(NULL, "\t ", &save);
		if (a == NULL || b == NULL || c == NULL)
			goto syntax_error;
		if (!kernel_matches(cfg, filename, lineno, b)) {
			kmi_info("%s:%u: override kernel did not match %s\n", filename, lineno, b);
			return;
		}
		push(&cfg->overrides, path_new(c, a));
	} else if (streq(cmd, "external")) {
		a = strtok_r(NULL, "\t ", &save);
		b = strtok_r(NULL, "\t ", &save);
		if (a == NULL || b == NULL)
			goto syntax_error;
		if (!kernel_matches(cfg, filename, lineno, a)) {
			kmi_info("%s:%u: external directory did not match %s\n", filename, lineno,
				 a);
			return;
		}
		push(&cfg->externals, path_new(b, NULL));
	} else if (streq(cmd, "exclude")) {
		while ((a = strtok_r(NULL, "\t ", &save)) != NULL)
			push(&cfg->excludes, path_new(a, NULL));
	} else if (streq(cmd, "include") || streq(cmd, "make_map_files")) {
		kmi_info("%s:%u: command %s not implemented yet\n", filename, lineno, cmd);
	} else {
		goto syntax_error;
	}
	return;

syntax_error:
	kmi_err("%s:%u: ignoring bad line starting with '%s'\n", filename, lineno, cmd);
}

void kmi_depmod_cfg_parse(struct kmi_depmod_cfg *cfg, const char *filename, const char *text,
			  size_t len)
{
	struct kmi_buf line = { 0 };
	unsigned lineno = 0, joined = 0;
	size_t i = 0;

	/*
	 * The line reader of kmod's freadline_wrapped(): a backslash-newline
	 * joins lines, a backslash before anything else is dropped.
	 */
	for (;;) {
		int ch = i < len ? (unsigned char)text[i++] : EOF;

		if (ch == EOF && line.len == 0)
			break;
		if (ch == EOF || ch == '\n') {
			kmi_buf_putc(&line, '\0');
			lineno += joined + 1;
			joined = 0;
			/* An embedded NUL ends the line early, as it would for kmod. */
			parse_line(cfg, filename, lineno, line.data);
			line.len = 0;
			if (ch == EOF)
				break;
			continue;
		}
		if (ch == '\\') {
			ch = i < len ? (unsigned char)text[i++] : 0xff;
			if (ch == '\n') {
				joined++;
				continue;
			}
		}
		kmi_buf_putc(&line, (char)ch);
	}
	kmi_buf_free(&line);
}

struct cfg_file {
	char *name; /* basename, the merge key */
	char *path;
};

struct cfg_files {
	struct cfg_file *f;
	size_t n;
};

static void files_insert_sorted(struct cfg_files *files, const char *name, char *path)
{
	size_t i;

	for (i = 0; i < files->n; i++) {
		int c = strcmp(name, files->f[i].name);
		if (c == 0) {
			free(path); /* first directory wins */
			return;
		}
		if (c < 0)
			break;
	}
	files->f = xreallocarray(files->f, files->n + 1, sizeof(*files->f));
	memmove(files->f + i + 1, files->f + i, (files->n - i) * sizeof(*files->f));
	files->f[i].name = xstrdup(name);
	files->f[i].path = path;
	files->n++;
}

static void files_list(struct cfg_files *files, const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (stat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		const char *slash = strrchr(path, '/');
		files_insert_sorted(files, slash ? slash + 1 : path, xstrdup(path));
		return;
	}
	d = opendir(path);
	if (d == NULL) {
		kmi_err("files list %s: %s\n", path, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		size_t len = strlen(name);

		if (name[0] == '.')
			continue;
		if (len < 6 || !streq(name + len - 5, ".conf")) {
			kmi_info("All cfg files need .conf: %s/%s\n", path, name);
			continue;
		}
		if (fstatat(dirfd(d), name, &st, 0) == 0 && S_ISDIR(st.st_mode)) {
			kmi_err("Directories inside directories are not supported: %s/%s\n", path,
				name);
			continue;
		}
		files_insert_sorted(files, name, xasprintf("%s/%s", path, name));
	}
	closedir(d);
}

void kmi_depmod_cfg_load(struct kmi_depmod_cfg *cfg, const char *const *paths)
{
	struct cfg_files files = { 0 };

	if (paths == NULL)
		paths = default_paths;
	for (size_t i = 0; paths[i] != NULL; i++)
		files_list(&files, paths[i]);

	for (size_t i = 0; i < files.n; i++) {
		struct kmi_buf text = { 0 };
		int err = kmi_read_file(files.f[i].path, CONFIG_FILE_MAX, &text);

		if (err < 0)
			kmi_err("file parse %s: %s\n", files.f[i].path, strerror(-err));
		else
			kmi_depmod_cfg_parse(cfg, files.f[i].path, text.data ? text.data : "",
					     text.len);
		kmi_buf_free(&text);
		free(files.f[i].name);
		free(files.f[i].path);
	}
	free(files.f);

	/* kmod's backward compatibility: "updates" first when no search line was given */
	if (cfg->searches == NULL)
		search_add(cfg, "updates");
}

static void free_paths(struct kmi_cfg_path *p)
{
	while (p) {
		struct kmi_cfg_path *n = p->next;
		free(p);
		p = n;
	}
}

void kmi_depmod_cfg_free(struct kmi_depmod_cfg *cfg)
{
	while (cfg->searches) {
		struct kmi_cfg_search *n = cfg->searches->next;
		free(cfg->searches);
		cfg->searches = n;
	}
	free_paths(cfg->overrides);
	free_paths(cfg->externals);
	free_paths(cfg->excludes);
	cfg->overrides = cfg->externals = cfg->excludes = NULL;
}

bool kmi_depmod_cfg_excluded(const struct kmi_depmod_cfg *cfg, const char *name)
{
	if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
		return true;
	if (streq(name, "build") || streq(name, "source"))
		return true;
	for (const struct kmi_cfg_path *e = cfg->excludes; e; e = e->next) {
		if (streq(name, e->path))
			return true;
	}
	return false;
}
