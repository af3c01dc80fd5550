/* attr.c - getattr/setattr and extended attributes */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "daemon.h"
#include "doc.h"
#include "model.h"
#include "perm.h"
#include "annot.h"
#include "alias.h"
#include "promote.h"
#include "log.h"
#include "model.h"
#include "version.h"
#include "hash.h"
#include "format.h"
#include "sha256.h"

/*
 * Sealed content answers from the store's records; drafts from the real
 * files. st_blksize is 1 MiB so cat and cp issue large reads. Sealed
 * content is immutable, so its attributes may be cached for long; aliases,
 * drafts and virtual files change and are never cached.
 */

#define SEALED_TIMEOUT 3600.0
#define BLKSIZE (1 << 20)

double attr_timeout(struct mfsd *d, uint64_t ino)
{
	struct mfs_version_info vi;

	switch (ino_kind(ino)) {
	case K_SENTRY:
		return SEALED_TIMEOUT;
	case K_VERSION:
		/* A sealed version's directory never changes again; a
		 * tombstone removes it through the kernel (rmdir). */
		return mfs_version_get(d->st, ino_id(ino), &vi) == 0 &&
		       vi.state == MFS_V_SEALED ? SEALED_TIMEOUT : 0.0;
	case K_MODEL:
	case K_VERSIONS:
		/* Owner and mode change by chmod/chown through the kernel,
		 * which takes the reply's attributes; versions/ shows the
		 * model's owner, so a second bounds how long it lags. */
		return 1.0;
	default:
		return 0.0;
	}
}

/*
 * Virtual documents change with the registry, so their attributes (the
 * size above all) were never cached: a walk asked the daemon for each. Now
 * a GETATTR reply caches them for long, and every commit that changes a
 * document makes the kernel forget it (fs_change(), from the commit's
 * notes: this host's commits before the call that committed returns,
 * other hosts' as the database tells). Only GETATTR replies: the kernel
 * drops a GETATTR reply that crosses an invalidation of its inode (the
 * inode's attr_version), but a LOOKUP or READDIRPLUS reply may make a new
 * inode, which no earlier invalidation could reach. The set below holds
 * every inode given a long timeout, entered before its attributes are
 * read: an invalidation after a commit finds it, or the read came after
 * the commit.
 */
#define DOCS_TIMEOUT 3600.0
#define DOCS_MIN 1024
#define DOCS_MAX ((size_t)1 << 21)	/* 16 MiB of slots, a million documents */

static bool is_doc(uint64_t ino)
{
	switch (ino_kind(ino)) {
	case K_MMETA:
	case K_POLICY:
	case K_HISTORY:
	case K_VMETA:
	case K_VLINEAGE:
		return true;
	case K_FIXED:
		return ino == INO_AUDIT || ino == INO_INDEX;
	default:
		return false;
	}
}

static size_t docs_slot(uint64_t ino, size_t cap)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

/* Enter ino (docs_lock held); false when the set is full. */
static bool docs_put(struct mfsd *d, uint64_t ino)
{
	size_t i;

	if (d->docs_n + 1 > d->docs_cap / 2) {
		size_t cap = d->docs_cap ? d->docs_cap * 2 : DOCS_MIN;
		uint64_t *t;

		if (cap > DOCS_MAX || !(t = calloc(cap, sizeof(*t))))
			return false;
		for (size_t j = 0; j < d->docs_cap; j++) {
			if (!d->docs[j])
				continue;
			for (i = docs_slot(d->docs[j], cap); t[i]; i = (i + 1) & (cap - 1))
				;
			t[i] = d->docs[j];
		}
		free(d->docs);
		d->docs = t;
		d->docs_cap = cap;
	}
	for (i = docs_slot(ino, d->docs_cap); d->docs[i]; i = (i + 1) & (d->docs_cap - 1))
		if (d->docs[i] == ino)
			return true;
	d->docs[i] = ino;
	d->docs_n++;
	return true;
}

