/* test_perm.c - unit tests for store/perm.c */

/*
 * perm is pure, so these tests need no temp-store fixture. The object is
 * always owned by OWNER:GROUP; callers are its owner, a member of its group,
 * someone else, root, or NULL (the daemon itself). POSIX picks exactly one
 * class of bits - owner, else group, else other - so an owner is refused
 * what only "other" may do. The exhaustive tests compare every mode and
 * every R/W/X mask against that rule written out independently.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "perm.h"

#define OWNER 1000
#define GROUP 100

static const struct mfs_caller owner = { .uid = OWNER, .gid = 5000, .pid = 1 };
static const struct mfs_caller member = { .uid = 2000, .gid = GROUP, .pid = 1 };
static const struct mfs_caller other = { .uid = 3000, .gid = 3000, .pid = 1 };
static const struct mfs_caller owner_in_group = { .uid = OWNER, .gid = GROUP,
						  .pid = 1 };
static const struct mfs_caller root = { .uid = 0, .gid = 0, .pid = 1 };

static int check(const struct mfs_caller *c, mode_t mode, int want)
{
	return mfs_perm_check(c, OWNER, GROUP, mode, want);
}

/* The POSIX rule, for a class's three bits. */
static int expected(unsigned bits, int want)
{
	if ((want & R_OK) && !(bits & 4))
		return -EACCES;
	if ((want & W_OK) && !(bits & 2))
		return -EACCES;
	if ((want & X_OK) && !(bits & 1))
		return -EACCES;
	return 0;
}

/* Every permission mode and every mask for caller c, whose class is the
 * bits at shift. */
static void assert_class(const struct mfs_caller *c, unsigned shift, mode_t type)
{
	for (mode_t perm = 0; perm <= 0777; perm++) {
		for (int want = 0; want <= (R_OK | W_OK | X_OK); want++) {
			int got = check(c, type | perm, want);
			int exp = expected((perm >> shift) & 7, want);

			if (got != exp)
				fail_msg("uid %u gid %u mode %o want %d: got %d, want %d",
					 (unsigned)c->uid, (unsigned)c->gid,
					 (unsigned)(type | perm), want, got, exp);
		}
	}
}

/* ---- owner ---- */

static void test_perm_owner_gets_owner_bits(void **state)
{
	(void)state;
	assert_int_equal(check(&owner, S_IFREG | 0400, R_OK), 0);
	assert_int_equal(check(&owner, S_IFREG | 0200, W_OK), 0);
	assert_int_equal(check(&owner, S_IFREG | 0100, X_OK), 0);
	assert_int_equal(check(&owner, S_IFREG | 0600, R_OK | W_OK), 0);
	assert_int_equal(check(&owner, S_IFREG | 0700, R_OK | W_OK | X_OK), 0);
	assert_int_equal(check(&owner, S_IFDIR | 0500, R_OK | X_OK), 0);
}

static void test_perm_owner_is_refused_missing_owner_bits(void **state)
{
	(void)state;
	assert_int_equal(check(&owner, S_IFREG | 0300, R_OK), -EACCES);
	assert_int_equal(check(&owner, S_IFREG | 0500, W_OK), -EACCES);
	assert_int_equal(check(&owner, S_IFREG | 0600, X_OK), -EACCES);
	assert_int_equal(check(&owner, S_IFREG | 0400, R_OK | W_OK), -EACCES);
	assert_int_equal(check(&owner, S_IFREG | 0600, R_OK | W_OK | X_OK), -EACCES);
	assert_int_equal(check(&owner, S_IFDIR | 0600, X_OK), -EACCES);
}

static void test_perm_owner_is_not_granted_group_or_other_bits(void **state)
{
	(void)state;
	assert_int_equal(check(&owner, S_IFREG | 0077, R_OK), -EACCES);
	assert_int_equal(check(&owner, S_IFREG | 0077, W_OK), -EACCES);
	assert_int_equal(check(&owner, S_IFREG | 0077, X_OK), -EACCES);
	/* owner wins over group even when the caller is also in the group */
	assert_int_equal(check(&owner_in_group, S_IFREG | 0070, R_OK), -EACCES);
	assert_int_equal(check(&owner_in_group, S_IFREG | 0470, R_OK), 0);
}

