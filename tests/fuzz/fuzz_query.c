/* fuzz_query.c - libFuzzer harness: `modelctl find` expressions */

/*
 * The input is an expression on the first line, then a JSON version
 * object (anything else stands for an empty object). A refused expression
 * must say why and point at a column inside it, or just past its end. An
 * accepted one is evaluated against the object, and so is its negation
 * "not (E)", which must parse too (unless that nests it too deep) and
 * give the opposite answer.
 */
#include <errno.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size, false };
	char *text = fuzz_field(&in), *neg_text;
	struct mfs_query *q = NULL, *neg = NULL;
	cJSON *obj;
	char why[256] = "";
	int col = 0, r;
	bool m;

	r = mfs_query_parse(text, &q, &col, why, sizeof(why));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r < 0) {
		FUZZ_CHECK(q == NULL && why[0] != '\0');
		FUZZ_CHECK(col >= 1 && (size_t)col <= strlen(text) + 1);
		free(text);
		return 0;
	}
	obj = in.n ? cJSON_ParseWithLength((const char *)in.p, in.n) : NULL;
	if (!cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		obj = cJSON_CreateObject();
		FUZZ_CHECK(obj != NULL);
	}
	m = mfs_query_match(q, obj);
	(void)mfs_query_uses(q, "format");

	neg_text = malloc(strlen(text) + sizeof("not ()"));
	FUZZ_CHECK(neg_text != NULL);
	sprintf(neg_text, "not (%s)", text);
	r = mfs_query_parse(neg_text, &neg, &col, why, sizeof(why));
	/* Wrapping nests E two levels deeper, past the limit perhaps. */
	FUZZ_CHECK(r == 0 || (r == -EINVAL && strstr(why, "deeper than")));
	FUZZ_CHECK(!neg || mfs_query_match(neg, obj) == !m);

	mfs_query_free(neg);
	free(neg_text);
	cJSON_Delete(obj);
	mfs_query_free(q);
	free(text);
	return 0;
}
