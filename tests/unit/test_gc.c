/* test_gc.c - unit tests for store/gc.c and store/sha256.c */

/*
 * What the integration tests cannot reach easily: a blob only a draft's
 * instant copy names (no LMDB record counts it), the admin rule with a
 * caller that is not this process, and the SHA-256 debt paid in the
 * calling thread (modelctl without a daemon).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fixture.h"
#include "doc.h"
#include "model.h"
#include "alias.h"
#include "promote.h"
#include "gc.h"
#include "ref.h"
#include "sha256.h"

#define ABC_SHA256 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static struct mfs_gc_report run(struct fixture *f, unsigned flags)
{
	struct mfs_gc_report rep;

	assert_int_equal(mfs_gc_run(f->st, &f->me, flags, NULL, NULL, &rep), 0);
	return rep;
}

static void test_gc_keeps_the_blob_of_a_drafts_instant_copy(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m"), vid;
	struct mfs_gc_report rep;
	struct mfs_digest d;
	struct mfs_entry e;
	char buf[64];
	int dfd, fd, bfd;

	fx_sealed(f, mid, "1.0.0", "w.bin", "shared weights");
	mfs_hash_buf("shared weights", 14, &d);
	vid = fx_draft(f, mid, "1.1.0");
	dfd = fx_draft_fd(f, vid);
	fd = openat(dfd, "w.bin", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(mfs_ref_make(f->st, fd, &d, 14), 0);
	close(fd);
	close(dfd);
	assert_int_equal(mfs_version_remove(f->st, &f->me, mid, "1.0.0"), 0);

	/* Nothing references the blob in LMDB now, but the draft needs it. */
	rep = run(f, 0);
	assert_int_equal(rep.released, 1);
	assert_int_equal(rep.blobs, 0);
	mfs_gc_report_release(&rep);
	assert_int_equal(mfs_blob_has(f->st, &d, NULL), 1);
	assert_int_equal(mfs_seal_version(f->st, &f->me, vid, NULL, NULL), 0);
	assert_int_equal(mfs_entry_lookup(f->st, vid, 0, "w.bin", &e), 0);
	assert_int_equal(mfs_entry_open(f->st, &e, &bfd), 0);
	fx_read_fd(bfd, buf, sizeof(buf));
	close(bfd);
	assert_string_equal(buf, "shared weights");
	rep = run(f, 0);
	assert_int_equal(rep.blobs, 0);
	mfs_gc_report_release(&rep);
}

static void test_gc_refuses_a_caller_who_is_no_admin(void **state)
{
	struct fixture *f = *state;
	struct mfs_caller nobody = { .uid = 54321, .gid = 54321, .pid = 1 };
	struct mfs_gc_report rep;

	if (geteuid() == 54321)
		skip();
	assert_int_equal(mfs_gc_run(f->st, &nobody, MFS_GC_DRY_RUN, NULL, NULL, &rep),
			 -EACCES);
}

static void test_gc_dry_run_plans_what_the_run_does(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	struct mfs_gc_report plan, rep;
	char doc[] = "{\"retention\": {\"keep_last\": 1}}";

	fx_sealed(f, mid, "1.0.0", "a", "old bytes");
	fx_sealed(f, mid, "2.0.0", "a", "new bytes");
	assert_int_equal(mfs_model_doc_set(f->st, &f->me, mid, MFS_DOC_POLICY, doc,
					   strlen(doc)), 0);
	plan = run(f, MFS_GC_DRY_RUN);
	assert_int_equal(plan.ntombstoned, 1);
	assert_string_equal(plan.tombstoned[0].version, "1.0.0");
	assert_int_equal(plan.blobs, 1);
	assert_int_equal(plan.bytes, 9);
	assert_int_equal(fx_blobs(f).objects, 2);
	rep = run(f, 0);
	assert_int_equal(rep.ntombstoned, 1);
	assert_int_equal(rep.released, plan.released);
	assert_int_equal(rep.blobs, plan.blobs);
	assert_int_equal(rep.bytes, plan.bytes);
	assert_int_equal(fx_blobs(f).objects, 1);
	mfs_gc_report_release(&plan);
	mfs_gc_report_release(&rep);
}

static void test_sha256_is_owed_after_a_seal_and_paid_by_fill(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m"), vid;
	uint8_t sha[MFS_SHA256_LEN];
	char hex[MFS_SHA256_HEX];
	struct mfs_digest d;
	bool complete = true;
	size_t owed = 0, done = 0, owed_len = 0;

	vid = fx_sealed(f, mid, "1.0.0", "abc.txt", "abc");
	mfs_hash_buf("abc", 3, &d);
	assert_int_equal(mfs_sha256_get(f->st, &d, sha), -ENODATA);
	assert_int_equal(mfs_version_sha256_complete(f->st, vid, &complete), 0);
	assert_false(complete);
	assert_int_equal(mfs_sha256_pending(f->st, &owed), 0);
	assert_int_equal(owed, 1);

	{
		char *doc;

		/* metadata.json says null, and keeps room for the digest */
		assert_int_equal(mfs_version_render_metadata(f->st, vid, &doc, &owed_len), 0);
		assert_non_null(strstr(doc, "\"sha256\": null"));
		free(doc);
	}
	assert_int_equal(mfs_sha256_fill(f->st, &done), 0);
	{
		char *doc;
		size_t len;

		assert_int_equal(mfs_version_render_metadata(f->st, vid, &doc, &len), 0);
		assert_non_null(strstr(doc, "\"sha256\": \"" ABC_SHA256 "\""));
		assert_int_equal(len, owed_len);
		free(doc);
	}
	assert_int_equal(done, 1);
	assert_int_equal(mfs_sha256_get(f->st, &d, sha), 0);
	mfs_sha256_hex(sha, hex);
	assert_string_equal(hex, ABC_SHA256);
	assert_int_equal(mfs_version_sha256_complete(f->st, vid, &complete), 0);
	assert_true(complete);
	assert_int_equal(mfs_sha256_pending(f->st, &owed), 0);
	assert_int_equal(owed, 0);
	assert_int_equal(mfs_version_sha256_complete(f->st, 999999, &complete), -ENOENT);
}

/* The policy gate "sha256": no alias while a digest is owed. */
static void test_sha256_gate_waits_for_the_digests(void **state)
{
	static const char policy[] = "{\"aliases\": {\"production\": {\"gates\": {\"sha256\": true}}}}";
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "g"), vid;
	size_t done = 0;

	vid = fx_sealed(f, mid, "1.0.0", "w.bin", "weights");
	assert_int_equal(mfs_model_doc_set(f->st, &f->me, mid, MFS_DOC_POLICY, policy,
					   strlen(policy)), 0);
	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "production", vid), -EPERM);
	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "canary", vid), 0);
	assert_int_equal(mfs_sha256_fill(f->st, &done), 0);
	assert_int_equal(mfs_alias_create(f->st, &f->me, mid, "production", vid), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gc_keeps_the_blob_of_a_drafts_instant_copy,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_gc_refuses_a_caller_who_is_no_admin,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_gc_dry_run_plans_what_the_run_does,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sha256_is_owed_after_a_seal_and_paid_by_fill,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sha256_gate_waits_for_the_digests,
						fx_setup, fx_teardown),
	};

	fx_quiet_logs();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
