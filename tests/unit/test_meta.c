/* test_meta.c - unit tests for store/meta.c */

/*
 * meta is pure (JSON text in, JSON text out), so these tests need no
 * temp-store fixture. Each one feeds a document and asserts the exact
 * return code, that a refusal explains itself in `why`, and that *ret is
 * written only on success. Accepted documents are checked twice: textually
 * (the user's bytes must survive, since cJSON would round a nanosecond
 * timestamp held as a double) and by parsing the result back with cJSON.
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

#include <cjson/cJSON.h>

#include "meta.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A pointer no call may write into *ret on failure. */
#define POISON ((void *)(uintptr_t)0x5a5a5a5a)

/* ---- helpers ---- */

/* malloc that fails the test; abort() tells the compiler it returns non-NULL. */
static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p) {
		fail_msg("malloc(%zu) failed", n);
		abort();
	}
	return p;
}

static void assert_parse_rejects(const char *buf, size_t len, const char *reason)
{
	char why[256] = "";
	cJSON *j = POISON;
	int r = mfs_meta_parse_object(buf, len, &j, why, sizeof(why));

	if (r != -EINVAL)
		fail_msg("parse '%.60s': got %d, want -EINVAL", buf, r);
	assert_ptr_equal(j, POISON);
	if (!why[0])
		fail_msg("parse '%.60s': no reason given", buf);
	if (reason && !strstr(why, reason))
		fail_msg("parse '%.60s': reason '%s' does not mention '%s'", buf, why,
			 reason);
}

static cJSON *assert_parse_accepts(const char *buf, size_t len)
{
	char why[256] = "";
	cJSON *j = NULL;
	int r = mfs_meta_parse_object(buf, len, &j, why, sizeof(why));

	if (r != 0)
		fail_msg("parse '%.60s': got %d (%s), want 0", buf, r, why);
	assert_non_null(j);
	assert_true(cJSON_IsObject(j));
	return j;
}

/* Validate s for m@1.0.0; returns the stored text (caller frees). */
static char *assert_valid(const char *s)
{
	char why[256] = "", *out = NULL;
	int r = mfs_meta_validate_version(s, strlen(s), "m", "1.0.0", &out, why,
					  sizeof(why));

	if (r != 0)
		fail_msg("validate '%.80s': got %d (%s), want 0", s, r, why);
	assert_non_null(out);
	return out;
}

static void assert_invalid(const char *s, const char *reason)
{
	char why[256] = "", *out = POISON;
	int r = mfs_meta_validate_version(s, strlen(s), "m", "1.0.0", &out, why,
					  sizeof(why));

	if (r != -EINVAL)
		fail_msg("validate '%.80s': got %d, want -EINVAL", s, r);
	assert_ptr_equal(out, POISON);
	if (!why[0])
		fail_msg("validate '%.80s': no reason given", s);
	if (reason && !strstr(why, reason))
		fail_msg("validate '%.80s': reason '%s' does not mention '%s'", s, why,
			 reason);
}

/* s validates and is stored exactly as written. */
static void assert_kept_verbatim(const char *s)
{
	char *out = assert_valid(s);

	assert_string_equal(out, s);
	free(out);
}

/* out parses as an object without a top-level "registry". On failure out
 * is freed first, so a failing test leaks nothing under LeakSanitizer. */
static cJSON *assert_no_registry(char *out)
{
	cJSON *j = cJSON_Parse(out);
	char copy[201];

	if (j && cJSON_IsObject(j) && !cJSON_GetObjectItemCaseSensitive(j, "registry"))
		return j;
	snprintf(copy, sizeof(copy), "%s", out);
	free(out);
	if (!j)
		fail_msg("result is not JSON: '%s'", copy);
	cJSON_Delete(j);
	fail_msg("\"registry\" survived validation: '%s'", copy);
	return NULL;
}

/* depth-1 levels of {"a": ... } around "{}": depth levels in all. */
static char *nested_objects(int depth)
{
	static const char open[] = "{\"a\":";
	size_t n = (size_t)depth * 8 + 8, len = 0;
	char *s = xmalloc(n);

	for (int i = 0; i < depth - 1; i++) {
		memcpy(s + len, open, sizeof(open) - 1);
		len += sizeof(open) - 1;
	}
	s[len++] = '{';
	s[len++] = '}';
	for (int i = 0; i < depth - 1; i++)
		s[len++] = '}';
	s[len] = '\0';
	return s;
}

