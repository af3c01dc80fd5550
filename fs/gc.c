/* gc.c - gc run by the daemon: the control on the mount root, open versions */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "gc.h"
#include "lease.h"
#include "log.h"

/*
 * While a daemon serves the store, `modelctl gc` has the daemon run it
 * (DESIGN §2 "One writer of record"): only the daemon knows which versions
 * have open files. The control is `setfattr -n user.modelfs.gc -v run MNT`
 * (or dry-run): the setxattr runs gc to the end and returns its errno, so
 * a refusal (EACCES) or a failure reaches the caller as the syscall's
 * result. Its report is then read with getxattr user.modelfs.gc on MNT by
 * the same process (the FUSE request's pid): a getxattr that ran gc
 * itself would run it twice, since getfattr and most callers ask for the
 * size first, and a virtual report file would be shared by all callers.
 * The report is kept by pid and uid: a pid reused by another user finds
 * none.
 * Reports of the last few callers are kept; a caller that ran none gets
 * ENODATA.
 */

#define GC_REPORTS_KEPT 16

void vopen_count(struct mfsd *d, uint64_t vid, int delta)
{
	kcount_add(d, d->vopen, vid, delta);
	/* gc on other hosts of a shared registry sees the open by its lease
	 * (lease.c counts the files itself: its rows follow its counts) */
	if (delta > 0)
		mfs_lease_hold(d->st, vid);
	else
		mfs_lease_release(d->st, vid);
}

/* mfs_gc_in_use_fn: a version with an open file is skipped. */
static bool version_open(void *ctx, uint64_t vid)
{
	struct mfsd *d = ctx;

	return kcount_has(d, d->vopen, vid);
}

static void free_reports(struct gcrep *r)
{
	while (r) {
		struct gcrep *next = r->next;

		free(r->json);
		free(r);
		r = next;
	}
}

/* Keep json (consumed) as c's report, dropping its previous one and all
 * but the last GC_REPORTS_KEPT callers'. */
static void keep_report(struct mfsd *d, const struct mfs_caller *c, char *json, size_t len)
{
	struct gcrep **p, *r = calloc(1, sizeof(*r)), *old = NULL, *tail = NULL;
	int n = 0;

	if (!r) {
		free(json);
		return;
	}
	r->pid = c->pid;
	r->uid = c->uid;
	r->json = json;
	r->len = len;
	pthread_mutex_lock(&d->lock);
	for (p = &d->gcreps; *p; p = &(*p)->next) {
		if ((*p)->pid == c->pid) {
			old = *p;
			*p = old->next;
			old->next = NULL;
			break;
		}
	}
	r->next = d->gcreps;
	d->gcreps = r;
	for (p = &d->gcreps; *p && n < GC_REPORTS_KEPT; p = &(*p)->next)
		n++;
	tail = *p;
	*p = NULL;
	pthread_mutex_unlock(&d->lock);
	free_reports(old);
	free_reports(tail);
}

int fs_gc(struct mfsd *d, const struct mfs_caller *c, const char *value, size_t size)
{
	struct mfs_gc_report rep;
	unsigned flags;
	char *json = NULL;
	size_t len = 0;
	int r;

	if (size == 3 && !memcmp(value, "run", 3))
		flags = 0;
	else if (size == 7 && !memcmp(value, "dry-run", 7))
		flags = MFS_GC_DRY_RUN;
	else
		return mfs_log_errno(-EINVAL, "refusing user.modelfs.gc value '%.*s': give 'run' or 'dry-run'",
				     (int)(size > 32 ? 32 : size), value);
	r = mfs_gc_run(d->st, c, flags, version_open, d, &rep);
	if (r < 0)
		return r;
	/* The kernel may remember the names of versions gc deleted (sealed
	 * entries have long timeouts): each removal's commit tells
	 * fs_change() to make it forget them. */
	r = mfs_gc_report_json(&rep, &json, &len);
	mfs_gc_report_release(&rep);
	if (r < 0)
		return r;
	keep_report(d, c, json, len);
	return 0;
}

int fs_gc_report(struct mfsd *d, const struct mfs_caller *c, char **ret, size_t *ret_len)
{
	struct gcrep *r;
	char *copy = NULL;
	size_t len = 0;

	pthread_mutex_lock(&d->lock);
	for (r = d->gcreps; r && (r->pid != c->pid || r->uid != c->uid); r = r->next)
		;
	if (r) {
		copy = malloc(r->len + 1);
		if (copy) {
			memcpy(copy, r->json, r->len + 1);
			len = r->len;
		}
	}
	pthread_mutex_unlock(&d->lock);
	if (!r)
		return -ENODATA;
	if (!copy)
		return -ENOMEM;
	*ret = copy;
	*ret_len = len;
	return 0;
}

void fs_gc_free(struct mfsd *d)
{
	kcount_free(d->vopen);
	free_reports(d->gcreps);
	d->gcreps = NULL;
}
