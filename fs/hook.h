/* hook.h - -o hook=PROGRAM: run a program for every committed event */
#ifndef MFS_HOOK_H
#define MFS_HOOK_H

/*
 * The store hands every committed audit record to an event sink
 * (mfs_store_set_event_sink()); hook_event() is that sink. It only queues
 * the record (a bounded queue: when full the record is dropped with a log
 * line), so no FUSE request ever waits for the program. One worker thread
 * runs PROGRAM for each record in commit order: execve, no shell, the
 * record as one JSON line on its stdin, its own process group, killed
 * after the timeout. A timeout, a failed start and an exit status other
 * than 0 are logged; the filesystem goes on either way.
 */

struct hook;

/* Start the worker for program (an absolute or relative path, run without
 * a shell) with a timeout in seconds per run. Returns 0, or -errno
 * (logged). Ownership: caller owns *ret; stop with hook_stop(). */
int hook_start(const char *program, int timeout_s, struct hook **ret);

/* The event sink: queue a copy of record. Threads: any; never blocks on
 * the program. */
void hook_event(void *hook, const char *record);

/* Stop the worker (a run in progress is waited for, up to its timeout;
 * records still queued are dropped, logged) and free h. NULL is a no-op. */
void hook_stop(struct hook *h);

#endif
