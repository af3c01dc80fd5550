/* fuzz_alias_target.c - libFuzzer harness: alias target normalisation */

/*
 * The input is "target\nmount\nmodel": a missing mount line means no mount
 * (NULL), a missing model line the model "m". mfs_alias_target_parse()
 * must answer 0 or -EINVAL, leave the caller's buffer alone on failure,
 * and on success name a valid SemVer version that the target spells out,
 * which "versions/<it>" must normalise to again, and which a buffer one
 * byte too short must refuse.
 */
#include <errno.h>

#include "alias.h"
#include "fuzz.h"
#include "semver.h"

#define POISON "poison"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size, false };
	char *target = fuzz_field(&in), *mount = fuzz_field(&in), *model = fuzz_field(&in);
	char v[MFS_NAME_MAX + 1] = POISON, again[MFS_NAME_MAX + 1] = POISON;
	char canon[MFS_NAME_MAX + 16];
	struct mfs_semver sv;
	size_t len;
	int r;

	r = mfs_alias_target_parse(target, mount, model ? model : "m", v, sizeof(v));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r < 0) {
		FUZZ_CHECK(strcmp(v, POISON) == 0);
		goto out;
	}
	len = strlen(v);
	FUZZ_CHECK(len > 0 && len <= MFS_SEMVER_MAX_LEN);
	FUZZ_CHECK(mfs_semver_parse(v, &sv) == 0);
	FUZZ_CHECK(strstr(target, v) != NULL);
	/* Absolute targets are only accepted through the mount given. */
	if (target[0] == '/')
		FUZZ_CHECK(mount && *mount && !strncmp(target, mount, strlen(mount)));
	snprintf(canon, sizeof(canon), "versions/%s", v);
	FUZZ_CHECK(mfs_alias_target_parse(canon, NULL, "m", again, sizeof(again)) == 0);
	FUZZ_CHECK(strcmp(again, v) == 0);
	/* The version needs len + 1 bytes, no more. */
	strcpy(again, POISON);
	FUZZ_CHECK(mfs_alias_target_parse(target, mount, model ? model : "m", again, len) ==
		   -EINVAL);
	FUZZ_CHECK(strcmp(again, POISON) == 0);
	FUZZ_CHECK(mfs_alias_target_parse(target, mount, model ? model : "m", again, len + 1) ==
		   0);
	FUZZ_CHECK(strcmp(again, v) == 0);
out:
	free(target);
	free(mount);
	free(model);
	return 0;
}
