// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci/transport.h"
#include "util/fs.h"
#include "util/macro.h"
#include "util/parallel.h"
#include "util/xalloc.h"

char *kmi_store_dir(const char *override)
{
	const char *env = getenv("KMODIMG_STORE"), *xdg, *home;

	if (override != NULL)
		return xstrdup(override);
	if (env != NULL && *env != '\0')
		return xstrdup(env);
	if (geteuid() == 0)
		return xstrdup("/var/lib/kmodimg/store");
	xdg = getenv("XDG_DATA_HOME");
	if (xdg != NULL && *xdg == '/')
		return xasprintf("%s/kmodimg/store", xdg);
	home = getenv("HOME");
	return xasprintf("%s/.local/share/kmodimg/store", home ? home : "/tmp");
}

void kmi_endpoint_from_layout(struct kmi_endpoint *ep, struct kmi_layout *layout)
{
	memset(ep, 0, sizeof(*ep));
	ep->ref.kind = KMI_REF_LAYOUT;
	ep->ref.dir = xstrdup(kmi_layout_dir(layout));
	ep->layout = layout;
}

int kmi_endpoint_open(const char *text, const struct kmi_endpoint_opts *o, bool write,
		      struct kmi_endpoint *ep, struct kmi_error **err)
{
	int r;

	memset(ep, 0, sizeof(*ep));
	if ((r = kmi_ref_parse(text, &ep->ref, err)) < 0)
		return r;
	switch (ep->ref.kind) {
	case KMI_REF_REGISTRY:
		ep->repo = ep->ref.repo;
		r = kmi_registry_open(ep->ref.host, &o->registry, &ep->reg, err);
		break;
	case KMI_REF_LAYOUT:
		r = kmi_layout_open(ep->ref.dir, write, &ep->layout, err);
		if (r == 0)
			r = kmi_layout_lock(ep->layout, write, err);
		break;
	case KMI_REF_STORE: {
		_cleanup_free_ char *dir = kmi_store_dir(o->store);
		ep->is_store = true;
		r = kmi_layout_open(dir, true, &ep->layout, err);
		if (r == 0)
			r = kmi_layout_lock(ep->layout, write, err);
		break;
	}
	}
	if (r < 0)
		kmi_endpoint_close(ep);
	return r;
}

/* Upload sessions opened ahead; shared by the endpoint's per-thread copies. */
struct kmi_upload_pool {
	pthread_mutex_t mu;
	char **locs;
	size_t n;
};

static char *pool_take(struct kmi_upload_pool *p)
{
	char *loc = NULL;

	if (p == NULL)
		return NULL;
	pthread_mutex_lock(&p->mu);
	if (p->n > 0)
		loc = p->locs[--p->n];
	pthread_mutex_unlock(&p->mu);
	return loc;
}

/* Called by the threads that open sessions; the pool has room for every one asked for. */
static void pool_put(struct kmi_upload_pool *p, char *loc)
{
	pthread_mutex_lock(&p->mu);
	p->locs[p->n++] = loc;
	pthread_mutex_unlock(&p->mu);
}

static void pool_free(struct kmi_upload_pool *p, struct kmi_registry *reg, const char *repo)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		kmi_registry_cancel_upload(reg, repo, p->locs[i]);
		free(p->locs[i]);
	}
	pthread_mutex_destroy(&p->mu);
	free(p->locs);
	free(p);
}

struct session_batch {
	struct kmi_endpoint *ep;
	struct kmi_registry *regs[2]; /* per worker: ep's own, a clone */
	atomic_bool failed;
};

static void open_session(void *ctx, size_t i, unsigned worker)
{
	struct session_batch *b = ctx;
	char *loc;

	if (atomic_load(&b->failed) ||
	    kmi_registry_start_upload(b->regs[worker], b->ep->repo, &loc, NULL) < 0) {
		atomic_store(&b->failed, true);
		return;
	}
	pool_put(b->ep->uploads, loc);
}

/*
 * The first two sessions: ep's own POST settles the scheme and the auth,
 * a clone's goes out beside it and gives a session if no auth is needed.
 */
static void first_session(void *ctx, size_t i, unsigned worker)
{
	struct session_batch *b = ctx;
	char *loc = NULL;

	if (kmi_registry_connect_upload(b->regs[i], b->ep->repo, i == 0, &loc, NULL) < 0) {
		if (i == 0)
			atomic_store(&b->failed, true);
		return;
	}
	if (loc != NULL)
		pool_put(b->ep->uploads, loc);
}

