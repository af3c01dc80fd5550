/* dir.c - lookup, readdir, mkdir, rmdir, unlink, mknod and shared helpers */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "daemon.h"
#include "perm.h"
#include "alias.h"
#include "promote.h"
#include "log.h"
#include "model.h"
#include "semver.h"
#include "version.h"

/*
 * Directories of the tree: the fixed root and models/, a model (versions/,
 * its documents, its aliases and latest), versions/, a version (a draft's
 * real directory or a sealed version's entries). Listings are snapshots
 * taken at opendir, so no store transaction outlives a request.
 */

/*============================================================ helpers */

/* Supplementary groups come from /proc/PID/task/TID/status (the kernel does
 * not send them): a read per request would double the cost of a lookup, so
 * each thread keeps the last few callers' groups for a second. */
#define GROUPS_MAX 256
#define GROUPS_SLOTS 8

struct groups_slot {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int64_t at_ns;
	int n;
	gid_t g[GROUPS_MAX];
};

static _Thread_local struct groups_slot tl_groups[GROUPS_SLOTS];
static _Thread_local unsigned tl_groups_next;

struct mfs_caller caller_of(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct mfs_caller c = { ctx->uid, ctx->gid, ctx->pid, 0, NULL };
	int64_t now = mfs_now_ns();
	struct groups_slot *s;
	int n;

	if (c.uid == 0 || c.pid == 0)
		return c;
	for (unsigned i = 0; i < GROUPS_SLOTS; i++) {
		s = &tl_groups[i];
		if (s->pid == c.pid && s->uid == c.uid && s->gid == c.gid &&
		    now - s->at_ns < 1000000000) {
			c.ngroups = s->n;
			c.groups = s->g;
			return c;
		}
	}
	s = &tl_groups[tl_groups_next++ % GROUPS_SLOTS];
	n = fuse_req_getgroups(req, GROUPS_MAX, s->g);
	/* A process gone or /proc unreadable: its primary group only. */
	s->n = n < 0 ? 0 : n > GROUPS_MAX ? GROUPS_MAX : n;
	s->pid = c.pid;
	s->uid = c.uid;
	s->gid = c.gid;
	s->at_ns = now;
	c.ngroups = s->n;
	c.groups = s->g;
	return c;
}

void fd_path(int fd, char buf[64])
{
	snprintf(buf, 64, "/proc/self/fd/%d", fd);
}

int draft_relpath(struct mfsd *d, int fd, char *buf, size_t n)
{
	const char *drafts = mfs_store_drafts_dir(d->st);
	char p[64], real[4096], *s, *del;
	ssize_t l;

	fd_path(fd, p);
	l = readlink(p, real, sizeof(real) - 1);
	if (l < 0)
		return -errno;
	real[l] = '\0';
	/* A draft sealed (and removed) since: the kernel marks the path. */
	del = strstr(real, " (deleted)");
	if (del && !del[10])
		*del = '\0';
	/* DRAFTS/<vid>/path */
	s = real;
	if (strncmp(s, drafts, strlen(drafts)) || s[strlen(drafts)] != '/')
		return -EIO;
	s = strchr(s + strlen(drafts) + 1, '/');
	snprintf(buf, n, "%s", s ? s + 1 : "");
	return 0;
}


static const char *model_name(struct mfsd *d, uint64_t id, struct mfs_model_info *mi)
{
	if (mfs_model_get(d->st, id, mi) < 0)
		snprintf(mi->name, sizeof(mi->name), "?");
	return mi->name;
}

void ino_label(struct mfsd *d, uint64_t ino, char *buf, size_t n)
{
	struct mfs_model_info mi;
	struct mfs_version_info vi;
	struct mfs_entry e;
	struct node *nd;

	switch (ino_kind(ino)) {
	case K_MODEL:
	case K_VERSIONS:
		snprintf(buf, n, "%s", model_name(d, ino_id(ino), &mi));
		return;
	case K_VERSION:
	case K_VMETA:
	case K_VLINEAGE:
	case K_DISCARD:
		if (mfs_version_get(d->st, ino_id(ino), &vi) == 0) {
			snprintf(buf, n, "%s@%s%s", model_name(d, vi.model_id, &mi), vi.name,
				 ino_kind(ino) == K_VMETA ? "/metadata.json" :
				 ino_kind(ino) == K_VERSION ? "" : "/lineage.json");
			return;
		}
		break;
	case K_SENTRY:
		if (mfs_entry_get(d->st, ino_id(ino), &e) == 0 &&
		    mfs_version_get(d->st, e.vid, &vi) == 0) {
			snprintf(buf, n, "%s@%s: %s", model_name(d, vi.model_id, &mi),
				 vi.name, e.name);
			return;
		}
		break;
	case K_DRAFT:
		nd = node_find(d, ino);
		if (nd && mfs_version_get(d->st, nd->vid, &vi) == 0) {
			char rel[4096] = "";

			draft_relpath(d, nd->fd, rel, sizeof(rel));
			snprintf(buf, n, "%s@%s: %s", model_name(d, vi.model_id, &mi),
				 vi.name, rel);
			return;
		}
		break;
	case K_ALIAS:
		nd = node_find(d, ino);
		if (nd) {
			snprintf(buf, n, "%s/%s", model_name(d, nd->model_id, &mi), nd->name);
			return;
		}
		break;
	default:
		break;
	}
	snprintf(buf, n, "inode %llx", (unsigned long long)ino);
}

