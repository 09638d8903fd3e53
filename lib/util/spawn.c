// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Child processes, started one way: posix_spawnp with an argv array, our
 * pipe ends close-on-exec (and the input end non-blocking, so that feeding
 * a child never waits on a child that waits for us to read), then input fed
 * and output drained until EOF, then the child waited for.  Its end is
 * first seen without reaping it (pidfd, or waitid WNOWAIT on kernels
 * before 5.3), then it is reaped with the forwarded signals blocked, so
 * that no signal is passed on to a pid that may already be another's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/macro.h"
#include "util/spawn.h"

extern char **environ;

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP };

/* The child signals are passed on to: a handler has no user pointer. */
static volatile sig_atomic_t fwd_pid, fwd_sig;

static void forward(int sig)
{
	fwd_sig = sig;
	if (fwd_pid > 0)
		kill((pid_t)fwd_pid, sig);
}

struct child {
	const struct kmi_spawn_opts *o;
	struct kmi_spawn_result *res;
	pid_t pid;
	int pidfd;          /* -1: none (kernel before 5.3) */
	int in, out;        /* our pipe ends, -1 once closed */
	size_t sent;
	long long deadline; /* CLOCK_MONOTONIC ms, 0: none */
	bool reaped;        /* or lost: its pid may be another's now, never to be signalled */
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ms until the deadline for poll(): -1 without one, 0 when it has passed. */
static int time_left(const struct child *c)
{
	long long left;

	if (c->deadline == 0)
		return -1;
	left = c->deadline - now_ms();
	return left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void forwarded_set(sigset_t *s)
{
	sigemptyset(s);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(s, forwarded[i]);
}

/*
 * SIGPIPE at its default (we may ignore it: the child should not), and when
 * forwarding, the forwarded signals at theirs and the mask as it was before
 * we blocked them while starting the child.
 */
static void spawn_attrs(posix_spawnattr_t *attr, const sigset_t *mask)
{
	sigset_t def;
	short flags = POSIX_SPAWN_SETSIGDEF;

	if (mask)
		forwarded_set(&def);
	else
		sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_init(attr);
	posix_spawnattr_setsigdefault(attr, &def);
	if (mask) {
		posix_spawnattr_setsigmask(attr, mask);
		flags |= POSIX_SPAWN_SETSIGMASK;
	}
	posix_spawnattr_setflags(attr, flags);
}

static void spawn_files(const struct kmi_spawn_opts *o, posix_spawn_file_actions_t *fa, int in,
			int out)
{
	posix_spawn_file_actions_init(fa);
	if (in >= 0)
		posix_spawn_file_actions_adddup2(fa, in, STDIN_FILENO);
	else
		posix_spawn_file_actions_addopen(fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (out >= 0)
		posix_spawn_file_actions_adddup2(fa, out, STDOUT_FILENO);
	if (out >= 0 && o->output == KMI_SPAWN_STREAM)
		posix_spawn_file_actions_adddup2(fa, out, STDERR_FILENO);
}

/* Starts the child; mask: the signal mask it gets, or NULL for ours. */
static int start(struct child *c, const sigset_t *mask, struct kmi_error **err)
{
	const struct kmi_spawn_opts *o = c->o;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, r = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;

	if ((o->input && pipe2(in, O_CLOEXEC) < 0) ||
	    (o->output != KMI_SPAWN_INHERIT && pipe2(out, O_CLOEXEC) < 0))
		r = errno;
	if (r == 0) {
		spawn_files(o, &fa, in[0], out[1]);
		spawn_attrs(&attr, mask);
		r = posix_spawnp(&c->pid, o->argv[0], &fa, &attr, (char *const *)o->argv,
				 o->env ? o->env : environ);
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&attr);
	}
	close_fd(&in[0]);
	close_fd(&out[1]);
	c->in = in[1];
	c->out = out[0];
	if (r != 0) {
		close_fd(&c->in);
		close_fd(&c->out);
		if (r == ENOENT && strchr(o->argv[0], '/') == NULL)
			return kmi_error_set(err, r, "running `%s`: not found in PATH", o->argv[0]);
		return kmi_error_set(err, r, "running `%s`", o->argv[0]);
	}
	if (c->in >= 0 && (o->input_len == 0 || fcntl(c->in, F_SETFL, O_NONBLOCK) < 0))
		close_fd(&c->in);
	c->pidfd = pidfd_open(c->pid, 0);
	return 0;
}

static void feed(struct child *c)
{
	ssize_t n = write(c->in, c->o->input + c->sent, c->o->input_len - c->sent);

	if (n > 0)
		c->sent += (size_t)n;
	/* EPIPE: the child did not want it all */
	if ((n < 0 && errno != EINTR && errno != EAGAIN) || c->sent == c->o->input_len)
		close_fd(&c->in);
}

static int drain(struct child *c, struct kmi_error **err)
{
	const struct kmi_spawn_opts *o = c->o;
	char chunk[8192];
	ssize_t n = read(c->out, chunk, sizeof(chunk));

	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0) {
		/* a read error ends the output as EOF does: the child's status still decides */
		close_fd(&c->out);
		return 0;
	}
	if (o->output == KMI_SPAWN_STREAM) {
		if (o->on_output)
			o->on_output(o->data, chunk, (size_t)n);
		return 0;
	}
	if ((size_t)n > o->out_max - c->res->out.len)
		return kmi_error_set(err, EFBIG, "`%s` wrote more than %zu bytes", o->argv[0],
				     o->out_max);
	kmi_buf_put(&c->res->out, chunk, (size_t)n);
	return 0;
}

/* 1 when the child has ended (not reaped yet), 0 not within ms (-1: no bound), or -errno. */
static int ended(struct child *c, int ms)
{
	struct pollfd p = { .fd = c->pidfd, .events = POLLIN };
	struct timespec step = { 0, 10 * 1000 * 1000 };
	siginfo_t si = { 0 };

	if (c->pidfd >= 0)
		return poll(&p, 1, ms) < 0 ? -errno : p.revents != 0;
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOWAIT | (ms < 0 ? 0 : WNOHANG)) < 0)
		return -errno;
	if (si.si_pid == 0)
		nanosleep(&step, NULL); /* no pidfd: a look every 10 ms until the deadline */
	return si.si_pid != 0;
}

