/* seal.h - turning a draft into an immutable version */
#ifndef MFS_SEAL_H
#define MFS_SEAL_H

#include <stdint.h>
#include <sys/types.h>

#include "store.h"
#include "hash.h"

/*
 * The seal is the durability ladder of DESIGN §2, in one function:
 * fsync each draft file, journal the blob names it will create, link each
 * file into blobs/ab/HASH, fsync the blob directories, then commit the
 * version in one LMDB transaction (re-checking reused blobs) and only then
 * drop the draft. Any failure leaves the draft as it was.
 */

/* A draft file at least this big has its writeback started as soon as
 * its writer closes it (and again by the seal's first pass), so the
 * seal's sync finds its bytes on their way. Smaller files are left to
 * the seal's one syncfs(): starting them one by one cost 2,000 small I/Os
 * and a request thread's time per file, more than it saved. */
#define MFS_SEAL_EARLY_WRITEBACK (1u << 20)

/* A digest the daemon computed while a file was written in order: given
 * the backing file's inode, size and mtime, return 0 and the digest if
 * known, else -ENOENT (the seal hashes the file itself). */
typedef int (*mfs_seal_hint_fn)(void *ctx, ino_t ino, uint64_t size,
				int64_t mtime_ns, struct mfs_digest *ret);

/* Seal draft vid. The caller (fs/) has made sure no writer is open.
 * Returns 0 (also when vid is already sealed), or: -EINVAL if the draft
 * holds no file (logged); -EBUSY if another seal of it is running;
 * -ENOENT if it does not exist or is a tombstone; -ENOSPC/-EIO/-errno from
 * the disk, in which case the draft is left as it was (logged). Audited. */
int mfs_seal_version(struct mfs_store *st, const struct mfs_caller *c,
		     uint64_t vid, mfs_seal_hint_fn hint, void *hint_ctx);

#endif