/* The slot holding ino (docs_lock held), or docs_cap when it is not in. */
static size_t docs_find(struct mfsd *d, uint64_t ino)
{
	size_t i, cap = d->docs_cap;

	if (!cap)
		return 0;
	for (i = docs_slot(ino, cap); d->docs[i] != ino; i = (i + 1) & (cap - 1))
		if (!d->docs[i])
			return cap;
	return i;
}

/* Take ino out (docs_lock held); whether it was in. */
static bool docs_take(struct mfsd *d, uint64_t ino)
{
	size_t i = docs_find(d, ino), j, cap = d->docs_cap;

	if (i == cap)
		return false;
	/* Backward-shift deletion: no tombstones. */
	d->docs[i] = 0;
	d->docs_n--;
	for (j = (i + 1) & (cap - 1); d->docs[j]; j = (j + 1) & (cap - 1)) {
		size_t home = docs_slot(d->docs[j], cap);

		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			d->docs[i] = d->docs[j];
			d->docs[j] = 0;
			i = j;
		}
	}
	return true;
}

static double docs_timeout(struct mfsd *d, uint64_t ino)
{
	bool ok;

	pthread_mutex_lock(&d->docs_lock);
	ok = docs_put(d, ino);
	pthread_mutex_unlock(&d->docs_lock);
	return ok ? DOCS_TIMEOUT : 0.0;
}

bool docs_held(struct mfsd *d, uint64_t ino)
{
	bool held;

	if (!is_doc(ino))
		return false;
	pthread_mutex_lock(&d->docs_lock);
	held = docs_find(d, ino) != d->docs_cap;
	pthread_mutex_unlock(&d->docs_lock);
	return held;
}

static void docs_inval(struct mfsd *d, uint64_t ino)
{
	bool was;

	pthread_mutex_lock(&d->docs_lock);
	was = docs_take(d, ino);
	pthread_mutex_unlock(&d->docs_lock);
	/* Attributes only (offset < 0): no page lock, so this is safe from
	 * the thread of the request whose commit changed the document. */
	if (was && d->se)
		fuse_lowlevel_notify_inval_inode(d->se, ino, -1, 0);
}

void docs_forget(struct mfsd *d, uint64_t model_id, uint64_t vid)
{
	docs_inval(d, INO_AUDIT);
	docs_inval(d, INO_INDEX);
	docs_inval(d, INO_RPOLICY);
	if (model_id) {
		docs_inval(d, ino_make(K_MMETA, model_id));
		docs_inval(d, ino_make(K_POLICY, model_id));
		docs_inval(d, ino_make(K_HISTORY, model_id));
	}
	if (vid) {
		docs_inval(d, ino_make(K_VMETA, vid));
		docs_inval(d, ino_make(K_VLINEAGE, vid));
	}
}

void docs_forget_all(struct mfsd *d)
{
	uint64_t *t;
	size_t cap;

	pthread_mutex_lock(&d->docs_lock);
	t = d->docs;
	cap = d->docs_cap;
	d->docs = NULL;
	d->docs_cap = d->docs_n = 0;
	pthread_mutex_unlock(&d->docs_lock);
	for (size_t i = 0; i < cap; i++)
		if (t[i] && d->se)
			fuse_lowlevel_notify_inval_inode(d->se, t[i], -1, 0);
	free(t);
}

void docs_free(struct mfsd *d)
{
	free(d->docs);
	d->docs = NULL;
	d->docs_cap = d->docs_n = 0;
}

/*
 * How long the kernel may trust a name -> inode mapping. Every change of
 * the tree goes through this mount (the daemon is the writer of record:
 * the store's lock keeps a second one out, and modelctl writes through the
 * mount while it is served) and so through the kernel's own dentry
 * updates, except what the registry computes: `latest` and aliases are
 * never cached (a promotion must be seen by the next open), nor are names
 * inside drafts (a seal swaps them for sealed entries). Everything else
 * names the same inode until it is removed through the kernel - a model,
 * a version (draft or sealed: its inode is its id), their documents - so
 * a walk of the registry (ls -lR, find) costs no lookup the second time.
 */
