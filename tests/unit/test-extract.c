// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The extractor against hostile layers, built here with libarchive's writer
 * (or by hand where libarchive would not write them).  Every case runs into
 * a DEST that does not exist and into an empty one, and checks that nothing
 * beside DEST (a sentinel directory, the temp dirs) was created or changed.
 * The corpus runs twice: as is, and in a child where seccomp makes openat2
 * fail with ENOSYS, to test the component-by-component fallback.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "oci/extract.h"
#include "oci/image.h"
#include "util/buf.h"
#include "util/digest.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/xalloc.h"

/* Names the test layers in messages (verify is off unless a test sets it). */
#define D "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define MTIME 1700000000

static char top[] = "/tmp/kmodimg-test-extract.XXXXXX";
static char *dest, *outside;

/* ---- layers ---- */

struct ent {
	char type;       /* f file, d dir, l symlink, h hardlink, c/b device, p FIFO */
	const char *path;
	const char *arg; /* f: content; l, h: target */
	unsigned mode;   /* 0: 0644, or 0755 for directories */
};

#define F(p, content) { 'f', p, content, 0 }
#define FM(p, content, mode) { 'f', p, content, mode }
#define DR(p) { 'd', p, NULL, 0 }
#define DM(p, mode) { 'd', p, NULL, mode }
#define L(p, target) { 'l', p, target, 0 }
#define H(p, target) { 'h', p, target, 0 }
#define SPECIAL(type, p) { type, p, NULL, 0 }

static la_ssize_t buf_write(struct archive *a, void *ud, const void *p, size_t n)
{
	kmi_buf_put(ud, p, n);
	return (la_ssize_t)n;
}

/* A tar of the entries (ending at type 0), compressed with filter. */
static void make_tar(const struct ent *ents, int filter, struct kmi_buf *out)
{
	struct archive *a = archive_write_new();

	archive_write_set_format_pax_restricted(a);
	if (filter == ARCHIVE_FILTER_GZIP)
		archive_write_add_filter_gzip(a);
	else if (filter == ARCHIVE_FILTER_ZSTD)
		archive_write_add_filter_zstd(a);
	archive_write_set_bytes_in_last_block(a, 1);
	CHECK(archive_write_open(a, out, NULL, buf_write, NULL) == ARCHIVE_OK);
	for (const struct ent *e = ents; e->type; e++) {
		struct archive_entry *ae = archive_entry_new();
		size_t len = e->type == 'f' && e->arg ? strlen(e->arg) : 0;

		archive_entry_copy_pathname(ae, e->path);
		archive_entry_set_mtime(ae, MTIME, 0);
		archive_entry_set_perm(ae, e->mode ? e->mode : e->type == 'd' ? 0755 : 0644);
		switch (e->type) {
		case 'f':
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_size(ae, (la_int64_t)len);
			break;
		case 'd':
			archive_entry_set_filetype(ae, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_copy_symlink(ae, e->arg);
			break;
		case 'h':
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_copy_hardlink(ae, e->arg);
			break;
		case 'c':
		case 'b':
			archive_entry_set_filetype(ae, e->type == 'c' ? AE_IFCHR : AE_IFBLK);
			archive_entry_set_rdev(ae, makedev(1, 3));
			break;
		case 'p':
			archive_entry_set_filetype(ae, AE_IFIFO);
			break;
		}
		CHECK(archive_write_header(a, ae) >= ARCHIVE_WARN);
		if (len > 0)
			CHECK(archive_write_data(a, e->arg, len) == (la_ssize_t)len);
		archive_entry_free(ae);
	}
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
}

/* A ustar header written by hand: for what libarchive's writer refuses to make. */
static void raw_header(struct kmi_buf *b, const char *name, size_t namelen, char type,
		       const char *size_octal)
{
	unsigned char h[512] = { 0 };
	unsigned sum = 0;

	memcpy(h, name, namelen < 100 ? namelen : 100);
	memcpy(h + 100, "0000644", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	memcpy(h + 124, size_octal, strlen(size_octal) + 1);
	memcpy(h + 136, "00000000000", 12);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	kmi_buf_put(b, h, sizeof(h));
}

static void raw_data(struct kmi_buf *b, const char *data, size_t len)
{
	static const char zero[512];

	kmi_buf_put(b, data, len);
	if (len % 512)
		kmi_buf_put(b, zero, 512 - len % 512);
}

static void raw_end(struct kmi_buf *b)
{
	static const char zero[1024];

	kmi_buf_put(b, zero, sizeof(zero));
}

static int memfd_of(const struct kmi_buf *b)
{
	int fd = memfd_create("layer", MFD_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(write(fd, b->data, b->len) == (ssize_t)b->len);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* Applies blobs (with one media type for all) to dest. */
static int extract_blobs(struct kmi_buf *blobs, size_t n, const char *media_type, bool verify,
			 const struct kmi_extract_limits *lim, struct kmi_error **err)
{
	struct kmi_extract_layer layers[8];
	char digests[8][KMI_DIGEST_LEN];
	int r;

	for (size_t i = 0; i < n; i++) {
		kmi_sha256_digest(blobs[i].data, blobs[i].len, digests[i]);
		layers[i] = (struct kmi_extract_layer){
			.fd = memfd_of(&blobs[i]),
			.digest = verify ? digests[i] : D,
			.media_type = media_type,
			.verify = verify,
		};
	}
	r = kmi_extract_fds(layers, n, dest, lim, err);
	for (size_t i = 0; i < n; i++)
		close(layers[i].fd);
	return r;
}

/* Layers of entries, uncompressed. */
static int extract_layers(const struct ent *const *layers, size_t n,
			  const struct kmi_extract_limits *lim, struct kmi_error **err)
{
	struct kmi_buf blobs[8] = { 0 };
	int r;

	for (size_t i = 0; i < n; i++)
		make_tar(layers[i], ARCHIVE_FILTER_NONE, &blobs[i]);
	r = extract_blobs(blobs, n, KMI_MT_OCI_LAYER, false, lim, err);
	for (size_t i = 0; i < n; i++)
		kmi_buf_free(&blobs[i]);
	return r;
}

/* ---- what must not change ---- */

static struct kmi_buf snap_lines;

static int snap_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char link[512] = "";
	char digest[KMI_DIGEST_LEN] = "";

	if (S_ISLNK(st->st_mode))
		CHECK(readlink(path, link, sizeof(link) - 1) >= 0);
	if (S_ISREG(st->st_mode)) {
		struct kmi_buf b = { 0 };
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n;

		kmi_buf_reserve(&b, 65536);
		while (fd >= 0 && (n = read(fd, b.data + b.len, b.cap - b.len)) > 0) {
			b.len += (size_t)n;
			kmi_buf_reserve(&b, 65536);
		}
		if (fd >= 0)
			close(fd);
		kmi_sha256_digest(b.data, b.len, digest);
		kmi_buf_free(&b);
	}
	kmi_buf_printf(&snap_lines, "%s %o %lld %lld.%09ld %lu %s %s\n", path + strlen(top),
		       (unsigned)st->st_mode, (long long)st->st_size, (long long)st->st_mtim.tv_sec,
		       st->st_mtim.tv_nsec, (unsigned long)st->st_nlink, link, digest);
	return 0;
}

/* Everything beside DEST: the sentinel tree, the names in top, and /etc/passwd. */
static char *snapshot(void)
{
	struct kmi_buf b = { 0 };
	struct dirent **names;
	struct stat st;
	int n;

	snap_lines.len = 0;
	CHECK(nftw(outside, snap_one, 16, FTW_PHYS) == 0);
	kmi_buf_put(&b, snap_lines.data, snap_lines.len);
	n = scandir(top, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, "dest") != 0)
			kmi_buf_printf(&b, "top: %s\n", names[i]->d_name);
		free(names[i]);
	}
	free(names);
	if (stat("/etc/passwd", &st) == 0)
		kmi_buf_printf(&b, "passwd %lu %lld %lld\n", (unsigned long)st.st_nlink,
			       (long long)st.st_size, (long long)st.st_mtim.tv_sec);
	kmi_buf_putc(&b, '\0');
	return b.data;
}

static bool dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool empty = true;

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL)
		empty &= strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty;
}

