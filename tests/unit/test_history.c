/* test_history.c - unit tests for the pure parts of store/history.c */

/*
 * The names of moments (RFC 3339 times, @hN sequence numbers) come from
 * users typing paths, so every shape the parser accepts and the near
 * misses it must refuse are checked here, with the exact nanosecond value
 * or errno. Expected values were computed independently (date -u -d ...
 * +%s). mfs_history_previous() is the rule `modelctl rollback` follows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "kv.h"
#include <stdio.h>
#include <stdlib.h>

#include "alias.h"
#include "promote.h"
#include "fixture.h"
#include "history.h"

#define S 1000000000LL

static void assert_time(const char *s, int64_t want)
{
	int64_t got = 0;
	int r = mfs_history_parse_time(s, &got);

	if (r != 0)
		fail_msg("parse '%s': got %d, want 0", s, r);
	if (got != want)
		fail_msg("parse '%s': got %lld, want %lld", s, (long long)got, (long long)want);
}

static void assert_time_err(const char *s, int want)
{
	int64_t got = 12345;
	int r = mfs_history_parse_time(s, &got);

	if (r != want)
		fail_msg("parse '%s': got %d, want %d", s, r, want);
	assert_int_equal(got, 12345);	/* written only on success */
}

static void test_history_parses_utc_times(void **state)
{
	(void)state;
	assert_time("1970-01-01T00:00:00Z", 0);
	assert_time("2026-11-20T10:00:00Z", 1795168800LL * S);
	assert_time("2026-11-20t10:00:00z", 1795168800LL * S);
	assert_time("2026-11-20 10:00:00Z", 1795168800LL * S);
	assert_time("2000-02-29T23:59:59Z", 951868799LL * S);
	assert_time("1969-12-31T23:59:59Z", -1LL * S);
}

static void test_history_parses_fractions(void **state)
{
	(void)state;
	assert_time("2026-11-20T10:00:00.5Z", 1795168800LL * S + 500000000);
	assert_time("2026-11-20T10:00:00.123Z", 1795168800LL * S + 123000000);
	assert_time("2026-11-20T10:00:00.000000001Z", 1795168800LL * S + 1);
	/* Digits past nanoseconds are accepted and cut, not rounded. */
	assert_time("2026-11-20T10:00:00.1234567899Z", 1795168800LL * S + 123456789);
}

static void test_history_parses_offsets(void **state)
{
	(void)state;
	assert_time("2026-11-20T12:00:00+02:00", 1795168800LL * S);
	assert_time("2026-11-20T05:30:00-04:30", 1795168800LL * S);
	assert_time("2026-11-20T10:00:00+00:00", 1795168800LL * S);
	assert_time("2026-11-20T10:00:00-00:00", 1795168800LL * S);
	assert_time("2026-11-21T00:30:00.25+14:30", 1795168800LL * S + 250000000);
}

static void test_history_date_alone_is_midnight_utc(void **state)
{
	(void)state;
	assert_time("2026-11-20", 1795132800LL * S);
	assert_time("2024-02-29", 1709164800LL * S);
}

