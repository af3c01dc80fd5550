/* test_rules.c - unit tests for alias rules through the store's API */

/*
 * Who may move an alias (policy.c's user and group lists, by group name
 * through the caller's groups), whose link may become a restricted alias
 * (alias.c), and which approvals a gate counts (annot.c). Callers are
 * made up; group names use the groups every Debian system has (root, and
 * nogroup of the account nobody).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fixture.h"
#include "alias.h"
#include "promote.h"
#include "annot.h"
#include "doc.h"

#define NOBODY 65534

static void policy(struct fixture *f, uint64_t mid, const char *doc)
{
	assert_int_equal(mfs_model_doc_set(f->st, &f->me, mid, MFS_DOC_POLICY, doc,
					   strlen(doc)), 0);
}

static void test_rules_group_names_match_the_caller_s_groups(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t v = fx_sealed(f, mid, "1.0.0", "a", "one");
	gid_t root_group = 0;
	struct mfs_caller primary = { .uid = 5001, .gid = 0, .pid = 1 };
	struct mfs_caller supplementary = { .uid = 5003, .gid = 5003, .pid = 1,
					    .ngroups = 1, .groups = &root_group };
	struct mfs_caller outsider = { .uid = 5002, .gid = 5002, .pid = 1 };

	if (f->me.uid != 0)
		skip();		/* callers of other uids need a root store */
	policy(f, mid, "{\"aliases\": {\"production\": {\"groups\": [\"root\"], "
		       "\"protected\": false}}}");
	assert_int_equal(mfs_alias_set(f->st, &outsider, mid, "production", v), -EACCES);
	assert_int_equal(mfs_alias_set(f->st, &primary, mid, "production", v), 0);
	assert_int_equal(mfs_alias_remove(f->st, &supplementary, mid, "production"), 0);
}

static void test_rules_a_link_set_by_another_cannot_become_a_restricted_alias(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t v1 = fx_sealed(f, mid, "1.0.0", "a", "one");
	uint64_t v2 = fx_sealed(f, mid, "2.0.0", "a", "two");
	struct mfs_caller carol = { .uid = 5001, .gid = 5001, .pid = 1 };
	struct mfs_caller bob = { .uid = 5002, .gid = 5002, .pid = 2 };
	struct mfs_alias_info ai;

	if (f->me.uid != 0)
		skip();
	policy(f, mid, "{\"aliases\": {\"production\": {\"users\": [5001]}, "
		       "\"staging\": {\"users\": [5002]}}}");
	/* bob may touch names without a rule (the default rule: he is named
	 * in one), not production */
	assert_int_equal(mfs_alias_set(f->st, &bob, mid, "production", v2), -EACCES);
	assert_int_equal(mfs_alias_set(f->st, &bob, mid, "tmp", v2), 0);
	assert_int_equal(mfs_alias_rename(f->st, &carol, mid, "tmp", "production", 0), -EACCES);
	assert_int_equal(mfs_alias_get(f->st, mid, "tmp", &ai), 0);
	/* her own link, and an admin's rename of anyone's */
	assert_int_equal(mfs_alias_set(f->st, &carol, mid, "mine", v1), 0);
	assert_int_equal(mfs_alias_rename(f->st, &carol, mid, "mine", "production", 0), 0);
	assert_int_equal(mfs_alias_rename(f->st, &carol, mid, "tmp", "production",
					  MFS_ALIAS_EXCHANGE), -EACCES);
	assert_int_equal(mfs_alias_rename(f->st, &f->me, mid, "tmp", "production", 0), 0);
	assert_int_equal(mfs_alias_get(f->st, mid, "production", &ai), 0);
	assert_string_equal(ai.version, "2.0.0");
}

static void test_rules_approvals_count_only_approvers_named_at_the_move(void **state)
{
	struct fixture *f = *state;
	uint64_t mid = fx_model(f, "m");
	uint64_t v1 = fx_sealed(f, mid, "1.0.0", "a", "one");
	uint64_t v2 = fx_sealed(f, mid, "2.0.0", "a", "two");
	struct mfs_caller ghost = { .uid = 5001, .gid = 0, .pid = 1 };	/* no account */
	struct mfs_caller nobody = { .uid = NOBODY, .gid = NOBODY, .pid = 2 };
	static const char p[] = "production";

	if (f->me.uid != 0)
		skip();
	policy(f, mid, "{\"aliases\": {\"production\": {\"approvals\": 1}}}");
	assert_int_equal(mfs_version_approve(f->st, &ghost, v1, p, strlen(p)), 0);
	assert_int_equal(mfs_version_approve(f->st, &ghost, v2, p, strlen(p)), 0);
	assert_int_equal(mfs_alias_set(f->st, &f->me, mid, "production", v1), 0);
	/* Now only members of nogroup may approve: the ghost's approval of
	 * 2.0.0 was given before, and it has no account, so no group. */
	policy(f, mid, "{\"aliases\": {\"production\": {\"approvals\": 1, "
		       "\"approvers\": {\"groups\": [\"nogroup\"]}}}}");
	assert_int_equal(mfs_alias_set(f->st, &f->me, mid, "production", v2), -EPERM);
	assert_int_equal(mfs_version_approve(f->st, &nobody, v2, p, strlen(p)), 0);
	assert_int_equal(mfs_alias_set(f->st, &f->me, mid, "production", v2), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_rules_group_names_match_the_caller_s_groups),
		T(test_rules_a_link_set_by_another_cannot_become_a_restricted_alias),
		T(test_rules_approvals_count_only_approvers_named_at_the_move),
	};

	fx_quiet_logs();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
