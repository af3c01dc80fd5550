/* test_ref.c - unit tests for store/ref.c (instant copies) and the seal */

/*
 * A reference is made the way fs/ makes one: on an empty draft file opened
 * for writing, naming a blob a sealed version holds. Its bytes are read
 * through mfs_ref_open(); the draft file itself stays a sparse hole, so a
 * seal that read it instead of taking the digest would record zeros.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/xattr.h>

#include "fixture.h"
#include "ref.h"

#define CONTENT "the weights of a model, not zeros"

/* A sealed version holding CONTENT; its digest in *ret_d. */
static void source(struct fixture *f, uint64_t mid, struct mfs_digest *ret_d)
{
	fx_sealed(f, mid, "1.0.0", "w.bin", CONTENT);
	mfs_hash_buf(CONTENT, strlen(CONTENT), ret_d);
	assert_int_equal(mfs_blob_has(f->st, ret_d, NULL), 1);
}

/* An empty file at path in draft vid, open for writing. */
static int empty(struct fixture *f, uint64_t vid, const char *path)
{
	int dfd = fx_draft_fd(f, vid);
	int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	close(dfd);
	return fd;
}

static void test_ref_reads_the_blob_and_the_seal_takes_its_digest(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m"), vid;
	struct mfs_digest d, got;
	struct fx_blob_count before;
	struct mfs_entry e;
	uint64_t size;
	char buf[256];
	int fd, bfd;

	source(f, mid, &d);
	before = fx_blobs(f);
	vid = fx_draft(f, mid, "1.1.0");
	fd = empty(f, vid, "w.bin");
	assert_int_equal(mfs_ref_make(f->st, fd, &d, strlen(CONTENT)), 0);
	assert_int_equal(mfs_ref_get(fd, &got, &size), 1);
	assert_memory_equal(&got, &d, sizeof(d));
	assert_int_equal(size, strlen(CONTENT));
	assert_int_equal(mfs_ref_open(f->st, fd, &bfd), 1);
	fx_read_fd(bfd, buf, sizeof(buf));
	assert_string_equal(buf, CONTENT);
	close(bfd);
	close(fd);

	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), 0);
	assert_int_equal(mfs_entry_lookup(f->st, vid, 0, "w.bin", &e), 0);
	assert_memory_equal(&e.digest, &d, sizeof(d));
	assert_int_equal(e.size, strlen(CONTENT));
	assert_int_equal(fx_blobs(f).objects, before.objects);
	assert_int_equal(mfs_entry_open(f->st, &e, &bfd), 0);
	fx_read_fd(bfd, buf, sizeof(buf));
	assert_string_equal(buf, CONTENT);
	close(bfd);
}

static void test_ref_is_made_only_on_an_empty_file_of_a_known_blob(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m"), vid;
	struct mfs_digest d, unknown;
	int fd, dfd;

	source(f, mid, &d);
	vid = fx_draft(f, mid, "1.1.0");
	fx_write(f, vid, "full.bin", "x");
	dfd = fx_draft_fd(f, vid);
	fd = openat(dfd, "full.bin", O_WRONLY | O_CLOEXEC);
	assert_int_equal(mfs_ref_make(f->st, fd, &d, strlen(CONTENT)), -ENOTEMPTY);
	close(fd);
	close(dfd);
	fd = empty(f, vid, "e.bin");
	mfs_hash_buf("nowhere", 7, &unknown);
	assert_int_equal(mfs_ref_make(f->st, fd, &unknown, 7), -ENOENT);
	/* the size must be the blob's */
	assert_int_equal(mfs_ref_make(f->st, fd, &d, strlen(CONTENT) + 1), -ENOENT);
	close(fd);
	fx_assert_draft_file(f, vid, "e.bin", "");
}

static void test_ref_break_keeps_or_drops_the_bytes(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m"), vid, size;
	struct mfs_digest d, got;
	int fd;

	source(f, mid, &d);
	vid = fx_draft(f, mid, "1.1.0");
	fd = empty(f, vid, "keep.bin");
	assert_int_equal(mfs_ref_make(f->st, fd, &d, strlen(CONTENT)), 0);
	assert_int_equal(mfs_ref_break(f->st, fd, true), 0);
	assert_int_equal(mfs_ref_get(fd, &got, &size), 0);
	close(fd);
	fx_assert_draft_file(f, vid, "keep.bin", CONTENT);

	fd = empty(f, vid, "drop.bin");
	assert_int_equal(mfs_ref_make(f->st, fd, &d, strlen(CONTENT)), 0);
	assert_int_equal(mfs_ref_break(f->st, fd, false), 0);
	assert_int_equal(mfs_ref_get(fd, &got, &size), 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	/* growing it back to the blob's size does not make it one again */
	assert_int_equal(ftruncate(fd, (off_t)strlen(CONTENT)), 0);
	assert_int_equal(mfs_ref_get(fd, &got, &size), 0);
	close(fd);
	/* and breaking an ordinary file is a no-op */
	fd = empty(f, vid, "plain.bin");
	assert_int_equal(mfs_ref_break(f->st, fd, true), 0);
	close(fd);
	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), 0);
}

static void test_ref_of_another_size_is_an_ordinary_file(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m"), vid, size;
	struct mfs_digest d, got;
	char value[80], hex[MFS_DIGEST_HEX];
	struct mfs_entry e;
	int fd;

	source(f, mid, &d);
	vid = fx_draft(f, mid, "1.1.0");
	fd = empty(f, vid, "w.bin");
	/* a crash between the attribute and the size */
	mfs_digest_hex(&d, hex);
	snprintf(value, sizeof(value), "%s %zu", hex, strlen(CONTENT));
	assert_int_equal(fsetxattr(fd, "user.modelfs.blob", value, strlen(value), 0), 0);
	assert_int_equal(mfs_ref_get(fd, &got, &size), 0);
	close(fd);
	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), 0);
	assert_int_equal(mfs_entry_lookup(f->st, vid, 0, "w.bin", &e), 0);
	assert_int_equal(e.size, 0);
}

static void test_seal_refuses_a_ref_to_a_missing_blob(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m"), vid;
	struct mfs_version_info vi;
	struct mfs_digest gone;
	char value[80], hex[MFS_DIGEST_HEX];
	int fd;

	fx_sealed(f, mid, "1.0.0", "a", "a");
	vid = fx_draft(f, mid, "1.1.0");
	fd = empty(f, vid, "w.bin");
	mfs_hash_buf("never stored", 12, &gone);
	mfs_digest_hex(&gone, hex);
	snprintf(value, sizeof(value), "%s 12", hex);
	assert_int_equal(fsetxattr(fd, "user.modelfs.blob", value, strlen(value), 0), 0);
	assert_int_equal(ftruncate(fd, 12), 0);
	close(fd);
	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), -EIO);
	assert_int_equal(mfs_version_get(f->st, vid, &vi), 0);
	assert_int_equal(vi.state, MFS_V_DRAFT);
	/* the sparse file was not stored as a blob of that name */
	assert_int_equal(mfs_blob_has(f->st, &gone, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ref_reads_the_blob_and_the_seal_takes_its_digest,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ref_is_made_only_on_an_empty_file_of_a_known_blob,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ref_break_keeps_or_drops_the_bytes,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ref_of_another_size_is_an_ordinary_file,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_seal_refuses_a_ref_to_a_missing_blob,
						fx_setup, fx_teardown),
	};

	fx_quiet_logs();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
