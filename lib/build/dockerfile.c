// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `kmodimg build --dockerfile`: KMM builds kmod images in a kaniko pod;
 * here buildah (Debian's package) does it, as a child process with an argv
 * array (never a shell), with chroot isolation (no OCI runtime, no daemon)
 * and vfs storage in a private directory (no global container storage),
 * so that nothing outlives the build but the OCI layout it writes.
 *
 * What the kaniko pod gives a Dockerfile, buildah gives it too: KMM's build
 * arguments, the build secrets as directories /run/secrets/NAME/ that plain
 * RUN steps read (read-only bind mounts: only the empty mount point stays
 * in the image), and the node's module tree at /host/lib/modules.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/dockerfile.h"
#include "oci/image.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/spawn.h"
#include "util/xalloc.h"

extern char **environ;

/* KMM's overrides, sorted by name: the order the ones not given are appended in. */
enum { KMM_KERNEL_FULL_VERSION, KMM_KERNEL_VERSION, KMM_MOD_NAME, KMM_MOD_NAMESPACE, KMM_NARGS };
static const char *const kmm_arg_names[KMM_NARGS] = {
	"KERNEL_FULL_VERSION", "KERNEL_VERSION", "MOD_NAME", "MOD_NAMESPACE",
};

struct strv {
	char **v;
	size_t n;
};

static void strv_add(struct strv *s, char *str)
{
	s->v = xreallocarray(s->v, s->n + 2, sizeof(*s->v));
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
}

static void strv_addf(struct strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void strv_addf(struct strv *s, const char *fmt, ...)
{
	va_list ap;
	char *str;

	va_start(ap, fmt);
	if (vasprintf(&str, fmt, ap) < 0)
		abort();
	va_end(ap);
	strv_add(s, str);
}

void kmi_argv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int kmm_arg_index(const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);

	for (int i = 0; i < KMM_NARGS; i++)
		if (strlen(kmm_arg_names[i]) == n && strncmp(arg, kmm_arg_names[i], n) == 0)
			return i;
	return -1;
}

char **kmi_kmm_build_args(const struct kmi_dockerfile_opts *o)
{
	const char *vals[KMM_NARGS] = { o->kver, o->kver, o->module_name, o->module_namespace };
	bool used[KMM_NARGS] = { false };
	struct strv s = { 0 };

	for (size_t i = 0; o->build_args && o->build_args[i]; i++) {
		int k = kmm_arg_index(o->build_args[i]);
		if (k < 0) {
			strv_add(&s, xstrdup(o->build_args[i]));
		} else {
			strv_addf(&s, "%s=%s", kmm_arg_names[k], vals[k] ? vals[k] : "");
			used[k] = true;
		}
	}
	for (int k = 0; k < KMM_NARGS; k++)
		if (!used[k])
			strv_addf(&s, "%s=%s", kmm_arg_names[k], vals[k] ? vals[k] : "");
	if (s.v == NULL)
		s.v = xcalloc(1, sizeof(*s.v));
	return s.v;
}

static char *absolute(const char *path)
{
	char *r = realpath(path, NULL);
	return r ? r : xstrdup(path);
}

char **kmi_dockerfile_argv(const struct kmi_dockerfile_opts *o, const char *work, const char *out)
{
	_cleanup_free_ char *df = absolute(o->dockerfile);
	_cleanup_free_ char *ctx = NULL;
	struct strv s = { 0 };
	char **args;

	if (o->context) {
		ctx = absolute(o->context);
	} else {
		const char *slash = strrchr(df, '/');
		ctx = slash == NULL ? xstrdup(".")
		      : slash == df ? xstrdup("/")
				    : xstrndup(df, (size_t)(slash - df));
	}
	strv_add(&s, xstrdup("buildah"));
	strv_addf(&s, "--root=%s/storage", work);
	strv_addf(&s, "--runroot=%s/run", work);
	strv_add(&s, xstrdup("--storage-driver=vfs"));
	strv_add(&s, xstrdup("build"));
	strv_add(&s, xstrdup("--isolation=chroot"));
	strv_addf(&s, "--file=%s", df);
	strv_add(&s, xstrdup("--format=oci"));
	/* buildah leaves layers uncompressed by default: compress what is pushed */
	strv_add(&s, xstrdup("--disable-compression=false"));
	/* buildah has one switch for both: plain HTTP and no verification */
	if (o->base_insecure || o->base_insecure_skip_tls_verify)
		strv_add(&s, xstrdup("--tls-verify=false"));
	if (o->authfile)
		strv_addf(&s, "--authfile=%s", o->authfile);
	if (o->cert_dir)
		strv_addf(&s, "--cert-dir=%s", o->cert_dir);
	{
		_cleanup_free_ char *hm = absolute(o->host_modules ? o->host_modules : "/lib/modules");
		strv_addf(&s, "--volume=%s:/host/lib/modules:ro", hm);
	}
	for (size_t i = 0; o->secrets && o->secrets[i]; i++) {
		const char *eq = strchr(o->secrets[i], '=');
		_cleanup_free_ char *dir = absolute(eq + 1);
		strv_addf(&s, "--volume=%s:/run/secrets/%.*s:ro", dir, (int)(eq - o->secrets[i]),
			  o->secrets[i]);
	}
	args = kmi_kmm_build_args(o);
	for (size_t i = 0; args[i]; i++)
		strv_addf(&s, "--build-arg=%s", args[i]);
	kmi_argv_free(args);
	for (size_t i = 0; o->labels && o->labels[i]; i++)
		strv_addf(&s, "--label=%s", o->labels[i]);
	/* what `kmodimg images` lists and `inspect` shows, as for a build from modules */
	strv_addf(&s, "--label=" KMI_ANN_KERNEL "=%s", o->kver);
	strv_addf(&s, "--annotation=" KMI_ANN_KERNEL "=%s", o->kver);
	strv_addf(&s, "--annotation=" KMI_ANN_PREFIX "=%s", o->prefix);
	strv_add(&s, xstrdup("--annotation=" KMI_ANN_TOOL "=kmodimg " KMODIMG_VERSION));
	strv_addf(&s, "--tag=oci:%s:" KMI_DOCKERFILE_TAG, out);
	strv_add(&s, TAKE_PTR(ctx));
	return s.v;
}

/* Options checks ----------------------------------------------------------- */

static int need_dir(const char *what, const char *path, struct kmi_error **err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return kmi_error_set(err, errno == ENOENT ? KMI_EUSAGE : errno, "%s `%s`: %s", what,
				     path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return kmi_error_set(err, KMI_EUSAGE, "%s `%s` is not a directory", what, path);
	/* buildah's --volume SRC:DEST:OPTS cannot carry a colon or a comma in SRC */
	if (strpbrk(path, ":,") != NULL)
		return kmi_error_set(err, KMI_EUSAGE, "%s `%s`: buildah cannot mount a path with ':' or ','",
				     what, path);
	return 0;
}

static bool valid_arg_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || s[i] == '=' || s[i] == ' ' || s[i] == '\t' || s[i] == '\n')
			return false;
	return true;
}