double entry_timeout(uint64_t ino)
{
	switch (ino_kind(ino)) {
	case K_SENTRY:
	case K_VERSIONS:
	case K_MMETA:
	case K_POLICY:
	case K_HISTORY:
	case K_MODEL:
	case K_VERSION:
	case K_VMETA:
	case K_VLINEAGE:
		return SEALED_TIMEOUT;
	case K_FIXED:
		return ino == INO_MODELS || ino == INO_AUDIT || ino == INO_INDEX ?
			       SEALED_TIMEOUT : 0.0;
	default:
		/* K_ALIAS, K_LATEST, K_DISCARD, and K_DRAFT: a seal replaces
		 * a draft's entries with sealed ones behind the kernel's back. */
		return 0.0;
	}
}

/*
 * How long the kernel may trust that a name inside a draft does not exist.
 * Names appear in a draft only through this mount (drafts belong to one
 * host), so through the kernel's own dentry updates; a seal adds none but
 * the version root's lineage.json and metadata.json, which are never
 * answered this way. shutil.copy stats its destination before it creates
 * it: the kernel then asks once, not twice.
 */
double absent_timeout(void)
{
	return SEALED_TIMEOUT;
}

static void ts_of(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000);
	ts->tv_nsec = (long)(ns % 1000000000);
}

static void fixed_dir(struct mfsd *d, struct stat *st, mode_t mode)
{
	ts_of(d->start_ns, &st->st_mtim);
	st->st_mode = S_IFDIR | mode;
	st->st_nlink = 2;
	st->st_uid = 0;
	st->st_gid = 0;
}

static int vfile_attr(struct mfsd *d, uint64_t ino, struct stat *st, mode_t mode)
{
	size_t len = 0;
	int r;

	r = vfile_size(d, ino, &len);
	if (r < 0)
		return r;
	st->st_mode = S_IFREG | mode;
	st->st_nlink = 1;
	st->st_size = (off_t)len;
	/* Not sparse: cp must read it rather than seek over "holes". */
	st->st_blocks = (blkcnt_t)((len + 511) / 512);
	return 0;
}

