/* serve.c - the serving view: serving/<alias>/<model>/<N> for servers that poll */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "history.h"
#include "log.h"
#include "model.h"
#include "promote.h"
#include "version.h"

/*
 * Servers that poll a repository of integer version directories (TF
 * Serving's file system source, Triton's poll mode) load the highest N
 * under <repo>/<model>/. serving/<alias>/ is such a repository, of every
 * model that has the alias:
 *
 *   serving/production/churn/42 -> ../../../models/churn/versions/1.3.0
 *   serving/production/churn/config.pbtxt   (1.3.0's own, when it has one)
 *
 * N is the seq of the history record that set the alias (history.h), so
 * each promotion, a rollback too, shows as a new, higher N. It is a link
 * to the sealed version, which the server then reads as it is. An earlier
 * N stays listed while a file of its version is open through this daemon
 * (the server drains the old model), and resolves by name for good: a
 * loader that listed it just before a promotion never meets a missing
 * file. `latest` has no history: its N is the version's id (ids grow with
 * each version made), and its earlier versions are remembered here while
 * they drain (below the current N only: latest may go back to a lower
 * id, and servers load the highest N). Temporary names (ln's, dot names)
 * are never served.
 *
 * serving/ is not in the root's listing (find, rsync and ls -lR of the
 * mount would walk every served version again); nothing in it is cached by
 * the kernel, and nothing in it can be changed.
 */

/* A version this daemon listed as `latest` of a model. */
struct served {
	uint64_t model_id, vid;
	struct served *next;
};

#define LINK_FMT "../../../models/%s/versions/%s"

static bool is_latest(const char *alias)
{
	return !strcmp(alias, "latest");
}

/* Is alias served? Not ln's temporary names ("Cu" and six letters or
 * digits: coreutils' template) nor dot names (scripts' own). */
static bool served_alias(const char *alias)
{
	size_t n = strlen(alias);

	if (is_latest(alias))
		return true;
	if (!n || alias[0] == '.' || mfs_alias_name_check(alias) < 0)
		return false;
	if (n == 8 && !strncmp(alias, "Cu", 2)) {
		for (size_t i = 2; i < n; i++)
			if (!isalnum((unsigned char)alias[i]))
				return true;
		return false;
	}
	return true;
}

/* The version alias names now in model_id, with ret->seq its N and
 * ret->ctime_ns the time it was set. Returns 0, or -ENOENT. */
static int current(struct mfsd *d, uint64_t model_id, const char *alias,
		   struct mfs_alias_info *ret)
{
	struct mfs_alias_info *all = NULL;
	bool found = false;
	size_t n = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!served_alias(alias))
		return -ENOENT;
	if (is_latest(alias)) {
		struct mfs_version_info vi;

		r = mfs_alias_latest(d->st, model_id, &vi);
		if (r < 0)
			return r;
		snprintf(ret->name, sizeof(ret->name), "%s", alias);
		snprintf(ret->version, sizeof(ret->version), "%s", vi.name);
		ret->vid = ret->seq = vi.id;
		ret->ctime_ns = vi.sealed_ns;
		ret->uid = vi.sealed_uid;
		return 0;
	}
	/* One snapshot of the history says both what the alias names and
	 * which record set it: the alias table and the history read apart
	 * could straddle a promotion, and serve the new version as 0. */
	r = mfs_history_at(d->st, model_id, INT64_MAX, 0, &all, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (strcmp(all[i].name, alias))
			continue;
		if (all[i].vid)
			*ret = all[i];
		found = all[i].vid != 0;
		break;
	}
	free(all);
	if (r < 0 || found)
		return r;
	/* An alias older than the history (no record sets it) is served as
	 * 0 until its next move. */
	return mfs_alias_get(d->st, model_id, alias, ret);
}

/* Does model_id have alias (served)? Cheaper than current(): no history. */
static int has(struct mfsd *d, uint64_t model_id, const char *alias)
{
	struct mfs_version_info vi;
	struct mfs_alias_info ai;

	if (!served_alias(alias))
		return -ENOENT;
	return is_latest(alias) ? mfs_alias_latest(d->st, model_id, &vi) :
				  mfs_alias_get(d->st, model_id, alias, &ai);
}

/* Remember vid as served as latest of model_id. */
static int remember(struct mfsd *d, uint64_t model_id, uint64_t vid)
{
	struct served *s, *fresh = calloc(1, sizeof(*fresh));

	if (!fresh)
		return -ENOMEM;
	pthread_mutex_lock(&d->lock);
	for (s = d->served; s && !(s->model_id == model_id && s->vid == vid); s = s->next)
		;
	if (!s) {
		fresh->model_id = model_id;
		fresh->vid = vid;
		fresh->next = d->served;
		d->served = fresh;
		fresh = NULL;
	}
	pthread_mutex_unlock(&d->lock);
	free(fresh);
	return 0;
}

