/* test_stream.c - unit tests for store/stream.c through its two logs */

/*
 * A stream must read, in any chunking and from any offset, exactly what
 * one whole read gives - the log's rendering (mfs_audit_render(),
 * mfs_alias_history_render()), whose records are counted and named here -
 * as at open: records appended, rewritten or dropped after open do not
 * change it; an audit record its reader may no longer see is left out,
 * and newlines keep the size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fixture.h"
#include "alias.h"
#include "promote.h"
#include "audit.h"
#include "stream.h"

/* Everything s holds, read in chunks of n bytes from offset 0 (or, with
 * jump, each chunk after a read at offset 0, so the position restarts). */
static char *read_all(struct fixture *f, struct mfs_stream *s, size_t n, bool jump,
		      size_t *ret_len)
{
	uint64_t size = mfs_stream_size(s);
	char *buf = malloc(size + 1), one;
	size_t got = 0;

	assert_non_null(buf);
	while (got < size) {
		ssize_t r;

		if (jump)
			assert_true(mfs_stream_read(f->st, s, 0, &one, 1) == (size ? 1 : 0));
		r = mfs_stream_read(f->st, s, got, buf + got, n);
		assert_true(r > 0);
		got += (size_t)r;
	}
	assert_int_equal(got, size);
	assert_int_equal(mfs_stream_read(f->st, s, size, &one, 1), 0);
	buf[got] = '\0';
	*ret_len = got;
	return buf;
}

static void assert_reads_as(struct fixture *f, struct mfs_stream *s, const char *want,
			    size_t want_len)
{
	static const size_t chunks[] = { 1, 7, 64, 4096, 1 << 20 };

	assert_int_equal(mfs_stream_size(s), want_len);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		for (int jump = 0; jump < 2; jump++) {
			size_t len;
			char *got = read_all(f, s, chunks[i], jump, &len);

			assert_int_equal(len, want_len);
			assert_memory_equal(got, want, want_len ? want_len : 1);
			free(got);
		}
	}
	/* A read in the middle, alone. */
	if (want_len > 10) {
		char mid[5];

		assert_int_equal(mfs_stream_read(f->st, s, want_len / 2, mid, 5), 5);
		assert_memory_equal(mid, want + want_len / 2, 5);
	}
}

/* How many lines text holds, and how many of them contain needle. */
static size_t lines_with(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *l = text; *l; ) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);

		n += !needle || memmem(l, len, needle, strlen(needle)) != NULL;
		l += len + (nl != NULL);
	}
	return n;
}

static void models(struct fixture *f, const struct mfs_caller *c, const char *prefix, int n)
{
	char name[64];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		assert_int_equal(mfs_model_create(f->st, c, name, 0755, NULL), 0);
	}
}

static void test_stream_audit_reads_as_the_rendering(void **state)
{
	struct fixture *f = *state;
	struct mfs_stream *s;
	char *want;
	size_t len;
	uint64_t size;

	/* empty */
	assert_int_equal(mfs_audit_stream_open(f->st, NULL, &s, &size), 0);
	assert_int_equal(size, 0);
	assert_reads_as(f, s, "", 0);
	mfs_stream_close(s);
	models(f, &f->me, "m", 40);
	assert_int_equal(mfs_audit_render(f->st, NULL, &want, &len), 0);
	assert_int_equal(lines_with(want, NULL), 40);
	assert_int_equal(lines_with(want, "\"event\":\"model.create\""), 40);
	assert_non_null(strstr(want, "\"model\":\"m39\""));
	assert_int_equal(mfs_audit_stream_open(f->st, NULL, &s, &size), 0);
	assert_int_equal(size, len);
	assert_reads_as(f, s, want, len);
	mfs_stream_close(s);
	free(want);
}

