/* file.c - open handles: draft files, sealed blobs, virtual documents */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "prehash.h"
#include "audit.h"
#include "stream.h"
#include "doc.h"
#include "model.h"
#include "log.h"
#include "meta.h"
#include "version.h"
#include "seal.h"
#include "perm.h"
#include "passthrough.h"
#include "ref.h"

/*
 * A handle is one of: a draft file (a real fd, written in place, hashed
 * inline while written in order), a sealed file (the blob's fd, served by
 * splice; the kernel may cache it forever since it never changes), a
 * snapshot of a virtual file (rendered at open, so stat size equals read
 * size; direct_io), a document being written (buffered, validated at
 * flush), or a discarded lineage.json.
 */

enum hkind { H_DRAFT = 1, H_SEALED, H_SNAP, H_DOC, H_DISCARD, H_STREAM };

struct handle {
	enum hkind kind;
	int fd;
	struct node *node;	/* H_DRAFT */
	struct mfs_store *st;	/* H_DRAFT */
	uint64_t vid;		/* H_DRAFT, H_DOC of a draft */
	uint64_t ino;
	bool writer;
	bool dirty;		/* H_DOC: written since the last flush */
	bool wrote;		/* H_DOC: bytes written through it (not just O_TRUNC) */
	char *buf;		/* H_SNAP, H_DOC */
	size_t len, cap;	/* H_STREAM: len is the stream's size */
	struct mfs_stream *stream;	/* H_STREAM: a log (vfile_stream) */
	int refs;		/* the open file, plus replies in flight; atomic */
	int pt_id;		/* H_SEALED: backing id (0: served by us) */
	/* The blob whose bytes fd reads (a sealed file, or a draft file
	 * that is a reference, ref.h): a copy from it can be instant. */
	bool has_dg;
	struct mfs_digest dg;
	uint64_t dg_size;
	/* H_DRAFT: this writer made the file a reference (instant copy);
	 * its next change breaks it first. Protected by node->hlock. */
	bool ref;
	pid_t reader;		/* counted in d->rpids while open (0: not) */
	uint64_t svid;		/* H_SEALED: counted in d->vopen (gc.c) */
	/* H_DRAFT reading an instant copy's blob: node->unrefs when opened,
	 * and the blob's fd once the file stopped being one (kept open for
	 * reads in flight; closed at release). */
	uint32_t unrefs;
	int old_fd;
};

