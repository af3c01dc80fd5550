/* audit.h - the registry-wide, hash-chained audit trail */
#ifndef MFS_AUDIT_H
#define MFS_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

/*
 * Records are appended by the registry operations themselves, inside the
 * transaction of the event (store_audit() in governance.h), so an event and
 * its record commit together. A record is one JSON object: seq, time,
 * event, uid, user, pid, the objects (model, version, alias, from/to, ...),
 * result ("ok" or "denied"), errno and reason of denials, then its link:
 * chain (the scheme: "sha256", or "hmac-sha256" under an audit key;
 * records of older stores have none and an XXH3 link), prev (the previous
 * record's hash; zeros for the first) and hash, always last. Editing,
 * inserting or removing a record breaks the link after it; see README
 * "Audit trail" for what that protects against.
 *
 * fs/ and tools/ never append: they call the registry operations, and
 * mfs_audit_denial()/mfs_audit_refuse() for refusals.
 */

/* Record a refused operation (its own write transaction: the operation's
 * was aborted or never began). op is the event name the operation would
 * have recorded ("alias.move", "version.create", ...); model, version, alias
 * may be NULL; err is the positive errno returned to the caller; reason is
 * the log line's text. A denial identical to the last record (same uid,
 * pid, op, model, version, alias and errno; the reason may differ) is not
 * appended: the last record is rewritten with "count" one higher and
 * "last_time", re-linked to the same predecessor, so the chain stays whole
 * (only the last record is ever rewritten). A merge is not handed to the
 * event sink again. Returns 0 or -errno; a failure to record never changes
 * the errno the caller gets. Threads: any; must not be called with a write
 * transaction open on the calling thread. */
int mfs_audit_denial(struct mfs_store *st, const struct mfs_caller *c, const char *op,
		     const char *model, const char *version, const char *alias,
		     int err, const char *reason);

/* mfs_audit_denial() of objects known by id (fs/ knows inodes): the model
 * (model_id; 0: none, or the version's), the version (vid; 0: none, then
 * version names it, may be NULL). Unknown ids record no name.
 * Returns 0 or -errno, as mfs_audit_denial(). */
int mfs_audit_denial_ids(struct mfs_store *st, const struct mfs_caller *c, const char *op,
			 uint64_t model_id, uint64_t vid, const char *version, int err,
			 const char *reason);

/* A refusal in one call: log the formatted reason (one line, as
 * mfs_log_errno()), record it with mfs_audit_denial(), and return -err
 * (err may be given as positive or negative), so a refusal site is
 * `return mfs_audit_refuse(st, c, "version.create", m, v, NULL, -EROFS, "...", ...);`.
 * This function can't fail (a failure to record is logged only). */
int mfs_audit_refuse(struct mfs_store *st, const struct mfs_caller *c, const char *op,
		     const char *model, const char *version, const char *alias,
		     int err, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* The trail as c sees it (as mfs_audit_render()), as a stream
 * (stream.h): read by offset, never held whole. c NULL: every record.
 * Ownership: caller owns *ret; mfs_stream_close(). */
struct mfs_stream;
int mfs_audit_stream_open(struct mfs_store *st, const struct mfs_caller *c,
			  struct mfs_stream **ret, uint64_t *ret_size);

/* The trail as c may see it, as JSON lines, oldest first: every record for
 * an admin (mfs_caller_is_admin(); c NULL counts as one: the store's owner
 * reading it directly); for others, the records of models c owns now, and
 * c's own records that name no model or a model that does not exist (a
 * refused or removed one). One whole read of mfs_audit_stream_open()'s
 * stream. Ownership: caller owns *ret; free(). */
int mfs_audit_render(struct mfs_store *st, const struct mfs_caller *c, char **ret,
		     size_t *ret_len);

/* What mfs_audit_verify() found. */
struct mfs_audit_check {
	uint64_t count;		/* records read */
	uint64_t last_seq;	/* the last record whose link held */
	uint64_t bad_seq;	/* the first broken link (0: none) */
	const char *why;	/* why it is broken (static text), or NULL */
	uint64_t unkeyed;	/* HMAC records whose MAC was not checked (no key) */
	char head[65];		/* hash of last_seq's record */
};

/* Walk the chain in one read transaction (beside a daemon too). With key
 * (len bytes; NULL: none) HMAC records are checked and the chain must end
 * in one; without, their MACs are skipped (counted in unkeyed) and only
 * their links to each other are checked.
 * Returns 0 if intact, -EBADMSG at the first broken link (*ret says
 * which and why), or another -errno (then *ret is not written). */
int mfs_audit_verify(struct mfs_store *st, const void *key, size_t len,
		     struct mfs_audit_check *ret);

/* The chain's head: the last record's seq (0 and "" when the trail is
 * empty) and hash. Returns 0 or -errno. */
int mfs_audit_head(struct mfs_store *st, uint64_t *ret_seq, char ret_hash[65]);

/* Does the trail end in an HMAC record? Then only a key holder may extend
 * it: a record without the key would be a downgrade, a broken link.
 * Returns 1, 0 (no, or no records), or -errno. */
int mfs_audit_keyed(struct mfs_store *st);

/* Read an audit key file once: its bytes, a final newline excluded, at most
 * 4096. Returns 0, or: -EPERM if the file is readable by every user;
 * -EINVAL if it is empty, too long or not a regular file; -errno of open.
 * Each refusal is logged. Ownership: caller owns *ret_key; free(). */
int mfs_audit_key_load(const char *path, void **ret_key, size_t *ret_len);

/* Make every record appended from now on an HMAC-SHA256 link under key
 * (copied; NULL/0: plain SHA-256 again). Returns 0 or -ENOMEM.
 * Threads: call before serving. */
int mfs_store_set_audit_key(struct mfs_store *st, const void *key, size_t len);

/* The event sink (each committed record, for -o hook) is set with
 * mfs_store_set_event_sink() of store.h. */

#endif
