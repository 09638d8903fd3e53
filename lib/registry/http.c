// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * HTTP for the registry client.  One curl easy handle per registry keeps its
 * connections (and TLS sessions) alive between requests; each request resets
 * the options and sets them from a struct kmi_http_req.  Response headers
 * are matched case-insensitively (HTTP/2 sends them lower-case) and reset on
 * every status line, so a redirect's headers never leak into the answer.
 *
 * Retries: transport failures that may pass (reset, timeout, refused,
 * truncated body) and 5xx/429 answers, with a doubling delay from 0.2 s,
 * Retry-After honoured up to 5 s, at most `retries` times and ~10 s of sleep
 * in all.  TLS and DNS failures and 4xx answers are final.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "registry/registry-internal.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/lazylib.h"
#include "util/macro.h"
#include "util/xalloc.h"

#define ERR_BODY_MAX (64u << 10)
#define DEFAULT_BODY_MAX (1u << 20)
#define CA_FILE_MAX (16u << 20)
#define BACKOFF_FIRST_MS 200u
#define BACKOFF_TOTAL_MS 10000u
#define RETRY_AFTER_MAX_MS 5000u

struct kmi_http {
	CURL *curl;
	struct kmi_http_tls tls;
	struct curl_blob ca_blob;
	char *ca_data;
	unsigned retries;
	bool progress;
	bool drawn; /* a progress line is on the terminal */
	const atomic_bool *cancel;
	char errbuf[CURL_ERROR_SIZE];
};

/* State of one attempt, shared by the curl callbacks. */
struct xfer {
	struct kmi_http *h;
	const struct kmi_http_req *req;
	struct kmi_http_resp *resp;
	uint64_t rpos;
	struct kmi_error *cb_err;
	bool too_large;
	bool draw; /* a progress bar for this request */
	struct timespec last_draw;
};

static bool cancelled(const atomic_bool *flag)
{
	return flag != NULL && atomic_load(flag);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---------------------------------------------------------------- URLs */

char *kmi_url_resolve(const char *base, const char *ref)
{
	CURLU *u = curl_url();
	char *s = NULL, *out = NULL;

	if (u == NULL)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
		if (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0)
			out = xstrdup(s);
	}
	curl_free(s);
	curl_url_cleanup(u);
	return out;
}

char *kmi_url_add_query(const char *url, const char *key, const char *value)
{
	char *esc = curl_easy_escape(NULL, value, 0);
	const char *q = strchr(url, '?');
	const char *sep = q == NULL ? "?" : (q[1] == '\0' || url[strlen(url) - 1] == '&') ? "" : "&";
	char *out;

	if (esc == NULL)
		abort();
	out = xasprintf("%s%s%s=%s", url, sep, key, esc);
	curl_free(esc);
	return out;
}

/* ---------------------------------------------------------------- backoff */

unsigned kmi_backoff_next_ms(const struct kmi_backoff *b, long retry_after)
{
	unsigned ms, left;

	if (b->tries >= b->max || b->slept_ms >= BACKOFF_TOTAL_MS)
		return 0;
	ms = BACKOFF_FIRST_MS << (b->tries < 10 ? b->tries : 10);
	if (retry_after > 0) {
		unsigned ra = retry_after >= RETRY_AFTER_MAX_MS / 1000 ? RETRY_AFTER_MAX_MS
								       : (unsigned)retry_after * 1000;
		if (ra > ms)
			ms = ra;
	}
	left = BACKOFF_TOTAL_MS - b->slept_ms;
	return ms < left ? ms : left;
}

#define CANCEL_POLL_MS 50u