static struct handle *fh_of(struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

int handle_snapshot_size(uint64_t fh, off_t *ret)
{
	struct handle *h = (struct handle *)(uintptr_t)fh;

	if (!h || (h->kind != H_SNAP && h->kind != H_DOC && h->kind != H_STREAM))
		return -ENOENT;
	*ret = (off_t)h->len;
	return 0;
}

/* Before a writer that made its file a reference changes it: make it an
 * ordinary file again (keep: with the blob's bytes). */
static int unref(struct handle *h, bool keep)
{
	int r = 0;

	if (!h->node || !__atomic_load_n(&h->ref, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&h->node->hlock);
	if (h->ref) {
		r = mfs_ref_break(h->st, h->fd, keep);
		if (r == 0)
			__atomic_store_n(&h->ref, false, __ATOMIC_RELEASE);
		__atomic_add_fetch(&h->node->unrefs, 1, __ATOMIC_ACQ_REL);
	}
	pthread_mutex_unlock(&h->node->hlock);
	return r;
}

int draft_unref(struct mfsd *d, const struct mfs_caller *c, struct node *n, bool keep)
{
	char path[64];
	int wfd, r;

	/* Opened as the caller: one who may not write the file must not
	 * get as far as changing it. */
	fd_path(n->fd, path);
	wfd = as_caller(d, c, n->vid);
	if (wfd == 0) {
		wfd = open(path, O_WRONLY | O_CLOEXEC);
		if (wfd < 0)
			wfd = -errno;
	}
	as_daemon(d);
	if (wfd < 0)
		return wfd;
	r = mfs_ref_break(d->st, wfd, keep);
	close(wfd);
	__atomic_add_fetch(&n->unrefs, 1, __ATOMIC_ACQ_REL);
	return r;
}

int handle_truncate(uint64_t fh, off_t size)
{
	struct handle *h = (struct handle *)(uintptr_t)fh;

	switch (h->kind) {
	case H_DRAFT: {
		int r = unref(h, size != 0);

		if (r < 0)
			return r;
		if (h->node)
			node_bytes_changed(h->node);
		return ftruncate(h->fd, size) < 0 ? -errno : 0;
	}
	case H_DOC:
		if ((size_t)size > MFS_META_MAX)
			return -EFBIG;
		if ((size_t)size > h->len) {
			char *p = realloc(h->buf, (size_t)size + 1);

			if (!p)
				return -ENOMEM;
			memset(p + h->len, 0, (size_t)size - h->len);
			h->buf = p;
			h->cap = (size_t)size + 1;
		}
		h->len = (size_t)size;
		h->dirty = true;
		h->wrote = h->wrote || size > 0;
		return 0;
	case H_DISCARD:
		return 0;
	default:
		return -EROFS;
	}
}

/* A reply from h->buf is checked by AddressSanitizer after writev()
 * returns, by which time the reader may have closed the file: RELEASE
 * must not free a buffer a reply still uses. Each reply holds a ref. */
static void handle_put(struct mfsd *d, struct handle *h);

static void handle_free(struct mfsd *d, struct handle *h)
{
	handle_put(d, h);
}

int kcount_add(struct mfsd *d, struct kcount **table, uint64_t key, int delta)
{
	struct kcount **p, *dead = NULL;
	int n = 0;

	pthread_mutex_lock(&d->lock);
	for (p = &table[key % KCOUNT_BUCKETS]; *p && (*p)->key != key; p = &(*p)->next)
		;
	if (!*p && delta > 0) {
		*p = calloc(1, sizeof(**p));
		if (*p)
			(*p)->key = key;
	}
	if (*p) {
		n = (*p)->n += delta;
		if ((*p)->n <= 0) {
			dead = *p;
			*p = dead->next;
		}
	}
	pthread_mutex_unlock(&d->lock);
	free(dead);
	return n < 0 ? 0 : n;
}

bool kcount_has(struct mfsd *d, struct kcount **table, uint64_t key)
{
	struct kcount *k;

	pthread_mutex_lock(&d->lock);
	for (k = table[key % KCOUNT_BUCKETS]; k && k->key != key; k = k->next)
		;
	pthread_mutex_unlock(&d->lock);
	return k != NULL;
}

void kcount_free(struct kcount **table)
{
	for (size_t i = 0; i < KCOUNT_BUCKETS; i++) {
		while (table[i]) {
			struct kcount *k = table[i];

			table[i] = k->next;
			free(k);
		}
	}
}

/* Count process pid in or out of those reading a sealed file. */
static void reader_count(struct mfsd *d, pid_t pid, int delta)
{
	kcount_add(d, d->rpids, (uint64_t)(unsigned)pid, delta);
}

static bool is_reader(struct mfsd *d, pid_t pid)
{
	return kcount_has(d, d->rpids, (uint64_t)(unsigned)pid);
}

void handles_free(struct mfsd *d)
{
	kcount_free(d->rpids);
}

/* A writer of n closed: the last one queues n to be hashed (prehash.h)
 * unless its bytes were hashed as they were written - before the seal
 * can run (it waits for the version's writers, then for the queue). */
static void writer_closed(struct mfsd *d, struct node *n, int64_t size)
{
	uint32_t wgen;
	bool last;

	pthread_mutex_lock(&n->hlock);
	last = --n->wopen == 0 && !n->h_valid;
	wgen = n->wgen;
	pthread_mutex_unlock(&n->hlock);
	if (last)
		prehash_closed(d, n, wgen, size);
}

static void handle_put(struct mfsd *d, struct handle *h)
{
	struct stat sb = { .st_size = -1 };

	if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (h->kind == H_SEALED || h->kind == H_DRAFT)
		pt_put(d->pt, h->ino, h->pt_id);
	if (h->reader)
		reader_count(d, h->reader, -1);
	if (h->svid)
		vopen_count(d, h->svid, -1);
	if (h->kind == H_DRAFT && h->writer && h->fd >= 0) {
		if (fstat(h->fd, &sb) < 0)
			sb.st_size = -1;
		/* Its writer is done: the disk starts on a big file's bytes
		 * now, while cp writes the next file (seal.h). */
		if (sb.st_size >= MFS_SEAL_EARLY_WRITEBACK)
			sync_file_range(h->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
	if (h->fd >= 0)
		close(h->fd);
	if (h->old_fd > 0)
		close(h->old_fd);
	if (h->kind == H_DRAFT && h->writer && h->node)
		writer_closed(d, h->node, h->fd >= 0 ? (int64_t)sb.st_size : -1);
	if (h->writer && h->vid)
		vstate_writer(d, h->vid, -1);
	if (h->node)
		node_open_ref(d, h->node, -1);
	free(h->buf);
	if (h->stream) {
		mfs_stream_close(h->stream);
		vfile_done(d, h->ino);	/* the pages a reading left mapped */
	}
	free(h);
}

static struct handle *handle_new(enum hkind kind, uint64_t ino)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (h) {
		h->kind = kind;
		h->fd = -1;
		h->ino = ino;
		h->refs = 1;
	}
	return h;
}

/* A handle that can only write (cp, rsync, tar, dd destinations) bypasses
 * the FUSE page cache: the bytes are copied once into the draft file
 * instead of also into pages of the FUSE inode nobody will read through
 * this handle. Readers and writers that map the file (numpy.memmap) keep
 * the cache, which shared mmap needs. */
static bool write_only(int flags)
{
	return (flags & O_ACCMODE) == O_WRONLY;
}

static bool wants_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* Open flags for the real draft file: the kernel already decided create,
 * exclusivity and appending; O_DIRECT is served through the cache (its
 * alignment rules are the kernel's business on our side). */
static int backing_flags(int flags)
{
	return (flags & (O_ACCMODE | O_TRUNC | O_SYNC | O_DSYNC | O_NOATIME)) | O_CLOEXEC;
}

static void hash_start(struct node *n, bool from_empty)
{
	pthread_mutex_lock(&n->hlock);
	if (from_empty && !n->h_never) {
		if (!n->h && mfs_hash_new(&n->h) < 0)
			n->h = NULL;
		if (n->h) {
			mfs_hash_reset(n->h);
			n->h_off = 0;
			n->h_valid = true;
		}
	}
	pthread_mutex_unlock(&n->hlock);
}

/* A draft file that is a reference to a blob (an instant copy, ref.h):
 * a reader reads the blob; a writer makes it an ordinary file first, with
 * the blob's bytes unless it empties the file. */
static int open_ref(struct mfsd *d, struct node *n, struct handle *h, int flags)
{
	int r, bfd;

	if (h->writer) {
		r = mfs_ref_break(d->st, h->fd, !(flags & O_TRUNC));
		__atomic_add_fetch(&n->unrefs, 1, __ATOMIC_ACQ_REL);
		return r;
	}
	h->unrefs = __atomic_load_n(&n->unrefs, __ATOMIC_ACQUIRE);
	r = mfs_ref_get(h->fd, &h->dg, &h->dg_size);
	if (r <= 0)
		return r;
	r = mfs_ref_open(d->st, h->fd, &bfd);
	if (r <= 0)
		return r;
	close(h->fd);
	h->fd = bfd;
	h->has_dg = true;
	return 0;
}

/*
 * Passthrough for a draft file too, where the kernel has it: cp, rsync,
 * tar and loaders then write and read the real file at the disk's speed,
 * and the seal hashes it (the inline hash never sees those writes). Two
 * exceptions, both served by the daemon as before:
 *  - a reader of an instant copy: its bytes are the blob's, and a blob
 *    must never back a draft inode a writer could open;
 *  - a writer opened by a process that has a sealed file of this mount
 *    open (cp -r versions/A versions/B): its copy can be instant, which
 *    needs every write after it to pass through the daemon (ref.h).
 * Returns 0 (h->pt_id set) or -errno.
 */
static int draft_passthrough(struct mfsd *d, const struct mfs_caller *c, struct node *n,
			     struct handle *h)
{
	bool may = !h->has_dg && !(h->writer && is_reader(d, c->pid));
	int r = pt_get(d->pt, n->ino, h->fd, may);

	if (r < 0)
		return r;
	h->pt_id = r;
	if (h->has_dg && !h->writer) {
		/* a copy from an instant copy may be instant too */
		h->reader = c->pid;
		reader_count(d, h->reader, 1);
	}
	if (r > 0 && h->writer) {
		pthread_mutex_lock(&n->hlock);
		n->h_never = true;
		node_bytes_changed_locked(n);
		pthread_mutex_unlock(&n->hlock);
	}
	return 0;
}

static int open_draft(struct mfsd *d, const struct mfs_caller *c, struct node *n,
		      int flags, struct handle **ret)
{
	char path[64];
	struct handle *h;
	struct stat sb;
	int r;

	h = handle_new(H_DRAFT, n->ino);
	if (!h)
		return -ENOMEM;
	h->vid = n->vid;
	if (wants_write(flags)) {
		r = vstate_writer(d, n->vid, 1);
		if (r < 0) {
			free(h);
			return mfs_log_errno(r, "refusing to open a draft file for writing while its version is being sealed");
		}
		h->writer = true;
		/* Counted now: if a seal completed since the caller looked,
		 * this inode is a blob and must never be opened for writing. */
		{
			struct mfs_version_info vi;

			if (mfs_version_get(d->st, n->vid, &vi) < 0 || vi.state != MFS_V_DRAFT) {
				vstate_writer(d, n->vid, -1);
				free(h);
				return mfs_log_errno(-EROFS, "refusing to open a file of a sealed version for writing");
			}
		}
	}
	if (h->writer) {
		/* Before the open: O_TRUNC changes its bytes already. */
		pthread_mutex_lock(&n->hlock);
		n->wopen++;
		node_bytes_changed_locked(n);
		pthread_mutex_unlock(&n->hlock);
	}
	fd_path(n->fd, path);
	h->fd = -1;
	r = as_caller(d, c, n->vid);
	if (r == 0) {
		h->fd = open(path, backing_flags(flags));
		r = h->fd < 0 ? -errno : 0;
	}
	as_daemon(d);
	if (h->fd >= 0)
		r = open_ref(d, n, h, flags);
	if (r == 0)
		r = draft_passthrough(d, c, n, h);
	if (r < 0) {
		if (h->fd >= 0)
			close(h->fd);
		if (h->writer) {
			pthread_mutex_lock(&n->hlock);
			n->wopen--;
			pthread_mutex_unlock(&n->hlock);
			vstate_writer(d, n->vid, -1);
		}
		free(h);
		return r;
	}
	node_open_ref(d, n, 1);
	h->node = n;
	h->st = d->st;
	if (h->writer && fstat(h->fd, &sb) == 0 && sb.st_size == 0)
		hash_start(n, true);
	else if (flags & O_TRUNC)
		hash_start(n, true);
	*ret = h;
	return 0;
}

static int open_snapshot(struct mfsd *d, const struct mfs_caller *c, uint64_t ino, int flags,
			 struct handle **ret)
{
	struct handle *h = handle_new(H_SNAP, ino);
	int r;

	if (!h)
		return -ENOMEM;
	if (vfile_writable(d, ino) && wants_write(flags)) {
		h->kind = H_DOC;
		if (ino_kind(ino) == K_VMETA)
			h->vid = ino_id(ino);
		if (flags & O_TRUNC) {
			h->dirty = true;
			*ret = h;
			return 0;
		}
	} else if (wants_write(flags)) {
		char label[512];
		bool sealed = false;

		free(h);
		ino_label(d, ino, label, sizeof(label));
		if (ino_vid(d, ino, &sealed) && sealed)
			return fs_deny(d, c, ino, "version.write", NULL, -EROFS,
				       "refusing to write '%s': the version is sealed", label);
		return mfs_log_errno(-EPERM, "refusing to write '%s': kept by the registry",
				     label);
	}
	if (vfile_is_stream(ino)) {
		/* It grows without end: read by offset, never held whole. */
		uint64_t size = 0;

		h->kind = H_STREAM;
		r = vfile_stream(d, c, ino, &h->stream, &size);
		h->len = (size_t)size;
	} else {
		r = vfile_render(d, c, ino, &h->buf, &h->len);
	}
	if (r < 0) {
		free(h);
		return r;
	}
	h->cap = h->len;
	*ret = h;
	return 0;
}

static int do_open(fuse_req_t req, uint64_t ino, struct fuse_file_info *fi,
		   struct handle **ret)
{
	struct mfsd *d = daemon_of(req);
	enum ino_kind k = ino_kind(ino);
	struct mfs_entry e;
	struct handle *h;
	char label[512];
	int r;

	switch (k) {
	case K_DRAFT: {
		struct node *n = node_find(d, ino);
		bool sealed = false;

		if (!n)
			return -ENOENT;
		if (!ino_vid(d, ino, &sealed))
			return -ENOENT;
		if (sealed && wants_write(fi->flags))
			goto sealed;
		{
			struct mfs_caller c = caller_of(req);

			r = open_draft(d, &c, n, sealed ? O_RDONLY : fi->flags, ret);
		}
		if (r == 0 && !sealed)
			fi->direct_io = write_only(fi->flags);
		return r;
	}
	case K_SENTRY:
		if (wants_write(fi->flags))
			goto sealed;
		r = mfs_entry_get(d->st, ino_id(ino), &e);
		if (r < 0)
			return r;
		{
			struct mfs_caller c = caller_of(req);

			/* Recorded owners and modes still apply once sealed. */
			r = mfs_perm_check(&c, e.uid, e.gid, e.mode, R_OK);
			if (r < 0) {
				ino_label(d, ino, label, sizeof(label));
				return fs_deny(d, &c, ino, "version.read", NULL, r,
					       "refusing uid %u: '%s' is not readable for it (mode %04o)",
					       (unsigned)c.uid, label, (unsigned)(e.mode & 07777));
			}
		}
		h = handle_new(H_SEALED, ino);
		if (!h)
			return -ENOMEM;
		/* gc leaves a version with an open file alone: counted (and
		 * on a shared registry, leased) before the blob is opened, so
		 * gc on another host cannot release it in between. */
		vopen_count(d, e.vid, 1);
		r = mfs_entry_open(d->st, &e, &h->fd);
		if (r < 0) {
			vopen_count(d, e.vid, -1);
			free(h);
			return r;
		}
		h->has_dg = true;
		h->dg = e.digest;
		h->dg_size = e.size;
		/* Where the kernel can read the blob itself, it does
		 * (passthrough.h). Otherwise: the content never changes, so
		 * the kernel keeps its cache across opens, and model files
		 * are read front to back, so a larger read-ahead window on
		 * the blob keeps the disk busy. */
		r = pt_get(d->pt, ino, h->fd, true);
		if (r < 0) {
			vopen_count(d, e.vid, -1);
			close(h->fd);
			free(h);
			return r;
		}
		h->pt_id = r;
		{
			struct mfs_caller c = caller_of(req);

			h->reader = c.pid;
			reader_count(d, h->reader, 1);
		}
		h->svid = e.vid;
		if (!h->pt_id) {
			fi->keep_cache = 1;
			posix_fadvise(h->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		}
		*ret = h;
		return 0;
	case K_DISCARD:
		h = handle_new(H_DISCARD, ino);
		if (!h)
			return -ENOMEM;
		fi->direct_io = 1;
		*ret = h;
		return 0;
	case K_FIXED:
		if (ino != INO_AUDIT && ino != INO_INDEX)
			return -EISDIR;
		/* fallthrough */
	case K_MMETA:
	case K_POLICY:
	case K_HISTORY:
	case K_VMETA:
	case K_VLINEAGE:
		{
			struct mfs_caller c = caller_of(req);

			if (wants_write(fi->flags) && (k == K_MMETA || k == K_POLICY)) {
				r = mfs_model_doc_may_write(d->st, &c, ino_id(ino),
							    k == K_POLICY ? MFS_DOC_POLICY
									  : MFS_DOC_METADATA,
							    false);
				if (r < 0)
					return r;
			}
			r = open_snapshot(d, &c, ino, fi->flags, ret);
		}
		if (r == 0)
			fi->direct_io = 1;
		return r;
	default:
		return -EISDIR;
	}
sealed:
	ino_label(d, ino, label, sizeof(label));
	{
		struct mfs_caller c = caller_of(req);

		return fs_deny(d, &c, ino, "version.write", NULL, -EROFS,
			       "refusing to open '%s' for writing: the version is sealed", label);
	}
}

void file_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mfsd *d = daemon_of(req);
	struct handle *h = NULL;
	int r = do_open(req, ino, fi, &h);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	/* Only a document has work at close(): the kernel skips FLUSH for
	 * the rest (a request fewer per file a cp or a loader opens). */
	fi->noflush = h->kind != H_DOC;
	if (pt_reply_open(req, fi, h->pt_id) == -ENOENT)
		handle_free(d, h);	/* the caller was interrupted */
}

static int do_create(fuse_req_t req, uint64_t parent, const char *name, mode_t mode,
		     struct fuse_file_info *fi, struct fuse_entry_param *e,
		     struct handle **ret)
{
	struct mfsd *d = daemon_of(req);
	struct mfs_caller c = caller_of(req);
	struct mfs_version_info vi;
	struct node *n;
	char label[512];
	uint64_t vid;
	int fd, bfd, r;

	r = view_refuse(d, parent, name, "file");
	if (r < 0)
		return r;
	r = draft_dirfd(d, parent, &vid, &fd);
	if (r == -ENOTDIR || r == -EROFS) {
		ino_label(d, parent, label, sizeof(label));
		if (r == -EROFS)
			return fs_deny(d, &c, parent, "version.write", NULL, -EROFS,
				       "refusing to create '%s' in '%s': the version is sealed",
				       name, label);
		return mfs_log_errno(-EINVAL, "refusing to create file '%s' in '%s': only versions hold files",
				     name, label);
	}
	if (r < 0)
		return r;
	if (ino_kind(parent) == K_VERSION &&
	    (!strcmp(name, "metadata.json") || !strcmp(name, "lineage.json"))) {
		close(fd);
		/* The root metadata.json is the version's metadata (validated
		 * at close); lineage.json is the registry's: accept, discard. */
		if (!strcmp(name, "lineage.json")) {
			*ret = handle_new(H_DISCARD, ino_make(K_DISCARD, vid));
			if (!*ret)
				return -ENOMEM;
			memset(e, 0, sizeof(*e));
			e->ino = ino_make(K_DISCARD, vid);
			attr_get(d, e->ino, &e->attr);
			fi->direct_io = 1;
			return 0;
		}
		r = mfs_version_get(d->st, vid, &vi);
		if (r < 0)
			return r;
		if (vi.has_meta && (fi->flags & O_EXCL))
			return -EEXIST;
		*ret = handle_new(H_DOC, ino_make(K_VMETA, vid));
		if (!*ret)
			return -ENOMEM;
		(*ret)->vid = vid;
		(*ret)->dirty = true;	/* an empty file is not valid metadata */
		memset(e, 0, sizeof(*e));
		e->ino = ino_make(K_VMETA, vid);
		e->attr.st_mode = S_IFREG | 0644;
		e->attr.st_ino = e->ino;
		e->attr.st_nlink = 1;
		fi->direct_io = 1;
		return 0;
	}
	r = vstate_writer(d, vid, 1);
	if (r < 0) {
		close(fd);
		return mfs_log_errno(r, "refusing to create '%s' while its version is being sealed",
				     name);
	}
	/* Counted now: check again that no seal completed meanwhile. */
	if (mfs_version_get(d->st, vid, &vi) == 0 && vi.state != MFS_V_DRAFT) {
		r = mfs_log_errno(-EROFS, "refusing to create '%s': the version is sealed", name);
		goto fail;
	}
	bfd = -1;
	r = as_caller(d, &c, vid);
	if (r == 0) {
		bfd = openat(fd, name, backing_flags(fi->flags) | O_CREAT | O_EXCL | O_NOFOLLOW,
			     mode & 07777);
		if (bfd < 0 && errno == EEXIST && !(fi->flags & O_EXCL))
			bfd = openat(fd, name, backing_flags(fi->flags) | O_NOFOLLOW);
		r = bfd < 0 ? -errno : 0;
	}
	as_daemon(d);
	if (r < 0)
		goto fail;
	r = mfs_version_get(d->st, vid, &vi);
	if (r == 0)
		r = node_draft_get(d, &c, vi.model_id, vid, fd, name, &e->attr, &n);
	if (r < 0) {
		close(bfd);
		goto fail;
	}
	close(fd);
	e->ino = n->ino;
	/* A file made this instant: only this mount changes it (each write
	 * makes the kernel drop its size and times), and no seal can finish
	 * while it is open. cp's fstat of the new file needs no request. */
	e->attr_timeout = 1.0;
	e->entry_timeout = entry_timeout(n->ino);
	*ret = handle_new(H_DRAFT, n->ino);
	if (!*ret) {
		close(bfd);
		node_forget(d, n->ino, 1);
		vstate_writer(d, vid, -1);
		return -ENOMEM;
	}
	(*ret)->fd = bfd;
	(*ret)->vid = vid;
	(*ret)->writer = true;
	r = draft_passthrough(d, &c, n, *ret);
	if (r < 0) {
		close(bfd);
		free(*ret);
		node_forget(d, n->ino, 1);
		vstate_writer(d, vid, -1);
		return r;
	}
	/* Any digest taken before goes (a file that existed, truncated). */
	pthread_mutex_lock(&n->hlock);
	n->wopen++;
	node_bytes_changed_locked(n);
	pthread_mutex_unlock(&n->hlock);
	(*ret)->node = n;
	(*ret)->st = d->st;
	node_open_ref(d, n, 1);
	hash_start(n, e->attr.st_size == 0);
	fi->direct_io = write_only(fi->flags);
	return 0;
fail:
	close(fd);
	vstate_writer(d, vid, -1);
	return r;
}

void file_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		 struct fuse_file_info *fi)
{
	struct mfsd *d = daemon_of(req);
	struct fuse_entry_param e;
	struct handle *h = NULL;
	int r;

	memset(&e, 0, sizeof(e));
	r = do_create(req, parent, name, mode, fi, &e, &h);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->noflush = h->kind != H_DOC;	/* see file_open() */
	if (pt_reply_create(req, &e, fi, h->kind == H_DRAFT ? h->pt_id : 0) < 0) {
		handle_free(d, h);
		if (ino_kind(e.ino) == K_DRAFT)
			node_forget(d, e.ino, 1);
	}
}

/* A reader of an instant copy reads the blob until the file stops being
 * one (written through another descriptor, truncated by path): from then
 * on it reads the file, as a reader of any file sees others' writes. */
static void reread_if_unref(struct handle *h)
{
	char path[64];
	int fd;

	if (!h->has_dg || !h->node ||
	    __atomic_load_n(&h->node->unrefs, __ATOMIC_ACQUIRE) == h->unrefs)
		return;
	pthread_mutex_lock(&h->node->hlock);
	if (h->has_dg && !h->old_fd) {
		fd_path(h->node->fd, path);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			h->old_fd = h->fd;	/* a read in flight may use it */
			__atomic_store_n(&h->fd, fd, __ATOMIC_RELEASE);
			h->has_dg = false;
		}
	}
	pthread_mutex_unlock(&h->node->hlock);
}

void file_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	       struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	struct mfsd *d = daemon_of(req);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	switch (h->kind) {
	case H_DRAFT:
		reread_if_unref(h);
		/* fallthrough */
	case H_SEALED:
		/* An fd-backed buffer: libfuse splices from the file into the
		 * device where it can, without a copy through us. */
		buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		buf.buf[0].fd = h->fd;
		buf.buf[0].pos = off;
		fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
		return;
	case H_STREAM: {
		char *b = malloc(size ? size : 1);
		ssize_t n = b ? mfs_stream_read(d->st, h->stream, (uint64_t)off, b, size)
			      : -ENOMEM;

		if (n < 0)
			fuse_reply_err(req, (int)-n);
		else
			fuse_reply_buf(req, b, (size_t)n);
		free(b);
		return;
	}
	case H_SNAP:
	case H_DOC:
		__atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
		if ((size_t)off >= h->len)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_buf(req, h->buf + off,
				       h->len - (size_t)off < size ? h->len - (size_t)off : size);
		handle_put(d, h);	/* req is gone: d was read before */
		return;
	default:
		fuse_reply_buf(req, NULL, 0);
	}
}

static int write_doc(struct handle *h, struct fuse_bufvec *in, off_t off, size_t *ret)
{
	size_t len = fuse_buf_size(in), end = (size_t)off + len;
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(len);
	ssize_t n;

	if (end > MFS_META_MAX)
		return mfs_log_errno(-EFBIG, "refusing a document larger than %u bytes",
				     MFS_META_MAX);
	if (end + 1 > h->cap) {
		size_t cap = end + 1 > 2 * h->cap ? end + 1 : 2 * h->cap;
		char *p = realloc(h->buf, cap);

		if (!p)
			return -ENOMEM;
		h->buf = p;
		h->cap = cap;
	}
	if ((size_t)off > h->len)
		memset(h->buf + h->len, 0, (size_t)off - h->len);
	out.buf[0].mem = h->buf + off;
	n = fuse_buf_copy(&out, in, 0);
	if (n < 0)
		return (int)n;
	if (end > h->len)
		h->len = end;
	h->dirty = true;
	h->wrote = true;
	*ret = (size_t)n;
	return 0;
}

static int write_draft(struct mfsd *d, struct handle *h, struct fuse_bufvec *in,
		       off_t off, size_t *ret)
{
	size_t len = fuse_buf_size(in);
	struct node *n = h->node;
	ssize_t w;
	int r = unref(h, true);

	if (r < 0)
		return r;
	/* In-order writes from offset 0 are hashed as they pass, so the seal
	 * need not read the file again. Anything else drops the inline hash. */
	if (in->count == 1 && !(in->buf[0].flags & FUSE_BUF_IS_FD)) {
		w = pwrite(h->fd, in->buf[0].mem, len, off);
		if (w < 0)
			return -errno;
		if (n) {
			pthread_mutex_lock(&n->hlock);
			if (n->h_valid && n->h && (uint64_t)off == n->h_off) {
				mfs_hash_update(n->h, in->buf[0].mem, (size_t)w);
				n->h_off += (uint64_t)w;
			} else {
				node_bytes_changed_locked(n);
			}
			pthread_mutex_unlock(&n->hlock);
		}
	} else {
		struct fuse_bufvec out = FUSE_BUFVEC_INIT(len);

		out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		out.buf[0].fd = h->fd;
		out.buf[0].pos = off;
		w = fuse_buf_copy(&out, in, 0);
		if (w < 0)
			return (int)w;
		if (n)
			node_bytes_changed(n);
	}
	vstate_touch(d, h->vid);
	*ret = (size_t)w;
	return 0;
}

void file_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	size_t n = 0;
	int r;

	switch (h->kind) {
	case H_DRAFT:
		r = h->writer ? write_draft(daemon_of(req), h, in, off, &n) : -EBADF;
		break;
	case H_DOC:
		r = write_doc(h, in, off, &n);
		break;
	case H_DISCARD:
		n = fuse_buf_size(in);
		r = 0;
		break;
	default:
		r = -EBADF;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, n);
}

