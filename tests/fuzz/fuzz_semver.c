/* fuzz_semver.c - libFuzzer harness: SemVer parsing and precedence */

/*
 * The input is up to three versions, one a line. Each one that parses must
 * print back to exactly its own text and compare equal to itself; every
 * pair must compare antisymmetrically (and mfs_semver_cmp_str() must agree
 * with mfs_semver_cmp()), equal precedence must mean equal core and
 * pre-release, and the three must compare transitively.
 */
#include <errno.h>
#include <inttypes.h>

#include "fuzz.h"
#include "semver.h"

#define N 3

/* A parsed version printed back must be the text it was parsed from. */
static void check_round_trip(const char *s, const struct mfs_semver *v)
{
	char back[MFS_SEMVER_MAX_LEN + 64];
	size_t len = strlen(s);

	snprintf(back, sizeof(back), "%" PRIu64 ".%" PRIu64 ".%" PRIu64 "%s%.*s%s%.*s",
		 v->major, v->minor, v->patch, v->pre_len ? "-" : "", (int)v->pre_len,
		 v->pre ? v->pre : "", v->build_len ? "+" : "", (int)v->build_len,
		 v->build ? v->build : "");
	FUZZ_CHECK(strcmp(back, s) == 0);
	/* pre and build are borrowed from s, inside it. */
	FUZZ_CHECK(!v->pre_len || (v->pre > s && v->pre + v->pre_len <= s + len));
	FUZZ_CHECK(!v->build_len || (v->build > s && v->build + v->build_len == s + len));
	FUZZ_CHECK(mfs_semver_is_prerelease(v) == (v->pre_len != 0));
	FUZZ_CHECK(mfs_semver_cmp(v, v) == 0);
}

static bool same_precedence_fields(const struct mfs_semver *a, const struct mfs_semver *b)
{
	return a->major == b->major && a->minor == b->minor && a->patch == b->patch &&
	       a->pre_len == b->pre_len && (!a->pre_len || !memcmp(a->pre, b->pre, a->pre_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size, false };
	struct mfs_semver v[N];
	char *s[N] = { NULL };
	bool ok[N] = { false };
	int c[N][N];

	for (int i = 0; i < N; i++) {
		s[i] = fuzz_field(&in);
		if (!s[i])
			break;
		ok[i] = mfs_semver_parse(s[i], &v[i]) == 0;
		if (ok[i])
			check_round_trip(s[i], &v[i]);
	}
	for (int i = 0; i < N && s[i]; i++) {
		for (int j = 0; j < N && s[j]; j++) {
			int got = 42, r = mfs_semver_cmp_str(s[i], s[j], &got);

			if (!ok[i] || !ok[j]) {
				FUZZ_CHECK(r == -EINVAL && got == 42);
				continue;
			}
			c[i][j] = fuzz_sign(mfs_semver_cmp(&v[i], &v[j]));
			FUZZ_CHECK(r == 0 && got == c[i][j]);
			FUZZ_CHECK(c[i][j] != 0 || same_precedence_fields(&v[i], &v[j]));
			if (j < i)
				FUZZ_CHECK(c[i][j] == -c[j][i]);
		}
	}
	if (ok[0] && ok[1] && ok[2]) {
		/* Every order of the three must be consistent: a <= b <= c => a <= c. */
		for (int a = 0; a < N; a++)
			for (int b = 0; b < N; b++)
				for (int d = 0; d < N; d++)
					FUZZ_CHECK(!(c[a][b] <= 0 && c[b][d] <= 0) || c[a][d] <= 0);
	}
	for (int i = 0; i < N; i++)
		free(s[i]);
	return 0;
}
