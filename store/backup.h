/* backup.h - consistent copies of a live store, and stores made from them */
#ifndef MFS_BACKUP_H
#define MFS_BACKUP_H

#include <stdint.h>

#include "store.h"

/*
 * A backup is itself a store directory (meta/, blobs/, drafts/ empty), so
 * it can be checked with `modelctl -s DIR fsck` and restored by copying.
 * It is taken in the one order that can never name a missing blob:
 *   1. a copy of the database into meta/ (LMDB), made in one read
 *      transaction: a snapshot, however busy the daemons are (LMDB's own
 *      compacting copy, or from PostgreSQL every record into a new LMDB
 *      environment);
 *   2. then every blob that snapshot references, read from the live store
 *      (blobs never change, and nothing removes a referenced one), each
 *      re-hashed as it is written: a damaged blob fails the backup instead
 *      of spreading into it;
 *   3. fsync of every file and directory written.
 * Drafts are work in progress: their files are not in a backup, and a
 * restore discards their records.
 */

struct mfs_backup_stats {
	uint64_t blobs;		/* blob files copied */
	uint64_t bytes;		/* their bytes */
	uint64_t drafts;	/* restore: draft records discarded */
};

/* Back up st (opened in any mode, also beside its daemon) into dir, which
 * must be new or empty. Returns 0, or: -EEXIST if dir holds anything;
 * -EIO if a referenced blob is missing or does not match its name
 * (logged); -errno. On failure dir is left incomplete: remove it. */
int mfs_backup(struct mfs_store *st, const char *dir, struct mfs_backup_stats *ret);

/* Make a new store at dst (new or empty) from the backup in src, as caller
 * c (who discards the drafts; audited). Every blob is checked against its
 * name as it is copied. Returns 0, or: -EEXIST if dst holds anything;
 * -ENOENT if src is no backup; -EIO for a damaged blob (logged); -errno. */
int mfs_restore(const char *src, const char *dst, const struct mfs_caller *c,
		struct mfs_backup_stats *ret);

/* Move the registry of st into another database: to is "lmdb:DIR" (a new
 * store directory: DIR new or empty) or a PostgreSQL URI whose database is
 * empty, with blobs the blob directory its hosts share (made if missing).
 * Every record is copied byte for byte from one snapshot (the audit chain
 * verifies alike, with the same head), then every referenced blob is
 * linked (same filesystem) or copied and checked. st is not changed.
 * Refused (-EBUSY, logged) while a daemon of another host serves the
 * registry or while it holds drafts (their files are not in any database).
 * Returns 0, or -EEXIST (the target is not empty), -EINVAL, -EIO (a
 * damaged blob), -errno. On failure the target is incomplete: drop it. */
int mfs_migrate(struct mfs_store *st, const char *to, const char *blobs,
		struct mfs_backup_stats *ret);

#endif