/* ---- mfs_meta_parse_object ---- */

static void test_meta_parse_accepts_object(void **state)
{
	const char *s = "{\"a\": 1, \"b\": [true, null], \"c\": {\"d\": \"e\"}}";
	cJSON *j;

	(void)state;
	j = assert_parse_accepts(s, strlen(s));
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "a")->valueint, 1);
	assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "b")));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "c"), "d")->valuestring, "e");
	cJSON_Delete(j);
}

static void test_meta_parse_accepts_empty_object(void **state)
{
	(void)state;
	cJSON_Delete(assert_parse_accepts("{}", 2));
	cJSON_Delete(assert_parse_accepts("  { }", 5));
}

static void test_meta_parse_reads_only_len_bytes(void **state)
{
	/* Not NUL-terminated where it ends: the bytes past len are garbage. */
	const char buf[] = { '{', '"', 'a', '"', ':', '1', '}', 'X', 'Y', 'Z' };
	cJSON *j;

	(void)state;
	j = assert_parse_accepts(buf, 7);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "a")->valueint, 1);
	cJSON_Delete(j);
}

static void test_meta_parse_rejects_array(void **state)
{
	(void)state;
	assert_parse_rejects("[1, 2]", 6, "object");
	assert_parse_rejects("[]", 2, "object");
}

static void test_meta_parse_rejects_string(void **state)
{
	(void)state;
	assert_parse_rejects("\"{}\"", 4, "object");
}

static void test_meta_parse_rejects_number(void **state)
{
	(void)state;
	assert_parse_rejects("42", 2, "object");
	assert_parse_rejects("-1.5e3", 6, "object");
}

static void test_meta_parse_rejects_literals(void **state)
{
	(void)state;
	assert_parse_rejects("true", 4, "object");
	assert_parse_rejects("null", 4, "object");
}

static void test_meta_parse_rejects_trailing_garbage(void **state)
{
	(void)state;
	assert_parse_rejects("{} x", 4, "trailing");
	assert_parse_rejects("{}{}", 4, "trailing");
	assert_parse_rejects("{\"a\": 1},", 9, "trailing");
	assert_parse_rejects("{}\n\n1", 5, "trailing");
}

static void test_meta_parse_accepts_trailing_whitespace(void **state)
{
	const char *s = "{\"a\": 1} \n\t\r \n";

	(void)state;
	cJSON_Delete(assert_parse_accepts(s, strlen(s)));
}

static void test_meta_parse_accepts_trailing_nuls(void **state)
{
	static const char s[] = "{\"a\": 1}\0\n\0 ";

	(void)state;
	cJSON_Delete(assert_parse_accepts(s, sizeof(s) - 1));
}

