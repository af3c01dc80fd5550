/* fixture.h - a temporary store for cmocka tests, and draft-writing helpers */
#ifndef MFS_TEST_FIXTURE_H
#define MFS_TEST_FIXTURE_H

/*
 * Each test gets a fresh store in a mkdtemp() directory under /tmp, opened
 * as the writer of record (MFS_STORE_SERVE | MFS_STORE_CREATE), and the
 * tree is removed with nftw() in teardown, so tests never see each other's
 * state. Drafts are written the way fs/ writes them: straight into the
 * draft's real directory, which mfs_version_draft_open() hands out.
 *
 * Helpers fail the current test (cmocka's assert_*) rather than return
 * errors, so test bodies stay sentences. Everything here is static inline:
 * each test file is one executable and uses a different subset.
 *
 * Include the cmocka prerequisites and <cmocka.h> before this header.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "blob.h"
#include "fsck.h"
#include "hash.h"
#include "log.h"
#include "model.h"
#include "seal.h"
#include "version.h"

struct fixture {
	char dir[64];			/* the store directory */
	struct mfs_store *st;
	struct mfs_caller me;		/* this process, as the caller */
};

/*============================================================ lifecycle */

static inline void fx_quiet_logs(void)
{
	/* Refusals are logged as info; tests provoke hundreds of them. Set
	 * MFS_TEST_VERBOSE=1 to see them while debugging a test. */
	mfs_log_init("test", 0, getenv("MFS_TEST_VERBOSE") ? MFS_LOG_DEBUG : MFS_LOG_ERR);
}

static inline void fx_open(struct fixture *f)
{
	int r = mfs_store_open(f->dir, MFS_STORE_SERVE | MFS_STORE_CREATE, NULL, &f->st);

	if (r != 0)
		fail_msg("mfs_store_open('%s'): %d (%s)", f->dir, r, strerror(-r));
}

static inline void fx_close(struct fixture *f)
{
	mfs_store_close(f->st);
	f->st = NULL;
}

static inline int fx_rm_cb(const char *path, const struct stat *sb, int type,
			   struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	return unlink(path) < 0 ? -1 : 0;
}

/* A fresh store in a new temp directory. Returns 0 (cmocka setup shape). */
static inline int fx_setup_store(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	fx_quiet_logs();
	snprintf(f->dir, sizeof(f->dir), "/tmp/mfs-unit-XXXXXX");
	if (!mkdtemp(f->dir))
		fail_msg("mkdtemp: %s", strerror(errno));
	f->me.uid = getuid();
	f->me.gid = getgid();
	f->me.pid = getpid();
	fx_open(f);
	return 0;
}