int attr_get(struct mfsd *d, uint64_t ino, struct stat *st)
{
	enum ino_kind k = ino_kind(ino);
	uint64_t id = ino_id(ino);
	struct mfs_model_info mi;
	struct mfs_version_info vi;
	struct mfs_entry e;
	struct node *n;
	int r = 0;

	memset(st, 0, sizeof(*st));
	st->st_blksize = BLKSIZE;
	switch (k) {
	case K_FIXED:
		if (ino == FUSE_ROOT_ID) {
			fixed_dir(d, st, 0755);
			st->st_nlink = 3;
		} else if (ino == INO_MODELS) {
			/* Sticky and world-writable: anyone registers a model,
			 * only its owner removes it. */
			fixed_dir(d, st, 01777);
		} else if (ino == INO_AUDIT || ino == INO_INDEX) {
			r = vfile_attr(d, ino, st, 0444);
			ts_of(d->start_ns, &st->st_mtim);
		} else if (ino == INO_SERVING) {
			fixed_dir(d, st, 0555);
		} else {
			r = -ENOENT;
		}
		break;
	case K_MODEL:
	case K_VERSIONS:
	case K_MMETA:
	case K_POLICY:
	case K_HISTORY:
	case K_LATEST:
		if (ino == INO_RPOLICY) {
			/* The registry's policy: root's; admins write it. */
			r = vfile_attr(d, ino, st, 0644);
			ts_of(d->start_ns, &st->st_mtim);
			break;
		}
		r = mfs_model_get(d->st, id, &mi);
		if (r < 0)
			break;
		st->st_uid = mi.uid;
		st->st_gid = mi.gid;
		ts_of(mi.ctime_ns, &st->st_mtim);
		if (k == K_MODEL || k == K_VERSIONS) {
			st->st_mode = k == K_MODEL ? mi.mode : (S_IFDIR | 0755);
			st->st_nlink = 2;
		} else if (k == K_LATEST) {
			r = mfs_alias_latest(d->st, id, &vi);
			st->st_mode = S_IFLNK | 0777;
			st->st_nlink = 1;
			st->st_size = (off_t)(9 + strlen(vi.name));
		} else {
			r = vfile_attr(d, ino, st, k == K_HISTORY ? 0444 : 0644);
			st->st_uid = mi.uid;
			st->st_gid = mi.gid;
		}
		break;
	case K_VIEW:
		r = view_attr(d, ino, st);
		break;
	case K_ALIAS: {
		struct mfs_alias_info ai;

		n = node_find(d, ino);
		if (!n)
			return -ENOENT;
		r = mfs_alias_get(d->st, n->model_id, n->name, &ai);
		if (r < 0)
			break;
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_uid = ai.uid;
		st->st_size = (off_t)(9 + strlen(ai.version));
		ts_of(ai.ctime_ns, &st->st_mtim);
		break;
	}
	case K_VERSION:
		r = mfs_version_get(d->st, id, &vi);
		if (r < 0)
			break;
		if (vi.state == MFS_V_TOMBSTONE)
			return -ENOENT;
		if (vi.state == MFS_V_DRAFT) {
			int fd = -1;

			r = mfs_version_draft_open(d->st, id, O_PATH, &fd);
			if (r == 0) {
				if (fstatat(fd, "", st, AT_EMPTY_PATH) < 0)
					r = -errno;
				close(fd);
			}
			if (r == -EROFS)	/* sealed just now */
				return attr_get(d, ino, st);
			st->st_blksize = BLKSIZE;
			break;
		}
		st->st_mode = vi.mode;
		st->st_nlink = 2;
		st->st_uid = vi.uid;
		st->st_gid = vi.gid;
		st->st_size = 4096;
		ts_of(vi.mtime_ns, &st->st_mtim);
		ts_of(vi.sealed_ns, &st->st_ctim);
		break;
	case K_VMETA:
	case K_VLINEAGE:
		r = mfs_version_get(d->st, id, &vi);
		if (r < 0)
			break;
		if (vi.state == MFS_V_TOMBSTONE)
			return -ENOENT;
		r = vfile_attr(d, ino, st, vi.state == MFS_V_DRAFT ? 0644 : 0444);
		st->st_uid = vi.uid;
		st->st_gid = vi.gid;
		ts_of(vi.mtime_ns, &st->st_mtim);
		break;
	case K_DISCARD:
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		break;
	case K_SENTRY:
		r = mfs_entry_get(d->st, id, &e);
		if (r < 0)
			break;
		st->st_mode = e.mode;
		st->st_nlink = S_ISDIR(e.mode) ? 2 : 1;
		st->st_uid = e.uid;
		st->st_gid = e.gid;
		st->st_size = (off_t)e.size;
		st->st_blocks = (blkcnt_t)((e.size + 511) / 512);
		ts_of(e.mtime_ns, &st->st_mtim);
		break;
	case K_DRAFT:
		n = node_find(d, ino);
		if (!n)
			return -ENOENT;
		if (fstatat(n->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (st->st_nlink == 0 && S_ISDIR(st->st_mode)) {
			/* Its draft was sealed and removed: answer as the
			 * sealed directory at the same path. */
			uint64_t vid, eid;

			if (sealed_twin(d, ino, &vid, &eid) == 0) {
				r = eid ? attr_get(d, ino_make(K_SENTRY, eid), st) :
					  attr_get(d, ino_make(K_VERSION, vid), st);
				if (r == 0)
					st->st_ino = ino;
				return r;
			}
		}
		st->st_blksize = BLKSIZE;
		break;
	default:
		return -ENOENT;
	}
	if (r < 0)
		return r;
	st->st_ino = ino;
	if (!st->st_atim.tv_sec)
		st->st_atim = st->st_mtim;
	if (!st->st_ctim.tv_sec)
		st->st_ctim = st->st_mtim;
	return 0;
}

void attr_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mfsd *d = daemon_of(req);
	/* First: see make_entry() and the documents' set above. fstat of an
	 * open document answers its snapshot, which is not cached. */
	double timeout = is_doc(ino) && !(fi && fi->fh) ? docs_timeout(d, ino) :
			 attr_timeout(d, ino);
	struct stat st;
	int r;

	r = attr_get(d, ino, &st);
	if (r == 0 && fi && fi->fh) {
		/* fstat of an open virtual file: the size of its snapshot. */
		off_t sz;

		if (handle_snapshot_size(fi->fh, &sz) == 0)
			st.st_size = sz;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, timeout);
}

/* A chmod that only removes write bits or changes nothing: allowed on
 * sealed content, and changes nothing (so `chmod -R a-w` works). */
static bool harmless(const struct stat *cur, const struct stat *want, int to_set)
{
	if (to_set & ~(FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW |
		       FUSE_SET_ATTR_CTIME))
		return false;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW))
		return false;
	if (to_set & FUSE_SET_ATTR_MODE) {
		mode_t c = cur->st_mode & 07777, w = want->st_mode & 07777;

		if ((w & ~0222) != (c & ~0222) || (w & ~c))
			return false;
	}
	return true;
}

