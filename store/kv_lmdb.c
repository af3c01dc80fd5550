/* kv_lmdb.c - the storage seam on LMDB: one environment in a directory */
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "kv_engine.h"
#include "ioprio.h"
#include "log.h"

/*
 * Each kv table is a named LMDB database in the one environment; a kv_val is
 * an MDB_val with its fields renamed, copied at the boundary. LMDB gives
 * kv.h's rules itself: one writer (its writer mutex, across processes too),
 * MVCC snapshots for readers, durability at commit (no MDB_NOSYNC).
 */

#define MAP_SIZE (64ULL << 30)		/* sparse: users never meet MAP_FULL */
#define MAP_SIZE_MIN (1ULL << 30)	/* when the address space refuses that */

struct lmdb {
	struct kv head;
	MDB_env *env;			/* read-only after open */
	MDB_dbi dbi[KV_MAX_TABLES];	/* read-only after open */
	bool absent[KV_MAX_TABLES];	/* read-only opens: not created yet */
	pthread_mutex_t lock;		/* protects map_* */
	uintptr_t map_base;
	size_t map_len;
};

struct ltxn {
	struct kv_txn head;
	MDB_txn *txn;
};

struct lcur {
	struct kv_cursor head;
	MDB_cursor *cur;		/* NULL: the table is absent (empty) */
	bool on;			/* positioned (kv.h: -ENOENT unpositions;
					 * LMDB would stay at the end) */
};

static struct lmdb *L(struct kv *kv)
{
	return (struct lmdb *)kv;
}

static MDB_txn *T(struct kv_txn *t)
{
	return ((struct ltxn *)t)->txn;
}

/* Translate an LMDB or errno code to 0/-errno: the one place (STYLE A2). */
static int err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
	case MDB_READERS_FULL:
	case MDB_TXN_FULL:
	case MDB_CURSOR_FULL:
	case MDB_PAGE_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_PANIC:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EIO;
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

static MDB_val mv(const struct kv_val *v)
{
	MDB_val m = { v->len, v->data };

	return m;
}

static void kvv(struct kv_val *v, const MDB_val *m)
{
	v->len = m->mv_size;
	v->data = m->mv_data;
}

/*============================================================ open/close */

/* Create the environment at path with a map of size bytes. Returns an MDB
 * code; on failure l->env is closed and NULL. */
static int env_open_sized(struct lmdb *l, const char *path, size_t size)
{
	int rc = mdb_env_create(&l->env);

	if (rc) {
		l->env = NULL;
		return rc;
	}
	mdb_env_set_maxdbs(l->env, KV_MAX_TABLES + 2);
	mdb_env_set_maxreaders(l->env, 256);
	rc = mdb_env_set_mapsize(l->env, size);
	/* NOTLS: the daemon's threads begin and end read txns freely. */
	if (rc == 0)
		rc = mdb_env_open(l->env, path, MDB_NOTLS, 0600);
	if (rc) {
		mdb_env_close(l->env);
		l->env = NULL;
	}
	return rc;
}

static const struct kv_ops lmdb_ops;

static void lmdb_close(struct kv *kv)
{
	struct lmdb *l = L(kv);

	if (l->env)
		mdb_env_close(l->env);
	pthread_mutex_destroy(&l->lock);
	free(kv->where);
	free(l);
}

