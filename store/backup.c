/* backup.c - consistent copies of a live store (see backup.h) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objects.h"
#include "backup.h"
#include "blob.h"
#include "progress.h"
#include "log.h"
#include "model.h"
#include "version.h"

static const char *const layout[] = { "meta", "blobs", "drafts" };

/* dir, new (mode 0700) or empty, with the store's three subdirectories. */
static int new_store_dir(const char *dir)
{
	struct dirent *de;
	char p[PATH_MAX];
	DIR *d;

	if (mkdir(dir, 0700) < 0) {
		if (errno != EEXIST)
			return mfs_log_errno(-errno, "cannot create '%s': %s", dir, strerror(errno));
		d = opendir(dir);
		if (!d)
			return mfs_log_errno(-errno, "cannot read '%s': %s", dir, strerror(errno));
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
				closedir(d);
				return mfs_log_errno(-EEXIST, "refusing '%s': it is not empty", dir);
			}
		}
		closedir(d);
	}
	for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, layout[i]);
		if (mkdir(p, 0700) < 0)
			return mfs_log_errno(-errno, "cannot create '%s': %s", p, strerror(errno));
	}
	return 0;
}

static int fsync_path(int dirfd, const char *path, int flags)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | flags), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Copy blob d from src_blobs to dst_blobs, checking its bytes against its
 * name on the copy; fsynced, named only once complete. With link, a blob
 * directory on the same filesystem gets a hard link instead (blobs never
 * change: a migration need not copy them), and a blob already there of the
 * right size is left as it is. */
