/* test_seal_faults.c - seals that fail on the n-th fsync or linkat (sys seam) */

/*
 * STYLE A8: store/sys.c routes the seal's durability syscalls through a
 * table that tests swap. Here the table fails the n-th fsync (or linkat)
 * with EIO, for every n a seal reaches, each in a fresh store. After each
 * failure the seal must have left the draft exactly as it was (same bytes,
 * no extra link to its files), the version still a draft, no blob file
 * behind and fsck clean; and a normal seal must then succeed. A last
 * family of tests checks that a failed seal never removes a blob another
 * version already owns.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>

#include "fixture.h"
#include "sys.h"

/*============================================================ the fault table */

enum fault_kind { FAULT_NONE, FAULT_FSYNC, FAULT_LINKAT, FAULT_UNLINKAT };

static struct {
	enum fault_kind kind;
	unsigned at;			/* fail the at-th call of kind (1-based) */
	unsigned fsyncs, linkats, unlinkats;	/* calls seen since arm() */
	bool fired;
	bool crash;			/* kill -9 ourselves instead of failing */
	ino_t watch_ino;		/* fsyncs of this directory inode ... */
	unsigned watch_fsyncs;		/* ... are counted here, */
	unsigned first_watch_at;	/* the first being fsync #this */
} fault;

/* The crash: SIGKILL, as kill -9 would stop the daemon. Not _exit(), after
 * which valgrind (tests/unit/valgrind.sh) checks for leaks and reports the
 * buffers of the functions it cut short as lost. */
__attribute__((noreturn)) static void crash(void)
{
	raise(SIGKILL);
	_exit(99);	/* not reached */
}

static int fault_fsync(int fd)
{
	struct stat sb;

	fault.fsyncs++;
	if (fault.watch_ino && fstat(fd, &sb) == 0 && sb.st_ino == fault.watch_ino &&
	    fault.watch_fsyncs++ == 0)
		fault.first_watch_at = fault.fsyncs;
	if (fault.kind == FAULT_FSYNC && fault.fsyncs == fault.at) {
		if (fault.crash)
			crash();
		fault.fired = true;
		errno = EIO;
		return -1;
	}
	return mfs_sys_libc.fsync(fd);
}

static int fault_linkat(int olddirfd, const char *oldpath, int newdirfd,
			const char *newpath, int flags)
{
	fault.linkats++;
	if (fault.kind == FAULT_LINKAT && fault.linkats == fault.at) {
		if (fault.crash)
			crash();
		fault.fired = true;
		errno = EIO;
		return -1;
	}
	return mfs_sys_libc.linkat(olddirfd, oldpath, newdirfd, newpath, flags);
}

static ssize_t pass_write(int fd, const void *buf, size_t n)
{
	return mfs_sys_libc.write(fd, buf, n);
}

static int pass_renameat(int olddirfd, const char *oldpath, int newdirfd,
			 const char *newpath)
{
	return mfs_sys_libc.renameat(olddirfd, oldpath, newdirfd, newpath);
}

static int fault_unlinkat(int dirfd, const char *path, int flags)
{
	fault.unlinkats++;
	if (fault.kind == FAULT_UNLINKAT && fault.unlinkats == fault.at) {
		if (fault.crash)
			crash();
		fault.fired = true;
		errno = EIO;
		return -1;
	}
	return mfs_sys_libc.unlinkat(dirfd, path, flags);
}

static const struct mfs_sys fault_sys = {
	.write = pass_write,
	.fsync = fault_fsync,
	.linkat = fault_linkat,
	.renameat = pass_renameat,
	.unlinkat = fault_unlinkat,
};

static void arm(enum fault_kind kind, unsigned at)
{
	ino_t keep = fault.watch_ino;

	memset(&fault, 0, sizeof(fault));
	fault.kind = kind;
	fault.at = at;
	fault.watch_ino = keep;
	mfs_sys = &fault_sys;
}

static void disarm(void)
{
	mfs_sys = &mfs_sys_libc;
}

/* Restore the real table even when an assertion failed mid-test. */
static int reset_seam(void **state)
{
	(void)state;
	disarm();
	memset(&fault, 0, sizeof(fault));
	return 0;
}

static int teardown(void **state)
{
	reset_seam(state);
	return fx_teardown(state);
}

/*============================================================ the draft */

