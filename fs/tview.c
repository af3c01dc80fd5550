/* tview.c - time-travel views: models/<m>/@<time>/, read-only, from the history */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "history.h"
#include "log.h"
#include "model.h"

/*
 * `@2026-11-20T10:00:00Z` or `@h42` in a model directory names the model's
 * aliases as they were then: the store replays the history on every
 * request (mfs_history_at), so nothing here can fall out of step with it.
 * A view and each link in it get a K_VIEW inode (vtab.c) keyed by
 * (model, moment[, alias name]). Links point at "../versions/<v>", so they resolve through the
 * model's own versions/ directory. Views are not listed by readdir (find and
 * rsync never walk into the past), and everything in them is read-only.
 */

#define LINK_PREFIX "../versions/"

/* The alias a link names, as of its view's moment. */
static int tv_alias(struct mfsd *d, const struct vkey *t, struct mfs_alias_info *ret)
{
	struct mfs_alias_info *a = NULL;
	size_t n = 0;
	int r;

	r = mfs_history_at(d->st, t->model_id, t->at_ns, t->seq, &a, &n);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(a[i].name, t->name)) {
			*ret = a[i];
			r = 0;
			break;
		}
	}
	free(a);
	return r;
}

int tview_lookup(struct mfsd *d, uint64_t parent, const char *name,
		 struct fuse_entry_param *e)
{
	struct mfs_model_info mi;
	struct mfs_alias_info ai;
	struct vkey k = { 0 };
	int r;

	if (ino_kind(parent) == K_MODEL) {
		/* A malformed moment is a name that is not there. */
		if (name[0] != '@' || mfs_history_parse_at(name + 1, &k.at_ns, &k.seq) < 0)
			return -ENOENT;
		r = mfs_model_get(d->st, ino_id(parent), &mi);
		if (r < 0)
			return r;
		k.kind = VT_TIME;
		k.model_id = ino_id(parent);
	} else {
		r = vtab_get(d, parent, &k);
		if (r < 0)
			return r;
		if (k.kind != VT_TIME)
			return -ENOTDIR;
		if (strlen(name) > MFS_NAME_MAX)
			return -ENOENT;
		k.kind = VT_TIME_LINK;
		k.parent = parent;
		snprintf(k.name, sizeof(k.name), "%s", name);
		r = tv_alias(d, &k, &ai);
		if (r < 0)
			return r;
	}
	return vtab_entry(d, &k, e);
}

int tview_attr(struct mfsd *d, const struct vkey *t, struct stat *st)
{
	struct mfs_model_info mi;
	struct mfs_alias_info ai;
	int64_t ns;
	int r;

	r = mfs_model_get(d->st, t->model_id, &mi);
	if (r < 0)
		return r;
	st->st_uid = mi.uid;
	st->st_gid = mi.gid;
	if (t->kind == VT_TIME) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		ns = t->seq || t->at_ns == INT64_MIN ? mi.ctime_ns : t->at_ns;
	} else {
		r = tv_alias(d, t, &ai);
		if (r < 0)
			return r;
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_uid = ai.uid;
		st->st_size = (off_t)(strlen(LINK_PREFIX) + strlen(ai.version));
		ns = ai.ctime_ns;
	}
	view_time(ns, st);
	return 0;
}

int tview_readlink(struct mfsd *d, const struct vkey *t, char *buf, size_t n)
{
	struct mfs_alias_info ai;
	int r;

	if (t->kind != VT_TIME_LINK)
		return -EINVAL;
	r = tv_alias(d, t, &ai);
	if (r == 0)
		snprintf(buf, n, LINK_PREFIX "%s", ai.version);
	return r;
}

int tview_list(struct mfsd *d, const struct vkey *t, struct view_dent **ret, size_t *ret_n)
{
	struct mfs_alias_info *a = NULL;
	size_t n = 0, cap = 0;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (t->kind != VT_TIME)
		return -ENOTDIR;
	r = mfs_history_at(d->st, t->model_id, t->at_ns, t->seq, &a, &n);
	/* Each link's inode is made at its lookup (readdirplus sends none
	 * for K_VIEW): the hint is the kind alone. */
	for (size_t i = 0; r == 0 && i < n; i++)
		r = view_dent_add(ret, ret_n, &cap, a[i].name, ino_make(K_VIEW, 0), S_IFLNK);
	free(a);
	return r;
}

int tview_refuse(struct mfsd *d, uint64_t ino, const char *name, const char *what)
{
	struct mfs_model_info mi;
	int64_t ns;
	uint64_t seq;

	if (ino_kind(ino) == K_VIEW) {
		struct vkey t = { 0 };

		if (vtab_get(d, ino, &t) < 0 || mfs_model_get(d->st, t.model_id, &mi) < 0)
			snprintf(mi.name, sizeof(mi.name), "?");
		return mfs_log_errno(-EROFS, "refusing %s '%s' in a time-travel view of '%s': it is read-only",
				     what, name ? name : t.kind == VT_TIME_LINK ? t.name : "@", mi.name);
	}
	if (ino_kind(ino) == K_MODEL && name && name[0] == '@' &&
	    mfs_history_parse_at(name + 1, &ns, &seq) == 0) {
		if (mfs_model_get(d->st, ino_id(ino), &mi) < 0)
			snprintf(mi.name, sizeof(mi.name), "?");
		return mfs_log_errno(-EROFS, "refusing %s '%s/%s': a time-travel view is read-only",
				     what, mi.name, name);
	}
	return 0;
}