static int check_secret(const char *sec, struct kmi_error **err)
{
	const char *eq = strchr(sec, '=');
	size_t n = eq ? (size_t)(eq - sec) : 0;
	_cleanup_free_ char *name = eq ? xstrndup(sec, n) : NULL;

	/* a Secret's name: it becomes one path component */
	if (eq == NULL || n == 0 || eq[1] == '\0' || memchr(sec, '/', n) != NULL || sec[0] == '.' ||
	    strpbrk(name, ":, \t\n") != NULL)
		return kmi_error_set(err, KMI_EUSAGE,
				     "--secret `%s`: want NAME=DIR, NAME a plain name (it is mounted "
				     "at /run/secrets/NAME)",
				     sec);
	return need_dir("--secret directory", eq + 1, err);
}

int kmi_dockerfile_check_opts(const struct kmi_dockerfile_opts *o, struct kmi_error **err)
{
	struct stat st;
	int r;

	if (o->kver == NULL || *o->kver == '\0' || strchr(o->kver, '/') || streq(o->kver, ".") ||
	    streq(o->kver, ".."))
		return kmi_error_set(err, KMI_EUSAGE, "bad or missing kernel version (--kernel KVER)");
	if (o->prefix[0] != '/' || strstr(o->prefix, "/.") || strstr(o->prefix, "//"))
		return kmi_error_set(err, KMI_EUSAGE,
				     "--prefix `%s`: want an absolute path without . or .. parts",
				     o->prefix);
	if (stat(o->dockerfile, &st) < 0)
		return kmi_error_set(err, errno == ENOENT ? KMI_EUSAGE : errno, "--dockerfile `%s`: %s",
				     o->dockerfile, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return kmi_error_set(err, KMI_EUSAGE, "--dockerfile `%s` is not a regular file",
				     o->dockerfile);
	if (access(o->dockerfile, R_OK) < 0)
		return kmi_error_set(err, errno, "--dockerfile `%s`: %s", o->dockerfile, strerror(errno));
	if (o->context && (r = need_dir("--context", o->context, err)) < 0)
		return r;
	if ((r = need_dir("--host-modules", o->host_modules ? o->host_modules : "/lib/modules", err)) < 0)
		return r;
	for (size_t i = 0; o->build_args && o->build_args[i]; i++) {
		const char *a = o->build_args[i], *eq = strchr(a, '=');
		if (eq == NULL || !valid_arg_name(a, (size_t)(eq - a)))
			return kmi_error_set(err, KMI_EUSAGE, "--build-arg `%s`: want NAME=VALUE", a);
	}
	for (size_t i = 0; o->secrets && o->secrets[i]; i++) {
		if ((r = check_secret(o->secrets[i], err)) < 0)
			return r;
		for (size_t j = 0; j < i; j++) {
			size_t n = strcspn(o->secrets[i], "=");
			if (strncmp(o->secrets[i], o->secrets[j], n + 1) == 0)
				return kmi_error_set(err, KMI_EUSAGE, "--secret `%.*s` given twice", (int)n,
						     o->secrets[i]);
		}
	}
	for (size_t i = 0; o->labels && o->labels[i]; i++) {
		if (strchr(o->labels[i], '=') == NULL || o->labels[i][0] == '=')
			return kmi_error_set(err, KMI_EUSAGE, "--label `%s`: want KEY=VALUE", o->labels[i]);
	}
	return 0;
}

/* Running buildah ----------------------------------------------------------- */

/* What buildah said that names the failure, kept while its output streams through. */
struct relay {
	struct kmi_buf line;
	char *step;       /* last "STEP n/m: ..." line */
	char *error;      /* last line that reads as an error */
	char *tail[24];   /* last lines, shown on failure when --quiet hid them */
	size_t ntail;
	bool quiet;
};

static bool is_error_line(const char *s)
{
	return strncmp(s, "Error:", 6) == 0 || strncmp(s, "error ", 6) == 0 ||
	       strstr(s, "error building at STEP") != NULL;
}

/* "STEP 2/5: RUN ...", or "[1/2] STEP 2/5: RUN ..." in a multi-stage build */
static bool is_step_line(const char *s)
{
	if (s[0] == '[') {
		const char *end = strstr(s, "] ");
		if (end == NULL || strspn(s + 1, "0123456789/") != (size_t)(end - s - 1))
			return false;
		s = end + 2;
	}
	return strncmp(s, "STEP ", 5) == 0;
}

static void relay_line(struct relay *rl, const char *s)
{
	if (is_step_line(s)) {
		free(rl->step);
		rl->step = xstrdup(s);
	} else if (is_error_line(s)) {
		free(rl->error);
		rl->error = xstrdup(strncmp(s, "Error: ", 7) == 0 ? s + 7 : s);
	}
	if (rl->ntail == ARRAY_SIZE(rl->tail)) {
		free(rl->tail[0]);
		memmove(rl->tail, rl->tail + 1, sizeof(rl->tail) - sizeof(rl->tail[0]));
		rl->ntail--;
	}
	rl->tail[rl->ntail++] = xstrdup(s);
}

static void relay_data(struct relay *rl, const char *data, size_t n)
{
	if (!rl->quiet)
		(void)kmi_write_all(STDERR_FILENO, data, n);
	for (size_t i = 0; i < n; i++) {
		if (data[i] != '\n' && data[i] != '\r') {
			/* a runaway line without newline is cut, not grown without bound */
			if (rl->line.len < 4096)
				kmi_buf_putc(&rl->line, data[i]);
			continue;
		}
		kmi_buf_putc(&rl->line, '\0');
		if (rl->line.data[0] != '\0')
			relay_line(rl, rl->line.data);
		rl->line.len = 0;
	}
}

static void relay_free(struct relay *rl)
{
	kmi_buf_free(&rl->line);
	free(rl->step);
	free(rl->error);
	for (size_t i = 0; i < rl->ntail; i++)
		free(rl->tail[i]);
}

/* kmi_spawn's on_output: buildah's stdout and stderr as they come */
static void relay_output(void *rl, const char *data, size_t n)
{
	relay_data(rl, data, n);
}

/* environ with TMPDIR pointing into `work`: buildah's big temp files go with it. */
static char **child_env(const char *work)
{
	struct strv s = { 0 };

	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, "TMPDIR=", 7) != 0)
			strv_add(&s, xstrdup(*e));
	strv_addf(&s, "TMPDIR=%s/tmp", work);
	return s.v;
}

