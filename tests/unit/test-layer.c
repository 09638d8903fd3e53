// SPDX-License-Identifier: LGPL-2.1-or-later
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "check.h"
#include "oci/layer.h"
#include "oci/pgzip.h"
#include "util/buf.h"
#include "util/macro.h"
#include "util/xalloc.h"

#define MTIME 1700000000
#define BIG_SIZE (5 * 1024 * 1024 + 12345)

static char tmpdir[] = "/tmp/kmodimg-test-layer.XXXXXX";

/* ---- helpers ---- */

static char *tmp_path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void write_file(const char *name, const char *content, mode_t mode)
{
	_cleanup_free_ char *p = tmp_path(name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	close(fd);
}

static void read_all(int fd, struct kmi_buf *b)
{
	ssize_t n;

	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	b->len = 0;
	for (;;) {
		kmi_buf_reserve(b, 65536);
		n = read(fd, b->data + b->len, b->cap - b->len);
		if (n <= 0)
			break;
		b->len += (size_t)n;
	}
	CHECK(n == 0);
}

/* Writes a layer into a temp file; the blob goes to *blob when not NULL. */
static int make_layer(const struct kmi_layer_entry *e, size_t n,
		      enum kmi_compression comp, unsigned threads,
		      struct kmi_layer_result *res, struct kmi_buf *blob,
		      struct kmi_error **err)
{
	struct kmi_layer_opts opts = { .compression = comp,
				       .threads = threads,
				       .mtime = MTIME };
	_cleanup_free_ char *p = tmp_path("blob");
	_cleanup_close_ int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r;

	CHECK(fd >= 0);
	r = kmi_layer_write(e, n, &opts, fd, res, err);
	if (r == 0 && blob != NULL)
		read_all(fd, blob);
	unlink(p);
	return r;
}

static void sha256_of(const struct kmi_buf *b, char out[KMI_DIGEST_LEN])
{
	kmi_sha256_digest(b->data, b->len, out);
}

/* Decompresses every member, as gzip -d does; returns the member count or -1. */
static int gunzip(const struct kmi_buf *in, struct kmi_buf *out)
{
	z_stream s = { 0 };
	int members = 0, r;

	out->len = 0;
	if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK)
		return -1;
	s.next_in = (unsigned char *)in->data;
	s.avail_in = (uInt)in->len;
	for (;;) {
		kmi_buf_reserve(out, 1 << 20);
		s.next_out = (unsigned char *)out->data + out->len;
		s.avail_out = (uInt)(out->cap - out->len);
		r = inflate(&s, Z_NO_FLUSH);
		out->len = out->cap - s.avail_out;
		if (r == Z_STREAM_END) {
			members++;
			if (s.avail_in == 0)
				break;
			inflateReset(&s);
		} else if (r != Z_OK) {
			members = -1;
			break;
		}
	}
	inflateEnd(&s);
	return members;
}

static int unzstd(const struct kmi_buf *in, struct kmi_buf *out)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer ib = { in->data, in->len, 0 };
	size_t r = 1;

	out->len = 0;
	while (ib.pos < ib.size) {
		ZSTD_outBuffer ob;

		kmi_buf_reserve(out, 1 << 20);
		ob = (ZSTD_outBuffer){ out->data + out->len, out->cap - out->len, 0 };
		r = ZSTD_decompressStream(d, &ob, &ib);
		out->len += ob.pos;
		if (ZSTD_isError(r))
			break;
	}
	ZSTD_freeDCtx(d);
	return r == 0 ? 0 : -1;
}

/* ---- the fixture ---- */

static char *src_a, *src_b, *src_x, *src_empty;

static void setup_tree(void)
{
	CHECK(mkdtemp(tmpdir) != NULL);
	write_file("a.ko", "module a\n", 0644);
	write_file("b.ko", "module b, a bit longer\n", 0600);
	write_file("tool.sh", "#!/bin/sh\necho hi\n", 0700);
	write_file("empty", "", 0644);
	src_a = tmp_path("a.ko");
	src_b = tmp_path("b.ko");
	src_x = tmp_path("tool.sh");
	src_empty = tmp_path("empty");
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static void teardown_tree(void)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(src_a);
	free(src_b);
	free(src_x);
	free(src_empty);
}

