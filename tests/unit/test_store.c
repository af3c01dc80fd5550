/* test_store.c - the store API end to end: models, versions, seal, aliases */

/*
 * Each test opens a fresh store (fixture.h) and drives the public API the
 * way fs/ and modelctl do, asserting the exact -errno of every refusal,
 * since fs/ hands those codes to the kernel unchanged. Sealed content is
 * checked three ways: the entries in LMDB, the blob files on disk, and the
 * rendered metadata.json; fsck must agree that the store is clean.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "fixture.h"
#include "alias.h"
#include "promote.h"

#define HEX_HELLO "6bba86c7e069f56d5a10b435f1c8e49c"
#define HEX_WORLD "d06015dfa1a0e8057d187c6c5c0c0ee1"

static void assert_digest_hex(const struct mfs_digest *d, const char *want)
{
	char hex[MFS_DIGEST_HEX];

	mfs_digest_hex(d, hex);
	assert_string_equal(hex, want);
}

/*============================================================ models */

static void test_model_create_then_lookup_get_and_list_return_it(void **state)
{
	struct fixture *f = *state;
	struct mfs_model_info mi, got, *all = NULL;
	size_t n = 0;

	assert_int_equal(mfs_model_create(f->st, &f->me, "bert", 0750, &mi), 0);
	assert_true(mi.id != 0);
	assert_string_equal(mi.name, "bert");
	assert_int_equal(mi.mode, S_IFDIR | 0750);
	assert_int_equal(mi.uid, f->me.uid);

	assert_int_equal(mfs_model_lookup(f->st, "bert", &got), 0);
	assert_int_equal(got.id, mi.id);
	assert_int_equal(mfs_model_get(f->st, mi.id, &got), 0);
	assert_string_equal(got.name, "bert");
	assert_int_equal(mfs_model_lookup(f->st, "ernie", &got), -ENOENT);
	assert_int_equal(mfs_model_get(f->st, mi.id + 1000, &got), -ENOENT);

	fx_model(f, "zeta");
	fx_model(f, "alpha");
	assert_int_equal(mfs_model_list(f->st, &all, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(all[0].name, "alpha");
	assert_string_equal(all[1].name, "bert");
	assert_string_equal(all[2].name, "zeta");
	free(all);
}

static void test_model_list_of_an_empty_store_is_empty(void **state)
{
	struct fixture *f = *state;
	struct mfs_model_info *all = NULL;
	size_t n = 42;

	assert_int_equal(mfs_model_list(f->st, &all, &n), 0);
	assert_int_equal(n, 0);
	free(all);
}

static void test_model_create_rejects_bad_names_with_einval(void **state)
{
	struct fixture *f = *state;
	char longest[MFS_MODEL_NAME_MAX + 2];
	static const char *const bad[] = { "", ".hidden", ".", "..", "a/b",
		"sp ace", "tab\t", "caf\xc3\xa9", "a@b", "star*" };
	struct mfs_model_info mi;
	struct mfs_model_info *all = NULL;
	size_t n = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = mfs_model_create(f->st, &f->me, bad[i], 0755, &mi);

		if (r != -EINVAL)
			fail_msg("model '%s': got %d, want -EINVAL", bad[i], r);
	}
	memset(longest, 'a', sizeof(longest));
	longest[MFS_MODEL_NAME_MAX + 1] = '\0';	/* 129 bytes */
	assert_int_equal(mfs_model_create(f->st, &f->me, longest, 0755, &mi), -EINVAL);
	longest[MFS_MODEL_NAME_MAX] = '\0';	/* 128 bytes: the limit */
	assert_int_equal(mfs_model_create(f->st, &f->me, longest, 0755, &mi), 0);
	assert_int_equal(mfs_model_create(f->st, &f->me, "ok_Name-1.2", 0755, &mi), 0);
	assert_int_equal(mfs_model_list(f->st, &all, &n), 0);
	assert_int_equal(n, 2);
	free(all);
}

static void test_model_create_of_a_duplicate_is_eexist(void **state)
{
	struct fixture *f = *state;
	struct mfs_model_info mi;
	uint64_t id = fx_model(f, "bert");

	assert_int_equal(mfs_model_create(f->st, &f->me, "bert", 0700, &mi), -EEXIST);
	assert_int_equal(mfs_model_lookup(f->st, "bert", &mi), 0);
	assert_int_equal(mi.id, id);
	assert_int_equal(mi.mode, S_IFDIR | 0755);	/* the first one stays */
}

/*============================================================ versions */

static void test_version_create_rejects_bad_semver_with_einval(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	static const char *const bad[] = { "", "1", "1.0", "v1.0.0", "01.0.0",
		"1.0.0-", "1.0.0+", "1.0.0-01", "latest", "1.0.0 ", "1.0.0/x" };
	struct mfs_version_info vi, *all = NULL;
	size_t n = 1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = mfs_version_create(f->st, &f->me, mid, bad[i], 0755, &vi);

		if (r != -EINVAL)
			fail_msg("version '%s': got %d, want -EINVAL", bad[i], r);
	}
	assert_int_equal(mfs_version_list(f->st, mid, &all, &n), 0);
	assert_int_equal(n, 0);
	free(all);
}

static void test_version_create_of_equal_precedence_is_eexist(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	struct mfs_version_info vi;

	fx_draft(f, mid, "1.0.0+a");
	assert_int_equal(mfs_version_create(f->st, &f->me, mid, "1.0.0+b", 0755, &vi), -EEXIST);
	assert_int_equal(mfs_version_create(f->st, &f->me, mid, "1.0.0", 0755, &vi), -EEXIST);
	assert_int_equal(mfs_version_create(f->st, &f->me, mid, "1.0.0+a", 0755, &vi), -EEXIST);
	/* Different precedence is fine. */
	fx_draft(f, mid, "1.0.0-rc.1");
	fx_draft(f, mid, "1.0.1");
}

