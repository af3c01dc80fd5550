/* ref.h - draft files that stand for a sealed blob (instant copies) */
#ifndef MFS_REF_H
#define MFS_REF_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "hash.h"

/*
 * `cp -r versions/1.2.0 versions/1.3.0` need not copy a byte: cp asks
 * copy_file_range() from a sealed file into an empty draft file, and the
 * draft file is made a reference to the blob instead. On disk a reference
 * is the draft file, sparse, at the blob's size, with the extended
 * attribute user.modelfs.blob = "<32 hex digits> <size>". It is valid
 * only while the file's size is the blob's: the attribute is set before
 * the size, so a crash in between leaves an ordinary empty file.
 *
 * Reading a reference reads the blob (mfs_ref_open). Anything that would
 * change its bytes breaks it first (mfs_ref_break): the blob's bytes are
 * copied in (in the kernel, on the store's filesystem) and the attribute
 * dropped, or, when the caller is about to empty the file anyway, the
 * attribute is just dropped. A seal takes a reference's digest as given
 * and links nothing: the blob is already there.
 *
 * fd arguments may be O_PATH descriptors; the functions reopen them
 * through /proc/self/fd where they need to read or write.
 */

/* Make the empty draft file fd a reference to blob d of size bytes.
 * Returns 0; -ENOTEMPTY if the file is not empty; -EOPNOTSUPP if the
 * store's filesystem keeps no user extended attributes, or the registry is
 * shared by many hosts (gc on another cannot see this host's references):
 * copy instead;
 * -ENOENT if the blob is missing; -errno. */
int mfs_ref_make(struct mfs_store *st, int fd, const struct mfs_digest *d,
		 uint64_t size);

/* Is fd a valid reference? Returns 1 and *ret_d, *ret_size; 0 if not;
 * or -errno. */
int mfs_ref_get(int fd, struct mfs_digest *ret_d, uint64_t *ret_size);

/* Open what fd's bytes are: the blob if fd is a reference (returns 1), or
 * nothing (returns 0, *ret_fd untouched). Returns -EIO (logged) if the
 * blob is gone. Ownership: caller owns *ret_fd. */
int mfs_ref_open(struct mfs_store *st, int fd, int *ret_fd);

/* Make fd an ordinary file again before its bytes change. keep: copy the
 * blob's bytes in first (false: the caller empties the file). Returns 0
 * (also when fd was no reference), or -errno (the reference stands). */
int mfs_ref_break(struct mfs_store *st, int fd, bool keep);

#endif
