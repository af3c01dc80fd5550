/* test_policy.c - unit tests for store/policy.c's pure half */

/*
 * The validator is the policy format's contract: each case is a document a
 * user could write, accepted or refused with the field the log would name.
 * Gate expressions are checked operator by operator against values of
 * each JSON type, absent keys included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *const accepted[] = {
	"{}",
	"{\"semver\": {\"monotonic\": true, \"major_on_breaking_change\": false}}",
	"{\"retention\": {\"keep_last\": 10}}",
	"{\"description\": \"x\", \"aliases\": {}}",
	"{\"aliases\": {\"staging\": {\"groups\": [\"ml\"], \"gates\": {\"required_keys\": [\"dataset_snapshot_id\"]}},"
	" \"production\": {\"groups\": [\"mlops\"], \"approvals\": 2, \"gates\": {\"metrics.auc\": \">= 0.90\","
	" \"from_alias\": \"staging\", \"required_files\": [\"README.md\"], \"format\": \"onnx\"},"
	" \"on_replace\": \"deprecated\"}}}",
	"{\"aliases\": {\"c\": {\"users\": [\"alice\", 1001], \"protected\": false, \"exempt_rollback\": true,"
	" \"approvers\": {\"users\": [\"bob\"], \"groups\": [7]}, \"on_replace\": \"none\"}}}",
	"{\"aliases\": {\"c\": {\"gates\": {\"been_at\": [\"a\", \"b\"], \"depends_on_sealed\": true,"
	" \"sha256\": false, \"format\": [\"onnx\", \"safetensors\"], \"x.y\": \"exists\","
	" \"ok\": \"== true\", \"fw\": \"== \\\"torch\\\"\", \"n\": \"!= 0\"}}}}",
};

static const struct {
	const char *doc, *field;
} refused[] = {
	{ "[]", "it " },
	{ "{\"semver\": {\"monotonous\": true}}", "semver.monotonous" },
	{ "{\"semver\": {\"monotonic\": 1}}", "semver.monotonic" },
	{ "{\"retention\": {\"keep_last\": 0}}", "retention.keep_last" },
	{ "{\"retention\": {\"keep_last\": 2.5}}", "retention.keep_last" },
	{ "{\"retention\": 3}", "retention" },
	{ "{\"naming\": {\"models\": \"^a$\"}}", "naming" },
	{ "{\"aliases\": {\"latest\": {}}}", "aliases.latest" },
	{ "{\"aliases\": {\"@x\": {}}}", "aliases.@x" },
	{ "{\"aliases\": {\"p\": {\"approvals\": 101}}}", "aliases.p.approvals" },
	{ "{\"aliases\": {\"p\": {\"approvals\": \"2\"}}}", "aliases.p.approvals" },
	{ "{\"aliases\": {\"p\": {\"users\": \"alice\"}}}", "aliases.p.users" },
	{ "{\"aliases\": {\"p\": {\"groups\": [-1]}}}", "aliases.p.groups" },
	{ "{\"aliases\": {\"p\": {\"protect\": true}}}", "aliases.p.protect" },
	{ "{\"aliases\": {\"p\": {\"on_replace\": \"delete\"}}}", "aliases.p.on_replace" },
	{ "{\"aliases\": {\"p\": {\"approvers\": {\"roles\": []}}}}", "aliases.p.approvers.roles" },
	{ "{\"aliases\": {\"p\": {\"gates\": {\"metrics.auc\": \"at least 0.9\"}}}}", "aliases.p.gates.metrics.auc" },
	{ "{\"aliases\": {\"p\": {\"gates\": {\"metrics.auc\": 0.9}}}}", "aliases.p.gates.metrics.auc" },
	{ "{\"aliases\": {\"p\": {\"gates\": {\"required_file\": [\"README.md\"]}}}}", "aliases.p.gates.required_file" },
	{ "{\"aliases\": {\"p\": {\"gates\": {\"required_files\": [\"../x\"]}}}}", "aliases.p.gates.required_files" },
	{ "{\"aliases\": {\"p\": {\"gates\": {\"format\": \"onyx\"}}}}", "aliases.p.gates.format" },
	{ "{\"aliases\": {\"p\": {\"gates\": {\"from_alias\": \"latest\"}}}}", "aliases.p.gates.from_alias" },
	{ "{\"aliases\": {\"p\": {\"gates\": {\"name\": \"> \\\"a\\\"\"}}}}", "aliases.p.gates.name" },
	{ "{\"aliases\": {\"p\": {\"gates\": {\"a..b\": \"exists\"}}}}", "aliases.p.gates.a..b" },
};

static void test_accepted(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(accepted); i++) {
		char why[512] = "";
		int r = mfs_policy_validate(accepted[i], strlen(accepted[i]), false, why, sizeof(why));

		if (r != 0)
			fail_msg("policy %zu refused: %s", i, why);
	}
}

static void test_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		char why[512] = "";
		int r = mfs_policy_validate(refused[i].doc, strlen(refused[i].doc), false, why,
					    sizeof(why));

		if (r != -EINVAL)
			fail_msg("'%s': got %d, want -EINVAL", refused[i].doc, r);
		if (strncmp(why, refused[i].field, strlen(refused[i].field)))
			fail_msg("'%s': reason '%s' does not start with '%s'", refused[i].doc, why,
				 refused[i].field);
	}
}

/* A list of n names ("u0", "u1", ...) as users of alias p, or n rules. */
static char *big_policy(int n, bool rules)
{
	size_t cap = 64 + (size_t)n * 24;
	char *doc = malloc(cap);
	size_t len;

	assert_non_null(doc);
	len = (size_t)snprintf(doc, cap, rules ? "{\"aliases\": {" : "{\"aliases\": {\"p\": {\"users\": [");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(doc + len, cap - len, rules ? "%s\"a%d\": {}" : "%s\"u%d\"",
					i ? ", " : "", i);
	snprintf(doc + len, cap - len, rules ? "}}" : "]}}}");
	return doc;
}