int kv_lmdb_open(const char *dir, unsigned flags, const char *const *tables, int ntables,
		 struct kv **ret)
{
	bool readonly = flags & KV_READONLY;
	struct lmdb *l = calloc(1, sizeof(*l));
	MDB_txn *txn = NULL;
	size_t size;
	int rc, dead = 0;

	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	l->head.ops = &lmdb_ops;
	l->head.flags = flags;
	l->head.ntables = ntables;
	l->head.where = strdup(dir);
	if (!l->head.where) {
		lmdb_close(&l->head);
		return -ENOMEM;
	}
	/* The map is sparse and large so that users never meet MAP_FULL, but
	 * an address space may not hold it in one piece: mmap fails with
	 * ENOMEM under `ulimit -v`, and with EINVAL under valgrind, which
	 * maps nothing of 64 GiB. Halve it down to MAP_SIZE_MIN before
	 * giving up; a store's metadata is small, and a process that maps
	 * less than the data meets MDB_MAP_RESIZED, which txn_begin()
	 * handles. */
	for (size = MAP_SIZE;; size /= 2) {
		rc = env_open_sized(l, dir, size);
		if (rc == 0 || (rc != ENOMEM && rc != EINVAL) || size / 2 < MAP_SIZE_MIN)
			break;
	}
	if (rc) {
		int r = mfs_log_errno(err(rc), "open LMDB '%s': %s", dir, mdb_strerror(rc));

		lmdb_close(&l->head);
		return r;
	}
	if (size != MAP_SIZE)
		mfs_log(MFS_LOG_INFO, "LMDB '%s': the address space refused a %llu GiB map; mapped %zu MiB",
			dir, MAP_SIZE >> 30, size >> 20);
	/* kill -9 leaves stale reader slots behind. */
	mdb_reader_check(l->env, &dead);
	rc = mdb_txn_begin(l->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
	for (int i = 0; rc == 0 && i < ntables; i++) {
		rc = mdb_dbi_open(txn, tables[i], readonly ? 0 : MDB_CREATE, &l->dbi[i]);
		if (rc == MDB_NOTFOUND && readonly) {
			/* Not made yet (a store no writer of this version
			 * has opened): it reads as empty. */
			l->absent[i] = true;
			rc = 0;
		}
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn)
		mdb_txn_abort(txn);
	if (rc) {
		lmdb_close(&l->head);
		return err(rc);
	}
	*ret = &l->head;
	return 0;
}

static uint64_t lmdb_generation(struct kv *kv)
{
	MDB_envinfo info;

	if (mdb_env_info(L(kv)->env, &info) != 0)
		return 0;
	return (uint64_t)info.me_last_txnid;
}

/* Where LMDB mapped the database: the mapping that holds a value LMDB hands
 * out (its API tells the address only of a fixed map). */
static void find_map(struct lmdb *l)
{
	uintptr_t p = 0, a, b;
	MDB_cursor *cur;
	MDB_val k, v;
	char line[512];
	MDB_txn *txn;
	FILE *f;

	if (mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn) != 0)
		return;
	for (int i = 0; !p && i < l->head.ntables; i++) {
		if (l->absent[i] || mdb_cursor_open(txn, l->dbi[i], &cur) != 0)
			continue;
		if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0)
			p = (uintptr_t)v.mv_data;
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	f = p ? fopen("/proc/self/maps", "re") : NULL;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &a, &b) == 2 && p >= a && p < b) {
			l->map_base = a;
			l->map_len = b - a;
			break;
		}
	}
	if (f)
		fclose(f);
}

static void lmdb_trim(struct kv *kv)
{
	struct lmdb *l = L(kv);
	MDB_envinfo info;
	MDB_stat ms;
	size_t len;

	if (mdb_env_info(l->env, &info) != 0 || mdb_env_stat(l->env, &ms) != 0)
		return;
	pthread_mutex_lock(&l->lock);
	if (!l->map_base)
		find_map(l);
	len = (size_t)(info.me_last_pgno + 1) * ms.ms_psize;
	if (len > l->map_len)
		len = l->map_len;
	/* A read-only shared file mapping: the pages stay in the page cache
	 * and fault back in on the next access, from any thread. */
	if (l->map_base)
		madvise((void *)l->map_base, len, MADV_DONTNEED);
	pthread_mutex_unlock(&l->lock);
}

static int lmdb_copy(struct kv *kv, const char *path)
{
	int rc = mdb_env_copy2(L(kv)->env, path, MDB_CP_COMPACT);

	if (rc)
		return mfs_log_errno(err(rc), "copy LMDB to '%s': %s", path, mdb_strerror(rc));
	return 0;
}

/*============================================================ transactions */