/* cJSON skips every byte up to 0x20 as white space; JSON has four. */
static void test_meta_parse_rejects_control_characters_outside_strings(void **state)
{
	static const struct { const char *s; size_t len; } bad[] = {
		{ "\0{}", 3 }, { "{\x01\"a\": 1}", 9 }, { "{\"a\": 1\x0b}", 8 },
		{ "{\"a\":\f1}", 7 }, { "{\"a\": 1}\0x", 10 }, { "{\"a\": 1\0}", 9 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_parse_rejects(bad[i].s, bad[i].len, "control character");
}

static void test_meta_parse_rejects_raw_control_characters_in_strings(void **state)
{
	static const struct { const char *s; size_t len; } bad[] = {
		{ "{\"a\": \"b\0c\"}", 12 }, { "{\"a\x01\": 1}", 9 },
		{ "{\"a\": \"tab\there\"}", 17 }, { "{\"a\": \"\\\n\"}", 11 },
	};
	const char *escaped = "{\"a\": \"b\\u0000c\\t\\n\\u001f\"}";

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_parse_rejects(bad[i].s, bad[i].len, "in a string");
	cJSON_Delete(assert_parse_accepts(escaped, strlen(escaped)));
}

static void test_meta_parse_rejects_a_byte_order_mark(void **state)
{
	(void)state;
	assert_parse_rejects("\xef\xbb\xbf{}", 5, "byte order mark");
}

static void test_meta_parse_rejects_nesting_deeper_than_limit(void **state)
{
	char *s = nested_objects(MFS_META_DEPTH + 1);

	(void)state;
	assert_parse_rejects(s, strlen(s), "nests deeper");
	free(s);
}

static void test_meta_parse_accepts_nesting_exactly_at_limit(void **state)
{
	char *s = nested_objects(MFS_META_DEPTH);

	(void)state;
	cJSON_Delete(assert_parse_accepts(s, strlen(s)));
	free(s);
}

static void test_meta_parse_counts_arrays_towards_depth(void **state)
{
	/* {"a": [[...[]...]]}: one object, then arrays. */
	char s[2 * MFS_META_DEPTH + 16];
	size_t len;

	(void)state;
	for (int levels = MFS_META_DEPTH; levels <= MFS_META_DEPTH + 1; levels++) {
		len = (size_t)sprintf(s, "{\"a\":");
		for (int i = 0; i < levels - 1; i++)
			s[len++] = '[';
		for (int i = 0; i < levels - 1; i++)
			s[len++] = ']';
		s[len++] = '}';
		s[len] = '\0';
		if (levels == MFS_META_DEPTH)
			cJSON_Delete(assert_parse_accepts(s, len));
		else
			assert_parse_rejects(s, len, "nests deeper");
	}
}

static void test_meta_parse_ignores_brackets_inside_strings(void **state)
{
	/* 100 '{' and '[' inside a string are text, not nesting; an escaped
	 * quote must not end the string early. */
	char s[512];
	size_t len = (size_t)sprintf(s, "{\"a\": \"\\\"");
	cJSON *j;

	(void)state;
	for (int i = 0; i < 100; i++) {
		s[len++] = '{';
		s[len++] = '[';
	}
	len += (size_t)sprintf(s + len, "\"}");
	j = assert_parse_accepts(s, len);
	assert_int_equal(strlen(cJSON_GetObjectItemCaseSensitive(j, "a")->valuestring),
			 201);
	cJSON_Delete(j);
}

static void test_meta_parse_rejects_document_larger_than_max(void **state)
{
	size_t len = (size_t)MFS_META_MAX + 1;
	char *s = xmalloc(len);

	(void)state;
	/* A valid object padded with white space: only the size is wrong. */
	memset(s, ' ', len);
	memcpy(s, "{}", 2);
	assert_parse_rejects(s, len, "bytes");
	free(s);
}

static void test_meta_parse_accepts_document_of_exactly_max(void **state)
{
	size_t len = MFS_META_MAX;
	char *s = xmalloc(len);

	(void)state;
	memset(s, ' ', len);
	memcpy(s, "{}", 2);
	cJSON_Delete(assert_parse_accepts(s, len));
	free(s);
}

static void test_meta_parse_rejects_invalid_json(void **state)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "{\"a\"}", "{\"a\": }", "{\"a\": 1,}",
		"{'a': 1}", "{a: 1}", "{\"a\": tru}", "{\"a\": \"unterminated}",
		"{\"a\": 1 \"b\": 2}", "{\"a\": [1, 2}",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_parse_rejects(bad[i], strlen(bad[i]), NULL);
}

static void test_meta_parse_names_the_byte_of_a_syntax_error(void **state)
{
	(void)state;
	assert_parse_rejects("{\"a\": tru}", 10, "not valid JSON");
}

/* ---- mfs_meta_validate_version: typed keys ---- */

static void test_meta_validate_accepts_well_typed_document(void **state)
{
	(void)state;
	assert_kept_verbatim(
		"{\"model_name\": \"m\", \"version\": \"1.0.0\",\n"
		" \"metrics\": {\"auc\": 0.91, \"loss\": 3, \"n\": -1e-3},\n"
		" \"parents\": [\"base@2.0.0\"], \"depends_on\": [\"emb@0.1.0-rc.1\"],\n"
		" \"tags\": [\"prod\", \"eu\"], \"hyperparameters\": {\"lr\": 0.1},\n"
		" \"library_versions\": {\"torch\": \"2.3\"}, \"features\": [\"x\"],\n"
		" \"training_date\": \"2024-11-25\", \"dataset_snapshot_id\": \"s1\",\n"
		" \"feature_set_version\": \"3\", \"run_id\": \"r\", \"experiment\": \"e\",\n"
		" \"code_commit\": \"abc\", \"description\": \"d\", \"custom\": [1, {}]}");
}

static void test_meta_validate_accepts_empty_object(void **state)
{
	(void)state;
	assert_kept_verbatim("{}");
}

static void test_meta_validate_rejects_non_objects(void **state)
{
	(void)state;
	assert_invalid("[]", "object");
	assert_invalid("\"x\"", "object");
	assert_invalid("1", "object");
	assert_invalid("{\"a\": 1} x", "trailing");
	assert_invalid("{\"a\": }", "JSON");
}

static void test_meta_validate_rejects_non_numeric_metric(void **state)
{
	(void)state;
	assert_invalid("{\"metrics\": {\"auc\": \"0.9\"}}", "auc");
	assert_invalid("{\"metrics\": {\"auc\": 0.9, \"ok\": true}}", "ok");
	assert_invalid("{\"metrics\": {\"auc\": null}}", "auc");
	assert_invalid("{\"metrics\": {\"auc\": [1]}}", "auc");
}

static void test_meta_validate_rejects_metrics_that_is_not_an_object(void **state)
{
	(void)state;
	assert_invalid("{\"metrics\": [0.9]}", "metrics");
	assert_invalid("{\"metrics\": 0.9}", "metrics");
	assert_invalid("{\"metrics\": \"auc=0.9\"}", "metrics");
}

static void test_meta_validate_accepts_empty_metrics(void **state)
{
	(void)state;
	assert_kept_verbatim("{\"metrics\": {}}");
}

static void test_meta_validate_accepts_model_at_version_refs(void **state)
{
	(void)state;
	assert_kept_verbatim("{\"parents\": [\"a@1.0.0\", \"b@2.0.0+x\"], "
			     "\"depends_on\": [\"c@0.0.1\"]}");
	assert_kept_verbatim("{\"parents\": [], \"depends_on\": []}");
}

static void test_meta_validate_rejects_malformed_refs(void **state)
{
	static const char *const refs[] = { "m", "@1.0.0", "m@", "a@b@c", "x/y@1.0.0",
		"m@1/0", "" };
	static const char *const keys[] = { "parents", "depends_on" };
	char doc[128];

	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		for (size_t i = 0; i < ARRAY_SIZE(refs); i++) {
			snprintf(doc, sizeof(doc), "{\"%s\": [\"ok@1.0.0\", \"%s\"]}",
				 keys[k], refs[i]);
			assert_invalid(doc, keys[k]);
		}
	}
}

