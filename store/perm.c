/* perm.c - POSIX owner/group/other checks */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

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
	else if (c->gid == gid)
		bits = (mode >> 3) & 7;
	else
		bits = mode & 7;
	if (((want & R_OK) && !(bits & 4)) || ((want & W_OK) && !(bits & 2)) ||
	    ((want & X_OK) && !(bits & 1)))
		return -EACCES;
	return 0;
}