static void test_version_create_in_a_missing_model_is_enoent(void **state)
{
	struct fixture *f = *state;
	struct mfs_version_info vi;

	assert_int_equal(mfs_version_create(f->st, &f->me, 4242, "1.0.0", 0755, &vi), -ENOENT);
}

static void test_version_list_is_in_semver_order(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	static const char *const want[] = { "1.0.0-alpha", "1.0.0-alpha.1",
		"1.0.0-beta.2", "1.0.0-beta.11", "1.0.0", "1.2.0", "1.10.0", "2.0.0" };
	struct mfs_version_info *all = NULL;
	size_t n = 0;

	/* Created out of order; byte order would be wrong too. */
	fx_draft(f, mid, "1.10.0");
	fx_draft(f, mid, "1.0.0-beta.11");
	fx_draft(f, mid, "2.0.0");
	fx_draft(f, mid, "1.0.0");
	fx_draft(f, mid, "1.0.0-alpha.1");
	fx_draft(f, mid, "1.2.0");
	fx_draft(f, mid, "1.0.0-beta.2");
	fx_draft(f, mid, "1.0.0-alpha");
	assert_int_equal(mfs_version_list(f->st, mid, &all, &n), 0);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(all[i].name, want[i]);
	free(all);
}

/*============================================================ seal */

static void test_seal_of_an_empty_draft_is_einval_and_keeps_it_a_draft(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_draft(f, mid, "1.0.0");
	struct mfs_version_info vi;

	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), -EINVAL);
	/* A tree of empty directories holds no file either. */
	fx_mkdir(f, vid, "empty");
	fx_mkdir(f, vid, "empty/deeper");
	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), -EINVAL);
	assert_int_equal(mfs_version_get(f->st, vid, &vi), 0);
	assert_int_equal(vi.state, MFS_V_DRAFT);
	assert_int_equal(fx_blobs(f).objects, 0);
}

static void test_seal_of_a_missing_version_is_enoent(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mfs_seal_version(f->st, &f->me, 4242, NULL, NULL), -ENOENT);
}

/* Find the object in cJSON array files whose "path" is path. */
static cJSON *find_file(cJSON *files, const char *path)
{
	cJSON *it;

	cJSON_ArrayForEach(it, files) {
		const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "path"));

		if (p && !strcmp(p, path))
			return it;
	}
	return NULL;
}

static void assert_json_string(cJSON *obj, const char *key, const char *want)
{
	const char *got = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));

	if (!got || strcmp(got, want))
		fail_msg("JSON '%s': got '%s', want '%s'", key, got ? got : "(none)", want);
}

static void assert_json_number(cJSON *obj, const char *key, double want)
{
	cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsNumber(it) || cJSON_GetNumberValue(it) != want)
		fail_msg("JSON '%s': want %g", key, want);
}