/* ---- group ---- */

static void test_perm_group_member_gets_group_bits(void **state)
{
	(void)state;
	assert_int_equal(check(&member, S_IFREG | 0040, R_OK), 0);
	assert_int_equal(check(&member, S_IFREG | 0020, W_OK), 0);
	assert_int_equal(check(&member, S_IFREG | 0010, X_OK), 0);
	assert_int_equal(check(&member, S_IFREG | 0070, R_OK | W_OK | X_OK), 0);
	assert_int_equal(check(&member, S_IFDIR | 0050, R_OK | X_OK), 0);
}

static void test_perm_group_member_is_refused_missing_group_bits(void **state)
{
	(void)state;
	assert_int_equal(check(&member, S_IFREG | 0030, R_OK), -EACCES);
	assert_int_equal(check(&member, S_IFREG | 0050, W_OK), -EACCES);
	assert_int_equal(check(&member, S_IFREG | 0060, X_OK), -EACCES);
	assert_int_equal(check(&member, S_IFREG | 0060, R_OK | W_OK | X_OK), -EACCES);
}

static void test_perm_group_member_is_not_granted_owner_or_other_bits(void **state)
{
	(void)state;
	assert_int_equal(check(&member, S_IFREG | 0707, R_OK), -EACCES);
	assert_int_equal(check(&member, S_IFREG | 0707, W_OK), -EACCES);
	assert_int_equal(check(&member, S_IFREG | 0707, X_OK), -EACCES);
}

/* ---- other ---- */

static void test_perm_other_gets_other_bits(void **state)
{
	(void)state;
	assert_int_equal(check(&other, S_IFREG | 0004, R_OK), 0);
	assert_int_equal(check(&other, S_IFREG | 0002, W_OK), 0);
	assert_int_equal(check(&other, S_IFREG | 0001, X_OK), 0);
	assert_int_equal(check(&other, S_IFREG | 0007, R_OK | W_OK | X_OK), 0);
	assert_int_equal(check(&other, S_IFDIR | 0755, R_OK | X_OK), 0);
}

static void test_perm_other_is_refused_owner_and_group_bits(void **state)
{
	(void)state;
	assert_int_equal(check(&other, S_IFREG | 0770, R_OK), -EACCES);
	assert_int_equal(check(&other, S_IFREG | 0770, W_OK), -EACCES);
	assert_int_equal(check(&other, S_IFREG | 0770, X_OK), -EACCES);
	assert_int_equal(check(&other, S_IFREG | 0644, W_OK), -EACCES);
	assert_int_equal(check(&other, S_IFREG | 0644, R_OK | W_OK), -EACCES);
	assert_int_equal(check(&other, S_IFDIR | 0754, X_OK), -EACCES);
}

static void test_perm_existence_check_passes_for_everyone(void **state)
{
	(void)state;
	assert_int_equal(check(&owner, S_IFREG | 0000, F_OK), 0);
	assert_int_equal(check(&member, S_IFREG | 0000, F_OK), 0);
	assert_int_equal(check(&other, S_IFREG | 0000, F_OK), 0);
}

static void test_perm_owner_follows_posix_for_every_mode(void **state)
{
	(void)state;
	assert_class(&owner, 6, S_IFREG);
	assert_class(&owner, 6, S_IFDIR);
	assert_class(&owner_in_group, 6, S_IFREG);
}

static void test_perm_group_member_follows_posix_for_every_mode(void **state)
{
	(void)state;
	assert_class(&member, 3, S_IFREG);
	assert_class(&member, 3, S_IFDIR);
}

static void test_perm_other_follows_posix_for_every_mode(void **state)
{
	(void)state;
	assert_class(&other, 0, S_IFREG);
	assert_class(&other, 0, S_IFDIR);
}

/* ---- root ---- */

static void test_perm_root_may_always_read_and_write(void **state)
{
	(void)state;
	for (mode_t perm = 0; perm <= 0777; perm++) {
		assert_int_equal(check(&root, S_IFREG | perm, R_OK), 0);
		assert_int_equal(check(&root, S_IFREG | perm, W_OK), 0);
		assert_int_equal(check(&root, S_IFREG | perm, R_OK | W_OK), 0);
		assert_int_equal(check(&root, S_IFDIR | perm, R_OK | W_OK), 0);
	}
}

