/* kv.h - the storage seam: ordered tables of byte strings, in transactions */
#ifndef MFS_KV_H
#define MFS_KV_H

/*
 * Everything the registry records (models, versions, entries, aliases,
 * history, audit, blobs' reference counts, the seal journal) is a set of
 * tables of (key, value) byte strings kept in key order (memcmp, then
 * length: a shorter key that is a prefix of another sorts first). This
 * module is the only code that knows which engine holds them. Two engines
 * implement it:
 *
 *   kv_lmdb.c  an LMDB environment in STORE/meta (the default; one host)
 *   kv_pg.c    a PostgreSQL database (many hosts; db=URI)
 *
 * Layering: kv.c/kv_lmdb.c/kv_pg.c are the bottom layer of store/. They
 * include no other store/ header but log.h and err.h; nothing else in the
 * project includes lmdb.h or libpq-fe.h (test_layering checks).
 *
 * The rules every engine keeps, and the registry relies on:
 *  - one write transaction at a time in the whole registry, whichever host
 *    or process begins it: kv_txn_begin(write) waits for the previous one
 *    to end. Every registry change is one write transaction, so changes
 *    are totally ordered (the audit chain needs that order anyway);
 *  - a read transaction sees one committed state from its first read to
 *    its end (a snapshot); a write transaction sees its own writes;
 *  - a committed write transaction is durable (it survives a crash of the
 *    process, the host or the database server);
 *  - a transaction is used by exactly one thread; a thread may hold
 *    several read transactions at once, and read transactions beside its
 *    write transaction (they do not see its writes).
 *
 * Errors: every function returns 0 or a negative errno (STYLE A2):
 * -ENOENT for a missing key or the end of a walk, -EEXIST for
 * KV_NOOVERWRITE over a present key, -ENOSPC for a full disk or map, -EIO
 * for a damaged database or a database that cannot be reached (logged once,
 * naming it), -EAGAIN never escapes. A database that could not be reached
 * within the deadline (5 s, MODELFS_DB_TIMEOUT_MS) makes every call fail at
 * once with -EIO for the next second, so that a request made of several
 * calls fails within one deadline; after that the next call tries again. Engines translate their codes here and
 * only here.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv;
struct kv_txn;
struct kv_cursor;

/* A key or value. Values handed out by kv_get()/kv_cursor_get() are
 * borrowed: valid until the transaction ends (a cursor's until it is closed
 * or its transaction ends), and until the next write in that transaction.
 * Never write through data. */
struct kv_val {
	size_t len;
	void *data;
};

/* The registry's tables, by number; kv_open() is given their names. */
#define KV_MAX_TABLES 32

#define KV_NOTFOUND (-ENOENT)	/* the end of a walk, a missing key */

enum kv_flags {
	KV_READONLY = 1 << 0,	/* open: no writes; tables that do not exist
				 * yet read as empty */
	KV_NOOVERWRITE = 1 << 1,	/* put: -EEXIST if the key is present */
};

enum kv_op {
	KV_FIRST,		/* the first key of the table */
	KV_LAST,		/* the last key */
	KV_NEXT,		/* the key after the cursor's (the first when
				 * the cursor is not positioned) */
	KV_PREV,		/* the key before the cursor's (the last when
				 * not positioned) */
	KV_SET_RANGE,		/* the first key >= *k */
	KV_SET_KEY,		/* exactly *k */
};

/* ---- engine: open and close ---- */

/* Open the database that uri names: "lmdb:DIR" (an LMDB environment in
 * directory DIR) or a PostgreSQL connection string or URI
 * ("postgresql://...", "postgres://...", "host=... dbname=...",
 * "service=NAME"). tables names ntables tables (at most KV_MAX_TABLES),
 * created when missing unless KV_READONLY. Returns 0, or -EIO (cannot be
 * reached, or damaged: logged), -EPROTO (the database's schema is newer
 * than this binary: logged), -EINVAL (a uri no engine takes), -errno.
 * Ownership: caller owns *ret; close with kv_close(). */