#define KVER "6.1.0-56-amd64"
#define LONG_NAME                                                                        \
	"lib/modules/" KVER "/kernel/drivers/net/ethernet/some/vendor/with/a/very/long/" \
	"directory/path/that/needs/a/pax/header/because/ustar/is/too/short/module.ko"

/* Unsorted on purpose; "lib/modules/X/build-x" sorts between "lib" dirs and their content. */
static struct kmi_layer_entry base_entries[] = {
	{ .path = "lib/modules/" KVER "/kernel/a.ko",
	  .type = KMI_ENTRY_FILE,
	  .mode = 0644 },
	{ .path = "lib/modules/" KVER "/host",
	  .type = KMI_ENTRY_SYMLINK,
	  .target = "/lib/modules/" KVER },
	{ .path = "lib", .type = KMI_ENTRY_DIR, .mode = 0700 },
	{ .path = "lib/modules", .type = KMI_ENTRY_DIR, .mode = 0755 },
	{ .path = "lib/modules/" KVER, .type = KMI_ENTRY_DIR },
	{ .path = "lib/modules/" KVER "/kernel", .type = KMI_ENTRY_DIR },
	{ .path = "lib/modules/" KVER "/kernel/b.ko",
	  .type = KMI_ENTRY_FILE,
	  .mode = 0600 },
	{ .path = "lib/modules/" KVER "/kernel/empty.ko", .type = KMI_ENTRY_FILE },
	{ .path = "lib/modules/" KVER "/modules.dep",
	  .type = KMI_ENTRY_FILE,
	  .mode = 0644,
	  .data = "kernel/a.ko:\nkernel/b.ko:\n",
	  .size = 26 },
	{ .path = "lib/modules/" KVER "-x", .type = KMI_ENTRY_SYMLINK, .target = KVER },
	{ .path = "usr/bin/tool", .type = KMI_ENTRY_FILE, .mode = 0755 },
	{ .path = "usr", .type = KMI_ENTRY_DIR },
	{ .path = "usr/bin", .type = KMI_ENTRY_DIR },
	{ .path = "lib/modules/" KVER "/caf\xc3\xa9.txt",
	  .type = KMI_ENTRY_FILE,
	  .data = "x",
	  .size = 1 },
	{ .path = LONG_NAME, .type = KMI_ENTRY_FILE, .data = "", .size = 0 },
};
#define NBASE ARRAY_SIZE(base_entries)

static void bind_sources(struct kmi_layer_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strstr(e[i].path, "/a.ko"))
			e[i].source = src_a;
		else if (strstr(e[i].path, "/b.ko"))
			e[i].source = src_b;
		else if (strstr(e[i].path, "/empty.ko"))
			e[i].source = src_empty;
		else if (strstr(e[i].path, "/tool"))
			e[i].source = src_x;
	}
}

static const struct {
	const char *name;
	int type;
	unsigned mode;
	const char *link;
	const char *content;
} expected[] = {
	{ "lib/", AE_IFDIR, 0755, NULL, NULL },
	{ "lib/modules/", AE_IFDIR, 0755, NULL, NULL },
	{ "lib/modules/" KVER "/", AE_IFDIR, 0755, NULL, NULL },
	{ "lib/modules/" KVER "-x", AE_IFLNK, 0777, KVER, NULL },
	{ "lib/modules/" KVER "/caf\xc3\xa9.txt", AE_IFREG, 0644, NULL, "x" },
	{ "lib/modules/" KVER "/host", AE_IFLNK, 0777, "/lib/modules/" KVER, NULL },
	{ "lib/modules/" KVER "/kernel/", AE_IFDIR, 0755, NULL, NULL },
	{ "lib/modules/" KVER "/kernel/a.ko", AE_IFREG, 0644, NULL, "module a\n" },
	{ "lib/modules/" KVER "/kernel/b.ko", AE_IFREG, 0644, NULL,
	  "module b, a bit longer\n" },
	{ LONG_NAME, AE_IFREG, 0644, NULL, "" },
	{ "lib/modules/" KVER "/kernel/empty.ko", AE_IFREG, 0644, NULL, "" },
	{ "lib/modules/" KVER "/modules.dep", AE_IFREG, 0644, NULL,
	  "kernel/a.ko:\nkernel/b.ko:\n" },
	{ "usr/", AE_IFDIR, 0755, NULL, NULL },
	{ "usr/bin/", AE_IFDIR, 0755, NULL, NULL },
	{ "usr/bin/tool", AE_IFREG, 0755, NULL, "#!/bin/sh\necho hi\n" },
};

