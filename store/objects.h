/* objects.h - private to store/: the registry's objects above the storage seam */
#ifndef MFS_OBJECTS_H
#define MFS_OBJECTS_H

/*
 * The middle layer of store/ (README, "Layout of the code"): models,
 * versions, aliases, entries, seals and blobs as records in the tables of
 * the storage seam (kv.h), and the store that holds them. Governance
 * (governance.h: policy, approvals, audit, history, retention) is the layer
 * above: objects never include its headers; where a change needs a rule
 * decided or recorded, they ask through the store's rules (struct
 * store_rules below), which the governance layer installs when it opens a
 * store. Nothing outside store/ includes this header. The records live in the
 * tables of the storage seam (kv.h), whichever engine holds them. Records
 * are fixed little-endian structs followed by variable bytes; keys are
 * big-endian so the seam's memcmp order is numeric order. Every host of one
 * registry is little-endian (x86-64, arm64): the record layout is the same
 * on all of them.
 */

#include <pthread.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "store.h"
#include "hash.h"
#include "kv.h"
#include "change.h"

#define MFS_SCHEMA_VERSION 1

enum {
	DB_INFO,	/* "schema" -> u32, "seq" -> u64 next id */
	DB_MODELS,	/* name -> struct rec_model */
	DB_MODEL_IDS,	/* be64 id -> name */
	DB_MMETA,	/* be64 model id -> model-level metadata JSON */
	DB_POLICY,	/* be64 model id -> policy JSON */
	DB_VERSIONS,	/* be64 model id + name -> struct rec_version */
	DB_VERSION_IDS,	/* be64 vid -> be64 model id + name */
	DB_VMETA,	/* be64 vid -> user metadata JSON */
	DB_ENTRIES,	/* be64 eid -> struct rec_entry + name + link target */
	DB_DIRENTS,	/* be64 vid + be64 parent eid (0: root) + name -> be64 eid */
	DB_ALIASES,	/* be64 model id + name -> struct rec_alias */
	DB_HISTORY,	/* be64 model id + be64 seq -> JSON line */
	DB_BLOBS,	/* digest[16] -> struct rec_blob */
	DB_JOURNAL,	/* digest[16] -> be64 vid: blob names a seal is creating */
	DB_AUDIT,	/* be64 seq -> JSON line */
	DB_CHILDREN,	/* "model@version" NUL be64 child vid -> "" (lineage) */
	DB_ANNOT,	/* be64 vid -> annotations JSON (approvals, lifecycle, tags) */
	DB_SHA256,	/* digest[16] -> SHA-256[32] of the blob (sha256.c) */
	DB_SHA_PENDING,	/* digest[16] -> "": blobs whose SHA-256 is still owed */
	DB_HOSTS,	/* be64 host -> JSON: a serving daemon, alive until (lease.c) */
	DB_LEASES,	/* be64 vid + be64 host -> "": a file of vid open there */
	DB_COUNT
};

struct rec_model {
	uint64_t id;
	uint32_t uid, gid, mode, pad;
	int64_t ctime_ns;
};

struct rec_version {
	uint64_t id, model_id;
	uint32_t state, uid, gid, mode;
	int64_t created_ns, sealed_ns, mtime_ns;
	uint32_t sealed_uid, has_meta;
	uint64_t size, nfiles;
	/* Appended fields: an older record is shorter and reads them as 0. */
	uint64_t host;		/* the host whose draft it is (0: any; an
				 * older store's) */
};

/* The length of a version record before its appended fields. */
#define REC_VERSION_V1 offsetof(struct rec_version, host)

struct rec_entry {
	uint64_t id, vid, parent;
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	int64_t mtime_ns;
	uint8_t digest[16];
	uint16_t name_len, target_len;
	uint32_t format;	/* enum mfs_format, detected at seal */
	/* then name_len bytes of name, target_len bytes of symlink target */
};

struct rec_alias {
	uint64_t vid;
	int64_t ctime_ns;
	uint32_t uid, pad;
	uint64_t hseq;		/* history record of its creation (0: none) */
};

struct rec_blob {
	uint64_t refs, size;
};

