/* test_audit.c - unit tests for store/audit.c: the chain, keys, merged denials, the sink */

/*
 * Records are appended by registry operations (model create here, the
 * cheapest); the tests read them back through the public API only:
 * mfs_audit_render(), mfs_audit_verify(), mfs_audit_head(). Tampering is
 * covered by the integration tests, which edit the store with LMDB's tools.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fixture.h"
#include "audit.h"
#include "perm.h"

static void models(struct fixture *f, const char *prefix, int n)
{
	char name[64];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		assert_int_equal(mfs_model_create(f->st, &f->me, name, 0755, NULL), 0);
	}
}

static size_t count_lines(struct fixture *f, const struct mfs_caller *c)
{
	char *buf = NULL;
	size_t len = 0, n = 0;

	assert_int_equal(mfs_audit_render(f->st, c, &buf, &len), 0);
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\n';
	free(buf);
	return n;
}

static void test_audit_chain_of_new_records_verifies(void **state)
{
	struct fixture *f = *state;
	struct mfs_audit_check res;
	uint64_t seq;
	char head[65];

	assert_int_equal(mfs_audit_head(f->st, &seq, head), 0);
	assert_int_equal(seq, 0);
	assert_string_equal(head, "");
	models(f, "m", 5);
	assert_int_equal(mfs_audit_verify(f->st, NULL, 0, &res), 0);
	assert_int_equal(res.count, 5);
	assert_int_equal(res.last_seq, 5);
	assert_int_equal(res.bad_seq, 0);
	assert_int_equal(res.unkeyed, 0);
	assert_int_equal(mfs_audit_head(f->st, &seq, head), 0);
	assert_int_equal(seq, 5);
	assert_string_equal(head, res.head);
	assert_int_equal(strlen(head), 64);
}

static void test_audit_key_extends_the_chain_with_hmac(void **state)
{
	struct fixture *f = *state;
	struct mfs_audit_check res;
	static const char key[] = "k3y", wrong[] = "n0pe";

	assert_int_equal(mfs_audit_keyed(f->st), 0);
	models(f, "plain", 2);
	assert_int_equal(mfs_audit_keyed(f->st), 0);
	assert_int_equal(mfs_store_set_audit_key(f->st, key, 3), 0);
	models(f, "keyed", 2);
	assert_int_equal(mfs_audit_keyed(f->st), 1);
	assert_int_equal(mfs_audit_verify(f->st, key, 3, &res), 0);
	assert_int_equal(res.count, 4);
	assert_int_equal(mfs_audit_verify(f->st, NULL, 0, &res), 0);
	assert_int_equal(res.unkeyed, 2);
	assert_int_equal(mfs_audit_verify(f->st, wrong, 4, &res), -EBADMSG);
	assert_int_equal(res.bad_seq, 3);
	/* A writer without the key may not extend it: no downgrade. */
	assert_int_equal(mfs_store_set_audit_key(f->st, NULL, 0), 0);
	{
		struct mfs_model_info mi;

		assert_int_equal(mfs_model_create(f->st, &f->me, "unkeyed", 0755, &mi), -EPERM);
	}
	assert_int_equal(mfs_audit_verify(f->st, key, 3, &res), 0);
	assert_int_equal(res.count, 4);
}

static void test_audit_identical_denials_merge_into_the_last_record(void **state)
{
	struct fixture *f = *state;
	struct mfs_audit_check res;
	struct mfs_caller other = f->me;
	char *buf = NULL;
	size_t len = 0;

	models(f, "m", 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(mfs_audit_denial(f->st, &f->me, "version.write", "m0", "1.0.0",
						  NULL, EROFS, "probe"), 0);
	assert_int_equal(count_lines(f, NULL), 2);
	other.pid++;
	assert_int_equal(mfs_audit_denial(f->st, &other, "version.write", "m0", "1.0.0",
					  NULL, EROFS, "probe"), 0);
	assert_int_equal(mfs_audit_denial(f->st, &other, "version.write", "m0", "1.0.0",
					  NULL, EPERM, "probe"), 0);
	assert_int_equal(count_lines(f, NULL), 4);
	assert_int_equal(mfs_audit_render(f->st, NULL, &buf, &len), 0);
	assert_non_null(strstr(buf, "\"count\":10,"));
	assert_non_null(strstr(buf, "\"errno\":\"EPERM\""));
	free(buf);
	assert_int_equal(mfs_audit_verify(f->st, NULL, 0, &res), 0);
	assert_int_equal(res.count, 4);
}

struct seen {
	char *recs[16];
	int n;
};

static void sink(void *ctx, const char *rec)
{
	struct seen *s = ctx;

	if (s->n < 16)
		s->recs[s->n++] = strdup(rec);
}

static void test_audit_sink_gets_committed_records_only(void **state)
{
	struct fixture *f = *state;
	struct seen s = { 0 };
	uint64_t seq;
	char head[65];

	mfs_store_set_event_sink(f->st, sink, &s);
	models(f, "m", 2);
	/* Refused (exists): its transaction aborts, nothing is handed on. */
	assert_int_equal(mfs_model_create(f->st, &f->me, "m0", 0755, NULL), -EEXIST);
	assert_int_equal(s.n, 2);
	assert_int_equal(mfs_audit_head(f->st, &seq, head), 0);
	assert_non_null(strstr(s.recs[1], head));
	assert_non_null(strstr(s.recs[0], "\"seq\":1,"));
	mfs_store_set_event_sink(f->st, NULL, NULL);
	for (int i = 0; i < s.n; i++)
		free(s.recs[i]);
}

static void test_audit_others_see_only_their_models(void **state)
{
	struct fixture *f = *state;
	struct mfs_caller alice = { .uid = 5001, .gid = 5001, .pid = 7 };
	struct mfs_caller bob = { .uid = 5002, .gid = 5002, .pid = 8 };

	if (f->me.uid != 0)
		skip();		/* models are created as root's here */
	assert_int_equal(mfs_model_create(f->st, &alice, "a", 0755, NULL), 0);
	assert_int_equal(mfs_model_create(f->st, &bob, "b", 0755, NULL), 0);
	assert_int_equal(mfs_audit_denial(f->st, &bob, "version.create", "a", "9.0.0", NULL,
					  EACCES, "no"), 0);
	assert_int_equal(count_lines(f, &alice), 2);	/* hers, and bob's refusal on it */
	assert_int_equal(count_lines(f, &bob), 1);
	mfs_store_set_admin_group(f->st, 6000);
	alice.gid = 6000;
	assert_int_equal(count_lines(f, &alice), 3);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_audit_chain_of_new_records_verifies),
		T(test_audit_key_extends_the_chain_with_hmac),
		T(test_audit_identical_denials_merge_into_the_last_record),
		T(test_audit_sink_gets_committed_records_only),
		T(test_audit_others_see_only_their_models),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
