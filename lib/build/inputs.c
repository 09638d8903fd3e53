// SPDX-License-Identifier: LGPL-2.1-or-later
/* Collecting and checking what goes into a kmod image. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/build-internal.h"
#include "depmod/depmod-internal.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/xalloc.h"

#define MAX_INPUT_FILES 100000
#define MAX_DEPTH 32

void inputs_free(struct inputs *in)
{
	for (size_t i = 0; i < in->n; i++) {
		free(in->f[i].src);
		free(in->f[i].dest);
		free(in->f[i].modname);
		free(in->f[i].vermagic);
		free(in->f[i].depends);
	}
	free(in->f);
	kmi_strmap_free(&in->by_dest);
	memset(in, 0, sizeof(*in));
}

static int add(struct inputs *in, const char *src, const char *dest, struct kmi_error **err)
{
	uintptr_t prev;
	struct input *f;

	if (in->by_dest.slots == NULL)
		kmi_strmap_init(&in->by_dest, 64);
	prev = (uintptr_t)kmi_strmap_get(&in->by_dest, dest);
	if (prev != 0)
		return kmi_error_set(err, KMI_EUSAGE, "`%s` and `%s` both go to `%s`",
				     in->f[prev - 1].src, src, dest);
	if (in->n == MAX_INPUT_FILES)
		return kmi_error_set(err, KMI_EUSAGE, "more than %d input files", MAX_INPUT_FILES);
	if (in->n == in->cap) {
		in->cap = in->cap ? in->cap * 2 : 64;
		in->f = xreallocarray(in->f, in->cap, sizeof(*in->f));
	}
	f = &in->f[in->n++];
	memset(f, 0, sizeof(*f));
	f->src = xstrdup(src);
	f->dest = xstrdup(dest);
	f->is_module = depmod_ext_ok(dest, strlen(dest));
	kmi_strmap_put(&in->by_dest, f->dest, (void *)(uintptr_t)in->n);
	return 0;
}

static int walk(struct inputs *in, const char *dir, const char *rel, unsigned depth,
		struct kmi_error **err)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > MAX_DEPTH)
		return kmi_error_set(err, ELOOP, "`%s`: directories nested too deep (a link loop?)", dir);
	d = opendir(dir);
	if (d == NULL)
		return kmi_error_set(err, errno, "reading directory `%s`", dir);
	while (r == 0 && (de = readdir(d)) != NULL) {
		_cleanup_free_ char *src = NULL, *dest = NULL;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		src = xasprintf("%s/%s", dir, de->d_name);
		dest = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		if (stat(src, &st) < 0) {
			r = kmi_error_set(err, errno, "`%s`", src);
			break;
		}
		if (S_ISDIR(st.st_mode))
			r = walk(in, src, dest, depth + 1, err);
		else if (S_ISREG(st.st_mode))
			r = add(in, src, dest, err);
		else
			r = kmi_error_set(err, KMI_EUSAGE, "`%s` is neither a file nor a directory", src);
	}
	closedir(d);
	return r;
}

int inputs_collect(struct inputs *in, const char *const *paths, const char *subdir,
		   struct kmi_error **err)
{
	for (size_t i = 0; paths && paths[i]; i++) {
		const char *p = paths[i], *base = strrchr(p, '/');
		_cleanup_free_ char *dest = NULL;
		struct stat st;
		int r;

		if (stat(p, &st) < 0)
			return kmi_error_set(err, KMI_EUSAGE, "`%s`: %s", p, strerror(errno));
		if (S_ISDIR(st.st_mode)) {
			r = walk(in, p, subdir ? subdir : "", 0, err);
		} else if (S_ISREG(st.st_mode)) {
			base = base ? base + 1 : p;
			if (!depmod_ext_ok(base, strlen(base)))
				return kmi_error_set(err, KMI_EUSAGE,
						     "`%s` is not a module (.ko, .ko.xz, .ko.zst or .ko.gz)",
						     p);
			dest = subdir ? xasprintf("%s/%s", subdir, base) : xstrdup(base);
			r = add(in, p, dest, err);
		} else {
			r = kmi_error_set(err, KMI_EUSAGE, "`%s` is neither a file nor a directory", p);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static const char *modinfo_get(const struct kmi_modfile *f, const char *key)
{
	for (uint32_t i = 0; i < f->n_info; i++) {
		if (strcmp(f->info[i].key, key) == 0)
			return f->info[i].value;
	}
	return NULL;
}

const char *kmi_machine_arch(unsigned machine, unsigned elfdata)
{
	switch (machine) {
	case EM_X86_64:
		return "amd64";
	case EM_AARCH64:
		return "arm64";
	case EM_386:
		return "386";
	case EM_ARM:
		return "arm";
	case EM_PPC64:
		return elfdata == ELFDATA2MSB ? "ppc64" : "ppc64le";
	case EM_S390:
		return "s390x";
	case EM_RISCV:
		return "riscv64";
	default:
		return NULL;
	}
}

/*
 * Reads every module: it must be sound, built for this kernel release (its
 * vermagic's first word), and for the same machine as the others.
 */
