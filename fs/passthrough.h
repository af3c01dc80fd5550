/* passthrough.h - kernel passthrough of sealed files on libfuse 3.14 */
#ifndef MFSD_PASSTHROUGH_H
#define MFSD_PASSTHROUGH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

/*
 * Linux (6.9 and later, CONFIG_FUSE_PASSTHROUGH) can serve reads and mmaps
 * of an open FUSE file straight from a backing file: the daemon is off the
 * data path and every version sharing a blob shares one page cache.
 * libfuse 3.14 has no API for it, so this module sits between libfuse and
 * /dev/fuse (fuse_session_custom_io) and amends two replies on their way
 * to the kernel:
 *
 *   INIT  asks for FUSE_PASSTHROUGH (when the kernel offered it) with a
 *         stack depth of 1 (the store must be on a plain filesystem);
 *   OPEN  of a sealed file carries FOPEN_PASSTHROUGH and the backing id
 *         registered for the blob fd.
 *
 * A reply is recognised by the thread that sends it: libfuse writes a reply
 * synchronously from the handler's thread, so the handler arms a
 * thread-local before replying (pt_reply_open) and the write hook consumes
 * it. Nothing is guessed from the bytes.
 *
 * The mode is chosen once per mount: after the INIT reply, one
 * BACKING_OPEN of a file in the store shows whether the kernel, the
 * daemon's privileges (CAP_SYS_ADMIN) and the store's filesystem allow it.
 * Otherwise, or with -o nopassthrough, sealed files are served by splice
 * with keep_cache, as before. The log says which path is live.
 *
 * The kernel accepts one backing file per inode: all opens of an inode
 * share one id, counted here until the last release. An inode opened in
 * cached mode (a BACKING_OPEN that failed) stays cached until its last
 * release, since the kernel refuses to mix the two.
 */

struct pt;

/* Make the state for a mount. want: false for -o nopassthrough.
 * probe_fd: a regular file on the store's filesystem (borrowed, kept open
 * by the caller for the mount's life). Returns 0 or -ENOMEM.
 * Ownership: caller owns *ret; pt_free(). */
int pt_new(bool want, int probe_fd, struct pt **ret);
void pt_free(struct pt *pt);

/* Put the hooks on se's /dev/fuse fd: call after fuse_session_mount() and
 * before the loop. Returns 0 or -errno (the mount then runs without). */
int pt_install(struct pt *pt, struct fuse_session *se);

/* From the init handler: the INIT reply this thread sends next asks for
 * passthrough if the kernel offered it. */
void pt_arm_init(struct pt *pt);

/* Is passthrough live on this mount? (false until INIT is answered) */
bool pt_live(const struct pt *pt);

/* An open of inode ino, whose bytes are fd's file. Returns a backing id
 * > 0 to pass to pt_reply_open(): the inode's id if it has one, else a new
 * one for fd if may_create; or 0 for an open served by the daemon (not
 * live, may_create false, or the inode is open that way already: the
 * kernel refuses to mix the two); or -errno. Each id or 0 returned must
 * be given back with pt_put(ino, id_or_0) when the open ends.
 * The backing file serves every later passthrough open of ino, whatever
 * its flags, with the daemon's credentials: fd must be the file those
 * opens mean (a blob for a sealed file, the real file for a draft file;
 * never a blob for a draft file, which a writer could then reach). */
int pt_get(struct pt *pt, uint64_t ino, int fd, bool may_create);
void pt_put(struct pt *pt, uint64_t ino, int id);

/* fuse_reply_open() / fuse_reply_create() with the open part amended for
 * backing id (0: as is). Return what those return. */
int pt_reply_open(fuse_req_t req, const struct fuse_file_info *fi, int id);
int pt_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
		    const struct fuse_file_info *fi, int id);

/* ---- the wire, for the hooks and their unit tests ---- */

/* Does this raw request (from /dev/fuse) say INIT and offer passthrough?
 * Returns 1 (INIT, offered), 0 (INIT, not offered), -1 (not INIT). */
int pt_wire_init_offer(const void *req, size_t len);
/* Ask for passthrough in a fuse_init_out of len bytes. Returns 0, or
 * -EINVAL if len is too short to carry it (an old protocol). */
int pt_wire_patch_init(void *init_out, size_t len);
/* Make a fuse_open_out of len bytes a passthrough open of id. Returns 0 or
 * -EINVAL. A CREATE reply ends with one. */
int pt_wire_patch_open(void *open_out, size_t len, uint32_t id);

#endif
