/* kv_engine.h - private to kv*.c: what an engine of the storage seam fills in */
#ifndef MFS_KV_ENGINE_H
#define MFS_KV_ENGINE_H

/*
 * kv.c dispatches every kv.h call through the engine's ops table. An
 * engine's handles start with these structs (it casts back to its own), and
 * the engine keeps every rule kv.h states. Only kv.c, kv_lmdb.c and
 * kv_pg.c include this header.
 */

#include "kv.h"

struct kv_ops {
	const char *name;
	bool shared;			/* other hosts may open the database */
	void (*close)(struct kv *kv);
	uint64_t (*generation)(struct kv *kv);
	void (*trim)(struct kv *kv);
	int (*copy)(struct kv *kv, const char *path);
	/* NULL: only this process's commits are told (kv.c does that);
	 * else start (on) or stop hearing other processes' (off: returns
	 * once the engine calls the watcher no more). */
	int (*watch)(struct kv *kv, bool on);
	/* NULL: every commit is durable when it returns (kv_txn_set_lazy()
	 * leaves an ordinary one); else make every lazy commit durable. */
	int (*sync)(struct kv *kv);
	int (*txn_begin)(struct kv *kv, bool write, struct kv_txn **ret);
	int (*txn_commit)(struct kv_txn *txn);
	void (*txn_abort)(struct kv_txn *txn);
	int (*get)(struct kv_txn *txn, int t, const struct kv_val *k, struct kv_val *ret);
	int (*put)(struct kv_txn *txn, int t, const struct kv_val *k, const struct kv_val *v,
		   unsigned flags);
	int (*del)(struct kv_txn *txn, int t, const struct kv_val *k);
	int (*count)(struct kv_txn *txn, int t, uint64_t *ret);
	int (*cursor_open)(struct kv_txn *txn, int t, struct kv_cursor **ret);
	int (*cursor_get)(struct kv_cursor *cur, struct kv_val *k, struct kv_val *v,
			  enum kv_op op);
	int (*cursor_del)(struct kv_cursor *cur);
	void (*cursor_close)(struct kv_cursor *cur);
};

/* The head of every engine's handle; read-only after open. */
struct kv {
	const struct kv_ops *ops;
	unsigned flags;			/* enum kv_flags given to kv_open() */
	int ntables;
	char *where;			/* for logs: no password */
	void *user;			/* kv_set_userdata() */
	/* kv_watch(): watch is read and set atomically; watch_ctx is set
	 * before watch */
	kv_watch_fn watch;
	void *watch_ctx;
};

/* The engine allocates it zeroed; kv.c owns notes (engines read them at
 * commit, never free them). */
struct kv_txn {
	struct kv *kv;
	bool write;
	char *notes;			/* kv_txn_note()s, back to back */
	size_t nlen, ncap;
	bool overflow;			/* more than KV_NOTES_MAX: "anything" */
	bool lazy;			/* kv_txn_set_lazy(): the engine's
					 * commit need not wait for the disk */
};

struct kv_cursor {
	struct kv_txn *txn;
};

/* Longest key an engine must take (LMDB's default limit). */
#define KV_KEY_MAX 511

/* The engines' openers (kv.c picks one by the uri). On success they fill
 * the head (ops, flags, ntables, where) of the handle they return. */
int kv_lmdb_open(const char *dir, unsigned flags, const char *const *tables, int ntables,
		 struct kv **ret);
int kv_pg_open(const char *conninfo, unsigned flags, const char *const *tables,
	       int ntables, struct kv **ret);
bool kv_pg_has_password(const char *conninfo);

#endif
