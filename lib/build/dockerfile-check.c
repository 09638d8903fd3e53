// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The check after a Dockerfile build: the image is unpacked (by the safe
 * extractor: its content is the Dockerfile's, as untrusted as any layer)
 * and looked at where KMM's worker will look, <dirName>/lib/modules/<kver>/.
 * No module there is an error, so a broken image is never pushed.  depmod
 * output is recomputed with the built-in depmod from the modules the image
 * holds: when the image's own is missing or says something else (the
 * classic slip is `RUN depmod -b /opt` without a version, which indexes the
 * build machine's kernel), a warning says what to put in the Dockerfile.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "build/dockerfile.h"
#include "depmod/modfile.h"
#include "kmodimg/depmod.h"
#include "oci/extract.h"
#include "oci/transport.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"

/* The text outputs: their lines say the same whichever kmod wrote the .bin files. */
static const char *const compared[] = {
	"modules.dep", "modules.alias", "modules.symbols", "modules.softdep", "modules.devname",
};

#define INDEX_MAX (256u << 20)

static int unpack(const char *work, const char *rootfs, struct kmi_error **err)
{
	_cleanup_free_ char *dir = xasprintf("%s/oci", work);
	struct kmi_layout *layout = NULL;
	struct kmi_endpoint ep;
	struct kmi_manifest_data md = { 0 };
	int r = kmi_layout_open(dir, false, &layout, err);

	if (r < 0)
		return kmi_error_wrap(err, "the image buildah wrote");
	kmi_endpoint_from_layout(&ep, layout);
	r = kmi_endpoint_get_manifest(&ep, KMI_DOCKERFILE_TAG, &md, err);
	if (r == 0)
		r = kmi_extract_manifest(&ep, &md, rootfs, NULL, err);
	free(md.data);
	ep.layout = NULL;
	kmi_endpoint_close(&ep);
	kmi_layout_close(layout);
	return r < 0 ? kmi_error_wrap(err, "unpacking the built image") : 0;
}

/* nftw() has no user pointer: the count of the one walk in progress */
static size_t n_found;

static int count_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_F && S_ISREG(st->st_mode) && kmi_modfile_name_ok(path + ftw->base))
		n_found++;
	return 0;
}

/* Modules below moddir, not following links (the host link is the node's tree). */
static int count_modules(const char *moddir, size_t *n, struct kmi_error **err)
{
	n_found = 0;
	if (nftw(moddir, count_one, 16, FTW_PHYS) < 0)
		return kmi_error_set(err, errno, "walking `%s`", moddir);
	*n = n_found;
	return 0;
}

/* "6.1.0-55-amd64, 6.18.0" : what lib/modules/ holds instead, for the error message. */
static char *siblings(const char *rootfs, const char *prefix)
{
	_cleanup_free_ char *dir = xasprintf("%s%s/lib/modules", rootfs, prefix);
	struct kmi_buf b = { 0 };
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		kmi_buf_printf(&b, "%s%s", b.len ? ", " : "", de->d_name);
	}
	if (d)
		closedir(d);
	kmi_buf_putc(&b, '\0');
	return b.data;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The non-comment lines of a file, sorted (the order depends on readdir). */