static int copy_blob(int src_blobs, int dst_blobs, const struct mfs_digest *d,
		     uint64_t size, bool link, struct mfs_backup_stats *stats)
{
	char rel[40], tmp[48], sub[3];
	struct mfs_digest got;
	struct stat sb;
	uint64_t n = 0;
	int sfd, dfd, r;

	mfs_blob_relpath(d, rel);
	memcpy(sub, rel, 2);
	sub[2] = '\0';
	if (mkdirat(dst_blobs, sub, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (link && fstatat(dst_blobs, rel, &sb, 0) == 0 && (uint64_t)sb.st_size == size)
		return 0;
	if (link && linkat(src_blobs, rel, dst_blobs, rel, 0) == 0) {
		stats->blobs++;
		stats->bytes += size;
		return 0;
	}
	sfd = openat(src_blobs, rel, O_RDONLY | O_CLOEXEC);
	if (sfd < 0) {
		if (errno == ENOENT)
			return mfs_log_errno(-EIO, "blob '%s' is referenced but missing: run modelctl fsck",
					     rel);
		return -errno;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", rel);
	dfd = openat(dst_blobs, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	if (dfd < 0) {
		r = -errno;
		close(sfd);
		return r;
	}
	r = store_copy(sfd, dfd, UINT64_MAX, NULL);
	if (r == 0)
		r = mfs_hash_fd(dfd, &got, &n);
	if (r == 0 && (memcmp(&got, d, sizeof(got)) || n != size))
		r = mfs_log_errno(-EIO, "blob '%s' does not match its name (%llu bytes read, %llu recorded): damaged on disk",
				  rel, (unsigned long long)n, (unsigned long long)size);
	if (r == 0 && fsync(dfd) < 0)
		r = -errno;
	if (r == 0 && renameat(dst_blobs, tmp, dst_blobs, rel) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dst_blobs, tmp, 0);
	close(sfd);
	close(dfd);
	if (r == 0) {
		stats->blobs++;
		stats->bytes += size;
	}
	return r;
}

/* Every blob the database of st references, with its size.
 * Ownership: caller frees *ret. */
static int referenced(struct mfs_store *st, struct mfs_digest **ret, uint64_t **ret_size,
		      size_t *ret_n)
{
	struct mfs_digest *d = NULL;
	uint64_t *sz = NULL;
	size_t n = 0, cap = 0;
	struct kv_txn *txn;
	struct kv_cursor *cur;
	struct kv_val k, v;
	int r, rc;

	r = store_read_cursor(st, DB_BLOBS, &txn, &cur);
	if (r < 0)
		return r;
	for (rc = kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0;
	     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
		struct rec_blob rb = { 0, 0 };

		rec_get(&rb, sizeof(rb), &v);
		if (k.len != sizeof(*d) || rb.refs == 0)
			continue;
		if (n == cap) {
			void *p1 = realloc(d, (cap = cap ? 2 * cap : 256) * sizeof(*d));
			void *p2 = p1 ? realloc(sz, cap * sizeof(*sz)) : NULL;

			if (p1)
				d = p1;
			if (!p1 || !p2) {
				rc = ENOMEM;
				break;
			}
			sz = p2;
		}
		memcpy(&d[n], k.data, sizeof(*d));
		sz[n++] = rb.size;
	}
	kv_cursor_close(cur);
	kv_txn_abort(txn);
	if (rc != KV_NOTFOUND) {
		free(d);
		free(sz);
		return rc;
	}
	*ret = d;
	*ret_size = sz;
	*ret_n = n;
	return 0;
}

/* Copy (with link: link where it can) the blobs the store db references
 * from src_blobs into dst_blobs, then fsync dst_blobs and its
 * subdirectories. */
static int copy_blobs_of(struct mfs_store *db, int src_blobs, int dst_blobs, bool link,
			 struct mfs_backup_stats *stats)
{
	struct mfs_digest *d = NULL;
	uint64_t *sz = NULL;
	size_t n = 0;
	int r;

	r = referenced(db, &d, &sz, &n);
	for (size_t i = 0; i < n && r == 0; i++) {
		r = copy_blob(src_blobs, dst_blobs, &d[i], sz[i], link, stats);
		mfs_progress(link ? "linking blobs" : "copying blobs", i + 1, n);
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		char rel[40];

		mfs_blob_relpath(&d[i], rel);
		rel[2] = '\0';
		if (i == 0 || memcmp(&d[i], &d[i - 1], 1))
			r = fsync_path(dst_blobs, rel, O_DIRECTORY);
	}
	if (r == 0 && fsync(dst_blobs) < 0)
		r = -errno;
	free(d);
	free(sz);
	return r;
}

/* The same for the store at db_dir (a backup being written or read). */
static int copy_blobs(const char *db_dir, int src_blobs, int dst_blobs,
		      struct mfs_backup_stats *stats)
{
	struct mfs_store *db = NULL;
	int r = mfs_store_open(db_dir, MFS_STORE_READONLY, NULL, &db);

	if (r == 0)
		r = copy_blobs_of(db, src_blobs, dst_blobs, false, stats);
	if (db)
		mfs_store_close(db);
	return r;
}

static int open_sub(const char *dir, const char *sub, int *ret)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, sub);
	*ret = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return *ret < 0 ? mfs_log_errno(-errno, "cannot open '%s': %s", p, strerror(errno)) : 0;
}

int mfs_backup(struct mfs_store *st, const char *dir, struct mfs_backup_stats *ret)
{
	struct mfs_backup_stats stats = { 0, 0, 0 };
	char meta[PATH_MAX];
	int dst_blobs = -1, r;

	r = new_store_dir(dir);
	if (r < 0)
		return r;
	/* 1. the snapshot */
	snprintf(meta, sizeof(meta), "%s/meta", dir);
	r = kv_copy(st->kv, meta);
	if (r == -ENOTSUP) {
		/* No copy of its own (PostgreSQL): every record, from one
		 * snapshot, into an LMDB environment there. */
		char uri[PATH_MAX + 8];

		snprintf(uri, sizeof(uri), "lmdb:%s", meta);
		r = store_copy_db(st, uri);
	}
	if (r < 0)
		return r;
	r = fsync_path(AT_FDCWD, meta, O_DIRECTORY);
	if (r == 0) {
		char data[PATH_MAX + 16];

		snprintf(data, sizeof(data), "%s/data.mdb", meta);
		r = fsync_path(AT_FDCWD, data, 0);
	}
	/* 2. and 3. the blobs it names */
	if (r == 0)
		r = open_sub(dir, "blobs", &dst_blobs);
	if (r == 0)
		r = copy_blobs(dir, st->blobs_fd, dst_blobs, &stats);
	if (dst_blobs >= 0)
		close(dst_blobs);
	if (r == 0)
		r = fsync_path(AT_FDCWD, dir, O_DIRECTORY);
	if (r == 0 && ret)
		*ret = stats;
	return r;
}

/* Discard the draft records a backup carries (their files are not in it). */
static int discard_drafts(struct mfs_store *st, const struct mfs_caller *c,
			  struct mfs_backup_stats *stats)
{
	struct mfs_model_info *m = NULL;
	size_t nm = 0;
	int r = mfs_model_list(st, &m, &nm);

	for (size_t i = 0; i < nm && r == 0; i++) {
		size_t n = 0;

		/* The backup's host is not the restored store's: its drafts
		 * are another host's to this one, and gone all the same. */
		r = store_discard_drafts(st, c, m[i].id, &n);
		stats->drafts += n;
	}
	free(m);
	return r;
}

int mfs_restore(const char *src, const char *dst, const struct mfs_caller *c,
		struct mfs_backup_stats *ret)
{
	struct mfs_backup_stats stats = { 0, 0, 0 };
	struct mfs_store *st = NULL;
	int src_blobs = -1, dst_blobs = -1, sfd, dfd, r;
	char p[PATH_MAX + 16];

	snprintf(p, sizeof(p), "%s/meta/data.mdb", src);
	sfd = open(p, O_RDONLY | O_CLOEXEC);
	if (sfd < 0)
		return mfs_log_errno(-ENOENT, "'%s' is no backup: %s: %s", src, p, strerror(errno));
	r = open_sub(src, "blobs", &src_blobs);
	if (r == 0)
		r = new_store_dir(dst);
	if (r < 0)
		goto out;
	snprintf(p, sizeof(p), "%s/meta/data.mdb", dst);
	dfd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (dfd < 0) {
		r = -errno;
		goto out;
	}
	r = store_copy(sfd, dfd, UINT64_MAX, NULL);
	if (r == 0 && fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	if (r == 0)
		r = open_sub(dst, "blobs", &dst_blobs);
	if (r == 0)
		r = copy_blobs(dst, src_blobs, dst_blobs, &stats);
	if (r < 0)
		goto out;
	/* As the writer of record: recovery clears the journal of seals that
	 * were running when the backup was taken. */
	r = mfs_store_open(dst, MFS_STORE_SERVE, NULL, &st);
	if (r == 0)
		r = discard_drafts(st, c, &stats);
	if (st)
		mfs_store_close(st);
	if (r == 0)
		r = fsync_path(AT_FDCWD, dst, O_DIRECTORY);
out:
	close(sfd);
	if (src_blobs >= 0)
		close(src_blobs);
	if (dst_blobs >= 0)
		close(dst_blobs);
	if (r == 0 && ret)
		*ret = stats;
	return r;
}

/* Refuse a migration while the registry is in use or holds drafts: what a
 * daemon writes after the snapshot would be lost, and a draft's files are
 * on the host that made it, not in any database. */
static int migrate_ready(struct mfs_store *st)
{
	struct mfs_model_info *m = NULL;
	struct kv_txn *txn;
	struct kv_cursor *cur;
	struct kv_val k, v;
	size_t nm = 0, drafts = 0;
	int r, rc;

	if (kv_shared(st->kv)) {
		r = store_read_cursor(st, DB_HOSTS, &txn, &cur);
		if (r < 0)
			return r;
		for (rc = kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0;
		     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
			if (k.len == 8 && store_host_alive(st, txn, get_be64(k.data)) &&
			    get_be64(k.data) != st->host) {
				r = mfs_log_errno(-EBUSY, "refusing to migrate '%s': a daemon serves it (host %.*s); stop every daemon of the registry first",
						  kv_where(st->kv), (int)(v.len > 200 ? 200 : v.len),
						  (const char *)v.data);
				break;
			}
		}
		kv_cursor_close(cur);
		kv_txn_abort(txn);
		if (r < 0)
			return r;
	}
	r = mfs_model_list(st, &m, &nm);
	for (size_t i = 0; i < nm && r == 0; i++) {
		size_t n = 0;

		r = store_count_drafts(st, m[i].id, &n);
		drafts += n;
		if (r == 0 && n)
			mfs_log(MFS_LOG_ERR, "model '%s' has %zu drafts", m[i].name, n);
	}
	free(m);
	if (r == 0 && drafts)
		r = mfs_log_errno(-EBUSY, "refusing to migrate: %zu drafts (their files are on the hosts that made them); seal or remove them first",
				  drafts);
	return r;
}

int mfs_migrate(struct mfs_store *st, const char *to, const char *blobs,
		struct mfs_backup_stats *ret)
{
	struct mfs_backup_stats stats = { 0, 0, 0 };
	char uri[PATH_MAX + 16], dir[PATH_MAX];
	int dst_blobs = -1, r;

	r = migrate_ready(st);
	if (r < 0)
		return r;
	if (!strncmp(to, "lmdb:", 5)) {
		/* A new store directory: meta/ (LMDB), blobs/, drafts/. */
		if (blobs && blobs[0])
			return mfs_log_errno(-EINVAL, "--blobs is for a PostgreSQL target; an LMDB store keeps its blobs in DIR/blobs");
		snprintf(dir, sizeof(dir), "%s", to + 5);
		r = new_store_dir(dir);
		if (r < 0)
			return r;
		snprintf(uri, sizeof(uri), "lmdb:%s/meta", dir);
		snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/blobs");
	} else {
		if (!blobs || blobs[0] != '/')
			return mfs_log_errno(-EINVAL, "a PostgreSQL target needs --blobs DIR (an absolute path, shared by its hosts)");
		if (mkdir(blobs, 0700) < 0 && errno != EEXIST)
			return mfs_log_errno(-errno, "cannot create '%s': %s", blobs, strerror(errno));
		snprintf(uri, sizeof(uri), "%s", to);
		snprintf(dir, sizeof(dir), "%s", blobs);
	}
	/* Every referenced blob first (the source is locked or stopped:
	 * what it references cannot change), then the database from one
	 * snapshot: a target never names a missing blob, and one cut short
	 * has no records (a second try is not refused as not empty). */
	r = open_sub(dir, ".", &dst_blobs);
	if (r == 0)
		r = copy_blobs_of(st, st->blobs_fd, dst_blobs, true, &stats);
	if (r == 0)
		r = store_copy_db(st, uri);
	if (dst_blobs >= 0)
		close(dst_blobs);
	if (r == 0 && ret)
		*ret = stats;
	return r;
}
