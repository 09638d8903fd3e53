// SPDX-License-Identifier: LGPL-2.1-or-later
/* The files depmod writes, in kmod's order, formats and priorities. */
#include <ctype.h>
#include <stdatomic.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "depmod/depmod-internal.h"
#include "depmod/index.h"
#include "util/fileset.h"
#include "util/log.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/parallel.h"
#include "util/xalloc.h"

/* kmod's symbol hash has 2048 buckets; modules.symbols is in its order. */
#define SYMBOL_BUCKETS 2048


static const char *mod_out_path(const struct mod *m)
{
	return m->relpath ? m->relpath : m->path;
}

static int dep_cmp(const void *pa, const void *pb)
{
	const struct mod *a = *(struct mod *const *)pa, *b = *(struct mod *const *)pb;
	return a->dep_sort_idx < b->dep_sort_idx ? -1 : (a->dep_sort_idx > b->dep_sort_idx);
}

/* "path: dep dep ...", every dependency once, the most basic last. */
static void mod_line(struct mod *mod, struct kmi_buf *b)
{
	struct mod **all = NULL;
	size_t n = 0, cap = 0;
	uint32_t stamp = mod->idx + 1;

	kmi_buf_puts(b, mod_out_path(mod));
	kmi_buf_putc(b, ':');
	/* depth-first over deps; the stamp marks what this line already holds */
	struct mod **stack = NULL;
	size_t sn = 0, scap = 0;
	for (uint32_t i = mod->n_deps; i-- > 0;) {
		if (sn == scap) {
			scap = scap ? scap * 2 : 16;
			stack = xreallocarray(stack, scap, sizeof(*stack));
		}
		stack[sn++] = mod->deps[i];
	}
	while (sn > 0) {
		struct mod *d = stack[--sn];
		if (d->stamp == stamp)
			continue;
		d->stamp = stamp;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			all = xreallocarray(all, cap, sizeof(*all));
		}
		all[n++] = d;
		for (uint32_t i = d->n_deps; i-- > 0;) {
			if (sn == scap) {
				scap *= 2;
				stack = xreallocarray(stack, scap, sizeof(*stack));
			}
			stack[sn++] = d->deps[i];
		}
	}
	if (n > 1)
		qsort(all, n, sizeof(*all), dep_cmp);
	for (size_t i = 0; i < n; i++) {
		kmi_buf_putc(b, ' ');
		kmi_buf_puts(b, mod_out_path(all[i]));
	}
	free(all);
	free(stack);
}

struct outputs {
	struct kmi_buf dep, alias, softdep, symbols, devname;
	struct kmi_buf dep_bin, alias_bin, symbols_bin, builtin_bin, builtin_alias_bin;
	bool builtin_missing, builtin_alias_missing;
	struct depmod *dm;
	struct kmi_fileset *set; /* NULL with -n or an output callback */
	pthread_mutex_t output_mu; /* the callback sees one call at a time */
	atomic_int err;           /* the first failure, from any task */
};

static void set_err(struct outputs *o, int err)
{
	int none = 0;
	if (err < 0)
		atomic_compare_exchange_strong(&o->err, &none, err);
}

/* Writes and frees an index; a string libkmod cannot index fails the run, as in kmod. */
static void finish_index(struct depmod *dm, struct outputs *o, struct kmi_index *idx,
			 struct kmi_buf *b, const char *name)
{
	int err = kmi_index_write(idx, (enum kmi_index_order)dm->o->order, b);

	if (err == -EINVAL)
		kmi_err("%s: cannot index \"%.200s\": only 7-bit ASCII is supported\n", name,
			kmi_index_bad_string(idx));
	else if (err < 0)
		kmi_err("%s: index too large: %s\n", name, strerror(-err));
	set_err(o, err);
	kmi_index_free(idx);
}

static void out_deps(struct depmod *dm, struct outputs *o, bool bin)
{
	struct kmi_index *idx = bin ? kmi_index_new(dm->o->warn_dups) : NULL;
	struct kmi_buf line = { 0 };

	/* stamps are per line: reset them once, lines use idx + 1 */
	for (size_t i = 0; i < dm->n_mods; i++)
		dm->mods[i]->stamp = 0;
	for (size_t i = 0; i < dm->n_mods; i++) {
		struct mod *mod = dm->mods[i];
		line.len = 0;
		mod_line(mod, &line);
		kmi_buf_put(&o->dep, line.data, line.len);
		kmi_buf_putc(&o->dep, '\n');
		if (idx) {
			kmi_buf_putc(&line, '\0');
			if (kmi_index_add(idx, mod->modname, line.data, mod->idx) &&
			    dm->o->warn_dups)
				kmi_warn("duplicate module deps:\n%s\n", line.data);
		}
	}
	if (idx)
		finish_index(dm, o, idx, &o->dep_bin, "modules.dep.bin");
	kmi_buf_free(&line);
}

