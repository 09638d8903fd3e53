// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Finding and reading the modules at once, on every CPU.
 *
 * kmod's depmod walks the tree depth-first in raw readdir() order and the
 * order decides between equal-priority duplicates, so the walk cannot simply
 * be split.  Instead each thread takes whole directories from a queue, reads
 * each module it meets right away (openat() on the directory it holds: no
 * path lookups), and tags every finding with its position in the serial
 * walk: the readdir() index of each component on the way down.  Sorting by
 * that key afterwards replays exactly what a serial walk would have met, in
 * the same order, messages included.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "depmod/depmod-internal.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/parallel.h"
#include "util/xalloc.h"

#define MAX_DEPTH 256

struct job {
	struct job *next;
	char *path; /* with a trailing '/' */
	size_t len;
	bool via_link;
	struct dir_id *anc; /* directories above this one, for loop detection */
	uint16_t n_anc;
	uint16_t depth;
	uint32_t key[];
};

struct found {
	uint32_t *key;
	uint16_t depth;
	char *path;   /* a module; NULL for a message */
	size_t baselen, namelen;
	struct kmi_modfile file;
	int read_err;
	char *msg;
	int prio;
	bool strict;
};

struct worker {
	struct scan *s;
	unsigned id;
	struct kmi_modreader reader;
	struct found *f;
	size_t n, cap;
};

struct scan {
	struct depmod *dm;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *queue;
	unsigned active;
	unsigned flags;
};

static struct found *found_new(struct worker *w, const struct job *j, uint32_t idx)
{
	struct found *f;

	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 256;
		w->f = xreallocarray(w->f, w->cap, sizeof(*w->f));
	}
	f = &w->f[w->n++];
	memset(f, 0, sizeof(*f));
	f->depth = (uint16_t)(j->depth + 1);
	f->key = xmalloc(f->depth * sizeof(uint32_t));
	memcpy(f->key, j->key, j->depth * sizeof(uint32_t));
	f->key[j->depth] = idx;
	return f;
}

static void note(struct worker *w, const struct job *j, uint32_t idx, int prio, bool strict,
		 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void note(struct worker *w, const struct job *j, uint32_t idx, int prio, bool strict,
		 const char *fmt, ...)
{
	struct found *f = found_new(w, j, idx);
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&f->msg, fmt, ap) < 0)
		f->msg = NULL;
	va_end(ap);
	f->prio = prio;
	f->strict = strict;
}

static void push(struct scan *s, struct job *j)
{
	pthread_mutex_lock(&s->lock);
	j->next = s->queue;
	s->queue = j;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static struct job *job_new(const char *path, size_t len, const struct job *parent, uint32_t idx,
			   const struct dir_id *self, bool via_link)
{
	uint16_t depth = parent ? (uint16_t)(parent->depth + 1) : 1;
	struct job *j = xcalloc(1, sizeof(*j) + depth * sizeof(uint32_t));

	j->path = xmalloc(len + 2);
	memcpy(j->path, path, len);
	j->path[len] = '/';
	j->path[len + 1] = '\0';
	j->len = len + 1;
	j->via_link = via_link;
	j->depth = depth;
	if (parent) {
		memcpy(j->key, parent->key, parent->depth * sizeof(uint32_t));
		j->n_anc = (uint16_t)(parent->n_anc + 1);
		j->anc = xmalloc(j->n_anc * sizeof(*j->anc));
		if (parent->n_anc > 0)
			memcpy(j->anc, parent->anc, parent->n_anc * sizeof(*j->anc));
		j->anc[parent->n_anc] = *self;
	}
	j->key[depth - 1] = idx;
	return j;
}

static void job_free(struct job *j)
{
	free(j->path);
	free(j->anc);
	free(j);
}

/* A name stat() cannot follow: say why, naming a link's target. */
static void unfollowable(struct worker *w, const struct job *j, uint32_t idx, int dfd,
			 const char *name, const char *path, int err)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
	int prio = w->s->dm->o->keep_going ? KMI_LOG_WARN : KMI_LOG_ERR;

	if (n < 0) {
		note(w, j, idx, prio, true, "fstatat(%s): %s\n", path, strerror(err));
		return;
	}
	target[n] = '\0';
	if (err == ENOENT)
		note(w, j, idx, prio, true, "dangling symlink %s -> %s: the target does not exist\n",
		     path, target);
	else if (err == ELOOP)
		note(w, j, idx, prio, true, "symlink loop at %s -> %s\n", path, target);
	else
		note(w, j, idx, prio, true, "symlink %s -> %s cannot be followed: %s\n", path, target,
		     strerror(err));
}