int inputs_check(struct inputs *in, const char *kver, bool force, unsigned *machine,
		 unsigned *elfdata, struct kmi_error **err)
{
	struct kmi_modreader r = { 0 };
	struct kmi_arena arena = { 0 };
	const struct input *first = NULL;
	int ret = 0;

	*machine = 0;
	for (size_t i = 0; i < in->n && ret == 0; i++) {
		struct input *f = &in->f[i];
		struct kmi_modfile mf;
		const char *vm, *dep;
		char name[PATH_MAX];
		const char *base = strrchr(f->dest, '/');
		size_t len;
		int e;

		if (!f->is_module)
			continue;
		base = base ? base + 1 : f->dest;
		modname_normalize(base, name, sizeof(name), &len);
		f->modname = xstrdup(name);
		e = kmi_modfile_read(&r, f->src, &arena, KMI_MODFILE_ALL_INFO, &mf);
		if (e < 0) {
			ret = kmi_error_set(err, -e, "reading module `%s`", f->src);
			break;
		}
		if (mf.problem != NULL) {
			ret = kmi_error_set(err, KMI_EFORMAT, "module `%s` is corrupt or truncated: %s",
					    f->src, mf.problem);
			break;
		}
		vm = modinfo_get(&mf, "vermagic");
		dep = modinfo_get(&mf, "depends");
		f->vermagic = vm ? xstrdup(vm) : NULL;
		/* the kernel's vermagic ends with a space: not part of what it says */
		for (size_t k = f->vermagic ? strlen(f->vermagic) : 0; k > 0 && f->vermagic[k - 1] == ' '; k--)
			f->vermagic[k - 1] = '\0';
		f->depends = dep ? xstrdup(dep) : NULL;
		f->machine = mf.machine;
		f->elfdata = mf.elfdata;
		if (vm == NULL) {
			if (!force)
				ret = kmi_error_set(err, KMI_EFORMAT,
						    "module `%s` has no vermagic: not built with kbuild? "
						    "(--force builds anyway)",
						    f->src);
		} else {
			size_t n = strcspn(vm, " ");
			if ((strlen(kver) != n || strncmp(vm, kver, n) != 0) && !force)
				ret = kmi_error_set(err, KMI_EFORMAT,
						    "module `%s` was built for kernel %.*s, not %s "
						    "(vermagic \"%s\"): rebuild it against linux-headers-%s, "
						    "or --force",
						    f->src, (int)n, vm, kver, vm, kver);
		}
		if (ret == 0 && first != NULL && first->machine != f->machine)
			ret = kmi_error_set(err, KMI_EFORMAT,
					    "modules for different machines: `%s` is ELF machine %u, "
					    "`%s` is %u",
					    first->src, first->machine, f->src, f->machine);
		if (first == NULL)
			first = f;
		kmi_arena_free(&arena);
	}
	kmi_modreader_free(&r);
	kmi_arena_free(&arena);
	if (ret == 0 && first == NULL)
		ret = kmi_error_set(err, KMI_EUSAGE, "no kernel module among the inputs");
	if (ret == 0) {
		*machine = first->machine;
		*elfdata = first->elfdata;
	}
	return ret;
}
