/* store.c - opening a store directory: lock, LMDB environment, recovery */
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "blob.h"
#include "log.h"
#include "sys.h"
#include "version.h"

/*
 * A store is opened once per process. The serving daemon takes STORE/lock
 * with flock() (released by the kernel when the daemon dies, even by
 * kill -9) and writes its pid and mount point there so modelctl can find
 * the mount. Read-only users (fsck, list, show) take no lock: LMDB readers
 * never block the writer.
 */

static const char *const db_names[DB_COUNT] = {
	[DB_INFO] = "info", [DB_MODELS] = "models", [DB_MODEL_IDS] = "model_ids",
	[DB_MMETA] = "mmeta", [DB_POLICY] = "policy", [DB_VERSIONS] = "versions",
	[DB_VERSION_IDS] = "version_ids", [DB_VMETA] = "vmeta",
	[DB_ENTRIES] = "entries", [DB_DIRENTS] = "dirents",
	[DB_ALIASES] = "aliases", [DB_HISTORY] = "history", [DB_BLOBS] = "blobs",
	[DB_JOURNAL] = "journal", [DB_AUDIT] = "audit", [DB_CHILDREN] = "children",
	[DB_ANNOT] = "annot",
	[DB_SHA256] = "sha256", [DB_SHA_PENDING] = "sha_pending",
};

/*============================================================ helpers */

int mfs_err_from_mdb(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_PANIC:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EIO;
	case MDB_READERS_FULL:
	case MDB_TXN_FULL:
	case MDB_CURSOR_FULL:
	case MDB_PAGE_FULL:
		return -ENOSPC;
	case MDB_MAP_RESIZED:
		return -EAGAIN;
	case MDB_BAD_TXN:
	case MDB_BAD_RSLOT:
	case MDB_BAD_VALSIZE:
	case MDB_BAD_DBI:
	case MDB_INCOMPATIBLE:
		return -EINVAL;
	default:
		return rc > 0 ? -rc : (rc < 0 ? -EIO : 0);
	}
}

int64_t mfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void mfs_time_rfc3339(int64_t ns, char out[40])
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	char buf[32];

	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%03dZ", buf, (int)(ns % 1000000000 / 1000000));
}

void key_id(struct key *k, uint64_t a)
{
	put_be64(k->b, a);
	k->v.mv_data = k->b;
	k->v.mv_size = 8;
}

void key_id_name(struct key *k, uint64_t a, const char *name)
{
	size_t n = strnlen(name, 255);

	put_be64(k->b, a);
	memcpy(k->b + 8, name, n);
	k->v.mv_data = k->b;
	k->v.mv_size = 8 + n;
}

void key_id_id(struct key *k, uint64_t a, uint64_t b)
{
	put_be64(k->b, a);
	put_be64(k->b + 8, b);
	k->v.mv_data = k->b;
	k->v.mv_size = 16;
}

void key_id_id_name(struct key *k, uint64_t a, uint64_t b, const char *name)
{
	size_t n = strnlen(name, 255);

	put_be64(k->b, a);
	put_be64(k->b + 8, b);
	memcpy(k->b + 16, name, n);
	k->v.mv_data = k->b;
	k->v.mv_size = 16 + n;
}

int store_txn_begin(struct mfs_store *st, bool write, MDB_txn **ret)
{
	int rc;

	for (int tries = 0; tries < 3; tries++) {
		int dead = 0;

		rc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, ret);
		if (rc == MDB_MAP_RESIZED) {
			/* Another process grew the map: adopt its size. */
			mdb_env_set_mapsize(st->env, 0);
		} else if (rc == MDB_READERS_FULL) {
			/* Readers beside the daemon (modelctl) killed with -9
			 * leave their slots taken: clear the dead ones. */
			mdb_reader_check(st->env, &dead);
			if (!dead)
				break;
			mfs_log(MFS_LOG_INFO, "cleared %d reader slots of dead processes", dead);
		} else {
			break;
		}
	}
	if (rc == 0 && write)
		store_events_begin(st, *ret);
	return mfs_err_from_mdb(rc);
}

/* Is the filesystem under env (nearly) full? */
static bool env_full(MDB_env *env)
{
	struct statvfs vfs;
	int fd;

	if (mdb_env_get_fd(env, &fd) != 0 || fstatvfs(fd, &vfs) < 0)
		return false;
	/* root may use the blocks reserved for it */
	return (geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail) * vfs.f_frsize < (1u << 20);
}