static void read_dir(struct worker *w, struct job *j)
{
	struct depmod *dm = w->s->dm;
	int prio = dm->o->keep_going ? KMI_LOG_WARN : KMI_LOG_ERR;
	int fd = open(j->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct kmi_buf path = { 0 };
	struct dir_id self;
	struct stat st;
	struct dirent *de;
	uint32_t idx = 0;
	DIR *d;

	if (fd < 0) {
		note(w, j, 0, prio, true, "could not open directory %.*s: %s\n", (int)j->len - 1,
		     j->path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) == 0) {
		self = (struct dir_id){ st.st_dev, st.st_ino };
		for (uint16_t i = 0; i < j->n_anc; i++) {
			if (j->anc[i].dev != st.st_dev || j->anc[i].ino != st.st_ino)
				continue;
			if (j->via_link) {
				char target[PATH_MAX] = "?";
				ssize_t n;
				j->path[j->len - 1] = '\0';
				n = readlink(j->path, target, sizeof(target) - 1);
				if (n >= 0)
					target[n] = '\0';
				note(w, j, 0, prio, true,
				     "symlink loop: %s -> %s leads back into a directory above it; "
				     "not followed\n", j->path, target);
			}
			close(fd);
			return;
		}
	} else {
		self = (struct dir_id){ 0, 0 };
	}
	d = fdopendir(fd);
	if (d == NULL) {
		note(w, j, 0, KMI_LOG_ERR, false, "fdopendir(%s): %s\n", j->path, strerror(errno));
		close(fd);
		return;
	}
	kmi_buf_put(&path, j->path, j->len);
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		size_t namelen = strlen(name);
		bool is_dir, is_link = de->d_type == DT_LNK;

		idx++;
		if (kmi_depmod_cfg_excluded(&dm->cfg, name))
			continue;
		path.len = j->len;
		kmi_buf_put(&path, name, namelen + 1);
		if (de->d_type == DT_REG) {
			is_dir = false;
		} else if (de->d_type == DT_DIR) {
			is_dir = true;
		} else {
			if (fstatat(dirfd(d), name, &st, 0) < 0) {
				unfollowable(w, j, idx, dirfd(d), name, path.data, errno);
				continue;
			}
			if (S_ISREG(st.st_mode)) {
				is_dir = false;
			} else if (S_ISDIR(st.st_mode)) {
				is_dir = true;
			} else {
				note(w, j, idx, KMI_LOG_ERR, false, "unsupported file type %s: %o\n",
				     path.data, st.st_mode & S_IFMT);
				continue;
			}
			if (de->d_type == DT_UNKNOWN) {
				struct stat lst;
				is_link = fstatat(dirfd(d), name, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
					  S_ISLNK(lst.st_mode);
			}
		}
		if (is_dir) {
			if (j->depth < MAX_DEPTH)
				push(w->s, job_new(path.data, j->len + namelen, j, idx, &self, is_link));
			else
				note(w, j, idx, prio, true, "%s: directories nested too deep\n", path.data);
			continue;
		}
		if (!depmod_ext_ok(name, namelen))
			continue;
		struct found *f = found_new(w, j, idx);
		f->path = xstrdup(path.data);
		f->baselen = j->len;
		f->namelen = namelen;
		f->read_err = kmi_modfile_read_at(&w->reader, dirfd(d), name,
						  &dm->thread_arenas[w->id], w->s->flags, &f->file);
	}
	closedir(d);
	kmi_buf_free(&path);
}

static void work(void *p, size_t i, unsigned id)
{
	struct worker *w = &((struct worker *)p)[id];
	struct scan *s = w->s;

	(void)i;
	for (;;) {
		struct job *j;

		pthread_mutex_lock(&s->lock);
		while (s->queue == NULL && s->active > 0)
			pthread_cond_wait(&s->cond, &s->lock);
		j = s->queue;
		if (j == NULL) {
			pthread_cond_broadcast(&s->cond);
			pthread_mutex_unlock(&s->lock);
			return;
		}
		s->queue = j->next;
		s->active++;
		pthread_mutex_unlock(&s->lock);

		read_dir(w, j);
		job_free(j);

		pthread_mutex_lock(&s->lock);
		s->active--;
		if (s->queue == NULL && s->active == 0)
			pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
	}
}

static int key_cmp(const void *pa, const void *pb)
{
	const struct found *a = *(struct found *const *)pa, *b = *(struct found *const *)pb;
	uint16_t n = a->depth < b->depth ? a->depth : b->depth;

	for (uint16_t i = 0; i < n; i++) {
		if (a->key[i] != b->key[i])
			return a->key[i] < b->key[i] ? -1 : 1;
	}
	return a->depth < b->depth ? -1 : (a->depth > b->depth);
}

/* Replays the findings in serial-walk order: messages, then kmod's duplicate rules. */
static void replay(struct depmod *dm, struct worker *w, unsigned n)
{
	struct found **all;
	size_t total = 0, k = 0;

	for (unsigned t = 0; t < n; t++)
		total += w[t].n;
	all = xmalloc((total ? total : 1) * sizeof(*all));
	for (unsigned t = 0; t < n; t++) {
		for (size_t i = 0; i < w[t].n; i++)
			all[k++] = &w[t].f[i];
	}
	if (total > 1)
		qsort(all, total, sizeof(*all), key_cmp);
	for (size_t i = 0; i < total; i++) {
		struct found *f = all[i];
		if (f->msg != NULL) {
			kmi_log(f->prio, "%s", f->msg);
			dm->strict_errors += f->strict;
			continue;
		}
		struct mod *mod = depmod_search_file(dm, f->path, f->baselen, f->namelen);
		if (mod != NULL) {
			mod->file = f->file;
			mod->read_err = f->read_err;
		}
	}
	free(all);
}

int depmod_scan(struct depmod *dm)
{
	struct scan s = { .dm = dm };
	unsigned n = dm->o->threads > 0 ? (unsigned)dm->o->threads : kmi_cpu_count(16);
	struct worker *w = xcalloc(n, sizeof(*w));
	struct job *roots = NULL;
	uint32_t root_idx = 0;
	int ret = 0;

	/* -e reports each import once, in order: that needs the exact match */
	s.flags = dm->o->errsyms && (dm->o->symvers || dm->o->system_map) ? KMI_MODFILE_EXACT_CRCS : 0;
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	dm->thread_arenas = xcalloc(n, sizeof(*dm->thread_arenas));
	dm->sym_arenas = xcalloc(n, sizeof(*dm->sym_arenas));
	dm->n_thread_arenas = n;
	for (unsigned t = 0; t < n; t++) {
		w[t] = (struct worker){ .s = &s, .id = t };
		w[t].reader.sym_arena = &dm->sym_arenas[t];
	}

	/* the module directory itself must open; missing external directories are skipped */
	{
		int fd = open(dm->dirname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			kmi_err("could not open directory %s: %s\n", dm->dirname, strerror(errno));
			goto out;
		}
		close(fd);
	}
	roots = job_new(dm->dirname, dm->dirnamelen, NULL, root_idx++, NULL, false);
	for (const struct kmi_cfg_path *ext = dm->cfg.externals; ext; ext = ext->next) {
		struct job *j = job_new(ext->path, ext->len, NULL, root_idx++, NULL, false);
		struct stat st;
		if (stat(ext->path, &st) < 0) {
			job_free(j);
			continue;
		}
		j->next = roots;
		roots = j;
	}
	s.queue = roots;
	kmi_parallel_for(n, n, work, w);
	replay(dm, w, n);
out:
	for (unsigned t = 0; t < n; t++) {
		for (size_t i = 0; i < w[t].n; i++) {
			free(w[t].f[i].key);
			free(w[t].f[i].path);
			free(w[t].f[i].msg);
		}
		free(w[t].f);
		kmi_modreader_free(&w[t].reader);
	}
	free(w);
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.cond);
	return ret;
}