static char *dpath(const char *rel)
{
	return xasprintf("%s/%s", dest, rel);
}

static char *read_text(const char *rel)
{
	_cleanup_free_ char *p = dpath(rel);
	char *s = xcalloc(1, 4096);
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0) {
		CHECK(read(fd, s, 4095) >= 0);
		close(fd);
	}
	return s;
}

static mode_t lmode(const char *rel)
{
	_cleanup_free_ char *p = dpath(rel);
	struct stat st;

	return lstat(p, &st) == 0 ? st.st_mode : 0;
}

static char *link_of(const char *rel)
{
	_cleanup_free_ char *p = dpath(rel);
	char *s = xcalloc(1, 4096);

	if (readlink(p, s, 4095) < 0)
		s[0] = '\0';
	return s;
}

static void file_is(const char *rel, const char *content, mode_t mode)
{
	_cleanup_free_ char *s = read_text(rel);

	CHECK(S_ISREG(lmode(rel)));
	CHECK_STR(s, content);
	if ((lmode(rel) & 07777) != mode)
		fprintf(stderr, "%s: mode %o, want %o\n", rel, lmode(rel) & 07777, mode);
	CHECK((lmode(rel) & 07777) == mode);
}

static void link_is(const char *rel, const char *target)
{
	_cleanup_free_ char *s = link_of(rel);

	CHECK(S_ISLNK(lmode(rel)));
	CHECK_STR(s, target);
}

static int make_removable(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_D || type == FTW_DNR)
		chmod(path, 0700);
	return 0;
}

/* Directories may be 0555 or 0: as a user, they are opened up first. */
static void clear_dest(void)
{
	nftw(dest, make_removable, 16, FTW_PHYS);
	CHECK(kmi_rm_rf(dest) == 0);
}

/* ---- running a case both ways ---- */

typedef void check_fn(void);

/*
 * Layers that must be refused: the error must be KMI_EFORMAT (or code) and
 * read `msg` (exactly when it starts with "layer ", else as a substring);
 * DEST must be gone or still empty, and nothing else changed.
 */
static void refuse_code(const char *name, const struct ent *const *layers, size_t n,
			const struct kmi_extract_limits *lim, int code, const char *msg)
{
	for (int into_empty = 0; into_empty < 2; into_empty++) {
		_cleanup_free_ char *before = snapshot(), *after = NULL;
		struct kmi_error *err = NULL;
		int r;

		if (into_empty)
			CHECK(mkdir(dest, 0755) == 0);
		r = extract_layers(layers, n, lim, &err);
		after = snapshot();
		if (r == 0 || err == NULL || err->code != code ||
		    (strncmp(msg, "layer ", 6) == 0 ? strcmp(err->msg, msg) != 0
						    : strstr(err->msg, msg) == NULL)) {
			fprintf(stderr, "case %s (%s DEST): r=%d, error %d `%s`, want `%s`\n", name,
				into_empty ? "empty" : "new", r, err ? err->code : 0,
				err ? err->msg : "(none)", msg);
			check_failures++;
		}
		if (into_empty)
			CHECK(dir_empty(dest));
		else
			CHECK(access(dest, F_OK) < 0 && errno == ENOENT);
		if (strcmp(before, after) != 0) {
			fprintf(stderr, "case %s: outside DEST changed:\n--- before\n%s--- after\n%s", name,
				before, after);
			check_failures++;
		}
		kmi_error_free(&err);
		clear_dest();
	}
}

static void refuse(const char *name, const struct ent *const *layers, size_t n, const char *msg)
{
	refuse_code(name, layers, n, NULL, KMI_EFORMAT, msg);
}

