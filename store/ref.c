/* ref.c - draft files that stand for a sealed blob (see ref.h) */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "objects.h"
#include "blob.h"
#include "log.h"
#include "ref.h"

#define REF_XATTR "user.modelfs.blob"
#define REF_MAX 64	/* 32 hex, a space, 20 digits */

/* The attribute's value, NUL-terminated. Returns its length, 0 if there
 * is none, or -errno. */
static ssize_t get_attr(int fd, char buf[REF_MAX])
{
	ssize_t l = fgetxattr(fd, REF_XATTR, buf, REF_MAX - 1);

	if (l < 0 && errno == EBADF) {
		char p[64];

		/* an O_PATH descriptor: through its /proc name */
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		l = getxattr(p, REF_XATTR, buf, REF_MAX - 1);
	}
	if (l < 0)
		return errno == ENODATA || errno == ENOTSUP ? 0 : -errno;
	buf[l] = '\0';
	return l;
}

int mfs_ref_get(int fd, struct mfs_digest *ret_d, uint64_t *ret_size)
{
	char buf[REF_MAX], hex[MFS_DIGEST_HEX];
	struct mfs_digest d;
	unsigned long long size;
	struct stat sb;
	ssize_t l = get_attr(fd, buf);

	if (l <= 0)
		return (int)l;
	if (sscanf(buf, "%32s %llu", hex, &size) != 2 || mfs_digest_parse(hex, &d) < 0)
		return 0;	/* not ours to trust */
	if (fstat(fd, &sb) < 0)
		return -errno;
	/* The size is set last: a file of another size is no reference (a
	 * crash while making one, or bytes written since). */
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != size)
		return 0;
	*ret_d = d;
	*ret_size = size;
	return 1;
}

int mfs_ref_make(struct mfs_store *st, int fd, const struct mfs_digest *d,
		 uint64_t size)
{
	char buf[REF_MAX], hex[MFS_DIGEST_HEX];
	struct stat sb;
	uint64_t bsize = 0;
	int r;

	/* A registry many hosts share: gc runs on any of them, and only this
	 * host sees its drafts, so a blob only a reference held could go
	 * under it. The caller copies the bytes instead. */
	if (kv_shared(st->kv))
		return -EOPNOTSUPP;
	if (fstat(fd, &sb) < 0)
		return -errno;
	if (!S_ISREG(sb.st_mode) || sb.st_size != 0)
		return -ENOTEMPTY;
	/* gc (gc.c) must not remove the blob between our look and the
	 * attribute that makes its scan of the drafts keep it. */
	pthread_mutex_lock(&st->gc_lock);
	r = mfs_blob_has(st, d, &bsize);
	if (r < 0)
		goto out;
	if (r == 0 || bsize != size) {
		r = -ENOENT;
		goto out;
	}
	mfs_digest_hex(d, hex);
	snprintf(buf, sizeof(buf), "%s %" PRIu64, hex, size);
	if (fsetxattr(fd, REF_XATTR, buf, strlen(buf), 0) < 0) {
		r = errno == ENOTSUP ? -EOPNOTSUPP : -errno;
		goto out;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		r = -errno;
		fremovexattr(fd, REF_XATTR);
		goto out;
	}
	r = 0;
out:
	pthread_mutex_unlock(&st->gc_lock);
	return r;
}

int mfs_ref_open(struct mfs_store *st, int fd, int *ret_fd)
{
	struct mfs_digest d;
	uint64_t size;
	char rel[40];
	int r = mfs_ref_get(fd, &d, &size);

	if (r <= 0)
		return r;
	r = mfs_blob_open(st, &d, ret_fd);
	if (r == -ENOENT) {
		mfs_blob_relpath(&d, rel);
		return mfs_log_errno(-EIO, "blob '%s' a draft file was copied from is missing: run modelctl fsck",
				     rel);
	}
	return r < 0 ? r : 1;
}

/* Copy blob d (size bytes) over the start of fd. */
static int copy_in(struct mfs_store *st, int fd, const struct mfs_digest *d,
		   uint64_t size)
{
	int bfd, flags = fcntl(fd, F_GETFL), r = 0;

	r = mfs_blob_open(st, d, &bfd);
	if (r < 0)
		return r;
	/* copy_file_range refuses an O_APPEND destination. */
	if (flags >= 0 && (flags & O_APPEND))
		fcntl(fd, F_SETFL, flags & ~O_APPEND);
	/* a blob shorter than recorded: -EIO */
	r = store_copy(bfd, fd, size, NULL);
	if (flags >= 0 && (flags & O_APPEND))
		fcntl(fd, F_SETFL, flags);
	close(bfd);
	return r;
}

int mfs_ref_break(struct mfs_store *st, int fd, bool keep)
{
	struct mfs_digest d;
	uint64_t size;
	char buf[REF_MAX];
	ssize_t l = get_attr(fd, buf);
	int r;

	if (l <= 0)
		return (int)l;	/* the common case: one syscall */
	r = mfs_ref_get(fd, &d, &size);
	if (r < 0)
		return r;
	if (r == 1 && keep) {
		r = copy_in(st, fd, &d, size);
		if (r < 0)
			return mfs_log_errno(r, "copying a blob into a draft file before it is written: %s",
					     strerror(-r));
	}
	/* A stale attribute (a file of another size) goes too, so the file
	 * can never become a reference again by reaching that size. */
	if (fremovexattr(fd, REF_XATTR) < 0 && errno != ENODATA)
		return -errno;
	return 0;
}