static void test_stream_audit_shows_what_the_caller_may_see(void **state)
{
	struct fixture *f = *state;
	struct mfs_caller alice = { .uid = 5001, .gid = 5001, .pid = 7 };
	struct mfs_caller bob = { .uid = 5002, .gid = 5002, .pid = 8 };
	const struct mfs_caller *who[] = { &alice, &bob };
	struct mfs_stream *s;
	uint64_t size;
	char *want;
	size_t len;

	if (f->me.uid != 0)
		skip();		/* models are created as root's here */
	models(f, &alice, "a", 5);
	models(f, &bob, "b", 3);
	models(f, &alice, "c", 2);
	assert_int_equal(mfs_audit_denial(f->st, &bob, "version.create", "a1", "9.0.0", NULL,
					  EACCES, "no"), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(mfs_audit_render(f->st, who[i], &want, &len), 0);
		/* alice: her 7 models and bob's refusal on one; bob: his 3 */
		assert_int_equal(lines_with(want, NULL), i ? 3 : 8);
		assert_int_equal(lines_with(want, "\"model\":\"b"), i ? 3 : 0);
		assert_int_equal(mfs_audit_stream_open(f->st, who[i], &s, &size), 0);
		assert_reads_as(f, s, want, len);
		mfs_stream_close(s);
		free(want);
	}
}

static void test_stream_is_a_snapshot_as_at_open(void **state)
{
	struct fixture *f = *state;
	struct mfs_stream *s;
	uint64_t size;
	char *want;
	size_t len;

	models(f, &f->me, "m", 3);
	assert_int_equal(mfs_audit_denial(f->st, &f->me, "version.write", "m0", "1.0.0", NULL,
					  EROFS, "probe"), 0);
	assert_int_equal(mfs_audit_render(f->st, NULL, &want, &len), 0);
	assert_int_equal(mfs_audit_stream_open(f->st, NULL, &s, &size), 0);
	/* The same denial again rewrites the last record (a count); more
	 * records follow. */
	assert_int_equal(mfs_audit_denial(f->st, &f->me, "version.write", "m0", "1.0.0", NULL,
					  EROFS, "probe"), 0);
	models(f, &f->me, "n", 3);
	assert_reads_as(f, s, want, len);
	mfs_stream_close(s);
	free(want);
}

static void test_stream_history_is_the_model_s_own(void **state)
{
	struct fixture *f = *state;
	uint64_t m1 = fx_model(f, "m1"), m2 = fx_model(f, "m2"), m3 = fx_model(f, "m3");
	uint64_t a = fx_sealed(f, m1, "1.0.0", "a", "one");
	uint64_t b = fx_sealed(f, m1, "1.1.0", "a", "two");
	uint64_t c = fx_sealed(f, m2, "1.0.0", "a", "three");
	const uint64_t mids[] = { m1, m2, m3 };
	struct mfs_stream *s;
	uint64_t size;
	char *want;
	size_t len;

	for (int i = 0; i < 5; i++) {
		assert_int_equal(mfs_alias_set(f->st, &f->me, m1, "production", i % 2 ? a : b), 0);
		assert_int_equal(mfs_alias_set(f->st, &f->me, m2, "staging", c), 0);
	}
	assert_int_equal(mfs_alias_set(f->st, &f->me, m1, "canary", a), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mfs_alias_history_render(f->st, mids[i], &want, &len), 0);
		if (i == 0) {	/* five moves of production, one canary */
			assert_int_equal(lines_with(want, NULL), 6);
			assert_int_equal(lines_with(want, "\"alias\":\"production\""), 5);
		}
		if (i == 1) {	/* staging's records only */
			assert_true(len > 0);
			assert_int_equal(lines_with(want, "\"alias\":\"staging\""),
					 lines_with(want, NULL));
		}
		if (i == 2)
			assert_int_equal(len, 0);
		assert_int_equal(mfs_alias_history_stream_open(f->st, mids[i], &s, &size), 0);
		assert_int_equal(size, len);
		if (i == 2)
			assert_int_equal(size, 0);	/* the last model: nothing */
		assert_reads_as(f, s, want, len);
		mfs_stream_close(s);
		free(want);
	}
	/* Records appended after open do not show. */
	assert_int_equal(mfs_alias_history_render(f->st, m2, &want, &len), 0);
	assert_int_equal(mfs_alias_history_stream_open(f->st, m2, &s, &size), 0);
	assert_int_equal(mfs_alias_set(f->st, &f->me, m2, "prod", c), 0);
	assert_reads_as(f, s, want, len);
	mfs_stream_close(s);
	free(want);
}