#define REFUSE1(name, msg, ...) \
	refuse(name, (const struct ent *const[]){ (const struct ent[]){ __VA_ARGS__, { 0 } } }, 1, msg)

/* Layers that must extract, then pass check(); nothing outside DEST changes. */
static void expect_ok(const char *name, const struct ent *const *layers, size_t n, check_fn *check)
{
	for (int into_empty = 0; into_empty < 2; into_empty++) {
		_cleanup_free_ char *before = snapshot(), *after = NULL;
		struct kmi_error *err = NULL;
		int r;

		if (into_empty)
			CHECK(mkdir(dest, 0755) == 0);
		r = extract_layers(layers, n, NULL, &err);
		if (r < 0) {
			fprintf(stderr, "case %s: %s\n", name, err->msg);
			check_failures++;
		} else {
			check();
		}
		after = snapshot();
		if (strcmp(before, after) != 0) {
			fprintf(stderr, "case %s: outside DEST changed\n", name);
			check_failures++;
		}
		kmi_error_free(&err);
		clear_dest();
	}
}

/* ---- the hostile corpus ---- */

static void test_traversal(void)
{
	_cleanup_free_ char *abs = xasprintf("%s/abs", outside);

	REFUSE1("dotdot", "layer " D ": entry `../../etc/passwd`: path escapes the root",
		F("../../etc/passwd", "root::0:0::/:/bin/sh\n"));
	REFUSE1("dotdot-sibling", "layer " D ": entry `../outside/new`: path escapes the root",
		F("../outside/new", "x"));
	REFUSE1("dotdot-inner", "path escapes the root", DR("a"), F("a/../../outside/x", "x"));
	REFUSE1("dotdot-dir", "path escapes the root", DR("a/.."));
	REFUSE1("absolute", "absolute path", F(abs, "x"));
	REFUSE1("absolute-dir", "absolute path", DR("/" "tmp"));
	REFUSE1("empty-name", "empty name", F(".", "x"));
	REFUSE1("dot-slash-only", "empty name", L("./", "x"));
}

static void test_symlink_writes(void)
{
	/* The brief's case: link -> /tmp/outside, then link/x. */
	REFUSE1("through-symlink", "layer " D ": entry `link/x`: path goes through the symlink `link`",
		L("link", outside), F("link/x", "pwned"));
	REFUSE1("through-relative-symlink", "path goes through the symlink `up`",
		L("up", "../outside"), F("up/x", "pwned"));
	REFUSE1("through-symlink-deep", "path goes through the symlink `d/up`",
		DR("d"), L("d/up", "../.."), F("d/up/outside/x/y", "pwned"));
	REFUSE1("symlink-chain", "path goes through the symlink `a`",
		L("a", "b"), L("b", outside), F("a/x", "pwned"));
	REFUSE1("symlink-chain-dir", "path goes through the symlink `a`",
		L("b", "../outside"), L("a", "b"), DR("a/newdir"));
	REFUSE1("symlink-to-self", "path goes through the symlink `loop`",
		L("loop", "loop"), F("loop/x", "x"));
	REFUSE1("not-a-dir", "path goes through `f`, which is not a directory",
		F("f", "x"), F("f/x", "x"));
	/* The second layer writes through the first one's link. */
	refuse("through-lower-symlink",
	       (const struct ent *const[]){ (const struct ent[]){ L("lib", "../outside"), { 0 } },
					    (const struct ent[]){ F("lib/x", "x"), { 0 } } },
	       2, "layer " D ": entry `lib/x`: path goes through the symlink `lib`");
}

static void check_replaced_links(void)
{
	file_is("f", "mine", 0644);
	CHECK(S_ISDIR(lmode("d")));
	file_is("d/x", "inside", 0644);
	file_is("a", "one", 0644);
	file_is("h", "new", 0644);
}

static void test_symlink_replaced(void)
{
	_cleanup_free_ char *file = xasprintf("%s/file", outside);
	const struct ent layer[] = {
		/* An entry over a symlink replaces the link, never writes through it. */
		L("f", file), F("f", "mine"),
		L("d", outside), DR("d"), F("d/x", "inside"),
		/* A file over a hardlink does not change the other name. */
		F("a", "one"), H("h", "a"), F("h", "new"),
		{ 0 },
	};

	expect_ok("replace-links", (const struct ent *const[]){ layer }, 1, check_replaced_links);
}

static void test_hardlinks(void)
{
	REFUSE1("hardlink-passwd", "layer " D ": entry `pw`: hardlink target `/etc/passwd`: absolute path",
		H("pw", "/etc/passwd"));
	REFUSE1("hardlink-outside", "layer " D ": entry `o`: hardlink target `../outside/file`: path escapes the root",
		H("o", "../outside/file"));
	REFUSE1("hardlink-symlink", "layer " D ": entry `h`: hardlink target `s` is a symlink",
		L("s", "../outside/file"), H("h", "s"));
	REFUSE1("hardlink-through-symlink", "hardlink target `s/file` goes through the symlink `s`",
		L("s", "../outside"), H("h", "s/file"));
	REFUSE1("hardlink-dir", "hardlink target `d` is not a regular file", DR("d"), H("h", "d"));
	REFUSE1("hardlink-missing", "hardlink target `nope` does not exist", H("h", "nope"));
	REFUSE1("hardlink-missing-dir", "hardlink target `no/pe` does not exist", H("h", "no/pe"));
	REFUSE1("hardlink-self", "hardlink to itself", F("h", "x"), H("h", "./h"));
}

static void check_symlink_whiteout(void)
{
	CHECK(lmode("link") == 0);
	file_is("kept", "k", 0644);
}

