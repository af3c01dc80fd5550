/* link.c - symlink, readlink, rename, link: aliases and draft links */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "daemon.h"
#include "alias.h"
#include "promote.h"
#include "log.h"
#include "model.h"
#include "version.h"

/*
 * A symlink made directly in a model directory is an alias: its target is
 * checked and normalised by the store, and pointing it at a draft seals the
 * draft first. `ln -sfn` makes the link under a temporary name and renames
 * it onto the alias: that rename is the promotion, atomic in one LMDB
 * transaction. Inside a draft, symlinks must resolve inside the version.
 */

static bool model_reserved(const char *name)
{
	return !strcmp(name, "versions") || !strcmp(name, "latest") ||
	       !strcmp(name, "metadata.json") || !strcmp(name, "policy.json") ||
	       !strcmp(name, "history.jsonl");
}


static int symlink_alias(fuse_req_t req, uint64_t parent, const char *target,
			 const char *name, struct fuse_entry_param *e)
{
	struct mfsd *d = daemon_of(req);
	struct mfs_caller c = caller_of(req);
	struct mfs_version_info vi;
	struct mfs_model_info mi;
	uint64_t model_id = ino_id(parent), vid;
	struct node *n;
	int r;

	r = mfs_model_get(d->st, model_id, &mi);
	if (r < 0)
		return r;
	if (model_reserved(name) || mfs_alias_name_new_check(name) < 0)
		return mfs_log_errno(-EINVAL, "refusing alias '%s/%s': the name is reserved or shaped like a version",
				     mi.name, name);
	r = mfs_alias_resolve_target(d->st, model_id, target, d->mount, &vid);
	if (r < 0)
		return r;
	r = mfs_version_get(d->st, vid, &vi);
	if (r < 0)
		return r;
	if (vi.state == MFS_V_DRAFT) {
		/* Pointing an alias at a draft seals it first. */
		r = fs_seal(d, &c, vid);
		if (r < 0)
			return mfs_log_errno(r, "refusing alias '%s/%s': sealing '%s@%s' failed: %s",
					     mi.name, name, mi.name, vi.name, strerror(-r));
	}
	r = mfs_alias_create(d->st, &c, model_id, name, vid);
	if (r < 0)
		return r;
	r = node_alias_get(d, model_id, name, &n);
	if (r < 0)
		return r;
	r = make_entry(d, n->ino, e);
	if (r < 0)
		node_forget(d, n->ino, 1);
	return r;
}

static int do_symlink(fuse_req_t req, const char *target, uint64_t parent,
		      const char *name, struct fuse_entry_param *e)
{
	struct mfsd *d = daemon_of(req);
	struct mfs_caller c = caller_of(req);
	struct mfs_version_info vi;
	struct node *n;
	char rel[4096], label[512];
	uint64_t vid;
	int fd, root = -1, r;

	r = view_refuse(d, parent, name, "symlink");
	if (r < 0)
		return r;
	if (ino_kind(parent) == K_MODEL)
		return symlink_alias(req, parent, target, name, e);
	r = draft_dirfd_mut(d, parent, &vid, &fd);
	ino_label(d, parent, label, sizeof(label));
	if (r == -EROFS)
		return fs_deny(d, &c, parent, "version.write", NULL, -EROFS,
			       "refusing symlink '%s' in '%s': the version is sealed", name, label);
	if (r == -ENOTDIR)
		return mfs_log_errno(-EINVAL, "refusing symlink '%s' in '%s': aliases live in a model directory, links to files inside versions",
				     name, parent == FUSE_ROOT_ID ? "/" : label);
	if (r < 0)
		return r;
	r = draft_relpath(d, fd, rel, sizeof(rel));
	if (r == 0)
		r = mfs_version_draft_open(d->st, vid, O_PATH, &root);
	if (r == 0 && !mfs_version_link_inside(root, rel, target))
		r = mfs_log_errno(-EINVAL, "refusing symlink '%s' -> '%s' in '%s': it leaves the version; copy the files it points to (cp -rL, rsync -L)",
				  name, target, label);
	if (r == 0 && ino_kind(parent) == K_VERSION &&
	    (!strcmp(name, "metadata.json") || !strcmp(name, "lineage.json")))
		r = mfs_log_errno(-EINVAL, "refusing symlink '%s' in '%s': the name is the registry's",
				  name, label);
	if (r == 0) {
		r = as_caller(d, &c, vid);
		if (r == 0 && symlinkat(target, fd, name) < 0)
			r = -errno;
		as_daemon(d);
	}
	if (r == 0) {
		vstate_touch(d, vid);
		r = mfs_version_get(d->st, vid, &vi);
		if (r == 0)
			r = node_draft_get(d, &c, vi.model_id, vid, fd, name, &e->attr, &n);
		if (r == 0) {
			e->ino = n->ino;
			e->attr_timeout = 0;
			e->entry_timeout = entry_timeout(n->ino);
		}
	}
	if (root >= 0)
		close(root);
	draft_op_end(d, vid);
	close(fd);
	return r;
}