void file_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	struct mfs_caller c = caller_of(req);
	int r = 0;

	/* close() reports a bad document: the previous one stays. Not at a
	 * close that comes before any write: `echo '{...}' > metadata.json`
	 * in a shell opens, dup2()s the file onto its stdout and closes the
	 * first descriptor at once; the document is the one there at the
	 * close after the writes (or, nothing written, at the last). */
	if (h->kind == H_DOC && h->dirty && (h->wrote || h->len)) {
		r = vfile_store(daemon_of(req), &c, h->ino, h->buf ? h->buf : "", h->len);
		if (r == 0)
			h->dirty = false;
	}
	fuse_reply_err(req, -r);
}

void file_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);

	/* Emptied and never written (`: > policy.json`): refused here, in
	 * the log, as no close() could report it. */
	if (h->kind == H_DOC && h->dirty && !h->wrote && !h->len) {
		struct mfs_caller c = caller_of(req);

		vfile_store(daemon_of(req), &c, h->ino, "", 0);
	}
	handle_free(daemon_of(req), h);
	fuse_reply_err(req, 0);
}

void file_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	int r = 0;

	if (h->kind == H_DRAFT && h->writer)
		r = (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0 ? -errno : 0;
	fuse_reply_err(req, -r);
}

void file_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		    struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	int r;

	if (h->kind != H_DRAFT || !h->writer) {
		fuse_reply_err(req, h->kind == H_SEALED ? EROFS : EBADF);
		return;
	}
	r = -unref(h, true);
	if (!r)
		r = fallocate(h->fd, mode, off, len) < 0 ? errno : 0;
	if (h->node && !r && (mode & ~FALLOC_FL_KEEP_SIZE))
		node_bytes_changed(h->node);
	fuse_reply_err(req, r);
}