struct mfs_store {
	char *dir;			/* read-only after open */
	char *blobs_dir, *drafts_dir;	/* read-only after open (NULL: none) */
	unsigned flags;			/* read-only after open */
	int dirfd, blobs_fd, drafts_fd;	/* read-only after open */
	int lock_fd;			/* read-only after open */
	struct kv *kv;			/* read-only after open */
	pthread_mutex_t lock;		/* protects sealing[], creating[] */
	uint64_t sealing[64];		/* vids being sealed; protected by lock */
	uint64_t creating[16];		/* vids whose create may still remove the
					 * draft's directory; protected by lock */
	gid_t admin_gid;		/* set before serving, then read-only */
	bool has_admin_gid;
	void *audit_key;		/* set before serving, then read-only */
	size_t audit_key_len;
	mfs_event_sink_fn sink;		/* set before serving, then read-only */
	void *sink_ctx;
	/* Texts for the sink at the commit of the open write txn
	 * (store_sink_add()). The seam has one write txn at a time; the lock
	 * is for readers' commits that look. */
	pthread_mutex_t ev_lock;	/* protects pend* */
	pthread_mutex_t sink_lock;	/* keeps sink calls in commit order */
	struct kv_txn *pend_txn;
	char **pend;
	size_t npend, pend_cap;
	/* Held by gc while it decides which blob files to remove and removes
	 * them, and by mfs_ref_make(): a draft's instant copy names a blob
	 * that no record counts, so the two must not interleave. */
	pthread_mutex_t gc_lock;
	struct sha_worker *sha;		/* sha256.c; NULL: no worker */
	/* This store's number among the hosts of its registry (config.h):
	 * its drafts and seal journal entries carry it. 0: a read-only open
	 * of a store that never served. Read-only after open. */
	uint64_t host;
	mfs_change_fn change_fn;	/* change.h; set before serving */
	void *change_ctx;
	struct lease_state *lease;	/* lease.c; NULL: not publishing */
	const struct store_rules *rules;	/* read-only after open */
	/* When the last write transaction began, in CLOCK_MONOTONIC ns, not
	 * counting the background threads' (store_background()); atomic. */
	int64_t fg_write_ns;
	/* Lazy commits (store_txn_lazy()): one is not durable yet (atomic;
	 * written under sink_lock), and the audit texts they hold back from
	 * the sink until it is (sink_lock). */
	bool lazy;
	char **lazy_ev;
	size_t nlazy;
	struct flusher *flusher;	/* store.c; NULL: not started */
};

/* Let write transaction txn commit lazily: the call that commits returns
 * before the commit is durable (one disk sync instead of two on LMDB), and
 * it becomes durable at the next ordinary commit, or within
 * STORE_LAZY_MS. Until then a crash of the machine may undo it, so no one
 * is shown what it wrote that a crash could take back: its audit records
 * reach the sink (hooks) only once durable, and readers of the logs call
 * store_durable() first. For what a crash between two commits already
 * leaves in an acceptable state (ln -sfn's temporary link). */
void store_txn_lazy(struct kv_txn *txn);
#define STORE_LAZY_MS 20
/* Make every lazy commit of the registry durable before reading what it
 * wrote: this process's by a commit now; another process's (a daemon
 * beside modelctl) by waiting for it (at most a second). 0 or -errno. */
int store_durable(struct mfs_store *st);

/* Mark the calling thread as background work (the SHA-256 worker): its
 * writes do not count as the registry's users' in fg_write_ns. */
void store_background(void);
/* Wait until no user has begun a write for quiet_ms, at most max_ms (or
 * until stop(ctx) says so): background writers yield the writer's lock. */
void store_yield_writer(struct mfs_store *st, int quiet_ms, int max_ms,
			bool (*stop)(void *ctx), void *ctx);

/* Begin a transaction of the store's kv (a write one also starts the
 * audit events it will hand to the sink). Returns 0 or -errno. */
int store_txn_begin(struct mfs_store *st, bool write, struct kv_txn **ret);
/* Commit, then hand the txn's audit records to the event sink; returns
 * 0/-errno. The txn is gone either way. */
int store_txn_commit(struct kv_txn *txn);

/* A read transaction and a cursor over db, for a walk of all of it; end
 * both with kv_cursor_close() and kv_txn_abort(). Returns 0/-errno. */
int store_read_cursor(struct mfs_store *st, int db, struct kv_txn **ret_txn,
		      struct kv_cursor **ret_cur);

/* Copy len bytes (UINT64_MAX: to the end) of sfd from offset 0 to dfd at
 * offset 0: in the kernel on one filesystem, through a buffer across two.
 * *ret_copied (may be NULL) says how many. Returns 0, -EIO if sfd ended
 * before len, or -errno. dfd must not be O_APPEND. */
int store_copy(int sfd, int dfd, uint64_t len, uint64_t *ret_copied);