/* buildah's end as the build's result: a failure names the step and buildah's error. */
static int buildah_result(const struct kmi_spawn_result *res, const struct relay *rl,
			  struct kmi_error **err)
{
	if (res->exit_status == 0 && !res->forwarded)
		return 0;
	if (rl->quiet)
		for (size_t i = 0; i < rl->ntail; i++)
			fprintf(stderr, "  buildah: %s\n", rl->tail[i]);
	if (res->forwarded)
		return kmi_error_set(err, EINTR, "interrupted by signal %d during the build",
				     res->forwarded);
	if (res->signal)
		return kmi_error_set(err, KMI_EFORMAT, "buildah was killed by signal %d%s%s",
				     res->signal, rl->step ? " at " : "", rl->step ? rl->step : "");
	return kmi_error_set(err, KMI_EFORMAT, "buildah build failed (exit %d)%s%s%s%s",
			     res->exit_status, rl->step ? " at " : "", rl->step ? rl->step : "",
			     rl->error ? ": " : "", rl->error ? rl->error : "");
}

/* Ctrl-C reaches buildah through the terminal; a kill aimed at us is passed on. */
static int run_buildah(char **argv, const char *work, bool quiet, struct kmi_error **err)
{
	struct relay rl = { .quiet = quiet };
	char **env = child_env(work);
	struct kmi_spawn_opts so = { .argv = (const char *const *)argv, .env = env,
				     .output = KMI_SPAWN_STREAM, .on_output = relay_output,
				     .data = &rl, .forward_signals = true };
	struct kmi_spawn_result res;
	int r = kmi_spawn(&so, &res, err);

	if (r == -1 - ENOENT)
		r = kmi_error_set(err, ENOENT,
				  "buildah is not installed (not found in PATH): install Debian's "
				  "`buildah` package (apt-get install buildah)");
	if (r == 0) {
		relay_data(&rl, "\n", 1); /* a last line without newline */
		r = buildah_result(&res, &rl, err);
	}
	kmi_spawn_result_free(&res);
	kmi_argv_free(env);
	relay_free(&rl);
	return r;
}

int kmi_dockerfile_build(const struct kmi_dockerfile_opts *o, const char *work,
			 struct kmi_error **err)
{
	_cleanup_free_ char *out = xasprintf("%s/oci", work);
	_cleanup_free_ char *tmp = xasprintf("%s/tmp", work);
	static const char *const scratch[] = { "storage", "run", "tmp" };
	char **argv;
	int r;

	if (mkdir(tmp, 0700) < 0)
		return kmi_error_set(err, errno, "creating `%s`", tmp);
	argv = kmi_dockerfile_argv(o, work, out);
	r = run_buildah(argv, work, o->quiet, err);
	kmi_argv_free(argv);
	/* the vfs store holds every base image unpacked: gone before anything else */
	for (size_t i = 0; i < ARRAY_SIZE(scratch); i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", work, scratch[i]);
		int rr = kmi_rm_rf(d);
		if (rr < 0 && rr != -ENOENT && r == 0)
			r = kmi_error_set(err, -rr, "removing buildah's storage `%s`", d);
	}
	return r;
}