int kv_open(const char *uri, unsigned flags, const char *const *tables, int ntables,
	    struct kv **ret);
void kv_close(struct kv *kv);

/* A pointer the opener hangs on the kv (the store that owns it), and back.
 * Set before any transaction begins; then read-only. */
void kv_set_userdata(struct kv *kv, void *user);
void *kv_userdata(const struct kv *kv);

/* Is uri a PostgreSQL one (what kv_open() would hand to kv_pg.c)? */
bool kv_uri_is_pg(const char *uri);

/* Does uri give a password, as libpq would read it? */
bool kv_uri_has_password(const char *uri);

/* The engine's name ("lmdb", "postgresql") and, for logs, what it opened
 * (a directory, or the database's name and host; never a password).
 * Borrowed: valid until kv_close(). */
const char *kv_engine(const struct kv *kv);
const char *kv_where(const struct kv *kv);

/* May other hosts open this database at the same time (PostgreSQL: yes;
 * LMDB: no, its one writer is this host's)? */
bool kv_shared(const struct kv *kv);

/* A number that changes whenever a write transaction commits, on any host:
 * a rendering made at one generation holds until the next. 0: unknown.
 * PostgreSQL with a watcher (kv_watch()) counts commits as they are heard
 * of, without a round trip: another host's commit moves it a moment (the
 * notification's way) after it is visible, so a rendering cached under a
 * generation may be stale for that moment, never wrong. */
uint64_t kv_generation(struct kv *kv);

/* Give back memory the engine holds for reads (LMDB: drop this process's
 * mappings of pages; they stay in the page cache). Cheap; can't fail. */
void kv_trim(struct kv *kv);

/* Copy the whole database, compacted, into a new engine-native file at
 * path (LMDB: an environment directory). Returns 0, -ENOTSUP for an
 * engine without such a copy (PostgreSQL: use pg_dump), or -errno. */
int kv_copy(struct kv *kv, const char *path);

/* Copy every table of src into dst (both opened with the same table
 * names, in the same order), from one snapshot of src in one transaction
 * of dst: either engine into either. dst must be empty. Keys and values
 * are copied byte for byte. Returns 0, or -EEXIST (dst holds a key),
 * -ENOSPC, -EIO, -errno; on failure dst is as it was. */
int kv_copy_to(struct kv *src, struct kv *dst);

/* ---- transactions ---- */

/* Begin a transaction. A write transaction waits for the one before it.
 * Returns 0 or -errno (-EIO: the database cannot be reached, within a
 * bounded time). Ownership: end it with kv_txn_commit() or
 * kv_txn_abort(). Threads: one thread uses it. */
int kv_txn_begin(struct kv *kv, bool write, struct kv_txn **ret);
/* Commit (a read transaction: end). The txn is gone either way. Returns 0
 * (committed, durable), KV_IN_DOUBT, or another -errno: -ENOSPC, -EIO...
 * (not committed). An answer lost on its way back (a server that crashed
 * or a network cut mid-commit) is asked for again until the server can
 * say, for a bounded time (PostgreSQL: 30 s by default); KV_IN_DOUBT when
 * it could not: the change may or may not have happened, so undo nothing
 * outside the database that it would rely on. Logged by the engine. */
#define KV_IN_DOUBT (-ETIMEDOUT)
int kv_txn_commit(struct kv_txn *txn);
/* End a transaction, discarding its writes. Can't fail. */
void kv_txn_abort(struct kv_txn *txn);
/* The kv the transaction belongs to. */
struct kv *kv_txn_kv(const struct kv_txn *txn);
bool kv_txn_writable(const struct kv_txn *txn);

/* ---- reads and writes ---- */

