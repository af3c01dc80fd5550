/* store.h - the registry store: open/close STORE/, callers, threading rules */
#ifndef MFS_STORE_H
#define MFS_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A store is a directory:
 *
 *   STORE/meta/          LMDB environment (models, versions, entries, aliases,
 *                        blobs, seal journal, history, audit), unless
 *   STORE/config         names another database (PostgreSQL), blob or draft
 *                        directory (config.h)
 *   STORE/blobs/ab/HASH  one immutable file per distinct content, mode 0444
 *   STORE/drafts/ID/     one real directory per draft version
 *   STORE/lock           flock()ed by the serving daemon; holds its mount point
 *
 * store/ is the only code that touches LMDB, blobs or drafts: fs/ and tools/
 * call the registry operations declared in model.h, version.h, alias.h and
 * seal.h, which enforce every rule, so the daemon and modelctl cannot
 * disagree.
 *
 * LMDB rules, stated once:
 *  - a transaction is used by exactly one thread and never outlives the
 *    store call that began it: no transaction is held across two FUSE
 *    requests (readdir snapshots into memory);
 *  - the environment is opened after daemonizing, never before a fork();
 *  - there is one environment (one struct mfs_store) per process.
 * Every function taking a struct mfs_store is safe to call from any thread.
 */

struct mfs_store;

/* Who asks: from the FUSE request, or the tool's own credentials.
 * groups (ngroups of them; may be NULL with 0) are the supplementary groups,
 * borrowed for the duration of the call. */
struct mfs_caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int ngroups;
	const gid_t *groups;
};

enum mfs_store_flags {
	MFS_STORE_SERVE = 1 << 0,	/* take STORE/lock (retrying ~2 s): the
					 * writer of record */
	MFS_STORE_READONLY = 1 << 1,	/* read verbs beside a daemon: no lock,
					 * no recovery, no writes */
	MFS_STORE_CREATE = 1 << 2,	/* initialise a missing or empty dir */
};

/* Check that dir can hold a store without opening it: a missing or empty
 * directory is created/initialised (mode 0700) when MFS_STORE_CREATE is set.
 * Safe before fork() (it never opens LMDB).
 * Returns 0, or: -ENOTDIR if dir is not a directory; -EPERM if it is owned by
 * another user; -EEXIST if it holds foreign contents; -ENOENT if missing and
 * not MFS_STORE_CREATE; another -errno from mkdir. Each refusal is logged. */
int mfs_store_prepare(const char *dir, unsigned flags);

/* Open the store at dir. With MFS_STORE_SERVE, take the lock (retrying for
 * about 2 s), record mount (may be NULL) in STORE/lock, and recover from a
 * crash (remove blobs named in the seal journal that nothing references and
 * the leftovers of sealed drafts).
 * Returns 0, or: -EBUSY if another daemon serves the store (logged with its
 * pid and mount point); -ENOENT/-ENOTDIR/-EEXIST as mfs_store_prepare();
 * -EIO if LMDB reports corruption; another -errno.
 * Ownership: caller owns *ret; close with mfs_store_close(). */
int mfs_store_open(const char *dir, unsigned flags, const char *mount,
		   struct mfs_store **ret);
void mfs_store_close(struct mfs_store *st);

/* Does the database string db give a password (as libpq reads it)? Such
 * a string is refused everywhere: command lines are every user's to read,
 * and STORE/config would keep it; libpq reads passwords from PGPASSFILE
 * (~/.pgpass) and service files. */
bool mfs_store_db_has_password(const char *db);

/* mfs_store_open() with over's non-empty fields (config.h; may be NULL)
 * in place of what STORE/config records (they are not recorded: see
 * mfs_config_set()). dir may be NULL for a read-only open of a registry by
 * its database (over->db) alone: `modelctl --db URI`; then there are no
 * drafts, and blobs only when over->blobs names them. */
struct mfs_config;
int mfs_store_open_at(const char *dir, const struct mfs_config *over, unsigned flags,
		      const char *mount, struct mfs_store **ret);

/* A number that changes whenever anything in the store's database does
 * (LMDB's last committed transaction, whoever committed it): a rendering
 * made at one generation holds until the next. 0: unknown. */
uint64_t mfs_store_generation(struct mfs_store *st);

/* Make every change of the registry committed so far durable (an alias
 * creation need not be when its call returns: see objects.h
 * store_txn_lazy()). Returns 0 or -errno. */
int mfs_store_sync(struct mfs_store *st);

/* Drop this process's mappings of database pages (they stay in the page
 * cache; the next access maps them again): after a walk of the whole
 * registry, so the daemon's resident size does not grow with it. */
void mfs_store_trim(struct mfs_store *st);

/* The store directory (a store opened by its database alone: the
 * database string). Borrowed: valid until mfs_store_close(). */
const char *mfs_store_dir(const struct mfs_store *st);
/* The draft and blob directories ("" when the store has none). Borrowed. */
const char *mfs_store_drafts_dir(const struct mfs_store *st);
const char *mfs_store_blobs_dir(const struct mfs_store *st);
/* Where the registry's database is, for people (no password), and its
 * engine ("lmdb", "postgresql"). Borrowed. */
const char *mfs_store_db(const struct mfs_store *st);
const char *mfs_store_engine(const struct mfs_store *st);

/* Called once per audit record after its transaction committed, in commit
 * order, with the stored record (one JSON object, hash included; borrowed
 * for the call). It must be quick and must not call into the store: it
 * runs while the committing thread holds the store's sink lock.
 * Records of aborted transactions never reach it. */
typedef void (*mfs_event_sink_fn)(void *ctx, const char *record);

/* Register the sink (NULL: none). Threads: call before serving. */
void mfs_store_set_event_sink(struct mfs_store *st, mfs_event_sink_fn fn, void *ctx);

/* Is a daemon serving the store at dir? Returns 1 and copies its mount point
 * into mount (size n) if so, 0 if not, or -errno if dir cannot be read. */
int mfs_store_served(const char *dir, char *mount, size_t n);

/* Wall-clock now in nanoseconds. This function can't fail. */
int64_t mfs_now_ns(void);

/* RFC 3339 UTC text ("2026-11-25T19:04:05.123Z") of a time in ns. */
void mfs_time_rfc3339(int64_t ns, char out[40]);

#endif
