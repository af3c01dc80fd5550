/* config.h - where a store's pieces live: STORE/config */
#ifndef MFS_CONFIG_H
#define MFS_CONFIG_H

/*
 * A store directory is host-local: drafts (by default), the lock, the
 * logs. The registry's database and its blobs may live elsewhere, shared by
 * many hosts: a PostgreSQL database (db=) and a shared directory (blobs=),
 * and drafts may be put on the shared filesystem too (drafts=), so a seal
 * links rather than copies. STORE/config records them, so that every later
 * open of the store - `modelctl -s STORE`, a remount without options -
 * finds the same registry:
 *
 *   db postgresql:///modelfs?host=/run/postgresql
 *   blobs /mnt/nfs/modelfs-blobs
 *   drafts /mnt/nfs/modelfs-drafts/host-a
 *   host 3f9c0e12a4b7d865
 *
 * One "key value" line each; a missing key is the default (LMDB in
 * STORE/meta, STORE/blobs, STORE/drafts). The file is 0600 in a 0700
 * directory, yet a password never goes in it: libpq reads those from
 * PGPASSFILE or its service file (mfs_config_set() refuses one).
 * config.c knows nothing of the database.
 */

#include <stddef.h>

#define MFS_CONFIG_VALUE_MAX 4096

struct mfs_config {
	char db[MFS_CONFIG_VALUE_MAX];		/* "": LMDB in STORE/meta */
	char blobs[MFS_CONFIG_VALUE_MAX];	/* "": STORE/blobs */
	char drafts[MFS_CONFIG_VALUE_MAX];	/* "": STORE/drafts */
	char host[MFS_CONFIG_VALUE_MAX];	/* this store's number among the
						 * registry's hosts (16 hex digits),
						 * made at its first read-write
						 * open; never given by users */
};

/* Read STORE/config of the store at dir into *ret (all "" when the store
 * has none). Returns 0, or -EINVAL for a line it does not know (logged),
 * or -errno. */
int mfs_config_read(const char *dir, struct mfs_config *ret);

/* Record what cfg names (non-empty fields) in dir's STORE/config, keeping
 * what it does not name, atomically (a temporary file, fsync, rename).
 * dir must exist. Returns 0, or -EINVAL (a password in db, or a value with
 * a newline; logged), or -errno. */
int mfs_config_set(const char *dir, const struct mfs_config *cfg);

/* Does the database string name a password (a URI's user:password@, or a
 * password= keyword)? */
int mfs_config_has_password(const char *db);

#endif
