/* deny.c - refusals that are registry events: one log line, one audit denial */
#include <stdarg.h>
#include <stdio.h>

#include "audit.h"
#include "daemon.h"
#include "log.h"

/*
 * The fs/ side of a refusal the store did not see (writes into sealed
 * versions are refused here, before any store call): the inode says which
 * model and version it concerns, the store records the denial (merged when
 * the same process repeats it, as Python's __pycache__ probing does).
 */

int fs_deny(struct mfsd *d, const struct mfs_caller *c, uint64_t ino, const char *op,
	    const char *version, int err, const char *fmt, ...)
{
	char reason[1024];
	uint64_t mid = 0, vid = 0;
	bool sealed;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	mfs_log_errno(err, "%s", reason);
	switch (ino_kind(ino)) {
	case K_MODEL:
	case K_VERSIONS:
	case K_MMETA:
	case K_POLICY:
	case K_HISTORY:
	case K_LATEST:
		mid = ino_id(ino);
		break;
	default:
		vid = ino_vid(d, ino, &sealed);
		break;
	}
	mfs_audit_denial_ids(d->st, c, op, mid, vid, version, -err, reason);
	return err;
}