static void test_whiteout_escapes(void)
{
	REFUSE1("whiteout-dotdot", "layer " D ": entry `.wh...`: whiteout escapes its directory",
		F(".wh...", ""));
	REFUSE1("whiteout-dotdot-inner", "whiteout escapes its directory", F("a/.wh...", ""));
	REFUSE1("whiteout-parent", "layer " D ": entry `../.wh.outside`: path escapes the root",
		F("../.wh.outside", ""));
	REFUSE1("whiteout-dot", "whiteout names nothing", F(".wh..", ""));
	REFUSE1("whiteout-empty", "whiteout names nothing", F(".wh.", ""));
	REFUSE1("whiteout-through-symlink", "path goes through the symlink `link`",
		L("link", "../outside"), F("link/.wh.file", ""));
	REFUSE1("opaque-through-symlink", "path goes through the symlink `link`",
		L("link", outside), F("link/.wh..wh..opq", ""));
	REFUSE1("whiteout-as-dir", "a whiteout name is used as a directory", F(".wh.a/b", "x"));
	refuse("whiteout-through-lower-symlink",
	       (const struct ent *const[]){ (const struct ent[]){ L("link", outside), { 0 } },
					    (const struct ent[]){ F("link/.wh.file", ""), { 0 } } },
	       2, "path goes through the symlink `link`");
	/* A whiteout of the link itself removes the link, not what it points to. */
	expect_ok("whiteout-symlink",
	       (const struct ent *const[]){
		       (const struct ent[]){ L("link", outside), F("kept", "k"), { 0 } },
		       (const struct ent[]){ F(".wh.link", ""), { 0 } } },
	       2, check_symlink_whiteout);
}

static void test_special_files(void)
{
	REFUSE1("chardev", "layer " D ": entry `dev/null`: character device: device nodes are not allowed",
		DR("dev"), SPECIAL('c', "dev/null"));
	REFUSE1("blockdev", "layer " D ": entry `sda`: block device: device nodes are not allowed",
		SPECIAL('b', "sda"));
	REFUSE1("fifo", "layer " D ": entry `fifo`: FIFO: FIFOs are not allowed", SPECIAL('p', "fifo"));
}

static void check_modes(void)
{
	_cleanup_free_ char *p = dpath("suid");
	struct stat st;

	file_is("suid", "x", 0755);
	file_is("sgid", "x", 0711);
	file_is("ro", "x", 0400);
	CHECK((lmode("sticky") & 07777) == 0777);
	CHECK((lmode("sgiddir") & 07777) == 0750);
	CHECK((lmode("closed") & 07777) == 0555);
	file_is("closed/inside", "x", 0644);
	CHECK(lstat(p, &st) == 0 && st.st_uid == geteuid() && st.st_gid == getegid());
	CHECK(st.st_mtim.tv_sec == MTIME);
}

static void test_modes(void)
{
	const struct ent layer[] = {
		FM("suid", "x", 04755),  FM("sgid", "x", 02711),
		FM("ro", "x", 0400),     DM("sticky", 01777),
		DM("sgiddir", 02750), DM("closed", 01555),
		F("closed/inside", "x"), { 0 },
	};

	expect_ok("modes", (const struct ent *const[]){ layer }, 1, check_modes);
	/* extract_layers gives the files uid/gid from the tar: nothing is chowned */
}

static void check_duplicates(void)
{
	file_is("a", "two", 0600);
	file_is("b", "file now", 0644);
	CHECK(S_ISDIR(lmode("e")));
	file_is("e/f", "in dir", 0644);
	link_is("s", "second");
	CHECK((lmode("d") & 0777) == 0700);
}

static void test_duplicates(void)
{
	const struct ent layer[] = {
		F("a", "one"),     FM("a", "two", 0600),
		DR("b"),            F("b/c", "c"),      F("b", "file now"),
		F("e", "file"),    DR("e"),             F("e/f", "in dir"),
		L("s", "first"),   L("s", "second"),
		DM("d", 0755), DM("d", 0700),
		{ 0 },
	};

	expect_ok("duplicates", (const struct ent *const[]){ layer }, 1, check_duplicates);
}

static void test_limits(void)
{
	struct kmi_extract_limits lim;
	struct kmi_buf path = { 0 }, deep = { 0 }, target = { 0 };

	for (int i = 0; i < 50; i++)
		kmi_buf_printf(&path, "%s%099d", i ? "/" : "", i);
	kmi_buf_putc(&path, '\0');
	for (int i = 0; i < 300; i++)
		kmi_buf_puts(&deep, "d/");
	kmi_buf_puts(&deep, "f");
	kmi_buf_putc(&deep, '\0');
	for (int i = 0; i < 4200; i++)
		kmi_buf_putc(&target, 'x');
	kmi_buf_putc(&target, '\0');

	{
		_cleanup_free_ char *msg = xasprintf("path is %zu bytes, over the limit of 4096", path.len - 1);
		REFUSE1("long-path", msg, F(path.data, "x"));
	}
	REFUSE1("deep", "path is deeper than 256 components", F(deep.data, "x"));
	REFUSE1("long-name", "a name is longer than 255 bytes", F(target.data + 3900, "x"));
	REFUSE1("long-symlink", "symlink target is 4200 bytes, over the limit of 4096",
		L("l", target.data));

	kmi_extract_limits_default(&lim);
	lim.max_file_size = 10;
	refuse_code("file-size", (const struct ent *const[]){ (const struct ent[]){ F("big", "0123456789a"), { 0 } } },
		    1, &lim, KMI_EFORMAT, "layer " D ": entry `big`: file is 11 bytes, over the limit of 10 for one file");
	kmi_extract_limits_default(&lim);
	lim.max_total_size = 20;
	refuse_code("total-size",
		    (const struct ent *const[]){ (const struct ent[]){ F("a", "0123456789abcde"), { 0 } },
						 (const struct ent[]){ F("b", "0123456789abcde"), { 0 } } },
		    2, &lim, KMI_EFORMAT, "the files add up to more than 20 bytes");
	kmi_extract_limits_default(&lim);
	lim.max_entries = 3;
	refuse_code("entries", (const struct ent *const[]){ (const struct ent[]){
			    F("1", ""), F("2", ""), F("3", ""), F("4", ""), { 0 } } },
		    1, &lim, KMI_EFORMAT, "layer " D ": entry `4`: more than 3 entries");
	refuse_code("entries-implied", (const struct ent *const[]){ (const struct ent[]){ F("a/b/c/d", ""), { 0 } } },
		    1, &lim, KMI_EFORMAT, "more than 3 entries");
	kmi_buf_free(&path);
	kmi_buf_free(&deep);
	kmi_buf_free(&target);
}

