/* fuzz_meta.c - libFuzzer harness: metadata parsing and validation */

/*
 * The input is a metadata.json as a user would write it, handed over as
 * exactly `size` bytes with no NUL after them (the header says the buffer
 * need not be NUL-terminated, and ASan sees any read past it).
 *
 * What is checked follows what the store does with a document:
 * version.c stores mfs_meta_validate_version()'s text up to its NUL, and
 * renders metadata.json by mfs_meta_merge_registry() on that text. So a
 * validated text must parse again as an object without "registry",
 * validate again to itself, and merge into an object whose "registry" is
 * the one added. mfs_meta_print() of a parsed object must parse back and
 * print the same. Only -EINVAL is a refusal: nothing here runs out of
 * memory.
 */
#include <errno.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "meta.h"

#define MODEL "m"
#define VERSION "1.0.0"
#define REGISTRY "{\"id\": 7}"

/* Printing is a fixed point after one round: print(parse(print(j))) is
 * print(j). (A tree comparison would trip on duplicate keys.) */
static void check_printed(const cJSON *j)
{
	char *text = mfs_meta_print(j, 2), *again;
	cJSON *back;

	FUZZ_CHECK(text != NULL);
	back = cJSON_Parse(text);
	FUZZ_CHECK(back != NULL);
	again = mfs_meta_print(back, 2);
	FUZZ_CHECK(again != NULL && strcmp(again, text) == 0);
	cJSON_Delete(back);
	free(again);
	free(text);
}

static void check_validated(const char *text)
{
	size_t len = strlen(text);
	char why[256] = "", *again = NULL, *merged;
	cJSON *j = NULL, *reg;

	FUZZ_CHECK(mfs_meta_parse_object(text, len, &j, why, sizeof(why)) == 0);
	FUZZ_CHECK(cJSON_GetObjectItemCaseSensitive(j, "registry") == NULL);
	cJSON_Delete(j);
	FUZZ_CHECK(mfs_meta_validate_version(text, len, MODEL, VERSION, &again, why,
					     sizeof(why)) == 0);
	FUZZ_CHECK(strcmp(again, text) == 0);
	free(again);

	merged = mfs_meta_merge_registry(text, len, REGISTRY);
	FUZZ_CHECK(merged != NULL);
	j = NULL;
	FUZZ_CHECK(mfs_meta_parse_object(merged, strlen(merged), &j, why, sizeof(why)) == 0);
	reg = cJSON_GetObjectItemCaseSensitive(j, "registry");
	FUZZ_CHECK(cJSON_IsObject(reg) &&
		   cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(reg, "id")) == 7);
	cJSON_Delete(j);
	free(merged);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char why[256] = "", *out = NULL;
	cJSON *j = NULL;
	int parsed, r;

	parsed = mfs_meta_parse_object(buf, size, &j, why, sizeof(why));
	FUZZ_CHECK(parsed == 0 || parsed == -EINVAL);
	if (parsed == 0) {
		FUZZ_CHECK(cJSON_IsObject(j));
		check_printed(j);
		cJSON_Delete(j);
	} else {
		FUZZ_CHECK(why[0] != '\0' && j == NULL);
	}

	why[0] = '\0';
	r = mfs_meta_validate_version(buf, size, MODEL, VERSION, &out, why, sizeof(why));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r < 0) {
		FUZZ_CHECK(why[0] != '\0' && out == NULL);
		return 0;
	}
	FUZZ_CHECK(parsed == 0);
	check_validated(out);
	free(out);
	return 0;
}