static void test_meta_validate_rejects_refs_that_are_not_string_lists(void **state)
{
	(void)state;
	assert_invalid("{\"parents\": \"a@1.0.0\"}", "parents");
	assert_invalid("{\"parents\": [1]}", "parents");
	assert_invalid("{\"parents\": {\"a\": \"b@1\"}}", "parents");
	assert_invalid("{\"depends_on\": \"a@1.0.0\"}", "depends_on");
	assert_invalid("{\"depends_on\": [null]}", "depends_on");
	assert_invalid("{\"depends_on\": [[\"a@1.0.0\"]]}", "depends_on");
}

static void test_meta_validate_accepts_tags_as_list_or_object(void **state)
{
	(void)state;
	assert_kept_verbatim("{\"tags\": [\"a\", \"b@c/d\"]}");
	assert_kept_verbatim("{\"tags\": []}");
	assert_kept_verbatim("{\"tags\": {\"team\": \"x\", \"n\": 1}}");
}

static void test_meta_validate_rejects_tags_of_other_types(void **state)
{
	(void)state;
	assert_invalid("{\"tags\": \"prod\"}", "tags");
	assert_invalid("{\"tags\": [\"prod\", 1]}", "tags");
	assert_invalid("{\"tags\": 7}", "tags");
	assert_invalid("{\"tags\": null}", "tags");
}

static void test_meta_validate_rejects_string_keys_of_other_types(void **state)
{
	static const char *const keys[] = { "training_date", "dataset_snapshot_id",
		"feature_set_version", "run_id", "experiment", "code_commit",
		"description" };
	static const char *const values[] = { "1", "[\"x\"]", "{}", "null", "true" };
	char doc[128];

	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		snprintf(doc, sizeof(doc), "{\"%s\": \"text\"}", keys[k]);
		assert_kept_verbatim(doc);
		for (size_t v = 0; v < ARRAY_SIZE(values); v++) {
			snprintf(doc, sizeof(doc), "{\"%s\": %s}", keys[k], values[v]);
			assert_invalid(doc, keys[k]);
		}
	}
}