static void test_seal_of_a_draft_with_files_makes_entries_blobs_and_metadata(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_draft(f, mid, "1.0.0");
	struct mfs_version_info vi;
	struct mfs_entry e, sub, got, *kids = NULL;
	struct mfs_digest d;
	char buf[64], *json = NULL;
	size_t n = 0, len = 0;
	cJSON *root, *reg, *files, *it;
	int fd = -1, dfd;

	fx_write(f, vid, "model.bin", "hello\n");
	fx_write(f, vid, "config.json", "{}");
	fx_mkdir(f, vid, "sub");
	fx_write(f, vid, "sub/weights.bin", "world\n");
	fx_symlink(f, vid, "model.bin", "link");

	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), 0);

	assert_int_equal(mfs_version_get(f->st, vid, &vi), 0);
	assert_int_equal(vi.state, MFS_V_SEALED);
	assert_int_equal(vi.nfiles, 3);
	assert_int_equal(vi.size, 6 + 2 + 6);
	assert_int_equal(vi.sealed_uid, f->me.uid);
	/* The draft is gone: fs/ must now read entries and blobs. */
	assert_int_equal(mfs_version_draft_open(f->st, vid, O_RDONLY, &dfd), -EROFS);
	/* Sealing again is a no-op. */
	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), 0);

	/* Entries: lookup, get, list (by name), symlink, subdirectory. */
	assert_int_equal(mfs_entry_lookup(f->st, vid, 0, "model.bin", &e), 0);
	assert_true(S_ISREG(e.mode));
	assert_int_equal(e.size, 6);
	assert_int_equal(e.vid, vid);
	assert_int_equal(e.parent, 0);
	assert_digest_hex(&e.digest, HEX_HELLO);
	assert_int_equal(mfs_entry_get(f->st, e.id, &got), 0);
	assert_string_equal(got.name, "model.bin");
	assert_memory_equal(got.digest.b, e.digest.b, 16);
	assert_int_equal(mfs_entry_lookup(f->st, vid, 0, "nope", &got), -ENOENT);

	assert_int_equal(mfs_entry_list(f->st, vid, 0, &kids, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(kids[0].name, "config.json");
	assert_string_equal(kids[1].name, "link");
	assert_string_equal(kids[2].name, "model.bin");
	assert_string_equal(kids[3].name, "sub");
	assert_true(S_ISLNK(kids[1].mode));
	assert_true(S_ISDIR(kids[3].mode));
	assert_int_equal(mfs_entry_readlink(f->st, kids[1].id, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "model.bin");
	assert_int_equal(mfs_entry_readlink(f->st, e.id, buf, sizeof(buf)), -EINVAL);
	free(kids);

	assert_int_equal(mfs_entry_lookup(f->st, vid, 0, "sub", &sub), 0);
	assert_int_equal(mfs_entry_lookup(f->st, vid, sub.id, "weights.bin", &got), 0);
	assert_digest_hex(&got.digest, HEX_WORLD);
	assert_int_equal(got.parent, sub.id);
	assert_int_equal(mfs_entry_lookup(f->st, vid, 0, "weights.bin", &got), -ENOENT);

	/* Blobs exist, hold the bytes, and are read-only. */
	fx_digest_of("hello\n", &d);
	assert_int_equal(mfs_blob_has(f->st, &d, NULL), 1);
	assert_int_equal(mfs_blob_verify(f->st, &d), 0);
	fx_digest_of("world\n", &d);
	assert_int_equal(mfs_blob_has(f->st, &d, NULL), 1);
	fx_digest_of("{}", &d);
	assert_int_equal(mfs_blob_has(f->st, &d, NULL), 1);
	assert_int_equal(mfs_entry_open(f->st, &e, &fd), 0);
	fx_read_fd(fd, buf, sizeof(buf));
	assert_string_equal(buf, "hello\n");
	{
		struct stat sb;

		assert_int_equal(fstat(fd, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0444);
	}
	close(fd);
	assert_int_equal(fx_blobs(f).objects, 3);
	assert_int_equal(fx_blobs(f).cruft, 0);

	/* metadata.json lists every file with its digest. */
	assert_int_equal(mfs_version_render_metadata(f->st, vid, &json, &len), 0);
	assert_int_equal(strlen(json), len);
	root = cJSON_Parse(json);
	assert_non_null(root);
	reg = cJSON_GetObjectItemCaseSensitive(root, "registry");
	assert_non_null(reg);
	assert_json_string(reg, "model", "m");
	assert_json_string(reg, "version", "1.0.0");
	assert_json_string(reg, "state", "sealed");
	assert_json_number(reg, "file_count", 3);
	assert_json_number(reg, "size", 14);
	files = cJSON_GetObjectItemCaseSensitive(reg, "files");
	assert_true(cJSON_IsArray(files));
	assert_int_equal(cJSON_GetArraySize(files), 3);
	it = find_file(files, "model.bin");
	assert_non_null(it);
	assert_json_string(it, "digest", HEX_HELLO);
	assert_json_number(it, "size", 6);
	it = find_file(files, "sub/weights.bin");
	assert_non_null(it);
	assert_json_string(it, "digest", HEX_WORLD);
	/* Symlinks are listed apart: "files" holds what has bytes. */
	assert_null(find_file(files, "link"));
	it = find_file(cJSON_GetObjectItemCaseSensitive(reg, "symlinks"), "link");
	assert_non_null(it);
	assert_json_string(it, "target", "model.bin");
	cJSON_Delete(root);
	free(json);

	fx_assert_fsck_clean(f);
}

static void test_identical_files_in_two_versions_share_one_blob_and_fsck_is_clean(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t v1 = fx_sealed(f, mid, "1.0.0", "w.bin", "hello\n");
	uint64_t v2 = fx_draft(f, mid, "1.1.0");
	struct mfs_entry a, b;
	struct mfs_fsck_result res;

	/* Twice in the same draft as well: three references, one blob. */
	fx_write(f, v2, "w.bin", "hello\n");
	fx_write(f, v2, "copy.bin", "hello\n");
	assert_int_equal(mfs_seal_version(f->st, &f->me, v2, NULL, NULL), 0);

	assert_int_equal(mfs_entry_lookup(f->st, v1, 0, "w.bin", &a), 0);
	assert_int_equal(mfs_entry_lookup(f->st, v2, 0, "w.bin", &b), 0);
	assert_memory_equal(a.digest.b, b.digest.b, 16);
	assert_int_equal(fx_blobs(f).objects, 1);
	assert_int_equal(fx_blobs(f).cruft, 0);

	res = fx_fsck(f);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.warnings, 0);
	assert_int_equal(res.blobs, 1);
	assert_int_equal(res.versions, 2);
}

static void test_fsck_reports_a_corrupted_blob_as_an_error(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	char path[256];
	int fd;

	fx_sealed(f, mid, "1.0.0", "w.bin", "hello\n");
	fx_assert_fsck_clean(f);
	snprintf(path, sizeof(path), "%s/blobs/6b/" HEX_HELLO, f->dir);
	assert_int_equal(chmod(path, 0644), 0);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "J", 1, 0), 1);
	close(fd);
	assert_int_equal(fx_fsck(f).errors, 1);
}

static void test_fsck_of_a_store_with_no_sealed_file_is_clean(void **state)
{
	struct fixture *f = *state;
	struct mfs_fsck_result res;
	uint64_t mid = fx_model(f, "m");

	/* Nothing referenced: fsck's reference table is empty. */
	res = fx_fsck(f);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.warnings, 0);
	assert_int_equal(res.blobs, 0);
	/* ... and a blob nothing references is cruft: a warning. */
	{
		uint64_t vid = fx_draft(f, mid, "1.0.0");
		int dfd = fx_draft_fd(f, vid);
		struct mfs_digest d;
		bool created;

		fx_write(f, vid, "w.bin", "hello\n");
		fx_digest_of("hello\n", &d);
		assert_int_equal(mfs_blob_link(f->st, dfd, "w.bin", &d, NULL, &created), 0);
		close(dfd);
	}
	res = fx_fsck(f);
	assert_int_equal(res.errors, 0);
	assert_int_equal(res.warnings, 1);
}

/*============================================================ remove */

