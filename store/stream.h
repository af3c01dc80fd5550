/* stream.h - a log of JSON-line records read by offset, never held whole */
#ifndef MFS_STREAM_H
#define MFS_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

/*
 * The logs that grow without end - the audit trail (audit.h) and a model's
 * alias history (alias.h) - are read as files of JSON lines. A stream is a
 * snapshot of one log as at open: the records up to the last one then, its
 * size in bytes (one pass over the records, nothing kept), and a position
 * kept between reads, so a sequential reader costs one more pass whatever
 * the log's size. Records the log may still rewrite or drop are copied at
 * open: the last one (the audit trail's merged denials) and, for a
 * history, the creation records of aliases a rename may drop. A record
 * that leaves the snapshot otherwise (an audit record no longer visible to
 * its reader: a model given away) is left out, and newlines at the end
 * keep the snapshot's size.
 *
 * Opened by the log's own module (mfs_audit_stream_open(),
 * mfs_alias_history_stream_open()). Threads: one stream may be read from
 * several threads (it locks itself). Ownership: the opener's caller owns
 * the stream; mfs_stream_close().
 */
struct mfs_stream;

/* Copy up to n bytes from offset off into buf. Returns how many (0 at the
 * end), or -errno: -ENOMEM, or -EIO when the store cannot be read (a
 * damaged database). */
ssize_t mfs_stream_read(struct mfs_store *st, struct mfs_stream *s, uint64_t off,
			char *buf, size_t n);

/* The stream's size, as at open. */
uint64_t mfs_stream_size(const struct mfs_stream *s);

/* Close s (NULL: nothing). */
void mfs_stream_close(struct mfs_stream *s);

#endif
