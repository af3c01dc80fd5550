/* progress.h - how far long work has got (fsck, gc, backup, restore, migrate) */
#ifndef MFS_PROGRESS_H
#define MFS_PROGRESS_H

#include <stdint.h>

/*
 * Long work says how far it has got through one hook of the process, which
 * a tool sets to show it (modelctl, on a terminal); the daemon sets none.
 * what names the step ("checking blobs"); done counts what is done of
 * total (0: unknown). Steps come in order; the last call of a step has
 * done == total.
 */
typedef void (*mfs_progress_fn)(void *ctx, const char *what, uint64_t done, uint64_t total);

/* Set the hook (NULL: none). Set it before the work starts: it is read
 * without a lock. */
void mfs_progress_set(mfs_progress_fn fn, void *ctx);

/* Report a step's progress to the hook, if any. Threads: any. */
void mfs_progress(const char *what, uint64_t done, uint64_t total);

#endif