/* More files than this are made durable with one syncfs() of their
 * filesystem rather than an fsync() each: on ext4 every fsync is a journal
 * commit, and 2,000 small files made 2,000 of them. */
#define STORE_SYNCFS_MIN 32

/* Note a change in a write txn, for every daemon's kernel cache
 * (change.h). name: the model's or version's. Returns 0 or -errno. */
int store_note(struct kv_txn *txn, enum mfs_change_kind kind, uint64_t model_id,
	       uint64_t vid, const char *name);

/* Is the version a draft of another host (version.c)? Such a draft is
 * listed and found nowhere but there; its name is taken all the same. */
bool store_remote_draft(const struct mfs_store *st, const struct rec_version *rv);

/* Remove every draft record of the model, whichever host made it (a
 * restore: the files of drafts are never in a backup); *ret_n: how many.
 * Returns 0 or -errno. */
int store_discard_drafts(struct mfs_store *st, const struct mfs_caller *c, uint64_t model_id,
			 size_t *ret_n);

/* How many drafts the model has, of any host. */
int store_count_drafts(struct mfs_store *st, uint64_t model_id, size_t *ret_n);

/* Copy the store's whole database, from one snapshot, into the empty
 * database uri names ("lmdb:DIR" or PostgreSQL; made when missing): the
 * records byte for byte. Returns 0, -EEXIST (not empty), or -errno. */
int store_copy_db(struct mfs_store *st, const char *uri);

/* lease.c. Is host alive (its row unexpired; this host always; 0, the
 * host of records from before hosts, never)? Does another live host hold
 * a lease on vid (this host's opens are the daemon's to tell: they lag in
 * the rows by a heartbeat)? Both read txn. */
bool store_host_alive(struct mfs_store *st, struct kv_txn *txn, uint64_t host);
bool store_leased(struct mfs_store *st, struct kv_txn *txn, uint64_t vid);

/* Next id from the store-wide sequence (inside a write txn). */
int store_next_id(struct mfs_store *st, struct kv_txn *txn, uint64_t *ret);

static inline void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Copy a fixed record out of a kv value (values are not aligned). A
 * short or long value (a damaged store) never over-reads: the copy is cut
 * or zero-filled. */
static inline void rec_get(void *dst, size_t n, const struct kv_val *v)
{
	size_t k = v->len < n ? v->len : n;

	memcpy(dst, v->data, k);
	memset((char *)dst + k, 0, n - k);
}

/* Key buffer big enough for two ids and a NAME_MAX name. */
struct key {
	uint8_t b[16 + 256];
	struct kv_val v;
};

void key_id(struct key *k, uint64_t a);
void key_id_name(struct key *k, uint64_t a, const char *name);
void key_id_id(struct key *k, uint64_t a, uint64_t b);
void key_id_id_name(struct key *k, uint64_t a, uint64_t b, const char *name);

/* -EACCES (logged) unless c may write model rm (W and X on its directory)
 * or is a registry admin: the rule for versions and model documents. */
int store_model_writable(struct mfs_store *st, const struct mfs_caller *c,
			 const struct rec_model *rm, const char *model);

/* The text stored under be64 id in db, or dflt when there is none, as a
 * NUL-terminated copy. Ownership: caller owns *ret; free(). */
int store_get_text(struct mfs_store *st, int db, uint64_t id, const char *dflt,
		   char **ret, size_t *ret_len);

/* Index vid under each "model@version" its metadata names as a parent, so
 * lineage finds children without a scan (inside the seal's txn). */
int store_link_parents(struct mfs_store *st, struct kv_txn *txn, uint64_t vid);

/* SHA-256 digests (sha256.c). Owe the SHA-256 of blob d: inside the
 * seal's write txn, for a blob that has none yet. Returns 0 or -errno. */
int store_sha256_enqueue(struct mfs_store *st, struct kv_txn *txn, const uint8_t d[16]);
/* Forget blob d's SHA-256 (gc, inside the txn that removes the blob). */
void store_sha256_forget(struct mfs_store *st, struct kv_txn *txn, const uint8_t d[16]);
/* Wake the worker after a commit that enqueued. Never blocks long. */
void store_sha256_kick(struct mfs_store *st);
/* Stop the worker, if any (mfs_store_close). */
void store_sha256_stop(struct mfs_store *st);

/* Call fn with the digest of each regular file entry of version vid (in
 * txn); a non-zero return stops the walk and is returned (version.c). */
int store_version_files(struct mfs_store *st, struct kv_txn *txn, uint64_t vid,
			int (*fn)(void *ctx, const uint8_t digest[16]), void *ctx);

