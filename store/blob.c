/* blob.c - content-addressed blob files: link, open, verify, walk */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objects.h"
#include "blob.h"
#include "log.h"
#include "sys.h"

/*
 * A blob is named by its XXH3-128 digest: blobs/ab/<32 hex>. It is created
 * by linking a draft file when drafts and blobs share a filesystem (a seal
 * then copies no bytes), else by a copy under a temporary name linked into
 * place, and is never written again. This file knows nothing of the
 * database; seal.c and fsck decide which blobs should exist.
 */

void mfs_blob_relpath(const struct mfs_digest *d, char out[40])
{
	char hex[MFS_DIGEST_HEX];

	mfs_digest_hex(d, hex);
	snprintf(out, 40, "%.2s/%s", hex, hex);
}

static int ensure_subdir(struct mfs_store *st, const struct mfs_digest *d)
{
	char sub[3];

	snprintf(sub, sizeof(sub), "%02x", d->b[0]);
	if (mkdirat(st->blobs_fd, sub, 0700) == 0) {
		/* A new ab/ must itself survive a crash: fsync blobs/. */
		if (mfs_sys->fsync(st->blobs_fd) < 0)
			return mfs_log_errno(-errno, "fsync '%s': %s", st->blobs_dir,
					     strerror(errno));
		return 0;
	}
	return errno == EEXIST ? 0 : -errno;
}

/* Copy the file at (dirfd, path), which must be sb's, into a temporary
 * name in blob d's ab/ directory, synced; its name into tmp. The blob
 * directory is on another filesystem than the draft (a shared one): the
 * kernel copies (copy_file_range: a reflink or a server-side copy where the
 * filesystems offer one), else we do. */
