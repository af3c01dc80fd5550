/* meta.c - validation of user-written JSON documents */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "meta.h"

/*
 * cJSON has its own nesting limit (CJSON_NESTING_LIMIT, 1000); ours is
 * lower and checked before parsing so a JSON bomb costs a scan, not a tree.
 */

static int depth_ok(const char *buf, size_t len)
{
	int depth = 0;
	bool in_str = false, esc = false;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[') {
			if (++depth > MFS_META_DEPTH)
				return 0;
		} else if (c == '}' || c == ']')
			depth--;
	}
	return 1;
}

int mfs_meta_parse_object(const char *buf, size_t len, cJSON **ret, char *why,
			  size_t n)
{
	const char *end = NULL;
	cJSON *j;

	if (len > MFS_META_MAX) {
		snprintf(why, n, "is %zu bytes, more than the %u allowed", len,
			 MFS_META_MAX);
		return -EINVAL;
	}
	if (!depth_ok(buf, len)) {
		snprintf(why, n, "nests deeper than %d levels", MFS_META_DEPTH);
		return -EINVAL;
	}
	j = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (!j) {
		end = cJSON_GetErrorPtr();
		snprintf(why, n, "is not valid JSON (at byte %td)",
			 end && end >= buf && end <= buf + len ? end - buf : (ptrdiff_t)0);
		return -EINVAL;
	}
	for (; end && end < buf + len; end++) {
		if (*end != ' ' && *end != '\n' && *end != '\t' && *end != '\r' &&
		    *end != '\0') {
			cJSON_Delete(j);
			snprintf(why, n, "has trailing bytes after the JSON value (at byte %td)",
				 end - buf);
			return -EINVAL;
		}
	}
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		snprintf(why, n, "is not a JSON object");
		return -EINVAL;
	}
	*ret = j;
	return 0;
}

static bool valid_ref(const char *s)
{
	const char *at = strchr(s, '@');

	return at && at != s && at[1] && !strchr(at + 1, '@') && !strchr(s, '/');
}

static int check_string_list(cJSON *j, const char *key, bool refs, char *why,
			     size_t n)
{
	cJSON *it;

	if (!cJSON_IsArray(j)) {
		snprintf(why, n, "'%s' must be a list of strings", key);
		return -EINVAL;
	}
	cJSON_ArrayForEach(it, j) {
		if (!cJSON_IsString(it)) {
			snprintf(why, n, "'%s' must be a list of strings", key);
			return -EINVAL;
		}
		if (refs && !valid_ref(it->valuestring)) {
			snprintf(why, n, "'%s' entry '%.100s' is not of the form model@version",
				 key, it->valuestring);
			return -EINVAL;
		}
	}
	return 0;
}

int mfs_meta_validate_version(const char *buf, size_t len, const char *model,
			      const char *version, char **ret, char *why, size_t n)
{
	static const char *const strings[] = { "training_date", "dataset_snapshot_id",
		"feature_set_version", "run_id", "experiment", "code_commit",
		"description" };
	cJSON *j = NULL, *it;
	char *out = NULL;
	int r;

	r = mfs_meta_parse_object(buf, len, &j, why, n);
	if (r < 0)
		return r;
	r = -EINVAL;
	cJSON_DeleteItemFromObjectCaseSensitive(j, "registry");
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		it = cJSON_GetObjectItemCaseSensitive(j, strings[i]);
		if (it && !cJSON_IsString(it)) {
			snprintf(why, n, "'%s' must be a string", strings[i]);
			goto out;
		}
	}
	it = cJSON_GetObjectItemCaseSensitive(j, "model_name");
	if (it && (!cJSON_IsString(it) || strcmp(it->valuestring, model))) {
		snprintf(why, n, "'model_name' does not match the model '%s'", model);
		goto out;
	}
	it = cJSON_GetObjectItemCaseSensitive(j, "version");
	if (it && (!cJSON_IsString(it) || strcmp(it->valuestring, version))) {
		snprintf(why, n, "'version' does not match the version '%s'", version);
		goto out;
	}
	it = cJSON_GetObjectItemCaseSensitive(j, "metrics");
	if (it) {
		cJSON *m;

		if (!cJSON_IsObject(it)) {
			snprintf(why, n, "'metrics' must be an object of numbers");
			goto out;
		}
		cJSON_ArrayForEach(m, it) {
			if (!cJSON_IsNumber(m)) {
				snprintf(why, n, "metric '%.100s' must be a number", m->string);
				goto out;
			}
		}
	}
	it = cJSON_GetObjectItemCaseSensitive(j, "hyperparameters");
	if (it && !cJSON_IsObject(it)) {
		snprintf(why, n, "'hyperparameters' must be an object");
		goto out;
	}
	it = cJSON_GetObjectItemCaseSensitive(j, "library_versions");
	if (it && !cJSON_IsObject(it)) {
		snprintf(why, n, "'library_versions' must be an object");
		goto out;
	}
	it = cJSON_GetObjectItemCaseSensitive(j, "features");
	if (it && !cJSON_IsArray(it) && !cJSON_IsObject(it)) {
		snprintf(why, n, "'features' must be a list or an input schema object");
		goto out;
	}
	if ((it = cJSON_GetObjectItemCaseSensitive(j, "parents")) &&
	    check_string_list(it, "parents", true, why, n) < 0)
		goto out;
	if ((it = cJSON_GetObjectItemCaseSensitive(j, "depends_on")) &&
	    check_string_list(it, "depends_on", true, why, n) < 0)
		goto out;
	if ((it = cJSON_GetObjectItemCaseSensitive(j, "tags")) && !cJSON_IsObject(it) &&
	    check_string_list(it, "tags", false, why, n) < 0)
		goto out;
	out = cJSON_PrintUnformatted(j);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	*ret = out;
	r = 0;
out:
	cJSON_Delete(j);
	return r;
}