static void test_meta_validate_rejects_object_keys_of_other_types(void **state)
{
	(void)state;
	assert_invalid("{\"hyperparameters\": [1]}", "hyperparameters");
	assert_invalid("{\"library_versions\": \"torch\"}", "library_versions");
	assert_invalid("{\"features\": \"x\"}", "features");
	assert_kept_verbatim("{\"features\": {\"x\": \"float\"}}");
}

static void test_meta_validate_accepts_matching_model_name_and_version(void **state)
{
	(void)state;
	assert_kept_verbatim("{\"model_name\": \"m\", \"version\": \"1.0.0\"}");
}

static void test_meta_validate_rejects_mismatched_model_name(void **state)
{
	(void)state;
	assert_invalid("{\"model_name\": \"other\"}", "model_name");
	assert_invalid("{\"model_name\": \"M\"}", "model_name");
	assert_invalid("{\"model_name\": \"m \"}", "model_name");
	assert_invalid("{\"model_name\": 1}", "model_name");
	assert_invalid("{\"model_name\": null}", "model_name");
}

static void test_meta_validate_rejects_mismatched_version(void **state)
{
	(void)state;
	assert_invalid("{\"version\": \"1.0.1\"}", "version");
	assert_invalid("{\"version\": \"1.0.0+build\"}", "version");
	assert_invalid("{\"version\": 1}", "version");
	assert_invalid("{\"version\": [\"1.0.0\"]}", "version");
}

static void test_meta_validate_leaves_nested_keys_alone(void **state)
{
	/* Only top-level keys are typed, and only a top-level registry goes. */
	(void)state;
	assert_kept_verbatim("{\"x\": {\"metrics\": \"n/a\", \"version\": 9, "
			     "\"registry\": {\"y\": 1}}}");
}

/* ---- mfs_meta_validate_version: the "registry" member ---- */

static void test_meta_validate_keeps_document_without_registry_byte_for_byte(void **state)
{
	(void)state;
	assert_kept_verbatim("{\"a\": 1732528800123456789, \"b\": [1, 2]}");
	assert_kept_verbatim("  {\n\t\"z\" :1.50e+2 ,\"a\":\"\\u00e9\\n\", "
			     "\"n\": 18446744073709551617}\n\n");
}

static void test_meta_validate_drops_registry_and_keeps_other_bytes(void **state)
{
	const char *s = "{\"a\": 1732528800123456789, \"registry\": {\"x\": 1}, "
			"\"b\": [1, 2]}";
	char *out;
	cJSON *j, *b;

	(void)state;
	out = assert_valid(s);
	assert_non_null(strstr(out, "\"a\": 1732528800123456789"));
	assert_non_null(strstr(out, "\"b\": [1, 2]"));
	assert_null(strstr(out, "registry"));
	j = assert_no_registry(out);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "a")));
	b = cJSON_GetObjectItemCaseSensitive(j, "b");
	assert_true(cJSON_IsArray(b));
	assert_int_equal(cJSON_GetArraySize(b), 2);
	assert_int_equal(cJSON_GetArraySize(j), 2);
	cJSON_Delete(j);
	free(out);
}

static void test_meta_validate_drops_registry_in_any_position(void **state)
{
	static const char *const docs[] = {
		"{\"registry\": 1}",
		"{ \"registry\" : {\"a\": [1, {\"b\": \"}\"}]} }",
		"{\"registry\": \"x\", \"a\": 1}",
		"{\"a\": 1, \"registry\": null}",
		"{\"a\": \"x,\\\"}y\", \"registry\": [1, \"]\"], \"b\": 2}",
		"{\"registry\": 1, \"a\": 1, \"registry\": 2}",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
		char *out = assert_valid(docs[i]);
		cJSON *j = assert_no_registry(out);

		assert_null(strstr(out, "registry"));
		cJSON_Delete(j);
		free(out);
	}
}

static void test_meta_validate_keeps_string_bytes_when_dropping_registry(void **state)
{
	char *out;
	cJSON *j;

	(void)state;
	out = assert_valid("{\"a\": \"x,\\\"}y\", \"registry\": 1, \"b\": 2}");
	assert_non_null(strstr(out, "\"a\": \"x,\\\"}y\""));
	j = assert_no_registry(out);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "a")->valuestring,
			    "x,\"}y");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "b")->valueint, 2);
	cJSON_Delete(j);
	free(out);
}