/*
 * kmod's alias_normalize(): '-' becomes '_' except inside [...] classes; an
 * unmatched bracket rejects the alias.  Keys stop at PATH_MAX - 1 characters.
 */
static int alias_normalize(const char *alias, char buf[PATH_MAX])
{
	size_t i;

	for (i = 0; i < PATH_MAX - 1; i++) {
		char c = alias[i];
		if (c == '\0')
			break;
		if (c == '-') {
			buf[i] = '_';
		} else if (c == ']') {
			return -EINVAL;
		} else if (c == '[') {
			while (alias[i] != ']' && alias[i] != '\0' && i < PATH_MAX - 1) {
				buf[i] = alias[i];
				i++;
			}
			if (alias[i] != ']')
				return -EINVAL;
			buf[i] = ']';
		} else {
			buf[i] = c;
		}
	}
	buf[i] = '\0';
	return 0;
}

static void out_aliases(struct depmod *dm, struct outputs *o, bool bin)
{
	struct kmi_index *idx = bin ? kmi_index_new(dm->o->warn_dups) : NULL;
	char buf[PATH_MAX];

	kmi_buf_puts(&o->alias, "# Aliases extracted from modules themselves.\n");
	kmi_buf_puts(&o->softdep, "# Soft dependencies extracted from modules themselves.\n");
	for (size_t i = 0; i < dm->n_mods; i++) {
		const struct mod *mod = dm->mods[i];
		for (uint32_t k = 0; k < mod->file.n_info; k++) {
			const struct kmi_modinfo_kv *kv = &mod->file.info[k];
			if (streq(kv->key, "softdep")) {
				kmi_buf_printf(&o->softdep, "softdep %s %s\n", mod->modname, kv->value);
				continue;
			}
			if (!streq(kv->key, "alias"))
				continue;
			kmi_buf_printf(&o->alias, "alias %s %s\n", kv->value, mod->modname);
			if (!idx)
				continue;
			if (alias_normalize(kv->value, buf) < 0) {
				kmi_warn("Unmatched bracket in %s\n", kv->value);
				continue;
			}
			if (kmi_index_add(idx, buf, mod->modname, mod->idx) && dm->o->warn_dups)
				kmi_warn("duplicate module alias:\n%s %s\n", buf, mod->modname);
		}
	}
	if (idx)
		finish_index(dm, o, idx, &o->alias_bin, "modules.alias.bin");
}

struct owned_symbol {
	const struct symbol *sym;
	uint32_t bucket;
};

static int owned_cmp(const void *pa, const void *pb)
{
	const struct owned_symbol *a = pa, *b = pb;
	if (a->bucket != b->bucket)
		return a->bucket < b->bucket ? -1 : 1;
	return strcmp(a->sym->name, b->sym->name);
}

static void out_symbols(struct depmod *dm, struct outputs *o, bool bin)
{
	struct kmi_index *idx = bin ? kmi_index_new(dm->o->warn_dups) : NULL;
	struct owned_symbol *v = xmalloc((dm->symbols.count + 1) * sizeof(*v));
	struct kmi_buf key = { 0 };
	size_t n = 0;

	for (size_t i = 0; i <= dm->symbols.mask; i++) {
		const struct symbol *sym = dm->symbols.slots[i].value;
		if (dm->symbols.slots[i].hash == 0 || sym->owner == NULL)
			continue;
		v[n].sym = sym;
		v[n].bucket = kmi_hash_superfast(sym->name, strlen(sym->name)) &
			      (SYMBOL_BUCKETS - 1);
		n++;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), owned_cmp);

	kmi_buf_puts(&o->symbols, "# Aliases for symbols, used by symbol_request().\n");
	for (size_t i = 0; i < n; i++) {
		const struct symbol *sym = v[i].sym;
		kmi_buf_printf(&o->symbols, "alias symbol:%s %s\n", sym->name, sym->owner->modname);
		if (!idx)
			continue;
		key.len = 0;
		kmi_buf_puts(&key, "symbol:");
		kmi_buf_putsz(&key, sym->name);
		if (kmi_index_add(idx, key.data, sym->owner->modname, sym->owner->idx) &&
		    dm->o->warn_dups)
			kmi_warn("duplicate module syms:\n%s %s\n", key.data, sym->owner->modname);
	}
	if (idx)
		finish_index(dm, o, idx, &o->symbols_bin, "modules.symbols.bin");
	kmi_buf_free(&key);
	free(v);
}