int store_txn_commit(MDB_txn *txn)
{
	MDB_env *env = mdb_txn_env(txn);
	struct mfs_store *st = mdb_env_get_userctx(env);
	char **ev = NULL;
	/* Taken while this txn still holds LMDB's writer lock: the next
	 * writer's records cannot mix in. */
	size_t nev = st ? store_events_take(st, txn, &ev) : 0;
	int rc;

	/* The sink lock from before the commit to the last hand-over: a
	 * writer that commits after us hands its records on after ours. */
	if (nev)
		pthread_mutex_lock(&st->sink_lock);
	rc = mdb_txn_commit(txn);
	for (size_t i = 0; i < nev; i++) {
		if (rc == 0 && st->sink)
			st->sink(st->sink_ctx, ev[i]);
		free(ev[i]);
	}
	if (nev)
		pthread_mutex_unlock(&st->sink_lock);
	free(ev);
	/* LMDB reports a short write of its pages - a full filesystem - as
	 * EIO; say what it is. */
	if (rc == EIO && env_full(env))
		return -ENOSPC;
	return mfs_err_from_mdb(rc);
}

int store_read_cursor(struct mfs_store *st, int db, MDB_txn **ret_txn,
		      MDB_cursor **ret_cur)
{
	int r = store_txn_begin(st, false, ret_txn), rc;

	if (r < 0)
		return r;
	rc = mdb_cursor_open(*ret_txn, st->dbi[db], ret_cur);
	if (rc) {
		mdb_txn_abort(*ret_txn);
		return mfs_err_from_mdb(rc);
	}
	return 0;
}

int store_copy(int sfd, int dfd, uint64_t len, uint64_t *ret_copied)
{
	loff_t in = 0, out = 0;
	int r = 0;

	while ((uint64_t)in < len) {
		uint64_t want = len - (uint64_t)in;
		ssize_t n = copy_file_range(sfd, &in, dfd, &out, want > (1u << 30) ? 1u << 30 : want, 0);

		if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS ||
			      errno == EINVAL)) {
			char buf[1 << 16];

			/* two filesystems, or one without it: through us */
			n = pread(sfd, buf, sizeof(buf), in);
			if (n > 0 && pwrite(dfd, buf, (size_t)n, out) != n)
				n = -1;
			if (n > 0) {
				in += n;
				out += n;
			}
		}
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0) {
			r = len == UINT64_MAX ? 0 : -EIO;
			break;
		}
	}
	if (ret_copied)
		*ret_copied = (uint64_t)in;
	return r;
}

int store_next_id(struct mfs_store *st, MDB_txn *txn, uint64_t *ret)
{
	MDB_val k = { 3, (void *)"seq" }, v;
	uint64_t next = 1;
	int rc;

	rc = mdb_get(txn, st->dbi[DB_INFO], &k, &v);
	if (rc == MDB_SUCCESS && v.mv_size == 8)
		memcpy(&next, v.mv_data, 8);
	else if (rc != MDB_NOTFOUND && rc != MDB_SUCCESS)
		return mfs_err_from_mdb(rc);
	*ret = next;
	next++;
	v.mv_size = 8;
	v.mv_data = &next;
	return mfs_err_from_mdb(mdb_put(txn, st->dbi[DB_INFO], &k, &v, 0));
}

int store_get_text(struct mfs_store *st, int db, uint64_t id, const char *dflt,
		   char **ret, size_t *ret_len)
{
	MDB_txn *txn;
	struct key k;
	MDB_val v;
	char *out;
	int r, rc;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	key_id(&k, id);
	rc = mdb_get(txn, st->dbi[db], &k.v, &v);
	if (rc == MDB_NOTFOUND) {
		v.mv_data = (void *)dflt;
		v.mv_size = strlen(dflt);
		rc = 0;
	}
	if (rc) {
		mdb_txn_abort(txn);
		return mfs_err_from_mdb(rc);
	}
	out = malloc(v.mv_size + 1);
	if (out) {
		memcpy(out, v.mv_data, v.mv_size);
		out[v.mv_size] = '\0';
		*ret = out;
		*ret_len = v.mv_size;
	}
	mdb_txn_abort(txn);
	return out ? 0 : -ENOMEM;
}

/*============================================================ prepare */

static bool is_store_entry(const char *name)
{
	static const char *const known[] = { "meta", "blobs", "drafts", "lock" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(name, known[i]))
			return true;
	return false;
}

