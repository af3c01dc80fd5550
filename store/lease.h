/* lease.h - which host has what open, so gc on any host leaves it alone */
#ifndef MFS_LEASE_H
#define MFS_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/*
 * On a registry many hosts share (PostgreSQL), gc may run on any of them,
 * while a serving process on another reads a version gc would release:
 * blob files on a shared filesystem that are unlinked under an open file
 * go stale there (NFS). So each serving daemon publishes, as rows of the
 * registry, that it is alive (its host row, valid until a time it renews
 * on a heartbeat) and which versions it has files open of (a lease row
 * each). gc on any host keeps a version a live host leases, and treats
 * what a host left behind as its own once the host's row has expired (its
 * seal journal, its temporary blob files) once its row is a whole lease
 * past its time.
 *
 * Times are wall-clock: the hosts' clocks must agree to well within the
 * lease (NTP does). The lease lasts MODELFS_LEASE_SECONDS (default 30),
 * renewed every third of it. On an embedded registry (LMDB: one host)
 * there is nothing to publish and every call here is a no-op.
 */

/* Start publishing (a serving daemon; mount: for people reading the host
 * row). Writes the host row, then renews it from a thread of its own.
 * Returns 0 or -errno (the database cannot be reached: logged). */
int mfs_lease_start(struct mfs_store *st, const char *mount);

/* Stop: the host row and its leases are removed (a clean stop). */
void mfs_lease_stop(struct mfs_store *st);

/* A file of version vid is being opened on this host (call it before the
 * blob is opened, once per file): for the first, its lease row is
 * committed before this returns. A failure (the database cannot be
 * reached) is logged and left to the next heartbeat. */
void mfs_lease_hold(struct mfs_store *st, uint64_t vid);

/* A file of vid was closed (once per mfs_lease_hold()): when it was the
 * last, its row goes at the next heartbeat. */
void mfs_lease_release(struct mfs_store *st, uint64_t vid);

#endif