uint64_t ino_vid(struct mfsd *d, uint64_t ino, bool *ret_sealed)
{
	struct mfs_version_info vi;
	struct mfs_entry e;
	struct node *n;
	uint64_t vid = 0;

	*ret_sealed = false;
	switch (ino_kind(ino)) {
	case K_VERSION:
	case K_VMETA:
	case K_VLINEAGE:
	case K_DISCARD:
		vid = ino_id(ino);
		break;
	case K_SENTRY:
		if (mfs_entry_get(d->st, ino_id(ino), &e) < 0)
			return 0;
		*ret_sealed = true;
		return e.vid;
	case K_DRAFT:
		n = node_find(d, ino);
		if (!n)
			return 0;
		vid = n->vid;
		break;
	default:
		return 0;
	}
	if (mfs_version_get(d->st, vid, &vi) < 0 || vi.state == MFS_V_TOMBSTONE)
		return 0;
	*ret_sealed = vi.state != MFS_V_DRAFT;
	return vid;
}

/* The draft a directory inode belongs to: -ENOTDIR for inodes outside
 * versions, -ENOENT, or -EROFS once sealed. */
static int draft_of(struct mfsd *d, uint64_t ino, uint64_t *ret_vid)
{
	bool sealed = false;
	uint64_t vid;

	if (ino_kind(ino) != K_VERSION && ino_kind(ino) != K_DRAFT &&
	    ino_kind(ino) != K_SENTRY)
		return -ENOTDIR;
	vid = ino_vid(d, ino, &sealed);
	if (!vid)
		return -ENOENT;
	if (sealed)
		return -EROFS;
	*ret_vid = vid;
	return 0;
}

