/* test_blob.c - unit tests for store/hash.c and store/blob.c */

/*
 * Digests must be exactly what `xxhsum -H2` prints, because users check
 * blobs with it: the expected values below were computed once with xxhsum
 * 0.8 and are hard-coded. Blob files are linked from a draft directory of a
 * temp store (drafts and blobs share a filesystem, as in production), then
 * damaged on purpose to check that blob.c notices.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fixture.h"

/* printf 'hello\n' | xxhsum -H2, and friends. */
#define HEX_HELLO "6bba86c7e069f56d5a10b435f1c8e49c"
#define HEX_EMPTY "99aa06d3014798d86001c324468d497f"
#define HEX_ABC "06b05ab6733a618578af5f94892f3950"
#define HEX_WORLD "d06015dfa1a0e8057d187c6c5c0c0ee1"
#define HEX_ZEROS_100000 "e1f876364c6fec62315c72a64b7df4d2"

static void assert_digest_hex(const struct mfs_digest *d, const char *want)
{
	char hex[MFS_DIGEST_HEX];

	mfs_digest_hex(d, hex);
	assert_string_equal(hex, want);
}

/* A draft to link blob files from. */
static int draft_dir(struct fixture *f)
{
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_draft(f, mid, "1.0.0");

	return fx_draft_fd(f, vid);
}

static int blobs_dir(struct fixture *f)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/blobs", f->dir);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/*============================================================ hash */

static void test_hash_buf_equals_xxhsum_h2_for_known_inputs(void **state)
{
	struct mfs_digest d;

	(void)state;
	mfs_hash_buf("hello\n", 6, &d);
	assert_digest_hex(&d, HEX_HELLO);
	mfs_hash_buf("", 0, &d);
	assert_digest_hex(&d, HEX_EMPTY);
	mfs_hash_buf("abc", 3, &d);
	assert_digest_hex(&d, HEX_ABC);
	mfs_hash_buf("world\n", 6, &d);
	assert_digest_hex(&d, HEX_WORLD);
}

static void test_hash_streamed_in_odd_pieces_equals_xxhsum(void **state)
{
	static char zeros[100000];
	struct mfs_hash *h = NULL;
	struct mfs_digest d;
	size_t off = 0, step = 1;

	(void)state;
	assert_int_equal(mfs_hash_new(&h), 0);
	mfs_hash_update(h, "garbage", 7);
	mfs_hash_reset(h);
	while (off < sizeof(zeros)) {
		size_t n = step < sizeof(zeros) - off ? step : sizeof(zeros) - off;

		mfs_hash_update(h, zeros + off, n);
		off += n;
		step = step * 3 + 1;
	}
	mfs_hash_final(h, &d);
	assert_digest_hex(&d, HEX_ZEROS_100000);
	mfs_hash_free(h);
}

static void test_hash_fd_hashes_from_offset_zero_and_keeps_the_offset(void **state)
{
	struct fixture *f = *state;
	int dfd = draft_dir(f), fd;
	struct mfs_digest d;
	uint64_t size = 0;

	fx_write_at(dfd, "hello", "hello\n", 6);
	fd = openat(dfd, "hello", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 3, SEEK_SET), 3);
	assert_int_equal(mfs_hash_fd(fd, &d, &size), 0);
	assert_digest_hex(&d, HEX_HELLO);
	assert_int_equal(size, 6);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 3);
	close(fd);
	close(dfd);
}

static void test_digest_parse_roundtrips_and_accepts_upper_case(void **state)
{
	struct mfs_digest d, e;
	char hex[MFS_DIGEST_HEX];

	(void)state;
	assert_int_equal(mfs_digest_parse(HEX_HELLO, &d), 0);
	mfs_hash_buf("hello\n", 6, &e);
	assert_memory_equal(d.b, e.b, 16);
	mfs_digest_hex(&d, hex);
	assert_string_equal(hex, HEX_HELLO);
	assert_int_equal(mfs_digest_parse("6BBA86C7E069F56D5A10B435F1C8E49C", &d), 0);
	assert_memory_equal(d.b, e.b, 16);
}

static void test_digest_parse_rejects_bad_hex_with_einval(void **state)
{
	static const char *const bad[] = {
		"",
		"6bba86c7e069f56d5a10b435f1c8e49",	/* 31 digits */
		"6bba86c7e069f56d5a10b435f1c8e49c0",	/* 33 digits */
		"6bba86c7e069f56d5a10b435f1c8e49g",	/* not hex */
		"0x6bba86c7e069f56d5a10b435f1c8e4",	/* prefix */
		" 6bba86c7e069f56d5a10b435f1c8e49",	/* space */
		"6bba86c7e069f56d-a10b435f1c8e49c",	/* sign */
	};
	struct mfs_digest d, untouched;

	(void)state;
	memset(&d, 0xa5, sizeof(d));
	untouched = d;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = mfs_digest_parse(bad[i], &d);

		if (r != -EINVAL)
			fail_msg("parse '%s': got %d, want -EINVAL", bad[i], r);
		/* Results are written only on success (STYLE A2). */
		assert_memory_equal(d.b, untouched.b, 16);
	}
}