bool kmi_backoff_wait(struct kmi_backoff *b, long retry_after)
{
	unsigned ms = kmi_backoff_next_ms(b, retry_after);

	if (ms == 0 || cancelled(b->cancel))
		return false;
	b->tries++;
	b->slept_ms += ms;
	/* in slices, to notice a cancel */
	while (ms > 0) {
		unsigned slice = ms < CANCEL_POLL_MS ? ms : CANCEL_POLL_MS;
		struct timespec ts = { 0, (long)slice * 1000000L };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ms -= slice;
		if (cancelled(b->cancel))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- setup */

int kmi_http_new(const struct kmi_http_tls *tls, unsigned retries, bool progress,
		 struct kmi_http **out, struct kmi_error **err)
{
	struct kmi_http *h;
	int r;

	if ((r = kmi_curl_load(err)) < 0)
		return r;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return kmi_error_set(err, KMI_ENET, "initialising libcurl: %s",
				     curl_easy_strerror(curl_init_rc));
	h = xcalloc(1, sizeof(*h));
	h->curl = curl_easy_init();
	if (h->curl == NULL) {
		free(h);
		return kmi_error_set(err, ENOMEM, "initialising a curl handle");
	}
	h->retries = retries;
	h->progress = progress;
	h->tls.verify = tls->verify;
	h->tls.client_cert = xstrdup_null(tls->client_cert);
	h->tls.client_key = xstrdup_null(tls->client_key);
	if (tls->ca != NULL && tls->ca_len > 0) {
		/*
		 * A CA blob may replace curl's default bundle rather than add to
		 * it: put the default bundle first so public CAs keep working.
		 */
		struct kmi_buf b = { 0 };
		char *def = NULL;

		if (curl_easy_getinfo(h->curl, CURLINFO_CAINFO, &def) == CURLE_OK && def != NULL &&
		    kmi_read_file(def, CA_FILE_MAX, &b) == 0)
			kmi_buf_putc(&b, '\n');
		else
			b.len = 0;
		kmi_buf_put(&b, tls->ca, tls->ca_len);
		h->ca_data = b.data;
		h->ca_blob.data = b.data;
		h->ca_blob.len = b.len;
		h->ca_blob.flags = CURL_BLOB_NOCOPY;
	}
	*out = h;
	return 0;
}

int kmi_http_dup(const struct kmi_http *h, bool progress, struct kmi_http **out,
		 struct kmi_error **err)
{
	struct kmi_http *d = xcalloc(1, sizeof(*d));

	d->curl = curl_easy_init();
	if (d->curl == NULL) {
		free(d);
		return kmi_error_set(err, ENOMEM, "initialising a curl handle");
	}
	d->retries = h->retries;
	d->progress = progress;
	d->cancel = h->cancel;
	d->tls.verify = h->tls.verify;
	d->tls.client_cert = xstrdup_null(h->tls.client_cert);
	d->tls.client_key = xstrdup_null(h->tls.client_key);
	if (h->ca_data != NULL) {
		d->ca_data = xmalloc(h->ca_blob.len);
		memcpy(d->ca_data, h->ca_data, h->ca_blob.len);
		d->ca_blob = h->ca_blob;
		d->ca_blob.data = d->ca_data;
	}
	*out = d;
	return 0;
}

void kmi_http_set_cancel(struct kmi_http *h, const atomic_bool *flag)
{
	h->cancel = flag;
}

void kmi_http_set_retries(struct kmi_http *h, unsigned retries)
{
	h->retries = retries;
}

void kmi_http_free(struct kmi_http *h)
{
	if (h == NULL)
		return;
	kmi_http_progress_end(h);
	curl_easy_cleanup(h->curl);
	free(h->ca_data);
	free(h->tls.client_cert);
	free(h->tls.client_key);
	free(h);
}

void kmi_http_resp_free(struct kmi_http_resp *resp)
{
	kmi_buf_free(&resp->body);
	free(resp->content_type);
	free(resp->location);
	free(resp->digest);
	free(resp->www_auth);
	resp->content_type = resp->location = resp->digest = resp->www_auth = NULL;
}

static void resp_reset(struct kmi_http_resp *resp)
{
	kmi_http_resp_free(resp);
	resp->body.len = 0;
	resp->status = 0;
	resp->retry_after = -1;
	resp->content_length = -1;
	resp->transient = false;
}

/* ---------------------------------------------------------------- callbacks */

static bool is_2xx(long status)
{
	return status >= 200 && status < 300;
}

static void set_header(char **dst, const char *v, size_t n)
{
	free(*dst);
	*dst = xstrndup(v, n);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	struct kmi_http_resp *resp = x->resp;
	size_t len = size * nitems, nlen;
	const char *colon, *v, *end = buf + len;

	if (len >= 5 && strncasecmp(buf, "HTTP/", 5) == 0) {
		/* a new response (redirect, 100-continue): forget the previous headers */
		long status = 0;
		const char *p = memchr(buf, ' ', len);
		if (p != NULL)
			status = strtol(p + 1, NULL, 10);
		resp_reset(resp);
		resp->status = status;
		return len;
	}
	while (end > buf && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	colon = memchr(buf, ':', (size_t)(end - buf));
	if (colon == NULL)
		return len;
	nlen = (size_t)(colon - buf);
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
#define IS(name) (nlen == strlen(name) && strncasecmp(buf, name, nlen) == 0)
	if (IS("content-type")) {
		set_header(&resp->content_type, v, (size_t)(end - v));
	} else if (IS("location")) {
		set_header(&resp->location, v, (size_t)(end - v));
	} else if (IS("docker-content-digest")) {
		set_header(&resp->digest, v, (size_t)(end - v));
	} else if (IS("www-authenticate")) {
		char *joined = resp->www_auth == NULL
				       ? xstrndup(v, (size_t)(end - v))
				       : xasprintf("%s, %.*s", resp->www_auth, (int)(end - v), v);
		free(resp->www_auth);
		resp->www_auth = joined;
	} else if (IS("retry-after")) {
		char *e;
		long s = strtol(v, &e, 10);
		resp->retry_after = e != v && s >= 0 ? s : -1;
	} else if (IS("content-length")) {
		char *e;
		long long n = strtoll(v, &e, 10);
		resp->content_length = e != v && n >= 0 ? n : -1;
		/* a known-too-big answer is refused before its body is read */
		if (is_2xx(resp->status) && x->req->sink == NULL && resp->content_length >= 0 &&
		    strcmp(x->req->method, "HEAD") != 0 &&
		    (uint64_t)resp->content_length >
			    (x->req->max_body ? x->req->max_body : DEFAULT_BODY_MAX)) {
			x->too_large = true;
			return 0;
		}
	}
#undef IS
	return len;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	struct kmi_http_resp *resp = x->resp;
	size_t len = size * nmemb, cap;

	if (is_2xx(resp->status) && x->req->sink != NULL) {
		if (x->req->sink->write(x->req->sink->ctx, data, len, &x->cb_err) < 0)
			return 0;
		return len;
	}
	if (is_2xx(resp->status)) {
		cap = x->req->max_body ? x->req->max_body : DEFAULT_BODY_MAX;
		if (len > cap - resp->body.len) {
			x->too_large = true;
			return 0;
		}
	} else {
		/* error bodies only feed messages: keep the start */
		cap = ERR_BODY_MAX;
		if (len > cap - resp->body.len) {
			kmi_buf_put(&resp->body, data, cap - resp->body.len);
			return len;
		}
	}
	kmi_buf_put(&resp->body, data, len);
	return len;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	const struct kmi_http_req *req = x->req;
	size_t want = size * nitems;
	uint64_t left = req->body_len - x->rpos;

	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	if (req->body_kind == KMI_BODY_MEM) {
		memcpy(buf, (const char *)req->body + x->rpos, want);
	} else {
		ssize_t n;
		do
			n = pread(req->body_fd, buf, want, (off_t)(req->body_off + x->rpos));
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			if (n < 0)
				kmi_error_set(&x->cb_err, errno, "reading the upload at offset %" PRIu64,
					      req->body_off + x->rpos);
			else
				kmi_error_set(&x->cb_err, EIO,
					      "reading the upload: file ends at offset %" PRIu64
					      ", before its %" PRIu64 " bytes",
					      req->body_off + x->rpos, req->body_len);
			return CURL_READFUNC_ABORT;
		}
		want = (size_t)n;
	}
	x->rpos += want;
	return want;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
	struct xfer *x = ud;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->req->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->rpos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = ud;
	const struct kmi_http_req *req = x->req;
	struct timespec ts;
	uint64_t done;
	double dt;

	if (cancelled(x->h->cancel))
		return 1; /* curl aborts the transfer */
	if (!x->draw)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	dt = (double)(ts.tv_sec - x->last_draw.tv_sec) +
	     (double)(ts.tv_nsec - x->last_draw.tv_nsec) / 1e9;
	if (dt < 0.2)
		return 0;
	x->last_draw = ts;
	done = req->progress_base + (uint64_t)(req->body_kind != KMI_BODY_NONE ? ulnow : dlnow);
	if (done > req->progress_total)
		done = req->progress_total;
	fprintf(stderr, "\r%s %7.1f / %.1f MiB %3u%%", req->progress_label,
		(double)done / 1048576.0, (double)req->progress_total / 1048576.0,
		(unsigned)(done * 100 / req->progress_total));
	x->h->drawn = true;
	return 0;
}

void kmi_http_progress_end(struct kmi_http *h)
{
	if (h != NULL && h->drawn) {
		fputs("\r\033[K", stderr);
		h->drawn = false;
	}
}

/* ---------------------------------------------------------------- errors */

static int classify(CURLcode c, const char *errbuf, bool *transient)
{
	*transient = false;
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return KMI_ENET;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		/* a TLS alert (client certificate refused) surfaces on first read */
		if (strstr(errbuf, "SSL routines") != NULL || strstr(errbuf, " alert ") != NULL)
			return KMI_ETLS;
		*transient = true;
		return KMI_ENET;
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		*transient = true;
		return KMI_ENET;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_USE_SSL_FAILED:
		return KMI_ETLS;
	default:
		return KMI_EPROTO;
	}
}

static const char *code_label(int code)
{
	switch (code) {
	case KMI_ETLS:
		return "TLS error";
	case KMI_ENET:
		return "network error";
	default:
		return "transfer failed";
	}
}

char *kmi_registry_error_text(const char *body, size_t len)
{
	json_t *root, *errors, *e;
	struct kmi_buf b = { 0 };
	size_t i;

	if (body == NULL || len == 0)
		return NULL;
	root = json_loadb(body, len, 0, NULL);
	errors = json_object_get(root, "errors");
	json_array_foreach(errors, i, e) {
		const char *msg = json_string_value(json_object_get(e, "message"));
		const char *code = json_string_value(json_object_get(e, "code"));
		if (msg == NULL && code == NULL)
			continue;
		if (i > 0 && b.len > 0)
			kmi_buf_puts(&b, "; ");
		if (msg != NULL && code != NULL)
			kmi_buf_printf(&b, "%s (%s)", msg, code);
		else
			kmi_buf_puts(&b, msg ? msg : code);
		if (b.len > 1000)
			break;
	}
	json_decref(root);
	if (b.len == 0) {
		kmi_buf_free(&b);
		return NULL;
	}
	kmi_buf_putc(&b, '\0');
	return b.data;
}

bool kmi_http_has_error_code(const struct kmi_http_resp *resp, const char *code)
{
	json_t *root = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL);
	json_t *e;
	size_t i;
	bool found = false;

	json_array_foreach(json_object_get(root, "errors"), i, e) {
		const char *c = json_string_value(json_object_get(e, "code"));
		if (c != NULL && strcmp(c, code) == 0)
			found = true;
	}
	json_decref(root);
	return found;
}