static int set_draft_as(struct mfsd *d, int fd, bool is_link, struct stat *attr,
			int to_set, struct fuse_file_info *fi);

static int set_draft(struct mfsd *d, const struct mfs_caller *c, uint64_t vid, struct node *n,
		     int fd, bool is_link, struct stat *attr, int to_set,
		     struct fuse_file_info *fi)
{
	int r;

	if ((to_set & FUSE_SET_ATTR_SIZE) && !(fi && fi->fh) && !is_link && n) {
		/* truncate(2) of an instant copy: an ordinary file first. */
		r = draft_unref(d, c, n, attr->st_size != 0);
		if (r < 0)
			return r;
	}
	r = as_caller(d, c, vid);
	if (r == 0)
		r = set_draft_as(d, fd, is_link, attr, to_set, fi);
	as_daemon(d);
	return r;
}

static int set_draft_as(struct mfsd *d, int fd, bool is_link, struct stat *attr,
			int to_set, struct fuse_file_info *fi)
{
	char path[64];

	fd_path(fd, path);
	if (to_set & FUSE_SET_ATTR_MODE) {
		if (is_link)
			return -EOPNOTSUPP;
		if (chmod(path, attr->st_mode & 07777) < 0)
			return -errno;
	}
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t u = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t g = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		int r = 0;

		if (fi && fi->fh) {
			r = handle_truncate(fi->fh, attr->st_size);
		} else if (truncate(path, attr->st_size) < 0) {
			r = -errno;
		}
		if (r < 0)
			return r;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec tv[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };

		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		if (is_link) {
			/* utimensat cannot act on an O_PATH symlink fd via
			 * /proc; its times are not worth a refusal. */
		} else if (utimensat(AT_FDCWD, path, tv, 0) < 0) {
			return -errno;
		}
	}
	return 0;
}