static const struct {
	const char *path, *bytes;
} files[] = {
	{ "model.bin", "hello\n" },
	{ "config.json", "{\"layers\":12}\n" },
	{ "sub/weights.bin", "world\n" },
	{ "sub/again.bin", "hello\n" },		/* same content twice: dedup */
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static uint64_t make_draft(struct fixture *f, uint64_t *ret_mid)
{
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_draft(f, mid, "1.0.0");

	fx_mkdir(f, vid, "sub");
	for (size_t i = 0; i < NFILES; i++)
		fx_write(f, vid, files[i].path, files[i].bytes);
	if (ret_mid)
		*ret_mid = mid;
	return vid;
}

/* What a failed seal must leave: the draft as it was and nothing else. */
static void assert_draft_intact(struct fixture *f, uint64_t vid, unsigned blobs_before)
{
	struct mfs_version_info vi;
	struct fx_blob_count bc;
	int dfd;

	assert_int_equal(mfs_version_get(f->st, vid, &vi), 0);
	assert_int_equal(vi.state, MFS_V_DRAFT);
	dfd = fx_draft_fd(f, vid);
	for (size_t i = 0; i < NFILES; i++) {
		struct stat sb;

		fx_assert_draft_file(f, vid, files[i].path, files[i].bytes);
		/* No blob name still shares the draft file's inode. */
		assert_int_equal(fstatat(dfd, files[i].path, &sb, AT_SYMLINK_NOFOLLOW), 0);
		if (sb.st_nlink != 1)
			fail_msg("draft file '%s' has %lu links after a failed seal",
				 files[i].path, (unsigned long)sb.st_nlink);
	}
	close(dfd);
	bc = fx_blobs(f);
	assert_int_equal(bc.objects, blobs_before);
	assert_int_equal(bc.cruft, 0);
	fx_assert_fsck_clean(f);
}

static void assert_sealed_ok(struct fixture *f, uint64_t vid)
{
	struct mfs_version_info vi;

	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), 0);
	assert_int_equal(mfs_version_get(f->st, vid, &vi), 0);
	assert_int_equal(vi.state, MFS_V_SEALED);
	assert_int_equal(vi.nfiles, NFILES);
	for (size_t i = 0; i < NFILES; i++) {
		const char *slash = strchr(files[i].path, '/');
		struct mfs_entry dir, e;
		char buf[64];
		int fd;

		if (slash) {
			assert_int_equal(mfs_entry_lookup(f->st, vid, 0, "sub", &dir), 0);
			assert_int_equal(mfs_entry_lookup(f->st, vid, dir.id, slash + 1, &e), 0);
		} else {
			assert_int_equal(mfs_entry_lookup(f->st, vid, 0, files[i].path, &e), 0);
		}
		assert_int_equal(mfs_entry_open(f->st, &e, &fd), 0);
		fx_read_fd(fd, buf, sizeof(buf));
		close(fd);
		assert_string_equal(buf, files[i].bytes);
	}
	assert_int_equal(fx_blobs(f).objects, 3);
	fx_assert_fsck_clean(f);
}

/*
 * For n = 1, 2, ...: a fresh store, a draft, a seal failing at the n-th call
 * of kind, the checks, then a normal seal. Stops at the first n the seal
 * never reaches; returns how many n failed (at least one is required).
 */
static unsigned fail_every_call(enum fault_kind kind)
{
	unsigned n;

	for (n = 1; n < 64; n++) {
		struct fixture f;
		uint64_t vid;
		int r;

		fx_setup_store(&f);
		vid = make_draft(&f, NULL);
		arm(kind, n);
		r = mfs_seal_version(f.st, &f.me, vid, NULL, NULL);
		disarm();
		if (!fault.fired) {
			/* The seal made fewer than n such calls: it succeeded. */
			assert_int_equal(r, 0);
			fx_teardown_store(&f);
			break;
		}
		if (r != -EIO)
			fail_msg("seal failing at %s #%u: got %d, want -EIO",
				 kind == FAULT_FSYNC ? "fsync" : "linkat", n, r);
		assert_draft_intact(&f, vid, 0);
		assert_sealed_ok(&f, vid);
		fx_teardown_store(&f);
	}
	print_message("%s: failed each of %u calls in turn\n",
		      kind == FAULT_FSYNC ? "fsync" : "linkat", n - 1);
	return n - 1;
}

/*============================================================ tests */

static void test_a_seal_failing_at_any_fsync_leaves_the_draft_intact_then_seals(void **state)
{
	(void)state;
	/* 4 files, 3 distinct blobs: at least one fsync per file. */
	assert_true(fail_every_call(FAULT_FSYNC) >= NFILES);
}

