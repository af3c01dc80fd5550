/* seal.c - the seal: a draft becomes an immutable, content-addressed version */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "objects.h"
#include "blob.h"
#include "log.h"
#include "seal.h"
#include "sys.h"
#include "version.h"
#include "format.h"
#include "ref.h"

/*
 * The ladder (DESIGN §2, STYLE A7), in order, with why:
 *  1. fsync each draft file: its bytes must be on disk before any name
 *     (blob or LMDB record) claims them.
 *  2. journal the blob names this seal will create, in LMDB: after a crash
 *     the next start removes exactly those that nothing references.
 *  3. linkat each draft file to blobs/ab/HASH: no copy, same inode.
 *  4. fsync each blobs/ab/ touched: the new names must be durable before
 *     the version that needs them is.
 *  5. one LMDB commit of the version, which re-checks that every reused
 *     blob still exists (gc may have run) and clears the journal.
 *  6. only then drop the draft's names.
 * A failure at any step unlinks the blob names this seal created and that
 * nothing references, and leaves the draft as it was.
 */

int store_rm_tree(int dirfd, const char *name);

struct item {
	char *path;		/* relative to the draft root */
	uint32_t parent;	/* index of the parent dir item, UINT32_MAX: root */
	struct stat sb;
	char *target;		/* symlinks */
	struct mfs_digest d;
	unsigned format;	/* enum mfs_format */
	bool created;		/* this seal created the blob name */
	bool ref;		/* a reference to an existing blob (ref.h) */
	uint64_t eid;
};

struct seal {
	struct mfs_store *st;
	int root;		/* draft root fd */
	struct item *it;
	size_t n, cap;
	mfs_seal_hint_fn hint;
	void *hint_ctx;
	uint64_t vid;
	const char *label;	/* model@version for log lines */
	size_t hashed;		/* files it read to hash (no hint) */
};

static int push(struct seal *s, const char *path, uint32_t parent,
		const struct stat *sb)
{
	struct item *it;

	if (s->n == s->cap) {
		void *p = realloc(s->it, (s->cap = s->cap ? 2 * s->cap : 64) * sizeof(*s->it));

		if (!p)
			return -ENOMEM;
		s->it = p;
	}
	it = &s->it[s->n];
	memset(it, 0, sizeof(*it));
	it->path = strdup(path);
	if (!it->path)
		return -ENOMEM;
	it->parent = parent;
	it->sb = *sb;
	s->n++;
	return 0;
}

/* The format, from the first bytes (never the name). */
static unsigned sniff(int fd, uint64_t size)
{
	uint8_t *head = malloc(MFS_FORMAT_PROBE);
	ssize_t got = head ? pread(fd, head, MFS_FORMAT_PROBE, 0) : -1;
	unsigned f = got >= 0 ? mfs_format_detect(head, (size_t)got, size) : MFS_FMT_UNKNOWN;

	free(head);
	return f;
}

static int ref_gone(struct seal *s, struct item *it)
{
	char rel[40];

	mfs_blob_relpath(&it->d, rel);
	return mfs_log_errno(-EIO, "seal of '%s': blob '%s', which '%s' was copied from, is gone; copy the file again",
			     s->label, rel, it->path);
}

/* Step 1, first pass, for one file: hash (or take the daemon's inline
 * digest) and start its writeback, so the fsyncs of the second pass find
 * the data on its way and one journal commit covers many files. */