static void test_blob_relpath_is_first_two_digits_then_the_digest(void **state)
{
	struct mfs_digest d;
	char rel[40];

	(void)state;
	mfs_hash_buf("hello\n", 6, &d);
	mfs_blob_relpath(&d, rel);
	assert_string_equal(rel, "6b/" HEX_HELLO);
}

/*============================================================ link */

static void test_blob_link_creates_then_dedups_the_same_content(void **state)
{
	struct fixture *f = *state;
	int dfd = draft_dir(f);
	struct mfs_digest d;
	struct stat a, b;
	uint64_t size = 0;
	bool created = false;
	int bfd;

	mfs_hash_buf("hello\n", 6, &d);
	assert_int_equal(mfs_blob_has(f->st, &d, &size), 0);
	fx_write_at(dfd, "one", "hello\n", 6);
	fx_write_at(dfd, "two", "hello\n", 6);

	assert_int_equal(mfs_blob_link(f->st, dfd, "one", &d, NULL, &created), 0);
	assert_true(created);
	assert_int_equal(mfs_blob_has(f->st, &d, &size), 1);
	assert_int_equal(size, 6);
	/* The blob is the draft file itself: a link, not a copy. */
	bfd = blobs_dir(f);
	assert_int_equal(fstatat(bfd, "6b/" HEX_HELLO, &b, 0), 0);
	assert_int_equal(fstatat(dfd, "one", &a, 0), 0);
	assert_int_equal(a.st_ino, b.st_ino);

	/* Same content from another file: dedup, the first inode stays. */
	created = true;
	assert_int_equal(mfs_blob_link(f->st, dfd, "two", &d, NULL, &created), 0);
	assert_false(created);
	assert_int_equal(fstatat(bfd, "6b/" HEX_HELLO, &b, 0), 0);
	assert_int_equal(a.st_ino, b.st_ino);

	/* Linking the very file that is the blob again is dedup too. */
	created = true;
	assert_int_equal(mfs_blob_link(f->st, dfd, "one", &d, NULL, &created), 0);
	assert_false(created);
	close(bfd);
	close(dfd);
}

static void test_blob_link_refuses_a_same_name_blob_of_another_size_with_eexist(void **state)
{
	struct fixture *f = *state;
	int dfd = draft_dir(f);
	struct mfs_digest d;
	bool created = false;

	mfs_hash_buf("hello\n", 6, &d);
	fx_write_at(dfd, "good", "hello\n", 6);
	fx_write_at(dfd, "longer", "hello, world\n", 13);
	assert_int_equal(mfs_blob_link(f->st, dfd, "good", &d, NULL, &created), 0);
	assert_true(created);
	/* The name exists with 6 bytes; a 13-byte claim means damage. */
	created = true;
	assert_int_equal(mfs_blob_link(f->st, dfd, "longer", &d, NULL, &created), -EEXIST);
	assert_true(created);	/* untouched on failure */
	close(dfd);
}

static void test_blob_link_of_a_missing_file_is_enoent(void **state)
{
	struct fixture *f = *state;
	int dfd = draft_dir(f);
	struct mfs_digest d;
	bool created = false;

	mfs_hash_buf("hello\n", 6, &d);
	assert_int_equal(mfs_blob_link(f->st, dfd, "nope", &d, NULL, &created), -ENOENT);
	assert_int_equal(mfs_blob_has(f->st, &d, NULL), 0);
	close(dfd);
}

/*============================================================ verify, unlink */

static void test_blob_verify_is_ebadmsg_after_the_blob_is_corrupted(void **state)
{
	struct fixture *f = *state;
	int dfd = draft_dir(f), bfd, fd;
	struct mfs_digest d, other;
	bool created;

	mfs_hash_buf("hello\n", 6, &d);
	fx_write_at(dfd, "f", "hello\n", 6);
	assert_int_equal(mfs_blob_link(f->st, dfd, "f", &d, NULL, &created), 0);
	assert_int_equal(mfs_blob_verify(f->st, &d), 0);

	/* Flip one byte in place: same size, wrong content. */
	bfd = blobs_dir(f);
	fd = openat(bfd, "6b/" HEX_HELLO, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "J", 1, 0), 1);
	close(fd);
	assert_int_equal(mfs_blob_verify(f->st, &d), -EBADMSG);

	mfs_hash_buf("abc", 3, &other);
	assert_int_equal(mfs_blob_verify(f->st, &other), -ENOENT);
	close(bfd);
	close(dfd);
}