static int copy_to_tmp(struct mfs_store *st, int dirfd, const char *path,
		       const struct stat *sb, const char *rel, char tmp[96])
{
	static unsigned seq;
	struct stat now;
	uint64_t copied = 0;
	int sfd, dfd, r = 0;

	snprintf(tmp, 96, "%.2s/.tmp-%016llx-%d-%u", rel, (unsigned long long)st->host,
		 (int)getpid(), __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
	sfd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)
		return -errno;
	if (fstat(sfd, &now) < 0 ||
	    (sb && (now.st_ino != sb->st_ino || now.st_dev != sb->st_dev ||
		    now.st_size != sb->st_size))) {
		close(sfd);
		return -EBUSY;	/* not the file that was hashed */
	}
	dfd = openat(st->blobs_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (dfd < 0) {
		r = -errno;
		close(sfd);
		return mfs_log_errno(r, "create '%s/%s': %s", st->blobs_dir, tmp, strerror(-r));
	}
	r = store_copy(sfd, dfd, (uint64_t)now.st_size, &copied);
	if (r == 0 && copied != (uint64_t)now.st_size)
		r = -EIO;
	if (r == 0 && mfs_sys->fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	close(sfd);
	if (r < 0) {
		mfs_sys->unlinkat(st->blobs_fd, tmp, 0);
		return mfs_log_errno(r, "copy '%s' to '%s/%s': %s", path, st->blobs_dir, tmp,
				     strerror(-r));
	}
	return 0;
}

int mfs_blob_link(struct mfs_store *st, int dirfd, const char *path,
		  const struct mfs_digest *d, const struct stat *sb, bool *ret_created)
{
	char rel[40], tmp[96] = "";
	struct stat a, b;
	uint64_t size;
	int r;

	if (!sb) {
		if (fstatat(dirfd, path, &a, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		sb = &a;
	}
	size = (uint64_t)sb->st_size;
	mfs_blob_relpath(d, rel);
	r = ensure_subdir(st, d);
	if (r < 0)
		return mfs_log_errno(r, "mkdir '%s/%.2s': %s", st->blobs_dir, rel,
				     strerror(-r));
	if (mfs_sys->linkat(dirfd, path, st->blobs_fd, rel, 0) == 0) {
		/* The name must be the very inode hashed (a rename in the
		 * draft could have swapped it). */
		if (fstatat(st->blobs_fd, rel, &b, 0) < 0 || b.st_ino != sb->st_ino ||
		    b.st_dev != sb->st_dev || b.st_size != sb->st_size) {
			mfs_sys->unlinkat(st->blobs_fd, rel, 0);
			return -EBUSY;
		}
		*ret_created = true;
		return 0;
	}
	if (errno == EXDEV) {
		/* Blobs on another filesystem: a synced copy under a
		 * temporary name, then linked into place (atomic on NFS too;
		 * an existing name is the same content: dedup). */
		r = copy_to_tmp(st, dirfd, path, sb, rel, tmp);
		if (r < 0)
			return r;
		r = mfs_sys->linkat(st->blobs_fd, tmp, st->blobs_fd, rel, 0) == 0 ? 0 : -errno;
		mfs_sys->unlinkat(st->blobs_fd, tmp, 0);
		if (r == 0) {
			*ret_created = true;
			return 0;
		}
		errno = -r;
	}
	if (errno != EEXIST)
		return mfs_log_errno(-errno, "linkat '%s' to '%s/%s': %s",
				     path, st->blobs_dir, rel, strerror(errno));
	/* The content is already there (dedup), or a damaged blob squats the
	 * name: a size mismatch is certain damage. */
	if (fstatat(st->blobs_fd, rel, &b, 0) < 0)
		return -errno;
	if (b.st_ino == sb->st_ino && b.st_dev == sb->st_dev) {
		*ret_created = false;
		return 0;
	}
	if ((uint64_t)b.st_size != size)
		return mfs_log_errno(-EEXIST,
				     "blob '%s' exists with size %lld, expected %llu: damaged blob, run modelctl fsck",
				     rel, (long long)b.st_size,
				     (unsigned long long)size);
	*ret_created = false;
	return 0;
}

int mfs_blob_sync_dirs(struct mfs_store *st, const struct mfs_digest *d, size_t n)
{
	uint8_t done[256] = { 0 };
	size_t dirs = 0;

	for (size_t i = 0; i < n; i++)
		if (!done[d[i].b[0]]++)
			dirs++;
	memset(done, 0, sizeof(done));
	if (dirs > STORE_SYNCFS_MIN && mfs_sys->syncfs && mfs_sys->syncfs(st->blobs_fd) == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char sub[3];
		int fd;

		if (done[d[i].b[0]])
			continue;
		done[d[i].b[0]] = 1;
		snprintf(sub, sizeof(sub), "%02x", d[i].b[0]);
		fd = openat(st->blobs_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (mfs_sys->fsync(fd) < 0) {
			int e = errno;

			close(fd);
			return mfs_log_errno(-e, "fsync '%s/%s': %s", st->blobs_dir,
					     sub, strerror(e));
		}
		close(fd);
	}
	/* blobs/ too: an ab/ made by an earlier seal whose fsync of blobs/
	 * failed (or was cut short by a crash) must be durable before any
	 * version relies on it. */
	if (n && mfs_sys->fsync(st->blobs_fd) < 0)
		return mfs_log_errno(-errno, "fsync '%s': %s", st->blobs_dir, strerror(errno));
	return 0;
}

int mfs_blob_unlink(struct mfs_store *st, const struct mfs_digest *d)
{
	char rel[40];

	mfs_blob_relpath(d, rel);
	if (mfs_sys->unlinkat(st->blobs_fd, rel, 0) < 0)
		return -errno;
	return 0;
}

int mfs_blob_has(struct mfs_store *st, const struct mfs_digest *d,
		 uint64_t *ret_size)
{
	char rel[40];
	struct stat sb;

	mfs_blob_relpath(d, rel);
	if (fstatat(st->blobs_fd, rel, &sb, 0) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (ret_size)
		*ret_size = (uint64_t)sb.st_size;
	return 1;
}

int mfs_blob_open(struct mfs_store *st, const struct mfs_digest *d, int *ret_fd)
{
	char rel[40];
	int fd;

	mfs_blob_relpath(d, rel);
	fd = openat(st->blobs_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int mfs_blob_verify(struct mfs_store *st, const struct mfs_digest *d)
{
	struct mfs_digest got;
	int fd, r;

	r = mfs_blob_open(st, d, &fd);
	if (r < 0)
		return r;
	r = mfs_hash_fd(fd, &got, NULL);
	close(fd);
	if (r < 0)
		return r;
	return memcmp(got.b, d->b, 16) ? -EBADMSG : 0;
}

int mfs_blob_iterate(struct mfs_store *st, mfs_blob_obj_fn obj,
		     mfs_blob_cruft_fn cruft, void *ctx)
{
	int fd = openat(st->blobs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *top = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int r = 0;

	if (!top) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return r;
	}
	while (!r && (de = readdir(top))) {
		int sfd;
		DIR *sub;
		struct dirent *e;
		struct mfs_digest dg;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strncmp(de->d_name, ".modelfs-", 9))
			continue;	/* (the daemons' own: .modelfs-probe) */
		sfd = openat(dirfd(top), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd < 0 || strlen(de->d_name) != 2) {
			if (sfd >= 0)
				close(sfd);
			if (cruft)
				r = cruft(ctx, de->d_name);
			continue;
		}
		sub = fdopendir(sfd);
		if (!sub) {
			close(sfd);
			continue;
		}
		while (!r && (e = readdir(sub))) {
			char rel[300];
			struct stat sb;

			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", de->d_name, e->d_name);
			if (mfs_digest_parse(e->d_name, &dg) == 0 &&
			    !strncmp(e->d_name, de->d_name, 2) &&
			    fstatat(sfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(sb.st_mode)) {
				if (obj)
					r = obj(ctx, &dg, (uint64_t)sb.st_size);
			} else if (cruft) {
				r = cruft(ctx, rel);
			}
		}
		closedir(sub);
	}
	closedir(top);
	return r;
}