static int reap(struct child *c, struct kmi_error **err)
{
	sigset_t block, old;
	int status, r, e;

	forwarded_set(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	while ((r = waitpid(c->pid, &status, 0)) < 0 && errno == EINTR)
		;
	e = errno;
	c->reaped = true;
	if (fwd_pid == c->pid)
		fwd_pid = 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return kmi_error_set(err, e, "waiting for `%s`", c->o->argv[0]);
	if (WIFEXITED(status))
		c->res->exit_status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		c->res->signal = WTERMSIG(status);
	return 0;
}

static int stop(struct child *c, struct kmi_error **err);

/* Waits for the child's end, within the deadline, and reaps it. */
static int wait_end(struct child *c, struct kmi_error **err)
{
	for (;;) {
		int left = time_left(c), r;
		if (left == 0) {
			c->res->timed_out = true;
			return stop(c, err);
		}
		r = ended(c, left);
		if (r > 0)
			return reap(c, err);
		if (r < 0 && r != -EINTR) {
			c->reaped = true;
			return kmi_error_set(err, -r, "waiting for `%s`", c->o->argv[0]);
		}
	}
}

/* Kills the child (not reaped yet: its pid is still its own), stops reading, reaps it. */
static int stop(struct child *c, struct kmi_error **err)
{
	kill(c->pid, SIGKILL);
	close_fd(&c->in);
	close_fd(&c->out);
	c->deadline = 0;
	return wait_end(c, err);
}

/* Feeds the input and drains the output until EOF, then waits for the end. */
static int run(struct child *c, struct kmi_error **err)
{
	while (c->in >= 0 || c->out >= 0) {
		struct pollfd p[2] = { { .fd = c->out, .events = POLLIN },
				       { .fd = c->in, .events = POLLOUT } };
		int left = time_left(c), r;
		if (left == 0) {
			c->res->timed_out = true;
			return stop(c, err);
		}
		if (poll(p, 2, left) < 0) {
			if (errno == EINTR)
				continue;
			return kmi_error_set(err, errno, "waiting for `%s`", c->o->argv[0]);
		}
		if (p[1].revents)
			feed(c);
		if (p[0].revents && (r = drain(c, err)) < 0)
			return r;
	}
	return wait_end(c, err);
}

static void forward_begin(struct sigaction old[])
{
	struct sigaction sa = { .sa_handler = forward };

	sigemptyset(&sa.sa_mask);
	fwd_sig = 0;
	fwd_pid = 0;
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaction(forwarded[i], &sa, &old[i]);
}

static int forward_end(const struct sigaction old[])
{
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaction(forwarded[i], &old[i], NULL);
	fwd_pid = 0;
	return fwd_sig;
}

/* Starts the child; a signal that comes meanwhile waits until it can be passed on. */
static int start_forwarding(struct child *c, struct kmi_error **err)
{
	sigset_t block, old;
	int r;

	forwarded_set(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	r = start(c, &old, err);
	if (r == 0)
		fwd_pid = c->pid;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

int kmi_spawn(const struct kmi_spawn_opts *o, struct kmi_spawn_result *res,
	      struct kmi_error **err)
{
	struct child c = { .o = o, .res = res, .pid = -1, .pidfd = -1, .in = -1, .out = -1 };
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe, old_fwd[ARRAY_SIZE(forwarded)];
	int r;

	*res = (struct kmi_spawn_result){ .exit_status = -1 };
	fflush(stdout);
	fflush(stderr);
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old_pipe);
	if (o->forward_signals)
		forward_begin(old_fwd);
	r = o->forward_signals ? start_forwarding(&c, err) : start(&c, NULL, err);
	if (r == 0) {
		c.deadline = o->timeout_ms > 0 ? now_ms() + o->timeout_ms : 0;
		r = run(&c, err);
		if (r < 0 && !c.reaped) {
			struct kmi_error *ignored = NULL;
			stop(&c, &ignored);
			kmi_error_free(&ignored);
		}
	}
	close_fd(&c.pidfd);
	if (o->forward_signals)
		res->forwarded = forward_end(old_fwd);
	sigaction(SIGPIPE, &old_pipe, NULL);
	return r;
}

void kmi_spawn_result_free(struct kmi_spawn_result *res)
{
	kmi_buf_free(&res->out);
}