/* Layers written by hand: a huge declared size, NUL bytes in names. */
static void test_raw_headers(void)
{
	struct kmi_buf b = { 0 };
	struct kmi_error *err = NULL;
	_cleanup_free_ char *before = snapshot(), *after = NULL, *s = NULL;
	static const char pax[] = "30 path=ok\0/../../outside/pax\n";
	int r;

	/* 8 GiB declared, no data: refused before anything is read. */
	raw_header(&b, "huge", 4, '0', "77777777777");
	raw_end(&b);
	r = extract_blobs(&b, 1, KMI_MT_OCI_LAYER, false, NULL, &err);
	CHECK(r < 0 && err != NULL && err->code == KMI_EFORMAT);
	CHECK_STR(err ? err->msg : NULL,
		  "layer " D ": entry `huge`: file is 8589934591 bytes, over the limit of 4294967296 for one file");
	CHECK(access(dest, F_OK) < 0);
	kmi_error_free(&err);

	/* The name field ends at the first NUL: "safe", not "../../outside/nul". */
	b.len = 0;
	raw_header(&b, "safe\0../../outside/nul", 22, '0', "00000000002");
	raw_data(&b, "ok", 2);
	/* A pax path with a NUL inside: cut there, or refused; never followed further. */
	raw_header(&b, "PaxHeader", 9, 'x', "00000000036");
	raw_data(&b, pax, sizeof(pax) - 1);
	raw_header(&b, "placeholder", 11, '0', "00000000002");
	raw_data(&b, "ok", 2);
	raw_end(&b);
	r = extract_blobs(&b, 1, KMI_MT_OCI_LAYER, false, NULL, &err);
	if (r == 0) {
		s = read_text("safe");
		CHECK_STR(s, "ok");
		CHECK(S_ISREG(lmode("ok")) || S_ISREG(lmode("placeholder")));
	} else {
		CHECK(err != NULL && err->code == KMI_EFORMAT);
		CHECK(access(dest, F_OK) < 0);
	}
	kmi_error_free(&err);
	clear_dest();

	/* A truncated tar: refused, nothing left. */
	b.len = 0;
	raw_header(&b, "cut", 3, '0', "00000010000");
	raw_data(&b, "only a little", 13);
	r = extract_blobs(&b, 1, KMI_MT_OCI_LAYER, false, NULL, &err);
	CHECK(r < 0 && err != NULL && err->code == KMI_EFORMAT);
	CHECK(access(dest, F_OK) < 0);
	kmi_error_free(&err);

	after = snapshot();
	CHECK_STR(after, before);
	kmi_buf_free(&b);
}

/* ---- what must work ---- */

static void check_kmm_legacy(void)
{
	_cleanup_free_ char *a = dpath("a"), *l = dpath("link");
	struct stat sa, sl;

	file_is("a", "module bytes\n", 0644);
	CHECK(stat(a, &sa) == 0 && stat(l, &sl) == 0);
	CHECK(sa.st_ino == sl.st_ino && sa.st_dev == sl.st_dev && sa.st_nlink == 2);
	link_is("symlink", "a");
	link_is("lib-modules-symlink", "/lib/modules");
	CHECK(S_ISDIR(lmode("subdir")) && S_ISDIR(lmode("subdir/subsubdir")));
	file_is("subdir/b", "b\n", 0644);
	file_is("subdir/subsubdir/c", "c\n", 0755);
	link_is("lib/modules/x", "/lib/modules");
	CHECK((lmode("subdir") & 0777) == 0755);
}

/* KMM's worker test (internal/worker/testdata/archive.tar), with and without "./" names. */
static void test_kmm_legacy(void)
{
	const struct ent plain[] = {
		F("a", "module bytes\n"), H("link", "a"), L("symlink", "a"),
		L("lib-modules-symlink", "/lib/modules"),
		DR("subdir"), F("subdir/b", "b\n"),
		DR("subdir/subsubdir"), FM("subdir/subsubdir/c", "c\n", 0755),
		L("lib/modules/x", "/lib/modules"),
		{ 0 },
	};
	const struct ent dotted[] = {
		DR("./"), F("./a", "module bytes\n"), H("./link", "./a"),
		L("./symlink", "a"), L("./lib-modules-symlink", "/lib/modules"),
		DR("./subdir/"), F("./subdir/b", "b\n"),
		DR("./subdir/subsubdir/"), FM("./subdir//subsubdir/./c", "c\n", 0755),
		DR("./lib"), L("./lib/modules/x", "/lib/modules"),
		{ 0 },
	};

	expect_ok("kmm-legacy", (const struct ent *const[]){ plain }, 1, check_kmm_legacy);
	expect_ok("kmm-legacy-dotted", (const struct ent *const[]){ dotted }, 1, check_kmm_legacy);
}

static void check_whiteouts(void)
{
	CHECK(lmode("etc/a") == 0);
	file_is("etc/b", "b", 0644);
	CHECK(lmode("gone") == 0);
	CHECK(lmode("opq/old") == 0 && lmode("opq/sub") == 0);
	file_is("opq/new", "new", 0644);
	CHECK((lmode("opq") & 0777) == 0750);
	CHECK(lmode("late/old") == 0 && lmode("late/keep/old") == 0);
	file_is("late/new", "new", 0644);
	file_is("late/keep/new", "new", 0644);
	file_is("same", "same layer", 0644);
	CHECK(lmode("recreated/old") == 0);
	file_is("recreated/new", "new", 0644);
	file_is("hl", "x", 0644);
	CHECK(lmode("etc/.wh.a") == 0 && lmode("opq/.wh..wh..opq") == 0 && lmode(".wh..wh.plnk") == 0);
	CHECK(lmode("nothing") == 0 && lmode("nowhere") == 0);
}