void file_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		struct fuse_file_info *fi)
{
	struct handle *h = fh_of(fi);
	off_t r;

	if (h->kind == H_DRAFT)
		reread_if_unref(h);
	if (h->fd < 0) {
		/* A snapshot has no holes: data up to its end. */
		off_t len = (off_t)h->len;

		if (off < 0 || (whence != SEEK_SET && whence != SEEK_CUR && off >= len &&
				(whence == SEEK_DATA || whence == SEEK_HOLE)))
			fuse_reply_err(req, ENXIO);
		else
			fuse_reply_lseek(req, whence == SEEK_HOLE ? len : off);
		return;
	}
	r = lseek(h->fd, off, whence);
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

/* A whole sealed file (or reference) copied into an empty draft file that
 * nobody else has open (cp, cp -r of a version): make it a reference to
 * the blob, no byte copied. Returns 1 if done, 0 if this copy is not
 * one (copy the bytes), or -errno. */
static int instant_copy(struct mfsd *d, struct handle *in, off_t off_in,
			struct handle *out, off_t off_out, size_t len, int flags)
{
	struct stat sb;
	bool alone;
	int r;

	if (!in->has_dg || out->pt_id || off_in != 0 || off_out != 0 || flags ||
	    len < in->dg_size ||
	    in->dg_size == 0 || !out->node || fstat(out->fd, &sb) < 0 || sb.st_size != 0)
		return 0;
	pthread_mutex_lock(&d->lock);
	alone = out->node->nopen == 1;
	pthread_mutex_unlock(&d->lock);
	if (!alone)
		return 0;
	pthread_mutex_lock(&out->node->hlock);
	r = mfs_ref_make(d->st, out->fd, &in->dg, in->dg_size);
	if (r == 0) {
		node_bytes_changed_locked(out->node);
		__atomic_store_n(&out->ref, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&out->node->hlock);
	if (r == -EOPNOTSUPP || r == -ENOTEMPTY || r == -EACCES || r == -EPERM)
		return 0;	/* copy the bytes instead */
	if (r < 0)
		return r;
	vstate_touch(d, out->vid);
	return 1;
}

void file_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			  struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			  off_t off_out, struct fuse_file_info *fi_out, size_t len,
			  int flags)
{
	struct handle *in = fh_of(fi_in), *out = fh_of(fi_out);
	loff_t a = off_in, b = off_out;
	ssize_t n;
	int r;

	if (in->kind == H_DRAFT)
		reread_if_unref(in);
	if (out->kind != H_DRAFT || !out->writer || in->fd < 0) {
		/* From a virtual file: EINVAL, so cp reads it with read()
		 * to its end. With EXDEV the kernel would splice only up to
		 * the size it last saw, and a document can grow between
		 * cp's stat and its open (a sealed version's metadata.json
		 * gains its files' SHA-256 after the seal). */
		fuse_reply_err(req, out->kind == H_SEALED ? EROFS : in->fd < 0 ? EINVAL : EXDEV);
		return;
	}
	r = instant_copy(daemon_of(req), in, off_in, out, off_out, len, flags);
	if (r > 0) {
		fuse_reply_write(req, in->dg_size);
		return;
	}
	if (r == 0 && __atomic_load_n(&out->ref, __ATOMIC_ACQUIRE)) {
		struct stat sb;

		/* cp's next call, at the end of the file: nothing to copy,
		 * and no reason to give up the reference. */
		if (fstat(in->fd, &sb) == 0 && off_in >= sb.st_size) {
			fuse_reply_write(req, 0);
			return;
		}
		r = unref(out, true);
	}
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	/* Same filesystem underneath: the kernel may reflink or copy in
	 * kernel space; either way no byte passes through the daemon. */
	n = copy_file_range(in->fd, &a, out->fd, &b, len, 0);
	if (n < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if (out->node)
		node_bytes_changed(out->node);
	vstate_touch(daemon_of(req), out->vid);
	fuse_reply_write(req, (size_t)n);
}
