/* blob.h - the content-addressed blob files under STORE/blobs */
#ifndef MFS_BLOB_H
#define MFS_BLOB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store.h"
#include "hash.h"

/*
 * blob.c knows nothing of LMDB: it names, links, opens, verifies and walks
 * blob files. seal.c, fsck.c and gc decide which blobs should exist.
 */

/* "ab/<32 hex>" relative to STORE/blobs. */
void mfs_blob_relpath(const struct mfs_digest *d, char out[40]);

/* Link the file at (dirfd, path) as the blob named d; on another
 * filesystem than the blobs, copy it (synced, under a temporary name
 * ".tmp-..." in ab/, then linked into place). sb: the file as it was
 * hashed (NULL: as it is now): a name made for another inode (the draft's
 * name swapped meanwhile) is refused. *ret_created is true if this call
 * created the name, false if it existed with the same size (the same
 * content: dedup). The directory is not fsynced here: see
 * mfs_blob_sync_dirs(). Returns 0, or: -EBUSY if the file is not sb's;
 * -EEXIST if a blob of that name exists with another size (a damaged blob;
 * logged); -errno of linkat or the copy (logged). */
int mfs_blob_link(struct mfs_store *st, int dirfd, const char *path,
		  const struct mfs_digest *d, const struct stat *sb, bool *ret_created);

/* fsync blobs/ab/ for every d (and blobs/ itself). Returns 0 or -errno. */
int mfs_blob_sync_dirs(struct mfs_store *st, const struct mfs_digest *d,
		       size_t n);

/* Remove blob d (a seal that failed, gc). Returns 0, or -errno (-ENOENT). */
int mfs_blob_unlink(struct mfs_store *st, const struct mfs_digest *d);

/* Returns 1 if blob d exists, 0 if not, or -errno. */
int mfs_blob_has(struct mfs_store *st, const struct mfs_digest *d,
		 uint64_t *ret_size);

/* Open blob d read-only. Returns 0, or -ENOENT, -errno.
 * Ownership: caller owns *ret_fd. */
int mfs_blob_open(struct mfs_store *st, const struct mfs_digest *d, int *ret_fd);

/* Re-hash blob d. Returns 0, or -EBADMSG if its content does not match its
 * name, -ENOENT, -errno. */
int mfs_blob_verify(struct mfs_store *st, const struct mfs_digest *d);

/* Walk every file under blobs/: obj for well-named blobs, cruft for anything
 * else (temporary or foreign names). A callback returning non-zero stops the
 * walk and that value is returned. */
typedef int (*mfs_blob_obj_fn)(void *ctx, const struct mfs_digest *d,
			       uint64_t size);
typedef int (*mfs_blob_cruft_fn)(void *ctx, const char *relpath);
int mfs_blob_iterate(struct mfs_store *st, mfs_blob_obj_fn obj,
		     mfs_blob_cruft_fn cruft, void *ctx);

#endif