int draft_dirfd(struct mfsd *d, uint64_t ino, uint64_t *ret_vid, int *ret_fd)
{
	uint64_t vid;
	struct node *n;
	int fd, r;

	r = draft_of(d, ino, &vid);
	if (r < 0)
		return r;
	if (ino_kind(ino) == K_VERSION) {
		r = mfs_version_draft_open(d->st, vid, O_PATH, &fd);
		if (r < 0)
			return r;
	} else if (ino_kind(ino) == K_DRAFT) {
		n = node_find(d, ino);
		if (!n)
			return -ENOENT;
		fd = openat(n->fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	} else {
		return -ENOTDIR;
	}
	*ret_vid = vid;
	*ret_fd = fd;
	return 0;
}

int draft_dirfd_mut(struct mfsd *d, uint64_t ino, uint64_t *ret_vid, int *ret_fd)
{
	uint64_t vid;
	char label[512];
	int r;

	r = draft_of(d, ino, &vid);
	if (r < 0)
		return r;
	/* Counted like a writer: a seal waits for it, and refuses it while
	 * it walks the draft. The state is checked again once counted. */
	r = vstate_writer(d, vid, 1);
	if (r < 0) {
		ino_label(d, ino, label, sizeof(label));
		return mfs_log_errno(-EBUSY, "refusing to change '%s' while its version is being sealed",
				     label);
	}
	r = draft_dirfd(d, ino, ret_vid, ret_fd);
	if (r < 0)
		vstate_writer(d, vid, -1);
	return r;
}

void draft_op_end(struct mfsd *d, uint64_t vid)
{
	vstate_writer(d, vid, -1);
}

static void forget_one(struct mfsd *d, uint64_t ino, uint64_t n);

void reply_entry(struct mfsd *d, fuse_req_t req, const struct fuse_entry_param *e)
{
	enum ino_kind k = ino_kind(e->ino);

	/* The kernel did not get it (the caller was interrupted): the lookup
	 * reference we took for it must not leak the node and its fd. */
	if (fuse_reply_entry(req, e) < 0 && (k == K_DRAFT || k == K_ALIAS || k == K_VIEW))
		forget_one(d, e->ino, 1);
}

int make_entry(struct mfsd *d, uint64_t ino, struct fuse_entry_param *e)
{
	int r;

	memset(e, 0, sizeof(*e));
	/* Before the attributes: a seal in between must not make a draft's
	 * attributes look final. */
	e->attr_timeout = attr_timeout(d, ino);
	r = attr_get(d, ino, &e->attr);
	if (r < 0)
		return r;
	e->ino = ino;
	e->entry_timeout = entry_timeout(ino);
	return 0;
}

static bool is_root_draft_vfile(uint64_t parent, const char *name)
{
	return ino_kind(parent) == K_VERSION &&
	       (!strcmp(name, "metadata.json") || !strcmp(name, "lineage.json"));
}

/* A draft directory node whose version was sealed since (a shell's cwd
 * inside the draft): the sealed entry at the same path, found from the
 * node's fd. *ret_eid is 0 for the version's root. Returns 0, or -ENOENT. */
int sealed_twin(struct mfsd *d, uint64_t ino, uint64_t *ret_vid, uint64_t *ret_eid)
{
	struct node *n = node_find(d, ino);
	char rel[4096], *save = NULL, *tok;
	uint64_t eid = 0;

	if (!n || draft_relpath(d, n->fd, rel, sizeof(rel)) < 0)
		return -ENOENT;
	for (tok = strtok_r(rel, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		struct mfs_entry e;

		if (mfs_entry_lookup(d->st, n->vid, eid, tok, &e) < 0)
			return -ENOENT;
		eid = e.id;
	}
	*ret_vid = n->vid;
	*ret_eid = eid;
	return 0;
}

/*============================================================ lookup */

static int lookup_draft(struct mfsd *d, const struct mfs_caller *c, uint64_t parent,
			const char *name, struct fuse_entry_param *e)
{
	uint64_t vid;
	struct node *n;
	int fd, r;

	r = draft_dirfd(d, parent, &vid, &fd);
	if (r < 0)
		return r;
	{
		struct mfs_version_info vi;

		r = mfs_version_get(d->st, vid, &vi);
		if (r == 0)
			r = node_draft_get(d, c, vi.model_id, vid, fd, name, &e->attr, &n);
	}
	close(fd);
	if (r == -ENOENT) {
		uint64_t now;

		/* A seal that committed meanwhile took the draft's names away:
		 * the sealed entry answers (-EROFS sends do_lookup() there),
		 * and nothing absent is remembered of a sealed directory. */
		if (draft_of(d, parent, &now) == -EROFS)
			return -EROFS;
		e->entry_timeout = absent_timeout();	/* dir_lookup() */
	}
	if (r < 0)
		return r;
	e->ino = n->ino;
	e->attr_timeout = 0;
	e->entry_timeout = entry_timeout(n->ino);
	return 0;
}

static int do_lookup(struct mfsd *d, const struct mfs_caller *c, uint64_t parent,
		     const char *name, struct fuse_entry_param *e)
{
	enum ino_kind k = ino_kind(parent);
	uint64_t id = ino_id(parent);
	struct mfs_model_info mi;
	struct mfs_version_info vi;
	struct mfs_entry ent;
	struct node *n;
	uint64_t ino = 0;
	int r;

	memset(e, 0, sizeof(*e));
	switch (k) {
	case K_FIXED:
		if (parent == FUSE_ROOT_ID) {
			if (!strcmp(name, "models"))
				ino = INO_MODELS;
			else if (!strcmp(name, "audit.jsonl"))
				ino = INO_AUDIT;
			else if (!strcmp(name, "index.json"))
				ino = INO_INDEX;
			else if (!strcmp(name, "policy.json"))
				ino = INO_RPOLICY;
			else if (!strcmp(name, "serving"))
				ino = INO_SERVING;
			else
				return -ENOENT;
		} else if (parent == INO_SERVING) {
			return view_lookup(d, c, parent, name, e);
		} else if (parent == INO_MODELS) {
			if (name[0] == '.')
				return -ENOENT;
			/* -EIO (the database cannot be reached) is not "no
			 * such model": mkdir -p or cp would go on and make it. */
			r = mfs_model_lookup(d->st, name, &mi);
			if (r < 0)
				return r;
			ino = ino_make(K_MODEL, mi.id);
		} else {
			return -ENOTDIR;
		}
		break;
	case K_MODEL:
		if (!strcmp(name, "versions"))
			ino = ino_make(K_VERSIONS, id);
		else if (!strcmp(name, "metadata.json"))
			ino = ino_make(K_MMETA, id);
		else if (!strcmp(name, "policy.json"))
			ino = ino_make(K_POLICY, id);
		else if (!strcmp(name, "history.jsonl"))
			ino = ino_make(K_HISTORY, id);
		else if (!strcmp(name, "latest"))
			ino = ino_make(K_LATEST, id);
		else if (name[0] == '@')
			return tview_lookup(d, parent, name, e);
		else {
			struct mfs_alias_info ai;

			r = mfs_alias_get(d->st, id, name, &ai);
			if (r < 0)
				return r;
			r = node_alias_get(d, id, name, &n);
			if (r < 0)
				return r;
			r = make_entry(d, n->ino, e);
			if (r < 0)
				node_forget(d, n->ino, 1);
			return r;
		}
		break;
	case K_VERSIONS:
		r = mfs_version_lookup(d->st, id, name, false, &vi);
		if (r < 0)
			return r;
		ino = ino_make(K_VERSION, vi.id);
		break;
	case K_VERSION:
		r = mfs_version_get(d->st, id, &vi);
		if (r < 0 || vi.state == MFS_V_TOMBSTONE)
			return r < 0 ? r : -ENOENT;
		if (!strcmp(name, "metadata.json")) {
			if (vi.state == MFS_V_DRAFT && !vi.has_meta)
				return -ENOENT;
			ino = ino_make(K_VMETA, id);
			break;
		}
		if (!strcmp(name, "lineage.json")) {
			if (vi.state == MFS_V_DRAFT)
				return -ENOENT;
			ino = ino_make(K_VLINEAGE, id);
			break;
		}
		if (vi.state == MFS_V_DRAFT) {
			r = lookup_draft(d, c, parent, name, e);
			if (r != -EROFS)
				return r;
		}
		r = mfs_entry_lookup(d->st, id, 0, name, &ent);
		if (r < 0)
			return r;
		ino = ino_make(K_SENTRY, ent.id);
		break;
	case K_SENTRY:
		r = mfs_entry_get(d->st, id, &ent);
		if (r < 0)
			return r;
		if (!S_ISDIR(ent.mode))
			return -ENOTDIR;
		r = mfs_entry_lookup(d->st, ent.vid, ent.id, name, &ent);
		if (r < 0)
			return r;
		ino = ino_make(K_SENTRY, ent.id);
		break;
	case K_DRAFT: {
		uint64_t vid, eid;

		r = lookup_draft(d, c, parent, name, e);
		if (r != -EROFS)
			return r;
		if (sealed_twin(d, parent, &vid, &eid) < 0)
			return -ENOENT;
		r = mfs_entry_lookup(d->st, vid, eid, name, &ent);
		if (r < 0)
			return r;
		ino = ino_make(K_SENTRY, ent.id);
		break;
	}
	case K_VIEW:
		return view_lookup(d, c, parent, name, e);
	default:
		return -ENOTDIR;
	}
	return make_entry(d, ino, e);
}

/* Directory ino's attributes into *st (returns attr_get()'s answer), and
 * whether c may access it for mask into *ret_may (0 or -errno; root
 * passes). Names in a directory that not every user may search are not
 * cached by the kernel (see shared()). */
static int dir_attr(struct mfsd *d, const struct mfs_caller *c, uint64_t ino, int mask,
		    struct stat *st, int *ret_may)
{
	int r = attr_get(d, ino, st);

	*ret_may = !c->uid ? 0 : r < 0 ? r :
		   mfs_perm_check(c, st->st_uid, st->st_gid, st->st_mode, mask);
	return r;
}

/* May every user search the directory (attr_get() gave r and st)? If not,
 * names found in it are not cached: a cached name would let the next
 * user's walk skip the lookup, and with it the search permission check
 * (the kernel makes none without default_permissions). */
static bool shared(int r, const struct stat *st)
{
	/* All three: a mode may deny a group what it grants everyone else. */
	return r == 0 && (st->st_mode & 0111) == 0111;
}

void dir_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mfsd *d = daemon_of(req);
	struct fuse_entry_param e = { 0 };
	struct mfs_caller c = caller_of(req);
	struct stat pst;
	int pr = 1, r = 0;	/* pr: the parent not looked at yet */

	/* Without default_permissions the kernel checks no search
	 * permission on a walk: the registry does. Root's lookups look at
	 * the parent only when the answer may be cached. */
	if (c.uid)
		pr = dir_attr(d, &c, parent, X_OK, &pst, &r);
	if (r == 0)
		r = do_lookup(d, &c, parent, name, &e);
	if ((r == 0 || r == -ENOENT) && e.entry_timeout > 0) {
		if (pr > 0)
			pr = attr_get(d, parent, &pst);
		if (!shared(pr, &pst))
			e.entry_timeout = 0;
	}
	/* A name absent from a draft: a negative entry the kernel keeps. */
	if (r == -ENOENT && e.entry_timeout > 0) {
		e.ino = 0;
		r = 0;
	}

	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(daemon_of(req), req, &e);
}

/* K_VIEW inodes live in vtab.c's table, the others in the node table. */
static void forget_one(struct mfsd *d, uint64_t ino, uint64_t n)
{
	if (ino_kind(ino) == K_VIEW)
		vtab_forget(d, ino, n);
	else
		node_forget(d, ino, n);
}

void dir_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(daemon_of(req), ino, nlookup);
	fuse_reply_none(req);
}