/* A short printable excerpt of a non-JSON error body. */
static char *body_excerpt(const struct kmi_http_resp *resp)
{
	struct kmi_buf b = { 0 };
	size_t n = resp->body.len < 200 ? resp->body.len : 200;

	if (resp->content_type != NULL && strncasecmp(resp->content_type, "text/html", 9) == 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)resp->body.data[i];
		kmi_buf_putc(&b, c >= 0x20 && c < 0x7f ? (char)c : ' ');
	}
	while (b.len > 0 && b.data[b.len - 1] == ' ')
		b.len--;
	if (b.len == 0) {
		kmi_buf_free(&b);
		return NULL;
	}
	kmi_buf_putc(&b, '\0');
	return b.data;
}

int kmi_http_status_error(const struct kmi_http_req *req, const struct kmi_http_resp *resp,
			  struct kmi_error **err)
{
	_cleanup_free_ char *text = kmi_registry_error_text(resp->body.data, resp->body.len);
	int code;

	if (text == NULL)
		text = body_excerpt(resp);
	if (resp->status == 401 || resp->status == 403)
		code = KMI_EAUTH;
	else if (resp->status == 404 || kmi_http_has_error_code(resp, "MANIFEST_UNKNOWN") ||
		 kmi_http_has_error_code(resp, "BLOB_UNKNOWN") ||
		 kmi_http_has_error_code(resp, "NAME_UNKNOWN"))
		code = KMI_ENOTFOUND;
	else if (kmi_http_has_error_code(resp, "DIGEST_INVALID") ||
		 kmi_http_has_error_code(resp, "SIZE_INVALID"))
		code = KMI_EDIGEST;
	else
		code = KMI_EPROTO;
	return kmi_error_set(err, code, "%s %s: HTTP %ld%s%s", req->method, req->url, resp->status,
			     text ? ": " : "", text ? text : "");
}

