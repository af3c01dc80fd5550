/* fuzz_policy.c - libFuzzer harness: the policy validator */

/*
 * The input is a policy.json as a user writes it, `size` bytes with no NUL
 * after them. Properties the header promises: a refusal is -EINVAL with a
 * reason naming a field ("<path>: <complaint>" or "it ..." for JSON that is
 * not an object); everything a model's policy may say, the registry's may
 * too (the registry's adds "naming"); validation is a pure function (the
 * same answer twice).
 */
#include <errno.h>

#include "fuzz.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1), why[512], why2[512];
	int model, registry, again;

	if (!buf)
		abort();
	if (size)
		memcpy(buf, data, size);
	why[0] = why2[0] = '\0';
	model = mfs_policy_validate(buf, size, false, why, sizeof(why));
	registry = mfs_policy_validate(buf, size, true, NULL, 0);
	again = mfs_policy_validate(buf, size, false, why2, sizeof(why2));
	FUZZ_CHECK(model == 0 || model == -EINVAL);
	FUZZ_CHECK(registry == 0 || registry == -EINVAL);
	FUZZ_CHECK(again == model && strcmp(why, why2) == 0);
	if (model < 0)
		FUZZ_CHECK(why[0] != '\0' && (strchr(why, ':') || !strncmp(why, "it ", 3)));
	if (model == 0)
		FUZZ_CHECK(registry == 0);
	free(buf);
	return 0;
}