static void test_perm_root_may_execute_file_with_any_x_bit(void **state)
{
	(void)state;
	assert_int_equal(check(&root, S_IFREG | 0100, X_OK), 0);
	assert_int_equal(check(&root, S_IFREG | 0010, X_OK), 0);
	assert_int_equal(check(&root, S_IFREG | 0001, X_OK), 0);
	assert_int_equal(check(&root, S_IFREG | 0001, R_OK | W_OK | X_OK), 0);
}

static void test_perm_root_is_refused_execute_of_file_without_x_bits(void **state)
{
	(void)state;
	assert_int_equal(check(&root, S_IFREG | 0000, X_OK), -EACCES);
	assert_int_equal(check(&root, S_IFREG | 0666, X_OK), -EACCES);
	assert_int_equal(check(&root, S_IFREG | 0666, R_OK | X_OK), -EACCES);
	assert_int_equal(check(&root, S_IFREG | 0666, R_OK | W_OK | X_OK), -EACCES);
	/* a mode without type bits is not a directory */
	assert_int_equal(check(&root, 0644, X_OK), -EACCES);
}

static void test_perm_root_may_always_search_directories(void **state)
{
	(void)state;
	for (mode_t perm = 0; perm <= 0777; perm++)
		assert_int_equal(check(&root, S_IFDIR | perm, R_OK | W_OK | X_OK), 0);
}

static void test_perm_root_ignores_owner_and_group(void **state)
{
	(void)state;
	assert_int_equal(mfs_perm_check(&root, 0, 0, S_IFREG | 0000, R_OK | W_OK), 0);
	assert_int_equal(mfs_perm_check(&root, 0, 0, S_IFREG | 0600, X_OK), -EACCES);
}

static void test_perm_root_group_alone_grants_nothing_special(void **state)
{
	/* gid 0 is an ordinary group: only uid 0 is privileged */
	const struct mfs_caller wheel = { .uid = 4000, .gid = 0, .pid = 1 };

	(void)state;
	assert_int_equal(mfs_perm_check(&wheel, OWNER, 0, S_IFREG | 0600, R_OK),
			 -EACCES);
	assert_int_equal(mfs_perm_check(&wheel, OWNER, 0, S_IFREG | 0640, R_OK), 0);
}

/* ---- NULL caller ---- */

static void test_perm_null_caller_always_passes(void **state)
{
	(void)state;
	for (mode_t perm = 0; perm <= 0777; perm++) {
		for (int want = 0; want <= (R_OK | W_OK | X_OK); want++) {
			assert_int_equal(check(NULL, S_IFREG | perm, want), 0);
			assert_int_equal(check(NULL, S_IFDIR | perm, want), 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_perm_owner_gets_owner_bits),
		cmocka_unit_test(test_perm_owner_is_refused_missing_owner_bits),
		cmocka_unit_test(test_perm_owner_is_not_granted_group_or_other_bits),
		cmocka_unit_test(test_perm_group_member_gets_group_bits),
		cmocka_unit_test(test_perm_group_member_is_refused_missing_group_bits),
		cmocka_unit_test(test_perm_group_member_is_not_granted_owner_or_other_bits),
		cmocka_unit_test(test_perm_other_gets_other_bits),
		cmocka_unit_test(test_perm_other_is_refused_owner_and_group_bits),
		cmocka_unit_test(test_perm_existence_check_passes_for_everyone),
		cmocka_unit_test(test_perm_owner_follows_posix_for_every_mode),
		cmocka_unit_test(test_perm_group_member_follows_posix_for_every_mode),
		cmocka_unit_test(test_perm_other_follows_posix_for_every_mode),
		cmocka_unit_test(test_perm_root_may_always_read_and_write),
		cmocka_unit_test(test_perm_root_may_execute_file_with_any_x_bit),
		cmocka_unit_test(test_perm_root_is_refused_execute_of_file_without_x_bits),
		cmocka_unit_test(test_perm_root_may_always_search_directories),
		cmocka_unit_test(test_perm_root_ignores_owner_and_group),
		cmocka_unit_test(test_perm_root_group_alone_grants_nothing_special),
		cmocka_unit_test(test_perm_null_caller_always_passes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