void serve_free(struct mfsd *d)
{
	while (d->served) {
		struct served *s = d->served;

		d->served = s->next;
		free(s);
	}
}

/* What N of alias in model_id is: the record that set it (for latest, the
 * sealed version of that id). Returns 0, or -ENOENT (no such N, or its
 * version is gone). */
static int link_of(struct mfsd *d, uint64_t model_id, const char *alias, uint64_t seq,
		   struct mfs_alias_info *ret)
{
	struct mfs_alias_info *mv = NULL;
	struct mfs_version_info vi;
	size_t n = 0;
	int r;

	if (!served_alias(alias))
		return -ENOENT;
	if (is_latest(alias)) {
		/* Any sealed version of the model, by its id: a server that
		 * listed it finds it, whoever listed since. */
		r = current(d, model_id, alias, ret);
		if (r < 0 || ret->seq == seq)
			return r;
		r = mfs_version_get(d->st, seq, &vi);
		if (r < 0 || vi.model_id != model_id || vi.state != MFS_V_SEALED)
			return r < 0 ? r : -ENOENT;
		snprintf(ret->version, sizeof(ret->version), "%s", vi.name);
		ret->vid = ret->seq = vi.id;
		ret->ctime_ns = vi.sealed_ns;
		ret->uid = vi.sealed_uid;
		return 0;
	}
	r = mfs_history_moves(d->st, model_id, alias, &mv, &n);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = n; i-- > 0;) {
		if (mv[i].seq != seq)
			continue;
		if (mv[i].vid && mfs_version_get(d->st, mv[i].vid, &vi) == 0 &&
		    vi.state == MFS_V_SEALED) {
			*ret = mv[i];
			r = 0;
		}
		break;
	}
	/* An alias older than the history: 0 is its target until it moves. */
	if (r == -ENOENT && seq == 0 && current(d, model_id, alias, ret) == 0 && !ret->seq)
		r = 0;
	free(mv);
	return r;
}

/* "N" as served: decimal digits without leading zeros. */
static int parse_n(const char *name, uint64_t *ret)
{
	char *end;

	if (!isdigit((unsigned char)name[0]) || (name[0] == '0' && name[1]))
		return -ENOENT;
	errno = 0;
	*ret = strtoull(name, &end, 10);
	return *end || errno ? -ENOENT : 0;
}

/* Does some model have alias? */
static int alias_exists(struct mfsd *d, const char *alias)
{
	struct mfs_model_info *m = NULL;
	size_t n = 0;
	int r;

	if (!served_alias(alias))
		return -ENOENT;
	r = mfs_model_list(d->st, &m, &n);
	if (r == 0)
		r = -ENOENT;
	for (size_t i = 0; r == -ENOENT && i < n; i++)
		r = has(d, m[i].id, alias);
	free(m);
	return r;
}

/* Version vid's config.pbtxt, a regular file at its root. */
static int config_of(struct mfsd *d, uint64_t vid, struct mfs_entry *ret)
{
	int r = mfs_entry_lookup(d->st, vid, 0, "config.pbtxt", ret);

	return r == 0 && !S_ISREG(ret->mode) ? -ENOENT : r;
}

int serve_lookup(struct mfsd *d, const struct mfs_caller *c, uint64_t parent,
		 const struct vkey *k, const char *name, struct fuse_entry_param *e)
{
	struct mfs_alias_info ai;
	struct mfs_model_info mi;
	struct mfs_entry ent;
	struct vkey nk = { 0 };
	int r;

	(void)c;
	(void)parent;
	if (strlen(name) > MFS_NAME_MAX)
		return -ENOENT;
	if (!k) {
		r = alias_exists(d, name);
		if (r < 0)
			return r;
		nk.kind = VT_SERVE_ALIAS;
		snprintf(nk.name, sizeof(nk.name), "%s", name);
		return vtab_entry(d, &nk, e);
	}
	switch (k->kind) {
	case VT_SERVE_ALIAS:
		if (name[0] == '.')
			return -ENOENT;
		r = mfs_model_lookup(d->st, name, &mi);
		if (r == 0)
			r = has(d, mi.id, k->name);
		if (r < 0)
			return r;
		nk.kind = VT_SERVE_MODEL;
		nk.model_id = mi.id;
		snprintf(nk.name, sizeof(nk.name), "%s", k->name);
		return vtab_entry(d, &nk, e);
	case VT_SERVE_MODEL:
		if (!strcmp(name, "config.pbtxt")) {
			r = current(d, k->model_id, k->name, &ai);
			if (r == 0)
				r = config_of(d, ai.vid, &ent);
			if (r == 0)
				r = make_entry(d, ino_make(K_SENTRY, ent.id), e);
			/* The next promotion names another file. */
			e->entry_timeout = 0;
			return r;
		}
		nk = *k;
		nk.kind = VT_SERVE_LINK;
		r = parse_n(name, &nk.seq);
		if (r == 0)
			r = link_of(d, k->model_id, k->name, nk.seq, &ai);
		return r < 0 ? r : vtab_entry(d, &nk, e);
	default:
		return -ENOTDIR;
	}
}