/* ---- tests ---- */

static void test_tar_contents(void)
{
	struct kmi_layer_result res;
	struct kmi_error *err = NULL;
	struct kmi_buf blob = { 0 };
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	char sum[KMI_DIGEST_LEN];
	size_t i = 0;
	int r;

	bind_sources(base_entries, NBASE);
	CHECK(make_layer(base_entries, NBASE, KMI_COMPRESS_NONE, 1, &res, &blob, &err) ==
	      0);
	CHECK(err == NULL);
	CHECK_STR(res.media_type, "application/vnd.oci.image.layer.v1.tar");
	CHECK(res.size == blob.len);
	CHECK(blob.len % 10240 == 0);
	sha256_of(&blob, sum);
	CHECK_STR(res.digest, sum);
	CHECK_STR(res.diff_id, sum);

	archive_read_support_format_tar(a);
	CHECK(archive_read_open_memory(a, blob.data, blob.len) == ARCHIVE_OK);
	/* WARN: the UTF-8 name cannot be converted to the test's C locale */
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		char data[256];
		la_ssize_t n;

		if (i >= ARRAY_SIZE(expected)) {
			i++;
			continue;
		}
		CHECK_STR(archive_entry_pathname(ae), expected[i].name);
		CHECK((int)archive_entry_filetype(ae) == expected[i].type);
		CHECK((archive_entry_perm(ae) & 07777) == expected[i].mode);
		CHECK(archive_entry_uid(ae) == 0 && archive_entry_gid(ae) == 0);
		CHECK(archive_entry_uname(ae) == NULL ||
		      archive_entry_uname(ae)[0] == '\0');
		CHECK(archive_entry_gname(ae) == NULL ||
		      archive_entry_gname(ae)[0] == '\0');
		CHECK(archive_entry_mtime(ae) == MTIME &&
		      archive_entry_mtime_nsec(ae) == 0);
		CHECK(!archive_entry_atime_is_set(ae) && !archive_entry_ctime_is_set(ae));
		CHECK(!archive_entry_birthtime_is_set(ae));
		CHECK(archive_entry_xattr_count(ae) == 0);
		if (expected[i].link)
			CHECK_STR(archive_entry_symlink(ae), expected[i].link);
		if (expected[i].content) {
			n = archive_read_data(a, data, sizeof(data));
			CHECK(n == (la_ssize_t)strlen(expected[i].content));
			CHECK(n >= 0 &&
			      memcmp(data, expected[i].content, (size_t)n) == 0);
		}
		i++;
	}
	CHECK(r == ARCHIVE_EOF);
	CHECK(i == ARRAY_SIZE(expected));
	archive_read_free(a);
	kmi_buf_free(&blob);
}

static void shuffle(struct kmi_layer_entry *e, size_t n, uint32_t seed)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j;
		struct kmi_layer_entry t;

		seed = seed * 1103515245u + 12345u;
		j = (seed >> 8) % (i + 1);
		t = e[i];
		e[i] = e[j];
		e[j] = t;
	}
}

static void digest_of(const struct kmi_layer_entry *e, size_t n, enum kmi_compression c,
		      unsigned threads, char out[KMI_DIGEST_LEN])
{
	struct kmi_layer_result res;
	struct kmi_error *err = NULL;

	CHECK(make_layer(e, n, c, threads, &res, NULL, &err) == 0);
	if (err)
		fprintf(stderr, "error: %s\n", err->msg);
	kmi_error_free(&err);
	memcpy(out, res.digest, KMI_DIGEST_LEN);
}

