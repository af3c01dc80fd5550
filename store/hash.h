/* hash.h - XXH3-128 content digests */
#ifndef MFS_HASH_H
#define MFS_HASH_H

#include <stdint.h>
#include <stddef.h>

/*
 * A digest names a blob. Its text form is the canonical big-endian hex that
 * `xxhsum -H2` prints (32 lowercase digits). Only store/ links xxHash; fs/
 * hashes inline through this wrapper.
 */

#define MFS_DIGEST_HEX 33	/* 32 digits and a NUL */

struct mfs_digest {
	uint8_t b[16];		/* canonical (big-endian) bytes */
};

struct mfs_hash;

/* Start a streaming hash. Returns 0, or -ENOMEM.
 * Ownership: caller owns *ret; free with mfs_hash_free(). */
int mfs_hash_new(struct mfs_hash **ret);
void mfs_hash_free(struct mfs_hash *h);
/* Restart h as if new. */
void mfs_hash_reset(struct mfs_hash *h);
void mfs_hash_update(struct mfs_hash *h, const void *buf, size_t n);
void mfs_hash_final(const struct mfs_hash *h, struct mfs_digest *ret);

/* Hash the whole of fd from offset 0 (pread, so fd's offset is untouched).
 * Returns 0, or -errno of a failed read, or -ENOMEM. */
int mfs_hash_fd(int fd, struct mfs_digest *ret, uint64_t *ret_size);

/* Hash one buffer. This function can't fail. */
void mfs_hash_buf(const void *buf, size_t n, struct mfs_digest *ret);

void mfs_digest_hex(const struct mfs_digest *d, char out[MFS_DIGEST_HEX]);
/* Returns 0, or -EINVAL unless s is exactly 32 hex digits. */
int mfs_digest_parse(const char *s, struct mfs_digest *ret);

#endif