/* Returns 1 if dir is empty, 0 if it is a store, -EEXIST if foreign. */
static int classify_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int entries = 0, foreign = 0, has_meta = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		entries++;
		if (!strcmp(de->d_name, "meta"))
			has_meta = 1;
		if (!is_store_entry(de->d_name))
			foreign++;
	}
	closedir(d);
	if (entries == 0)
		return 1;
	if (foreign || !has_meta)
		return -EEXIST;
	return 0;
}

int mfs_store_prepare(const char *dir, unsigned flags)
{
	struct stat sb;
	int r;

	if (stat(dir, &sb) < 0) {
		if (errno != ENOENT)
			return mfs_log_errno(-errno, "store '%s': %s", dir,
					     strerror(errno));
		if (!(flags & MFS_STORE_CREATE))
			return mfs_log_errno(-ENOENT, "store '%s' does not exist",
					     dir);
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return mfs_log_errno(-errno, "cannot create store '%s': %s",
					     dir, strerror(errno));
		if (stat(dir, &sb) < 0)
			return -errno;
	}
	if (!S_ISDIR(sb.st_mode))
		return mfs_log_errno(-ENOTDIR, "store '%s' is not a directory",
				     dir);
	if (sb.st_uid != geteuid())
		return mfs_log_errno(-EPERM,
				     "store '%s' is owned by uid %u, not by this user (uid %u)",
				     dir, (unsigned)sb.st_uid, (unsigned)geteuid());
	r = classify_dir(dir);
	if (r == -EEXIST)
		return mfs_log_errno(-EEXIST,
				     "'%s' holds files that are not a modelfs store; give an empty or new directory",
				     dir);
	if (r < 0)
		return mfs_log_errno(r, "cannot read store '%s': %s", dir,
				     strerror(-r));
	if (r == 1) {
		if (!(flags & MFS_STORE_CREATE))
			return mfs_log_errno(-ENOENT, "'%s' is not an initialised store", dir);
		if (chmod(dir, 0700) < 0)
			return -errno;
	}
	return 0;
}

/*============================================================ lock */

static int take_lock(struct mfs_store *st, const char *mount)
{
	char buf[4200];
	int fd, n;

	fd = openat(st->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return mfs_log_errno(-errno, "open '%s/lock': %s", st->dir,
				     strerror(errno));
	/* Retry for ~2 s so that an unmount followed at once by a mount works:
	 * the old daemon may still be closing the environment. */
	for (int i = 0;; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK || i >= 40) {
			char who[4200] = "";

			n = (int)pread(fd, who, sizeof(who) - 1, 0);
			if (n > 0)
				who[n] = '\0';
			who[strcspn(who, "\n")] = ' ';
			close(fd);
			return mfs_log_errno(-EBUSY,
					     "store '%s' is already served by another daemon (%s)",
					     st->dir, n > 0 ? who : "unknown");
		}
		usleep(50000);
	}
	n = snprintf(buf, sizeof(buf), "pid %d\nmount %s\n", (int)getpid(),
		     mount ? mount : "");
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		int e = errno;

		close(fd);
		return mfs_log_errno(-e, "write '%s/lock': %s", st->dir,
				     strerror(e));
	}
	st->lock_fd = fd;
	return 0;
}

int mfs_store_served(const char *dir, char *mount, size_t n)
{
	char path[4200], buf[4200];
	int fd, r;
	ssize_t len;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	/* A shared lock attempt tells without disturbing the daemon. */
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		close(fd);
		return 0;
	}
	r = errno == EWOULDBLOCK ? 1 : -errno;
	len = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (r != 1)
		return r;
	buf[len > 0 ? len : 0] = '\0';
	if (mount && n) {
		char *m = strstr(buf, "mount ");

		mount[0] = '\0';
		if (m) {
			m += 6;
			m[strcspn(m, "\n")] = '\0';
			snprintf(mount, n, "%s", m);
		}
	}
	return 1;
}

/*============================================================ recovery */

/* Blobs a crash left behind: names a seal journalled but never committed.
 * Only the journal is read, so start-up stays O(1) in the registry size. */
