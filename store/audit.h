/* audit.h - the registry-wide, hash-chained audit trail */
#ifndef MFS_AUDIT_H
#define MFS_AUDIT_H

#include <stddef.h>

#include "store.h"

/*
 * Records are appended by the registry operations themselves, inside the
 * transaction of the event (store_audit() in internal.h), so an event and
 * its record commit together. Each record carries the hash of the previous
 * one ("prev") and its own ("hash"): editing or removing a line breaks the
 * chain after it.
 */

/* Record a refused operation (its own write transaction: the operation's
 * was aborted). op is the event name the operation would have recorded
 * ("alias.move", "version.approve", ...); model, version, alias may be NULL;
 * err is the positive errno returned to the caller; reason is the log line's
 * text. Identical denials in a row (same caller, op, objects, errno) are
 * merged into one record with a count. Returns 0 or -errno; a failure to
 * record never changes the errno the caller gets. */
int mfs_audit_denial(struct mfs_store *st, const struct mfs_caller *c, const char *op,
		     const char *model, const char *version, const char *alias,
		     int err, const char *reason);

/* The whole trail as JSON lines, oldest first.
 * Ownership: caller owns *ret; free(). */
int mfs_audit_render(struct mfs_store *st, char **ret, size_t *ret_len);

/* Check the chain. Returns 0 if intact, -EBADMSG at the first broken record
 * (its sequence number in *ret_bad), or -errno. */
int mfs_audit_verify(struct mfs_store *st, unsigned long long *ret_count,
		     unsigned long long *ret_bad);

#endif