static int target(struct mfsd *d, uint64_t model_id, const struct mfs_alias_info *ai,
		  char *buf, size_t n)
{
	struct mfs_model_info mi;
	int r = mfs_model_get(d->st, model_id, &mi);

	if (r == 0 && (size_t)snprintf(buf, n, LINK_FMT, mi.name, ai->version) >= n)
		r = -ENAMETOOLONG;
	return r;
}

int serve_attr(struct mfsd *d, const struct vkey *k, struct stat *st)
{
	struct mfs_alias_info ai;
	struct mfs_model_info mi;
	char buf[4096];
	int r = 0;

	st->st_nlink = 2;
	switch (k->kind) {
	case VT_SERVE_ALIAS:
		st->st_mode = S_IFDIR | 0555;
		view_time(d->start_ns, st);
		break;
	case VT_SERVE_MODEL:
		/* The model directory's owner and modes, read-only: who may
		 * not list the model may not list what it serves. */
		r = mfs_model_get(d->st, k->model_id, &mi);
		if (r == 0)
			r = current(d, k->model_id, k->name, &ai);
		if (r < 0)
			break;
		st->st_mode = S_IFDIR | (mi.mode & 0555);
		st->st_uid = mi.uid;
		st->st_gid = mi.gid;
		view_time(ai.ctime_ns, st);
		break;
	case VT_SERVE_LINK:
		r = link_of(d, k->model_id, k->name, k->seq, &ai);
		if (r == 0)
			r = target(d, k->model_id, &ai, buf, sizeof(buf));
		if (r < 0)
			break;
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_uid = ai.uid;
		st->st_size = (off_t)strlen(buf);
		view_time(ai.ctime_ns, st);
		break;
	default:
		r = -ENOENT;
	}
	return r;
}

int serve_readlink(struct mfsd *d, const struct vkey *k, char *buf, size_t n)
{
	struct mfs_alias_info ai;
	int r;

	if (k->kind != VT_SERVE_LINK)
		return -EINVAL;
	r = link_of(d, k->model_id, k->name, k->seq, &ai);
	return r < 0 ? r : target(d, k->model_id, &ai, buf, n);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct view_dent *)a)->name, ((const struct view_dent *)b)->name);
}

static int by_n(const void *a, const void *b)
{
	uint64_t x = strtoull(((const struct view_dent *)a)->name, NULL, 10);
	uint64_t y = strtoull(((const struct view_dent *)b)->name, NULL, 10);

	return x < y ? -1 : x > y;
}

/* Every alias served in some model, and latest, each once. */
static int list_aliases(struct mfsd *d, struct view_dent **ret, size_t *ret_n)
{
	struct mfs_model_info *m = NULL;
	size_t n = 0, cap = 0, w = 0;
	bool latest = false;
	int r;

	r = mfs_model_list(d->st, &m, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct mfs_alias_info *a = NULL;
		struct mfs_version_info vi;
		size_t na = 0;

		if (!latest && mfs_alias_latest(d->st, m[i].id, &vi) == 0)
			latest = true;
		r = mfs_alias_list(d->st, m[i].id, &a, &na);
		for (size_t j = 0; r == 0 && j < na; j++)
			if (served_alias(a[j].name))
				r = view_dent_add(ret, ret_n, &cap, a[j].name,
						  ino_make(K_VIEW, 0), S_IFDIR);
		free(a);
	}
	free(m);
	if (r == 0 && latest)
		r = view_dent_add(ret, ret_n, &cap, "latest", ino_make(K_VIEW, 0), S_IFDIR);
	if (r < 0 || !*ret_n)
		return r;
	qsort(*ret, *ret_n, sizeof(**ret), by_name);
	for (size_t i = 0; i < *ret_n; i++)
		if (!w || strcmp((*ret)[w - 1].name, (*ret)[i].name))
			(*ret)[w++] = (*ret)[i];
	*ret_n = w;
	return 0;
}

/* Every model with alias. */
static int list_models(struct mfsd *d, const char *alias, struct view_dent **ret,
		       size_t *ret_n)
{
	struct mfs_model_info *m = NULL;
	size_t n = 0, cap = 0;
	int r;

	r = mfs_model_list(d->st, &m, &n);
	for (size_t i = 0; r == 0 && i < n; i++)
		if (has(d, m[i].id, alias) == 0)
			r = view_dent_add(ret, ret_n, &cap, m[i].name, ino_make(K_VIEW, 0),
					  S_IFDIR);
	free(m);
	return r;
}

