// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Finding the modules: a depth-first walk in raw readdir() order, as kmod's
 * depmod does (the order decides between equal-priority duplicates), which
 * follows symlinks and records what it finds under the link's path.  Unlike
 * kmod it refuses dangling links and never follows a link back into a
 * directory it is inside.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "depmod/depmod-internal.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"

static const char *const exts[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz" };

bool depmod_ext_ok(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
		size_t el = strlen(exts[i]);
		if (len > el && memcmp(name + len - el, exts[i], el) == 0)
			return true;
	}
	return false;
}

bool kmi_modfile_name_ok(const char *name)
{
	return depmod_ext_ok(name, strlen(name));
}

/* kmod's modname_normalize(): the name up to the first '.', '-' as '_'. */
const char *modname_normalize(const char *name, char *buf, size_t bufsz, size_t *len)
{
	size_t s;

	for (s = 0; s < bufsz - 1; s++) {
		char c = name[s];
		if (c == '\0' || c == '.')
			break;
		buf[s] = c == '-' ? '_' : c;
	}
	buf[s] = '\0';
	if (len)
		*len = s;
	return buf;
}

static bool starts_with_dir(const char *path, size_t pathlen, const char *prefix, size_t plen)
{
	return pathlen > plen && path[plen] == '/' && memcmp(path, prefix, plen) == 0;
}

/*
 * kmod's depmod_module_is_higher_priority(): true when the module already
 * found should be kept over newpath.  The lengths cover the path up to the
 * end of the module name, without the extension, and the quirks are kmod's
 * (a search entry that matches the new path is never also tried on the old).
 */
static bool keep_existing(const struct depmod *dm, const struct mod *mod, size_t baselen,
			  size_t modnamelen, const char *newpath)
{
	const struct kmi_depmod_cfg *cfg = &dm->cfg;
	size_t newlen = baselen + modnamelen, oldlen = mod->baselen + mod->modnamesz;
	const char *oldpath = mod->path, *relnew = NULL, *relold = NULL;
	size_t relnewlen = 0, reloldlen = 0;
	int i = 0, bprio = -1, oldprio = -1, newprio = -1;

	if (strncmp(newpath, dm->dirname, dm->dirnamelen) == 0) {
		relnew = newpath + dm->dirnamelen + 1;
		relnewlen = newlen - (dm->dirnamelen + 1);
	}
	if (strncmp(oldpath, dm->dirname, dm->dirnamelen) == 0) {
		relold = oldpath + dm->dirnamelen + 1;
		reloldlen = oldlen - (dm->dirnamelen + 1);
	}

	for (const struct kmi_cfg_path *ov = cfg->overrides; ov; ov = ov->next) {
		if (relnew && relnewlen == ov->len && memcmp(ov->path, relnew, relnewlen) == 0)
			return false;
		if (relold && reloldlen == ov->len && memcmp(ov->path, relold, reloldlen) == 0)
			return true;
	}

	for (const struct kmi_cfg_search *se = cfg->searches; se; se = se->next, i++) {
		if (se->type == KMI_SEARCH_BUILTIN) {
			bprio = i;
		} else if (se->type == KMI_SEARCH_EXTERNAL) {
			for (const struct kmi_cfg_path *ext = cfg->externals; ext; ext = ext->next, i++) {
				if (starts_with_dir(newpath, newlen, ext->path, ext->len))
					newprio = i;
				if (starts_with_dir(oldpath, oldlen, ext->path, ext->len))
					oldprio = i;
			}
		} else if (relnew && relnewlen > se->len && relnew[se->len] == '/' &&
			   memcmp(se->path, relnew, se->len) == 0) {
			newprio = i;
		} else if (relold && reloldlen > se->len && relold[se->len] == '/' &&
			   memcmp(se->path, relold, se->len) == 0) {
			oldprio = i;
		}
	}
	if (newprio < 0)
		newprio = bprio;
	if (oldprio < 0)
		oldprio = bprio;
	return newprio <= oldprio;
}

static void mod_forget(struct depmod *dm, struct mod *mod)
{
	kmi_strmap_del(&dm->by_name, mod->modname);
	if (mod->uncrelpath)
		kmi_strmap_del(&dm->by_uncrelpath, mod->uncrelpath);
	for (size_t i = 0; i < dm->n_mods; i++) {
		if (dm->mods[i] == mod)
			dm->mods[i] = NULL;
	}
	free(mod->path);
	free(mod->uncrelpath);
	free(mod->modname);
	free(mod);
}