static void out_devname(struct depmod *dm, struct outputs *o)
{
	for (size_t i = 0; i < dm->n_mods; i++) {
		const struct mod *mod = dm->mods[i];
		const char *devname = NULL;
		char type = '\0';
		unsigned major = 0, minor = 0;

		for (uint32_t k = 0; k < mod->file.n_info; k++) {
			const struct kmi_modinfo_kv *kv = &mod->file.info[k];
			unsigned maj, min;

			if (!streq(kv->key, "alias"))
				continue;
			if (strncmp(kv->value, "devname:", 8) == 0) {
				devname = kv->value + 8;
			} else if (sscanf(kv->value, "char-major-%u-%u", &maj, &min) == 2) {
				type = 'c';
				major = maj;
				minor = min;
			} else if (sscanf(kv->value, "block-major-%u-%u", &maj, &min) == 2) {
				type = 'b';
				major = maj;
				minor = min;
			}
			if (type != '\0' && devname != NULL)
				break;
		}
		if (devname == NULL)
			continue;
		if (type == '\0') {
			kmi_err("Module '%s' has devname (%s) but lacks major and minor information. "
				"Ignoring.\n", mod->modname, devname);
			continue;
		}
		if (o->devname.len == 0)
			kmi_buf_puts(&o->devname, "# Device nodes to trigger on-demand module loading.\n");
		kmi_buf_printf(&o->devname, "%s %s %c%u:%u\n", mod->modname, devname, type, major,
			       minor);
	}
}

static int read_input(const struct depmod *dm, const char *name, struct kmi_buf *b)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dm->dirname, name);
	int err = kmi_read_file(path, 1u << 30, b);

	if (err < 0)
		kmi_warn("could not open %s at %s: %s\n", name, dm->dirname, strerror(-err));
	return err;
}

/* modules.builtin: "kernel/fs/ext4/ext4.ko" lines to names, as fgets() and kmod see them. */
static void out_builtin(struct depmod *dm, struct outputs *o)
{
	struct kmi_buf in = { 0 };
	struct kmi_index *idx;
	size_t pos = 0;

	if (read_input(dm, "modules.builtin", &in) < 0) {
		o->builtin_missing = true;
		kmi_buf_free(&in);
		return;
	}
	idx = kmi_index_new(dm->o->warn_dups);
	while (pos < in.len) {
		char line[PATH_MAX], name[PATH_MAX];
		size_t left = in.len - pos, len;
		const char *nl, *base;

		if (left > PATH_MAX - 1)
			left = PATH_MAX - 1;
		nl = memchr(in.data + pos, '\n', left);
		len = nl ? (size_t)(nl - (in.data + pos)) + 1 : left;
		memcpy(line, in.data + pos, len);
		line[len] = '\0';
		pos += len;
		if (!isalpha((unsigned char)line[0])) {
			kmi_err("Invalid modules.builtin line: %s\n", line);
			continue;
		}
		base = strrchr(line, '/');
		base = base ? base + 1 : line;
		if (*base == '\0')
			continue;
		modname_normalize(base, name, sizeof(name), NULL);
		kmi_index_add(idx, name, "", 0);
	}
	finish_index(dm, o, idx, &o->builtin_bin, "modules.builtin.bin");
	kmi_buf_free(&in);
}

/*
 * Reads up to `end` (or a NUL, or the end), as kmod's flush_stream_to();
 * returns the length if `end` was met, 0 otherwise.
 */
static size_t take_until(const struct kmi_buf *in, size_t *pos, char end, char *dst, size_t cap)
{
	size_t i = 0;
	int c = EOF;

	while (*pos < in->len) {
		c = (unsigned char)in->data[(*pos)++];
		if (c == end || c == '\0')
			break;
		if (dst != NULL) {
			if (i == cap) {
				i--; /* kmod warns and drops the last character */
				break;
			}
			dst[i++] = (char)c;
		}
		c = EOF;
	}
	if (c != end)
		i = 0; /* kmod's callers terminate at the length returned: nothing */
	if (dst != NULL)
		dst[i] = '\0';
	return i;
}

/* modules.builtin.modinfo: NUL-separated "module.key=value" records; aliases only. */
static void out_builtin_alias(struct depmod *dm, struct outputs *o)
{
	struct kmi_buf in = { 0 };
	struct kmi_index *idx;
	size_t pos = 0;
	static char modname[PATH_MAX], key[PATH_MAX], value[PATH_MAX], alias[PATH_MAX];

	if (read_input(dm, "modules.builtin.modinfo", &in) < 0) {
		o->builtin_alias_missing = true;
		kmi_buf_free(&in);
		return;
	}
	idx = kmi_index_new(dm->o->warn_dups);
	while (pos < in.len) {
		if (take_until(&in, &pos, '.', modname, PATH_MAX - 1) == 0)
			continue;
		take_until(&in, &pos, '=', key, PATH_MAX - 1);
		if (!streq(key, "alias")) {
			take_until(&in, &pos, '\0', NULL, 0);
			continue;
		}
		if (take_until(&in, &pos, '\0', value, PATH_MAX - 1) == 0)
			continue;
		if (alias_normalize(value, alias) < 0) {
			kmi_warn("Unmatched bracket in %s\n", value);
			continue;
		}
		kmi_index_add(idx, alias, modname, 0);
	}
	finish_index(dm, o, idx, &o->builtin_alias_bin, "modules.builtin.alias.bin");
	kmi_buf_free(&in);
}