static int recover_journal(struct mfs_store *st)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int r, rc, n = 0;

	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	rc = mdb_cursor_open(txn, st->dbi[DB_JOURNAL], &cur);
	if (rc)
		goto mdb_out;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == MDB_SUCCESS) {
		struct mfs_digest d;
		MDB_val bv;

		memcpy(d.b, k.mv_data, 16);
		if (mdb_get(txn, st->dbi[DB_BLOBS], &k, &bv) == MDB_NOTFOUND) {
			char rel[40];

			mfs_blob_relpath(&d, rel);
			if (mfs_blob_unlink(st, &d) == 0)
				mfs_log(MFS_LOG_INFO,
					"removed blob '%s' left by an interrupted seal",
					rel);
		}
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			goto mdb_out;
		n++;
	}
	if (rc != MDB_NOTFOUND)
		goto mdb_out;
	mdb_cursor_close(cur);
	cur = NULL;
	r = store_txn_commit(txn);
	txn = NULL;
	return r;
mdb_out:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	return mfs_err_from_mdb(rc);
}

static int rm_tree_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP)
			return mfs_sys->unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
		return -errno;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR) {
			int e = rm_tree_at(fd, de->d_name);

			if (e < 0 && !r)
				r = e;
		} else if (mfs_sys->unlinkat(fd, de->d_name, 0) < 0) {
			if (errno == EISDIR) {
				int e = rm_tree_at(fd, de->d_name);

				if (e < 0 && !r)
					r = e;
			} else if (!r) {
				r = -errno;
			}
		}
	}
	closedir(d);
	if (mfs_sys->unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && !r)
		r = -errno;
	return r;
}

int store_rm_tree(int dirfd, const char *name);
int store_rm_tree(int dirfd, const char *name)
{
	return rm_tree_at(dirfd, name);
}

/* A crash between a seal's commit and the removal of its draft leaves the
 * draft directory of a sealed version: finish the job. Drafts are few. */
static void recover_drafts(struct mfs_store *st)
{
	int fd = openat(st->drafts_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct rec_version rv;
		MDB_txn *txn;
		char *end;
		uint64_t vid;
		int r;

		if (de->d_name[0] == '.')
			continue;
		vid = strtoull(de->d_name, &end, 10);
		if (*end || !vid)
			continue;
		if (store_txn_begin(st, false, &txn) < 0)
			break;
		r = store_get_version(st, txn, vid, &rv, NULL, 0);
		mdb_txn_abort(txn);
		if (r == -ENOENT || (r == 0 && rv.state != MFS_V_DRAFT)) {
			rm_tree_at(st->drafts_fd, de->d_name);
			mfs_log(MFS_LOG_INFO,
				"removed leftover draft directory '%s' of a sealed or deleted version",
				de->d_name);
		}
	}
	closedir(d);
}

/*============================================================ open/close */

