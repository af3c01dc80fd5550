/* test_semver.c - unit tests for store/semver.c */

/*
 * semver is pure, so these tests need no temp-store fixture: each one feeds
 * strings to the parser or the comparison and asserts the exact result. The
 * cases come from the SemVer 2.0.0 specification's own examples and from its
 * grammar's edges (leading zeros, empty identifiers, uint64 overflow, the
 * 255-byte limit). Comparisons are always checked in both directions, since
 * a comparison that is not antisymmetric would reorder versions silently.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "semver.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void assert_rejected(const char *s)
{
	struct mfs_semver v;
	int r = mfs_semver_parse(s, &v);

	if (r != -EINVAL)
		fail_msg("parse '%s': got %d, want -EINVAL", s, r);
}

static void assert_accepted(const char *s)
{
	struct mfs_semver v;
	int r = mfs_semver_parse(s, &v);

	if (r != 0)
		fail_msg("parse '%s': got %d, want 0", s, r);
}

/* Compare a and b both ways; returns cmp(a, b) as -1, 0 or 1. */
static int cmp(const char *a, const char *b)
{
	int ab = 42, ba = 42;

	assert_int_equal(mfs_semver_cmp_str(a, b, &ab), 0);
	assert_int_equal(mfs_semver_cmp_str(b, a, &ba), 0);
	assert_int_equal(ab, -ba);
	return ab;
}

static void assert_ascending(const char *const *chain, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			int want = (i > j) - (i < j);
			int got = cmp(chain[i], chain[j]);

			if (got != want)
				fail_msg("cmp '%s' '%s': got %d, want %d",
					 chain[i], chain[j], got, want);
		}
	}
}

/* ------------------------------------------------------------------------
 * Parsing
 */

static void test_semver_parses_core_fields(void **state)
{
	struct mfs_semver v;

	(void)state;
	assert_int_equal(mfs_semver_parse("1.22.333", &v), 0);
	assert_true(v.major == 1);
	assert_true(v.minor == 22);
	assert_true(v.patch == 333);
	assert_null(v.pre);
	assert_int_equal(v.pre_len, 0);
	assert_null(v.build);
	assert_int_equal(v.build_len, 0);
	assert_false(mfs_semver_is_prerelease(&v));
}

static void test_semver_parses_zero_version(void **state)
{
	struct mfs_semver v;

	(void)state;
	assert_int_equal(mfs_semver_parse("0.0.0", &v), 0);
	assert_true(v.major == 0 && v.minor == 0 && v.patch == 0);
}

static void test_semver_borrows_prerelease_and_build_from_input(void **state)
{
	static const char s[] = "1.0.0-beta.2+exp.sha.5114f85";
	struct mfs_semver v;

	(void)state;
	assert_int_equal(mfs_semver_parse(s, &v), 0);
	assert_ptr_equal(v.pre, s + 6);
	assert_int_equal(v.pre_len, strlen("beta.2"));
	assert_ptr_equal(v.build, s + 13);
	assert_int_equal(v.build_len, strlen("exp.sha.5114f85"));
	assert_true(mfs_semver_is_prerelease(&v));
}

static void test_semver_parses_build_without_prerelease(void **state)
{
	static const char s[] = "1.0.0+20130313144700";
	struct mfs_semver v;

	(void)state;
	assert_int_equal(mfs_semver_parse(s, &v), 0);
	assert_null(v.pre);
	assert_int_equal(v.pre_len, 0);
	assert_ptr_equal(v.build, s + 6);
	assert_int_equal(v.build_len, strlen("20130313144700"));
	assert_false(mfs_semver_is_prerelease(&v));
}

static void test_semver_accepts_spec_examples(void **state)
{
	static const char *const valid[] = {
		"1.9.0", "1.10.0", "1.11.0",
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7", "1.0.0-x.7.z.92",
		"1.0.0-x-y-z.--",
		"1.0.0-alpha+001", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85",
		"1.0.0+21AF26D3----117B344092BD",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(valid); i++)
		assert_accepted(valid[i]);
}

static void test_semver_accepts_zero_and_alphanumeric_prerelease_ids(void **state)
{
	(void)state;
	/* "0" is numeric without a leading zero; "0a" and "-01" are not numeric. */
	assert_accepted("1.2.3-0");
	assert_accepted("1.2.3-0a");
	assert_accepted("1.2.3--01");
	assert_accepted("1.2.3-a.0.b");
}