/* ---------------------------------------------------------------- requests */

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value)
{
	_cleanup_free_ char *h = xasprintf("%s: %s", name, value);
	struct curl_slist *n = curl_slist_append(l, h);

	if (n == NULL)
		abort();
	return n;
}

static void set_options(struct kmi_http *h, const struct kmi_http_req *req, struct xfer *x,
			struct curl_slist **headers)
{
	CURL *c = h->curl;
	struct curl_slist *l = NULL;
	bool https = strncmp(req->url, "https://", 8) == 0;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kmodimg/" KMODIMG_VERSION);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* never follow an https answer down to plain http */
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
	if (req->follow) {
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	}

	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->tls.verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->tls.verify ? 2L : 0L);
	if (h->ca_blob.data != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &h->ca_blob);
	if (h->tls.client_cert != NULL) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, h->tls.client_cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, h->tls.client_key);
	}

	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (req->body_kind != KMI_BODY_NONE || strcmp(req->method, "PUT") == 0 ||
		   strcmp(req->method, "PATCH") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				 req->body_kind != KMI_BODY_NONE ? (curl_off_t)req->body_len : 0);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, x);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
		if (strcmp(req->method, "PUT") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
		l = add_header(l, "Expect", "");
	} else if (strcmp(req->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
		if (req->content_type == NULL)
			l = add_header(l, "Content-Type", "");
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	}

	if (req->accept != NULL)
		l = add_header(l, "Accept", req->accept);
	if (req->content_type != NULL)
		l = add_header(l, "Content-Type", req->content_type);
	if (req->content_range != NULL)
		l = add_header(l, "Content-Range", req->content_range);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, l);
	*headers = l;

	/* curl sends these to the request's host only, never after a redirect elsewhere */
	if (req->bearer != NULL) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
		curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, req->bearer);
	} else if (req->user != NULL) {
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, req->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, req->pass ? req->pass : "");
	}

	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	x->draw = h->progress && req->progress_label != NULL && req->progress_total > (8u << 20);
	if (x->draw || h->cancel != NULL) {
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	}
}

