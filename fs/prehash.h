/* prehash.h - hash a draft file once its last writer has closed it */
#ifndef MFS_PREHASH_H
#define MFS_PREHASH_H

#include <stdint.h>

/*
 * With passthrough the daemon never sees a draft's bytes, so the seal
 * used to read every file again to hash it. A thread of its own now
 * hashes each file as soon as its last writer closes it - while cp writes
 * the next one - and the seal takes that digest (node_seal_hint()) when
 * nothing can have changed the bytes since: no writer opened the file and
 * no truncate or copy reached it (struct node's wgen). The seal first
 * has its version's files still queued hashed (prehash_drain()).
 *
 * Threads: any. The queue's lock is taken alone (never with d->lock or
 * a node's hlock held).
 */

struct mfsd;
struct node;

/* Start the thread (d->ph). Returns 0 or -errno; without it the seal
 * hashes every file itself, as before. */
int prehash_start(struct mfsd *d);

/* Stop it and drop what is queued (before the node table is freed). */
void prehash_stop(struct mfsd *d);

/* n's last writer has closed it: the caller counted n->wopen down to 0
 * and read n->wgen as wgen under n->hlock, released it, and still holds a
 * reference on n; size is the file's (-1 unknown). A file of at most
 * PREHASH_INLINE bytes is hashed in the calling thread (a RELEASE, which
 * nobody waits for: handing it to the thread cost more than reading it);
 * a bigger one is queued with a reference of the queue's own. Can't fail:
 * without memory the seal hashes the file itself. */
#define PREHASH_INLINE (256u << 10)
void prehash_closed(struct mfsd *d, struct node *n, uint32_t wgen, int64_t size);

/* Before a seal of version vid: wait for its file being hashed, if one
 * is, and hash its files still queued in the calling thread (rather than
 * wait behind other versions' files). */
void prehash_drain(struct mfsd *d, uint64_t vid);

#endif