static inline void fx_teardown_store(struct fixture *f)
{
	if (f->st)
		fx_close(f);
	/* Blobs are 0444 but their directories are ours: unlink works. */
	if (f->dir[0] && nftw(f->dir, fx_rm_cb, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fail_msg("removing '%s': %s", f->dir, strerror(errno));
}

static inline int fx_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_setup_store(f);
	*state = f;
	return 0;
}

static inline int fx_teardown(void **state)
{
	struct fixture *f = *state;

	fx_teardown_store(f);
	free(f);
	return 0;
}

/*============================================================ registry */

static inline uint64_t fx_model(struct fixture *f, const char *name)
{
	struct mfs_model_info mi;

	assert_int_equal(mfs_model_create(f->st, &f->me, name, 0755, &mi), 0);
	return mi.id;
}

static inline uint64_t fx_draft(struct fixture *f, uint64_t mid, const char *name)
{
	struct mfs_version_info vi;

	assert_int_equal(mfs_version_create(f->st, &f->me, mid, name, 0755, &vi), 0);
	assert_int_equal(vi.state, MFS_V_DRAFT);
	return vi.id;
}

/*============================================================ drafts */

/* The draft's real directory; caller closes it. */
static inline int fx_draft_fd(struct fixture *f, uint64_t vid)
{
	int fd = -1;

	assert_int_equal(mfs_version_draft_open(f->st, vid, O_RDONLY, &fd), 0);
	assert_true(fd >= 0);
	return fd;
}

static inline void fx_write_at(int dirfd, const char *path, const void *buf,
			       size_t n)
{
	int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	const char *p = buf;

	if (fd < 0)
		fail_msg("create '%s': %s", path, strerror(errno));
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0)
			fail_msg("write '%s': %s", path, strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	assert_int_equal(close(fd), 0);
}

/* Create path (its parent must exist) in draft vid with the string s. */
static inline void fx_write(struct fixture *f, uint64_t vid, const char *path,
			    const char *s)
{
	int dfd = fx_draft_fd(f, vid);

	fx_write_at(dfd, path, s, strlen(s));
	close(dfd);
}

static inline void fx_mkdir(struct fixture *f, uint64_t vid, const char *path)
{
	int dfd = fx_draft_fd(f, vid);

	if (mkdirat(dfd, path, 0755) < 0)
		fail_msg("mkdir '%s': %s", path, strerror(errno));
	close(dfd);
}

static inline void fx_symlink(struct fixture *f, uint64_t vid, const char *target,
			      const char *path)
{
	int dfd = fx_draft_fd(f, vid);

	if (symlinkat(target, dfd, path) < 0)
		fail_msg("symlink '%s': %s", path, strerror(errno));
	close(dfd);
}

/* Read all of fd (up to n-1 bytes) into buf, NUL-terminated; returns length. */
static inline size_t fx_read_fd(int fd, char *buf, size_t n)
{
	size_t len = 0;

	for (;;) {
		ssize_t r = pread(fd, buf + len, n - 1 - len, (off_t)len);

		if (r < 0)
			fail_msg("read: %s", strerror(errno));
		if (r == 0 || len + (size_t)r == n - 1) {
			len += (size_t)r;
			break;
		}
		len += (size_t)r;
	}
	buf[len] = '\0';
	return len;
}

/* Assert that path in draft vid holds exactly the string want. */
static inline void fx_assert_draft_file(struct fixture *f, uint64_t vid,
					const char *path, const char *want)
{
	char buf[4096];
	int dfd = fx_draft_fd(f, vid);
	int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fail_msg("open draft file '%s': %s", path, strerror(errno));
	fx_read_fd(fd, buf, sizeof(buf));
	assert_string_equal(buf, want);
	close(fd);
	close(dfd);
}

/* A sealed version holding one file path with content s. */
static inline uint64_t fx_sealed(struct fixture *f, uint64_t mid, const char *name,
				 const char *path, const char *s)
{
	uint64_t vid = fx_draft(f, mid, name);
	struct mfs_version_info vi;

	fx_write(f, vid, path, s);
	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), 0);
	assert_int_equal(mfs_version_get(f->st, vid, &vi), 0);
	assert_int_equal(vi.state, MFS_V_SEALED);
	return vid;
}

/*============================================================ blobs, fsck */

struct fx_blob_count {
	unsigned long objects, cruft;
};

static inline int fx_count_obj(void *ctx, const struct mfs_digest *d, uint64_t size)
{
	(void)d;
	(void)size;
	((struct fx_blob_count *)ctx)->objects++;
	return 0;
}

static inline int fx_count_cruft(void *ctx, const char *relpath)
{
	(void)relpath;
	((struct fx_blob_count *)ctx)->cruft++;
	return 0;
}

static inline struct fx_blob_count fx_blobs(struct fixture *f)
{
	struct fx_blob_count c = { 0, 0 };

	assert_int_equal(mfs_blob_iterate(f->st, fx_count_obj, fx_count_cruft, &c), 0);
	return c;
}

static inline void fx_fsck_print(void *ctx, enum mfs_fsck_level level,
				 const char *what, const char *msg)
{
	(void)ctx;
	print_message("fsck %s: %s: %s\n", level == MFS_FSCK_ERROR ? "error" : "warning",
		      what, msg);
}

/* Run a full fsck (re-hashing blobs), printing its findings. */
static inline struct mfs_fsck_result fx_fsck(struct fixture *f)
{
	struct mfs_fsck_result res;

	memset(&res, 0, sizeof(res));
	assert_int_equal(mfs_fsck_run(f->st, 0, fx_fsck_print, NULL, &res), 0);
	return res;
}

static inline void fx_assert_fsck_clean(struct fixture *f)
{
	struct mfs_fsck_result res = fx_fsck(f);

	assert_int_equal(res.errors, 0);
	assert_int_equal(res.warnings, 0);
}

static inline void fx_digest_of(const char *s, struct mfs_digest *ret)
{
	mfs_hash_buf(s, strlen(s), ret);
}

#endif