void kmi_endpoint_prepare_push(struct kmi_endpoint *ep, unsigned n)
{
	struct session_batch b = { .ep = ep };
	struct kmi_upload_pool *p;
	unsigned retries, first = 1;

	if (ep->reg == NULL || ep->uploads != NULL)
		return;
	n = n ? n : 1;
	retries = kmi_registry_set_retries(ep->reg, 0);
	p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	p->locs = xcalloc(n + 1, sizeof(*p->locs));
	ep->uploads = p;
	b.regs[0] = ep->reg;
	if (n > 1 && kmi_registry_can_probe(ep->reg) &&
	    kmi_registry_clone(ep->reg, &b.regs[1], NULL) == 0)
		first = 2;
	kmi_parallel_for(first, first, first_session, &b);
	kmi_registry_close(b.regs[1]);
	b.regs[1] = NULL;
	if (!atomic_load(&b.failed) && p->n < n) {
		/* two at a time: the registry answers a POST only after writing to its storage */
		unsigned workers = 1;
		if (n - p->n > 1 && kmi_registry_clone(ep->reg, &b.regs[1], NULL) == 0)
			workers = 2;
		kmi_parallel_for(n - p->n, workers, open_session, &b);
		kmi_registry_close(b.regs[1]);
	}
	kmi_registry_set_retries(ep->reg, retries);
}

void kmi_endpoint_cancel(struct kmi_endpoint *ep)
{
	kmi_registry_cancel(ep->reg);
}

void kmi_endpoint_close(struct kmi_endpoint *ep)
{
	pool_free(ep->uploads, ep->reg, ep->repo);
	kmi_layout_close(ep->layout);
	kmi_registry_close(ep->reg);
	kmi_ref_free(&ep->ref);
	memset(ep, 0, sizeof(*ep));
}

const char *kmi_endpoint_tag(const struct kmi_endpoint *ep)
{
	if (ep->is_store)
		return ep->ref.name;
	return ep->ref.digest && !ep->ref.tag ? NULL : (ep->ref.tag ? ep->ref.tag : "latest");
}

static const char *lookup_name(const struct kmi_endpoint *ep)
{
	if (ep->is_store)
		return ep->ref.digest ? ep->ref.digest : ep->ref.name;
	if (ep->ref.kind == KMI_REF_LAYOUT)
		return ep->ref.digest ? ep->ref.digest : ep->ref.tag; /* NULL: the only image */
	return kmi_ref_ident(&ep->ref);
}

int kmi_endpoint_get_manifest(struct kmi_endpoint *ep, const char *ident,
			      struct kmi_manifest_data *out, struct kmi_error **err)
{
	struct kmi_descriptor d;
	int r;

	memset(out, 0, sizeof(*out));
	if (ep->reg != NULL)
		return kmi_registry_get_manifest(ep->reg, ep->repo, ident ? ident : lookup_name(ep),
						 out, err);
	if (ident != NULL && kmi_digest_valid(ident)) {
		strcpy(out->digest, ident);
	} else {
		if ((r = kmi_layout_resolve(ep->layout, ident ? ident : lookup_name(ep), &d, err)) < 0)
			return r;
		strcpy(out->digest, d.digest);
		snprintf(out->media_type, sizeof(out->media_type), "%s", d.media_type);
		free(d.ref_name);
	}
	r = kmi_layout_read_blob(ep->layout, out->digest, KMI_MANIFEST_BLOB_MAX, &out->data,
				 &out->len, err);
	if (r == 0 && out->media_type[0] == '\0') {
		struct kmi_manifest m;
		if (kmi_manifest_parse(out->data, out->len, NULL, &m, NULL) == 0) {
			strcpy(out->media_type, m.media_type);
			kmi_manifest_free(&m);
		}
	}
	return r;
}

int kmi_endpoint_exists(struct kmi_endpoint *ep, char digest[KMI_DIGEST_LEN],
			struct kmi_error **err)
{
	char got[KMI_DIGEST_LEN] = "";
	struct kmi_descriptor d;
	int r;

	if (ep->reg != NULL) {
		r = kmi_registry_head_manifest(ep->reg, ep->repo, lookup_name(ep), got, err);
	} else if ((r = kmi_layout_resolve(ep->layout, lookup_name(ep), &d, err)) == 0) {
		strcpy(got, d.digest);
		free(d.ref_name);
	}
	if (r < 0 && kmi_error_code(*err) == KMI_ENOTFOUND) {
		kmi_error_free(err);
		return 0;
	}
	if (r == 0 && digest != NULL)
		strcpy(digest, got);
	return r < 0 ? r : 1;
}

