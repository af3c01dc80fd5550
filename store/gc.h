/* gc.h - retention and garbage collection of blobs */
#ifndef MFS_GC_H
#define MFS_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/*
 * gc runs in three steps, each in its own LMDB write transactions:
 *  1. retention: for each model whose policy sets retention.keep_last = N,
 *     every sealed version older (by SemVer precedence) than the newest N
 *     that no alias points at and nobody has open becomes a tombstone,
 *     through mfs_version_remove() (audited). Drafts are never touched.
 *  2. release: the entries of tombstones nobody has open are dropped, and
 *     with them their blob references (refcounts in LMDB).
 *  3. sweep: each blob whose refcount is 0, and each blob file with no
 *     LMDB record and no seal journalling it (a crash's cruft), is removed
 *     inside a write transaction that first re-checks it is unreferenced.
 *     A seal re-checks, inside its own commit, that every blob it reuses
 *     still exists and links it again from its draft if not (seal.c), so
 *     gc and a deduplicating seal can never lose a blob. A blob a draft's
 *     instant copy stands for (ref.h) is kept.
 * MFS_GC_DRY_RUN computes the same plan and changes nothing.
 */

enum mfs_gc_flags {
	MFS_GC_DRY_RUN = 1 << 0,
};

/* Has anybody version vid open (the daemon's open handles)? Called
 * without any store lock held; NULL: nobody (no daemon). */
typedef bool (*mfs_gc_in_use_fn)(void *ctx, uint64_t vid);

struct mfs_gc_version {
	uint64_t vid, size;
	char model[129];
	char version[256];
};

struct mfs_gc_report {
	bool dry_run;
	struct mfs_gc_version *tombstoned;	/* by retention, oldest first */
	size_t ntombstoned;
	struct mfs_gc_version *kept_open;	/* beyond keep_last but open */
	size_t nkept_open;
	uint64_t released;	/* tombstones whose references were dropped */
	uint64_t blobs;		/* blob files removed (cruft included) */
	uint64_t bytes;		/* their sizes */
	uint64_t cruft;		/* of those: files with no LMDB record */
};

/* Run gc on st as caller c (MFS_GC_DRY_RUN: plan only).
 * Returns 0 and *ret, or: -EACCES unless c is a registry admin or the
 * store's owner (logged, with an audit denial); -errno if the store could
 * not be read or written (what was done before stays done and consistent).
 * Ownership: caller releases *ret with mfs_gc_report_release().
 * Threads: one gc at a time per store (a second waits); safe beside seals,
 * reads and the daemon's handlers. in_use is called from this thread. */
int mfs_gc_run(struct mfs_store *st, const struct mfs_caller *c, unsigned flags,
	       mfs_gc_in_use_fn in_use, void *in_use_ctx, struct mfs_gc_report *ret);

void mfs_gc_report_release(struct mfs_gc_report *r);

/* The report as JSON text (README "Garbage collection and retention"):
 * {"dry_run", "tombstoned": [{"model","version","size"}], "kept_open",
 * "released", "blobs_removed", "bytes_freed", "cruft_removed"}.
 * Ownership: caller owns *ret (NUL-terminated); free(). Returns 0 or
 * -ENOMEM. */
int mfs_gc_report_json(const struct mfs_gc_report *r, char **ret, size_t *ret_len);

#endif