static void test_blob_unlink_removes_it_and_a_second_unlink_is_enoent(void **state)
{
	struct fixture *f = *state;
	int dfd = draft_dir(f), fd = -1;
	struct mfs_digest d;
	bool created;

	mfs_hash_buf("hello\n", 6, &d);
	fx_write_at(dfd, "f", "hello\n", 6);
	assert_int_equal(mfs_blob_link(f->st, dfd, "f", &d, NULL, &created), 0);
	assert_int_equal(mfs_blob_open(f->st, &d, &fd), 0);
	close(fd);
	assert_int_equal(mfs_blob_unlink(f->st, &d), 0);
	assert_int_equal(mfs_blob_has(f->st, &d, NULL), 0);
	assert_int_equal(mfs_blob_unlink(f->st, &d), -ENOENT);
	assert_int_equal(mfs_blob_open(f->st, &d, &fd), -ENOENT);
	/* The draft keeps its own name for the content. */
	{
		char buf[16];

		fd = openat(dfd, "f", O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		fx_read_fd(fd, buf, sizeof(buf));
		assert_string_equal(buf, "hello\n");
		close(fd);
	}
	close(dfd);
}

/*============================================================ iterate */

struct seen {
	unsigned objects, cruft;
	bool hello, world;
	char cruft_paths[8][300];
	int stop_after;		/* > 0: return 7 on that object */
};

static int on_obj(void *ctx, const struct mfs_digest *d, uint64_t size)
{
	struct seen *s = ctx;
	char hex[MFS_DIGEST_HEX];

	mfs_digest_hex(d, hex);
	if (!strcmp(hex, HEX_HELLO)) {
		assert_int_equal(size, 6);
		s->hello = true;
	} else if (!strcmp(hex, HEX_WORLD)) {
		assert_int_equal(size, 6);
		s->world = true;
	} else {
		fail_msg("unexpected blob %s", hex);
	}
	s->objects++;
	return s->stop_after && (int)s->objects == s->stop_after ? 7 : 0;
}

static int on_cruft(void *ctx, const char *relpath)
{
	struct seen *s = ctx;

	assert_true(s->cruft < 8);
	snprintf(s->cruft_paths[s->cruft++], 300, "%s", relpath);
	return 0;
}

static bool saw_cruft(const struct seen *s, const char *path)
{
	for (unsigned i = 0; i < s->cruft; i++)
		if (!strcmp(s->cruft_paths[i], path))
			return true;
	return false;
}

static void test_blob_iterate_reports_objects_and_cruft(void **state)
{
	struct fixture *f = *state;
	int dfd = draft_dir(f), bfd;
	struct mfs_digest h, w;
	struct seen s = { 0 };
	bool created;

	mfs_hash_buf("hello\n", 6, &h);
	mfs_hash_buf("world\n", 6, &w);
	fx_write_at(dfd, "h", "hello\n", 6);
	fx_write_at(dfd, "w", "world\n", 6);
	assert_int_equal(mfs_blob_link(f->st, dfd, "h", &h, NULL, &created), 0);
	assert_int_equal(mfs_blob_link(f->st, dfd, "w", &w, NULL, &created), 0);

	/* Cruft: a temporary name in ab/, a file at the top, a well-formed
	 * name in the wrong ab/ directory. */
	bfd = blobs_dir(f);
	fx_write_at(bfd, "6b/tmp.1234", "x", 1);
	fx_write_at(bfd, "stray", "x", 1);
	assert_int_equal(mkdirat(bfd, "00", 0700), 0);
	fx_write_at(bfd, "00/" HEX_HELLO, "hello\n", 6);

	assert_int_equal(mfs_blob_iterate(f->st, on_obj, on_cruft, &s), 0);
	assert_int_equal(s.objects, 2);
	assert_true(s.hello);
	assert_true(s.world);
	assert_int_equal(s.cruft, 3);
	assert_true(saw_cruft(&s, "6b/tmp.1234"));
	assert_true(saw_cruft(&s, "stray"));
	assert_true(saw_cruft(&s, "00/" HEX_HELLO));

	/* A callback's non-zero return stops the walk and is returned. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	assert_int_equal(mfs_blob_iterate(f->st, on_obj, NULL, &s), 7);
	assert_int_equal(s.objects, 1);
	close(bfd);
	close(dfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_buf_equals_xxhsum_h2_for_known_inputs),
		cmocka_unit_test(test_hash_streamed_in_odd_pieces_equals_xxhsum),
		cmocka_unit_test_setup_teardown(test_hash_fd_hashes_from_offset_zero_and_keeps_the_offset,
						fx_setup, fx_teardown),
		cmocka_unit_test(test_digest_parse_roundtrips_and_accepts_upper_case),
		cmocka_unit_test(test_digest_parse_rejects_bad_hex_with_einval),
		cmocka_unit_test(test_blob_relpath_is_first_two_digits_then_the_digest),
		cmocka_unit_test_setup_teardown(test_blob_link_creates_then_dedups_the_same_content,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_blob_link_refuses_a_same_name_blob_of_another_size_with_eexist,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_blob_link_of_a_missing_file_is_enoent,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_blob_verify_is_ebadmsg_after_the_blob_is_corrupted,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_blob_unlink_removes_it_and_a_second_unlink_is_enoent,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_blob_iterate_reports_objects_and_cruft,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