/* Blob transfer ------------------------------------------------------------ */

static int has_blob(struct kmi_endpoint *ep, const char *digest, struct kmi_error **err)
{
	if (ep->reg != NULL)
		return kmi_registry_blob_exists(ep->reg, ep->repo, digest, err);
	return kmi_layout_has_blob(ep->layout, digest);
}

/* Writes the blob into fd, checked against its digest. */
static int read_blob_to(struct kmi_endpoint *src, const struct kmi_descriptor *d, int fd,
			struct kmi_error **err)
{
	char buf[1 << 16];
	struct kmi_sha256 h;
	char got[KMI_DIGEST_LEN];
	uint64_t size, done = 0;
	int in, r;

	if (src->reg != NULL)
		return kmi_registry_get_blob(src->reg, src->repo, d->digest, d->size, fd, err);
	if ((r = kmi_layout_open_blob(src->layout, d->digest, &in, &size, err)) < 0)
		return r;
	kmi_sha256_init(&h);
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = kmi_error_set(err, errno, "reading blob %s", d->digest);
			break;
		}
		if ((r = kmi_write_all(fd, buf, (size_t)n)) < 0) {
			r = kmi_error_set(err, -r, "copying blob %s", d->digest);
			break;
		}
		kmi_sha256_update(&h, buf, (size_t)n);
		done += (uint64_t)n;
	}
	close(in);
	if (r < 0) {
		kmi_sha256_free(&h);
		return r;
	}
	kmi_sha256_final(&h, got);
	if (strcmp(got, d->digest) != 0 || done != d->size)
		return kmi_error_set(err, KMI_EDIGEST, "blob %s in `%s` is corrupt (content %s, %llu bytes)",
				     d->digest, kmi_layout_dir(src->layout), got,
				     (unsigned long long)done);
	return 0;
}

/*
 * A blob this small goes from a layout straight into an upload session
 * opened ahead, without asking first whether the registry has it: asking
 * costs a round trip, about what sending it again costs.
 */
#define SMALL_BLOB (256u << 10)

static int copy_blob(struct kmi_endpoint *src, struct kmi_endpoint *dst,
		     const struct kmi_descriptor *d, struct kmi_error **err)
{
	_cleanup_free_ char *tmp = NULL;
	bool direct = src->layout != NULL && dst->reg != NULL && d->size <= SMALL_BLOB;
	char *session = direct ? pool_take(dst->uploads) : NULL;
	int fd, r;

	if (session == NULL && (r = has_blob(dst, d->digest, err)) != 0)
		return r < 0 ? r : 0;
	if (dst->layout != NULL) {
		if ((r = kmi_layout_blob_begin(dst->layout, &fd, &tmp, err)) < 0)
			return r;
		if ((r = read_blob_to(src, d, fd, err)) < 0) {
			kmi_layout_blob_abort(fd, tmp);
			return r;
		}
		return kmi_layout_blob_commit(dst->layout, fd, tmp, d->digest, false, err);
	}
	/* to a registry: from a layout directly, from another registry through a temp file */
	if (src->layout != NULL) {
		uint64_t size;
		if ((r = kmi_layout_open_blob(src->layout, d->digest, &fd, &size, err)) < 0) {
			free(session);
			return r;
		}
		if (session == NULL)
			session = pool_take(dst->uploads);
		r = kmi_registry_push_blob_at(dst->reg, dst->repo, d->digest, size, fd, session,
					      err);
		close(fd);
		return r;
	}
	if (strcmp(src->ref.host, dst->ref.host) == 0 &&
	    kmi_registry_mount_blob(dst->reg, dst->repo, d->digest, src->repo, NULL) == 1)
		return 0;
	tmp = kmi_tmp_template("kmodimg-blob");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return kmi_error_set(err, errno, "creating a temp file");
	unlink(tmp);
	r = read_blob_to(src, d, fd, err);
	if (r == 0)
		r = kmi_registry_push_blob_at(dst->reg, dst->repo, d->digest, d->size, fd,
					      pool_take(dst->uploads), err);
	close(fd);
	return r;
}

