/* sha256.h - SHA-256 digests of blobs, computed in the background */
#ifndef MFS_SHA256_H
#define MFS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "hash.h"

/*
 * Blobs are named by XXH3-128, which is fast but not what others verify:
 * Hugging Face, Git LFS, SLSA and cosign speak SHA-256. A seal does not
 * wait for it: its commit owes the SHA-256 of every blob that has none
 * (a pending table in LMDB, written in the seal's own transaction), and a
 * worker thread pays the debt afterwards, reading each blob once with
 * OpenSSL's libcrypto (which uses the CPU's SHA extensions). Because the
 * debt is in LMDB, a restart (even after kill -9) resumes it; blobs of a
 * store sealed before this existed are found by a one-time scan in the
 * worker, so start-up does not wait for it either. gc forgets the digest
 * of a blob it removes, in the same transaction.
 */

#define MFS_SHA256_LEN 32
#define MFS_SHA256_HEX 65	/* 64 digits and a NUL */

/* Start the worker thread of the serving process (the daemon, once the
 * store is open). Returns 0, or -errno from pthread_create.
 * Threads: the worker uses its own transactions; mfs_store_close() stops
 * it (an interrupted hash is simply owed again). */
int mfs_sha256_start(struct mfs_store *st);

/* The SHA-256 of blob d. Returns 0 and out, or: -ENODATA if it is not
 * computed yet (or d is no blob); -errno. */
int mfs_sha256_get(struct mfs_store *st, const struct mfs_digest *d,
		   uint8_t out[MFS_SHA256_LEN]);

/* Pay every owed digest now, in the calling thread (modelctl without a
 * daemon). *ret_done (may be NULL) counts those computed.
 * Returns 0, or -errno (a blob that cannot be read is logged and stays
 * owed). Needs a store opened with MFS_STORE_SERVE. */
int mfs_sha256_fill(struct mfs_store *st, size_t *ret_done);

/* How many digests are owed. Returns 0 or -errno. */
int mfs_sha256_pending(struct mfs_store *st, size_t *ret_n);

/* Lowercase hex of a SHA-256. This function can't fail. */
void mfs_sha256_hex(const uint8_t sha[MFS_SHA256_LEN], char out[MFS_SHA256_HEX]);

#endif