static void test_whiteouts(void)
{
	const struct ent lower[] = {
		DR("etc"), F("etc/a", "a"), F("etc/b", "b"),
		DR("gone"), DR("gone/deep/er"), F("gone/deep/er/f", "f"),
		DR("opq"), F("opq/old", "old"), DR("opq/sub"), F("opq/sub/x", "x"),
		DR("late"), F("late/old", "old"), DR("late/keep"), F("late/keep/old", "old"),
		DR("recreated"), F("recreated/old", "old"),
		F("x", "x"),
		{ 0 },
	};
	const struct ent upper[] = {
		F("etc/.wh.a", ""),
		F(".wh.gone", ""),
		/* marker first, as the spec asks */
		DM("opq", 0750), F("opq/.wh..wh..opq", ""), F("opq/new", "new"),
		/* marker last: this layer's entries stay */
		F("late/new", "new"), F("late/keep/new", "new"), F("late/.wh..wh..opq", ""),
		/* a whiteout after this layer's own entry of that name: the entry stays */
		F("same", "same layer"), F(".wh.same", ""),
		/* a directory hidden and made again, in either order */
		DR("recreated"), F("recreated/new", "new"), F(".wh.recreated", ""),
		H("hl", "x"),
		F(".wh..wh.plnk", ""), F(".wh.nothing", ""), F("nowhere/.wh.x", ""),
		{ 0 },
	};

	expect_ok("whiteouts", (const struct ent *const[]){ lower, upper }, 2, check_whiteouts);
}

static void check_utf8(void)
{
	file_is("d\xc3\xa9j\xc3\xa0/\xe2\x9c\x93", "x", 0644);
}

static void test_utf8(void)
{
	const struct ent layer[] = { F("d\xc3\xa9j\xc3\xa0/\xe2\x9c\x93", "x"), { 0 } };

	expect_ok("utf8", (const struct ent *const[]){ layer }, 1, check_utf8);
}

/* ---- compression and blobs ---- */

static void expect_content(const char *what)
{
	_cleanup_free_ char *s = read_text("dir/file");

	if (strcmp(s, "hello\n") != 0)
		fprintf(stderr, "%s: dir/file is `%s`\n", what, s);
	CHECK_STR(s, "hello\n");
	link_is("dir/host", "/lib/modules/6.1.0-99-amd64");
	clear_dest();
}

static void test_compression(void)
{
	const struct ent layer[] = {
		DR("dir"), F("dir/file", "hello\n"),
		L("dir/host", "/lib/modules/6.1.0-99-amd64"), { 0 },
	};
	struct kmi_buf plain = { 0 }, gz = { 0 }, zst = { 0 }, multi = { 0 }, twice = { 0 };
	struct kmi_error *err = NULL;
	struct archive *a;
	size_t half;

	make_tar(layer, ARCHIVE_FILTER_NONE, &plain);
	make_tar(layer, ARCHIVE_FILTER_GZIP, &gz);
	make_tar(layer, ARCHIVE_FILTER_ZSTD, &zst);

	CHECK(extract_blobs(&plain, 1, KMI_MT_OCI_LAYER, true, NULL, &err) == 0);
	expect_content("tar");
	CHECK(extract_blobs(&gz, 1, KMI_MT_OCI_LAYER_GZIP, true, NULL, &err) == 0);
	expect_content("gzip");
	CHECK(extract_blobs(&gz, 1, KMI_MT_DOCKER_LAYER_GZIP, true, NULL, &err) == 0);
	expect_content("docker gzip");
	CHECK(extract_blobs(&zst, 1, KMI_MT_OCI_LAYER_ZSTD, true, NULL, &err) == 0);
	expect_content("zstd");
	CHECK(extract_blobs(&zst, 1, NULL, false, NULL, &err) == 0);
	expect_content("no media type");

	/* Two gzip members, split in the middle of the tar (pigz, or concatenated blobs). */
	half = plain.len / 2 + 7;
	for (int i = 0; i < 2; i++) {
		a = archive_write_new();
		archive_write_add_filter_gzip(a);
		archive_write_set_format_raw(a);
		archive_write_set_bytes_per_block(a, 0);
		CHECK(archive_write_open(a, &multi, NULL, buf_write, NULL) == ARCHIVE_OK);
		{
			struct archive_entry *ae = archive_entry_new();
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_copy_pathname(ae, "raw");
			CHECK(archive_write_header(a, ae) == ARCHIVE_OK);
			archive_entry_free(ae);
		}
		CHECK(archive_write_data(a, plain.data + (i ? half : 0), i ? plain.len - half : half) > 0);
		CHECK(archive_write_close(a) == ARCHIVE_OK);
		archive_write_free(a);
	}
	CHECK(extract_blobs(&multi, 1, KMI_MT_OCI_LAYER_GZIP, true, NULL, &err) == 0);
	if (err)
		fprintf(stderr, "multi-member: %s\n", err->msg);
	kmi_error_free(&err);
	expect_content("multi-member gzip");

	/* What the media type says must be what the blob is. */
	CHECK(extract_blobs(&plain, 1, KMI_MT_OCI_LAYER_GZIP, false, NULL, &err) < 0);
	CHECK_STR(err ? err->msg : NULL,
		  "layer " D ": its media type says gzip, its content is uncompressed");
	kmi_error_free(&err);
	CHECK(extract_blobs(&gz, 1, KMI_MT_OCI_LAYER_ZSTD, false, NULL, &err) < 0);
	CHECK(err != NULL && err->code == KMI_EFORMAT);
	kmi_error_free(&err);
	CHECK(extract_blobs(&gz, 1, KMI_MT_OCI_LAYER, false, NULL, &err) < 0);
	CHECK(err != NULL && err->code == KMI_EFORMAT);
	kmi_error_free(&err);
	CHECK(extract_blobs(&gz, 1, "application/vnd.oci.image.layer.v1.tar+bzip2", false, NULL, &err) < 0);
	CHECK_STR(err ? err->msg : NULL,
		  "layer " D ": unsupported media type `application/vnd.oci.image.layer.v1.tar+bzip2`");
	kmi_error_free(&err);
	a = archive_write_new();
	archive_write_add_filter_gzip(a);
	archive_write_set_format_raw(a);
	CHECK(archive_write_open(a, &twice, NULL, buf_write, NULL) == ARCHIVE_OK);
	{
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_copy_pathname(ae, "raw");
		CHECK(archive_write_header(a, ae) == ARCHIVE_OK);
		archive_entry_free(ae);
	}
	CHECK(archive_write_data(a, gz.data, gz.len) > 0);
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
	CHECK(extract_blobs(&twice, 1, KMI_MT_OCI_LAYER_GZIP, false, NULL, &err) < 0);
	CHECK_STR(err ? err->msg : NULL,
		  "layer " D ": its media type says gzip, its content is compressed twice");
	kmi_error_free(&err);

	/* A corrupt blob: the digest check catches it even where the tar still reads. */
	plain.data[plain.len - 1] ^= 1;
	{
		struct kmi_extract_layer l = { .fd = memfd_of(&plain), .digest = D,
					       .media_type = KMI_MT_OCI_LAYER, .verify = true };
		CHECK(kmi_extract_fds(&l, 1, dest, NULL, &err) < 0);
		CHECK(err != NULL && err->code == KMI_EDIGEST);
		CHECK(err != NULL && strstr(err->msg, "layer " D ": the blob is corrupt") == err->msg);
		close(l.fd);
	}
	kmi_error_free(&err);
	CHECK(access(dest, F_OK) < 0);
	/* Truncated gzip: malformed, or, when its digest is known, corrupt. */
	gz.len -= 20;
	CHECK(extract_blobs(&gz, 1, KMI_MT_OCI_LAYER_GZIP, false, NULL, &err) < 0);
	CHECK(err != NULL && err->code == KMI_EFORMAT);
	kmi_error_free(&err);
	CHECK(access(dest, F_OK) < 0);
	{
		struct kmi_extract_layer l = { .fd = memfd_of(&gz), .digest = D,
					       .media_type = KMI_MT_OCI_LAYER_GZIP, .verify = true };
		CHECK(kmi_extract_fds(&l, 1, dest, NULL, &err) < 0);
		CHECK(err != NULL && err->code == KMI_EDIGEST);
		close(l.fd);
	}
	kmi_error_free(&err);
	CHECK(access(dest, F_OK) < 0);

	kmi_buf_free(&plain);
	kmi_buf_free(&gz);
	kmi_buf_free(&zst);
	kmi_buf_free(&multi);
	kmi_buf_free(&twice);
}

