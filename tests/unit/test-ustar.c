// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ustar path of the layer writer against libarchive, its oracle: for
 * every entry it accepts, its header must be the one libarchive's
 * pax-restricted writer emits, byte for byte, and a whole layer must equal
 * the tar libarchive writes of the same entries.
 */
#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "oci/layer.h"
#include "oci/ustar.h"
#include "util/buf.h"
#include "util/macro.h"
#include "util/xalloc.h"

#define OCTAL11_MAX 077777777777ll

/*
 * libarchive_header() gives up on each archive after its header (a close
 * would pad up to 8 GiB of data), and libarchive 3.6 frees a failed
 * archive without its output buffer: LeakSanitizer's hook, for its frames only.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libarchive.so\n";
}

static la_ssize_t buf_write(struct archive *a, void *ud, const void *p, size_t n)
{
	kmi_buf_put(ud, p, n);
	return (la_ssize_t)n;
}

static void entry_to_archive(const struct kmi_ustar_entry *e, struct archive_entry *ae)
{
	size_t len = strlen(e->name);
	_cleanup_free_ char *path = xstrndup(e->name, e->type == KMI_USTAR_DIR ? len - 1 : len);

	archive_entry_clear(ae);
	archive_entry_set_pathname(ae, path);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	archive_entry_set_mtime(ae, e->mtime, 0);
	archive_entry_set_perm(ae, e->perm);
	switch (e->type) {
	case KMI_USTAR_DIR:
		archive_entry_set_filetype(ae, AE_IFDIR);
		break;
	case KMI_USTAR_SYMLINK:
		archive_entry_set_filetype(ae, AE_IFLNK);
		archive_entry_set_symlink(ae, e->target);
		break;
	case KMI_USTAR_FILE:
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_size(ae, (la_int64_t)e->size);
		break;
	}
}

/* What libarchive writes for the entry's header(s), unblocked. */
static void libarchive_header(const struct kmi_ustar_entry *e, struct kmi_buf *out)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();

	out->len = 0;
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_per_block(a, 0);
	CHECK(archive_write_open(a, out, NULL, buf_write, NULL) == ARCHIVE_OK);
	entry_to_archive(e, ae);
	archive_write_header(a, ae);
	/* only the header is of interest: no close, which would pad up to 8 GiB of data */
	archive_write_fail(a);
	archive_write_free(a);
	archive_entry_free(ae);
}

static uint64_t rnd_state = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (unsigned)(rnd_state % n);
}

/* Path components whose lengths sit around the field sizes. */
static char *random_name(void)
{
	static const unsigned lens[] = { 45, 53, 54, 55, 60, 98, 99, 100, 101, 154, 155, 156 };
	struct kmi_buf b = { 0 };
	unsigned parts = 1 + rnd(6);

	for (unsigned p = 0; p < parts; p++) {
		unsigned len = rnd(3) == 0 ? lens[rnd(ARRAY_SIZE(lens))] : 1 + rnd(25);
		if (p > 0)
			kmi_buf_putc(&b, '/');
		for (unsigned i = 0; i < len; i++)
			kmi_buf_putc(&b, (char)('a' + rnd(26)));
	}
	if (rnd(20) == 0)
		kmi_buf_put(&b, "\xc3\xa9", 2); /* non-ASCII: never plain ustar */
	kmi_buf_putc(&b, '\0');
	return b.data;
}

static void test_headers_match_libarchive(void)
{
	static const uint64_t sizes[] = { 0, 1, 511, 512, 513, 191192, OCTAL11_MAX, OCTAL11_MAX + 1 };
	static const int64_t mtimes[] = { 0, 0, 1700000000, 1700000000, 0x7ffffffe, 0x7fffffff,
					  OCTAL11_MAX, -1 };
	struct kmi_buf ref = { 0 };
	unsigned fits = 0, plain = 0;

	for (int i = 0; i < 4000; i++) {
		_cleanup_free_ char *name = random_name(), *target = random_name();
		_cleanup_free_ char *dirname = xasprintf("%s/", name);
		unsigned char hdr[KMI_USTAR_BLOCK];
		struct kmi_ustar_entry e = {
			.name = name,
			.type = KMI_USTAR_FILE,
			.perm = rnd(2) ? 0644 : 0755,
			.size = sizes[rnd(ARRAY_SIZE(sizes))],
			.mtime = mtimes[rnd(ARRAY_SIZE(mtimes))],
		};

		switch (rnd(3)) {
		case 1:
			e.type = KMI_USTAR_DIR;
			e.name = dirname;
			e.perm = 0755;
			break;
		case 2:
			e.type = KMI_USTAR_SYMLINK;
			e.perm = 0777;
			e.target = target;
			if (rnd(2))
				target[rnd(100) + 1 < strlen(target) ? rnd(100) + 1 : strlen(target)] = 0;
			break;
		}
		libarchive_header(&e, &ref);
		if (ref.len == KMI_USTAR_BLOCK && ref.data[156] != 'x')
			plain++;
		if (!kmi_ustar_fits(&e)) {
			if (ref.len == KMI_USTAR_BLOCK && ref.data[156] != 'x')
				fprintf(stderr, "  plain ustar in libarchive, not here: %s\n", e.name);
			continue;
		}
		fits++;
		kmi_ustar_header(&e, hdr);
		CHECK(ref.len == KMI_USTAR_BLOCK);
		if (ref.len != KMI_USTAR_BLOCK || memcmp(ref.data, hdr, sizeof(hdr)) != 0) {
			fprintf(stderr, "  differs from libarchive: %s (type %c)\n", e.name, e.type);
			CHECK(false);
			break;
		}
	}
	/* the fast path must not give up on what plain ustar holds */
	printf("  %u of 4000 entries in plain ustar (libarchive: %u)\n", fits, plain);
	CHECK(fits == plain);
	CHECK(fits > 1000);
	kmi_buf_free(&ref);
}

