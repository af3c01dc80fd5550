/* perm.h - POSIX permission checks on recorded owners and modes */
#ifndef MFS_PERM_H
#define MFS_PERM_H

#include <stdbool.h>
#include <sys/types.h>

#include "store.h"

/*
 * modelfs does not mount with default_permissions: the kernel would answer
 * EACCES before the registry could say EROFS. So registry objects that are
 * not real files (models, versions, sealed entries) are checked here, with
 * the caller of the request. Draft files are checked by the kernel itself:
 * the daemon touches them with the caller's fsuid/fsgid. Pure; no I/O.
 */

/* May c access an object owned by uid:gid with mode for want (a mask of
 * R_OK, W_OK, X_OK)? uid 0 passes (X needs one x bit, as in POSIX).
 * Returns 0, or -EACCES. */
int mfs_perm_check(const struct mfs_caller *c, uid_t uid, gid_t gid, mode_t mode,
		   int want);

/* Is the caller in group g (its primary group or a supplementary one)? */
bool mfs_caller_in_group(const struct mfs_caller *c, gid_t g);

/* Registry admins: uid 0 always, and members of the group set with
 * mfs_store_set_admin_group() (-o admin_group=GROUP). */
void mfs_store_set_admin_group(struct mfs_store *st, gid_t g);
bool mfs_caller_is_admin(const struct mfs_store *st, const struct mfs_caller *c);

#endif