static int open_dirs(struct mfs_store *st, bool create)
{
	static const char *const sub[] = { "meta", "blobs", "drafts" };
	int *fds[] = { NULL, &st->blobs_fd, &st->drafts_fd };

	for (int i = 0; i < 3; i++) {
		if (create && mkdirat(st->dirfd, sub[i], 0700) < 0 && errno != EEXIST)
			return mfs_log_errno(-errno, "mkdir '%s/%s': %s", st->dir,
					     sub[i], strerror(errno));
		if (!fds[i])
			continue;
		*fds[i] = openat(st->dirfd, sub[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*fds[i] < 0)
			return mfs_log_errno(-errno, "open '%s/%s': %s", st->dir,
					     sub[i], strerror(errno));
	}
	return 0;
}

/* Create st->env and open the environment at path with a map of size
 * bytes. Returns an MDB code; on failure st->env is closed and NULL. */
static int env_open_sized(struct mfs_store *st, const char *path, size_t size)
{
	int rc = mdb_env_create(&st->env);

	if (rc) {
		st->env = NULL;
		return rc;
	}
	mdb_env_set_maxdbs(st->env, DB_COUNT + 2);
	mdb_env_set_maxreaders(st->env, 256);
	rc = mdb_env_set_mapsize(st->env, size);
	/* NOTLS: the daemon's threads begin and end read txns freely. */
	if (rc == 0)
		rc = mdb_env_open(st->env, path, MDB_NOTLS, 0600);
	/* store_txn_commit() finds the store (its event sink) by the env. */
	if (rc == 0)
		rc = mdb_env_set_userctx(st->env, st);
	if (rc) {
		mdb_env_close(st->env);
		st->env = NULL;
	}
	return rc;
}

static int open_env(struct mfs_store *st, bool readonly)
{
	char path[4200];
	MDB_txn *txn = NULL;
	unsigned dbflags = readonly ? 0 : MDB_CREATE;
	size_t size;
	int rc, dead = 0;

	snprintf(path, sizeof(path), "%s/meta", st->dir);
	/* The map is sparse and large so that users never meet MAP_FULL, but
	 * an address space may not hold it in one piece: mmap fails with
	 * ENOMEM under `ulimit -v`, and with EINVAL under valgrind, which
	 * maps nothing of 64 GiB. Halve it down to MFS_MAP_SIZE_MIN before
	 * giving up; a store's metadata is small, and a process that maps
	 * less than the data meets MDB_MAP_RESIZED, which
	 * store_txn_begin() handles. */
	for (size = MFS_MAP_SIZE;; size /= 2) {
		rc = env_open_sized(st, path, size);
		if (rc == 0 || (rc != ENOMEM && rc != EINVAL) || size / 2 < MFS_MAP_SIZE_MIN)
			break;
	}
	if (rc)
		return mfs_log_errno(mfs_err_from_mdb(rc), "open LMDB '%s': %s",
				     path, mdb_strerror(rc));
	if (size != MFS_MAP_SIZE)
		mfs_log(MFS_LOG_INFO, "LMDB '%s': the address space refused a %llu GiB map; mapped %zu MiB",
			path, MFS_MAP_SIZE >> 30, size >> 20);
	/* kill -9 leaves stale reader slots behind. */
	mdb_reader_check(st->env, &dead);
	rc = mdb_txn_begin(st->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
	if (rc)
		return mfs_err_from_mdb(rc);
	for (int i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], dbflags, &st->dbi[i]);
		if (rc == MDB_NOTFOUND && readonly &&
		    (i == DB_SHA256 || i == DB_SHA_PENDING)) {
			/* A store no daemon of this version has served yet:
			 * it has no digests to read. The writer creates them. */
			st->dbi[i] = 0;
			continue;
		}
		if (rc == MDB_NOTFOUND && readonly) {
			mdb_txn_abort(txn);
			return mfs_log_errno(-ENOENT, "store '%s' is not initialised",
					     st->dir);
		}
		if (rc) {
			mdb_txn_abort(txn);
			return mfs_err_from_mdb(rc);
		}
	}
	st->sha_dbs = st->dbi[DB_SHA256] && st->dbi[DB_SHA_PENDING];
	if (!readonly) {
		MDB_val k = { 6, (void *)"schema" }, v;
		uint32_t schema = MFS_SCHEMA_VERSION;

		rc = mdb_get(txn, st->dbi[DB_INFO], &k, &v);
		if (rc == MDB_NOTFOUND) {
			v.mv_size = 4;
			v.mv_data = &schema;
			rc = mdb_put(txn, st->dbi[DB_INFO], &k, &v, 0);
		} else if (rc == MDB_SUCCESS) {
			memcpy(&schema, v.mv_data, 4);
			if (schema != MFS_SCHEMA_VERSION) {
				mdb_txn_abort(txn);
				return mfs_log_errno(-EPROTO,
						     "store '%s' has schema %u; this modelfs reads %u",
						     st->dir, schema, MFS_SCHEMA_VERSION);
			}
		}
		if (rc) {
			mdb_txn_abort(txn);
			return mfs_err_from_mdb(rc);
		}
	}
	return store_txn_commit(txn);
}

int mfs_store_open(const char *dir, unsigned flags, const char *mount,
		   struct mfs_store **ret)
{
	struct mfs_store *st = NULL;
	bool readonly = flags & MFS_STORE_READONLY;
	int r;

	r = mfs_store_prepare(dir, readonly ? 0 : flags);
	if (r < 0)
		return r;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->dirfd = st->blobs_fd = st->drafts_fd = st->lock_fd = -1;
	st->flags = flags;
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->ev_lock, NULL);
	pthread_mutex_init(&st->sink_lock, NULL);
	pthread_mutex_init(&st->gc_lock, NULL);
	st->dir = realpath(dir, NULL);
	if (!st->dir) {
		r = -errno;
		goto fail;
	}
	st->dirfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	if (flags & MFS_STORE_SERVE) {
		r = take_lock(st, mount);
		if (r < 0)
			goto fail;
	}
	r = open_dirs(st, !readonly);
	if (r < 0)
		goto fail;
	r = open_env(st, readonly);
	if (r < 0)
		goto fail;
	if (flags & MFS_STORE_SERVE) {
		r = recover_journal(st);
		if (r < 0)
			goto fail;
		recover_drafts(st);
	}
	*ret = st;
	return 0;
