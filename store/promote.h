/* promote.h - moving aliases under the registry's rules; latest; history */
#ifndef MFS_PROMOTE_H
#define MFS_PROMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "alias.h"

/*
 * Every change of an alias passes the policy's rule for its name (who may
 * move it, protection, gates, approvals: policy.h) and leaves one history
 * record and one audit record, in the change's own transaction.
 */

/* The version `latest` names. Returns 0, or -ENOENT when nothing is sealed. */
int mfs_alias_latest(struct mfs_store *st, uint64_t model_id,
		     struct mfs_version_info *ret);

/* Create alias name -> vid (a sealed version). Returns 0, or: -EEXIST if the
 * name is taken; -EINVAL for a reserved name or a version that is not
 * sealed; -ENOENT. Recorded and audited. */
int mfs_alias_create(struct mfs_store *st, const struct mfs_caller *c,
		     uint64_t model_id, const char *name, uint64_t vid);

/* Point alias name at vid (a sealed version), creating it or moving it, in
 * one transaction: what `ln -sfn` does in two steps, for modelctl without a
 * daemon. Returns 0, or the errors of mfs_alias_create(). Recorded (one
 * move) and audited. */
int mfs_alias_set(struct mfs_store *st, const struct mfs_caller *c,
		  uint64_t model_id, const char *name, uint64_t vid);

enum mfs_alias_rename_flags {
	MFS_ALIAS_NOREPLACE = 1 << 0,
	MFS_ALIAS_EXCHANGE = 1 << 1,
};

/* rename(from, to) in the model directory, atomically: `to` now names what
 * `from` named (one move of `to` in the history) and `from` is gone; with
 * MFS_ALIAS_EXCHANGE the two swap. Returns 0, or: -ENOENT if from (or to,
 * for EXCHANGE) does not exist; -EEXIST if to exists under NOREPLACE;
 * -EINVAL for a reserved name. Recorded and audited. */
int mfs_alias_rename(struct mfs_store *st, const struct mfs_caller *c,
		     uint64_t model_id, const char *from, const char *to,
		     unsigned flags);

/* Remove an alias. Returns 0, or -ENOENT. Recorded and audited. */
int mfs_alias_remove(struct mfs_store *st, const struct mfs_caller *c,
		     uint64_t model_id, const char *name);

/* The model's alias history as JSON lines, oldest first: one whole read
 * of mfs_alias_history_stream_open()'s stream.
 * Ownership: caller owns *ret; free(). */
int mfs_alias_history_render(struct mfs_store *st, uint64_t model_id, char **ret,
			     size_t *ret_len);

/* The same as a stream (stream.h): read by offset, never held whole.
 * Ownership: caller owns *ret; mfs_stream_close(). */
struct mfs_stream;
int mfs_alias_history_stream_open(struct mfs_store *st, uint64_t model_id,
				  struct mfs_stream **ret, uint64_t *ret_size);

#endif