static void test_history_rejects_malformed_times(void **state)
{
	static const char *const bad[] = {
		"", "xyz", "now", "2026", "2026-11", "2026-11-20T", "2026-11-20T10:00Z",
		"2026-11-20T10:00:00", "2026-11-20T10:00:00.Z", "2026-11-20T10:00:00+0200",
		"2026-11-20T10:00:00+02", "2026-11-20T10:00:00ZZ", "2026-11-20T10:00:00Z ",
		"2026-1-20", "26-11-20", "2026/11/20", "2026-11-20X10:00:00Z",
		"2026-13-01", "2026-00-10", "2026-11-00", "2026-11-31", "2025-02-29",
		"1900-02-29", "2026-11-20T24:00:00Z", "2026-11-20T10:60:00Z",
		"2026-11-20T10:00:61Z", "2026-11-20T10:00:00+24:00", "2026-11-20T10:00:00+02:60",
		"+2026-11-20", "2026-11-20T1:00:00Z", "2026-11-20T10:00:00.5",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_time_err(bad[i], -EINVAL);
}

static void test_history_accepts_leap_day_and_second(void **state)
{
	(void)state;
	assert_time("2000-02-29T00:00:00Z", 951782400LL * S);
	/* 23:59:60 folds into the next second, as POSIX time does. */
	assert_time("2016-12-31T23:59:60Z", 1483228800LL * S);
}

static void test_history_rejects_years_beyond_int64_ns(void **state)
{
	(void)state;
	assert_time_err("1677-01-01T00:00:00Z", -ERANGE);
	assert_time_err("2262-06-01", -ERANGE);
	assert_time_err("9999-12-31T23:59:59Z", -ERANGE);
	assert_time("1678-01-01T00:00:00Z", -9214560000LL * S);
	assert_time("2261-12-31T23:59:59Z", 9214646399LL * S);
}

static void test_history_parses_sequence_names(void **state)
{
	int64_t ns = 7;
	uint64_t seq = 7;

	(void)state;
	assert_int_equal(mfs_history_parse_at("h42", &ns, &seq), 0);
	assert_int_equal(seq, 42);
	assert_int_equal(mfs_history_parse_at("h1", &ns, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(mfs_history_parse_at("h0", &ns, &seq), 0);
	assert_int_equal(seq, 0);
	assert_true(ns == INT64_MIN);
	assert_int_equal(mfs_history_parse_at("h18446744073709551606", &ns, &seq), 0);
	assert_true(seq == 18446744073709551606ULL);
	assert_int_equal(mfs_history_parse_at("2026-11-20T12:00:00+02:00", &ns, &seq), 0);
	assert_int_equal(seq, 0);
	assert_true(ns == 1795168800LL * S);
}

static void test_history_rejects_bad_sequence_names(void **state)
{
	static const char *const bad[] = { "h", "h01", "h-1", "h+1", "h1x", "H1", "h 1",
					   "hh1", "h1.0", "" };
	int64_t ns = 0;
	uint64_t seq = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mfs_history_parse_at(bad[i], &ns, &seq) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(mfs_history_parse_at("h99999999999999999999", &ns, &seq), -ERANGE);
}

static const char hist[] =
	"{\"seq\":1,\"alias\":\"production\",\"from\":null,\"to\":\"1.0.0\"}\n"
	"{\"seq\":2,\"alias\":\"staging\",\"from\":null,\"to\":\"1.1.0\"}\n"
	"{\"seq\":3,\"alias\":\"production\",\"from\":\"1.0.0\",\"to\":\"1.1.0\"}\n"
	"{\"seq\":4,\"alias\":\"staging\",\"from\":\"1.1.0\",\"to\":null}\n"
	"{\"seq\":5,\"alias\":\"canary\",\"from\":null,\"to\":\"2.0.0\"}\n";

static void test_history_previous_is_from_of_last_record(void **state)
{
	char v[64];

	(void)state;
	assert_int_equal(mfs_history_previous(hist, strlen(hist), "production", v, sizeof(v)), 0);
	assert_string_equal(v, "1.0.0");
	/* Removed: back to where it was. */
	assert_int_equal(mfs_history_previous(hist, strlen(hist), "staging", v, sizeof(v)), 0);
	assert_string_equal(v, "1.1.0");
	/* Only created: nothing to go back to. */
	assert_int_equal(mfs_history_previous(hist, strlen(hist), "canary", v, sizeof(v)),
			 -ENOENT);
	assert_int_equal(mfs_history_previous(hist, strlen(hist), "shadow", v, sizeof(v)),
			 -ENOENT);
	assert_int_equal(mfs_history_previous("", 0, "production", v, sizeof(v)), -ENOENT);
	assert_int_equal(mfs_history_previous(hist, strlen(hist), "production", v, 5),
			 -ENAMETOOLONG);
	/* No trailing newline, or a record that is not JSON. */
	assert_int_equal(mfs_history_previous(hist, strlen(hist) - 1, "production", v,
					      sizeof(v)), 0);
	assert_int_equal(mfs_history_previous("{\"alias\":\"p\"}\nnope\n", 19, "p", v,
					      sizeof(v)), -EINVAL);
}

/* A store from before the index of alias targets (simulated: its keys
 * deleted through the storage seam) still knows a move back is a rollback. */
static void test_history_index_is_built_for_an_older_store(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t v1 = fx_sealed(f, mid, "1.0.0", "a", "one");
	uint64_t v2 = fx_sealed(f, mid, "1.1.0", "a", "two");
	char path[128], *text, *last;
	static const char *const tables[] = { "info" };
	struct kv *kv;
	struct kv_txn *txn;
	struct kv_cursor *cur;
	struct kv_val k, v;
	uint8_t keys[16][25];
	size_t len, klen[16];
	int dropped = 0;

	assert_int_equal(mfs_alias_set(f->st, &f->me, mid, "production", v1), 0);
	assert_int_equal(mfs_alias_set(f->st, &f->me, mid, "production", v2), 0);
	fx_close(f);
	snprintf(path, sizeof(path), "lmdb:%s/meta", f->dir);
	assert_int_equal(kv_open(path, 0, tables, 1, &kv), 0);
	assert_int_equal(kv_txn_begin(kv, true, &txn), 0);
	/* Every index key ('a' + model + hash, 'A' + model), gathered first:
	 * deleting under a walking cursor is easy to get wrong. */
	assert_int_equal(kv_cursor_open(txn, 0, &cur), 0);
	for (int rc = kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0;
	     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
		const char *key = k.data;

		if (((key[0] == 'a' && k.len == 25) || (key[0] == 'A' && k.len == 9)) &&
		    dropped < 16) {
			memcpy(keys[dropped], key, k.len);
			klen[dropped++] = k.len;
		}
	}
	kv_cursor_close(cur);
	for (int i = 0; i < dropped; i++) {
		k.data = keys[i];
		k.len = klen[i];
		assert_int_equal(kv_del(txn, 0, &k), 0);
	}
	assert_true(dropped > 1);
	assert_int_equal(kv_txn_commit(txn), 0);
	kv_close(kv);
	fx_open(f);
	assert_int_equal(mfs_alias_set(f->st, &f->me, mid, "production", v1), 0);
	assert_int_equal(mfs_alias_history_render(f->st, mid, &text, &len), 0);
	text[len - 1] = '\0';
	last = strrchr(text, '\n');
	last = last ? last + 1 : text;
	assert_non_null(strstr(last, "\"to\":\"1.0.0\""));
	assert_non_null(strstr(last, "\"rollback\":true"));
	free(text);
}

/* The serving view's numbers: each record that set an alias, its seq;
 * removals and other aliases left out; the replay gives the same seq. */
static void test_history_moves_are_the_records_that_set_an_alias(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t v1 = fx_sealed(f, mid, "1.0.0", "a", "one");
	uint64_t v2 = fx_sealed(f, mid, "1.1.0", "a", "two");
	struct mfs_alias_info *mv = NULL, *now = NULL;
	size_t n = 0, nn = 0;

	assert_int_equal(mfs_alias_set(f->st, &f->me, mid, "production", v1), 0);
	assert_int_equal(mfs_alias_set(f->st, &f->me, mid, "staging", v2), 0);
	assert_int_equal(mfs_alias_set(f->st, &f->me, mid, "production", v2), 0);
	assert_int_equal(mfs_alias_remove(f->st, &f->me, mid, "staging"), 0);
	assert_int_equal(mfs_alias_set(f->st, &f->me, mid, "production", v1), 0);
	assert_int_equal(mfs_history_moves(f->st, mid, "production", &mv, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(mv[0].seq, 1);
	assert_int_equal(mv[1].seq, 3);
	assert_int_equal(mv[2].seq, 5);
	assert_int_equal(mv[0].vid, v1);
	assert_int_equal(mv[1].vid, v2);
	assert_string_equal(mv[2].version, "1.0.0");
	assert_string_equal(mv[2].name, "production");
	assert_int_equal(mfs_history_at(f->st, mid, INT64_MAX, 0, &now, &nn), 0);
	assert_int_equal(nn, 1);
	assert_int_equal(now[0].seq, 5);
	free(mv);
	free(now);
	mv = NULL;
	assert_int_equal(mfs_history_moves(f->st, mid, "shadow", &mv, &n), 0);
	assert_int_equal(n, 0);
	assert_null(mv);
	assert_int_equal(mfs_history_moves(f->st, mid + 100, "production", &mv, &n), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_parses_utc_times),
		cmocka_unit_test(test_history_parses_fractions),
		cmocka_unit_test(test_history_parses_offsets),
		cmocka_unit_test(test_history_date_alone_is_midnight_utc),
		cmocka_unit_test(test_history_rejects_malformed_times),
		cmocka_unit_test(test_history_accepts_leap_day_and_second),
		cmocka_unit_test(test_history_rejects_years_beyond_int64_ns),
		cmocka_unit_test(test_history_parses_sequence_names),
		cmocka_unit_test(test_history_rejects_bad_sequence_names),
		cmocka_unit_test(test_history_previous_is_from_of_last_record),
		cmocka_unit_test_setup_teardown(test_history_index_is_built_for_an_older_store,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_history_moves_are_the_records_that_set_an_alias,
						fx_setup, fx_teardown),
	};

	fx_quiet_logs();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