static void test_meta_validate_drops_escaped_registry_key(void **state)
{
	char *out;
	cJSON *j;

	(void)state;
	out = assert_valid("{\"regi\\u0073try\": {\"x\": 1}, \"a\": 1}");
	j = assert_no_registry(out);
	assert_non_null(cJSON_GetObjectItemCaseSensitive(j, "a"));
	cJSON_Delete(j);
	free(out);
}

static void test_meta_validate_drops_escaped_registry_beside_plain_one(void **state)
{
	char *out;
	cJSON *j;

	(void)state;
	out = assert_valid("{\"registry\": 1, \"regi\\u0073try\": 2, \"a\": 1}");
	j = assert_no_registry(out);
	assert_non_null(cJSON_GetObjectItemCaseSensitive(j, "a"));
	cJSON_Delete(j);
	free(out);
}

static void test_meta_validate_drops_registry_from_object_with_many_members(void **state)
{
	/* More members than any fixed-size table of spans might hold. */
	enum { MEMBERS = 5000 };
	char *s = xmalloc(MEMBERS * 24 + 64), *out;
	size_t len = 0;
	cJSON *j;

	(void)state;
	s[len++] = '{';
	for (int i = 0; i < MEMBERS; i++)
		len += (size_t)sprintf(s + len, "\"k%d\": %d, ", i, i);
	len += (size_t)sprintf(s + len, "\"registry\": {\"x\": 1}}");
	out = assert_valid(s);
	free(s);
	j = assert_no_registry(out);
	assert_int_equal(cJSON_GetArraySize(j), MEMBERS);
	cJSON_Delete(j);
	free(out);
}

/* ---- mfs_meta_merge_registry ---- */

static const char REG[] = "{\"created\": 1732528800123456789, \"sealed\": true}";

/* merged = user (up to its last member) + registry; parse and check. */
static void assert_merged(const char *user, const char *prefix, int members)
{
	char *out = mfs_meta_merge_registry(user, strlen(user), REG);
	cJSON *j, *reg;

	if (!out)
		fail_msg("merge '%s': NULL", user);
	if (strncmp(out, prefix, strlen(prefix)))
		fail_msg("merge '%s': '%s' does not start with '%s'", user, out, prefix);
	assert_non_null(strstr(out, REG));
	j = cJSON_Parse(out);
	if (!j)
		fail_msg("merge '%s': result is not JSON: '%s'", user, out);
	reg = cJSON_GetObjectItemCaseSensitive(j, "registry");
	assert_true(cJSON_IsObject(reg));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reg, "sealed")));
	assert_int_equal(cJSON_GetArraySize(j), members + 1);
	/* registry is appended, not inserted */
	assert_ptr_equal(cJSON_GetArrayItem(j, members), reg);
	cJSON_Delete(j);
	free(out);
}

/* Found by tests/fuzz/fuzz_meta: cJSON took the leading NUL for white
 * space, cut_registry() did not, and the document was refused as ENOMEM. */
static void test_meta_validate_refuses_a_leading_nul_as_einval(void **state)
{
	char why[256] = "", *out = POISON;

	(void)state;
	assert_int_equal(mfs_meta_validate_version("\0{}\0", 4, "m", "1.0.0", &out, why,
						   sizeof(why)), -EINVAL);
	assert_ptr_equal(out, POISON);
	assert_non_null(strstr(why, "control character"));
}

static void test_meta_merge_adds_registry_to_empty_object(void **state)
{
	(void)state;
	assert_merged("{}", "{", 0);
}

static void test_meta_merge_adds_registry_to_empty_object_with_space(void **state)
{
	(void)state;
	assert_merged("{ }", "{", 0);
	assert_merged("\n{\n\t\n}\n", "\n{", 0);
}

static void test_meta_merge_appends_registry_after_user_members(void **state)
{
	const char *user = "{\"a\": 1732528800123456789, \"b\": [1, 2]}";
	char *out;
	cJSON *j;

	(void)state;
	assert_merged(user, "{\"a\": 1732528800123456789, \"b\": [1, 2]", 2);
	out = mfs_meta_merge_registry(user, strlen(user), REG);
	assert_non_null(out);
	j = cJSON_Parse(out);
	assert_non_null(j);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "a")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "b")), 2);
	cJSON_Delete(j);
	free(out);
}

