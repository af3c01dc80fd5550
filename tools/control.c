/* control.c - a change to one version: through the mount or directly */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "cmd.h"
#include "model.h"
#include "version.h"

int ctl_version_control(struct ctl *c, const char *model, const char *version,
			const char *xattr, const char *value, size_t len, bool remove,
			ctl_direct_fn direct, const void *arg)
{
	char mount[PATH_MAX] = "", path[PATH_MAX * 2];
	struct mfs_caller who = ctl_me();
	struct mfs_store *st = NULL;
	struct mfs_model_info mi;
	struct mfs_version_info vi;
	int served, r;

	served = ctl_served_mount(c, mount, sizeof(mount));
	if (served < 0)
		return -EINVAL;
	if (served) {
		/* The daemon must see the change (DESIGN §2, one writer of
		 * record): the same control attribute a user would set. */
		snprintf(path, sizeof(path), "%s/models/%s/versions/%s", mount, model, version);
		r = remove ? removexattr(path, xattr) : setxattr(path, xattr, value, len, 0);
		return r < 0 ? -errno : 0;
	}
	r = ctl_open_write(c, &st);
	if (r < 0) {
		return r;
	}
	r = mfs_model_lookup(st, model, &mi);
	if (r == 0)
		r = mfs_version_lookup(st, mi.id, version, false, &vi);
	if (r == 0)
		r = direct(st, &who, vi.id, arg);
	mfs_store_close(st);
	return r;
}