static int do_setattr(struct mfsd *d, fuse_req_t req, uint64_t ino,
		      struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	enum ino_kind k = ino_kind(ino);
	struct mfs_caller c = caller_of(req);
	struct stat cur;
	char label[512];
	int r;

	r = attr_get(d, ino, &cur);
	if (r < 0)
		return r;
	if (ino == INO_SERVING)
		k = K_VIEW;	/* serving/ itself: read-only like what is in it */
	switch (k) {
	case K_DRAFT: {
		struct node *n = node_find(d, ino);
		bool sealed = false;

		bool gate = !(fi && fi->fh);	/* an open handle is counted */

		if (!n)
			return -ENOENT;
		if (!ino_vid(d, ino, &sealed) || sealed)
			goto sealed;
		/* A change by path is counted like a writer, so it cannot
		 * slip between the seal's hashing and its linking. */
		if (gate && vstate_writer(d, n->vid, 1) < 0) {
			ino_label(d, ino, label, sizeof(label));
			return mfs_log_errno(-EBUSY, "refusing to change '%s' while its version is being sealed",
					     label);
		}
		if (gate && (!ino_vid(d, ino, &sealed) || sealed)) {
			vstate_writer(d, n->vid, -1);
			goto sealed;
		}
		if (to_set & FUSE_SET_ATTR_SIZE)
			node_bytes_changed(n);
		r = set_draft(d, &c, n->vid, n, n->fd, S_ISLNK(cur.st_mode), attr, to_set, fi);
		if (gate)
			vstate_writer(d, n->vid, -1);
		return r;
	}
	case K_VERSION: {
		bool sealed = false;
		uint64_t vid = ino_vid(d, ino, &sealed);
		int fd;

		if (sealed || !vid)
			goto sealed;
		r = mfs_version_draft_open(d->st, vid, O_PATH, &fd);
		if (r == -EROFS)
			goto sealed;
		if (r < 0)
			return r;
		r = set_draft(d, &c, vid, NULL, fd, false, attr, to_set & ~FUSE_SET_ATTR_SIZE, fi);
		close(fd);
		return r;
	}
	case K_SENTRY:
		goto sealed;
	case K_VMETA:
	case K_VLINEAGE:
		if (!vfile_writable(d, ino))
			goto sealed;
		/* fallthrough */
	case K_MMETA:
	case K_POLICY:
	case K_DISCARD:
		if (to_set & FUSE_SET_ATTR_SIZE) {
			if (fi && fi->fh)
				return handle_truncate(fi->fh, attr->st_size);
			if (attr->st_size != 0 || k == K_DISCARD)
				return 0;
			return vfile_store(d, &c, ino, "{}", 2);
		}
		return 0;	/* times and modes of documents are the registry's */
	case K_MODEL:
		/* Its commit tells fs_change() to forget the names in it. */
		if (!(to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
			return 0;
		return mfs_model_setattr(d->st, &c, ino_id(ino),
					 (to_set & FUSE_SET_ATTR_MODE) ? attr->st_mode : (mode_t)-1,
					 (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
					 (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1);
	case K_ALIAS:
	case K_LATEST:
		/* cp -a and tar set a link's owner and times: not recorded. */
		return 0;
	case K_VIEW:
		if (harmless(&cur, attr, to_set))
			return 0;
		return view_refuse(d, ino, NULL, "change of");
	default:
		if (harmless(&cur, attr, to_set))
			return 0;
		ino_label(d, ino, label, sizeof(label));
		return mfs_log_errno(-EPERM, "refusing to change attributes of '%s': kept by the registry",
				     label);
	}
sealed:
	if (harmless(&cur, attr, to_set))
		return 0;
	ino_label(d, ino, label, sizeof(label));
	return fs_deny(d, &c, ino, "version.write", NULL, -EROFS,
		       "refusing to change '%s': the version is sealed", label);
}

void attr_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		  struct fuse_file_info *fi)
{
	struct mfsd *d = daemon_of(req);
	double timeout = 0;
	struct stat st;
	int r;

	r = do_setattr(d, req, ino, attr, to_set, fi);
	if (r == 0) {
		timeout = attr_timeout(d, ino);	/* first: see make_entry() */
		r = attr_get(d, ino, &st);
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, timeout);
}

/*============================================================ access */

int fs_may(struct mfsd *d, const struct mfs_caller *c, uint64_t ino, int mask)
{
	enum ino_kind k = ino_kind(ino);
	bool sealed = false;
	struct stat st;
	int r;

	if (mask == F_OK)
		return 0;
	r = attr_get(d, ino, &st);
	if (r < 0)
		return r;
	if (mask & W_OK) {
		/* Views are read-only for everyone, root too. */
		if (k == K_VIEW || ino == INO_SERVING)
			return -EROFS;
		/* Sealed content refuses writes to everyone, root too. */
		if (ino_vid(d, ino, &sealed) && sealed && k != K_ALIAS)
			return -EROFS;
		if (k == K_POLICY || k == K_MMETA)
			return mfs_model_doc_may_write(d->st, c, ino_id(ino),
						       k == K_POLICY ? MFS_DOC_POLICY
								     : MFS_DOC_METADATA, true);
		if (S_ISREG(st.st_mode) && k != K_DRAFT && k != K_DISCARD && k != K_SENTRY &&
		    !vfile_writable(d, ino))
			return -EACCES;	/* kept by the registry */
	}
	return mfs_perm_check(c, st.st_uid, st.st_gid, st.st_mode, mask);
}

void attr_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct mfs_caller c = caller_of(req);

	fuse_reply_err(req, -fs_may(daemon_of(req), &c, ino, mask));
}

/*============================================================ xattrs */

#define XA_PREFIX "user.modelfs."

static int do_setxattr(struct mfsd *d, fuse_req_t req, uint64_t ino,
		       const char *name, const char *value, size_t size)
{
	struct mfs_caller c = caller_of(req);
	enum ino_kind k = ino_kind(ino);
	bool sealed = false;
	uint64_t vid;
	char label[512];

	if (k == K_VIEW || ino == INO_SERVING)
		return view_refuse(d, ino, NULL, "extended attribute on");
	ino_label(d, ino, label, sizeof(label));
	if (strncmp(name, XA_PREFIX, strlen(XA_PREFIX)))
		return mfs_log_errno(-EOPNOTSUPP, "refusing extended attribute '%s' on '%s': a version keeps only its files' bytes and modes",
				     name, label);
	if (ino == FUSE_ROOT_ID && !strcmp(name, XA_PREFIX "gc"))
		return fs_gc(d, &c, value, size);
	vid = ino_vid(d, ino, &sealed);
	if (!strcmp(name, XA_PREFIX "seal")) {
		if (k != K_VERSION)
			return mfs_log_errno(-EINVAL, "refusing '%s' on '%s': set it on a version directory",
					     name, label);
		if (sealed)
			return 0;
		return fs_seal(d, &c, ino_id(ino));
	}
	if (!strcmp(name, XA_PREFIX "approve") || !strcmp(name, XA_PREFIX "lifecycle") ||
	    !strncmp(name, XA_PREFIX "tag.", strlen(XA_PREFIX "tag."))) {
		const char *what = name + strlen(XA_PREFIX);

		if (k != K_VERSION)
			return mfs_log_errno(-EINVAL, "refusing '%s' on '%s': set it on a version directory",
					     name, label);
		if (!strcmp(what, "approve"))
			return mfs_version_approve(d->st, &c, ino_id(ino), value, size);
		if (!strcmp(what, "lifecycle"))
			return mfs_version_set_lifecycle(d->st, &c, ino_id(ino), value, size);
		return mfs_version_tag(d->st, &c, ino_id(ino), what + 4, value, size);
	}
	/* Facts (digest, format, size, state...) are computed at seal: copies
	 * of them into a draft (cp -a) are accepted and ignored. */
	if (vid && !sealed)
		return 0;
	if (k == K_SENTRY || k == K_VERSION || sealed)
		return fs_deny(d, &c, ino, "version.write", NULL, -EROFS,
			       "refusing '%s' on '%s': the version is sealed", name, label);
	return mfs_log_errno(-EOPNOTSUPP, "refusing '%s' on '%s'", name, label);
}

void attr_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		   const char *value, size_t size, int flags)
{
	int r = do_setxattr(daemon_of(req), req, ino, name, value, size);

	fuse_reply_err(req, -r);
}

/*
 * Facts, read-only and listed, so a tool gets one without parsing JSON
 * (getfattr -n user.modelfs.digest production/model.onnx): digest and size
 * on sealed files; state, version, created and sealed on versions. Controls
 * (seal, ...) are write-only and never listed, so cp -a never copies them.
 */
static const char *const file_facts[] = { "digest", "size", "format", "sha256" };
static const char *const version_facts[] = { "state", "version", "created", "sealed" };

/* The value of fact name (without prefix) of ino into buf. Returns its
 * length, or -ENODATA. */
static int fact(struct mfsd *d, uint64_t ino, const char *name, char *buf, size_t n)
{
	struct mfs_version_info vi;
	struct mfs_entry e;

	if (ino_kind(ino) == K_SENTRY && mfs_entry_get(d->st, ino_id(ino), &e) == 0 &&
	    S_ISREG(e.mode)) {
		if (!strcmp(name, "digest")) {
			char hex[MFS_DIGEST_HEX];

			mfs_digest_hex(&e.digest, hex);
			return snprintf(buf, n, "%s", hex);
		}
		if (!strcmp(name, "size"))
			return snprintf(buf, n, "%llu", (unsigned long long)e.size);
		if (!strcmp(name, "format"))
			return snprintf(buf, n, "%s", mfs_format_name(e.format));
		if (!strcmp(name, "sha256")) {
			/* Computed after the seal: ENODATA (and not listed)
			 * until then (sha256.h). */
			uint8_t sha[MFS_SHA256_LEN];
			char hex[MFS_SHA256_HEX];

			if (mfs_sha256_get(d->st, &e.digest, sha) < 0)
				return -ENODATA;
			mfs_sha256_hex(sha, hex);
			return snprintf(buf, n, "%s", hex);
		}
	}
	if (ino_kind(ino) == K_VERSION && mfs_version_get(d->st, ino_id(ino), &vi) == 0) {
		char ts[40];

		if (!strcmp(name, "state"))
			return snprintf(buf, n, "%s", mfs_vstate_name(vi.state));
		if (!strcmp(name, "version"))
			return snprintf(buf, n, "%s", vi.name);
		if (!strcmp(name, "created")) {
			mfs_time_rfc3339(vi.created_ns, ts);
			return snprintf(buf, n, "%s", ts);
		}
		if (!strcmp(name, "sealed") && vi.state == MFS_V_SEALED) {
			mfs_time_rfc3339(vi.sealed_ns, ts);
			return snprintf(buf, n, "%s", ts);
		}
	}
	return -ENODATA;
}

void attr_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct mfsd *d = daemon_of(req);
	char val[4200], *big = NULL;
	int len = -ENODATA;

	const char *out = val;

	if (ino == FUSE_ROOT_ID && !strcmp(name, XA_PREFIX "gc")) {
		/* The report of this caller's last gc (gc.c): it may be
		 * larger than val. */
		struct mfs_caller c = caller_of(req);
		size_t n = 0;

		len = fs_gc_report(d, &c, &big, &n);
		if (len == 0 && n > 65536) {
			len = -E2BIG;
		} else if (len == 0) {
			len = (int)n;
			out = big;
		}
	} else if (ino == FUSE_ROOT_ID && !strcmp(name, XA_PREFIX "store"))
		len = snprintf(val, sizeof(val), "%s", d->store_dir);
	else if (!strncmp(name, XA_PREFIX, strlen(XA_PREFIX)))
		len = fact(d, ino, name + strlen(XA_PREFIX), val, sizeof(val));
	else if (strncmp(name, "user.", 5))
		/* No security labels or ACLs here: saying so (rather than
		 * "no such attribute") lets ls -l stop asking for every file
		 * of the mount after the first. */
		len = -EOPNOTSUPP;
	if (len < 0)
		fuse_reply_err(req, -len);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else if (size < (size_t)len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, out, (size_t)len);
	free(big);
}