/* Lookup helpers shared by the registry modules. */
/* The alias row name of model_id. Returns 0, -ENOENT, or -EIO (a damaged
 * row). */
int store_get_alias(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
		    const char *name, struct rec_alias *ret);
/* Does an alias of model_id point at vid? Returns 1 (its name copied into
 * ret_alias, n bytes), 0, or -errno. */
int store_vid_aliased(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
		      uint64_t vid, char *ret_alias, size_t n);
/* The version "model@version" names. Returns 0, or -ENOENT when the
 * registry does not have it. */
int store_resolve_ref(struct mfs_store *st, struct kv_txn *txn, const char *ref,
		      struct rec_version *rv);
int store_get_version(struct mfs_store *st, struct kv_txn *txn, uint64_t vid,
		      struct rec_version *ret, char *ret_name, size_t n);
int store_put_version(struct mfs_store *st, struct kv_txn *txn,
		      const struct rec_version *rv, const char *name);
int store_get_model(struct mfs_store *st, struct kv_txn *txn, uint64_t id,
		    struct rec_model *ret, char *ret_name, size_t n);

/* Call fn(key, value, ctx) for each record of db whose key starts with
 * be64 id, in key order, until fn returns non-zero (which is returned).
 * Returns 0 when every record was seen, or -errno. */
typedef int (*store_each_fn)(const struct kv_val *k, const struct kv_val *v, void *ctx);
int store_each_under(struct mfs_store *st, struct kv_txn *txn, int db, uint64_t id,
		     store_each_fn fn, void *ctx);

/* The JSON stored under be64 id in db, parsed, or NULL (none, or not
 * JSON). Caller cJSON_Delete()s. */
struct cJSON *store_get_json(struct mfs_store *st, struct kv_txn *txn, int db, uint64_t id);

/* The user name of uid into buf, or its number when it has none (then
 * returns false). This function can't fail. */
bool store_user_name(uid_t uid, char *buf, size_t n);

/* Has every regular file of vid its SHA-256? */
int store_sha256_complete(struct mfs_store *st, struct kv_txn *txn, uint64_t vid, bool *ret);

/* Texts to hand to the store's event sink (store.h) once the write txn
 * commits, in commit order: a write txn's begin clears them (aborts happen
 * in many places), store_txn_commit() hands them on. A no-op without a
 * sink. This function can't fail (out of memory: the text is dropped). */
void store_sink_add(struct mfs_store *st, struct kv_txn *txn, const char *text);

/* ---- what the objects ask of governance ---- */

/*
 * Every change of an object is decided and recorded by the layer above,
 * inside the change's own transaction: the objects call these at the
 * points below, and never know what policy, approvals or the audit trail
 * are. The governance layer fills the table (registry.c) and every store
 * is opened with it.
 */
struct cJSON;
struct store_rules {
	/* The change event (model.create, version.seal, ...) happened in
	 * txn: record it (the audit trail). fields (consumed) names what. */
	int (*record)(struct mfs_store *st, struct kv_txn *txn, const struct mfs_caller *c,
		      const char *event, struct cJSON *fields);
	/* The change was refused with r, after its txn ended: record the
	 * refusal when r is one (-EACCES, -EPERM, -EROFS, or also). Returns r
	 * unchanged. model "" counts as none. */
	int (*denied)(struct mfs_store *st, const struct mfs_caller *c, int r, int also,
		      const char *op, const char *model, const char *version,
		      const char *alias);
	/* May a model be named name / a version of model be named name / a
	 * draft be sealed? 0, or -EINVAL/-EPERM (logged). */
	int (*model_name)(struct mfs_store *st, struct kv_txn *txn, const char *name);
	int (*version_name)(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
			    const char *model, const char *name);
	int (*seal)(struct mfs_store *st, uint64_t vid);
	/* What people said of a version (approvals, lifecycle, tags: a JSON
	 * object, {} when none) for its metadata.json. Caller deletes. */
	int (*annotations)(struct mfs_store *st, struct kv_txn *txn, uint64_t vid,
			   struct cJSON **ret);
};

/* Open the store at dir (store.h: mfs_store_open_at()) with rules, which
 * every change will ask (read-only after open). registry.c is the one
 * caller: the public openers are there, where the layers meet. */
struct mfs_config;
int store_open(const char *dir, const struct mfs_config *over, unsigned flags,
	       const char *mount, const struct store_rules *rules, struct mfs_store **ret);

#endif