void dir_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		forget_one(daemon_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/*============================================================ readdir */

struct dent {
	char *name;
	uint64_t ino;
	mode_t type;
};

struct dirsnap {
	struct dent *e;
	size_t n, cap;
	bool sealed;	/* a sealed version's directory: never changes */
	bool private;	/* not searchable by all: entries are not cached */
	struct dirsnap *prev, *next;	/* d->snaps, under d->lock */
};

static int snap_add(struct dirsnap *s, const char *name, uint64_t ino, mode_t type)
{
	if (s->n == s->cap) {
		void *p = realloc(s->e, (s->cap = s->cap ? 2 * s->cap : 32) * sizeof(*s->e));

		if (!p)
			return -ENOMEM;
		s->e = p;
	}
	s->e[s->n].name = strdup(name);
	if (!s->e[s->n].name)
		return -ENOMEM;
	s->e[s->n].ino = ino;
	s->e[s->n].type = type;
	s->n++;
	return 0;
}

static void snap_free(struct dirsnap *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].name);
	free(s->e);
	free(s);
}

/* Link s into d's open listings (link) or out of them. */
static void snap_track(struct mfsd *d, struct dirsnap *s, bool link)
{
	pthread_mutex_lock(&d->lock);
	if (link) {
		s->prev = NULL;
		s->next = d->snaps;
		if (d->snaps)
			d->snaps->prev = s;
		d->snaps = s;
	} else {
		if (s->prev)
			s->prev->next = s->next;
		else
			d->snaps = s->next;
		if (s->next)
			s->next->prev = s->prev;
	}
	pthread_mutex_unlock(&d->lock);
}