static struct mod *mod_add(struct depmod *dm, const char *path, const char *modname,
			   size_t modnamelen)
{
	struct mod *mod = xcalloc(1, sizeof(*mod));
	const char *lastslash;

	mod->path = xstrdup(path);
	mod->modname = xstrndup(modname, modnamelen);
	mod->modnamesz = modnamelen + 1;
	mod->sort_idx = 1; /* kmod: modules.count + 1, and the array is empty while walking */
	lastslash = strrchr(mod->path, '/');
	mod->baselen = lastslash ? (size_t)(lastslash - mod->path) : 0;
	if (strncmp(mod->path, dm->dirname, dm->dirnamelen) == 0 &&
	    mod->path[dm->dirnamelen] == '/')
		mod->relpath = mod->path + dm->dirnamelen + 1;

	if (kmi_strmap_get(&dm->by_name, mod->modname) != NULL) {
		kmi_err("could not add module %s: %s\n", path, strerror(EEXIST));
		free(mod->path);
		free(mod->modname);
		free(mod);
		return NULL;
	}
	kmi_strmap_put(&dm->by_name, mod->modname, mod);
	if (mod->relpath != NULL) {
		/*
		 * kmod keeps the directory and len(modname) + 3 characters of the
		 * file name: "dir/vfat.ko.xz" becomes "dir/vfat.ko".
		 */
		size_t dirlen = lastslash < mod->relpath ? 0 : (size_t)(lastslash - mod->relpath + 1);
		mod->uncrelpath = xstrndup(mod->relpath, dirlen + modnamelen + 3);
		if (kmi_strmap_get(&dm->by_uncrelpath, mod->uncrelpath) == NULL)
			kmi_strmap_put(&dm->by_uncrelpath, mod->uncrelpath, mod);
	}
	if (dm->n_mods == dm->cap_mods) {
		dm->cap_mods = dm->cap_mods ? dm->cap_mods * 2 : 1024;
		dm->mods = xreallocarray(dm->mods, dm->cap_mods, sizeof(*dm->mods));
	}
	dm->mods[dm->n_mods++] = mod;
	return mod;
}

struct mod *depmod_search_file(struct depmod *dm, const char *path, size_t baselen, size_t namelen)
{
	char modname[PATH_MAX];
	size_t modnamelen;
	struct mod *old;

	if (!depmod_ext_ok(path + baselen, namelen))
		return NULL;
	modname_normalize(path + baselen, modname, sizeof(modname), &modnamelen);
	old = kmi_strmap_get(&dm->by_name, modname);
	if (old != NULL) {
		if (keep_existing(dm, old, baselen, modnamelen, path))
			return NULL;
		mod_forget(dm, old);
	}
	return mod_add(dm, path, modname, modnamelen);
}

int depmod_add_path(struct depmod *dm, const char *path)
{
	char modname[PATH_MAX];
	const char *base = strrchr(path, '/');
	size_t len;
	struct stat st;

	if (path[0] != '/') {
		kmi_log(KMI_LOG_CRIT, "%s: not absolute path.\n", path);
		return -EINVAL;
	}
	if (stat(path, &st) < 0) {
		int err = -errno;
		kmi_log(KMI_LOG_CRIT, "could not create module %s: %s\n", path, strerror(errno));
		return err;
	}
	base = base ? base + 1 : path;
	if (*base == '\0') {
		kmi_log(KMI_LOG_CRIT, "could not create module %s: %s\n", path, strerror(ENOENT));
		return -ENOENT;
	}
	modname_normalize(base, modname, sizeof(modname), &len);
	return mod_add(dm, path, modname, len) ? 0 : -EEXIST;
}

/* kmod's -A: 1 when no module file is newer than modules.dep (whole seconds). */
static int up_to_date_dir(struct depmod *dm, int dfd, time_t mtime, unsigned depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int ret = 1;

	if (d == NULL) {
		close(dfd);
		return 1;
	}
	while (ret == 1 && (de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		struct stat st;

		/* kmod's -A walk skips only these, not the depmod.d excludes */
		if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
			continue;
		if (streq(name, "build") || streq(name, "source"))
			continue;
		if (fstatat(dirfd(d), name, &st, 0) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int fd;
			if (depth > 64)
				continue; /* a link loop: kmod would recurse until it runs out */
			fd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd >= 0)
				ret = up_to_date_dir(dm, fd, mtime, depth + 1);
		} else if (S_ISREG(st.st_mode) && depmod_ext_ok(name, strlen(name))) {
			ret = st.st_mtime <= mtime;
		}
	}
	closedir(d);
	return ret;
}

int depmod_up_to_date(struct depmod *dm)
{
	struct stat st;
	int fd = open(dm->dirname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		kmi_err("could not open directory %s: %s\n", dm->dirname, strerror(errno));
		return -errno;
	}
	if (fstatat(fd, "modules.dep", &st, 0) != 0) {
		int err = -errno;
		kmi_err("could not fstatat(%s, modules.dep): %s\n", dm->dirname, strerror(errno));
		close(fd);
		return err;
	}
	return up_to_date_dir(dm, fd, st.st_mtime, 0);
}
