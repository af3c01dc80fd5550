/* version.h - versions: drafts, sealed versions, tombstones, their entries */
#ifndef MFS_VERSION_H
#define MFS_VERSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"
#include "hash.h"

/*
 * A version is a draft (a real directory under STORE/drafts/ that fs/ works
 * in directly), sealed (immutable entries in LMDB, content in blobs) or a
 * tombstone (deleted; its name is never reused). Version names are SemVer
 * 2.0.0 strings, unique under precedence within a model.
 */

enum mfs_vstate { MFS_V_DRAFT = 1, MFS_V_SEALED = 2, MFS_V_TOMBSTONE = 3 };

#define MFS_NAME_MAX 255

struct mfs_version_info {
	uint64_t id, model_id;
	char name[MFS_NAME_MAX + 1];
	enum mfs_vstate state;
	uid_t uid;			/* creator */
	gid_t gid;
	mode_t mode;			/* S_IFDIR | bits (sealed: as sealed) */
	int64_t created_ns, sealed_ns, mtime_ns;
	uid_t sealed_uid;
	uint64_t size, nfiles;		/* sealed: total bytes, regular files */
	bool has_meta;			/* user metadata was written */
	uint64_t host;			/* the host that made it (0: unknown) */
};

const char *mfs_vstate_name(enum mfs_vstate s);

/* Does a symlink with target, made in directory rel of a draft whose root
 * directory is root (rel "" at the root), resolve inside the version?
 * Resolved as the kernel would, following symlinks already in the draft
 * (up to 40); absolute targets never stay inside. Reads the draft only. */
bool mfs_version_link_inside(int root, const char *rel, const char *target);

/* Returns 0, or -ENOENT (also for a tombstone unless with_tombstones). */
int mfs_version_lookup(struct mfs_store *st, uint64_t model_id,
		       const char *name, bool with_tombstones,
		       struct mfs_version_info *ret);
/* Returns 0, or -ENOENT. Tombstones are returned (state tells). */
int mfs_version_get(struct mfs_store *st, uint64_t vid,
		    struct mfs_version_info *ret);

/* Live versions (drafts and sealed) of a model in SemVer order.
 * Ownership: caller owns *ret; free(). */
int mfs_version_list(struct mfs_store *st, uint64_t model_id,
		     struct mfs_version_info **ret, size_t *ret_n);

/* Create a draft (its backing directory too). Returns 0, or: -EINVAL if name
 * is not SemVer 2.0.0 (logged); -EEXIST if a version (or tombstone) of equal
 * precedence exists; -ENOENT if the model is gone. Audited. */
int mfs_version_create(struct mfs_store *st, const struct mfs_caller *c,
		       uint64_t model_id, const char *name, mode_t mode,
		       struct mfs_version_info *ret);

/* Rename a draft to another free SemVer name. Returns 0, or: -EROFS if it
 * is sealed; -EINVAL for a bad name; -EEXIST if taken; -ENOENT. Audited. */
int mfs_version_rename(struct mfs_store *st, const struct mfs_caller *c,
		       uint64_t model_id, const char *from, const char *to);

/* rmdir of a version: an empty draft is removed (-ENOTEMPTY otherwise); a
 * sealed version becomes a tombstone (-EBUSY while an alias points at it).
 * Returns 0, or -ENOENT. Audited. */
int mfs_version_remove(struct mfs_store *st, const struct mfs_caller *c,
		       uint64_t model_id, const char *name);

/* A draft's backing directory, opened with flags (O_PATH or O_RDONLY, plus
 * O_DIRECTORY implied). Returns 0, or: -EROFS if the version is no longer a
 * draft; -ENOENT. Ownership: caller owns *ret_fd; close() it. */
int mfs_version_draft_open(struct mfs_store *st, uint64_t vid, int flags,
			   int *ret_fd);

/* The version's user metadata (the JSON object as validated, or "{}").
 * Ownership: caller owns *ret; free(). */
int mfs_version_meta_get(struct mfs_store *st, uint64_t vid, char **ret,
			 size_t *ret_len);
/* Set a draft's user metadata from buf (a JSON object; a "registry" key is
 * dropped; "model_name"/"version" must match). len 0 with buf NULL clears it.
 * Returns 0, or: -EINVAL (logged: why) if invalid; -EROFS if sealed. */
int mfs_version_meta_set(struct mfs_store *st, const struct mfs_caller *c,
			 uint64_t vid, const char *buf, size_t len);

/* May draft vid be sealed as far as its metadata's parents go? A parent of
 * a registered model must be a sealed (or deleted) version of it, and a
 * version cannot be its own parent, so lineage never loops; parents
 * outside the registry are allowed (shown unresolved).
 * Returns 0, or -EINVAL (logged: which parent). */
int mfs_version_check_parents(struct mfs_store *st, uint64_t vid);

/* Render metadata.json / lineage.json of a version. Ownership: caller owns
 * *ret (NUL-terminated); free(). Returns 0, or -ENOENT, -ENOMEM. The
 * lineage is as c sees it: versions of models c may not search show only
 * their ref among the parents and ancestors, and are left out of the
 * children (c NULL or an admin: everything). */
int mfs_version_render_metadata(struct mfs_store *st, uint64_t vid,
				char **ret, size_t *ret_len);
int mfs_version_render_lineage(struct mfs_store *st, const struct mfs_caller *c,
			       uint64_t vid, char **ret, size_t *ret_len);

/* Does every regular file of sealed version vid have its SHA-256 yet
 * (sha256.h; computed in the background after the seal)? A draft is never
 * complete. For the policy gate that requires digests before promotion.
 * Returns 0 and *ret_complete, or: -ENOENT if vid is no version or a
 * tombstone; -errno. Threads: one read transaction, any thread. */
int mfs_version_sha256_complete(struct mfs_store *st, uint64_t vid, bool *ret_complete);

/* ---- entries of sealed versions ---- */

struct mfs_entry {
	uint64_t id, vid, parent;	/* parent 0: the version's root */
	mode_t mode;			/* S_IFREG/S_IFDIR/S_IFLNK | bits */
	uid_t uid;
	gid_t gid;
	uint64_t size;
	int64_t mtime_ns;
	struct mfs_digest digest;	/* regular files */
	unsigned format;		/* enum mfs_format (format.h) */
	char name[MFS_NAME_MAX + 1];
};

/* Returns 0, or -ENOENT. parent 0 looks in the version's root. */
int mfs_entry_lookup(struct mfs_store *st, uint64_t vid, uint64_t parent,
		     const char *name, struct mfs_entry *ret);
int mfs_entry_get(struct mfs_store *st, uint64_t eid, struct mfs_entry *ret);
/* Children of a directory entry (0: root), by name. Ownership: caller owns
 * *ret; free(). */
int mfs_entry_list(struct mfs_store *st, uint64_t vid, uint64_t parent,
		   struct mfs_entry **ret, size_t *ret_n);
/* A symlink entry's target into buf (NUL-terminated). Returns 0, or
 * -ENOENT, -EINVAL if not a symlink, -ENAMETOOLONG. */
int mfs_entry_readlink(struct mfs_store *st, uint64_t eid, char *buf, size_t n);
/* Open the blob holding a regular file entry, read-only.
 * Returns 0, or -ENOENT, -EIO if the blob is missing (logged).
 * Ownership: caller owns *ret_fd. */
int mfs_entry_open(struct mfs_store *st, const struct mfs_entry *e, int *ret_fd);

#endif