/* Same entries give the same bytes whatever the order, host metadata, locale, threads. */
static void test_deterministic(void)
{
	static const enum kmi_compression comps[] = { KMI_COMPRESS_GZIP,
						      KMI_COMPRESS_ZSTD,
						      KMI_COMPRESS_NONE };
	struct kmi_layer_entry e[NBASE];
	char ref[3][KMI_DIGEST_LEN], d[KMI_DIGEST_LEN];
	struct timespec ts[2] = { { 12345, 0 }, { 99999, 5 } };
	mode_t old_umask;

	memcpy(e, base_entries, sizeof(e));
	bind_sources(e, NBASE);
	for (size_t c = 0; c < 3; c++)
		digest_of(e, NBASE, comps[c], 1, ref[c]);
	CHECK(strcmp(ref[0], ref[1]) != 0 && strcmp(ref[1], ref[2]) != 0);

	for (uint32_t seed = 1; seed <= 3; seed++) {
		shuffle(e, NBASE, seed);
		for (size_t c = 0; c < 3; c++) {
			digest_of(e, NBASE, comps[c], seed == 1 ? 1 : seed * 3, d);
			CHECK_STR(d, ref[c]);
		}
	}

	/* Other mtimes, modes (as another umask would leave), owners of the sources. */
	CHECK(utimensat(AT_FDCWD, src_a, ts, 0) == 0);
	CHECK(chmod(src_b, 0664) == 0);
	CHECK(chmod(src_x, 0755) == 0);
	if (geteuid() == 0)
		CHECK(chown(src_a, 1234, 5678) == 0);
	old_umask = umask(0);
	CHECK(unlink(src_empty) == 0);
	write_file("empty", "", 0666);
	umask(old_umask);
	for (size_t c = 0; c < 3; c++) {
		digest_of(e, NBASE, comps[c], 2, d);
		CHECK_STR(d, ref[c]);
	}

	/* Threads never change the bytes (zstd: 1 vs 2 vs 8 workers). */
	for (unsigned t = 1; t <= 8; t *= 2) {
		for (size_t c = 0; c < 2; c++) {
			digest_of(e, NBASE, comps[c], t, d);
			CHECK_STR(d, ref[c]);
		}
	}

	/* Nor does the caller's locale. */
	if (setlocale(LC_ALL, "C.UTF-8") != NULL) {
		digest_of(e, NBASE, KMI_COMPRESS_NONE, 1, d);
		CHECK_STR(d, ref[2]);
		setlocale(LC_ALL, "C");
	}

	/* A different content or mtime must show. */
	write_file("a.ko", "module A\n", 0644);
	digest_of(e, NBASE, KMI_COMPRESS_NONE, 1, d);
	CHECK(strcmp(d, ref[2]) != 0);
	write_file("a.ko", "module a\n", 0644);
	digest_of(e, NBASE, KMI_COMPRESS_NONE, 1, d);
	CHECK_STR(d, ref[2]);
}

/* Pseudo-random halves and compressible halves, so blocks differ in ratio. */
static void fill_big(unsigned char *p, size_t n)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < n; i++) {
		if ((i / 300000) % 2 == 0) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[i] = (unsigned char)x;
		} else {
			p[i] = "kernel module text "[i % 19];
		}
	}
}

