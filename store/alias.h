/* alias.h - aliases (stages): symlinks in a model directory */
#ifndef MFS_ALIAS_H
#define MFS_ALIAS_H

#include <stdint.h>
#include <sys/types.h>

#include "store.h"
#include "version.h"

/*
 * An alias names exactly one sealed version of its model. Its text target
 * is always "versions/<v>". Every change is recorded in the model's history
 * and the audit trail. `latest` is computed, never stored.
 */

struct mfs_alias_info {
	char name[MFS_NAME_MAX + 1];
	uint64_t vid;
	char version[MFS_NAME_MAX + 1];
	int64_t ctime_ns;
	uid_t uid;
	uint64_t seq;	/* the history record that set it: mfs_history_at()
			 * and mfs_history_moves() only, 0 elsewhere */
};

/* Is name usable as an alias in a model directory? Returns 0, or -EINVAL
 * for reserved names (versions, latest, history.jsonl, metadata.json,
 * policy.json, @...) and names with '/' or NUL. */
int mfs_alias_name_check(const char *name);
/* May a new alias take name? mfs_alias_name_check(), and -EINVAL for a
 * name shaped like a version (MODEL@1.2.0 must mean one thing). Aliases
 * made before this rule keep working: moved, removed, approved for. */
int mfs_alias_name_new_check(const char *name);

/* Normalise a symlink target text written in the directory of model: the
 * pure half of mfs_alias_resolve_target(), with no store and no logging.
 * Accepts "versions/V" preceded by any number of "./", followed by any
 * number of '/', and an absolute path "<mount>/models/<model>/versions/V"
 * when mount is neither NULL nor empty; V must be a SemVer version (see
 * semver.h). Prefixes are compared byte for byte: mount is not
 * normalised.
 * Returns 0, or -EINVAL for any other shape, for a target of PATH_MAX bytes
 * or more, or if V does not fit in n bytes with its NUL (never with
 * n > MFS_SEMVER_MAX_LEN).
 * Ownership: V is copied into the caller's ret_version (n bytes), written
 * only on success; nothing is kept. Threads: safe from any thread. */
int mfs_alias_target_parse(const char *target, const char *mount, const char *model,
			   char *ret_version, size_t n);

/* Resolve a symlink target text for model_id to a version id: the shapes
 * mfs_alias_target_parse() accepts, for the model's own name.
 * Returns 0, or: -EINVAL for any other shape (logged); -ENOENT if V does not
 * exist or is a tombstone (logged). */
int mfs_alias_resolve_target(struct mfs_store *st, uint64_t model_id,
			     const char *target, const char *mount,
			     uint64_t *ret_vid);

/* Returns 0, or -ENOENT. */
int mfs_alias_get(struct mfs_store *st, uint64_t model_id, const char *name,
		  struct mfs_alias_info *ret);
/* All aliases of a model by name. Ownership: caller owns *ret; free(). */
int mfs_alias_list(struct mfs_store *st, uint64_t model_id,
		   struct mfs_alias_info **ret, size_t *ret_n);
/* Aliases pointing at vid. Ownership: caller owns *ret; free(). */
int mfs_alias_list_for(struct mfs_store *st, uint64_t vid,
		       struct mfs_alias_info **ret, size_t *ret_n);

/* Moving aliases (create, move, rename, remove), `latest` and the history
 * of moves are governance: promote.h. */

#endif