static int add_n(struct view_dent **ret, size_t *ret_n, size_t *cap, uint64_t seq)
{
	char name[24];

	snprintf(name, sizeof(name), "%llu", (unsigned long long)seq);
	return view_dent_add(ret, ret_n, cap, name, ino_make(K_VIEW, 0), S_IFLNK);
}

/* The earlier versions of latest that still have a file open, as their
 * N; those that have none are forgotten. Only those below the current N:
 * latest can go back to a version of a lower id (its successor archived
 * or removed, a higher version sealed after a lower one was made), and a
 * server loads the highest N it sees. */
static int draining_latest(struct mfsd *d, uint64_t model_id, uint64_t cur,
			   struct view_dent **ret, size_t *ret_n, size_t *cap)
{
	uint64_t vids[64];
	size_t nv = 0;
	struct served *s, **pp;
	int r = remember(d, model_id, cur);

	pthread_mutex_lock(&d->lock);
	for (s = d->served; s && nv < 64; s = s->next)
		if (s->model_id == model_id && s->vid != cur)
			vids[nv++] = s->vid;
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; r == 0 && i < nv; i++) {
		if (kcount_has(d, d->vopen, vids[i])) {
			if (vids[i] < cur)
				r = add_n(ret, ret_n, cap, vids[i]);
			continue;
		}
		pthread_mutex_lock(&d->lock);
		for (pp = &d->served; (s = *pp); pp = &s->next) {
			if (s->model_id == model_id && s->vid == vids[i]) {
				*pp = s->next;
				free(s);
				break;
			}
		}
		pthread_mutex_unlock(&d->lock);
	}
	return r;
}

/* The earlier targets of alias that still have a file open, each as the
 * last N that named it. */
static int draining(struct mfsd *d, uint64_t model_id, const char *alias, uint64_t cur,
		    struct view_dent **ret, size_t *ret_n, size_t *cap)
{
	struct mfs_alias_info *mv = NULL;
	size_t n = 0;
	int r = mfs_history_moves(d->st, model_id, alias, &mv, &n);

	for (size_t i = n; r == 0 && i-- > 0;) {
		bool seen = mv[i].vid == cur || !mv[i].vid;

		for (size_t j = i + 1; !seen && j < n; j++)
			seen = mv[j].vid == mv[i].vid;
		if (!seen && kcount_has(d, d->vopen, mv[i].vid))
			r = add_n(ret, ret_n, cap, mv[i].seq);
	}
	free(mv);
	return r;
}

/* The Ns of alias in model_id, lowest first, and config.pbtxt. */
static int list_ns(struct mfsd *d, uint64_t model_id, const char *alias,
		   struct view_dent **ret, size_t *ret_n)
{
	struct mfs_alias_info ai;
	struct mfs_entry ent;
	size_t cap = 0;
	int r;

	r = current(d, model_id, alias, &ai);
	if (r < 0)
		return r;
	r = is_latest(alias) ? draining_latest(d, model_id, ai.vid, ret, ret_n, &cap) :
			       draining(d, model_id, alias, ai.vid, ret, ret_n, &cap);
	if (r == 0)
		r = add_n(ret, ret_n, &cap, ai.seq);
	if (r == 0)
		qsort(*ret, *ret_n, sizeof(**ret), by_n);
	/* The configuration of the version just listed as current. */
	if (r == 0 && config_of(d, ai.vid, &ent) == 0)
		r = view_dent_add(ret, ret_n, &cap, "config.pbtxt", ino_make(K_SENTRY, ent.id),
				  S_IFREG);
	return r;
}

int serve_list(struct mfsd *d, const struct vkey *k, struct view_dent **ret, size_t *ret_n)
{
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (!k)
		r = list_aliases(d, ret, ret_n);
	else if (k->kind == VT_SERVE_ALIAS)
		r = list_models(d, k->name, ret, ret_n);
	else if (k->kind == VT_SERVE_MODEL)
		r = list_ns(d, k->model_id, k->name, ret, ret_n);
	else
		r = -ENOTDIR;
	if (r < 0) {
		free(*ret);
		*ret = NULL;
		*ret_n = 0;
	}
	return r;
}

int serve_refuse(struct mfsd *d, uint64_t ino, const char *name, const char *what)
{
	struct vkey k;

	if (ino == FUSE_ROOT_ID && name && !strcmp(name, "serving"))
		return mfs_log_errno(-EROFS, "refusing %s 'serving': the serving view is read-only",
				     what);
	if (ino == INO_SERVING ||
	    (vtab_get(d, ino, &k) == 0 && k.kind >= VT_SERVE_ALIAS))
		return mfs_log_errno(-EROFS, "refusing %s '%s' in serving/: the serving view is read-only (promote in models/<model>/)",
				     what, name ? name : ".");
	return 0;
}