static int snap_backing(struct dirsnap *s, int pathfd)
{
	int fd = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;
	struct dirent *de;
	int r = 0;

	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	while (r == 0 && (de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = snap_add(s, de->d_name, ino_make(K_DRAFT, de->d_ino),
			     (mode_t)DTTOIF(de->d_type));
	}
	closedir(dir);
	return r;
}

static int snap_entries(struct mfsd *d, struct dirsnap *s, uint64_t vid, uint64_t parent)
{
	struct mfs_entry *kids = NULL;
	size_t n = 0;
	int r;

	r = mfs_entry_list(d->st, vid, parent, &kids, &n);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = snap_add(s, kids[i].name, ino_make(K_SENTRY, kids[i].id),
			     kids[i].mode & S_IFMT);
	free(kids);
	return r;
}

/* A view's listing changes with every move of an alias: its names are
 * not cached (as in a private directory). */
static int snap_view(struct mfsd *d, uint64_t ino, struct dirsnap *s)
{
	struct view_dent *v = NULL;
	size_t n = 0;
	int r;

	s->private = true;
	r = view_list(d, ino, &v, &n);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = snap_add(s, v[i].name, v[i].ino, v[i].type);
	free(v);
	return r;
}

static int build_snap(struct mfsd *d, uint64_t ino, struct dirsnap *s)
{
	enum ino_kind k = ino_kind(ino);
	uint64_t id = ino_id(ino);
	int r = 0;

	switch (k) {
	case K_FIXED:
		if (ino == FUSE_ROOT_ID) {
			r = snap_add(s, "models", INO_MODELS, S_IFDIR);
			if (!r)
				r = snap_add(s, "audit.jsonl", INO_AUDIT, S_IFREG);
			if (!r)
				r = snap_add(s, "index.json", INO_INDEX, S_IFREG);
			if (!r)
				r = snap_add(s, "policy.json", INO_RPOLICY, S_IFREG);
		} else if (ino == INO_SERVING) {
			r = snap_view(d, ino, s);
		} else if (ino == INO_MODELS) {
			struct mfs_model_info *m = NULL;
			size_t n = 0;

			r = mfs_model_list(d->st, &m, &n);
			for (size_t i = 0; r == 0 && i < n; i++)
				r = snap_add(s, m[i].name, ino_make(K_MODEL, m[i].id), S_IFDIR);
			free(m);
		} else {
			r = -ENOTDIR;
		}
		break;
	case K_MODEL: {
		struct mfs_alias_info *a = NULL;
		struct mfs_version_info vi;
		size_t n = 0;

		r = snap_add(s, "versions", ino_make(K_VERSIONS, id), S_IFDIR);
		if (!r)
			r = snap_add(s, "metadata.json", ino_make(K_MMETA, id), S_IFREG);
		if (!r)
			r = snap_add(s, "policy.json", ino_make(K_POLICY, id), S_IFREG);
		if (!r)
			r = snap_add(s, "history.jsonl", ino_make(K_HISTORY, id), S_IFREG);
		if (!r && mfs_alias_latest(d->st, id, &vi) == 0)
			r = snap_add(s, "latest", ino_make(K_LATEST, id), S_IFLNK);
		if (!r)
			r = mfs_alias_list(d->st, id, &a, &n);
		for (size_t i = 0; r == 0 && i < n; i++) {
			r = snap_add(s, a[i].name, node_alias_ino(id, a[i].name), S_IFLNK);
		}
		free(a);
		break;
	}
	case K_VERSIONS: {
		struct mfs_version_info *v = NULL;
		size_t n = 0;

		r = mfs_version_list(d->st, id, &v, &n);
		for (size_t i = 0; r == 0 && i < n; i++)
			r = snap_add(s, v[i].name, ino_make(K_VERSION, v[i].id), S_IFDIR);
		free(v);
		break;
	}
	case K_VERSION: {
		struct mfs_version_info vi;

		r = mfs_version_get(d->st, id, &vi);
		if (r < 0 || vi.state == MFS_V_TOMBSTONE)
			return r < 0 ? r : -ENOENT;
		if (vi.state == MFS_V_DRAFT) {
			int fd;

			if (vi.has_meta)
				r = snap_add(s, "metadata.json", ino_make(K_VMETA, id), S_IFREG);
			if (r == 0)
				r = mfs_version_draft_open(d->st, id, O_PATH, &fd);
			if (r == 0) {
				r = snap_backing(s, fd);
				close(fd);
			}
			if (r != -EROFS)
				break;
			/* sealed meanwhile: list it as sealed, after . and .. */
			while (s->n > 2)
				free(s->e[--s->n].name);
		}
		r = snap_add(s, "metadata.json", ino_make(K_VMETA, id), S_IFREG);
		if (!r)
			r = snap_add(s, "lineage.json", ino_make(K_VLINEAGE, id), S_IFREG);
		if (!r)
			r = snap_entries(d, s, id, 0);
		s->sealed = true;
		break;
	}
	case K_SENTRY: {
		struct mfs_entry e;

		r = mfs_entry_get(d->st, id, &e);
		if (r == 0 && !S_ISDIR(e.mode))
			r = -ENOTDIR;
		if (r == 0)
			r = snap_entries(d, s, e.vid, e.id);
		s->sealed = true;
		break;
	}
	case K_DRAFT: {
		struct node *n = node_find(d, ino);
		bool sealed = false;
		uint64_t vid, eid;

		if (!n)
			return -ENOENT;
		if (ino_vid(d, ino, &sealed) && sealed) {
			r = sealed_twin(d, ino, &vid, &eid);
			if (r == 0)
				r = snap_entries(d, s, vid, eid);
			break;
		}
		r = snap_backing(s, n->fd);
		break;
	}
	case K_VIEW:
		r = snap_view(d, ino, s);
		break;
	default:
		r = -ENOTDIR;
	}
	return r;
}

void dir_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirsnap *s = calloc(1, sizeof(*s));
	struct mfs_caller c = caller_of(req);
	struct stat st;
	int r = s ? 0 : -ENOMEM;

	if (r == 0)
		s->private = !shared(dir_attr(daemon_of(req), &c, ino, R_OK, &st, &r), &st);
	if (r == 0)
		r = snap_add(s, ".", ino, S_IFDIR);
	if (r == 0)
		r = snap_add(s, "..", FUSE_ROOT_ID, S_IFDIR);
	if (r == 0)
		r = build_snap(daemon_of(req), ino, s);
	if (r < 0) {
		snap_free(s);
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)s;
	/* A sealed directory never changes: the kernel may keep its listing
	 * across opens (ls -lR, find of a registry ask for it again). */
	fi->cache_readdir = s->sealed;
	fi->keep_cache = s->sealed;
	/* Linked before the reply: its RELEASEDIR may come at once. */
	snap_track(daemon_of(req), s, true);
	if (fuse_reply_open(req, fi) < 0) {
		snap_track(daemon_of(req), s, false);
		snap_free(s);
	}
}