static void test_semver_accepts_leading_zero_in_build(void **state)
{
	(void)state;
	assert_accepted("1.2.3+001");
	assert_accepted("1.2.3-rc.1+00.0");
}

static void test_semver_accepts_uint64_max(void **state)
{
	struct mfs_semver v;

	(void)state;
	assert_int_equal(mfs_semver_parse("18446744073709551615.18446744073709551615."
					  "18446744073709551615", &v), 0);
	assert_true(v.major == UINT64_MAX);
	assert_true(v.minor == UINT64_MAX);
	assert_true(v.patch == UINT64_MAX);
}

static void test_semver_accepts_255_byte_string(void **state)
{
	char s[MFS_SEMVER_MAX_LEN + 1];

	(void)state;
	memset(s, 'a', sizeof(s));
	memcpy(s, "1.0.0-", 6);
	s[MFS_SEMVER_MAX_LEN] = '\0';
	assert_int_equal(strlen(s), 255);
	assert_accepted(s);
}

static void test_semver_rejects_string_longer_than_255_bytes(void **state)
{
	char s[MFS_SEMVER_MAX_LEN + 2];

	(void)state;
	memset(s, 'a', sizeof(s));
	memcpy(s, "1.0.0-", 6);
	s[MFS_SEMVER_MAX_LEN + 1] = '\0';
	assert_int_equal(strlen(s), 256);
	assert_rejected(s);
}

static void test_semver_rejects_empty_string(void **state)
{
	(void)state;
	assert_rejected("");
}

static void test_semver_rejects_leading_v(void **state)
{
	(void)state;
	assert_rejected("v1.0.0");
	assert_rejected("V1.0.0");
}

