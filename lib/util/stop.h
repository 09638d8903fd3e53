/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A termination request (SIGTERM, SIGINT, SIGHUP: Kubernetes deleting a
 * worker Pod, Ctrl-C) noted instead of obeyed at once, for work that must
 * end in a consistent state: a load stops between two modules and removes
 * what it inserted.  Blocking system calls are restarted.
 */
void kmi_stop_catch(void);
/* 0, or the first signal received since kmi_stop_catch(). */
int kmi_stop_signal(void);
