/* model.h - models: register, look up, list, model-level documents */
#ifndef MFS_MODEL_H
#define MFS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

#define MFS_MODEL_NAME_MAX 128

struct mfs_model_info {
	uint64_t id;
	char name[MFS_MODEL_NAME_MAX + 1];
	uid_t uid;
	gid_t gid;
	mode_t mode;			/* S_IFDIR | permission bits */
	int64_t ctime_ns;
};

/* Is name a valid model name (1-128 bytes of [A-Za-z0-9._-], not starting
 * with '.')? Returns 0, or -EINVAL (not logged: callers say why). */
int mfs_model_name_check(const char *name);

/* Returns 0, or: -ENOENT if no model has that name. */
int mfs_model_lookup(struct mfs_store *st, const char *name,
		     struct mfs_model_info *ret);
/* Returns 0, or: -ENOENT if no model has that id. */
int mfs_model_get(struct mfs_store *st, uint64_t id, struct mfs_model_info *ret);

/* Register a model owned by the caller. Returns 0, or: -EINVAL for a bad or
 * reserved name; -EEXIST if it exists. Audited. */
int mfs_model_create(struct mfs_store *st, const struct mfs_caller *c,
		     const char *name, mode_t mode, struct mfs_model_info *ret);

/* Remove a model. Returns 0, or: -ENOENT; -ENOTEMPTY while it has versions
 * (drafts, sealed or tombstoned) or aliases. Audited. */
int mfs_model_remove(struct mfs_store *st, const struct mfs_caller *c,
		     const char *name);

/* Change the model directory's mode or owner (-1 keeps a field).
 * Returns 0, or -ENOENT. */
int mfs_model_setattr(struct mfs_store *st, const struct mfs_caller *c,
		      uint64_t id, mode_t mode, uid_t uid, gid_t gid);

/* All models, sorted by name. Ownership: caller owns *ret; free(). */
int mfs_model_list(struct mfs_store *st, struct mfs_model_info **ret,
		   size_t *ret_n);

/* A model's documents (metadata.json, policy.json) and index.json are
 * governance: doc.h. */

#endif
