// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Removing what no run needs any more, so that a node whose tags move does
 * not fill its disk with old trees (up to 400 MB each): a tree no record
 * under .refs names, the temp dir of an extraction that was killed, a
 * record whose tree is gone and the firmware record of a tree that is gone.
 * It runs only after a record changed (a new reference, or one that
 * resolves to another tree), so a run that reuses its tree pays nothing,
 * and only under the state lock: every run that uses or extracts a tree
 * holds it, so nothing removed here is in use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "oci/extract.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/strmap.h"
#include "worker/worker.h"

#define TREE_PREFIX "sha256-"
#define TREE_NAME_LEN (sizeof(TREE_PREFIX) - 1 + 64)

struct gc {
	const char *state_dir; /* for messages */
	int fd;                /* the state dir */
	const char *keep;      /* the tree this run uses */
	struct kmi_strmap named; /* trees a record names */
	struct kmi_buf names;    /* the keys of named */
};

/* "sha256-" and 64 hex digits at the start of s. */
static bool tree_prefix(const char *s)
{
	return strncmp(s, TREE_PREFIX, strlen(TREE_PREFIX)) == 0 &&
	       strspn(s + strlen(TREE_PREFIX), "0123456789abcdef") >= 64;
}

static bool tree_name(const char *s)
{
	return tree_prefix(s) && strlen(s) == TREE_NAME_LEN;
}

/* `sha256-HEX.kmodimg-tmp-PID-XXXXXX`: kmi_extract_layers()' temp dir for a new tree. */
static bool temp_name(const char *s)
{
	return tree_prefix(s) && strncmp(s + TREE_NAME_LEN, ".kmodimg-tmp-", 13) == 0;
}

static bool dir_at(int fd, const char *name)
{
	struct stat st;

	return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* A record's tree: its target up to "@", if that is a directory of the state dir. */
static bool record_names_tree(struct gc *g, char *target)
{
	char *at = strchr(target, '@');

	if (at != NULL)
		*at = '\0';
	return target[0] != '\0' && target[0] != '.' && strchr(target, '/') == NULL &&
	       dir_at(g->fd, target);
}

static void scan_record(struct gc *g, int refs, const char *name)
{
	char target[256];
	ssize_t n;

	/* remember_ref()'s `.tmp-PID`, left by a killed run: nobody else writes now */
	if (name[0] == '.') {
		unlinkat(refs, name, 0);
		return;
	}
	n = readlinkat(refs, name, target, sizeof(target) - 1);
	if (n < 0)
		return; /* not a symlink: not ours */
	target[n] = '\0';
	if (record_names_tree(g, target)) {
		kmi_buf_putsz(&g->names, target);
		return;
	}
	kmi_info("removing the record `%s/.refs/%s`: its tree `%s` is gone\n", g->state_dir, name,
		 target);
	unlinkat(refs, name, 0);
}

/* Fills g->named from .refs, dropping records that name no tree. */
static void scan_records(struct gc *g)
{
	_cleanup_close_ int refs = openat(g->fd, ".refs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct kmi_buf names = { 0 };

	if (refs >= 0 && kmi_list_dir(refs, &names) >= 0) {
		for (size_t off = 0; off < names.len; off += strlen(names.data + off) + 1)
			scan_record(g, refs, names.data + off);
	}
	kmi_buf_free(&names);
	/* keys last: g->names moves while it grows */
	kmi_strmap_init(&g->named, 16);
	for (size_t off = 0; off < g->names.len; off += strlen(g->names.data + off) + 1)
		kmi_strmap_put(&g->named, g->names.data + off, g->names.data + off);
}

static void remove_temp(struct gc *g, const char *name)
{
	int r = kmi_rm_rf_at(g->fd, name);

	if (r < 0)
		kmi_warn("could not remove the temp dir of an interrupted extraction `%s/%s` fully: %s\n",
			 g->state_dir, name, strerror(-r));
	else
		kmi_info("removed the temp dir of an interrupted extraction `%s/%s`\n", g->state_dir,
			 name);
}

/*
 * A tree's name promises a complete tree: it is renamed to a temp dir's
 * name first, so that one removed halfway is extracted again when needed
 * and its rest removed by the next collection (or extraction).
 */
static void remove_tree(struct gc *g, const char *name)
{
	char tmp[TREE_NAME_LEN + 64];
	unsigned long long rnd = 0;
	int r;

	/* random, not only the pid: in a container every run may be pid 1 */
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = (unsigned long long)time(NULL) ^ (unsigned long long)getpid() << 32;
	snprintf(tmp, sizeof(tmp), "%s.kmodimg-tmp-%d-remove-%016llx", name, (int)getpid(), rnd);
	if (renameat(g->fd, name, g->fd, tmp) < 0) {
		kmi_warn("could not remove the unused tree `%s/%s`: %s\n", g->state_dir, name,
			 strerror(errno));
		return;
	}
	if ((r = kmi_rm_rf_at(g->fd, tmp)) < 0)
		kmi_warn("could not remove the unused tree `%s/%s` fully (its rest is `%s`): %s\n",
			 g->state_dir, name, tmp, strerror(-r));
	else
		kmi_info("removed the unused tree `%s/%s`\n", g->state_dir, name);
}

/*
 * A tree this cleanup renamed and could not remove fully (nobody else uses
 * such a name), or the temp dir of an extraction that is over.
 */
static bool temp_abandoned(struct gc *g, const char *name)
{
	return strstr(name + TREE_NAME_LEN, "-remove") != NULL ||
	       kmi_extract_temp_stale(g->fd, name);
}

static void collect_entry(struct gc *g, const char *name)
{
	if (tree_name(name)) {
		if (streq(name, g->keep) || kmi_strmap_get(&g->named, name) != NULL ||
		    !dir_at(g->fd, name))
			return;
		remove_tree(g, name);
	} else if (temp_name(name) && temp_abandoned(g, name)) {
		remove_temp(g, name);
	}
}

/* .firmware/<tree> (tools/node.c) of a tree that is gone, and temp files beside them. */
static void collect_firmware_records(struct gc *g)
{
	_cleanup_close_ int fd = openat(g->fd, ".firmware", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct kmi_buf names = { 0 };

	if (fd >= 0 && kmi_list_dir(fd, &names) >= 0) {
		for (size_t off = 0; off < names.len; off += strlen(names.data + off) + 1) {
			const char *name = names.data + off;
			if (!dir_at(g->fd, name))
				unlinkat(fd, name, 0);
		}
	}
	kmi_buf_free(&names);
}

void kmi_state_collect(const char *state_dir, const char *keep)
{
	struct gc g = { .state_dir = state_dir, .keep = keep };
	struct kmi_buf names = { 0 };

	g.fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g.fd < 0)
		return;
	scan_records(&g);
	if (kmi_list_dir(g.fd, &names) >= 0) {
		for (size_t off = 0; off < names.len; off += strlen(names.data + off) + 1)
			collect_entry(&g, names.data + off);
	}
	collect_firmware_records(&g);
	kmi_buf_free(&names);
	kmi_strmap_free(&g.named);
	kmi_buf_free(&g.names);
	close(g.fd);
}