static void outputs_free(struct outputs *o)
{
	struct kmi_buf *all[] = { &o->dep,         &o->alias,       &o->softdep,
				  &o->symbols,     &o->devname,     &o->dep_bin,
				  &o->alias_bin,   &o->symbols_bin, &o->builtin_bin,
				  &o->builtin_alias_bin };
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		kmi_buf_free(all[i]);
}


static void put(struct outputs *o, const char *name, const struct kmi_buf *b)
{
	const struct kmodimg_depmod_opts *opts = o->dm->o;
	int err;

	if (opts->output != NULL && !opts->dry_run) {
		pthread_mutex_lock(&o->output_mu);
		err = opts->output(opts->output_ctx, name, b->data ? b->data : "", b->len);
		pthread_mutex_unlock(&o->output_mu);
		set_err(o, err);
		return;
	}
	if (o->set == NULL)
		return;
	err = kmi_fileset_add(o->set, name, b->data ? b->data : "", b->len);
	set_err(o, err);
}

/*
 * The three big indexes are independent: build and write them at once.
 * Their messages (-w duplicates, unmatched brackets) come from one task
 * each, except with -w, where all run in turn to keep kmod's order.
 */
static void index_task(void *p, size_t i, unsigned worker)
{
	struct outputs *o = p;
	struct depmod *dm = o->dm;
	bool bin = !dm->o->dry_run;

	switch (i) {
	case 0:
		out_deps(dm, o, bin);
		put(o, "modules.dep", &o->dep);
		put(o, "modules.dep.bin", &o->dep_bin);
		break;
	case 1:
		out_aliases(dm, o, bin);
		put(o, "modules.alias", &o->alias);
		put(o, "modules.alias.bin", &o->alias_bin);
		put(o, "modules.softdep", &o->softdep);
		break;
	case 2:
		out_symbols(dm, o, bin);
		put(o, "modules.symbols", &o->symbols);
		put(o, "modules.symbols.bin", &o->symbols_bin);
		break;
	}
	(void)worker;
}

static int open_set(struct depmod *dm, struct outputs *o)
{
	int err;

	if (dm->o->outdir != NULL && (err = kmi_mkdir_p(dm->outdirname, 0755)) < 0) {
		kmi_log(KMI_LOG_CRIT, "could not create directory %s: %s\n", dm->outdirname,
			strerror(-err));
		return err;
	}
	return kmi_fileset_open(dm->outdirname, false, &o->set);
}

static int print_text(struct outputs *o)
{
	const struct kmi_buf *text[] = { &o->dep, &o->alias, &o->softdep, &o->symbols,
					 &o->devname };

	for (size_t i = 0; i < ARRAY_SIZE(text); i++)
		fwrite(text[i]->data ? text[i]->data : "", 1, text[i]->len, stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		kmi_err("could not write to standard output: %s\n", strerror(errno));
		return -EIO;
	}
	return 0;
}

int depmod_output(struct depmod *dm)
{
	struct outputs o = { .dm = dm, .output_mu = PTHREAD_MUTEX_INITIALIZER };
	bool bin = !dm->o->dry_run;
	bool to_files = bin && dm->o->output == NULL;
	int err = 0;

	if (to_files && (err = open_set(dm, &o)) < 0)
		return err;
	kmi_parallel_for(3, dm->o->warn_dups ? 1 : depmod_threads(dm), index_task, &o);
	if (bin) {
		out_builtin(dm, &o);
		put(&o, "modules.builtin.bin", &o.builtin_bin);
		out_builtin_alias(dm, &o);
		put(&o, "modules.builtin.alias.bin", &o.builtin_alias_bin);
	}
	out_devname(dm, &o);
	put(&o, "modules.devname", &o.devname);

	if (atomic_load(&o.err) < 0)
		err = atomic_load(&o.err);
	else if (dm->o->dry_run)
		err = print_text(&o);
	else if (to_files)
		err = kmi_fileset_commit(o.set);
	kmi_fileset_free(o.set);
	outputs_free(&o);
	return err;
}