void link_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
		  const char *name)
{
	struct fuse_entry_param e;
	int r;

	memset(&e, 0, sizeof(e));
	r = do_symlink(req, target, parent, name, &e);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(daemon_of(req), req, &e);
}

static int do_readlink(struct mfsd *d, uint64_t ino, char *buf, size_t n)
{
	struct mfs_version_info vi;
	struct mfs_alias_info ai;
	struct node *nd;
	ssize_t l;
	int r;

	switch (ino_kind(ino)) {
	case K_LATEST:
		r = mfs_alias_latest(d->st, ino_id(ino), &vi);
		if (r == 0)
			snprintf(buf, n, "versions/%s", vi.name);
		return r;
	case K_ALIAS:
		nd = node_find(d, ino);
		if (!nd)
			return -ENOENT;
		r = mfs_alias_get(d->st, nd->model_id, nd->name, &ai);
		if (r == 0)
			snprintf(buf, n, "versions/%s", ai.version);
		return r;
	case K_SENTRY:
		return mfs_entry_readlink(d->st, ino_id(ino), buf, n);
	case K_VIEW:
		return view_readlink(d, ino, buf, n);
	case K_DRAFT:
		nd = node_find(d, ino);
		if (!nd)
			return -ENOENT;
		l = readlinkat(nd->fd, "", buf, n - 1);
		if (l < 0)
			return -errno;
		buf[l] = '\0';
		return 0;
	default:
		return -EINVAL;
	}
}

void link_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[4096];
	int r = do_readlink(daemon_of(req), ino, buf, sizeof(buf));

	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, buf);
}

/* rsync writes a temporary file and renames it onto metadata.json: read it,
 * validate, store, and only then remove the temporary file. */
static int rename_onto_meta(struct mfsd *d, const struct mfs_caller *c, int fd,
			    const char *name, uint64_t vid)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int r = 0, f;

	f = as_caller(d, c, vid);
	if (f == 0) {
		f = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (f < 0)
			f = -errno;
	}
	as_daemon(d);
	if (f < 0)
		return f;
	for (;;) {
		ssize_t n;

		if (len + 65536 > cap) {
			char *p = realloc(buf, cap = cap ? 2 * cap : 65536);

			if (!p) {
				r = -ENOMEM;
				break;
			}
			buf = p;
		}
		n = read(f, buf + len, cap - len);
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > (16u << 20)) {
			r = -EFBIG;
			break;
		}
	}
	close(f);
	if (r == 0)
		r = mfs_version_meta_set(d->st, c, vid, buf ? buf : "", len);
	if (r == 0) {
		r = as_caller(d, c, vid);
		if (r == 0 && unlinkat(fd, name, 0) < 0)
			r = -errno;
		as_daemon(d);
	}
	free(buf);
	return r;
}