static int hash_and_start(struct seal *s, struct item *it)
{
	int fd, r = 0;
	uint64_t size;

	fd = openat(s->root, it->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return mfs_log_errno(-errno, "seal of '%s': open '%s': %s", s->label,
				     it->path, strerror(errno));
	{
		struct stat now;

		/* The name must still be the file the walk saw. */
		if (fstat(fd, &now) < 0 || now.st_ino != it->sb.st_ino ||
		    now.st_size != it->sb.st_size) {
			r = mfs_log_errno(-EBUSY, "seal of '%s': '%s' changed while it was sealed",
					  s->label, it->path);
			goto out;
		}
	}
	{
		uint64_t rsize;

		/* An instant copy: its digest is its blob's, nothing to read,
		 * sync or link; the blob's first bytes tell the format. */
		r = mfs_ref_get(fd, &it->d, &rsize);
		if (r == 1) {
			int bfd;

			it->ref = true;
			r = mfs_blob_open(s->st, &it->d, &bfd);
			if (r == 0) {
				it->format = sniff(bfd, (uint64_t)it->sb.st_size);
				close(bfd);
			} else {
				r = ref_gone(s, it);
			}
			goto out;
		}
		if (r < 0) {
			r = mfs_log_errno(r, "seal of '%s': reading '%s': %s", s->label,
					  it->path, strerror(-r));
			goto out;
		}
	}
	if (s->hint && s->hint(s->hint_ctx, it->sb.st_ino, (uint64_t)it->sb.st_size,
			       (int64_t)it->sb.st_mtim.tv_sec * 1000000000 +
				       it->sb.st_mtim.tv_nsec, &it->d) == 0) {
		/* the daemon hashed it already */
	} else {
		s->hashed++;
		r = mfs_hash_fd(fd, &it->d, &size);
		if (r < 0) {
			r = mfs_log_errno(r, "seal of '%s': read '%s': %s", s->label,
					  it->path, strerror(-r));
			goto out;
		}
		if (size != (uint64_t)it->sb.st_size) {
			r = mfs_log_errno(-EBUSY, "seal of '%s': '%s' changed while it was sealed",
					  s->label, it->path);
			goto out;
		}
	}
	it->format = sniff(fd, (uint64_t)it->sb.st_size);
	if (it->sb.st_size >= MFS_SEAL_EARLY_WRITEBACK)
		sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
out:
	close(fd);
	return r;
}

/* Step 1, second pass: fsync. Its bytes must be on disk before any name
 * (blob or LMDB record) claims them. */
static int sync_one(struct seal *s, struct item *it)
{
	int fd, r = 0;

	if (it->ref)
		return 0;	/* no bytes of its own */
	fd = openat(s->root, it->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return mfs_log_errno(-errno, "seal of '%s': open '%s': %s", s->label,
				     it->path, strerror(errno));
	if (mfs_sys->fsync(fd) < 0)
		r = mfs_log_errno(-errno, "fsync '%s' of '%s': %s", it->path, s->label,
				  strerror(errno));
	close(fd);
	return r;
}

static int walk(struct seal *s, const char *dir, uint32_t parent)
{
	int fd = dir[0] ? openat(s->root, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			: openat(s->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t nn = 0, cap = 0;
	int r = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (nn == cap) {
			void *p = realloc(names, (cap = cap ? 2 * cap : 32) * sizeof(*names));

			if (!p) {
				r = -ENOMEM;
				break;
			}
			names = p;
		}
		names[nn] = strdup(de->d_name);
		if (!names[nn]) {
			r = -ENOMEM;
			break;
		}
		nn++;
	}
	for (size_t i = 0; i < nn && r == 0; i++) {
		char path[4096];
		struct stat sb;
		uint32_t me;

		snprintf(path, sizeof(path), "%s%s%s", dir, dir[0] ? "/" : "", names[i]);
		if (fstatat(dirfd(d), names[i], &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		if (!S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode) && !S_ISLNK(sb.st_mode))
			continue;	/* fs/ never lets one in; be safe */
		me = (uint32_t)s->n;
		r = push(s, path, parent, &sb);
		if (r < 0)
			break;
		if (S_ISLNK(sb.st_mode)) {
			char t[4096];
			ssize_t l = readlinkat(dirfd(d), names[i], t, sizeof(t) - 1);

			if (l < 0) {
				r = -errno;
				break;
			}
			t[l] = '\0';
			s->it[me].target = strdup(t);
			if (!s->it[me].target)
				r = -ENOMEM;
		} else if (S_ISDIR(sb.st_mode)) {
			r = walk(s, path, me);
		}
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

/* Step 2: journal the names this seal may create, each with its owner.
 * A name another live seal has journalled (and not yet committed) is not
 * ours to reuse: its bytes may not be durable and its inode is still that
 * seal's draft file. Returns -EAGAIN then, so the caller waits. */
static int journal(struct seal *s, uint64_t vid)
{
	struct kv_txn *txn;
	uint8_t owner[16];
	struct kv_val ov = { sizeof(owner), owner };
	int r;

	r = store_txn_begin(s->st, true, &txn);
	if (r < 0)
		return r;
	store_note(txn, MFS_CHANGE_NO_DOCS, 0, 0, NULL);	/* the journal only */
	/* The owner: this version, on this host (whose start-up, or gc
	 * once the host is gone, clears what a crash left). */
	put_be64(owner, vid);
	put_be64(owner + 8, s->st->host);
	for (size_t i = 0; i < s->n && r == 0; i++) {
		struct kv_val dk = { 16, s->it[i].d.b }, v;

		if (!S_ISREG(s->it[i].sb.st_mode) || s->it[i].ref)
			continue;	/* a reference creates no name */
		if (kv_get(txn, DB_BLOBS, &dk, &v) == 0) {
			struct rec_blob rb;

			rec_get(&rb, sizeof(rb), &v);
			if (rb.refs)
				continue;	/* referenced: never ours to remove */
			/* A record at 0 is gc's to sweep: journalled, it
			 * keeps the blob until this seal commits or gives
			 * up (gc skips journalled blobs). */
		}
		/* A host that is gone holds it no more (its seal is not
		 * running): ours to take over. */
		if (kv_get(txn, DB_JOURNAL, &dk, &v) == 0 && v.len >= 8 &&
		    get_be64(v.data) != vid &&
		    (v.len < 16 || store_host_alive(s->st, txn, get_be64((uint8_t *)v.data + 8)))) {
			r = -EAGAIN;
			break;
		}
		r = kv_put(txn, DB_JOURNAL, &dk, &ov, 0);
	}
	if (r < 0) {
		kv_txn_abort(txn);
		return r;
	}
	return store_txn_commit(txn);
}

/* Delete the journal entries this seal owns (inside txn). */
static void unjournal(struct seal *s, struct kv_txn *txn, uint64_t vid)
{
	for (size_t i = 0; i < s->n; i++) {
		struct kv_val dk = { 16, s->it[i].d.b }, v;

		if (S_ISREG(s->it[i].sb.st_mode) &&
		    kv_get(txn, DB_JOURNAL, &dk, &v) == 0 && v.len >= 8 &&
		    get_be64(v.data) == vid)
			kv_del(txn, DB_JOURNAL, &dk);
	}
}

static int put_entry(struct seal *s, struct kv_txn *txn, uint64_t vid, struct item *it)
{
	struct rec_entry re = { 0 };
	const char *name = strrchr(it->path, '/');
	size_t nl, tl = it->target ? strlen(it->target) : 0;
	uint8_t *buf;
	struct key k, dk;
	struct kv_val v, idv;
	int r;

	name = name ? name + 1 : it->path;
	nl = strlen(name);
	r = store_next_id(s->st, txn, &it->eid);
	if (r < 0)
		return r;
	re.id = it->eid;
	re.vid = vid;
	re.parent = it->parent == UINT32_MAX ? 0 : s->it[it->parent].eid;
	re.mode = it->sb.st_mode;
	re.uid = it->sb.st_uid;
	re.gid = it->sb.st_gid;
	re.nlink = 1;
	re.size = S_ISREG(it->sb.st_mode) ? (uint64_t)it->sb.st_size : S_ISLNK(it->sb.st_mode) ? tl : 0;
	re.mtime_ns = (int64_t)it->sb.st_mtim.tv_sec * 1000000000 + it->sb.st_mtim.tv_nsec;
	memcpy(re.digest, it->d.b, 16);
	re.format = it->format;
	re.name_len = (uint16_t)nl;
	re.target_len = (uint16_t)tl;
	buf = malloc(sizeof(re) + nl + tl);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &re, sizeof(re));
	memcpy(buf + sizeof(re), name, nl);
	if (tl)
		memcpy(buf + sizeof(re) + nl, it->target, tl);
	key_id(&k, re.id);
	v.data = buf;
	v.len = sizeof(re) + nl + tl;
	r = kv_put(txn, DB_ENTRIES, &k.v, &v, 0);
	free(buf);
	if (r < 0)
		return r;
	key_id_id_name(&dk, vid, re.parent, name);
	idv.data = k.b;
	idv.len = 8;
	return kv_put(txn, DB_DIRENTS, &dk.v, &idv, 0);
}

/* Step 3 for one file: link it under its digest. A name we create must be
 * the very inode we hashed (a rename in the draft could have swapped it);
 * a name that exists but no version references (a crash's cruft) is
 * re-hashed before we trust it, and replaced if it lies. */
static int link_one(struct seal *s, struct item *it)
{
	struct stat b;
	char rel[40];
	struct kv_txn *txn;
	struct kv_val dk = { 16, it->d.b }, v;
	bool referenced = false, created = false;
	int r;

	if (it->ref) {
		uint64_t size = 0;

		r = mfs_blob_has(s->st, &it->d, &size);
		if (r < 0)
			return r;
		return r == 1 && size == (uint64_t)it->sb.st_size ? 0 : ref_gone(s, it);
	}
	r = mfs_blob_link(s->st, s->root, it->path, &it->d, &it->sb, &created);
	if (r == -EBUSY)
		return mfs_log_errno(-EBUSY, "seal of '%s': '%s' changed while it was sealed",
				     s->label, it->path);
	if (r < 0)
		return r;
	it->created = it->created || created;
	if (created)
		return 0;
	mfs_blob_relpath(&it->d, rel);
	if (fstatat(s->st->blobs_fd, rel, &b, 0) < 0)
		return -errno;
	if (b.st_ino == it->sb.st_ino && b.st_dev == it->sb.st_dev)
		return 0;	/* a hard link within this draft, linked just now */
	if (store_txn_begin(s->st, false, &txn) == 0) {
		referenced = kv_get(txn, DB_BLOBS, &dk, &v) == 0;
		kv_txn_abort(txn);
	}
	if (referenced)
		return 0;
	r = mfs_blob_verify(s->st, &it->d);
	if (r != -EBADMSG)
		return r;
	mfs_log(MFS_LOG_WARN, "blob '%s' did not match its digest; replacing it with the content of '%s'",
		rel, it->path);
	r = mfs_blob_unlink(s->st, &it->d);
	if (r < 0)
		return r;
	r = mfs_blob_link(s->st, s->root, it->path, &it->d, &it->sb, &created);
	it->created = it->created || created;
	return r;
}

/* Step 5: the version, its entries and blob references in one commit. */
static int commit(struct seal *s, const struct mfs_caller *c, uint64_t vid,
		  const char *model)
{
	struct kv_txn *txn = NULL;
	struct rec_version rv;
	char name[MFS_NAME_MAX + 1];
	uint64_t total = 0, nfiles = 0;
	struct stat rootsb;
	cJSON *f;
	int r;

	r = store_txn_begin(s->st, true, &txn);
	if (r < 0)
		return r;
	r = store_get_version(s->st, txn, vid, &rv, name, sizeof(name));
	if (r < 0)
		goto out;
	if (rv.state != MFS_V_DRAFT) {
		r = -ESTALE;
		goto out;
	}
	for (size_t i = 0; i < s->n && r == 0; i++) {
		struct item *it = &s->it[i];
		struct kv_val dk = { 16, it->d.b }, v;
		struct rec_blob rb = { 0, 0 };

		r = put_entry(s, txn, vid, it);
		if (r < 0 || !S_ISREG(it->sb.st_mode))
			continue;
		nfiles++;
		total += (uint64_t)it->sb.st_size;
		if (kv_get(txn, DB_BLOBS, &dk, &v) == 0)
			rec_get(&rb, sizeof(rb), &v);
		if (rb.refs == 0 || !it->created) {
			/* gc removes a blob only in a write txn after seeing refs
			 * 0; we are in one now, so what we see is the truth. */
			int has = mfs_blob_has(s->st, &it->d, NULL);

			if (has == 0 && it->ref) {
				r = ref_gone(s, it);
			} else if (has == 0) {
				bool created;

				r = mfs_blob_link(s->st, s->root, it->path, &it->d,
						  &it->sb, &created);
				if (r == 0)
					r = mfs_blob_sync_dirs(s->st, &it->d, 1);
				it->created = it->created || created;
			} else if (has < 0) {
				r = has;
			}
			if (r < 0)
				break;
		}
		rb.refs++;
		rb.size = (uint64_t)it->sb.st_size;
		v.data = &rb;
		v.len = sizeof(rb);
		r = kv_put(txn, DB_BLOBS, &dk, &v, 0);
		/* Its SHA-256, owed in this txn so a crash cannot forget it;
		 * paid after the commit (sha256.h), never waited for. */
		if (r == 0)
			r = store_sha256_enqueue(s->st, txn, it->d.b);
	}
	if (r < 0)
		goto out;
	unjournal(s, txn, vid);
	if (fstat(s->root, &rootsb) == 0) {
		rv.mode = rootsb.st_mode;
		rv.gid = rootsb.st_gid;
		rv.mtime_ns = (int64_t)rootsb.st_mtim.tv_sec * 1000000000 +
			      rootsb.st_mtim.tv_nsec;
	}
	r = store_link_parents(s->st, txn, vid);
	if (r < 0)
		goto out;
	rv.state = MFS_V_SEALED;
	rv.sealed_ns = mfs_now_ns();
	rv.sealed_uid = c->uid;
	rv.size = total;
	rv.nfiles = nfiles;
	r = store_put_version(s->st, txn, &rv, name);
	if (r == 0)
		r = store_note(txn, MFS_CHANGE_VERSION, rv.model_id, vid, name);
	if (r == 0)
		r = store_note(txn, MFS_CHANGE_DOCS, rv.model_id, vid, NULL);
	if (r < 0)
		goto out;
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "model", model);
	cJSON_AddStringToObject(f, "version", name);
	cJSON_AddNumberToObject(f, "size", (double)total);
	cJSON_AddNumberToObject(f, "files", (double)nfiles);
	r = s->st->rules->record(s->st, txn, c, "version.seal", f);
	if (r < 0)
		goto out;
	r = store_txn_commit(txn);
	txn = NULL;
out:
	if (txn)
		kv_txn_abort(txn);
	return r;
}

/* A failed seal: inside one write txn (so no concurrent seal can commit a
 * reference in between), unlink the names it created that no version
 * references, and clear its journal entries. */
static void abandon(struct seal *s)
{
	struct kv_txn *txn;

	if (store_txn_begin(s->st, true, &txn) < 0)
		return;
	store_note(txn, MFS_CHANGE_NO_DOCS, 0, 0, NULL);	/* the journal only */
	for (size_t i = 0; i < s->n; i++) {
		struct kv_val dk = { 16, s->it[i].d.b }, v;

		if (!S_ISREG(s->it[i].sb.st_mode))
			continue;
		/* Only a name still journalled as this seal's: a seal of
		 * another host may have taken the entry over (seal.c
		 * journal()) and rely on the name now. */
		if (s->it[i].created &&
		    kv_get(txn, DB_BLOBS, &dk, &v) == KV_NOTFOUND &&
		    kv_get(txn, DB_JOURNAL, &dk, &v) == 0 && v.len >= 8 &&
		    get_be64(v.data) == s->vid)
			mfs_blob_unlink(s->st, &s->it[i].d);
	}
	unjournal(s, txn, s->vid);
	if (store_txn_commit(txn) < 0)
		mfs_log(MFS_LOG_WARN, "seal of '%s' failed and its journal could not be cleared; the next start will",
			s->label);
}

static int claim(struct mfs_store *st, uint64_t vid, bool take)
{
	int r = -EBUSY;

	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < sizeof(st->sealing) / sizeof(st->sealing[0]); i++) {
		if (take && st->sealing[i] == vid)
			break;
		if (!take && st->sealing[i] == vid) {
			st->sealing[i] = 0;
			r = 0;
			break;
		}
	}
	if (take && r == -EBUSY) {
		bool dup = false;

		for (size_t i = 0; i < sizeof(st->sealing) / sizeof(st->sealing[0]); i++)
			dup = dup || st->sealing[i] == vid;
		for (size_t i = 0; !dup && i < sizeof(st->sealing) / sizeof(st->sealing[0]); i++) {
			if (st->sealing[i] == 0) {
				st->sealing[i] = vid;
				r = 0;
				break;
			}
		}
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

int mfs_seal_version(struct mfs_store *st, const struct mfs_caller *c,
		     uint64_t vid, mfs_seal_hint_fn hint, void *hint_ctx)
{
	struct seal s = { .st = st, .root = -1, .hint = hint, .hint_ctx = hint_ctx,
			  .vid = vid };
	struct mfs_version_info vi;
	char model[MFS_NAME_MAX + 1], label[600], dname[24];
	struct rec_model rm;
	struct kv_txn *txn;
	size_t nfiles = 0;
	bool claimed = false, journalled = false;
	int r;

	r = mfs_version_get(st, vid, &vi);
	if (r < 0)
		return r;
	if (vi.state == MFS_V_SEALED)
		return 0;
	if (vi.state != MFS_V_DRAFT)
		return -ENOENT;
	if (vi.host && vi.host != st->host)
		return mfs_log_errno(-ENOENT, "cannot seal version '%s': it is a draft on another host (%016llx), whose files are there; seal it there",
				     vi.name, (unsigned long long)vi.host);
	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = store_get_model(st, txn, vi.model_id, &rm, model, sizeof(model));
	kv_txn_abort(txn);
	if (r < 0)
		return r;
	snprintf(label, sizeof(label), "%s@%s", model, vi.name);
	s.label = label;
	if (c && c->uid != 0 && c->uid != vi.uid) {
		r = store_model_writable(st, c, &rm, model);
		if (r < 0)
			return st->rules->denied(st, c, r, 0, "version.seal", model, vi.name, NULL);
	}
	r = claim(st, vid, true);
	if (r < 0)
		return mfs_log_errno(r, "seal of '%s' is already running", label);
	claimed = true;
	r = mfs_version_check_parents(st, vid);
	if (r < 0)
		goto out;
	r = st->rules->seal(st, vid);
	if (r < 0) {
		r = st->rules->denied(st, c, r, 0, "version.seal", model, vi.name, NULL);
		goto out;
	}
	r = mfs_version_draft_open(st, vid, O_RDONLY, &s.root);
	if (r < 0)
		goto out;
	r = walk(&s, "", UINT32_MAX);
	if (r < 0) {
		r = mfs_log_errno(r, "seal of '%s': reading the draft: %s", label,
				  strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < s.n; i++)
		nfiles += S_ISREG(s.it[i].sb.st_mode) || S_ISLNK(s.it[i].sb.st_mode);
	/* Renames inside the draft can carry a relative link out of the
	 * version: check every link where it now stands. */
	for (size_t i = 0; i < s.n; i++) {
		char dir[4096];
		const char *slash;

		if (!S_ISLNK(s.it[i].sb.st_mode))
			continue;
		slash = strrchr(s.it[i].path, '/');
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - s.it[i].path) : 0,
			 s.it[i].path);
		if (!mfs_version_link_inside(s.root, dir, s.it[i].target)) {
			r = mfs_log_errno(-EINVAL, "refusing to seal '%s': symlink '%s' -> '%s' leaves the version; copy the files it points to (cp -rL, rsync -L)",
					  label, s.it[i].path, s.it[i].target);
			goto out;
		}
	}
	if (nfiles == 0) {
		r = mfs_log_errno(-EINVAL, "refusing to seal '%s': the draft holds no file",
				  label);
		goto out;
	}
	/* 1. */
	for (size_t i = 0; i < s.n && r == 0; i++)
		if (S_ISREG(s.it[i].sb.st_mode))
			r = hash_and_start(&s, &s.it[i]);
	{
		size_t own = 0;

		for (size_t i = 0; i < s.n; i++)
			own += S_ISREG(s.it[i].sb.st_mode) && !s.it[i].ref;
		/* Many files: one syncfs() of the drafts' filesystem (its
		 * writeback was started above) instead of a journal commit
		 * per file; if it fails, each file is fsynced and reports. */
		if (own <= STORE_SYNCFS_MIN || !mfs_sys->syncfs || mfs_sys->syncfs(s.root) < 0)
			for (size_t i = 0; i < s.n && r == 0; i++)
				if (S_ISREG(s.it[i].sb.st_mode))
					r = sync_one(&s, &s.it[i]);
	}
	if (r < 0)
		goto out;
	/* 2. Another seal storing the same content right now: wait for it to
	 * commit or give up (its names then become ours to make). */
	for (int tries = 0; (r = journal(&s, vid)) == -EAGAIN && tries < 200; tries++)
		usleep(25000);
	if (r == -EAGAIN)
		r = mfs_log_errno(-EBUSY, "seal of '%s': another seal holds the same content; retry",
				  label);
	else if (r < 0)
		mfs_log_errno(r, "seal of '%s' could not start: %s; the draft is as it was",
			      label, strerror(-r));
	if (r < 0)
		goto out;
	journalled = true;
	/* 3. */
	for (size_t i = 0; i < s.n && r == 0; i++)
		if (S_ISREG(s.it[i].sb.st_mode))
			r = link_one(&s, &s.it[i]);
	if (r < 0)
		goto out;
	/* 4. */
	{
		struct mfs_digest *ds = malloc((s.n ? s.n : 1) * sizeof(*ds));
		size_t k = 0;

		if (!ds) {
			r = -ENOMEM;
			goto out;
		}
		/* Every name the version will rely on, not only those we made:
		 * one a crash left behind may not be durable yet. A directory
		 * with nothing new to write costs little to fsync. */
		for (size_t i = 0; i < s.n; i++)
			if (S_ISREG(s.it[i].sb.st_mode))
				ds[k++] = s.it[i].d;
		r = mfs_blob_sync_dirs(st, ds, k);
		free(ds);
		if (r < 0)
			goto out;
	}
	/* 5. */
	r = commit(&s, c, vid, model);
	if (r == KV_IN_DOUBT) {
		/* abandon() unlinks only what no version references: the
		 * database says which, once it answers */
		mfs_log_errno(r, "seal of '%s' is in doubt: the database could not say whether it was recorded; the version reads as the database says once it is back",
			      label);
		goto out;
	}
	if (r < 0) {
		mfs_log_errno(r, "seal of '%s' could not be recorded: %s; the draft is as it was",
			      label, strerror(-r));
		goto out;
	}
	journalled = false;
	store_sha256_kick(st);
	/* 6. Blobs are read-only from now on; then the draft's names go. */
	for (size_t i = 0; i < s.n; i++) {
		if (s.it[i].created) {
			char rel[40];

			mfs_blob_relpath(&s.it[i].d, rel);
			/* Committed already: a blob left writable (its
			 * bytes are still checked by fsck) is a warning,
			 * not a failed seal. */
			if (fchmodat(st->blobs_fd, rel, 0444, 0) < 0)
				mfs_log(MFS_LOG_WARN, "seal of '%s': chmod 0444 of blob '%s': %s",
					s.label, rel, strerror(errno));
		}
	}
	close(s.root);
	s.root = -1;
	snprintf(dname, sizeof(dname), "%llu", (unsigned long long)vid);
	if (store_rm_tree(st->drafts_fd, dname) < 0)
		mfs_log(MFS_LOG_WARN, "sealed '%s' but could not remove its draft directory; the next start will",
			label);
	mfs_log(MFS_LOG_INFO, "sealed '%s': %zu files (%zu read again to hash)", label, nfiles,
		s.hashed);
out:
	if (r < 0 && journalled) {
		/* Unlink what this seal created and nothing references; the
		 * draft still has its own names for the same inodes. */
		abandon(&s);
	}
	if (s.root >= 0)
		close(s.root);
	for (size_t i = 0; i < s.n; i++) {
		free(s.it[i].path);
		free(s.it[i].target);
	}
	free(s.it);
	if (claimed)
		claim(st, vid, false);
	return r;
}