static void check_roundtrip(const struct kmi_layer_entry *e, size_t n,
			    const struct kmi_buf *tar)
{
	char gz1[KMI_DIGEST_LEN] = "", zs1[KMI_DIGEST_LEN] = "";

	for (unsigned t = 1; t <= 8; t *= 2) {
		struct kmi_layer_result rg, rz;
		struct kmi_error *err = NULL;
		struct kmi_buf gz = { 0 }, zs = { 0 }, out = { 0 };
		char sum[KMI_DIGEST_LEN];
		int members;

		CHECK(make_layer(e, n, KMI_COMPRESS_GZIP, t, &rg, &gz, &err) == 0);
		CHECK(make_layer(e, n, KMI_COMPRESS_ZSTD, t, &rz, &zs, &err) == 0);
		CHECK(err == NULL);
		CHECK_STR(rg.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
		CHECK_STR(rz.media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
		CHECK(rg.size == gz.len && rz.size == zs.len);
		sha256_of(&gz, sum);
		CHECK_STR(rg.digest, sum);
		sha256_of(&zs, sum);
		CHECK_STR(rz.digest, sum);
		if (t == 1) {
			memcpy(gz1, rg.digest, KMI_DIGEST_LEN);
			memcpy(zs1, rz.digest, KMI_DIGEST_LEN);
		}
		CHECK_STR(rg.digest, gz1);
		CHECK_STR(rz.digest, zs1);

		members = gunzip(&gz, &out);
		CHECK(members ==
		      (int)((tar->len + KMI_PGZIP_BLOCK - 1) / KMI_PGZIP_BLOCK));
		CHECK(out.len == tar->len && memcmp(out.data, tar->data, tar->len) == 0);
		sha256_of(&out, sum);
		CHECK_STR(rg.diff_id, sum);

		CHECK(unzstd(&zs, &out) == 0);
		CHECK(out.len == tar->len && memcmp(out.data, tar->data, tar->len) == 0);
		CHECK_STR(rz.diff_id, sum);

		kmi_buf_free(&gz);
		kmi_buf_free(&zs);
		kmi_buf_free(&out);
	}
}

static void test_roundtrip(void)
{
	struct kmi_layer_entry e[NBASE + 1];
	struct kmi_layer_result res;
	struct kmi_error *err = NULL;
	struct kmi_buf tar = { 0 };
	unsigned char *big = xmalloc(BIG_SIZE);

	fill_big(big, BIG_SIZE);
	memcpy(e, base_entries, sizeof(base_entries));
	bind_sources(e, NBASE);

	/* small: one member */
	CHECK(make_layer(e, NBASE, KMI_COMPRESS_NONE, 1, &res, &tar, &err) == 0);
	check_roundtrip(e, NBASE, &tar);

	/* big: 6 members */
	e[NBASE] = (struct kmi_layer_entry){ .path = "usr/bin/big",
					     .type = KMI_ENTRY_FILE,
					     .data = big,
					     .size = BIG_SIZE };
	CHECK(make_layer(e, NBASE + 1, KMI_COMPRESS_NONE, 1, &res, &tar, &err) == 0);
	CHECK(tar.len > 5 * KMI_PGZIP_BLOCK);
	check_roundtrip(e, NBASE + 1, &tar);
	CHECK(err == NULL);
	kmi_buf_free(&tar);
	free(big);
}

/* Below 4 MiB of content: 128 KiB members, the same bytes for 1 or 3 threads. */
static void test_small_layer_members(void)
{
	const size_t size = 700 * 1024;
	unsigned char *data = xmalloc(size);
	struct kmi_layer_entry e = { .path = "lib/modules/m.ko", .type = KMI_ENTRY_FILE,
				     .data = data, .size = size };
	struct kmi_layer_result r1, r3;
	struct kmi_error *err = NULL;
	struct kmi_buf gz = { 0 }, out = { 0 };
	int members;

	fill_big(data, size);
	CHECK(make_layer(&e, 1, KMI_COMPRESS_GZIP, 3, &r3, &gz, &err) == 0);
	CHECK(make_layer(&e, 1, KMI_COMPRESS_GZIP, 1, &r1, &gz, &err) == 0);
	CHECK_STR(r1.digest, r3.digest);
	members = gunzip(&gz, &out);
	CHECK(out.len > size);
	CHECK(members == (int)((out.len + (128u << 10) - 1) / (128u << 10)));
	CHECK(err == NULL);
	kmi_buf_free(&gz);
	kmi_buf_free(&out);
	free(data);
}

/* Several zstd jobs (8 MiB each at level 3): still the same frame for 1, 2 or 8 workers. */
static void test_zstd_jobs(void)
{
	const size_t size = 20 * 1024 * 1024;
	unsigned char *big = xmalloc(size);
	struct kmi_layer_entry e = {
		.path = "big", .type = KMI_ENTRY_FILE, .data = big, .size = size
	};
	struct kmi_layer_result ref, res;
	struct kmi_error *err = NULL;
	struct kmi_buf blob = { 0 }, out = { 0 };

	fill_big(big, size);
	CHECK(make_layer(&e, 1, KMI_COMPRESS_ZSTD, 1, &ref, &blob, &err) == 0);
	CHECK(unzstd(&blob, &out) == 0);
	CHECK(out.len > size && memcmp(out.data + 512, big, size) == 0);
	for (unsigned t = 2; t <= 8; t *= 4) {
		CHECK(make_layer(&e, 1, KMI_COMPRESS_ZSTD, t, &res, NULL, &err) == 0);
		CHECK_STR(res.digest, ref.digest);
		CHECK_STR(res.diff_id, ref.diff_id);
	}
	CHECK(err == NULL);
	kmi_buf_free(&blob);
	kmi_buf_free(&out);
	free(big);
}

/* libarchive reads the multi-member gzip and the zstd blobs as one tar. */
static void test_libarchive_reads_blobs(void)
{
	static const enum kmi_compression comps[] = { KMI_COMPRESS_GZIP,
						      KMI_COMPRESS_ZSTD };
	struct kmi_layer_entry e[2] = {
		{ .path = "big", .type = KMI_ENTRY_FILE, .size = BIG_SIZE },
		{ .path = "z", .type = KMI_ENTRY_FILE, .data = "z", .size = 1 },
	};
	unsigned char *big = xmalloc(BIG_SIZE);

	fill_big(big, BIG_SIZE);
	e[0].data = big;
	for (size_t c = 0; c < 2; c++) {
		struct kmi_layer_result res;
		struct kmi_error *err = NULL;
		struct kmi_buf blob = { 0 };
		struct archive *a = archive_read_new();
		struct archive_entry *ae;
		size_t total = 0;
		int entries = 0;
		char buf[65536];
		la_ssize_t n;

		CHECK(make_layer(e, 2, comps[c], 4, &res, &blob, &err) == 0);
		archive_read_support_format_tar(a);
		archive_read_support_filter_all(a);
		CHECK(archive_read_open_memory(a, blob.data, blob.len) == ARCHIVE_OK);
		while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
			entries++;
			while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
				total += (size_t)n;
		}
		CHECK(entries == 2);
		CHECK(total == BIG_SIZE + 1);
		archive_read_free(a);
		kmi_buf_free(&blob);
	}
	free(big);
}

static void expect_error(const struct kmi_layer_entry *e, size_t n, const char *msg)
{
	struct kmi_layer_result res;
	struct kmi_error *err = NULL;

	CHECK(make_layer(e, n, KMI_COMPRESS_GZIP, 2, &res, NULL, &err) < 0);
	CHECK(err != NULL);
	if (err != NULL)
		CHECK_STR(err->msg, msg);
	kmi_error_free(&err);
}

static void test_rejects(void)
{
	static const struct {
		const char *path;
		const char *why;
	} unsafe[] = {
		{ "", "empty path" },
		{ "/etc/passwd", "absolute path" },
		{ "../x", "\"..\" component" },
		{ "a/../b", "\"..\" component" },
		{ "a/..", "\"..\" component" },
		{ "./a", "\".\" component" },
		{ "a//b", "empty component (\"//\")" },
		{ "a/", "trailing \"/\"" },
		{ "bad\xff", "not valid UTF-8" },
	};
	struct kmi_layer_entry e[3] = {
		{ .path = "ok", .type = KMI_ENTRY_DIR },
		{ .path = NULL, .type = KMI_ENTRY_FILE, .data = "", .size = 0 },
		{ .path = "ok/x", .type = KMI_ENTRY_FILE, .data = "x", .size = 1 },
	};
	_cleanup_free_ char *missing = tmp_path("missing");
	_cleanup_free_ char *msg = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(unsafe); i++) {
		_cleanup_free_ char *want =
			xasprintf("layer entry `%s`: unsafe path: %s: "
				  "Invalid argument",
				  unsafe[i].path, unsafe[i].why);
		e[1].path = unsafe[i].path;
		expect_error(e, 3, want);
	}

	e[1].path = "ok/x";
	expect_error(e, 3, "duplicate layer entry `ok/x`: File exists");

	e[0] = (struct kmi_layer_entry){ .path = "ok",
					 .type = KMI_ENTRY_SYMLINK,
					 .target = "/x" };
	e[1].path = "ok2";
	expect_error(
		e, 3,
		"layer entry `ok/x`: parent `ok` is not a directory: Not a directory");

	e[0] = (struct kmi_layer_entry){ .path = "ok",
					 .type = KMI_ENTRY_SYMLINK,
					 .target = "" };
	expect_error(e, 3, "layer entry `ok`: symlink without target: Invalid argument");

	e[0] = (struct kmi_layer_entry){ .path = "ok",
					 .type = KMI_ENTRY_FILE,
					 .size = 3 };
	expect_error(e, 1, "layer entry `ok`: no data for 3 bytes: Invalid argument");

	e[0] = (struct kmi_layer_entry){ .path = "m",
					 .type = KMI_ENTRY_FILE,
					 .source = missing };
	msg = xasprintf("layer entry `m`: open `%s`: No such file or directory", missing);
	expect_error(e, 1, msg);

	/* A size-0 file that has content: the header would lie. */
	e[0].source = "/proc/self/stat";
	expect_error(
		e, 1,
		"layer entry `m`: `/proc/self/stat` grew while being read (beyond 0 bytes): "
		"Input/output error");
	e[0].source = tmpdir;
	free(msg);
	msg = xasprintf("layer entry `m`: `%s` is not a regular file: Invalid argument",
			tmpdir);
	expect_error(e, 1, msg);
}

