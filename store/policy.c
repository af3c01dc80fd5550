/* policy.c - governance policy: validation, effective rules, gate checks */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "model.h"
#include "policy.h"

int mfs_policy_keep_last(struct mfs_store *st, uint64_t model_id,
			 unsigned *ret_keep_last)
{
	char *text;
	size_t len;
	cJSON *j, *k;
	int r;

	r = mfs_model_doc_get(st, model_id, MFS_DOC_POLICY, &text, &len);
	if (r < 0)
		return r;
	j = cJSON_ParseWithLength(text, len);
	free(text);
	k = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "retention"),
					     "keep_last");
	*ret_keep_last = cJSON_IsNumber(k) && k->valuedouble > 0 ? (unsigned)k->valuedouble : 0;
	cJSON_Delete(j);
	return 0;
}