/* Kinds whose inode is a store id alone (no node table entry): a
 * readdirplus reply may hand the kernel their attributes, which counts as
 * a lookup, and forgetting them costs nothing. */
static bool stateless(uint64_t ino)
{
	switch (ino_kind(ino)) {
	case K_ALIAS:
	case K_DRAFT:
	case K_DISCARD:
	case K_VIEW:
		return false;
	default:
		return ino != FUSE_ROOT_ID;
	}
}

/* One READDIR or READDIRPLUS reply from the snapshot, from entry off. */
static void reply_dir(fuse_req_t req, struct dirsnap *s, size_t size, off_t off, bool plus)
{
	struct mfsd *d = daemon_of(req);
	char *buf = malloc(size);
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < s->n; i++) {
		struct fuse_entry_param e;
		const char *name = s->e[i].name;
		size_t need;

		memset(&e, 0, sizeof(e));
		e.attr.st_ino = s->e[i].ino;
		e.attr.st_mode = s->e[i].type;
		if (!plus) {
			need = fuse_add_direntry(req, buf + used, size - used, name, &e.attr,
						 (off_t)(i + 1));
		} else {
			/* A document whose attributes the kernel holds for
			 * long goes by name alone (nodeid 0), which leaves
			 * them as they are. */
			if (strcmp(name, ".") && strcmp(name, "..") && stateless(s->e[i].ino) &&
			    !docs_held(d, s->e[i].ino) && make_entry(d, s->e[i].ino, &e) < 0) {
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = s->e[i].ino;
				e.attr.st_mode = s->e[i].type;
			}
			if (s->private)
				e.entry_timeout = 0;
			need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						      (off_t)(i + 1));
		}
		if (need > size - used)
			break;	/* not sent: the kernel did not learn it */
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