static int do_rename(fuse_req_t req, uint64_t parent, const char *name,
		     uint64_t newparent, const char *newname, unsigned flags)
{
	bool counted = false;
	struct mfsd *d = daemon_of(req);
	struct mfs_caller c = caller_of(req);
	enum ino_kind pk = ino_kind(parent), nk = ino_kind(newparent);
	char label[512];
	uint64_t v1, v2;
	int fd1 = -1, fd2 = -1, r;

	ino_label(d, parent, label, sizeof(label));
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	r = view_refuse(d, parent, name, "rename of");
	if (r == 0)
		r = view_refuse(d, newparent, newname, "rename onto");
	if (r < 0)
		return r;
	if (parent == INO_MODELS || newparent == INO_MODELS ||
	    parent == FUSE_ROOT_ID || newparent == FUSE_ROOT_ID) {
		/* EPERM, not EXDEV: mv would fall back to copying every
		 * version into new drafts and then fail to delete the old. */
		return mfs_log_errno(-EPERM, "refusing to rename '%s': a model's name is its identity (register a new model instead)",
				     name);
	}
	if (pk == K_MODEL || nk == K_MODEL) {
		unsigned af = 0;

		if (pk != nk || parent != newparent)
			return mfs_log_errno(-EXDEV, "refusing to move '%s' across models or out of a model directory",
					     name);
		if (model_reserved(name) || model_reserved(newname))
			return mfs_log_errno(-EINVAL, "refusing to rename '%s' to '%s' in '%s': the name is the registry's",
					     name, newname, label);
		if (flags & RENAME_NOREPLACE)
			af |= MFS_ALIAS_NOREPLACE;
		if (flags & RENAME_EXCHANGE)
			af |= MFS_ALIAS_EXCHANGE;
		return mfs_alias_rename(d->st, &c, ino_id(parent), name, newname, af);
	}
	if (pk == K_VERSIONS || nk == K_VERSIONS) {
		struct mfs_version_info vi;

		if (pk != nk || parent != newparent)
			return mfs_log_errno(-EXDEV, "refusing to move version '%s' out of '%s/versions'",
					     name, label);
		if (flags & RENAME_EXCHANGE)
			return mfs_log_errno(-EINVAL, "refusing to exchange versions '%s' and '%s'",
					     name, newname);
		if (mfs_version_lookup(d->st, ino_id(parent), newname, false, &vi) == 0 &&
		    strcmp(name, newname))
			return mfs_log_errno(-EEXIST, "refusing to rename '%s@%s' onto existing version '%s'",
					     label, name, newname);
		return mfs_version_rename(d->st, &c, ino_id(parent), name, newname);
	}
	r = draft_dirfd_mut(d, parent, &v1, &fd1);
	if (r == 0) {
		counted = true;
		r = draft_dirfd(d, newparent, &v2, &fd2);
	}
	if (r == -EROFS) {
		r = fs_deny(d, &c, parent, "version.write", NULL, -EROFS,
			    "refusing to rename '%s' in '%s': the version is sealed", name, label);
		goto out;
	}
	if (r == -ENOTDIR) {
		r = mfs_log_errno(-EXDEV, "refusing to rename '%s' from '%s': not within one draft",
				  name, label);
		goto out;
	}
	if (r < 0)
		goto out;
	if (v1 != v2) {
		r = mfs_log_errno(-EXDEV, "refusing to move '%s' across versions: each version is its own tree",
				  name);
		goto out;
	}
	if (pk == K_VERSION && (!strcmp(name, "metadata.json") || !strcmp(name, "lineage.json"))) {
		r = mfs_log_errno(-EINVAL, "refusing to rename '%s' in '%s': the name is the registry's",
				  name, label);
		goto out;
	}
	if (nk == K_VERSION && !strcmp(newname, "lineage.json")) {
		/* Accepted and discarded, like writing it. */
		r = as_caller(d, &c, v1);
		if (r == 0 && unlinkat(fd1, name, 0) < 0)
			r = -errno;
		as_daemon(d);
		goto out;
	}
	if (nk == K_VERSION && !strcmp(newname, "metadata.json")) {
		r = rename_onto_meta(d, &c, fd1, name, v1);
		goto out;
	}
	r = as_caller(d, &c, v1);
	if (r == 0 && renameat2(fd1, name, fd2, newname, flags) < 0)
		r = -errno;
	as_daemon(d);
	if (r == 0)
		vstate_touch(d, v1);
out:
	if (counted)
		draft_op_end(d, v1);
	if (fd1 >= 0)
		close(fd1);
	if (fd2 >= 0)
		close(fd2);
	return r;
}

void link_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		 fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	fuse_reply_err(req, -do_rename(req, parent, name, newparent, newname, flags));
}

static int do_link(fuse_req_t req, uint64_t ino, uint64_t newparent,
		   const char *newname, struct fuse_entry_param *e)
{
	struct mfsd *d = daemon_of(req);
	struct node *src = ino_kind(ino) == K_DRAFT ? node_find(d, ino) : NULL, *n;
	struct mfs_version_info vi;
	char p[64], label[512];
	bool sealed = false;
	uint64_t vid;
	int fd, r;

	r = view_refuse(d, newparent, newname, "link");
	if (r < 0)
		return r;
	ino_label(d, newparent, label, sizeof(label));
	r = draft_dirfd_mut(d, newparent, &vid, &fd);
	if (r == -EROFS) {
		struct mfs_caller c = caller_of(req);

		return fs_deny(d, &c, newparent, "version.write", NULL, -EROFS,
			       "refusing link '%s' in '%s': the version is sealed", newname, label);
	}
	if (r == -ENOTDIR)
		return mfs_log_errno(-EXDEV, "refusing link '%s' in '%s': hard links live within one draft",
				     newname, label);
	if (r < 0)
		return r;
	if (!src || ino_vid(d, ino, &sealed) != vid || sealed) {
		draft_op_end(d, vid);
		close(fd);
		return mfs_log_errno(-EXDEV, "refusing hard link '%s' in '%s' to a file of another version",
				     newname, label);
	}
	fd_path(src->fd, p);
	{
		struct mfs_caller c = caller_of(req);

		r = as_caller(d, &c, vid);
		if (r == 0 && linkat(AT_FDCWD, p, fd, newname, AT_SYMLINK_FOLLOW) < 0)
			r = -errno;
		as_daemon(d);
		if (r == 0)
			r = mfs_version_get(d->st, vid, &vi);
		if (r == 0)
			r = node_draft_get(d, &c, vi.model_id, vid, fd, newname, &e->attr, &n);
	}
	if (r == 0) {
		e->ino = n->ino;
		e->attr_timeout = 0;
		e->entry_timeout = entry_timeout(n->ino);
	}
	draft_op_end(d, vid);
	close(fd);
	return r;
}

void link_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	       const char *newname)
{
	struct fuse_entry_param e;
	int r;

	memset(&e, 0, sizeof(e));
	r = do_link(req, ino, newparent, newname, &e);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(daemon_of(req), req, &e);
}
