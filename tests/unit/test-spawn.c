// SPDX-License-Identifier: LGPL-2.1-or-later
/* kmi_spawn with real children (/bin/sh, cat, ls, sleep): ends, bounds, signals, descriptors. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "util/spawn.h"

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static int run(struct kmi_spawn_opts *o, struct kmi_spawn_result *res, struct kmi_error **err)
{
	kmi_error_free(err);
	return kmi_spawn(o, res, err);
}

static bool out_is(const struct kmi_spawn_result *res, const char *want)
{
	return res->out.len == strlen(want) && memcmp(res->out.data, want, res->out.len) == 0;
}

static void test_capture(void)
{
	struct kmi_spawn_opts o = { .argv = ARGV("cat"), .input = "hello", .input_len = 5,
				    .output = KMI_SPAWN_CAPTURE, .out_max = 100, .timeout_ms = 60000 };
	struct kmi_spawn_result res;
	struct kmi_error *err = NULL;

	CHECK(run(&o, &res, &err) == 0 && res.exit_status == 0 && res.signal == 0);
	CHECK(out_is(&res, "hello"));
	kmi_spawn_result_free(&res);
	/* without input, stdin is /dev/null: read sees EOF at once */
	o.argv = ARGV("sh", "-c", "read x; echo \"[$x]\"");
	o.input = NULL;
	CHECK(run(&o, &res, &err) == 0 && out_is(&res, "[]\n"));
	kmi_spawn_result_free(&res);
	/* the environment given, not ours */
	o.argv = ARGV("sh", "-c", "echo \"$KMI_X/$HOME\"");
	o.env = (char *const[]){ (char *)"KMI_X=42", NULL };
	CHECK(run(&o, &res, &err) == 0 && out_is(&res, "42/\n"));
	kmi_spawn_result_free(&res);
	kmi_error_free(&err);
}

static void test_exit_status(void)
{
	struct kmi_spawn_opts o = { .argv = ARGV("sh", "-c", "echo no; exit 3"),
				    .output = KMI_SPAWN_CAPTURE, .out_max = 100 };
	struct kmi_spawn_result res;
	struct kmi_error *err = NULL;

	CHECK(run(&o, &res, &err) == 0 && res.exit_status == 3 && res.signal == 0);
	CHECK(out_is(&res, "no\n") && !res.timed_out && res.forwarded == 0);
	kmi_spawn_result_free(&res);
	o.output = KMI_SPAWN_INHERIT;
	o.argv = ARGV("sh", "-c", "exit 255");
	CHECK(run(&o, &res, &err) == 0 && res.exit_status == 255 && res.out.len == 0);
	kmi_spawn_result_free(&res);
	kmi_error_free(&err);
}

static void test_not_found(void)
{
	struct kmi_spawn_opts o = { .argv = ARGV("kmodimg-no-such-program", "x") };
	struct kmi_spawn_result res;
	struct kmi_error *err = NULL;

	CHECK(run(&o, &res, &err) < 0 && kmi_error_code(err) == ENOENT);
	CHECK_STR(err ? err->msg : NULL,
		  "running `kmodimg-no-such-program`: not found in PATH: No such file or directory");
	kmi_spawn_result_free(&res);
	o.argv = ARGV("/nonexistent/prog");
	CHECK(run(&o, &res, &err) < 0 && kmi_error_code(err) == ENOENT);
	CHECK_STR(err ? err->msg : NULL, "running `/nonexistent/prog`: No such file or directory");
	kmi_spawn_result_free(&res);
	kmi_error_free(&err);
}