static void test_a_seal_failing_at_any_linkat_leaves_the_draft_intact_then_seals(void **state)
{
	(void)state;
	assert_true(fail_every_call(FAULT_LINKAT) >= 3);
}

static void test_repeated_failed_seals_of_one_draft_leave_it_intact(void **state)
{
	struct fixture *f = *state;
	uint64_t vid = make_draft(f, NULL);

	for (unsigned n = 1; n <= 3; n++) {
		arm(FAULT_LINKAT, n);
		assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), -EIO);
		disarm();
		assert_draft_intact(f, vid, 0);
		arm(FAULT_FSYNC, n);
		assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), -EIO);
		disarm();
		assert_draft_intact(f, vid, 0);
	}
	assert_sealed_ok(f, vid);
}

/* v1 owns "hello\n"; v2 holds the same bytes and new ones. A failing seal of
 * v2 must not take v1's blob with it. */
static void test_a_failed_seal_never_removes_a_blob_another_version_owns(void **state)
{
	struct fixture *f = *state;
	uint64_t mid, v1, v2;
	struct mfs_digest hello;
	struct mfs_version_info vi;
	struct mfs_entry e;

	v2 = make_draft(f, &mid);
	v1 = fx_sealed(f, mid, "0.9.0", "old.bin", "hello\n");
	fx_digest_of("hello\n", &hello);
	assert_int_equal(fx_blobs(f).objects, 1);

	for (unsigned n = 1; n < 64; n++) {
		int r;

		arm(n % 2 ? FAULT_FSYNC : FAULT_LINKAT, (n + 1) / 2);
		r = mfs_seal_version(f->st, &f->me, v2, NULL, NULL);
		disarm();
		if (!fault.fired) {
			assert_int_equal(r, 0);
			break;
		}
		assert_int_equal(r, -EIO);
		assert_int_equal(mfs_blob_has(f->st, &hello, NULL), 1);
		assert_int_equal(mfs_blob_verify(f->st, &hello), 0);
		assert_draft_intact(f, v2, 1);
	}
	/* The loop ended on a seal the fault never reached: v2 is sealed. */
	assert_int_equal(mfs_version_get(f->st, v2, &vi), 0);
	assert_int_equal(vi.state, MFS_V_SEALED);
	assert_int_equal(mfs_entry_lookup(f->st, v1, 0, "old.bin", &e), 0);
	assert_int_equal(mfs_blob_verify(f->st, &e.digest), 0);
	assert_int_equal(fx_blobs(f).objects, 3);
	fx_assert_fsck_clean(f);
}

/*
 * DESIGN §2: "fsync blobs/ab/ (and blobs/ when ab/ is new)". When that
 * fsync of blobs/ fails, ab/ stays on disk but its name in blobs/ was never
 * made durable; the next seal linking into ab/ must still fsync blobs/, or
 * a power loss can take ab/ (and the blobs of a committed version) away.
 * One file, so one ab/: the retry creates no new ab/ that would fsync
 * blobs/ by chance.
 */
static uint64_t one_file_draft(struct fixture *f, struct stat *ret_blobs)
{
	char path[128];
	uint64_t vid = fx_draft(f, fx_model(f, "m"), "1.0.0");

	fx_write(f, vid, "model.bin", "hello\n");
	snprintf(path, sizeof(path), "%s/blobs", f->dir);
	assert_int_equal(stat(path, ret_blobs), 0);
	return vid;
}

static void test_a_seal_after_a_failed_fsync_of_blobs_fsyncs_blobs_again(void **state)
{
	struct fixture *f = *state, twin;
	struct stat sb;
	uint64_t vid;
	unsigned target = 0;

	/* A count-only dry run on a twin store: which fsync is of blobs/? */
	fx_setup_store(&twin);
	vid = one_file_draft(&twin, &sb);
	fault.watch_ino = sb.st_ino;
	arm(FAULT_NONE, 0);
	assert_int_equal(mfs_seal_version(twin.st, &twin.me, vid, NULL, NULL), 0);
	disarm();
	target = fault.first_watch_at;
	fx_teardown_store(&twin);
	assert_true(target > 0);

	vid = one_file_draft(f, &sb);
	fault.watch_ino = sb.st_ino;
	arm(FAULT_FSYNC, target);
	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), -EIO);
	disarm();
	assert_int_equal(fault.watch_fsyncs, 1);	/* it was blobs/ that failed */

	fault.watch_ino = sb.st_ino;
	arm(FAULT_NONE, 0);
	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), 0);
	disarm();
	if (fault.watch_fsyncs == 0)
		fail_msg("the seal after a failed fsync of blobs/ linked into the blobs/ab/ "
			 "that fsync was for, and never fsynced blobs/");
}