static void test_bounds_keep_checks_cheap(void **state)
{
	char why[512];
	char *doc;

	(void)state;
	doc = big_policy(1000, false);
	assert_int_equal(mfs_policy_validate(doc, strlen(doc), false, why, sizeof(why)), 0);
	free(doc);
	doc = big_policy(1001, false);
	assert_int_equal(mfs_policy_validate(doc, strlen(doc), false, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "aliases.p.users: at most 1000 names"));
	free(doc);
	doc = big_policy(256, true);
	assert_int_equal(mfs_policy_validate(doc, strlen(doc), false, why, sizeof(why)), 0);
	free(doc);
	doc = big_policy(257, true);
	assert_int_equal(mfs_policy_validate(doc, strlen(doc), false, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "aliases: at most 256 alias rules"));
	free(doc);
}

static void test_registry_only_naming(void **state)
{
	const char *doc = "{\"naming\": {\"models\": \"^[a-z][a-z0-9-]*$\"}}";
	const char *bad_re = "{\"naming\": {\"models\": \"([a-z\"}}";
	char why[256];

	(void)state;
	assert_int_equal(mfs_policy_validate(doc, strlen(doc), true, why, sizeof(why)), 0);
	assert_int_equal(mfs_policy_validate(bad_re, strlen(bad_re), true, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "naming.models"));
}

static bool eval(const char *expr, const char *value)
{
	struct mfs_gate_expr e;

	if (mfs_gate_expr_parse(expr, &e) != 0)
		fail_msg("expression '%s' refused", expr);
	return mfs_gate_expr_eval(&e, value);
}

static void test_gate_numbers(void **state)
{
	(void)state;
	assert_true(eval(">= 0.90", "0.9"));
	assert_true(eval(">= 0.90", "0.93"));
	assert_false(eval(">= 0.90", "0.85"));
	assert_true(eval("> 1", "2"));
	assert_false(eval("> 1", "1"));
	assert_true(eval("<= 0.1", "0.1"));
	assert_true(eval("< 0.1", "-3"));
	assert_true(eval("== 3", "3.0"));
	assert_true(eval("!= 0", "1e-9"));
	/* absent, null, another type: fail */
	assert_false(eval(">= 0.9", NULL));
	assert_false(eval(">= 0.9", "null"));
	assert_false(eval(">= 0.9", "\"0.95\""));
	assert_false(eval("!= 0", "\"x\""));
	assert_false(eval(">= 0.9", "not json"));
}

static void test_gate_strings_bools_exists(void **state)
{
	(void)state;
	assert_true(eval("== \"onnx\"", "\"onnx\""));
	assert_false(eval("== \"onnx\"", "\"torch\""));
	assert_true(eval("!= \"onnx\"", "\"torch\""));
	assert_true(eval("== true", "true"));
	assert_false(eval("== true", "1"));
	assert_true(eval("!= false", "true"));
	assert_true(eval("exists", "0"));
	assert_true(eval("exists", "{}"));
	assert_false(eval("exists", "null"));
	assert_false(eval("exists", NULL));
}

static void test_gate_refused(void **state)
{
	static const char *const bad[] = { "", "0.9", ">=", "=> 1", "> \"a\"", "< true",
		"== [1]", "== {}", "== nan", "exists now", ">= 1 2" };
	struct mfs_gate_expr e;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (mfs_gate_expr_parse(bad[i], &e) != -EINVAL)
			fail_msg("expression '%s' accepted", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bounds_keep_checks_cheap),
		cmocka_unit_test(test_registry_only_naming),
		cmocka_unit_test(test_gate_numbers),
		cmocka_unit_test(test_gate_strings_bools_exists),
		cmocka_unit_test(test_gate_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