static void test_stream_keeps_a_history_record_dropped_after_open(void **state)
{
	struct fixture *f = *state;
	uint64_t m = fx_model(f, "m");
	uint64_t a = fx_sealed(f, m, "1.0.0", "a", "one");
	struct mfs_stream *s;
	uint64_t size;
	char *want, *now;
	size_t len, nlen;

	assert_int_equal(mfs_alias_set(f->st, &f->me, m, "production", a), 0);
	assert_int_equal(mfs_alias_set(f->st, &f->me, m, "tmp", a), 0);
	/* not the last record: that one is kept for another reason */
	assert_int_equal(mfs_alias_set(f->st, &f->me, m, "canary", a), 0);
	assert_int_equal(mfs_alias_history_render(f->st, m, &want, &len), 0);
	assert_int_equal(mfs_alias_history_stream_open(f->st, m, &s, &size), 0);
	/* A temporary name renamed onto an alias (ln -sfn's second step): its
	 * creation record leaves the history (README "History and
	 * rollback"); a reader who opened between the steps still reads it. */
	assert_int_equal(mfs_alias_rename(f->st, &f->me, m, "tmp", "production", 0), 0);
	assert_int_equal(mfs_alias_history_render(f->st, m, &now, &nlen), 0);
	assert_null(strstr(now, "\"alias\":\"tmp\""));
	assert_non_null(strstr(want, "\"alias\":\"tmp\""));
	assert_reads_as(f, s, want, len);
	mfs_stream_close(s);
	free(now);
	free(want);
}

static void test_stream_record_no_longer_visible_reads_as_newlines(void **state)
{
	struct fixture *f = *state;
	struct mfs_caller alice = { .uid = 5001, .gid = 5001, .pid = 7 };
	struct mfs_model_info mi;
	struct mfs_stream *s;
	uint64_t size;
	char *want, *now, *got;
	size_t len, nlen, glen;

	if (f->me.uid != 0)
		skip();		/* models are created as root's here */
	models(f, &alice, "a", 3);
	assert_int_equal(mfs_audit_render(f->st, &alice, &want, &len), 0);
	assert_int_equal(mfs_audit_stream_open(f->st, &alice, &s, &size), 0);
	/* a0 given away: its record is no longer alice's to see */
	assert_int_equal(mfs_model_lookup(f->st, "a0", &mi), 0);
	assert_int_equal(mfs_model_setattr(f->st, &f->me, mi.id, (mode_t)-1, 5002, (gid_t)-1), 0);
	assert_int_equal(mfs_model_get(f->st, mi.id, &mi), 0);
	assert_int_equal(mi.uid, 5002);
	assert_int_equal(mfs_audit_render(f->st, &alice, &now, &nlen), 0);
	assert_true(nlen < len);
	/* What she still sees, then newlines to the snapshot's size. */
	got = read_all(f, s, 4096, false, &glen);
	assert_int_equal(glen, len);
	assert_memory_equal(got, now, nlen);
	for (size_t i = nlen; i < len; i++)
		assert_int_equal(got[i], '\n');
	free(got);
	free(now);
	free(want);
	mfs_stream_close(s);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_stream_audit_reads_as_the_rendering),
		T(test_stream_audit_shows_what_the_caller_may_see),
		T(test_stream_is_a_snapshot_as_at_open),
		T(test_stream_history_is_the_model_s_own),
		T(test_stream_keeps_a_history_record_dropped_after_open),
		T(test_stream_record_no_longer_visible_reads_as_newlines),
	};

	fx_quiet_logs();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
