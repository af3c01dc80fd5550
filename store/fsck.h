/* fsck.h - checking a store: blobs, references, refcounts, cruft */
#ifndef MFS_FSCK_H
#define MFS_FSCK_H

#include "store.h"

/*
 * fsck reads LMDB in one read transaction and never takes the daemon's
 * lock, so it runs beside a mounted daemon. Errors: a referenced blob that
 * is missing, has the wrong size or content (re-hashed), a wrong refcount.
 * Warnings: cruft (blob files nothing references: left by a crash, removed
 * at the next start or by gc) and seals in progress.
 */

enum mfs_fsck_flags {
	MFS_FSCK_QUICK = 1 << 0,	/* sizes only, no re-hash */
};

enum mfs_fsck_level { MFS_FSCK_WARNING, MFS_FSCK_ERROR };

typedef void (*mfs_fsck_report_fn)(void *ctx, enum mfs_fsck_level level,
				   const char *what, const char *msg);

struct mfs_fsck_result {
	unsigned long blobs, versions, errors, warnings;
};

/* Check st, calling report once per finding (what: a blob's relative path
 * or a version label). Returns 0 when the walk completed (findings are in
 * *ret), or -errno if the store could not be read. */
int mfs_fsck_run(struct mfs_store *st, unsigned flags, mfs_fsck_report_fn report,
		 void *ctx, struct mfs_fsck_result *ret);

#endif