/* A gzip blob of the tar in plain, as one member (gzip(1), Go) or none. */
static void gzip_one_member(const struct kmi_buf *plain, struct kmi_buf *out)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();

	archive_write_add_filter_gzip(a);
	archive_write_set_format_raw(a);
	archive_write_set_bytes_per_block(a, 0);
	CHECK(archive_write_open(a, out, NULL, buf_write, NULL) == ARCHIVE_OK);
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_entry_copy_pathname(ae, "raw");
	CHECK(archive_write_header(a, ae) == ARCHIVE_OK);
	archive_entry_free(ae);
	CHECK(archive_write_data(a, plain->data, plain->len) == (la_ssize_t)plain->len);
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
}

/* Blobs that cannot be mapped (a pipe) or whose members are larger than the reader's buffers. */
static void test_sources(void)
{
	const struct ent small[] = {
		DR("dir"), F("dir/file", "hello\n"), L("dir/host", "/lib/modules/6.1.0-99-amd64"), { 0 },
	};
	struct kmi_buf plain = { 0 }, gz = { 0 }, big = { 0 }, bigz = { 0 };
	struct kmi_error *err = NULL;
	char *data = xmalloc(9u << 20);
	int pfd[2];

	make_tar(small, ARCHIVE_FILTER_NONE, &plain);
	make_tar(small, ARCHIVE_FILTER_GZIP, &gz);
	for (int i = 0; i < 3; i++) {
		const struct kmi_buf *blob = i == 0 ? &plain : &gz;
		char digest[KMI_DIGEST_LEN];
		struct kmi_extract_layer l = { .digest = digest, .verify = true,
					       .media_type = i == 0 ? KMI_MT_OCI_LAYER : KMI_MT_OCI_LAYER_GZIP };

		kmi_sha256_digest(blob->data, blob->len, digest);
		if (i == 2)
			digest[10] = digest[10] == '0' ? '1' : '0'; /* wrong: found at the end of the stream */
		CHECK(blob->len < 65536 && pipe2(pfd, O_CLOEXEC) == 0);
		CHECK(write(pfd[1], blob->data, blob->len) == (ssize_t)blob->len);
		close(pfd[1]);
		l.fd = pfd[0];
		if (i < 2) {
			CHECK(kmi_extract_fds(&l, 1, dest, NULL, &err) == 0);
			expect_content(i == 0 ? "tar from a pipe" : "gzip from a pipe");
		} else {
			CHECK(kmi_extract_fds(&l, 1, dest, NULL, &err) < 0);
			CHECK(err != NULL && err->code == KMI_EDIGEST);
			if (err != NULL && err->code != KMI_EDIGEST)
				fprintf(stderr, "wrong digest from a pipe: %s\n", err->msg);
			CHECK(access(dest, F_OK) < 0);
		}
		kmi_error_free(&err);
		close(pfd[0]);
	}

	/* One member of 9 MiB and more: streamed with zlib, not decompressed whole. */
	for (size_t i = 0; i < (9u << 20); i++)
		data[i] = (char)('a' + (i * 7 + (i >> 12)) % 26);
	data[(9u << 20) - 1] = '\0';
	{
		const struct ent layer[] = { DR("dir"), F("dir/file", "hello\n"), F("big", data),
					     L("dir/host", "/lib/modules/6.1.0-99-amd64"), { 0 } };
		struct stat st;
		_cleanup_free_ char *p = dpath("big");

		make_tar(layer, ARCHIVE_FILTER_NONE, &big);
		gzip_one_member(&big, &bigz);
		CHECK(extract_blobs(&bigz, 1, KMI_MT_OCI_LAYER_GZIP, true, NULL, &err) == 0);
		CHECK(stat(p, &st) == 0 && st.st_size == (off_t)((9u << 20) - 1));
		expect_content("one large gzip member");
		/* cut short, and with garbage after the member */
		bigz.len -= 4096;
		CHECK(extract_blobs(&bigz, 1, KMI_MT_OCI_LAYER_GZIP, false, NULL, &err) < 0);
		CHECK(err != NULL && err->code == KMI_EFORMAT);
		kmi_error_free(&err);
		CHECK(access(dest, F_OK) < 0);
	}
	kmi_buf_put(&gz, "garbage!garbage!garbage!", 24);
	CHECK(extract_blobs(&gz, 1, KMI_MT_OCI_LAYER_GZIP, false, NULL, &err) < 0 ||
	      (expect_content("gzip with trailing garbage"), true));
	kmi_error_free(&err);
	clear_dest();

	free(data);
	kmi_buf_free(&plain);
	kmi_buf_free(&gz);
	kmi_buf_free(&big);
	kmi_buf_free(&bigz);
}