void attr_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct mfsd *d = daemon_of(req);
	const char *const *names = NULL;
	size_t count = 0, len = 0;
	char buf[512], tmp[4200];

	if (ino_kind(ino) == K_SENTRY) {
		names = file_facts;
		count = sizeof(file_facts) / sizeof(file_facts[0]);
	} else if (ino_kind(ino) == K_VERSION) {
		names = version_facts;
		count = sizeof(version_facts) / sizeof(version_facts[0]);
	}
	for (size_t i = 0; i < count; i++) {
		if (fact(d, ino, names[i], tmp, sizeof(tmp)) < 0)
			continue;
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", XA_PREFIX,
					names[i]) + 1;
	}
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, len);
}

void attr_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct mfsd *d = daemon_of(req);
	bool sealed = false;
	uint64_t vid = ino_vid(d, ino, &sealed);

	if (strncmp(name, XA_PREFIX, strlen(XA_PREFIX))) {
		fuse_reply_err(req, EOPNOTSUPP);
	} else if (ino_kind(ino) == K_VERSION &&
		   !strncmp(name, XA_PREFIX "tag.", strlen(XA_PREFIX "tag."))) {
		struct mfs_caller c = caller_of(req);

		fuse_reply_err(req, -mfs_version_tag(d->st, &c, ino_id(ino),
						     name + strlen(XA_PREFIX "tag."), NULL, 0));
	} else if (sealed)
		fuse_reply_err(req, EROFS);
	else
		fuse_reply_err(req, vid ? ENODATA : EOPNOTSUPP);
}
