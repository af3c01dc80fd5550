/* progressbar.h - long work's progress on a terminal, never in a pipe */
#ifndef MODELCTL_PROGRESSBAR_H
#define MODELCTL_PROGRESSBAR_H

/*
 * On a terminal (stderr), a line per step of the store's long work
 * (store/progress.h: checking, copying, releasing, removing), redrawn at
 * most ten times a second; elsewhere nothing. For work done by the daemon
 * (gc through the mount), the time it has taken so far.
 */

/* Show the store's progress from now on, if stderr is a terminal. */
void ctl_progress_start(void);
/* End a line still open (work that stopped before its last step). */
void ctl_progress_end(void);

/* Show "what: N s" each second until ctl_progress_waited(), for work the
 * daemon does while this process waits in one system call. */
void ctl_progress_wait(const char *what);
void ctl_progress_waited(void);

#endif