/* ---- the destination ---- */

static void test_destination(void)
{
	const struct ent layer[] = { F("x", "x"), { 0 } };
	const struct ent bad[] = { F("ok", "x"), F("../no", "x"), { 0 } };
	_cleanup_free_ char *keep = xasprintf("%s/keep", dest), *missing = NULL;
	_cleanup_free_ char *before = snapshot(), *after = NULL;
	struct kmi_error *err = NULL;
	struct stat st;
	char *saved = dest;

	/* Not empty: refused, untouched. */
	CHECK(mkdir(dest, 0700) == 0);
	CHECK(close(open(keep, O_CREAT | O_WRONLY | O_CLOEXEC, 0600)) == 0);
	CHECK(extract_layers((const struct ent *const[]){ layer }, 1, NULL, &err) < 0);
	CHECK(err != NULL && err->code == KMI_EUSAGE && strstr(err->msg, "is not empty") != NULL);
	kmi_error_free(&err);
	CHECK(access(keep, F_OK) == 0);
	clear_dest();
	/* A file. */
	CHECK(close(open(dest, O_CREAT | O_WRONLY | O_CLOEXEC, 0600)) == 0);
	CHECK(extract_layers((const struct ent *const[]){ layer }, 1, NULL, &err) < 0);
	CHECK(err != NULL && err->code == KMI_EUSAGE && strstr(err->msg, "not a directory") != NULL);
	kmi_error_free(&err);
	unlink(dest);
	/* No parent. */
	missing = xasprintf("%s/no/such/dir", top);
	dest = missing;
	CHECK(extract_layers((const struct ent *const[]){ layer }, 1, NULL, &err) < 0);
	CHECK(err != NULL && err->code == ENOENT);
	kmi_error_free(&err);
	dest = saved;

	/* A new DEST is 0755 whatever the umask; an empty one keeps its mode. */
	CHECK(extract_layers((const struct ent *const[]){ layer }, 1, NULL, &err) == 0);
	CHECK(stat(dest, &st) == 0 && (st.st_mode & 07777) == 0755);
	clear_dest();
	CHECK(mkdir(dest, 0700) == 0);
	CHECK(extract_layers((const struct ent *const[]){ layer }, 1, NULL, &err) == 0);
	CHECK(stat(dest, &st) == 0 && (st.st_mode & 07777) == 0700);
	file_is("x", "x", 0644);
	clear_dest();

	/* A good first layer and a hostile second one: nothing left, both ways. */
	refuse("second-layer", (const struct ent *const[]){ layer, bad }, 2,
	       "layer " D ": entry `../no`: path escapes the root");

	after = snapshot();
	CHECK_STR(after, before);
}

/* ---- openat2 missing ---- */

static void corpus(void)
{
	RUN(test_traversal);
	RUN(test_symlink_writes);
	RUN(test_symlink_replaced);
	RUN(test_hardlinks);
	RUN(test_whiteout_escapes);
	RUN(test_special_files);
	RUN(test_modes);
	RUN(test_duplicates);
	RUN(test_limits);
	RUN(test_raw_headers);
	RUN(test_kmm_legacy);
	RUN(test_whiteouts);
	RUN(test_utf8);
}

/* In a child where openat2 fails with ENOSYS, as on kernels before 5.6. */
static void test_without_openat2(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = ARRAY_SIZE(filter), .filter = filter };
	int status = -1;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct open_how how = { .flags = O_RDONLY };

		check_failures = 0;
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
			fprintf(stderr, "seccomp: %s\n", strerror(errno));
			exit(1);
		}
		CHECK(syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how)) < 0 && errno == ENOSYS);
		printf("without openat2:\n");
		corpus();
		fflush(NULL);
		exit(check_failures ? 1 : 0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	_cleanup_free_ char *file = NULL;
	int fd;

	umask(022);
	CHECK(mkdtemp(top) != NULL);
	dest = xasprintf("%s/dest", top);
	outside = xasprintf("%s/outside", top);
	file = xasprintf("%s/file", outside);
	CHECK(mkdir(outside, 0755) == 0);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && write(fd, "sentinel\n", 9) == 9);
	close(fd);

	corpus();
	RUN(test_compression);
	RUN(test_sources);
	RUN(test_destination);
	RUN(test_without_openat2);

	clear_dest();
	kmi_rm_rf(top);
	free(dest);
	free(outside);
	kmi_buf_free(&snap_lines);
	CHECK_EXIT();
}
