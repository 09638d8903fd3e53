// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * init_module(2)'s errno values say little ("Invalid argument"); each one
 * has a few known causes on a node, and a fix.  What we can check here
 * (the module's vermagic against this kernel, its parameter names) we
 * check, so the message says which cause it is.
 */
#include <errno.h>
#include <libkmod.h>
#include <string.h>
#include <sys/klog.h>

#include "util/buf.h"
#include "util/macro.h"
#include "util/xalloc.h"
#include "worker/worker.h"

/* The module's modinfo value for key (first one), malloc'ed, or NULL. */
static char *modinfo(struct kmod_module *m, const char *key)
{
	struct kmod_list *info = NULL, *l;
	char *v = NULL;

	if (kmod_module_get_info(m, &info) < 0)
		return NULL;
	kmod_list_foreach(l, info) {
		if (streq(kmod_module_info_get_key(l), key)) {
			const char *val = kmod_module_info_get_value(l);
			v = xstrdup(val ? val : "");
			break;
		}
	}
	kmod_module_info_free_list(info);
	return v;
}

char *kmi_unknown_param(struct kmod_module *m, const char *options)
{
	struct kmod_list *info = NULL, *l;
	_cleanup_free_ char *copy = xstrdup(options ? options : "");
	char *save = NULL, *unknown = NULL;

	if (kmod_module_get_info(m, &info) < 0)
		return NULL;
	for (char *w = strtok_r(copy, " ", &save); w && !unknown; w = strtok_r(NULL, " ", &save)) {
		size_t len = strcspn(w, "=");
		bool found = false;

		kmod_list_foreach(l, info) {
			const char *v = kmod_module_info_get_value(l);
			if (streq(kmod_module_info_get_key(l), "parmtype") && v != NULL &&
			    strncmp(v, w, len) == 0 && v[len] == ':')
				found = true;
		}
		if (!found)
			unknown = xstrndup(w, len);
	}
	kmod_module_info_free_list(info);
	return unknown;
}

static int vermagic_error(struct kmod_module *m, const char *name, const char *kver,
			  struct kmi_error **err)
{
	_cleanup_free_ char *vm = modinfo(m, "vermagic");
	size_t len = vm ? strcspn(vm, " ") : 0;

	for (size_t end = vm ? strlen(vm) : 0; end > 0 && vm[end - 1] == ' ';)
		vm[--end] = '\0';

	if (vm != NULL && (strlen(kver) != len || strncmp(vm, kver, len) != 0))
		return kmi_error_set(err, KMI_EFORMAT,
				     "`%s` was built for kernel %.*s but this is %s (vermagic `%s`): "
				     "build the image for this kernel, from its own headers",
				     name, (int)len, vm, kver, vm);
	return kmi_error_set(err, KMI_EFORMAT,
			     "`%s`: the kernel refused its format (Exec format error): its vermagic "
			     "`%s` does not match this kernel's build options (SMP, PREEMPT, "
			     "MODVERSIONS...), or it is for another architecture or compressed in a "
			     "way this kernel cannot read; rebuild it against this kernel's own headers "
			     "(dmesg has the kernel's words)", name, vm ? vm : "(none)");
}

/*
 * The symbol of the kernel's latest "NAME: Unknown symbol SYM" line, or
 * NULL (also when the log cannot be read: no CAP_SYSLOG).  The kernel
 * returns ENOENT for an unknown symbol and passes on an init function's
 * own -ENOENT (a missing firmware file, most often): only its log tells.
 */
static char *unknown_symbol_in_log(const char *name)
{
	_cleanup_free_ char *buf = NULL, *needle = xasprintf("%s: Unknown symbol ", name);
	char *found = NULL, *p;
	int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0), n;

	if (size <= 0 || size > (64 << 20))
		return NULL;
	buf = xmalloc((size_t)size + 1);
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, size);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	for (p = buf; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		found = p + strlen(needle);
	return found ? xstrndup(found, strcspn(found, " \n")) : NULL;
}

static int enoent_error(const char *name, struct kmi_error **err)
{
	_cleanup_free_ char *sym = unknown_symbol_in_log(name);

	if (sym != NULL)
		return kmi_error_set(err, KMI_EFORMAT,
				     "`%s`: Unknown symbol %s: no loaded module exports it.  A module "
				     "it depends on is missing from the image's modules.dep (rebuild "
				     "the image with it, or with the in-tree link so in-tree "
				     "dependencies resolve), or was built for another kernel",
				     name, sym);
	return kmi_error_set(err, KMI_EFORMAT,
			     "`%s`: No such file or directory: the kernel found no unknown symbol, so "
			     "the module's init function failed itself with -ENOENT, most often for "
			     "a firmware file it could not find (dmesg: \"Direct firmware load ... "
			     "failed\"): load with --firmware-path, or check the image's firmware",
			     name);
}

int kmi_explain_insert(struct kmod_module *m, const char *options, const char *kver, int errnum,
		       struct kmi_error **err)
{
	const char *name = kmod_module_get_name(m);
	_cleanup_free_ char *param = NULL;

	switch (errnum) {
	case ENOEXEC:
		return vermagic_error(m, name, kver, err);
	case EINVAL:
		return kmi_error_set(err, KMI_EFORMAT,
				     "`%s`: Invalid argument: most often the module disagrees with this "
				     "kernel about a symbol's version (CRC mismatch: dmesg says "
				     "\"disagrees about version of symbol\"): it was built against other "
				     "headers or Module.symvers than this kernel's; rebuild it for exactly "
				     "this kernel.  Otherwise a parameter value is out of range",
				     name);
	case ENOENT:
		param = kmi_unknown_param(m, options);
		if (param != NULL)
			return kmi_error_set(err, KMI_EUSAGE,
					     "`%s` has no parameter `%s` (modinfo -p lists the ones it has)",
					     name, param);
		return enoent_error(name, err);
	case EKEYREJECTED:
		return kmi_error_set(err, KMI_EFORMAT,
				     "`%s`: Key was rejected by service: this kernel only loads modules "
				     "signed with a key it trusts (Secure Boot lockdown or "
				     "module.sig_enforce) and this module's signature is missing, bad, or "
				     "made with an unknown key; sign it with a key enrolled in the "
				     "kernel's keyring (e.g. a MOK enrolled with mokutil)",
				     name);
	case ENOKEY:
		return kmi_error_set(err, KMI_EFORMAT,
				     "`%s`: Required key not available: the module is signed with a key "
				     "this kernel does not have in its keyrings; enroll the signing key "
				     "(mokutil --import) or sign with one the kernel trusts",
				     name);
	case EPERM:
		return kmi_error_set(err, KMI_EUSAGE,
				     "`%s`: Operation not permitted: loading modules needs root "
				     "(CAP_SYS_MODULE), and is impossible once kernel.modules_disabled is "
				     "set or lockdown forbids unsigned modules",
				     name);
	case EBUSY:
		return kmi_error_set(err, KMI_EFORMAT, "`%s`: Device or resource busy: the module is "
				     "being loaded or removed by someone else; try again", name);
	default:
		return kmi_error_set(err, errnum, "inserting `%s` (%s)", name,
				     kmod_module_get_path(m) ? kmod_module_get_path(m) : "?");
	}
}