static void test_version_remove_of_a_sealed_version_leaves_a_tombstone_whose_name_is_never_reused(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_sealed(f, mid, "1.0.0", "w.bin", "hello\n");
	struct mfs_version_info vi, *all = NULL;
	size_t n = 1;

	assert_int_equal(mfs_version_remove(f->st, &f->me, mid, "1.0.0"), 0);
	assert_int_equal(mfs_version_lookup(f->st, mid, "1.0.0", false, &vi), -ENOENT);
	assert_int_equal(mfs_version_lookup(f->st, mid, "1.0.0", true, &vi), 0);
	assert_int_equal(vi.state, MFS_V_TOMBSTONE);
	assert_int_equal(vi.id, vid);
	assert_int_equal(mfs_version_get(f->st, vid, &vi), 0);
	assert_int_equal(vi.state, MFS_V_TOMBSTONE);
	assert_int_equal(mfs_version_list(f->st, mid, &all, &n), 0);
	assert_int_equal(n, 0);
	free(all);

	assert_int_equal(mfs_version_create(f->st, &f->me, mid, "1.0.0", 0755, &vi), -EEXIST);
	assert_int_equal(mfs_version_create(f->st, &f->me, mid, "1.0.0+again", 0755, &vi), -EEXIST);
	assert_int_equal(mfs_version_remove(f->st, &f->me, mid, "1.0.0"), -ENOENT);
	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), -ENOENT);
	/* The model can no longer be removed: the tombstone keeps the name. */
	assert_int_equal(mfs_model_remove(f->st, &f->me, "m"), -ENOTEMPTY);
}

static void test_version_remove_while_aliased_is_ebusy(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_sealed(f, mid, "1.0.0", "w.bin", "hello\n");
	struct mfs_version_info vi;

	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "prod", vid), 0);
	assert_int_equal(mfs_version_remove(f->st, &f->me, mid, "1.0.0"), -EBUSY);
	assert_int_equal(mfs_version_get(f->st, vid, &vi), 0);
	assert_int_equal(vi.state, MFS_V_SEALED);
	assert_int_equal(mfs_alias_remove(f->st, &f->me, mid, "prod"), 0);
	assert_int_equal(mfs_version_remove(f->st, &f->me, mid, "1.0.0"), 0);
}

static void test_version_remove_of_a_draft_needs_it_empty_and_frees_the_name(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_draft(f, mid, "1.0.0");
	struct mfs_version_info vi;

	fx_write(f, vid, "w.bin", "hello\n");
	assert_int_equal(mfs_version_remove(f->st, &f->me, mid, "1.0.0"), -ENOTEMPTY);
	fx_assert_draft_file(f, vid, "w.bin", "hello\n");
	{
		int dfd = fx_draft_fd(f, vid);

		assert_int_equal(unlinkat(dfd, "w.bin", 0), 0);
		close(dfd);
	}
	assert_int_equal(mfs_version_remove(f->st, &f->me, mid, "1.0.0"), 0);
	assert_int_equal(mfs_version_get(f->st, vid, &vi), -ENOENT);
	/* A discarded draft was never sealed: its name is free again. */
	fx_draft(f, mid, "1.0.0");
}

static void test_version_rename_of_a_draft_refuses_taken_names_and_sealed_versions(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_draft(f, mid, "1.0.0");
	struct mfs_version_info vi;

	fx_sealed(f, mid, "2.0.0", "w.bin", "hello\n");
	assert_int_equal(mfs_version_rename(f->st, &f->me, mid, "1.0.0", "2.0.0"), -EEXIST);
	assert_int_equal(mfs_version_rename(f->st, &f->me, mid, "1.0.0", "2.0.0+b"), -EEXIST);
	assert_int_equal(mfs_version_rename(f->st, &f->me, mid, "1.0.0", "bad"), -EINVAL);
	assert_int_equal(mfs_version_rename(f->st, &f->me, mid, "2.0.0", "3.0.0"), -EROFS);
	assert_int_equal(mfs_version_rename(f->st, &f->me, mid, "9.0.0", "3.0.0"), -ENOENT);
	/* Renaming onto its own precedence class (build metadata) is fine. */
	assert_int_equal(mfs_version_rename(f->st, &f->me, mid, "1.0.0", "1.0.0+b"), 0);
	assert_int_equal(mfs_version_rename(f->st, &f->me, mid, "1.0.0+b", "1.1.0"), 0);
	assert_int_equal(mfs_version_lookup(f->st, mid, "1.0.0+b", false, &vi), -ENOENT);
	assert_int_equal(mfs_version_lookup(f->st, mid, "1.1.0", false, &vi), 0);
	assert_int_equal(vi.id, vid);
	assert_int_equal(mfs_version_get(f->st, vid, &vi), 0);
	assert_string_equal(vi.name, "1.1.0");
	/* The draft's files follow: its directory is keyed by id. */
	fx_write(f, vid, "w.bin", "world\n");
	fx_assert_draft_file(f, vid, "w.bin", "world\n");
}

/*============================================================ aliases */

static void test_alias_create_on_a_draft_is_einval(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_draft(f, mid, "1.0.0");
	struct mfs_alias_info ai;

	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "prod", vid), -EINVAL);
	assert_int_equal(mfs_alias_get(f->st, mid, "prod", &ai), -ENOENT);
}

