/* vtab.c - the inodes of read-only views (time travel, serving) and their dispatch */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/*
 * A view's directories and links have no id in the store: each gets a
 * K_VIEW inode whose id indexes this table of keys (what the inode shows),
 * kept while the kernel remembers the inode. Everything a view answers is
 * computed again from its key at each request (tview.c, serve.c), so
 * nothing here can fall out of step with the registry.
 */

struct vnode {
	uint64_t ino;		/* ino_make(K_VIEW, id); read-only */
	struct vkey k;		/* read-only */
	uint64_t nlookup;	/* protected by d->lock */
	struct vnode *next;	/* protected by d->lock */
};

static bool same(const struct vkey *a, const struct vkey *b)
{
	return a->kind == b->kind && a->model_id == b->model_id && a->at_ns == b->at_ns &&
	       a->seq == b->seq && a->parent == b->parent && !strcmp(a->name, b->name);
}

int vtab_get(struct mfsd *d, uint64_t ino, struct vkey *ret)
{
	struct vnode *t;
	int r = -ENOENT;

	if (ino_kind(ino) != K_VIEW)
		return -ENOENT;
	pthread_mutex_lock(&d->lock);
	for (t = d->views; t && t->ino != ino; t = t->next)
		;
	if (t) {
		*ret = t->k;
		r = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

int vtab_ref(struct mfsd *d, const struct vkey *k, uint64_t *ret_ino)
{
	struct vnode *t, *fresh = calloc(1, sizeof(*fresh));

	if (!fresh)
		return -ENOMEM;
	pthread_mutex_lock(&d->lock);
	for (t = d->views; t && !same(&t->k, k); t = t->next)
		;
	if (!t) {
		t = fresh;
		fresh = NULL;
		t->ino = ino_make(K_VIEW, ++d->view_last);
		t->k = *k;
		t->next = d->views;
		d->views = t;
	}
	t->nlookup++;
	*ret_ino = t->ino;
	pthread_mutex_unlock(&d->lock);
	free(fresh);
	return 0;
}

void vtab_forget(struct mfsd *d, uint64_t ino, uint64_t n)
{
	struct vnode **pp, *t, *dead = NULL;

	pthread_mutex_lock(&d->lock);
	for (pp = &d->views; (t = *pp); pp = &t->next) {
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
	free(dead);
}

void vtab_free(struct mfsd *d)
{
	while (d->views) {
		struct vnode *t = d->views;

		d->views = t->next;
		free(t);
	}
}

int vtab_entry(struct mfsd *d, const struct vkey *k, struct fuse_entry_param *e)
{
	uint64_t ino;
	int r = vtab_ref(d, k, &ino);

	if (r < 0)
		return r;
	r = make_entry(d, ino, e);
	if (r < 0)
		vtab_forget(d, ino, 1);
	return r;
}

static bool serving(const struct vkey *k)
{
	return k->kind >= VT_SERVE_ALIAS;
}

int view_lookup(struct mfsd *d, const struct mfs_caller *c, uint64_t parent,
		const char *name, struct fuse_entry_param *e)
{
	struct vkey k;
	int r;

	if (parent == INO_SERVING)
		return serve_lookup(d, c, parent, NULL, name, e);
	r = vtab_get(d, parent, &k);
	if (r < 0)
		return r;
	return serving(&k) ? serve_lookup(d, c, parent, &k, name, e) :
			     tview_lookup(d, parent, name, e);
}

int view_attr(struct mfsd *d, uint64_t ino, struct stat *st)
{
	struct vkey k;
	int r = vtab_get(d, ino, &k);

	if (r < 0)
		return r;
	return serving(&k) ? serve_attr(d, &k, st) : tview_attr(d, &k, st);
}

int view_readlink(struct mfsd *d, uint64_t ino, char *buf, size_t n)
{
	struct vkey k;
	int r = vtab_get(d, ino, &k);

	if (r < 0)
		return r;
	return serving(&k) ? serve_readlink(d, &k, buf, n) : tview_readlink(d, &k, buf, n);
}

int view_list(struct mfsd *d, uint64_t ino, struct view_dent **ret, size_t *ret_n)
{
	struct vkey k;
	int r;

	if (ino == INO_SERVING)
		return serve_list(d, NULL, ret, ret_n);
	r = vtab_get(d, ino, &k);
	if (r < 0)
		return r;
	return serving(&k) ? serve_list(d, &k, ret, ret_n) : tview_list(d, &k, ret, ret_n);
}

int view_dent_add(struct view_dent **a, size_t *n, size_t *cap, const char *name,
		  uint64_t ino, mode_t type)
{
	if (*n == *cap) {
		void *p = realloc(*a, (*cap = *cap ? 2 * *cap : 16) * sizeof(**a));

		if (!p)
			return -ENOMEM;
		*a = p;
	}
	snprintf((*a)[*n].name, sizeof((*a)[*n].name), "%s", name);
	(*a)[*n].ino = ino;
	(*a)[*n].type = type;
	(*n)++;
	return 0;
}

int view_refuse(struct mfsd *d, uint64_t ino, const char *name, const char *what)
{
	int r = serve_refuse(d, ino, name, what);

	return r < 0 ? r : tview_refuse(d, ino, name, what);
}

void view_time(int64_t ns, struct stat *st)
{
	st->st_mtim.tv_sec = (time_t)(ns / 1000000000);
	st->st_mtim.tv_nsec = (long)(ns % 1000000000);
	if (st->st_mtim.tv_nsec < 0) {
		st->st_mtim.tv_sec--;
		st->st_mtim.tv_nsec += 1000000000;
	}
	st->st_ctim = st->st_atim = st->st_mtim;
}
