/* perm.c - POSIX owner/group/other checks */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objects.h"
#include "perm.h"

int mfs_perm_check(const struct mfs_caller *c, uid_t uid, gid_t gid, mode_t mode,
		   int want)
{
	unsigned bits;

	if (!c)
		return 0;
	if (c->uid == 0) {
		if ((want & X_OK) && !S_ISDIR(mode) && !(mode & 0111))
			return -EACCES;
		return 0;
	}
	if (c->uid == uid)
		bits = (mode >> 6) & 7;
	else if (mfs_caller_in_group(c, gid))
		bits = (mode >> 3) & 7;
	else
		bits = mode & 7;
	if (((want & R_OK) && !(bits & 4)) || ((want & W_OK) && !(bits & 2)) ||
	    ((want & X_OK) && !(bits & 1)))
		return -EACCES;
	return 0;
}

bool mfs_caller_in_group(const struct mfs_caller *c, gid_t g)
{
	if (c->gid == g)
		return true;
	for (int i = 0; i < c->ngroups && c->groups; i++)
		if (c->groups[i] == g)
			return true;
	return false;
}

void mfs_store_set_admin_group(struct mfs_store *st, gid_t g)
{
	st->admin_gid = g;
	st->has_admin_gid = true;
}

bool mfs_caller_is_admin(const struct mfs_store *st, const struct mfs_caller *c)
{
	if (!c || c->uid == 0)
		return true;
	return st->has_admin_gid && mfs_caller_in_group(c, st->admin_gid);
}