static void test_alias_create_get_list_and_refusals(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t other = fx_model(f, "other");
	uint64_t v1 = fx_sealed(f, mid, "1.0.0", "w.bin", "hello\n");
	uint64_t ov = fx_sealed(f, other, "1.0.0", "w.bin", "hello\n");
	static const char *const reserved[] = { "versions", "latest", "history.jsonl",
		"metadata.json", "policy.json", "@x", "a/b", "", ".", ".." };
	struct mfs_alias_info ai, *all = NULL;
	size_t n = 0;

	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "prod", v1), 0);
	assert_int_equal(mfs_alias_get(f->st, mid, "prod", &ai), 0);
	assert_int_equal(ai.vid, v1);
	assert_string_equal(ai.version, "1.0.0");
	assert_string_equal(ai.name, "prod");
	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "prod", v1), -EEXIST);
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		int r = mfs_alias_create(f->st, &f->me, mid, reserved[i], v1);

		if (r != -EINVAL)
			fail_msg("alias '%s': got %d, want -EINVAL", reserved[i], r);
	}
	/* An alias names a version of its own model only. */
	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "foreign", ov), -EINVAL);
	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "ghost", 4242), -ENOENT);

	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "canary", v1), 0);
	assert_int_equal(mfs_alias_list(f->st, mid, &all, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].name, "canary");
	assert_string_equal(all[1].name, "prod");
	free(all);
	assert_int_equal(mfs_alias_list_for(f->st, ov, &all, &n), 0);
	assert_int_equal(n, 0);
	free(all);
}

static void test_alias_rename_moves_refuses_noreplace_and_exchanges(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t v1 = fx_sealed(f, mid, "1.0.0", "w.bin", "hello\n");
	uint64_t v2 = fx_sealed(f, mid, "2.0.0", "w.bin", "world\n");
	struct mfs_alias_info ai;

	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "prod", v1), 0);
	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "staging", v2), 0);

	/* NOREPLACE onto an existing alias: nothing changes. */
	assert_int_equal(mfs_alias_rename(f->st, &f->me, mid, "staging", "prod",
					  MFS_ALIAS_NOREPLACE), -EEXIST);
	assert_int_equal(mfs_alias_get(f->st, mid, "prod", &ai), 0);
	assert_int_equal(ai.vid, v1);
	assert_int_equal(mfs_alias_get(f->st, mid, "staging", &ai), 0);
	assert_int_equal(ai.vid, v2);

	/* EXCHANGE swaps both. */
	assert_int_equal(mfs_alias_rename(f->st, &f->me, mid, "staging", "prod",
					  MFS_ALIAS_EXCHANGE), 0);
	assert_int_equal(mfs_alias_get(f->st, mid, "prod", &ai), 0);
	assert_int_equal(ai.vid, v2);
	assert_string_equal(ai.version, "2.0.0");
	assert_int_equal(mfs_alias_get(f->st, mid, "staging", &ai), 0);
	assert_int_equal(ai.vid, v1);

	/* EXCHANGE with a missing destination. */
	assert_int_equal(mfs_alias_rename(f->st, &f->me, mid, "staging", "nope",
					  MFS_ALIAS_EXCHANGE), -ENOENT);
	assert_int_equal(mfs_alias_rename(f->st, &f->me, mid, "nope", "prod", 0), -ENOENT);
	assert_int_equal(mfs_alias_rename(f->st, &f->me, mid, "prod", "latest", 0), -EINVAL);

	/* A plain rename replaces: prod now names v1, staging is gone. */
	assert_int_equal(mfs_alias_rename(f->st, &f->me, mid, "staging", "prod", 0), 0);
	assert_int_equal(mfs_alias_get(f->st, mid, "prod", &ai), 0);
	assert_int_equal(ai.vid, v1);
	assert_int_equal(mfs_alias_get(f->st, mid, "staging", &ai), -ENOENT);

	/* NOREPLACE onto a free name is a plain move. */
	assert_int_equal(mfs_alias_rename(f->st, &f->me, mid, "prod", "stable",
					  MFS_ALIAS_NOREPLACE), 0);
	assert_int_equal(mfs_alias_get(f->st, mid, "stable", &ai), 0);
	assert_int_equal(ai.vid, v1);
	assert_int_equal(mfs_alias_get(f->st, mid, "prod", &ai), -ENOENT);
}

static void test_alias_remove_then_get_is_enoent(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t v1 = fx_sealed(f, mid, "1.0.0", "w.bin", "hello\n");
	struct mfs_alias_info ai;

	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "prod", v1), 0);
	assert_int_equal(mfs_alias_remove(f->st, &f->me, mid, "prod"), 0);
	assert_int_equal(mfs_alias_get(f->st, mid, "prod", &ai), -ENOENT);
	assert_int_equal(mfs_alias_remove(f->st, &f->me, mid, "prod"), -ENOENT);
}

/* The pure half: no store, so these run without the fixture. */
static void test_alias_target_parse_normalises_versions_paths(void **state)
{
	static const char *const ok[] = { "versions/1.0.0", "./versions/1.0.0/",
		"versions/1.0.0///", "././versions/1.0.0",
		"/mnt/reg/models/m/versions/1.0.0", "/mnt/reg/models/m/./versions/1.0.0/" };
	char v[MFS_NAME_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int r;

		strcpy(v, "?");
		r = mfs_alias_target_parse(ok[i], "/mnt/reg", "m", v, sizeof(v));
		if (r != 0 || strcmp(v, "1.0.0"))
			fail_msg("target '%s': got %d ('%s'), want 0 ('1.0.0')", ok[i], r, v);
	}
	assert_int_equal(mfs_alias_target_parse("versions/2.0.0-rc.1+b.7", NULL, "m", v,
						sizeof(v)), 0);
	assert_string_equal(v, "2.0.0-rc.1+b.7");
}

