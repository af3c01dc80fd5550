/* semver.h - Semantic Versioning 2.0.0 parsing and precedence */

/*
 * Version names in modelfs are SemVer 2.0.0 strings, and alias moves, policy
 * decisions and "latest" all depend on their order, so this module decides
 * both what a valid version name is and how two of them compare. It is pure:
 * no I/O, no allocation, no locale, no global state, and it knows nothing of
 * LMDB or the rest of store/, so anything may call it from any thread.
 *
 * A parsed struct mfs_semver borrows its pre-release and build strings from
 * the string it was parsed from; it must not outlive that string.
 */
#ifndef MFS_SEMVER_H
#define MFS_SEMVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest accepted version string, in bytes, excluding the NUL. */
#define MFS_SEMVER_MAX_LEN 255

/* A parsed version. Caller-owned; nothing to release. */
struct mfs_semver {
	uint64_t major, minor, patch;
	const char *pre;	/* pre-release without '-', borrowed; NULL if none */
	size_t pre_len;		/* 0 = no pre-release */
	const char *build;	/* build metadata without '+', borrowed; NULL if none */
	size_t build_len;	/* 0 = no build metadata */
};

/*
 * Parse the NUL-terminated string s as a SemVer 2.0.0 version, exactly as the
 * specification's grammar has it: no leading 'v', no surrounding whitespace.
 *
 * Returns 0, or:
 *   -EINVAL if s is empty or longer than MFS_SEMVER_MAX_LEN bytes; if
 *           major, minor or patch is missing, has a leading zero or does not
 *           fit in uint64_t; if there are more than three core parts; if a
 *           pre-release or build identifier is empty or holds a character
 *           outside [0-9A-Za-z-]; or if a numeric pre-release identifier has
 *           a leading zero (build identifiers may have them).
 *
 * Ownership: *ret is written only on success; its pre and build pointers
 * borrow from s and are valid as long as s is.
 */
int mfs_semver_parse(const char *s, struct mfs_semver *ret);

/*
 * Compare the precedence of a and b per SemVer 2.0.0 §11: major, minor and
 * patch numerically; then a pre-release version is lower than the release;
 * then pre-release identifiers left to right, numeric ones numerically (at
 * any length, without overflow), alphanumeric ones in ASCII order, numeric
 * below alphanumeric, and more identifiers higher when all before are equal.
 * Build metadata is ignored, so 1.0.0+a and 1.0.0+b compare equal even though
 * their strings differ.
 *
 * Returns <0, 0 or >0 as a is lower than, equal to or higher than b. This
 * function can't fail; a and b must come from mfs_semver_parse().
 */
int mfs_semver_cmp(const struct mfs_semver *a, const struct mfs_semver *b);

/*
 * Parse a and b and compare them as mfs_semver_cmp() does.
 *
 * Returns 0, or:
 *   -EINVAL if a or b is not a valid version (see mfs_semver_parse()).
 *
 * Ownership: *ret_cmp is written only on success, with -1, 0 or 1.
 */
int mfs_semver_cmp_str(const char *a, const char *b, int *ret_cmp);

/* True if v has a pre-release part (1.0.0-rc.1), false for a release. */
static inline bool mfs_semver_is_prerelease(const struct mfs_semver *v)
{
	return v->pre_len != 0;
}

#endif /* MFS_SEMVER_H */
