// SPDX-License-Identifier: LGPL-2.1-or-later
#include <signal.h>
#include <string.h>

#include "util/stop.h"

static volatile sig_atomic_t stop_signal;

static void note(int sig)
{
	if (stop_signal == 0)
		stop_signal = sig;
}

void kmi_stop_catch(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = note;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old;

		/* one ignored at start (nohup, a background job) stays ignored */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

int kmi_stop_signal(void)
{
	return stop_signal;
}