static void test_meta_merge_keeps_user_bytes_of_pretty_printed_object(void **state)
{
	const char *user = "{\n  \"a\": \"}\",\n  \"n\": {\"x\": {}}\n}\n";

	(void)state;
	assert_merged(user, "{\n  \"a\": \"}\",\n  \"n\": {\"x\": {}}", 2);
}

static void test_meta_merge_reads_only_len_bytes(void **state)
{
	const char buf[] = "{\"a\": 1}{\"junk\": 2}";
	char *out = mfs_meta_merge_registry(buf, 8, REG);
	cJSON *j;

	(void)state;
	assert_non_null(out);
	j = cJSON_Parse(out);
	assert_non_null(j);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "junk"));
	assert_non_null(cJSON_GetObjectItemCaseSensitive(j, "registry"));
	cJSON_Delete(j);
	free(out);
}

static void test_meta_merge_of_validated_text_round_trips(void **state)
{
	const char *s = "{\"a\": 1732528800123456789, \"registry\": {\"x\": 1}, "
			"\"b\": [1, 2]}";
	char *user, *out;
	cJSON *j;

	(void)state;
	user = assert_valid(s);
	out = mfs_meta_merge_registry(user, strlen(user), REG);
	assert_non_null(out);
	assert_non_null(strstr(out, "\"a\": 1732528800123456789"));
	j = cJSON_Parse(out);
	assert_non_null(j);
	assert_int_equal(cJSON_GetArraySize(j), 3);
	assert_null(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "registry"), "x"));
	cJSON_Delete(j);
	free(out);
	free(user);
}

static void test_meta_merge_refuses_non_objects(void **state)
{
	(void)state;
	assert_null(mfs_meta_merge_registry("", 0, REG));
	assert_null(mfs_meta_merge_registry("   ", 3, REG));
	assert_null(mfs_meta_merge_registry("[1, 2]", 6, REG));
	assert_null(mfs_meta_merge_registry("\"x\"", 3, REG));
	assert_null(mfs_meta_merge_registry("42", 2, REG));
}

/*============================================================ hostile text */

static void test_meta_refuses_duplicate_keys_at_any_depth(void **state)
{
	(void)state;
	assert_invalid("{\"a\": 1, \"a\": 2}", "twice");
	assert_invalid("{\"m\": {\"auc\": 1, \"b\": 0, \"auc\": 2}}", "'auc' twice");
	assert_invalid("{\"l\": [{\"x\": 1, \"x\": 1}]}", "twice");
	/* the same name in different objects is fine */
	free(assert_valid("{\"a\": {\"x\": 1}, \"b\": {\"x\": 1}}"));
}

static void test_meta_refuses_invalid_utf8_and_raw_control_characters(void **state)
{
	(void)state;
	assert_invalid("{\"d\": \"caf\xe9\"}", "UTF-8");
	assert_invalid("{\"d\": \"\xc0\xaf\"}", "UTF-8");		/* overlong '/' */
	assert_invalid("{\"d\": \"\xed\xa0\x80\"}", "UTF-8");	/* a surrogate */
	assert_invalid("{\"d\": \"\xf4\x90\x80\x80\"}", "UTF-8");	/* > U+10FFFF */
	assert_invalid("{\"\xff\": 1}", "UTF-8");
	assert_invalid("{\"d\": \"a\tb\"}", "control");
	assert_invalid("{\"d\": \"a\nb\"}", "control");
	/* escaped forms and real multi-byte text are fine */
	free(assert_valid("{\"d\": \"a\\tb \\u00e9 caf\xc3\xa9 \xf0\x9f\x98\x80\"}"));
}

