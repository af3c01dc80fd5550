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
 * A view and each link in it get a K_TIME inode whose id indexes a small
 * table of (model, moment[, alias name]) kept while the kernel remembers
 * the inode. Links point at "../versions/<v>", so they resolve through the
 * model's own versions/ directory. Views are not listed by readdir (find and
 * rsync never walk into the past), and everything in them is read-only.
 */

struct tview {
	uint64_t ino;		/* ino_make(K_TIME, id); read-only */
	uint64_t model_id;	/* read-only */
	int64_t at_ns;		/* read-only */
	uint64_t at_seq;	/* read-only; 0: by time */
	uint64_t view;		/* 0: a view directory; a link: its view's ino */
	char *name;		/* a link's alias name, NULL for a view; read-only */
	uint64_t nlookup;	/* protected by d->lock */
	struct tview *next;	/* protected by d->lock */
};

/* What a request needs of an entry, copied out under the lock (a FORGET
 * may free the entry once the lock is dropped). */
struct tv {
	uint64_t model_id, view;
	int64_t at_ns;
	uint64_t at_seq;
	char name[MFS_NAME_MAX + 1];
};

#define LINK_PREFIX "../versions/"

static int tv_get(struct mfsd *d, uint64_t ino, struct tv *ret)
{
	struct tview *t;
	int r = -ENOENT;

	if (ino_kind(ino) != K_TIME)
		return -ENOENT;
	pthread_mutex_lock(&d->lock);
	for (t = d->tviews; t && t->ino != ino; t = t->next)
		;
	if (t) {
		ret->model_id = t->model_id;
		ret->view = t->view;
		ret->at_ns = t->at_ns;
		ret->at_seq = t->at_seq;
		snprintf(ret->name, sizeof(ret->name), "%s", t->name ? t->name : "");
		r = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* Find or make the entry; takes one lookup reference. */
static int tv_ref(struct mfsd *d, const struct tv *k, uint64_t *ret_ino)
{
	struct tview *t;
	char *name = NULL;

	if (k->view && !(name = strdup(k->name)))
		return -ENOMEM;
	pthread_mutex_lock(&d->lock);
	for (t = d->tviews; t; t = t->next)
		if (t->model_id == k->model_id && t->at_ns == k->at_ns &&
		    t->at_seq == k->at_seq && t->view == k->view &&
		    (!k->view || !strcmp(t->name, k->name)))
			break;
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t) {
			pthread_mutex_unlock(&d->lock);
			free(name);
			return -ENOMEM;
		}
		t->ino = ino_make(K_TIME, ++d->tview_last);
		t->model_id = k->model_id;
		t->at_ns = k->at_ns;
		t->at_seq = k->at_seq;
		t->view = k->view;
		t->name = name;
		name = NULL;
		t->next = d->tviews;
		d->tviews = t;
	}
	t->nlookup++;
	*ret_ino = t->ino;
	pthread_mutex_unlock(&d->lock);
	free(name);
	return 0;
}

void tview_forget(struct mfsd *d, uint64_t ino, uint64_t n)
{
	struct tview **pp, *t, *dead = NULL;

	pthread_mutex_lock(&d->lock);
	for (pp = &d->tviews; (t = *pp); pp = &t->next) {
		if (t->ino != ino)
			continue;
		t->nlookup = t->nlookup > n ? t->nlookup - n : 0;
		if (!t->nlookup) {
			*pp = t->next;
			dead = t;
		}
		break;
	}
	pthread_mutex_unlock(&d->lock);
	if (dead) {
		free(dead->name);
		free(dead);
	}
}

void tview_free(struct mfsd *d)
{
	while (d->tviews) {
		struct tview *t = d->tviews;

		d->tviews = t->next;
		free(t->name);
		free(t);
	}
}