static void test_signals(void)
{
	struct kmi_spawn_opts o = { .argv = ARGV("sh", "-c", "kill -9 $$") };
	struct kmi_spawn_result res;
	struct kmi_error *err = NULL;
	struct sigaction sa;

	CHECK(run(&o, &res, &err) == 0 && res.signal == SIGKILL && res.exit_status == -1);
	kmi_spawn_result_free(&res);
	/* the child gets SIGPIPE at its default, though we ignore it while it runs */
	o.argv = ARGV("sh", "-c", "kill -PIPE $$; exit 3");
	CHECK(run(&o, &res, &err) == 0 && res.signal == SIGPIPE);
	kmi_spawn_result_free(&res);
	/* a signal we ignore stays ignored in the child, unless we forward it */
	signal(SIGHUP, SIG_IGN);
	o.argv = ARGV("sh", "-c", "kill -HUP $$; exit 4");
	CHECK(run(&o, &res, &err) == 0 && res.exit_status == 4);
	kmi_spawn_result_free(&res);
	o.forward_signals = true;
	CHECK(run(&o, &res, &err) == 0 && res.signal == SIGHUP && res.forwarded == 0);
	kmi_spawn_result_free(&res);
	CHECK(sigaction(SIGHUP, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN);
	signal(SIGHUP, SIG_DFL);
	kmi_error_free(&err);
}

static void test_bounds(void)
{
	static char big[1 << 20];
	struct kmi_spawn_opts o = { .argv = ARGV("sh", "-c", "yes"), .output = KMI_SPAWN_CAPTURE,
				    .out_max = 1000, .timeout_ms = 60000 };
	struct kmi_spawn_result res;
	struct kmi_error *err = NULL;

	CHECK(run(&o, &res, &err) < 0 && kmi_error_code(err) == EFBIG);
	CHECK_STR(err ? err->msg : NULL, "`sh` wrote more than 1000 bytes: File too large");
	CHECK(res.out.len <= 1000);
	kmi_spawn_result_free(&res);
	o.argv = ARGV("sleep", "10");
	o.timeout_ms = 100;
	CHECK(run(&o, &res, &err) == 0 && res.timed_out && res.signal == SIGKILL);
	kmi_spawn_result_free(&res);
	o.output = KMI_SPAWN_INHERIT;
	CHECK(run(&o, &res, &err) == 0 && res.timed_out && res.signal == SIGKILL);
	kmi_spawn_result_free(&res);
	/* a child that leaves a large input unread neither blocks nor kills us */
	memset(big, 'x', sizeof(big));
	o = (struct kmi_spawn_opts){ .argv = ARGV("true"), .input = big, .input_len = sizeof(big),
				     .output = KMI_SPAWN_CAPTURE, .out_max = 100, .timeout_ms = 60000 };
	CHECK(run(&o, &res, &err) == 0 && res.exit_status == 0 && !res.timed_out);
	kmi_spawn_result_free(&res);
	/* nor one that answers before it has read it all */
	o.argv = ARGV("sh", "-c", "head -c 10; yes | head -c 300000; cat >/dev/null");
	o.out_max = 1 << 20;
	CHECK(run(&o, &res, &err) == 0 && res.exit_status == 0 && res.out.len == 300010);
	kmi_spawn_result_free(&res);
	kmi_error_free(&err);
}

static void collect(void *data, const char *buf, size_t n)
{
	kmi_buf_put(data, buf, n);
}

static void test_stream(void)
{
	struct kmi_buf got = { 0 };
	struct kmi_spawn_opts o = { .argv = ARGV("sh", "-c", "echo out; echo err >&2; exit 2"),
				    .output = KMI_SPAWN_STREAM, .on_output = collect, .data = &got };
	struct kmi_spawn_result res;
	struct kmi_error *err = NULL;

	CHECK(run(&o, &res, &err) == 0 && res.exit_status == 2 && res.out.len == 0);
	CHECK(got.len == 8 && memcmp(got.data, "out\nerr\n", 8) == 0);
	kmi_spawn_result_free(&res);
	kmi_buf_free(&got);
	kmi_error_free(&err);
}

/* The child asks us to stop; we pass it on and report it. */
static void test_forward(void)
{
	struct kmi_spawn_opts o = {
		.argv = ARGV("sh", "-c", "trap 'exit 7' TERM; kill -TERM $PPID; while :; do sleep 0.1; done"),
		.forward_signals = true, .timeout_ms = 60000,
	};
	struct kmi_spawn_result res;
	struct kmi_error *err = NULL;
	struct sigaction sa;

	CHECK(run(&o, &res, &err) == 0 && res.forwarded == SIGTERM && res.exit_status == 7);
	CHECK(!res.timed_out);
	kmi_spawn_result_free(&res);
	o.argv = ARGV("sh", "-c", "kill -HUP $PPID; while :; do sleep 0.1; done");
	CHECK(run(&o, &res, &err) == 0 && res.forwarded == SIGHUP && res.signal == SIGHUP);
	kmi_spawn_result_free(&res);
	/* our handlers are back as they were */
	CHECK(sigaction(SIGTERM, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL);
	CHECK(sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL);
	kmi_error_free(&err);
}

/* The descriptors open in the child, from `ls /proc/self/fd` (one number a line). */
static void parse_fds(const struct kmi_buf *b, bool open[1024])
{
	size_t i = 0;

	memset(open, 0, 1024 * sizeof(bool));
	while (i < b->len) {
		int fd = 0;
		for (; i < b->len && b->data[i] != '\n'; i++)
			fd = fd * 10 + (b->data[i] - '0');
		if (fd >= 0 && fd < 1024)
			open[fd] = true;
		i++;
	}
}

/*
 * Only stdin, stdout and stderr reach the child, with what this test itself
 * inherited without close-on-exec, and ls's own directory (the lowest free).
 */
static void test_descriptors(void)
{
	struct kmi_spawn_opts o = { .argv = ARGV("ls", "/proc/self/fd"), .input = "x", .input_len = 1,
				    .output = KMI_SPAWN_CAPTURE, .out_max = 1 << 16 };
	struct kmi_spawn_result res;
	struct kmi_error *err = NULL;
	bool want[1024] = { true, true, true }, got[1024];
	int lowest = -1;

	for (int fd = 3; fd < 1024; fd++) {
		int flags = fcntl(fd, F_GETFD);
		want[fd] = flags >= 0 && !(flags & FD_CLOEXEC);
		if (!want[fd] && lowest < 0)
			lowest = fd;
	}
	want[lowest] = true;
	CHECK(run(&o, &res, &err) == 0 && res.exit_status == 0);
	parse_fds(&res.out, got);
	for (int fd = 0; fd < 1024; fd++)
		if (got[fd] != want[fd]) {
			fprintf(stderr, "fd %d: %s in the child\n", fd, got[fd] ? "open" : "not open");
			CHECK(got[fd] == want[fd]);
		}
	kmi_spawn_result_free(&res);
	kmi_error_free(&err);
}

int main(void)
{
	RUN(test_capture);
	RUN(test_exit_status);
	RUN(test_not_found);
	RUN(test_signals);
	RUN(test_bounds);
	RUN(test_stream);
	RUN(test_forward);
	RUN(test_descriptors);
	CHECK_EXIT();
}