void dir_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	reply_dir(req, (struct dirsnap *)(uintptr_t)fi->fh, size, off, false);
}

/*
 * ls -l, find -ls, Python's os.scandir+stat: the kernel asks for a listing
 * with attributes once, instead of a lookup per name. Names backed by the
 * node table (aliases, draft files) go without (nodeid 0): the kernel looks
 * them up as before.
 */
void dir_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	reply_dir(req, (struct dirsnap *)(uintptr_t)fi->fh, size, off, true);
}

void dir_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirsnap *s = (struct dirsnap *)(uintptr_t)fi->fh;

	snap_track(daemon_of(req), s, false);
	snap_free(s);
	fuse_reply_err(req, 0);
}

void dirsnaps_free(struct mfsd *d)
{
	while (d->snaps) {
		struct dirsnap *s = d->snaps;

		d->snaps = s->next;
		snap_free(s);
	}
}

/*============================================================ mkdir etc */

/* What a name may be in a directory that is not a draft. */
static int refuse_here(struct mfsd *d, const struct mfs_caller *c, uint64_t parent,
		       const char *name, const char *what)
{
	char label[512];

	if (parent == FUSE_ROOT_ID)
		return mfs_log_errno(-EINVAL, "refusing to create '%s' at the top of the registry: only models/, serving/, audit.jsonl, index.json and policy.json live there",
				     name);
	if (parent == INO_MODELS)
		return mfs_log_errno(-EINVAL, "refusing %s 'models/%s': models/ holds model directories only",
				     what, name);
	ino_label(d, parent, label, sizeof(label));
	if (ino_kind(parent) == K_MODEL)
		return mfs_log_errno(-EINVAL, "refusing %s '%s/%s': a model directory holds versions/, its documents and aliases (symlinks to versions/<v>)",
				     what, label, name);
	if (ino_kind(parent) == K_VERSIONS)
		return mfs_log_errno(-EINVAL, "refusing %s '%s/versions/%s': versions/ holds version directories only",
				     what, label, name);
	return fs_deny(d, c, parent, "version.write", NULL, -EROFS,
		       "refusing %s '%s/%s': the version is sealed", what, label, name);
}

static int do_mkdir(fuse_req_t req, uint64_t parent, const char *name, mode_t mode,
		    struct fuse_entry_param *e)
{
	struct mfsd *d = daemon_of(req);
	struct mfs_caller c = caller_of(req);
	struct mfs_model_info mi;
	struct mfs_version_info vi;
	uint64_t vid;
	int fd, r;

	r = view_refuse(d, parent, name, "directory");
	if (r < 0)
		return r;
	if (parent == INO_MODELS) {
		r = mfs_model_create(d->st, &c, name, mode, &mi);
		if (r < 0)
			return r;
		return make_entry(d, ino_make(K_MODEL, mi.id), e);
	}
	if (ino_kind(parent) == K_VERSIONS) {
		r = mfs_version_create(d->st, &c, ino_id(parent), name, mode, &vi);
		if (r < 0)
			return r;
		vstate_touch(d, vi.id);
		return make_entry(d, ino_make(K_VERSION, vi.id), e);
	}
	r = draft_dirfd_mut(d, parent, &vid, &fd);
	if (r == -ENOTDIR || r == -EROFS)
		return refuse_here(d, &c, parent, name, "directory");
	if (r < 0)
		return r;
	if (ino_kind(parent) == K_VERSION && is_root_draft_vfile(parent, name))
		r = -EEXIST;
	else {
		r = as_caller(d, &c, vid);
		if (r == 0 && mkdirat(fd, name, mode & 07777) < 0)
			r = -errno;
		as_daemon(d);
	}
	if (r == 0)
		r = lookup_draft(d, &c, parent, name, e);
	draft_op_end(d, vid);
	close(fd);
	return r;
}

void dir_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fuse_entry_param e;
	int r;

	memset(&e, 0, sizeof(e));
	r = do_mkdir(req, parent, name, mode, &e);

	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(daemon_of(req), req, &e);
}