static void test_alias_target_parse_rejects_other_shapes_and_leaves_the_output(void **state)
{
	static const char *const bad[] = { "../x/versions/1.0.0", "versions/", "versions",
		"1.0.0", "versions/1.0.0/extra", "versions/../versions/1.0.0", "",
		"versions/not-semver", "versions/v1.0.0", ".versions/1.0.0", "/",
		"/mnt/reg/models/x/versions/1.0.0", "/mnt/other/models/m/versions/1.0.0",
		"/mnt/reg/models/m/", "/mnt/reg/models/mm/versions/1.0.0" };
	char v[MFS_NAME_MAX + 1] = "untouched", *huge;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = mfs_alias_target_parse(bad[i], "/mnt/reg", "m", v, sizeof(v));

		if (r != -EINVAL)
			fail_msg("target '%s': got %d, want -EINVAL", bad[i], r);
	}
	/* Absolute paths need a mount to be measured against. */
	assert_int_equal(mfs_alias_target_parse("/mnt/reg/models/m/versions/1.0.0", NULL,
						"m", v, sizeof(v)), -EINVAL);
	assert_int_equal(mfs_alias_target_parse("/mnt/reg/models/m/versions/1.0.0", "",
						"m", v, sizeof(v)), -EINVAL);
	/* A version that does not fit the caller's buffer. */
	assert_int_equal(mfs_alias_target_parse("versions/10.0.0", NULL, "m", v, 6), -EINVAL);
	assert_string_equal(v, "untouched");
	/* A target readlink could never return. */
	huge = malloc(PATH_MAX + 1);
	assert_non_null(huge);
	memset(huge, '/', PATH_MAX);
	memcpy(huge, "versions/1.0.0", 14);
	huge[PATH_MAX] = '\0';
	assert_int_equal(mfs_alias_target_parse(huge, NULL, "m", v, sizeof(v)), -EINVAL);
	huge[PATH_MAX - 1] = '\0';
	assert_int_equal(mfs_alias_target_parse(huge, NULL, "m", v, sizeof(v)), 0);
	free(huge);
	assert_string_equal(v, "1.0.0");
}

static void test_alias_resolve_target_accepts_versions_paths(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t v1 = fx_sealed(f, mid, "1.0.0", "w.bin", "hello\n");
	static const char *const ok[] = { "versions/1.0.0", "./versions/1.0.0/",
		"versions/1.0.0/", "././versions/1.0.0" };
	uint64_t got;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int r;

		got = 0;
		r = mfs_alias_resolve_target(f->st, mid, ok[i], NULL, &got);
		if (r != 0 || got != v1)
			fail_msg("target '%s': got %d (vid %llu), want 0", ok[i], r,
				 (unsigned long long)got);
	}
	/* Absolute, but only through our own mount. */
	got = 0;
	assert_int_equal(mfs_alias_resolve_target(f->st, mid, "/mnt/reg/models/m/versions/1.0.0",
						  "/mnt/reg", &got), 0);
	assert_int_equal(got, v1);
}

static void test_alias_resolve_target_rejects_other_shapes_with_einval(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	static const char *const bad[] = { "../x/versions/1.0.0", "versions/",
		"versions", "1.0.0", "versions/1.0.0/extra", "versions/../versions/1.0.0",
		"/mnt/reg/models/m/versions/1.0.0", "versions/not-semver", "" };
	uint64_t got = 77;

	fx_sealed(f, mid, "1.0.0", "w.bin", "hello\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = mfs_alias_resolve_target(f->st, mid, bad[i], NULL, &got);

		if (r != -EINVAL)
			fail_msg("target '%s': got %d, want -EINVAL", bad[i], r);
	}
	/* Through a mount, but another model's or another mount's path. */
	assert_int_equal(mfs_alias_resolve_target(f->st, mid, "/mnt/reg/models/x/versions/1.0.0",
						  "/mnt/reg", &got), -EINVAL);
	assert_int_equal(mfs_alias_resolve_target(f->st, mid, "/mnt/other/models/m/versions/1.0.0",
						  "/mnt/reg", &got), -EINVAL);
	assert_int_equal(got, 77);
}

static void test_alias_resolve_target_of_a_missing_version_is_enoent(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t got = 77;

	fx_sealed(f, mid, "1.0.0", "w.bin", "hello\n");
	assert_int_equal(mfs_alias_resolve_target(f->st, mid, "versions/9.9.9", NULL, &got),
			 -ENOENT);
	assert_int_equal(mfs_version_remove(f->st, &f->me, mid, "1.0.0"), 0);
	assert_int_equal(mfs_alias_resolve_target(f->st, mid, "versions/1.0.0", NULL, &got),
			 -ENOENT);
	assert_int_equal(got, 77);
}

static void test_alias_latest_prefers_the_highest_release_over_prereleases(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	struct mfs_version_info vi;

	fx_sealed(f, mid, "2.0.0-rc.1", "w.bin", "a");
	assert_int_equal(mfs_alias_latest(f->st, mid, &vi), 0);
	assert_string_equal(vi.name, "2.0.0-rc.1");	/* only pre-releases: the highest */
	fx_sealed(f, mid, "1.0.0", "w.bin", "b");
	fx_sealed(f, mid, "1.5.0", "w.bin", "c");
	fx_sealed(f, mid, "1.2.0", "w.bin", "d");
	fx_sealed(f, mid, "3.0.0-beta", "w.bin", "e");
	fx_draft(f, mid, "9.0.0");			/* drafts never count */
	assert_int_equal(mfs_alias_latest(f->st, mid, &vi), 0);
	assert_string_equal(vi.name, "1.5.0");
	assert_int_equal(vi.state, MFS_V_SEALED);
	/* Deleted versions do not count either. */
	assert_int_equal(mfs_version_remove(f->st, &f->me, mid, "1.5.0"), 0);
	assert_int_equal(mfs_alias_latest(f->st, mid, &vi), 0);
	assert_string_equal(vi.name, "1.2.0");
}

static void test_alias_latest_is_enoent_when_nothing_is_sealed(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	struct mfs_version_info vi;

	assert_int_equal(mfs_alias_latest(f->st, mid, &vi), -ENOENT);
	fx_draft(f, mid, "1.0.0");
	fx_write(f, fx_draft(f, mid, "2.0.0"), "w.bin", "hello\n");
	assert_int_equal(mfs_alias_latest(f->st, mid, &vi), -ENOENT);
}

