/* annot.h - approvals, lifecycle and tags: annotations beside a version */
#ifndef MFS_ANNOT_H
#define MFS_ANNOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * Sealed content and metadata never change; what people say about a
 * version does. Annotations are kept beside it, each change audited, and
 * shown in its metadata.json ("registry": approvals, lifecycle, tags). fs/
 * reaches them through the write-only attributes user.modelfs.approve,
 * user.modelfs.lifecycle and user.modelfs.tag.NAME; modelctl through the
 * same attributes, or here without a daemon.
 */

/* Record c's approval of sealed version vid for alias; value is
 * "ALIAS[ COMMENT]" (the comment is free text after the first blank).
 * Approving again replaces one's earlier approval for that alias.
 * Returns 0, or: -EINVAL (logged) for a draft, a tombstone or a bad alias
 * name; -EPERM (logged, denial audited) when c created the version;
 * -EACCES (logged, denial audited) when the alias rule names approvers
 * and c is not one; -ENOENT. Audited. */
int mfs_version_approve(struct mfs_store *st, const struct mfs_caller *c, uint64_t vid,
			const char *value, size_t len);

/* Set the lifecycle of sealed version vid: "active", "deprecated" or
 * "archived" (archived versions cannot be aliased, and latest skips them).
 * Allowed to the version's creator, whoever may write the model directory,
 * and admins. Returns 0, or: -EINVAL for another value or a draft;
 * -EACCES; -EBUSY when archiving a version an alias points at; -ENOENT.
 * Audited. */
int mfs_version_set_lifecycle(struct mfs_store *st, const struct mfs_caller *c,
			      uint64_t vid, const char *state, size_t len);

/* Set (value, len bytes of UTF-8 text) or, with value NULL, remove tag
 * name of sealed version vid. Same permission as the lifecycle. Returns 0,
 * or: -EINVAL for a bad name or value or a draft; -EACCES; -ENODATA when
 * removing a tag that is not set; -ENOENT. Audited. */
int mfs_version_tag(struct mfs_store *st, const struct mfs_caller *c, uint64_t vid,
		    const char *name, const char *value, size_t len);

/* Is vid archived? (false when unknown) */
bool mfs_version_archived(struct mfs_store *st, uint64_t vid);

/* The annotations as a JSON object text: {"lifecycle": ..., "approvals":
 * [...], "tags": {...}}. Ownership: caller owns *ret; free(). */
int mfs_version_annot_get(struct mfs_store *st, uint64_t vid, char **ret, size_t *ret_len);

/* Every version's user metadata and annotations, in one read of each
 * table (a walk of the registry costs a few round trips to a database
 * server, not two a version): fn(ctx, vid, meta, meta_len, annot,
 * annot_len) for each version that has either, by vid; a text absent is
 * NULL (0). The texts are borrowed for the call. A non-zero return of fn
 * stops the walk and is returned. Returns 0 or -errno. */
typedef int (*mfs_version_docs_fn)(void *ctx, uint64_t vid, const char *meta, size_t meta_len,
				   const char *annot, size_t annot_len);
int mfs_version_docs_each(struct mfs_store *st, mfs_version_docs_fn fn, void *ctx);

#endif