/* A whole layer: its tar (no compression) is libarchive's tar of the same entries. */
static void test_layer_matches_libarchive(void)
{
	static const char data[] = "\177ELF not really a module";
	const char *long_dir = "opt/lib/modules/6.1.0-56-amd64/kernel/drivers/net/ethernet/"
			       "mellanox/mlx5/core/a-rather-long-directory";
	_cleanup_free_ char *long_file = xasprintf("%s/mlx5_core_with_a_long_name.ko", long_dir);
	struct kmi_layer_entry in[] = {
		{ .path = "opt", .type = KMI_ENTRY_DIR },
		{ .path = "opt/lib/modules/6.1.0-56-amd64/host", .type = KMI_ENTRY_SYMLINK,
		  .target = "/lib/modules/6.1.0-56-amd64" },
		{ .path = "opt/lib", .type = KMI_ENTRY_DIR },
		{ .path = long_dir, .type = KMI_ENTRY_DIR },
		{ .path = long_file, .type = KMI_ENTRY_FILE, .data = data, .size = sizeof(data) },
		{ .path = "opt/x.sh", .type = KMI_ENTRY_FILE, .mode = 0700, .data = "#!", .size = 2 },
	};
	struct kmi_layer_opts opts = { .compression = KMI_COMPRESS_NONE, .mtime = 1700000000 };
	struct kmi_layer_result res;
	struct kmi_error *err = NULL;
	struct kmi_buf ours = { 0 }, ref = { 0 };
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	/* libarchive's order: as the layer writer sorts them */
	static const int order[] = { 0, 2, 1, 3, 4, 5 };
	char tmpl[] = "/tmp/kmodimg-test-ustar.XXXXXX";
	int fd = mkstemp(tmpl);
	ssize_t n;
	char buf[4096];

	CHECK(fd >= 0);
	unlink(tmpl);
	CHECK(kmi_layer_write(in, ARRAY_SIZE(in), &opts, fd, &res, &err) == 0);
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		kmi_buf_put(&ours, buf, (size_t)n);
	close(fd);

	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_per_block(a, KMI_USTAR_RECORD);
	archive_write_set_bytes_in_last_block(a, KMI_USTAR_RECORD);
	CHECK(archive_write_open(a, &ref, NULL, buf_write, NULL) == ARCHIVE_OK);
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		const struct kmi_layer_entry *e = &in[order[i]];
		_cleanup_free_ char *name = xasprintf("%s%s", e->path,
						      e->type == KMI_ENTRY_DIR ? "/" : "");
		struct kmi_ustar_entry u = {
			.name = name,
			.type = e->type == KMI_ENTRY_DIR ? KMI_USTAR_DIR
				: e->type == KMI_ENTRY_SYMLINK ? KMI_USTAR_SYMLINK : KMI_USTAR_FILE,
			.perm = e->type == KMI_ENTRY_DIR ? 0755 : e->type == KMI_ENTRY_SYMLINK ? 0777
				: (e->mode & 0111) ? 0755 : 0644,
			.size = e->size,
			.mtime = 1700000000,
			.target = e->target,
		};
		entry_to_archive(&u, ae);
		CHECK(archive_write_header(a, ae) == ARCHIVE_OK);
		if (e->size > 0)
			CHECK(archive_write_data(a, e->data, e->size) == (la_ssize_t)e->size);
	}
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(ae);
	CHECK(ours.len == ref.len && ours.len % KMI_USTAR_RECORD == 0);
	CHECK(ours.len == ref.len && memcmp(ours.data, ref.data, ours.len) == 0);
	kmi_buf_free(&ours);
	kmi_buf_free(&ref);
}

int main(void)
{
	RUN(test_headers_match_libarchive);
	RUN(test_layer_matches_libarchive);
	CHECK_EXIT();
}