fail:
	mfs_store_close(st);
	return r;
}

uint64_t mfs_store_generation(struct mfs_store *st)
{
	MDB_envinfo info;

	if (!st || mdb_env_info(st->env, &info) != 0)
		return 0;
	return (uint64_t)info.me_last_txnid;
}

/* Where LMDB mapped the database: the mapping that holds a value LMDB
 * hands out (its API tells the address only of a fixed map). */
static void find_map(struct mfs_store *st)
{
	MDB_val k = { 6, (void *)"schema" }, v;
	uintptr_t p = 0, a, b;
	char line[512];
	MDB_txn *txn;
	FILE *f;

	if (store_txn_begin(st, false, &txn) < 0)
		return;
	if (mdb_get(txn, st->dbi[DB_INFO], &k, &v) == 0)
		p = (uintptr_t)v.mv_data;
	mdb_txn_abort(txn);
	f = p ? fopen("/proc/self/maps", "re") : NULL;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &a, &b) == 2 && p >= a && p < b) {
			st->map_base = a;
			st->map_len = b - a;
			break;
		}
	}
	if (f)
		fclose(f);
}

void mfs_store_trim(struct mfs_store *st)
{
	MDB_envinfo info;
	MDB_stat ms;
	size_t len;

	if (!st || mdb_env_info(st->env, &info) != 0 || mdb_env_stat(st->env, &ms) != 0)
		return;
	pthread_mutex_lock(&st->lock);
	if (!st->map_base)
		find_map(st);
	len = (size_t)(info.me_last_pgno + 1) * ms.ms_psize;
	if (len > st->map_len)
		len = st->map_len;
	/* A read-only shared file mapping: the pages stay in the page cache
	 * and fault back in on the next access, from any thread. */
	if (st->map_base)
		madvise((void *)st->map_base, len, MADV_DONTNEED);
	pthread_mutex_unlock(&st->lock);
}

void mfs_store_close(struct mfs_store *st)
{
	if (!st)
		return;
	store_sha256_stop(st);
	if (st->env)
		mdb_env_close(st->env);
	if (st->blobs_fd >= 0)
		close(st->blobs_fd);
	if (st->drafts_fd >= 0)
		close(st->drafts_fd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	if (st->lock_fd >= 0) {
		/* Leave the file; clear who served it. */
		if (ftruncate(st->lock_fd, 0) < 0) {
			/* nothing to do: the lock dies with the fd */
		}
		close(st->lock_fd);
	}
	store_events_release(st);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->ev_lock);
	pthread_mutex_destroy(&st->sink_lock);
	pthread_mutex_destroy(&st->gc_lock);
	free(st->dir);
	free(st);
}

const char *mfs_store_dir(const struct mfs_store *st)
{
	return st->dir;
}

int store_each_under(struct mfs_store *st, MDB_txn *txn, int db, uint64_t id,
		     store_each_fn fn, void *ctx)
{
	MDB_cursor *cur;
	struct key k;
	MDB_val kv, v;
	int r = 0, rc;

	rc = mdb_cursor_open(txn, st->dbi[db], &cur);
	if (rc)
		return mfs_err_from_mdb(rc);
	key_id(&k, id);
	kv = k.v;
	for (rc = mdb_cursor_get(cur, &kv, &v, MDB_SET_RANGE); rc == 0 && r == 0;
	     rc = mdb_cursor_get(cur, &kv, &v, MDB_NEXT)) {
		if (kv.mv_size < 8 || memcmp(kv.mv_data, k.b, 8))
			break;
		r = fn(&kv, &v, ctx);
	}
	if (r == 0 && rc && rc != MDB_NOTFOUND)
		r = mfs_err_from_mdb(rc);
	mdb_cursor_close(cur);
	return r;
}

cJSON *store_get_json(struct mfs_store *st, MDB_txn *txn, int db, uint64_t id)
{
	struct key k;
	MDB_val v;

	key_id(&k, id);
	if (mdb_get(txn, st->dbi[db], &k.v, &v) != 0)
		return NULL;
	return cJSON_ParseWithLength(v.mv_data, v.mv_size);
}

bool store_user_name(uid_t uid, char *buf, size_t n)
{
	struct passwd pw, *res = NULL;
	char pwbuf[1024];

	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res) {
		snprintf(buf, n, "%s", res->pw_name);
		return true;
	}
	snprintf(buf, n, "%u", (unsigned)uid);
	return false;
}