/* One attempt: 0 with resp filled, or negative with *transient set. */
static int attempt(struct kmi_http *h, const struct kmi_http_req *req,
		   struct kmi_http_resp *resp, bool *transient, struct kmi_error **err)
{
	struct xfer x = { .h = h, .req = req, .resp = resp };
	struct curl_slist *headers = NULL;
	CURLcode rc;
	int code;

	*transient = false;
	resp_reset(resp);
	if (cancelled(h->cancel))
		return kmi_error_set(err, ECANCELED, "%s %s: cancelled", req->method, req->url);
	if (req->sink != NULL && req->sink->reset != NULL &&
	    req->sink->reset(req->sink->ctx, err) < 0)
		return kmi_error_wrap(err, "%s %s", req->method, req->url);
	h->errbuf[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &x.last_draw); /* nothing drawn for a quick transfer */
	set_options(h, req, &x, &headers);
	rc = curl_easy_perform(h->curl);
	curl_slist_free_all(headers);
	if (rc == CURLE_ABORTED_BY_CALLBACK && cancelled(h->cancel))
		return kmi_error_set(err, ECANCELED, "%s %s: cancelled", req->method, req->url);
	if (x.cb_err != NULL) {
		kmi_error_free(err);
		if (err != NULL)
			*err = x.cb_err;
		else
			kmi_error_free(&x.cb_err);
		return kmi_error_wrap(err, "%s %s", req->method, req->url);
	}
	if (x.too_large)
		return kmi_error_set(err, KMI_EPROTO, "%s %s: answer larger than %zu bytes, refused",
				     req->method, req->url,
				     (size_t)(req->max_body ? req->max_body : DEFAULT_BODY_MAX));
	if (rc == CURLE_OK) {
		long status = 0;
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
		resp->status = status;
		return 0;
	}
	code = classify(rc, h->errbuf, transient);
	return kmi_error_set(err, code, "%s %s: %s: %s", req->method, req->url, code_label(code),
			     h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
}

static bool status_transient(long status)
{
	return status == 429 || (status >= 500 && status != 501 && status != 505);
}

int kmi_http_do(struct kmi_http *h, const struct kmi_http_req *req,
		struct kmi_http_resp *resp, struct kmi_error **err)
{
	struct kmi_backoff b = { .max = req->retry ? h->retries : 0, .cancel = h->cancel };
	struct kmi_error *e = NULL;
	bool transient;
	unsigned ms;
	int r;

	for (;;) {
		r = attempt(h, req, resp, &transient, &e);
		if (r == 0 && !status_transient(resp->status))
			return 0;
		if (r == 0) {
			resp->transient = true;
			ms = kmi_backoff_next_ms(&b, resp->retry_after);
			if (ms == 0 || cancelled(h->cancel))
				return 0;
			kmi_http_progress_end(h);
			kmi_warn("%s %s: HTTP %ld, retrying in %.1f s (%u/%u)\n", req->method, req->url,
				 resp->status, ms / 1000.0, b.tries + 1, b.max);
			kmi_backoff_wait(&b, resp->retry_after);
			continue;
		}
		resp->transient = transient;
		if (!transient || cancelled(h->cancel) || (ms = kmi_backoff_next_ms(&b, -1)) == 0)
			break;
		kmi_http_progress_end(h);
		kmi_warn("%s, retrying in %.1f s (%u/%u)\n", e->msg, ms / 1000.0, b.tries + 1, b.max);
		kmi_error_free(&e);
		kmi_backoff_wait(&b, -1);
	}
	if (err != NULL) {
		kmi_error_free(err);
		*err = e;
	} else {
		kmi_error_free(&e);
	}
	return r;
}