static void test_meta_text_ok(void **state)
{
	(void)state;
	assert_true(mfs_meta_text_ok("production", 10));
	assert_true(mfs_meta_text_ok("prod-\xc3\xa9", 7));
	assert_false(mfs_meta_text_ok("a\nb", 3));
	assert_false(mfs_meta_text_ok("a\x7f", 2));
	assert_false(mfs_meta_text_ok("a\xff", 2));
	assert_false(mfs_meta_text_ok("\xe2\x82", 2));	/* truncated */
	assert_true(mfs_meta_text_ok("", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meta_parse_accepts_object),
		cmocka_unit_test(test_meta_parse_accepts_empty_object),
		cmocka_unit_test(test_meta_parse_reads_only_len_bytes),
		cmocka_unit_test(test_meta_parse_rejects_array),
		cmocka_unit_test(test_meta_parse_rejects_string),
		cmocka_unit_test(test_meta_parse_rejects_number),
		cmocka_unit_test(test_meta_parse_rejects_literals),
		cmocka_unit_test(test_meta_parse_rejects_trailing_garbage),
		cmocka_unit_test(test_meta_parse_accepts_trailing_whitespace),
		cmocka_unit_test(test_meta_parse_accepts_trailing_nuls),
		cmocka_unit_test(test_meta_parse_rejects_control_characters_outside_strings),
		cmocka_unit_test(test_meta_parse_rejects_raw_control_characters_in_strings),
		cmocka_unit_test(test_meta_parse_rejects_a_byte_order_mark),
		cmocka_unit_test(test_meta_parse_rejects_nesting_deeper_than_limit),
		cmocka_unit_test(test_meta_parse_accepts_nesting_exactly_at_limit),
		cmocka_unit_test(test_meta_parse_counts_arrays_towards_depth),
		cmocka_unit_test(test_meta_parse_ignores_brackets_inside_strings),
		cmocka_unit_test(test_meta_parse_rejects_document_larger_than_max),
		cmocka_unit_test(test_meta_parse_accepts_document_of_exactly_max),
		cmocka_unit_test(test_meta_parse_rejects_invalid_json),
		cmocka_unit_test(test_meta_parse_names_the_byte_of_a_syntax_error),
		cmocka_unit_test(test_meta_validate_accepts_well_typed_document),
		cmocka_unit_test(test_meta_validate_accepts_empty_object),
		cmocka_unit_test(test_meta_validate_rejects_non_objects),
		cmocka_unit_test(test_meta_validate_rejects_non_numeric_metric),
		cmocka_unit_test(test_meta_validate_rejects_metrics_that_is_not_an_object),
		cmocka_unit_test(test_meta_validate_accepts_empty_metrics),
		cmocka_unit_test(test_meta_validate_accepts_model_at_version_refs),
		cmocka_unit_test(test_meta_validate_rejects_malformed_refs),
		cmocka_unit_test(test_meta_validate_rejects_refs_that_are_not_string_lists),
		cmocka_unit_test(test_meta_validate_accepts_tags_as_list_or_object),
		cmocka_unit_test(test_meta_validate_rejects_tags_of_other_types),
		cmocka_unit_test(test_meta_validate_rejects_string_keys_of_other_types),
		cmocka_unit_test(test_meta_validate_rejects_object_keys_of_other_types),
		cmocka_unit_test(test_meta_validate_accepts_matching_model_name_and_version),
		cmocka_unit_test(test_meta_validate_rejects_mismatched_model_name),
		cmocka_unit_test(test_meta_validate_rejects_mismatched_version),
		cmocka_unit_test(test_meta_validate_leaves_nested_keys_alone),
		cmocka_unit_test(test_meta_validate_keeps_document_without_registry_byte_for_byte),
		cmocka_unit_test(test_meta_validate_drops_registry_and_keeps_other_bytes),
		cmocka_unit_test(test_meta_validate_drops_registry_in_any_position),
		cmocka_unit_test(test_meta_validate_keeps_string_bytes_when_dropping_registry),
		cmocka_unit_test(test_meta_validate_drops_escaped_registry_key),
		cmocka_unit_test(test_meta_validate_drops_escaped_registry_beside_plain_one),
		cmocka_unit_test(test_meta_validate_drops_registry_from_object_with_many_members),
		cmocka_unit_test(test_meta_validate_refuses_a_leading_nul_as_einval),
		cmocka_unit_test(test_meta_merge_adds_registry_to_empty_object),
		cmocka_unit_test(test_meta_merge_adds_registry_to_empty_object_with_space),
		cmocka_unit_test(test_meta_merge_appends_registry_after_user_members),
		cmocka_unit_test(test_meta_merge_keeps_user_bytes_of_pretty_printed_object),
		cmocka_unit_test(test_meta_merge_reads_only_len_bytes),
		cmocka_unit_test(test_meta_merge_of_validated_text_round_trips),
		cmocka_unit_test(test_meta_merge_refuses_non_objects),
		cmocka_unit_test(test_meta_refuses_duplicate_keys_at_any_depth),
		cmocka_unit_test(test_meta_refuses_invalid_utf8_and_raw_control_characters),
		cmocka_unit_test(test_meta_text_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