static int do_mknod(fuse_req_t req, uint64_t parent, const char *name, mode_t mode,
		    dev_t rdev, struct fuse_entry_param *e)
{
	struct mfsd *d = daemon_of(req);
	struct mfs_caller c = caller_of(req);
	char label[512];
	uint64_t vid;
	int fd, r;

	r = view_refuse(d, parent, name, "node");
	if (r < 0)
		return r;
	r = draft_dirfd_mut(d, parent, &vid, &fd);
	if (r < 0)
		return (r == -ENOTDIR || r == -EROFS) ?
			       refuse_here(d, &c, parent, name, "node") : r;
	if (!S_ISREG(mode)) {
		draft_op_end(d, vid);
		close(fd);
		ino_label(d, parent, label, sizeof(label));
		return mfs_log_errno(-EPERM, "refusing special file '%s' in '%s': a version holds regular files, directories and symlinks only",
				     name, label);
	}
	if (ino_kind(parent) == K_VERSION && is_root_draft_vfile(parent, name))
		r = -EEXIST;
	else {
		r = as_caller(d, &c, vid);
		if (r == 0 && mknodat(fd, name, mode, rdev) < 0)
			r = -errno;
		as_daemon(d);
	}
	if (r == 0)
		r = lookup_draft(d, &c, parent, name, e);
	draft_op_end(d, vid);
	close(fd);
	return r;
}

void dir_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       dev_t rdev)
{
	struct fuse_entry_param e;
	int r;

	memset(&e, 0, sizeof(e));
	r = do_mknod(req, parent, name, mode, rdev, &e);

	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(daemon_of(req), req, &e);
}

static int do_remove(fuse_req_t req, uint64_t parent, const char *name, bool dir)
{
	struct mfsd *d = daemon_of(req);
	struct mfs_caller c = caller_of(req);
	enum ino_kind k = ino_kind(parent);
	char label[512];
	uint64_t vid;
	int fd, r;

	r = view_refuse(d, parent, name, "removal of");
	if (r < 0)
		return r;
	if (parent == INO_MODELS && dir)
		return mfs_model_remove(d->st, &c, name);
	/* A lookup racing the removal may hand the kernel the name (with
	 * its long timeout) after rmdir dropped it: the commit tells
	 * fs_change() to forget it. */
	if (k == K_VERSIONS && dir)
		return mfs_version_remove(d->st, &c, ino_id(parent), name);
	if (k == K_MODEL && !dir) {
		if (!strcmp(name, "versions"))
			return -EISDIR;
		if (mfs_alias_name_check(name) == 0) {
			r = mfs_alias_remove(d->st, &c, ino_id(parent), name);
			return r;
		}
		ino_label(d, parent, label, sizeof(label));
		return mfs_log_errno(-EPERM, "refusing to remove '%s/%s': kept by the registry",
				     label, name);
	}
	if (k == K_VERSION && !dir && is_root_draft_vfile(parent, name)) {
		bool sealed = false;

		vid = ino_vid(d, parent, &sealed);
		if (!vid)
			return -ENOENT;
		if (sealed)
			goto refuse;
		/* Unlinking lineage.json (never stored) or metadata.json in a
		 * draft succeeds; the latter clears the version's metadata. */
		if (!strcmp(name, "metadata.json"))
			return mfs_version_meta_set(d->st, &c, vid, NULL, 0);
		return 0;
	}
	r = draft_dirfd_mut(d, parent, &vid, &fd);
	if (r == -EROFS || (r < 0 && k == K_SENTRY && r != -EBUSY))
		goto refuse;
	if (r == -ENOTDIR) {
		ino_label(d, parent, label, sizeof(label));
		return mfs_log_errno(-EPERM, "refusing to remove '%s' in '%s': kept by the registry",
				     name, label);
	}
	if (r < 0)
		return r;
	r = as_caller(d, &c, vid);
	if (r == 0 && unlinkat(fd, name, dir ? AT_REMOVEDIR : 0) < 0)
		r = -errno;
	as_daemon(d);
	draft_op_end(d, vid);
	close(fd);
	return r;
refuse:
	ino_label(d, parent, label, sizeof(label));
	return fs_deny(d, &c, parent, "version.write", NULL, -EROFS,
		       "refusing to remove '%s' from '%s': the version is sealed", name, label);
}

void dir_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -do_remove(req, parent, name, true));
}

void dir_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -do_remove(req, parent, name, false));
}

void dir_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct mfsd *d = daemon_of(req);
	struct statvfs sv;

	if (statvfs(d->store_dir, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

void dir_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct mfsd *d = daemon_of(req);
	uint64_t vid;
	int fd, r = mfs_store_sync(d->st);

	(void)datasync;
	(void)fi;
	/* A draft's directory: its names on the drafts' filesystem too. */
	if (r == 0 && draft_dirfd(d, ino, &vid, &fd) == 0) {
		int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0 || fsync(dfd) < 0)
			r = -errno;
		if (dfd >= 0)
			close(dfd);
		close(fd);
	}
	fuse_reply_err(req, -r);
}