/* The alias a link names, as of its view's moment. */
static int tv_alias(struct mfsd *d, const struct tv *t, struct mfs_alias_info *ret)
{
	struct mfs_alias_info *a = NULL;
	size_t n = 0;
	int r;

	r = mfs_history_at(d->st, t->model_id, t->at_ns, t->at_seq, &a, &n);
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
	struct tv k = { 0 };
	uint64_t ino;
	int r;

	if (ino_kind(parent) == K_MODEL) {
		/* A malformed moment is a name that is not there. */
		if (name[0] != '@' || mfs_history_parse_at(name + 1, &k.at_ns, &k.at_seq) < 0)
			return -ENOENT;
		r = mfs_model_get(d->st, ino_id(parent), &mi);
		if (r < 0)
			return r;
		k.model_id = ino_id(parent);
	} else {
		r = tv_get(d, parent, &k);
		if (r < 0)
			return r;
		if (k.view)
			return -ENOTDIR;
		if (strlen(name) > MFS_NAME_MAX)
			return -ENOENT;
		k.view = parent;
		snprintf(k.name, sizeof(k.name), "%s", name);
		r = tv_alias(d, &k, &ai);
		if (r < 0)
			return r;
	}
	r = tv_ref(d, &k, &ino);
	if (r < 0)
		return r;
	r = make_entry(d, ino, e);
	if (r < 0)
		tview_forget(d, ino, 1);
	return r;
}

int tview_attr(struct mfsd *d, uint64_t ino, struct stat *st)
{
	struct mfs_model_info mi;
	struct mfs_alias_info ai;
	struct tv t;
	int64_t ns;
	int r;

	r = tv_get(d, ino, &t);
	if (r == 0)
		r = mfs_model_get(d->st, t.model_id, &mi);
	if (r < 0)
		return r;
	st->st_uid = mi.uid;
	st->st_gid = mi.gid;
	if (!t.view) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		ns = t.at_seq || t.at_ns == INT64_MIN ? mi.ctime_ns : t.at_ns;
	} else {
		r = tv_alias(d, &t, &ai);
		if (r < 0)
			return r;
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_uid = ai.uid;
		st->st_size = (off_t)(strlen(LINK_PREFIX) + strlen(ai.version));
		ns = ai.ctime_ns;
	}
	st->st_mtim.tv_sec = (time_t)(ns / 1000000000);
	st->st_mtim.tv_nsec = (long)(ns % 1000000000);
	if (st->st_mtim.tv_nsec < 0) {
		st->st_mtim.tv_sec--;
		st->st_mtim.tv_nsec += 1000000000;
	}
	st->st_ctim = st->st_atim = st->st_mtim;
	return 0;
}

int tview_readlink(struct mfsd *d, uint64_t ino, char *buf, size_t n)
{
	struct mfs_alias_info ai;
	struct tv t;
	int r;

	r = tv_get(d, ino, &t);
	if (r < 0)
		return r;
	if (!t.view)
		return -EINVAL;
	r = tv_alias(d, &t, &ai);
	if (r == 0)
		snprintf(buf, n, LINK_PREFIX "%s", ai.version);
	return r;
}

int tview_list(struct mfsd *d, uint64_t ino, struct mfs_alias_info **ret, size_t *ret_n)
{
	struct tv t;
	int r;

	r = tv_get(d, ino, &t);
	if (r < 0)
		return r;
	if (t.view)
		return -ENOTDIR;
	return mfs_history_at(d->st, t.model_id, t.at_ns, t.at_seq, ret, ret_n);
}

int tview_refuse(struct mfsd *d, uint64_t ino, const char *name, const char *what)
{
	struct mfs_model_info mi;
	int64_t ns;
	uint64_t seq;

	if (ino_kind(ino) == K_TIME) {
		struct tv t = { 0 };

		if (tv_get(d, ino, &t) < 0 || mfs_model_get(d->st, t.model_id, &mi) < 0)
			snprintf(mi.name, sizeof(mi.name), "?");
		return mfs_log_errno(-EROFS, "refusing %s '%s' in a time-travel view of '%s': it is read-only",
				     what, name ? name : t.view ? t.name : "@", mi.name);
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
