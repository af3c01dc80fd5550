/* test_query.c - the find filter language (store/query.c) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "query.h"

static const char *const DOC =
	"{\"model\": \"churn\", \"version\": \"1.2.0\", \"state\": \"sealed\", \"major\": 1,"
	" \"alias\": [\"production\", \"champion\"], \"format\": [\"onnx\"],"
	" \"created\": \"2026-11-20T10:00:00.000Z\", \"prerelease\": null,"
	" \"metrics\": {\"auc\": 0.93, \"loss\": 0.2}, \"tags\": [\"fraud\", \"eu\"],"
	" \"description\": \"gradient boosted trees\", \"dataset_snapshot_id\": \"s-1\"}";

static bool match(const char *expr)
{
	struct mfs_query *q = NULL;
	cJSON *doc = cJSON_Parse(DOC);
	char why[200];
	int col = 0;
	bool m;

	assert_non_null(doc);
	if (mfs_query_parse(expr, &q, &col, why, sizeof(why)) != 0)
		fail_msg("parse '%s' failed at column %d: %s", expr, col, why);
	m = mfs_query_match(q, doc);
	mfs_query_free(q);
	cJSON_Delete(doc);
	return m;
}

static int error_column(const char *expr)
{
	struct mfs_query *q = NULL;
	char why[200] = "";
	int col = 0;

	assert_int_equal(mfs_query_parse(expr, &q, &col, why, sizeof(why)), -EINVAL);
	assert_null(q);
	assert_true(strlen(why) > 0);
	return col;
}

static void test_query_compares_numbers_and_strings(void **state)
{
	(void)state;
	assert_true(match("metrics.auc >= 0.9"));
	assert_false(match("metrics.auc > 0.93"));
	assert_true(match("metrics.loss < 0.25 and major == 1"));
	assert_true(match("model == \"churn\" and state != \"draft\""));
	assert_true(match("created >= \"2026-11-01\""));
	assert_false(match("created < \"2026-01-01\""));
}

static void test_query_lists_match_any_element(void **state)
{
	(void)state;
	assert_true(match("alias == \"production\""));
	assert_true(match("alias == \"champion\""));
	assert_false(match("alias == \"staging\""));
	assert_true(match("alias != \"staging\""));
	assert_false(match("alias != \"production\""));
	assert_true(match("tags contains \"fraud\""));
	assert_true(match("format == \"onnx\""));
}

static void test_query_contains_on_strings_is_a_substring(void **state)
{
	(void)state;
	assert_true(match("description contains \"boosted\""));
	assert_false(match("description contains \"forest\""));
}

static void test_query_exists_and_null(void **state)
{
	(void)state;
	assert_true(match("exists(dataset_snapshot_id)"));
	assert_false(match("exists(run_id)"));
	assert_false(match("exists(prerelease)"));
	assert_true(match("prerelease == null"));
	assert_true(match("not exists(metrics.f1)"));
}

static void test_query_missing_paths_and_type_mismatch_are_false(void **state)
{
	(void)state;
	assert_false(match("metrics.f1 > 0"));
	assert_false(match("metrics.auc == \"0.93\""));
	assert_true(match("metrics.f1 != 1"));
}

static void test_query_precedence_and_parentheses(void **state)
{
	(void)state;
	/* and binds tighter than or */
	assert_true(match("major == 2 and state == \"draft\" or metrics.auc > 0.9"));
	assert_false(match("major == 2 and (state == \"draft\" or metrics.auc > 0.9)"));
	assert_true(match("not (major == 2) and not not (major == 1)"));
}

static void test_query_reports_the_column_of_a_syntax_error(void **state)
{
	(void)state;
	assert_int_equal(error_column("alias == production"), 10);
	assert_int_equal(error_column("metrics.auc >="), 15);
	assert_int_equal(error_column("(major == 1"), 12);
	assert_int_equal(error_column("major == 1 major == 2"), 12);
	assert_int_equal(error_column("== 1"), 1);
	assert_int_equal(error_column("exists(major"), 13);
	assert_int_equal(error_column("major ~ 1"), 7);
}

/* "(" * depth + "major == 1" + ")" * depth, or "not " * depth + it. */
static char *nested(size_t depth, bool nots)
{
	size_t len = depth * 4 + 16, at = 0;
	char *s = malloc(len);

	assert_non_null(s);
	for (size_t i = 0; i < depth; i++) {
		memcpy(s + at, nots ? "not " : "(", nots ? 4 : 1);
		at += nots ? 4 : 1;
	}
	memcpy(s + at, "major == 1", 10);
	at += 10;
	for (size_t i = 0; !nots && i < depth; i++)
		s[at++] = ')';
	s[at] = '\0';
	return s;
}

/* Found by hand beside tests/fuzz/fuzz_query: the parser recursed once a
 * level, and `modelctl find` died of a stack overflow on 100000 '('. */
static void test_query_refuses_nesting_deeper_than_the_limit(void **state)
{
	char why[200] = "", *s;
	struct mfs_query *q = NULL;
	int col = 0;

	(void)state;
	s = nested(MFS_QUERY_DEPTH, false);
	assert_true(match(s));
	free(s);
	s = nested(MFS_QUERY_DEPTH, true);
	assert_true(match(s));	/* an even number of nots */
	free(s);

	s = nested(MFS_QUERY_DEPTH + 1, false);
	assert_int_equal(error_column(s), MFS_QUERY_DEPTH + 2);
	free(s);
	for (int nots = 0; nots < 2; nots++) {
		s = nested(100000, nots);
		assert_int_equal(mfs_query_parse(s, &q, &col, why, sizeof(why)), -EINVAL);
		assert_null(q);
		assert_non_null(strstr(why, "deeper than"));
		free(s);
	}
}

static void test_query_knows_which_paths_it_uses(void **state)
{
	struct mfs_query *q = NULL;
	char why[100];
	int col;

	(void)state;
	assert_int_equal(mfs_query_parse("format == \"onnx\" or metrics.auc > 1", &q, &col, why,
					 sizeof(why)), 0);
	assert_true(mfs_query_uses(q, "format"));
	assert_true(mfs_query_uses(q, "metrics"));
	assert_false(mfs_query_uses(q, "tags"));
	mfs_query_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_compares_numbers_and_strings),
		cmocka_unit_test(test_query_lists_match_any_element),
		cmocka_unit_test(test_query_contains_on_strings_is_a_substring),
		cmocka_unit_test(test_query_exists_and_null),
		cmocka_unit_test(test_query_missing_paths_and_type_mismatch_are_false),
		cmocka_unit_test(test_query_precedence_and_parentheses),
		cmocka_unit_test(test_query_reports_the_column_of_a_syntax_error),
		cmocka_unit_test(test_query_refuses_nesting_deeper_than_the_limit),
		cmocka_unit_test(test_query_knows_which_paths_it_uses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
