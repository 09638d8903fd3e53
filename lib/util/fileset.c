// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileset.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#define FILESET_MAX 16

struct member {
	char name[NAME_MAX + 1];
	char tmp[NAME_MAX + 1];
};

struct kmi_fileset {
	char *dir;
	int dirfd;
	bool durable;
	pthread_mutex_t lock; /* members may be added from several threads */
	size_t n;
	struct member m[FILESET_MAX];
};

/*
 * The signal handler needs the temp names without locks or allocation, so
 * the one live set is published here (kmodimg writes one set at a time).
 */
static struct kmi_fileset *volatile live_set;
static volatile sig_atomic_t live_n;

static void on_fatal_signal(int sig)
{
	struct kmi_fileset *set = live_set;
	if (set != NULL) {
		for (sig_atomic_t i = 0; i < live_n; i++)
			unlinkat(set->dirfd, set->m[i].tmp, 0);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static const int fatal_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static void install_handlers(void)
{
	struct sigaction sa = { .sa_handler = on_fatal_signal };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		struct sigaction old;
		if (sigaction(fatal_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue; /* keep nohup and friends working */
		sigaction(fatal_signals[i], &sa, NULL);
	}
}

int kmi_fileset_open(const char *dir, bool durable, struct kmi_fileset **out)
{
	struct kmi_fileset *set;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		int err = -errno;
		kmi_log(KMI_LOG_CRIT, "could not open directory %s: %s\n", dir, strerror(errno));
		return err;
	}
	set = xcalloc(1, sizeof(*set));
	set->dir = xstrdup(dir);
	set->dirfd = fd;
	set->durable = durable;
	pthread_mutex_init(&set->lock, NULL);
	live_n = 0;
	live_set = set;
	install_handlers();
	*out = set;
	return 0;
}

int kmi_fileset_add(struct kmi_fileset *set, const char *name, const void *data, size_t len)
{
	struct member *m;
	int fd, err;

	if (strlen(name) > NAME_MAX - 24)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&set->lock);
	if (set->n == FILESET_MAX) {
		pthread_mutex_unlock(&set->lock);
		return -ENOSPC;
	}
	m = &set->m[set->n];
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->tmp, sizeof(m->tmp), ".%s.kmodimg-%ld", name, (long)getpid());
	unlinkat(set->dirfd, m->tmp, 0); /* a stale one from a crashed run with our pid */
	fd = openat(set->dirfd, m->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		pthread_mutex_unlock(&set->lock);
		kmi_err("could not create %s/%s: %s\n", set->dir, m->tmp, strerror(errno));
		return err;
	}
	set->n++;
	live_n = (sig_atomic_t)set->n;
	pthread_mutex_unlock(&set->lock);
	/* 0644 less the umask, as kmod 30 creates them */
	err = kmi_write_all(fd, data, len);
	if (err == 0 && set->durable && fdatasync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && err == 0)
		err = -errno;
	if (err < 0)
		kmi_err("could not write %s/%s: %s\n", set->dir, name, strerror(-err));
	return err;
}

int kmi_fileset_commit(struct kmi_fileset *set)
{
	sigset_t all, old;
	int err = 0;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	for (size_t i = 0; i < set->n; i++) {
		if (renameat(set->dirfd, set->m[i].tmp, set->dirfd, set->m[i].name) < 0) {
			err = -errno;
			kmi_err("could not rename %s/%s to %s: %s\n", set->dir, set->m[i].tmp,
				set->m[i].name, strerror(errno));
			break;
		}
		set->m[i].tmp[0] = '\0';
	}
	if (err == 0 && set->durable && fsync(set->dirfd) < 0 && errno != EINVAL)
		err = -errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return err;
}

void kmi_fileset_free(struct kmi_fileset *set)
{
	if (set == NULL)
		return;
	live_set = NULL;
	live_n = 0;
	for (size_t i = 0; i < set->n; i++) {
		if (set->m[i].tmp[0] != '\0')
			unlinkat(set->dirfd, set->m[i].tmp, 0);
	}
	close(set->dirfd);
	pthread_mutex_destroy(&set->lock);
	free(set->dir);
	free(set);
}