static void test_semver_rejects_missing_parts(void **state)
{
	static const char *const invalid[] = {
		"1", "1.2", "1.", "1.2.", ".1.2", "1..3", "..", "1.2-rc.1", "1.2+b",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
		assert_rejected(invalid[i]);
}

static void test_semver_rejects_extra_core_part(void **state)
{
	(void)state;
	assert_rejected("1.2.3.4");
	assert_rejected("1.2.3.");
}

static void test_semver_rejects_leading_zero(void **state)
{
	static const char *const invalid[] = {
		"01.2.3", "1.02.3", "1.2.03", "00.0.0", "0.00.0", "0.0.00",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
		assert_rejected(invalid[i]);
}

static void test_semver_rejects_leading_zero_in_numeric_prerelease(void **state)
{
	(void)state;
	assert_rejected("1.2.3-01");
	assert_rejected("1.2.3-00");
	assert_rejected("1.2.3-alpha.01");
	assert_rejected("1.2.3-alpha.007+build");
}

static void test_semver_rejects_empty_prerelease_or_build(void **state)
{
	static const char *const invalid[] = {
		"1.2.3-", "1.2.3+", "1.2.3-+b", "1.2.3-a+",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
		assert_rejected(invalid[i]);
}

static void test_semver_rejects_empty_identifiers(void **state)
{
	static const char *const invalid[] = {
		"1.2.3-a..b", "1.2.3+a..b", "1.2.3-.a", "1.2.3-a.", "1.2.3+.a", "1.2.3+a.",
		"1.2.3-a.+b",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
		assert_rejected(invalid[i]);
}

static void test_semver_rejects_characters_outside_identifier_set(void **state)
{
	static const char *const invalid[] = {
		"1.2.3-a_b", "1.2.3+a_b", "1.2.3-a/b", "1.2.3-\xc3\xa9", "1.2.3+\xc3\xa9",
		"1.2.3-a b", "1.2.3+a+b", "1.2.3-a~1",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
		assert_rejected(invalid[i]);
}

static void test_semver_rejects_surrounding_whitespace(void **state)
{
	(void)state;
	assert_rejected(" 1.2.3");
	assert_rejected("1.2.3 ");
	assert_rejected("1.2.3\n");
	assert_rejected("1. 2.3");
}

static void test_semver_rejects_signs_in_core_numbers(void **state)
{
	(void)state;
	assert_rejected("+1.2.3");
	assert_rejected("-1.2.3");
	assert_rejected("1.-2.3");
	assert_rejected("1.2.+3");
}

static void test_semver_rejects_uint64_overflow(void **state)
{
	(void)state;
	assert_rejected("18446744073709551616.0.0");
	assert_rejected("0.18446744073709551616.0");
	assert_rejected("0.0.18446744073709551616");
	assert_rejected("99999999999999999999.0.0");
	assert_rejected("184467440737095516150.0.0");
}

static void test_semver_leaves_ret_untouched_on_failure(void **state)
{
	struct mfs_semver v, before;

	(void)state;
	memset(&v, 0xa5, sizeof(v));
	before = v;
	assert_int_equal(mfs_semver_parse("1.2.3-", &v), -EINVAL);
	assert_memory_equal(&v, &before, sizeof(v));
	assert_int_equal(mfs_semver_parse("18446744073709551616.0.0", &v), -EINVAL);
	assert_memory_equal(&v, &before, sizeof(v));
}

/* ------------------------------------------------------------------------
 * Precedence
 */

static void test_semver_orders_spec_prerelease_chain(void **state)
{
	static const char *const chain[] = {
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
		"1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0",
	};

	(void)state;
	assert_ascending(chain, ARRAY_SIZE(chain));
}

static void test_semver_orders_core_numerically(void **state)
{
	static const char *const chain[] = {
		"0.0.0", "0.0.1", "0.1.0", "1.0.0", "1.9.0", "1.10.0", "1.11.0",
		"2.0.0", "2.1.0", "2.1.1", "18446744073709551615.0.0",
	};

	(void)state;
	assert_ascending(chain, ARRAY_SIZE(chain));
}

static void test_semver_ignores_build_metadata(void **state)
{
	(void)state;
	assert_int_equal(cmp("1.0.0+a", "1.0.0+b"), 0);
	assert_int_equal(cmp("1.0.0+a", "1.0.0"), 0);
	assert_int_equal(cmp("1.0.0-rc.1+x.y", "1.0.0-rc.1"), 0);
	assert_int_equal(cmp("1.0.0-rc.1+zzz", "1.0.0-rc.2+aaa"), -1);
	assert_int_equal(cmp("1.0.0-alpha+001", "1.0.0-alpha"), 0);
}

static void test_semver_orders_prerelease_below_release(void **state)
{
	(void)state;
	assert_int_equal(cmp("1.0.0-zzz", "1.0.0"), -1);
	assert_int_equal(cmp("1.0.0-0", "1.0.0"), -1);
	assert_int_equal(cmp("1.0.0", "1.0.1-0"), -1);
	assert_int_equal(cmp("1.0.0-rc.1", "0.9.9"), 1);
}

static void test_semver_compares_long_numeric_prerelease_ids_without_overflow(void **state)
{
	(void)state;
	assert_accepted("1.0.0-99999999999999999999999");
	assert_int_equal(cmp("1.0.0-99999999999999999999999", "1.0.0-9999999999999999999999"), 1);
	assert_int_equal(cmp("1.0.0-18446744073709551616", "1.0.0-18446744073709551615"), 1);
	assert_int_equal(cmp("1.0.0-123456789012345678901", "1.0.0-123456789012345678902"), -1);
	assert_int_equal(cmp("1.0.0-x.123456789012345678901", "1.0.0-x.123456789012345678901"), 0);
	assert_int_equal(cmp("1.0.0-2", "1.0.0-10"), -1);
}

static void test_semver_orders_numeric_ids_below_alphanumeric(void **state)
{
	(void)state;
	assert_int_equal(cmp("1.0.0-99999999999999999999", "1.0.0-a"), -1);
	assert_int_equal(cmp("1.0.0-1", "1.0.0-0a"), -1);
	assert_int_equal(cmp("1.0.0-9", "1.0.0--"), -1);
	assert_int_equal(cmp("1.0.0-alpha.1", "1.0.0-alpha.beta"), -1);
}

static void test_semver_compares_alphanumeric_ids_in_ascii_order(void **state)
{
	(void)state;
	assert_int_equal(cmp("1.0.0-Z", "1.0.0-a"), -1);
	assert_int_equal(cmp("1.0.0--", "1.0.0-0a"), -1);
	assert_int_equal(cmp("1.0.0-alpha", "1.0.0-alphab"), -1);
	assert_int_equal(cmp("1.0.0-rc-1", "1.0.0-rc.1"), 1);
	assert_int_equal(cmp("1.0.0-x-y-z.--", "1.0.0-x-y-z.--"), 0);
}

static void test_semver_ranks_more_prerelease_fields_higher(void **state)
{
	(void)state;
	assert_int_equal(cmp("1.0.0-alpha", "1.0.0-alpha.0"), -1);
	assert_int_equal(cmp("1.0.0-a.b.c", "1.0.0-a.b"), 1);
	assert_int_equal(cmp("1.0.0-a.b.c", "1.0.0-a.c"), -1);
}

static void test_semver_cmp_compares_parsed_structs(void **state)
{
	struct mfs_semver a, b;

	(void)state;
	assert_int_equal(mfs_semver_parse("1.0.0-beta.11", &a), 0);
	assert_int_equal(mfs_semver_parse("1.0.0-beta.2", &b), 0);
	assert_true(mfs_semver_cmp(&a, &b) > 0);
	assert_true(mfs_semver_cmp(&b, &a) < 0);
	assert_int_equal(mfs_semver_cmp(&a, &a), 0);
}

static void test_semver_cmp_str_normalises_result(void **state)
{
	int c = 42;

	(void)state;
	assert_int_equal(mfs_semver_cmp_str("9.0.0", "1.0.0", &c), 0);
	assert_int_equal(c, 1);
	assert_int_equal(mfs_semver_cmp_str("1.0.0", "9.0.0", &c), 0);
	assert_int_equal(c, -1);
	assert_int_equal(mfs_semver_cmp_str("1.0.0+x", "1.0.0+y", &c), 0);
	assert_int_equal(c, 0);
}

static void test_semver_cmp_str_rejects_invalid_operands(void **state)
{
	int c = 42;

	(void)state;
	assert_int_equal(mfs_semver_cmp_str("v1.0.0", "1.0.0", &c), -EINVAL);
	assert_int_equal(mfs_semver_cmp_str("1.0.0", "1.0", &c), -EINVAL);
	assert_int_equal(mfs_semver_cmp_str("", "", &c), -EINVAL);
	assert_int_equal(c, 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_semver_parses_core_fields),
		cmocka_unit_test(test_semver_parses_zero_version),
		cmocka_unit_test(test_semver_borrows_prerelease_and_build_from_input),
		cmocka_unit_test(test_semver_parses_build_without_prerelease),
		cmocka_unit_test(test_semver_accepts_spec_examples),
		cmocka_unit_test(test_semver_accepts_zero_and_alphanumeric_prerelease_ids),
		cmocka_unit_test(test_semver_accepts_leading_zero_in_build),
		cmocka_unit_test(test_semver_accepts_uint64_max),
		cmocka_unit_test(test_semver_accepts_255_byte_string),
		cmocka_unit_test(test_semver_rejects_string_longer_than_255_bytes),
		cmocka_unit_test(test_semver_rejects_empty_string),
		cmocka_unit_test(test_semver_rejects_leading_v),
		cmocka_unit_test(test_semver_rejects_missing_parts),
		cmocka_unit_test(test_semver_rejects_extra_core_part),
		cmocka_unit_test(test_semver_rejects_leading_zero),
		cmocka_unit_test(test_semver_rejects_leading_zero_in_numeric_prerelease),
		cmocka_unit_test(test_semver_rejects_empty_prerelease_or_build),
		cmocka_unit_test(test_semver_rejects_empty_identifiers),
		cmocka_unit_test(test_semver_rejects_characters_outside_identifier_set),
		cmocka_unit_test(test_semver_rejects_surrounding_whitespace),
		cmocka_unit_test(test_semver_rejects_signs_in_core_numbers),
		cmocka_unit_test(test_semver_rejects_uint64_overflow),
		cmocka_unit_test(test_semver_leaves_ret_untouched_on_failure),
		cmocka_unit_test(test_semver_orders_spec_prerelease_chain),
		cmocka_unit_test(test_semver_orders_core_numerically),
		cmocka_unit_test(test_semver_ignores_build_metadata),
		cmocka_unit_test(test_semver_orders_prerelease_below_release),
		cmocka_unit_test(test_semver_compares_long_numeric_prerelease_ids_without_overflow),
		cmocka_unit_test(test_semver_orders_numeric_ids_below_alphanumeric),
		cmocka_unit_test(test_semver_compares_alphanumeric_ids_in_ascii_order),
		cmocka_unit_test(test_semver_ranks_more_prerelease_fields_higher),
		cmocka_unit_test(test_semver_cmp_compares_parsed_structs),
		cmocka_unit_test(test_semver_cmp_str_normalises_result),
		cmocka_unit_test(test_semver_cmp_str_rejects_invalid_operands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