static void test_write_errors(void)
{
	struct kmi_layer_entry e = {
		.path = "f", .type = KMI_ENTRY_FILE, .data = "x", .size = 1
	};
	static const enum kmi_compression comps[] = { KMI_COMPRESS_GZIP,
						      KMI_COMPRESS_ZSTD,
						      KMI_COMPRESS_NONE };
	struct kmi_layer_opts opts = { .threads = 2 };
	struct kmi_layer_result res;
	struct kmi_error *err = NULL;
	int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);

	if (fd < 0) {
		printf("skip: no /dev/full\n");
		return;
	}
	for (size_t c = 0; c < 3; c++) {
		opts.compression = comps[c];
		CHECK(kmi_layer_write(&e, 1, &opts, fd, &res, &err) < 0);
		CHECK(kmi_error_code(err) == ENOSPC);
		if (err != NULL)
			CHECK(strstr(err->msg, "writing the layer blob at byte 0: "
					       "No space left on device") != NULL);
		kmi_error_free(&err);
	}
	close(fd);

	opts = (struct kmi_layer_opts){ .compression = KMI_COMPRESS_GZIP, .level = 13 };
	CHECK(kmi_layer_write(&e, 1, &opts, -1, &res, &err) < 0);
	CHECK_STR(err ? err->msg : NULL,
		  "gzip: compression level 13 is not in 1..12: Invalid argument");
	kmi_error_free(&err);
}