/*============================================================ metadata */

static void assert_meta(struct fixture *f, uint64_t vid, const char *want)
{
	char *got = NULL;
	size_t len = 0;

	assert_int_equal(mfs_version_meta_get(f->st, vid, &got, &len), 0);
	assert_int_equal(strlen(got), len);
	assert_string_equal(got, want);
	free(got);
}

static void test_version_meta_set_rejects_invalid_json_and_keeps_the_previous(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_draft(f, mid, "1.0.0");
	static const char *const bad[] = { "{bad", "[1,2]", "\"str\"", "{} {}",
		"{\"a\":1} x", "", "{\"metrics\":{\"acc\":\"high\"}}",
		"{\"parents\":[\"no-at-sign\"]}", "{\"description\":5}" };
	const char *good = "{\"description\":\"first\"}";
	struct mfs_version_info vi;

	assert_meta(f, vid, "{}");
	assert_int_equal(mfs_version_meta_set(f->st, &f->me, vid, good, strlen(good)), 0);
	assert_meta(f, vid, good);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = mfs_version_meta_set(f->st, &f->me, vid, bad[i], strlen(bad[i]));

		if (r != -EINVAL)
			fail_msg("metadata '%s': got %d, want -EINVAL", bad[i], r);
		assert_meta(f, vid, good);
	}
	assert_int_equal(mfs_version_get(f->st, vid, &vi), 0);
	assert_true(vi.has_meta);
	/* NULL clears it. */
	assert_int_equal(mfs_version_meta_set(f->st, &f->me, vid, NULL, 0), 0);
	assert_meta(f, vid, "{}");
	assert_int_equal(mfs_version_get(f->st, vid, &vi), 0);
	assert_false(vi.has_meta);
}

static void test_version_meta_set_drops_the_registry_key(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_draft(f, mid, "1.0.0");
	const char *in = "{\"registry\":{\"state\":\"sealed\"},\"description\":\"d\","
			 "\"metrics\":{\"acc\":0.5}}";
	char *got = NULL;
	size_t len;
	cJSON *j;

	assert_int_equal(mfs_version_meta_set(f->st, &f->me, vid, in, strlen(in)), 0);
	assert_int_equal(mfs_version_meta_get(f->st, vid, &got, &len), 0);
	j = cJSON_Parse(got);
	assert_non_null(j);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "registry"));
	assert_json_string(j, "description", "d");
	assert_json_number(cJSON_GetObjectItemCaseSensitive(j, "metrics"), "acc", 0.5);
	cJSON_Delete(j);
	free(got);
}

static void test_version_meta_set_refuses_a_model_name_or_version_mismatch(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_draft(f, mid, "1.0.0");
	const char *wrong_model = "{\"model_name\":\"other\"}";
	const char *wrong_version = "{\"version\":\"2.0.0\"}";
	const char *right = "{\"model_name\":\"m\",\"version\":\"1.0.0\"}";

	assert_int_equal(mfs_version_meta_set(f->st, &f->me, vid, wrong_model,
					      strlen(wrong_model)), -EINVAL);
	assert_int_equal(mfs_version_meta_set(f->st, &f->me, vid, wrong_version,
					      strlen(wrong_version)), -EINVAL);
	assert_meta(f, vid, "{}");
	assert_int_equal(mfs_version_meta_set(f->st, &f->me, vid, right, strlen(right)), 0);
	assert_meta(f, vid, right);
}

static void test_version_meta_set_of_a_sealed_version_is_erofs(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t vid = fx_draft(f, mid, "1.0.0");
	const char *m1 = "{\"description\":\"kept\"}", *m2 = "{\"description\":\"late\"}";
	char *json = NULL;
	size_t len;
	cJSON *root;

	assert_int_equal(mfs_version_meta_set(f->st, &f->me, vid, m1, strlen(m1)), 0);
	fx_write(f, vid, "w.bin", "hello\n");
	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), 0);
	assert_int_equal(mfs_version_meta_set(f->st, &f->me, vid, m2, strlen(m2)), -EROFS);
	assert_meta(f, vid, m1);
	/* The sealed metadata.json is the user's part plus the registry's. */
	assert_int_equal(mfs_version_render_metadata(f->st, vid, &json, &len), 0);
	root = cJSON_Parse(json);
	assert_non_null(root);
	assert_json_string(root, "description", "kept");
	assert_non_null(cJSON_GetObjectItemCaseSensitive(root, "registry"));
	cJSON_Delete(root);
	free(json);
}

/*============================================================ persistence */

/* The process's address space now in bytes (VmSize), or 0 if unknown. */
static unsigned long long vm_size(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;

	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
			break;
	fclose(fp);
	return kb << 10;
}

/* Found by running the unit tests under valgrind, which maps nothing of
 * 64 GiB: the store could not be opened at all where the address space
 * cannot hold the full LMDB map (ulimit -v does the same). The limit is
 * set above what the process already maps, so this holds under ASan. */
static void test_store_opens_with_a_smaller_map_when_the_address_space_is_limited(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	struct rlimit old, lim;
	struct mfs_model_info mi;
	unsigned long long vm;
	int r;

	fx_close(f);
	vm = vm_size();
	assert_true(vm > 0);
	assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)(vm + (8ULL << 30));
	if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < lim.rlim_cur)
		skip();
	assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
	r = mfs_store_open(f->dir, MFS_STORE_SERVE, NULL, &f->st);
	assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
	assert_int_equal(r, 0);
	assert_int_equal(mfs_model_lookup(f->st, "m", &mi), 0);
	assert_int_equal(mi.id, mid);
	fx_model(f, "written-through-the-smaller-map");
}