/* The value of key k in table t. Returns 0, -ENOENT, or -errno. */
int kv_get(struct kv_txn *txn, int t, const struct kv_val *k, struct kv_val *ret);
/* Set key k of table t to v (copied). flags: 0 or KV_NOOVERWRITE.
 * Returns 0, -EEXIST, -EINVAL (a key longer than 511 bytes or empty),
 * -ENOSPC, or -errno. */
int kv_put(struct kv_txn *txn, int t, const struct kv_val *k, const struct kv_val *v,
	   unsigned flags);
/* Remove key k of table t. Returns 0, -ENOENT, or -errno. */
int kv_del(struct kv_txn *txn, int t, const struct kv_val *k);
/* How many keys table t holds. */
int kv_count(struct kv_txn *txn, int t, uint64_t *ret);

/* ---- lazy commits ---- */

/* Let write transaction txn's commit not wait for the disk: a crash of
 * the machine (not of the process) may undo it until the next ordinary
 * commit or kv_sync(), which make it durable; the database is never torn.
 * LMDB: the commit syncs its pages but writes its meta page without
 * waiting (one sync instead of two). An engine without the distinction
 * (PostgreSQL) commits it as any other. Call any time before the commit. */
void kv_txn_set_lazy(struct kv_txn *txn);
/* Will txn's commit be lazy (kv_txn_set_lazy() on an engine that honours
 * it)? */
bool kv_txn_lazy(const struct kv_txn *txn);
/* Make every committed transaction durable. Returns 0 or -errno. */
int kv_sync(struct kv *kv);

/* ---- change notes: what a commit changed, told to every watcher ---- */

/* The most note bytes one transaction carries; beyond that its notes are
 * replaced by "anything may have changed" (watchers get NULL, 0). */
#define KV_NOTES_MAX 3900

/* Attach len bytes (opaque to kv) to a write transaction: after it
 * commits, they reach every watcher of the database - in this process,
 * and in every other process and host that watches it - and an abort
 * drops them. Returns 0, or -EINVAL (a read transaction). */
int kv_txn_note(struct kv_txn *txn, const void *note, size_t len);

/* Called with the notes of each committed write transaction (a commit
 * without notes too: notes non-NULL, len 0), in commit order per
 * committer: for this process's commits in the committing thread, right
 * after the commit (before kv_txn_commit() returns); for other processes'
 * from a thread of the engine's, as soon as they are heard of. notes NULL
 * (len 0): notes may have been missed (the engine lost touch with the
 * database, then found it again), so anything may have changed. fn must
 * not block, nor begin a transaction of this kv in the engine's thread. */
typedef void (*kv_watch_fn)(void *ctx, const void *notes, size_t len);

/* Watch the database (one watcher per kv; NULL stops). LMDB: the
 * database has one writer process, so only this process's commits are
 * told. PostgreSQL: a connection of its own LISTENs, and every commit
 * NOTIFYs, from any process; it listens before kv_watch() returns when
 * the server answers, else the watcher is told "anything" once it does.
 * Returns 0 or -errno. */
int kv_watch(struct kv *kv, kv_watch_fn fn, void *ctx);

/* ---- cursors ---- */

/* A cursor walks table t in key order. A cursor in a write transaction sees
 * the writes made before each step. Ownership: close with
 * kv_cursor_close() before its transaction ends. */
int kv_cursor_open(struct kv_txn *txn, int t, struct kv_cursor **ret);
/* Move by op and return the key and value there (k is read for
 * KV_SET_RANGE/KV_SET_KEY, then set to the key found). Returns 0, -ENOENT
 * (no such key: the cursor is then not positioned), or -errno. */
int kv_cursor_get(struct kv_cursor *cur, struct kv_val *k, struct kv_val *v, enum kv_op op);
/* Remove the key the cursor is at; KV_NEXT then returns the key after it. */
int kv_cursor_del(struct kv_cursor *cur);
void kv_cursor_close(struct kv_cursor *cur);

#endif