/* Is the filesystem under the environment (nearly) full? */
static bool env_full(MDB_env *env)
{
	struct statvfs vfs;
	int fd;

	if (mdb_env_get_fd(env, &fd) != 0 || fstatvfs(fd, &vfs) < 0)
		return false;
	/* root may use the blocks reserved for it */
	return (geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail) * vfs.f_frsize < (1u << 20);
}

static int lmdb_txn_begin(struct kv *kv, bool write, struct kv_txn **ret)
{
	struct lmdb *l = L(kv);
	struct ltxn *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	for (int tries = 0; tries < 3; tries++) {
		int dead = 0;

		rc = mdb_txn_begin(l->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
		if (rc == MDB_MAP_RESIZED) {
			/* Another process grew the map: adopt its size. */
			mdb_env_set_mapsize(l->env, 0);
		} else if (rc == MDB_READERS_FULL) {
			/* Readers beside the daemon (modelctl) killed with -9
			 * leave their slots taken: clear the dead ones. */
			mdb_reader_check(l->env, &dead);
			if (!dead)
				break;
			mfs_log(MFS_LOG_INFO, "cleared %d reader slots of dead processes", dead);
		} else {
			break;
		}
	}
	if (rc) {
		free(t);
		return err(rc);
	}
	t->head.kv = kv;
	t->head.write = write;
	*ret = &t->head;
	return 0;
}

/* Whether this process may use the real-time I/O class (cleared at the
 * first refusal: one failed system call, not one per commit). */
static bool rt_allowed = true;

/*
 * A commit writes a few pages and syncs them, while a promotion, a seal
 * or a reader waits - and the disk may be busy with streaming readers or
 * the writeback of a registration. Its writes go in the real-time I/O
 * class, ahead of that traffic, then the thread's own class is back
 * (the SHA-256 worker's is idle). Without the privilege: as before.
 */
static int commit_first(MDB_txn *t)
{
	int old = -1, rc;

	if (__atomic_load_n(&rt_allowed, __ATOMIC_RELAXED)) {
		old = mfs_ioprio_get();
		if (old >= 0 && mfs_ioprio_set(mfs_ioprio(MFS_IO_RT, 4)) == -EPERM) {
			__atomic_store_n(&rt_allowed, false, __ATOMIC_RELAXED);
			old = -1;
		}
	}
	rc = mdb_txn_commit(t);
	if (old >= 0)
		mfs_ioprio_set(old);
	return rc;
}

static int lmdb_txn_commit(struct kv_txn *txn)
{
	MDB_env *env = L(txn->kv)->env;
	bool lazy = txn->lazy;
	int rc;

	/* Lazy: the meta page through the ordinary descriptor, unsynced,
	 * after the pages it points at were synced - whole after any crash,
	 * durable at the next commit's sync. LMDB 0.9 reads this flag of the
	 * environment at the commit (a transaction's own is ignored), and
	 * this process has one writer at a time: set it for this commit. */
	if (lazy)
		mdb_env_set_flags(env, MDB_NOMETASYNC, 1);
	rc = commit_first(T(txn));
	if (lazy)
		mdb_env_set_flags(env, MDB_NOMETASYNC, 0);
	free(txn);
	/* LMDB reports a short write of its pages - a full filesystem - as
	 * EIO; say what it is. */
	if (rc == EIO && env_full(env))
		return -ENOSPC;
	return err(rc);
}

static int lmdb_sync(struct kv *kv)
{
	return err(mdb_env_sync(L(kv)->env, 1));
}

static void lmdb_txn_abort(struct kv_txn *txn)
{
	mdb_txn_abort(T(txn));
	free(txn);
}

/*============================================================ records */

static int lmdb_get(struct kv_txn *txn, int t, const struct kv_val *k, struct kv_val *ret)
{
	MDB_val mk = mv(k), v;
	int rc;

	if (L(txn->kv)->absent[t])
		return -ENOENT;
	rc = mdb_get(T(txn), L(txn->kv)->dbi[t], &mk, &v);
	if (rc == 0)
		kvv(ret, &v);
	return err(rc);
}

static int lmdb_put(struct kv_txn *txn, int t, const struct kv_val *k, const struct kv_val *v,
		    unsigned flags)
{
	MDB_val mk = mv(k), mvv = mv(v);

	return err(mdb_put(T(txn), L(txn->kv)->dbi[t], &mk, &mvv,
			   flags & KV_NOOVERWRITE ? MDB_NOOVERWRITE : 0));
}

static int lmdb_del(struct kv_txn *txn, int t, const struct kv_val *k)
{
	MDB_val mk = mv(k);

	return err(mdb_del(T(txn), L(txn->kv)->dbi[t], &mk, NULL));
}

static int lmdb_count(struct kv_txn *txn, int t, uint64_t *ret)
{
	MDB_stat ms;
	int rc;

	if (L(txn->kv)->absent[t]) {
		*ret = 0;
		return 0;
	}
	rc = mdb_stat(T(txn), L(txn->kv)->dbi[t], &ms);
	if (rc == 0)
		*ret = ms.ms_entries;
	return err(rc);
}

/*============================================================ cursors */

static int lmdb_cursor_open(struct kv_txn *txn, int t, struct kv_cursor **ret)
{
	struct lcur *c = calloc(1, sizeof(*c));
	int rc = 0;

	if (!c)
		return -ENOMEM;
	if (!L(txn->kv)->absent[t])
		rc = mdb_cursor_open(T(txn), L(txn->kv)->dbi[t], &c->cur);
	if (rc) {
		free(c);
		return err(rc);
	}
	c->head.txn = txn;
	*ret = &c->head;
	return 0;
}

static int lmdb_cursor_get(struct kv_cursor *cur, struct kv_val *k, struct kv_val *v,
			   enum kv_op op)
{
	static const MDB_cursor_op ops[] = {
		[KV_FIRST] = MDB_FIRST, [KV_LAST] = MDB_LAST, [KV_NEXT] = MDB_NEXT,
		[KV_PREV] = MDB_PREV, [KV_SET_RANGE] = MDB_SET_RANGE,
		[KV_SET_KEY] = MDB_SET_KEY,
	};
	struct lcur *c = (struct lcur *)cur;
	MDB_val mk = { 0, NULL }, mvv;
	int rc;

	if (!c->cur)
		return -ENOENT;
	if (op == KV_SET_RANGE || op == KV_SET_KEY)
		mk = mv(k);
	if (op == KV_NEXT && !c->on)
		op = KV_FIRST;
	else if (op == KV_PREV && !c->on)
		op = KV_LAST;
	rc = mdb_cursor_get(c->cur, &mk, &mvv, ops[op]);
	c->on = rc == 0;
	if (rc == 0) {
		kvv(k, &mk);
		if (v)
			kvv(v, &mvv);
	}
	return err(rc);
}

static int lmdb_cursor_del(struct kv_cursor *cur)
{
	struct lcur *c = (struct lcur *)cur;

	if (!c->cur || !c->on)
		return c->cur ? -EINVAL : -ENOENT;
	return err(mdb_cursor_del(c->cur, 0));
}

static void lmdb_cursor_close(struct kv_cursor *cur)
{
	struct lcur *c = (struct lcur *)cur;

	if (c->cur)
		mdb_cursor_close(c->cur);
	free(c);
}

static const struct kv_ops lmdb_ops = {
	.name = "lmdb",
	.shared = false,
	.close = lmdb_close,
	.generation = lmdb_generation,
	.trim = lmdb_trim,
	.copy = lmdb_copy,
	.sync = lmdb_sync,
	.txn_begin = lmdb_txn_begin,
	.txn_commit = lmdb_txn_commit,
	.txn_abort = lmdb_txn_abort,
	.get = lmdb_get,
	.put = lmdb_put,
	.del = lmdb_del,
	.count = lmdb_count,
	.cursor_open = lmdb_cursor_open,
	.cursor_get = lmdb_cursor_get,
	.cursor_del = lmdb_cursor_del,
	.cursor_close = lmdb_cursor_close,
};