/*
 * DESIGN §2: "A crash at any point leaves either the draft or the sealed
 * version, never a sealed version with a missing or wrong blob", and the
 * next start removes the blobs the seal journal names. A forked child opens
 * the store (after the fork, as STYLE A6 requires), seals, and kills itself
 * with SIGKILL at the n-th fsync, linkat or unlinkat; the parent
 * then reopens the store, which runs the recovery, and checks.
 */
static unsigned crash_every_call(enum fault_kind kind)
{
	static const char *const kname[] = { "none", "fsync", "linkat", "unlinkat" };
	unsigned n;

	for (n = 1; n < 64; n++) {
		struct fixture f;
		struct mfs_version_info vi;
		uint64_t vid;
		int status = 0;
		bool killed;
		pid_t pid;

		fx_setup_store(&f);
		vid = make_draft(&f, NULL);
		fx_close(&f);
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* No cmocka assertions here: they would unwind into a
			 * copy of the parent's test runner. */
			struct mfs_store *st = NULL;
			int r = mfs_store_open(f.dir, MFS_STORE_SERVE, NULL, &st);

			if (r < 0)
				_exit(2);
			arm(kind, n);
			fault.crash = true;
			r = mfs_seal_version(st, &f.me, vid, NULL, NULL);
			disarm();
			mfs_store_close(st);
			_exit(r == 0 ? 0 : 3);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
		if (!killed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			fail_msg("child sealing with a crash at %s #%u ended with status 0x%x",
				 kname[kind], n, (unsigned)status);
		fx_open(&f);	/* the restart: recovery runs here */
		assert_int_equal(mfs_version_get(f.st, vid, &vi), 0);
		if (vi.state == MFS_V_DRAFT) {
			assert_true(killed);
			assert_draft_intact(&f, vid, 0);
			assert_sealed_ok(&f, vid);
		} else {
			int dfd = -1;

			assert_int_equal(vi.state, MFS_V_SEALED);
			/* Sealed: every blob is there and right, and the
			 * draft's leftovers are gone. */
			assert_int_equal(mfs_version_draft_open(f.st, vid, O_RDONLY, &dfd), -EROFS);
			assert_sealed_ok(&f, vid);
		}
		fx_teardown_store(&f);
		if (!killed)
			break;	/* the seal never reached call n */
	}
	print_message("%s: crashed at each of %u calls in turn\n", kname[kind], n - 1);
	return n - 1;
}

static void test_a_seal_killed_at_any_fsync_leaves_the_draft_or_the_version_after_restart(void **state)
{
	(void)state;
	assert_true(crash_every_call(FAULT_FSYNC) >= NFILES);
}

static void test_a_seal_killed_at_any_linkat_leaves_the_draft_or_the_version_after_restart(void **state)
{
	(void)state;
	assert_true(crash_every_call(FAULT_LINKAT) >= 3);
}

static void test_a_seal_killed_while_dropping_the_draft_leaves_the_version_after_restart(void **state)
{
	(void)state;
	assert_true(crash_every_call(FAULT_UNLINKAT) >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_a_seal_failing_at_any_fsync_leaves_the_draft_intact_then_seals,
					  reset_seam),
		cmocka_unit_test_teardown(test_a_seal_failing_at_any_linkat_leaves_the_draft_intact_then_seals,
					  reset_seam),
		cmocka_unit_test_setup_teardown(test_repeated_failed_seals_of_one_draft_leave_it_intact,
						fx_setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_seal_never_removes_a_blob_another_version_owns,
						fx_setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_seal_after_a_failed_fsync_of_blobs_fsyncs_blobs_again,
						fx_setup, teardown),
		cmocka_unit_test_teardown(test_a_seal_killed_at_any_fsync_leaves_the_draft_or_the_version_after_restart,
					  reset_seam),
		cmocka_unit_test_teardown(test_a_seal_killed_at_any_linkat_leaves_the_draft_or_the_version_after_restart,
					  reset_seam),
		cmocka_unit_test_teardown(test_a_seal_killed_while_dropping_the_draft_leaves_the_version_after_restart,
					  reset_seam),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