/* ---- pgzip on its own ---- */

static int buf_sink(void *ctx, const void *data, size_t len, struct kmi_error **err)
{
	kmi_buf_put(ctx, data, len);
	return 0;
}

static void pgzip_run(const unsigned char *in, size_t len, unsigned threads,
		      uint32_t seed, struct kmi_buf *out)
{
	struct kmi_pgzip *z = NULL;
	struct kmi_error *err = NULL;
	size_t off = 0;

	out->len = 0;
	CHECK(kmi_pgzip_new(6, threads, buf_sink, out, &z, &err) == 0);
	while (z && off < len) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = seed == 0 ? len : 1 + (seed >> 4) % (3 * KMI_PGZIP_BLOCK / 2);
		if (seed % 7 == 0)
			n = 1;
		if (n > len - off)
			n = len - off;
		CHECK(kmi_pgzip_write(z, in + off, n, &err) == 0);
		off += n;
	}
	CHECK(z && kmi_pgzip_finish(z, &err) == 0);
	CHECK(err == NULL);
	kmi_pgzip_free(z);
}

static void test_pgzip(void)
{
	unsigned char *big = xmalloc(BIG_SIZE);
	struct kmi_buf ref = { 0 }, out = { 0 }, plain = { 0 };
	struct kmi_pgzip *z = NULL;
	struct kmi_error *err = NULL;
	_cleanup_free_ char *p = tmp_path("empty.gz");
	_cleanup_free_ char *cmd = NULL;

	fill_big(big, BIG_SIZE);
	pgzip_run(big, BIG_SIZE, 1, 0, &ref);
	for (unsigned t = 1; t <= 8; t++) {
		pgzip_run(big, BIG_SIZE, t, t * 77, &out);
		CHECK(out.len == ref.len && memcmp(out.data, ref.data, ref.len) == 0);
	}
	CHECK(gunzip(&ref, &plain) == 6);
	CHECK(plain.len == BIG_SIZE && memcmp(plain.data, big, BIG_SIZE) == 0);
	/* the random half does not compress, the text half does */
	CHECK(ref.len < BIG_SIZE * 6 / 10);

	/* exactly one block: one member */
	pgzip_run(big, KMI_PGZIP_BLOCK, 3, 5, &out);
	CHECK(gunzip(&out, &plain) == 1 && plain.len == KMI_PGZIP_BLOCK);

	/* empty input: one empty member, fixed header */
	pgzip_run(big, 0, 4, 1, &out);
	CHECK(gunzip(&out, &plain) == 1 && plain.len == 0);
	CHECK(out.len >= 20 && (unsigned char)out.data[0] == 0x1f &&
	      (unsigned char)out.data[1] == 0x8b &&
	      memcmp(out.data + 4, "\0\0\0\0", 4) == 0 &&
	      (unsigned char)out.data[9] == 255);

	/* a finished stream takes no more */
	CHECK(kmi_pgzip_new(6, 2, buf_sink, &out, &z, &err) == 0);
	CHECK(kmi_pgzip_finish(z, &err) == 0);
	CHECK(kmi_pgzip_write(z, "x", 1, &err) < 0);
	CHECK_STR(err ? err->msg : NULL,
		  "gzip: write to a finished stream: Invalid argument");
	kmi_error_free(&err);
	kmi_pgzip_free(z);

	/* a stream dropped half-way frees its workers and blocks */
	CHECK(kmi_pgzip_new(6, 4, buf_sink, &out, &z, &err) == 0);
	CHECK(kmi_pgzip_write(z, big, 3 * KMI_PGZIP_BLOCK + 7, &err) == 0);
	kmi_pgzip_free(z);

	if (access("/bin/gzip", X_OK) == 0) {
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		CHECK(fd >= 0 && write(fd, ref.data, ref.len) == (ssize_t)ref.len);
		close(fd);
		cmd = xasprintf("/bin/gzip -t %s", p);
		CHECK(system(cmd) == 0);
		pgzip_run(big, 0, 1, 1, &out);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		CHECK(fd >= 0 && write(fd, out.data, out.len) == (ssize_t)out.len);
		close(fd);
		CHECK(system(cmd) == 0);
	} else {
		printf("skip: gzip -t (no /bin/gzip)\n");
	}
	free(big);
	kmi_buf_free(&ref);
	kmi_buf_free(&out);
	kmi_buf_free(&plain);
}

