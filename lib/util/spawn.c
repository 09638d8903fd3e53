// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Running a helper program with its stdin and stdout on pipes, bounded in
 * time and output (credential helpers are third-party programs).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/macro.h"
#include "util/spawn.h"

extern char **environ;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int start(const char *const argv[], int in[2], int out[2], pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	int r;

	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0) {
		r = -errno;
		close(in[0]);
		close(in[1]);
		return r;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	r = -posix_spawnp(pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (r < 0) {
		close(in[1]);
		close(out[0]);
	}
	return r;
}

/* Feeds input and drains stdout until EOF, the deadline or the bound. */
static int pump(int to, int from, const char *input, size_t input_len, size_t out_max,
		long long deadline, struct kmi_buf *out)
{
	size_t sent = 0, got = 0;
	bool open_in = true;

	if (input_len == 0) {
		close(to);
		open_in = false;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = from, .events = POLLIN },
				       { .fd = open_in ? to : -1, .events = POLLOUT } };
		long long left = deadline - now_ms();
		char chunk[4096];
		ssize_t n;

		if (left <= 0)
			return open_in ? (close(to), -ETIMEDOUT) : -ETIMEDOUT;
		if (poll(p, 2, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (open_in && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = write(to, input + sent, input_len - sent);
			if (n > 0)
				sent += (size_t)n;
			if (n < 0 || sent == input_len) {
				close(to); /* EPIPE: the child did not want it all */
				open_in = false;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(from, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (got + (size_t)n > out_max) {
				if (open_in)
					close(to);
				return -EFBIG;
			}
			kmi_buf_put(out, chunk, (size_t)n);
			got += (size_t)n;
		}
	}
	if (open_in)
		close(to);
	return 0;
}

int kmi_spawn_capture(const char *const argv[], const char *input, size_t input_len,
		      size_t out_max, int timeout_ms, struct kmi_buf *out)
{
	int in[2], outp[2], status, r;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	pid_t pid;

	/* A child that exits without reading its stdin must not kill us. */
	sigaction(SIGPIPE, &ign, &old);
	r = start(argv, in, outp, &pid);
	if (r < 0) {
		sigaction(SIGPIPE, &old, NULL);
		return r;
	}
	r = pump(in[1], outp[0], input, input_len, out_max, now_ms() + timeout_ms, out);
	close(outp[0]);
	if (r < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = 0;
			r = r < 0 ? r : -errno;
			break;
		}
	}
	sigaction(SIGPIPE, &old, NULL);
	if (r < 0)
		return r;
	/* posix_spawnp reports exec failure as exit status 127 */
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return -EINTR;
}
