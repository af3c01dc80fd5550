/* change.h - what a commit changed, told to the daemons of every host */
#ifndef MFS_CHANGE_H
#define MFS_CHANGE_H

#include <stdint.h>

#include "store.h"

/*
 * The kernel caches names and attributes of what never changes behind its
 * back (sealed versions, model directories, the documents' names). Some
 * changes do happen behind it: a seal swaps a draft's names for sealed ones,
 * gc and rmdir on another host remove a version, a chmod on another host
 * narrows who may search a model. Every commit that makes such a change
 * carries a note of it (change.c, through the storage seam's notes), and
 * every daemon of the registry - on this host for its own commits, on the
 * others through the database - is told, so that it makes the kernel
 * forget exactly that. It is the one way the daemon learns what to forget.
 *
 * Names of aliases and `latest` and drafts' contents are never cached, so
 * changes of those carry no note.
 *
 * The attributes of virtual documents (metadata.json, lineage.json,
 * policy.json, history.jsonl, audit.jsonl, index.json) are cached too: their
 * size changes with the registry. A commit says which documents it may have
 * changed with MFS_CHANGE_DOCS notes, or that it changed none with
 * MFS_CHANGE_NO_DOCS; a commit that says neither (every writer that has not
 * been taught to) is told as MFS_CHANGE_DOCS_ALL. Forgetting too much costs
 * a request; too little, a stale size.
 */

enum mfs_change_kind {
	MFS_CHANGE_ANY = 0,	/* notes were lost: anything may have changed */
	MFS_CHANGE_MODEL,	/* a model's owner, group or mode (model_id, name) */
	MFS_CHANGE_MODEL_GONE,	/* a model was removed (model_id, name) */
	MFS_CHANGE_VERSION,	/* a version was sealed, removed or renamed away
				 * from name (model_id, vid, name) */
	MFS_CHANGE_DOCS,	/* the documents of version vid (when not 0), of
				 * model model_id (when not 0) and the
				 * registry's (audit.jsonl, index.json,
				 * policy.json) */
	MFS_CHANGE_NO_DOCS,	/* the commit changed no document */
	MFS_CHANGE_DOCS_ALL,	/* any document may have changed (delivered,
				 * never noted) */
};

struct mfs_change {
	enum mfs_change_kind kind;
	uint64_t model_id, vid;
	char name[256];
};

/* Called once per change of each committed write transaction (fn must not
 * block: hand the work to another thread). For this process's commits in
 * the committing thread, before the call that committed returns; for other
 * processes' from a thread of the store's, as soon as the database tells.
 * A change of kind MFS_CHANGE_ANY: forget everything that may be cached.
 * MFS_CHANGE_NO_DOCS is never delivered. */
typedef void (*mfs_change_fn)(void *ctx, const struct mfs_change *c);

/* Tell fn (NULL: stop) about every change of the registry from now on.
 * Call it before serving (no transaction may run meanwhile), once.
 * Returns 0 or -errno. */
int mfs_store_watch(struct mfs_store *st, mfs_change_fn fn, void *ctx);

#endif