static int sorted_lines(const char *path, struct kmi_buf *data, char ***lines, size_t *n)
{
	int r = kmi_read_file(path, INDEX_MAX, data);
	char *save = NULL;

	*lines = NULL;
	*n = 0;
	if (r < 0)
		return r;
	kmi_buf_putc(data, '\0');
	for (char *l = strtok_r(data->data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (l[0] == '#')
			continue;
		*lines = xreallocarray(*lines, *n + 1, sizeof(**lines));
		(*lines)[(*n)++] = l;
	}
	if (*n)
		qsort(*lines, *n, sizeof(**lines), cmp_str);
	return 0;
}

/*
 * 0 same, 1 different (*why says how), -errno when the image's file cannot
 * be read.  A file depmod did not write must be absent from the image too.
 */
static int compare_index(const char *theirs, const char *ours, char **why)
{
	struct kmi_buf a = { 0 }, b = { 0 };
	char **la, **lb;
	size_t na, nb, i = 0, j = 0;
	int ra = sorted_lines(theirs, &a, &la, &na), rb = sorted_lines(ours, &b, &lb, &nb), r = 0;

	if (ra < 0 || rb < 0) {
		r = ra < 0 && rb < 0 ? 0 : ra < 0 ? ra : 1;
		if (r == 1)
			*why = xstrdup("the image has a file depmod does not write");
		goto out;
	}
	while (i < na && j < nb && strcmp(la[i], lb[j]) == 0)
		i++, j++;
	if (i < na || j < nb) {
		r = 1;
		/* the line depmod writes that the image lacks, else the one it has too much */
		if (j < nb && (i == na || strcmp(lb[j], la[i]) < 0))
			*why = xasprintf("missing `%s`", lb[j]);
		else
			*why = xasprintf("has `%s`, which depmod does not write", la[i]);
	}
out:
	free(la);
	free(lb);
	kmi_buf_free(&a);
	kmi_buf_free(&b);
	return r;
}

/*
 * Links out of the module dir, as KMM's recipe makes them (host ->
 * /host/lib/modules/KVER), point at the build node's tree: in the unpacked
 * copy they are re-pointed at --host-modules, which is what the build saw.
 */
static void retarget_links(const char *moddir, const char *host_modules)
{
	static const char *const from[] = { "/host/lib/modules/", "/lib/modules/" };
	DIR *d = opendir(moddir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		_cleanup_free_ char *link = xasprintf("%s/%s", moddir, de->d_name);
		char target[4096];
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		for (size_t i = 0; i < ARRAY_SIZE(from); i++) {
			size_t len = strlen(from[i]);
			if (strncmp(target, from[i], len) != 0)
				continue;
			_cleanup_free_ char *to = xasprintf("%s/%s", host_modules, target + len);
			if (unlink(link) == 0 && symlink(to, link) < 0)
				kmi_warn("could not re-point `%s` for the depmod check\n", de->d_name);
			break;
		}
	}
	if (d)
		closedir(d);
}

static int run_depmod(const struct kmi_dockerfile_opts *o, const char *work, const char *rootfs)
{
	_cleanup_free_ char *conf = xasprintf("%s/depmod.conf", work);
	_cleanup_free_ char *base = xasprintf("%s%s", rootfs, o->prefix);
	_cleanup_free_ char *out = xasprintf("%s/depmod", work);
	_cleanup_free_ char *outmod = xasprintf("%s/lib/modules/%s", out, o->kver);
	const char *configs[] = { conf, NULL };
	struct kmodimg_depmod_opts d = { .kver = o->kver, .basedir = base, .outdir = out,
					 .config_paths = configs, .keep_going = true };
	FILE *f = fopen(conf, "we");
	int level = kmi_log_get_level(), r;

	if (f == NULL || kmi_mkdir_p(outmod, 0755) < 0) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	kmi_log_set_level(KMI_LOG_CRIT);
	r = kmodimg_depmod(&d);
	kmi_log_set_level(level);
	return r;
}

static void check_depmod(const struct kmi_dockerfile_opts *o, const char *work, const char *rootfs,
			 const char *moddir)
{
	_cleanup_free_ char *fix = xasprintf("add `RUN depmod -b %s ${KERNEL_FULL_VERSION}` to the "
					     "Dockerfile after the modules are copied in (without the "
					     "version, depmod indexes the build machine's kernel)",
					     o->prefix);
	_cleanup_free_ char *dep = xasprintf("%s/modules.dep", moddir);
	_cleanup_free_ char *depbin = xasprintf("%s/modules.dep.bin", moddir);
	const char *rel = moddir + strlen(rootfs);

	if (access(dep, F_OK) < 0 || access(depbin, F_OK) < 0) {
		kmi_warn("%s has no %s: KMM's modprobe cannot load the modules; %s\n", rel,
			 access(dep, F_OK) < 0 ? "modules.dep" : "modules.dep.bin", fix);
		return;
	}
	retarget_links(moddir, o->host_modules ? o->host_modules : "/lib/modules");
	if (run_depmod(o, work, rootfs) != 0) {
		kmi_warn("the built-in depmod could not index %s (see above): its depmod output is "
			 "not checked\n", rel);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(compared); i++) {
		_cleanup_free_ char *theirs = xasprintf("%s/%s", moddir, compared[i]);
		_cleanup_free_ char *ours = xasprintf("%s/depmod/lib/modules/%s/%s", work, o->kver,
						      compared[i]);
		_cleanup_free_ char *why = NULL;
		int r = compare_index(theirs, ours, &why);
		if (r == 0)
			continue;
		if (r < 0)
			kmi_warn("%s/%s: %s; %s\n", rel, compared[i], strerror(-r), fix);
		else
			kmi_warn("%s/%s is stale: it does not match the modules in the image (%s); %s\n",
				 rel, compared[i], why, fix);
		return;
	}
}

int kmi_dockerfile_check_image(const struct kmi_dockerfile_opts *o, const char *work,
			       struct kmi_error **err)
{
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", work);
	_cleanup_free_ char *moddir = NULL;
	struct stat st;
	size_t n = 0;
	int r;

	if ((r = unpack(work, rootfs, err)) < 0)
		return r;
	moddir = xasprintf("%s%s/lib/modules/%s", rootfs, streq(o->prefix, "/") ? "" : o->prefix,
			   o->kver);
	if (lstat(moddir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		_cleanup_free_ char *other = siblings(rootfs, streq(o->prefix, "/") ? "" : o->prefix);
		return kmi_error_set(err, KMI_EFORMAT,
				     "the image has no directory %s (where KMM looks for the "
				     "modules: --prefix is its dirName)%s%s%s",
				     moddir + strlen(rootfs), *other ? "; lib/modules/ holds " : "",
				     other, *other ? " instead" : "");
	}
	if ((r = count_modules(moddir, &n, err)) < 0)
		return r;
	if (n == 0)
		return kmi_error_set(err, KMI_EFORMAT,
				     "the image has no module (*.ko, *.ko.xz, *.ko.zst, *.ko.gz) in "
				     "%s/: the Dockerfile must copy them there",
				     moddir + strlen(rootfs));
	check_depmod(o, work, rootfs, moddir);
	return (int)n;
}