/* A layer written by us, checked by gzip itself. */
static void test_gzip_tool(void)
{
	struct kmi_layer_entry e[NBASE];
	struct kmi_layer_opts opts = { .compression = KMI_COMPRESS_GZIP, .threads = 3 };
	struct kmi_layer_result res;
	struct kmi_error *err = NULL;
	_cleanup_free_ char *p = tmp_path("layer.tar.gz");
	_cleanup_free_ char *cmd = xasprintf("/bin/gzip -t %s", p);
	int fd;

	if (access("/bin/gzip", X_OK) != 0) {
		printf("skip: gzip -t (no /bin/gzip)\n");
		return;
	}
	memcpy(e, base_entries, sizeof(e));
	bind_sources(e, NBASE);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	CHECK(kmi_layer_write(e, NBASE, &opts, fd, &res, &err) == 0);
	close(fd);
	CHECK(system(cmd) == 0);
	kmi_error_free(&err);
}

int main(void)
{
	setup_tree();
	RUN(test_tar_contents);
	RUN(test_deterministic);
	RUN(test_roundtrip);
	RUN(test_small_layer_members);
	RUN(test_zstd_jobs);
	RUN(test_libarchive_reads_blobs);
	RUN(test_rejects);
	RUN(test_write_errors);
	RUN(test_pgzip);
	RUN(test_gzip_tool);
	teardown_tree();
	CHECK_EXIT();
}