static void test_reopening_the_store_keeps_everything(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t v1 = fx_sealed(f, mid, "1.0.0", "w.bin", "hello\n");
	uint64_t v2 = fx_draft(f, mid, "2.0.0-rc.1");
	const char *meta = "{\"description\":\"d\"}";
	struct mfs_model_info mi;
	struct mfs_version_info vi;
	struct mfs_alias_info ai;
	struct mfs_entry e;
	struct mfs_version_info *all = NULL;
	size_t n = 0;
	char buf[32];
	int fd;

	fx_write(f, v2, "draft.txt", "world\n");
	assert_int_equal(mfs_version_meta_set(f->st, &f->me, v2, meta, strlen(meta)), 0);
	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "prod", v1), 0);

	fx_close(f);
	fx_open(f);

	assert_int_equal(mfs_model_lookup(f->st, "m", &mi), 0);
	assert_int_equal(mi.id, mid);
	assert_int_equal(mfs_version_list(f->st, mid, &all, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].name, "1.0.0");
	assert_int_equal(all[0].state, MFS_V_SEALED);
	assert_string_equal(all[1].name, "2.0.0-rc.1");
	assert_int_equal(all[1].state, MFS_V_DRAFT);
	free(all);
	assert_int_equal(mfs_alias_get(f->st, mid, "prod", &ai), 0);
	assert_int_equal(ai.vid, v1);
	assert_int_equal(mfs_entry_lookup(f->st, v1, 0, "w.bin", &e), 0);
	assert_int_equal(mfs_entry_open(f->st, &e, &fd), 0);
	fx_read_fd(fd, buf, sizeof(buf));
	close(fd);
	assert_string_equal(buf, "hello\n");
	fx_assert_draft_file(f, v2, "draft.txt", "world\n");
	assert_meta(f, v2, meta);
	/* Ids keep counting from where they were: no reuse. */
	assert_int_equal(mfs_version_create(f->st, &f->me, mid, "3.0.0", 0755, &vi), 0);
	assert_true(vi.id > v2);
	fx_assert_fsck_clean(f);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_a_second_serve_open_from_another_process_is_ebusy_after_about_two_seconds(void **state)
{
	struct fixture *f = *state;
	char mount[64] = "x";
	int status = 0;
	pid_t pid;

	assert_int_equal(mfs_store_served(f->dir, mount, sizeof(mount)), 1);
	assert_string_equal(mount, "");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child never touches the parent's environment. */
		struct mfs_store *st2 = NULL;
		double t0 = now_s(), dt;
		int r = mfs_store_open(f->dir, MFS_STORE_SERVE, "/mnt/two", &st2);

		dt = now_s() - t0;
		if (r != -EBUSY) {
			fprintf(stderr, "second open: got %d, want -EBUSY\n", r);
			_exit(2);
		}
		if (dt < 1.5 || dt > 10) {
			fprintf(stderr, "second open gave up after %.2f s, want ~2 s\n", dt);
			_exit(3);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The first holder is undisturbed. */
	fx_model(f, "still-works");
	fx_close(f);
	assert_int_equal(mfs_store_served(f->dir, mount, sizeof(mount)), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_model_create_then_lookup_get_and_list_return_it),
		T(test_model_list_of_an_empty_store_is_empty),
		T(test_model_create_rejects_bad_names_with_einval),
		T(test_model_create_of_a_duplicate_is_eexist),
		T(test_version_create_rejects_bad_semver_with_einval),
		T(test_version_create_of_equal_precedence_is_eexist),
		T(test_version_create_in_a_missing_model_is_enoent),
		T(test_version_list_is_in_semver_order),
		T(test_seal_of_an_empty_draft_is_einval_and_keeps_it_a_draft),
		T(test_seal_of_a_missing_version_is_enoent),
		T(test_seal_of_a_draft_with_files_makes_entries_blobs_and_metadata),
		T(test_identical_files_in_two_versions_share_one_blob_and_fsck_is_clean),
		T(test_fsck_reports_a_corrupted_blob_as_an_error),
		T(test_fsck_of_a_store_with_no_sealed_file_is_clean),
		T(test_version_remove_of_a_sealed_version_leaves_a_tombstone_whose_name_is_never_reused),
		T(test_version_remove_while_aliased_is_ebusy),
		T(test_version_remove_of_a_draft_needs_it_empty_and_frees_the_name),
		T(test_version_rename_of_a_draft_refuses_taken_names_and_sealed_versions),
		T(test_alias_create_on_a_draft_is_einval),
		T(test_alias_create_get_list_and_refusals),
		T(test_alias_rename_moves_refuses_noreplace_and_exchanges),
		T(test_alias_remove_then_get_is_enoent),
		cmocka_unit_test(test_alias_target_parse_normalises_versions_paths),
		cmocka_unit_test(test_alias_target_parse_rejects_other_shapes_and_leaves_the_output),
		T(test_alias_resolve_target_accepts_versions_paths),
		T(test_alias_resolve_target_rejects_other_shapes_with_einval),
		T(test_alias_resolve_target_of_a_missing_version_is_enoent),
		T(test_alias_latest_prefers_the_highest_release_over_prereleases),
		T(test_alias_latest_is_enoent_when_nothing_is_sealed),
		T(test_version_meta_set_rejects_invalid_json_and_keeps_the_previous),
		T(test_version_meta_set_drops_the_registry_key),
		T(test_version_meta_set_refuses_a_model_name_or_version_mismatch),
		T(test_version_meta_set_of_a_sealed_version_is_erofs),
		T(test_reopening_the_store_keeps_everything),
		T(test_store_opens_with_a_smaller_map_when_the_address_space_is_limited),
		T(test_a_second_serve_open_from_another_process_is_ebusy_after_about_two_seconds),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