/*
 * Blobs between a layout and a registry move side by side, each thread on
 * its own connection: a registry serves requests in parallel, and most of a
 * small push is waiting for its answers.  The biggest blob stays on the
 * calling thread, whose connection owns the progress bar.
 */
#define BLOB_CONNECTIONS 4

struct blob_batch {
	const struct kmi_descriptor **d; /* biggest first */
	size_t n;
	unsigned conns;
	struct kmi_endpoint (*ends)[2]; /* per connection: src, dst */
	int *rc;
	struct kmi_error **errs;
};

static void batch_task(void *ctx, size_t i, unsigned worker)
{
	struct blob_batch *b = ctx;
	struct kmi_endpoint *e = b->ends[worker + 1];

	b->rc[i + 1] = copy_blob(&e[0], &e[1], b->d[i + 1], &b->errs[i + 1]);
}

static void *batch_rest(void *ctx)
{
	struct blob_batch *b = ctx;

	kmi_parallel_for(b->n - 1, b->conns - 1, batch_task, b);
	return NULL;
}

static int cmp_size_desc(const void *a, const void *b)
{
	const struct kmi_descriptor *x = *(const struct kmi_descriptor *const *)a;
	const struct kmi_descriptor *y = *(const struct kmi_descriptor *const *)b;

	return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

/* Connections 1.. get clones of the registry side's client. */
static unsigned batch_connect(struct blob_batch *b, struct kmi_endpoint *src,
			      struct kmi_endpoint *dst)
{
	struct kmi_endpoint *remote = src->reg ? src : dst;
	unsigned c;

	b->ends[0][0] = *src;
	b->ends[0][1] = *dst;
	for (c = 1; c < b->conns; c++) {
		struct kmi_registry *clone;
		struct kmi_error *e = NULL;

		if (kmi_registry_clone(remote->reg, &clone, &e) < 0) {
			kmi_error_free(&e);
			break;
		}
		b->ends[c][0] = *src;
		b->ends[c][1] = *dst;
		b->ends[c][remote == dst].reg = clone;
	}
	return c;
}

static int copy_blobs_parallel(struct kmi_endpoint *src, struct kmi_endpoint *dst,
			       const struct kmi_manifest *m, struct kmi_error **err)
{
	struct kmi_endpoint *remote = src->reg ? src : dst;
	struct blob_batch b = { .n = m->n_layers + 1 };
	pthread_t rest;
	bool started;
	int r = kmi_registry_connect(remote->reg, remote->repo, remote == dst, err);

	if (r < 0)
		return r;
	b.d = xcalloc(b.n, sizeof(*b.d));
	b.rc = xcalloc(b.n, sizeof(*b.rc));
	b.errs = xcalloc(b.n, sizeof(*b.errs));
	b.d[0] = &m->config;
	for (size_t i = 0; i < m->n_layers; i++)
		b.d[i + 1] = &m->layers[i];
	qsort(b.d, b.n, sizeof(*b.d), cmp_size_desc);
	b.conns = b.n < BLOB_CONNECTIONS ? (unsigned)b.n : BLOB_CONNECTIONS;
	b.ends = xcalloc(b.conns, sizeof(*b.ends));
	b.conns = batch_connect(&b, src, dst);
	started = b.conns > 1 && pthread_create(&rest, NULL, batch_rest, &b) == 0;
	b.rc[0] = copy_blob(src, dst, b.d[0], &b.errs[0]);
	if (started)
		pthread_join(rest, NULL);
	for (size_t i = 1; !started && i < b.n; i++)
		b.rc[i] = copy_blob(src, dst, b.d[i], &b.errs[i]);
	for (size_t i = 0; i < b.n; i++) {
		if (r == 0 && b.rc[i] < 0) {
			r = b.rc[i];
			kmi_error_free(err);
			if (err != NULL)
				*err = TAKE_PTR(b.errs[i]);
		}
		kmi_error_free(&b.errs[i]);
	}
	for (unsigned c = 1; c < b.conns; c++)
		kmi_registry_close(b.ends[c][remote == dst].reg);
	free(b.ends);
	free(b.errs);
	free(b.rc);
	free(b.d);
	return r;
}

static int copy_blobs(struct kmi_endpoint *src, struct kmi_endpoint *dst,
		      const struct kmi_manifest *m, struct kmi_error **err)
{
	int r;

	if ((src->reg == NULL) != (dst->reg == NULL) && m->n_layers > 0)
		return copy_blobs_parallel(src, dst, m, err);
	r = copy_blob(src, dst, &m->config, err);
	for (size_t i = 0; r == 0 && i < m->n_layers; i++)
		r = copy_blob(src, dst, &m->layers[i], err);
	return r;
}

static int put_manifest(struct kmi_endpoint *dst, const char *tag,
			const struct kmi_manifest_data *md, struct kmi_error **err)
{
	char digest[KMI_DIGEST_LEN];
	struct kmi_descriptor d = { 0 };
	int r;

	if (dst->reg != NULL)
		return kmi_registry_put_manifest(dst->reg, dst->repo, tag ? tag : md->digest,
						 md->media_type, md->data, md->len, err);
	if ((r = kmi_layout_put_blob(dst->layout, md->data, md->len, digest, err)) < 0)
		return r;
	if (tag == NULL)
		return 0;
	snprintf(d.media_type, sizeof(d.media_type), "%s", md->media_type);
	strcpy(d.digest, digest);
	d.size = md->len;
	return kmi_layout_tag(dst->layout, tag, &d, err);
}

static int copy_manifest(struct kmi_endpoint *src, struct kmi_endpoint *dst,
			 const struct kmi_manifest_data *md, const char *tag, unsigned depth,
			 struct kmi_error **err)
{
	struct kmi_manifest m;
	int r = kmi_manifest_parse(md->data, md->len, md->media_type, &m, err);

	if (r < 0)
		return kmi_error_wrap(err, "manifest %s", md->digest);
	if (m.is_index) {
		for (size_t i = 0; r == 0 && i < m.n_manifests; i++) {
			struct kmi_manifest_data sub;
			if (depth > 4) {
				r = kmi_error_set(err, KMI_EFORMAT, "indexes nested too deep");
				break;
			}
			r = kmi_endpoint_get_manifest(src, m.manifests[i].digest, &sub, err);
			if (r == 0)
				r = copy_manifest(src, dst, &sub, NULL, depth + 1, err);
			free(sub.data);
		}
	} else {
		r = copy_blobs(src, dst, &m, err);
	}
	kmi_manifest_free(&m);
	if (r == 0)
		r = put_manifest(dst, tag, md, err);
	return r;
}

int kmi_copy_resolved(struct kmi_endpoint *src, struct kmi_endpoint *dst,
		      const struct kmi_manifest_data *md, const char *tag, struct kmi_error **err)
{
	return copy_manifest(src, dst, md, tag, 0, err);
}

int kmi_copy(struct kmi_endpoint *src, struct kmi_endpoint *dst, char digest[KMI_DIGEST_LEN],
	     struct kmi_error **err)
{
	struct kmi_manifest_data md;
	int r = kmi_endpoint_get_manifest(src, NULL, &md, err);

	if (r < 0)
		return r;
	r = copy_manifest(src, dst, &md, kmi_endpoint_tag(dst), 0, err);
	if (r == 0)
		strcpy(digest, md.digest);
	free(md.data);
	return r;
}

int kmi_select_platform(struct kmi_endpoint *ep, struct kmi_manifest_data *md,
			struct kmi_error **err)
{
	return kmi_select_platform_arch(ep, md, kmi_host_arch(), err);
}

int kmi_select_platform_arch(struct kmi_endpoint *ep, struct kmi_manifest_data *md,
			     const char *arch, struct kmi_error **err)
{
	struct kmi_manifest m;
	_cleanup_free_ char *want = xasprintf("linux/%s", arch);
	int r = kmi_manifest_parse(md->data, md->len, md->media_type, &m, err);

	if (r < 0 || !m.is_index) {
		if (r == 0)
			kmi_manifest_free(&m);
		return r;
	}
	for (size_t i = 0; i < m.n_manifests; i++) {
		struct kmi_manifest_data sub;
		const char *p = m.manifests[i].platform;
		size_t n = strlen(want);
		/* "linux/arm" must not take "linux/arm64": the next character ends the arch */
		if (strncmp(p, want, n) != 0 || (p[n] != '\0' && p[n] != '/'))
			continue;
		r = kmi_endpoint_get_manifest(ep, m.manifests[i].digest, &sub, err);
		kmi_manifest_free(&m);
		if (r < 0)
			return r;
		free(md->data);
		*md = sub;
		return 0;
	}
	kmi_manifest_free(&m);
	return kmi_error_set(err, KMI_ENOTFOUND, "the image index has no %s manifest", want);
}
