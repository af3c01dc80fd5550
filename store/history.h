/* history.h - a model's alias history: records, replay (time travel), time names */
#ifndef MFS_HISTORY_H
#define MFS_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "alias.h"

/*
 * Every alias change appends one record to its model's history, inside the
 * change's own transaction (promote.c calls store_history_add() of
 * governance.h). A record is one JSON line, rendered as history.jsonl:
 *
 *   {"seq":7,"time":"2026-11-20T10:00:00.123Z","alias":"production",
 *    "from":"1.2.0","to":"1.3.0","uid":1001,"user":"alice",
 *    "approvals":[],"rollback":false}
 *
 * "from"/"to" are version names or null (creation, removal); "user" is the
 * uid's name, or its number as text when the name is unknown; "approvals"
 * are those the policy counted for the move (an array of objects the policy
 * code fills; [] when none); "rollback" is true when "to" was an earlier
 * target of the same alias. Sequence numbers grow per model and are never
 * reused; they may skip (ln's temporary names leave no record).
 *
 * Replaying the records up to a moment gives the aliases as they were then:
 * the time-travel view MNT/models/<m>/@<time>/. The parsers are pure.
 */

/* Parse an RFC 3339 date-time ("2026-11-20T10:00:00Z", with an optional
 * fraction of up to 9 significant digits, "Z" or a numeric offset
 * "+02:00"; 't', 'z' and a space for 'T' are accepted as RFC 3339 allows)
 * or a full date alone ("2026-11-20": midnight UTC) into nanoseconds since
 * the epoch.
 * Returns 0, or: -EINVAL for any other shape or an impossible date or
 * time (month 13, February 30, hour 24); -ERANGE outside the years 1678 to
 * 2261 (what int64 nanoseconds hold).
 * Ownership: nothing is kept; *ret_ns written only on success.
 * Threads: pure, safe from any thread. */
int mfs_history_parse_time(const char *s, int64_t *ret_ns);

/* Parse the name of a time-travel view without its '@': an RFC 3339 time
 * as above (*ret_seq = 0), or "h<N>" with N a decimal sequence number
 * without leading zeros (*ret_seq = N; for "h0", *ret_seq = 0 and *ret_ns =
 * INT64_MIN: the state before any record).
 * Returns 0, or -EINVAL / -ERANGE as mfs_history_parse_time().
 * Ownership: nothing is kept. Threads: pure. */
int mfs_history_parse_at(const char *name, int64_t *ret_ns, uint64_t *ret_seq);

/* The model's aliases as they were right after the last record with seq <=
 * at_seq (at_seq > 0), or with time <= at_ns (at_seq == 0), by name. Each
 * entry has the name, the version name, its id (0 when the version no
 * longer exists at all; a tombstoned version keeps its id: callers show a
 * dangling link), the time of the record that set it (ctime_ns) and the
 * uid who made it, and the seq of that record. A moment before the first
 * record gives none.
 * Returns 0, or: -ENOENT if the model does not exist; -EIO for a record
 * that is not JSON; -ENOMEM.
 * Ownership: caller owns *ret (NULL when *ret_n is 0); free().
 * Threads: a read transaction of its own; safe from any thread. */
int mfs_history_at(struct mfs_store *st, uint64_t model_id, int64_t at_ns,
		   uint64_t at_seq, struct mfs_alias_info **ret, size_t *ret_n);

/* Every record of the model that pointed alias at a version (creations
 * and moves, not removals), in sequence order, each with the seq of its
 * record (the serving view's version numbers), the version's name and id
 * as mfs_history_at() gives them, its time and uid.
 * Returns 0, or the errors of mfs_history_at().
 * Ownership: caller owns *ret (NULL when *ret_n is 0); free().
 * Threads: a read transaction of its own; safe from any thread. */
int mfs_history_moves(struct mfs_store *st, uint64_t model_id, const char *alias,
		      struct mfs_alias_info **ret, size_t *ret_n);

/* The target an alias had before its last change, from history text (the
 * JSON lines of history.jsonl, len bytes): the "from" of the last record of
 * alias, which is where `modelctl rollback` moves it back to.
 * Returns 0, or: -ENOENT if alias has no record, or its last record is its
 * creation (nothing to go back to); -EINVAL if a line is not a JSON
 * object; -ENAMETOOLONG if the version does not fit in n bytes.
 * Ownership: the version is copied into ret_version (n bytes).
 * Threads: pure. */
int mfs_history_previous(const char *text, size_t len, const char *alias,
			 char *ret_version, size_t n);

#endif
