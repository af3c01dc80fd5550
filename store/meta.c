/* meta.c - validation of user-written JSON documents */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "meta.h"

/*
 * Checked before parsing, in one pass, so a JSON bomb costs a scan, not a
 * tree: nesting (cJSON's own limit, 1000, is higher than ours), and UTF-8
 * (cJSON passes any byte through).
 *
 * The same scan refuses what cJSON lets through but JSON (RFC 8259) does
 * not, where the rest of modelfs would go wrong on it: cJSON skips every
 * byte up to 0x20 as white space, NUL included, and a leading UTF-8 byte
 * order mark, and it keeps raw control characters inside strings, cutting
 * a string at a raw NUL. cut_registry() and mfs_meta_merge_registry()
 * know JSON's four white space characters only (one failed with ENOMEM on
 * "\0{}"), version.c stores the validated text up to its first NUL, and
 * the readers of metadata.json (Python's json, jq) refuse such bytes. NULs
 * after the value stay accepted, as they always were: no stored text ends
 * before the value does because of them.
 */

static bool is_json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Are the len - i bytes from i all NULs or white space? */
static bool only_padding(const char *buf, size_t i, size_t len)
{
	for (; i < len; i++)
		if (buf[i] != '\0' && !is_json_ws(buf[i]))
			return false;
	return true;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

bool mfs_meta_text_ok(const char *s, size_t n)
{
	const unsigned char *b = (const unsigned char *)s;

	for (size_t i = 0, l; i < n; i += l) {
		l = utf8_len(b + i, n - i);
		if (!l || b[i] < 0x20 || b[i] == 0x7f)
			return false;
	}
	return true;
}

static int scan(const char *buf, size_t len, char *why, size_t n)
{
	const unsigned char *b = (const unsigned char *)buf;
	int depth = 0;
	bool in_str = false, esc = false;

	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) {
		snprintf(why, n, "starts with a byte order mark, which JSON text has not");
		return -EINVAL;
	}
	for (size_t i = 0, l; i < len; i += l) {
		unsigned char c = b[i];

		l = utf8_len(b + i, len - i);
		if (!l) {
			snprintf(why, n, "is not valid UTF-8 (at byte %zu)", i);
			return -EINVAL;
		}
		if (in_str) {
			if (c < 0x20) {
				snprintf(why, n, "has a raw control character (0x%02x) in a string (at byte %zu)",
					 c, i);
				return -EINVAL;
			}
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '\0' && only_padding(buf, i, len))
			break;
		if (c < 0x20 && !is_json_ws((char)c)) {
			snprintf(why, n, "has a control character (0x%02x) outside strings (at byte %zu)",
				 c, i);
			return -EINVAL;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > MFS_META_DEPTH) {
				snprintf(why, n, "nests deeper than %d levels", MFS_META_DEPTH);
				return -EINVAL;
			}
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first member name that appears twice in an object of j, or NULL.
 * RFC 8259 leaves duplicates to each parser: one gate could read the
 * first "auc" and another the last. skip: a top-level name exempt (the
 * "registry" member is ours and cut out, every copy of it). */
static const char *duplicate_key(const cJSON *j, const char *skip)
{
	const cJSON *it;
	const char **names = NULL;
	const char *dup = NULL;
	size_t count = 0, k = 0;

	if (!cJSON_IsObject(j) && !cJSON_IsArray(j))
		return NULL;
	cJSON_ArrayForEach(it, j) {
		count++;
		if (!dup)
			dup = duplicate_key(it, NULL);
	}
	if (dup || !cJSON_IsObject(j) || count < 2)
		return dup;
	names = malloc(count * sizeof(*names));
	if (!names)
		return NULL;
	cJSON_ArrayForEach(it, j)
		names[k++] = it->string ? it->string : "";
	qsort(names, count, sizeof(*names), cmp_names);
	for (k = 1; k < count && !dup; k++)
		if (!strcmp(names[k - 1], names[k]) && (!skip || strcmp(names[k], skip)))
			dup = names[k];
	free(names);
	return dup;
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
	if (scan(buf, len, why, n) < 0)
		return -EINVAL;
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
	{
		const char *dup = duplicate_key(j, "registry");

		if (dup) {
			snprintf(why, n, "names the key '%.100s' twice in one object", dup);
			cJSON_Delete(j);
			return -EINVAL;
		}
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

/*
 * The user's text is kept as written: cJSON holds numbers as doubles, so a
 * nanosecond timestamp or a 64-bit count would come back rounded if the
 * document were re-printed. Only a top-level "registry" member (ours) is
 * cut out, textually.
 */

static size_t skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n && is_json_ws(s[i]))
		i++;
	return i;
}

static size_t skip_string(const char *s, size_t i, size_t n)
{
	for (i++; i < n && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return i < n ? i + 1 : n;
}

/* End of the JSON value starting at i (text already validated). */
static size_t skip_value(const char *s, size_t i, size_t n)
{
	int depth = 0;

	for (; i < n; i++) {
		char c = s[i];

		if (c == '"') {
			i = skip_string(s, i, n) - 1;
			if (!depth)
				return i + 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
			if (depth < 0)
				return i;
		} else if (!depth && (c == ',' || c == ' ' || c == '\n' || c == '\t' ||
				      c == '\r')) {
			return i;
		}
	}
	return n;
}

/* Is the JSON string token s[0..n) (quotes included) the key "registry"?
 * Decoded, so an escaped spelling ("regi\u0073try") counts too. */
static bool is_registry_key(const char *s, size_t n)
{
	cJSON *k;
	bool yes;

	if (n == 10)
		return !memcmp(s, "\"registry\"", 10);
	if (!memchr(s, '\\', n))
		return false;
	k = cJSON_ParseWithLength(s, n);
	yes = k && cJSON_IsString(k) && !strcmp(k->valuestring, "registry");
	cJSON_Delete(k);
	return yes;
}

/* A copy of the object text s without its top-level "registry" members;
 * every other member keeps its bytes. The input is copied unchanged when
 * it has none. Returns NULL on ENOMEM. Ownership: caller frees. */
static char *cut_registry(const char *s, size_t n)
{
	size_t i = skip_ws(s, 0, n), len = 0;
	bool first = true, cut = false;
	char *out = malloc(n + 3);

	if (!out)
		return NULL;
	if (i >= n || s[i] != '{') {
		free(out);
		return NULL;
	}
	out[len++] = '{';
	i++;
	for (;;) {
		size_t k, ke, ve;

		i = skip_ws(s, i, n);
		if (i >= n || s[i] == '}')
			break;
		k = i;
		ke = skip_string(s, k, n);
		i = skip_ws(s, ke, n) + 1;	/* the ':' */
		i = skip_ws(s, i, n);
		ve = skip_value(s, i, n);
		if (is_registry_key(s + k, ke - k)) {
			cut = true;
		} else {
			if (!first)
				out[len++] = ',';
			memcpy(out + len, s + k, ve - k);
			len += ve - k;
			first = false;
		}
		i = skip_ws(s, ve, n);
		if (i < n && s[i] == ',')
			i++;
	}
	if (!cut) {
		memcpy(out, s, n);
		len = n;
	} else {
		out[len++] = '}';
	}
	out[len] = '\0';
	return out;
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
	/* Validate without ours; duplicates too (cJSON keeps every one). */
	while (cJSON_GetObjectItemCaseSensitive(j, "registry"))
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
	out = cut_registry(buf, len);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	*ret = out;
	r = 0;
out:
	/* "it breaks a rule: metric 'auc' must be a number", as the text of
	 * a document that does not parse reads "it is not valid JSON". */
	if (r == -EINVAL) {
		char rule[512];

		snprintf(rule, sizeof(rule), "%s", why);
		snprintf(why, n, "breaks a rule: %s", rule);
	}
	cJSON_Delete(j);
	return r;
}

char *mfs_meta_merge_registry(const char *user, size_t len, const char *reg)
{
	size_t end = len, open;
	size_t rl = strlen(reg);
	bool empty;
	char *out;

	while (end > 0 && user[end - 1] != '}')
		end--;
	open = skip_ws(user, 0, len);
	if (!end || open >= len || user[open] != '{')
		return NULL;
	empty = skip_ws(user, open + 1, len) == end - 1;
	end--;	/* drop the closing brace */
	while (end > open + 1 && (user[end - 1] == ' ' || user[end - 1] == '\n' ||
				  user[end - 1] == '\t' || user[end - 1] == '\r'))
		end--;
	out = malloc(end + rl + 32);
	if (!out)
		return NULL;
	memcpy(out, user, end);
	sprintf(out + end, "%s\n  \"registry\": %s\n}\n", empty ? "" : ",", reg);
	return out;
}

char *mfs_meta_print(const cJSON *j, int indent)
{
	char *raw = cJSON_Print(j), *out;
	size_t n = 0, extra = 0;

	if (!raw)
		return NULL;
	/* cJSON indents with tabs and writes ":\t"; strings never hold a raw
	 * tab (it is escaped), so every tab is layout. */
	for (const char *p = raw; *p; p++)
		extra += *p == '\t' ? 1 : *p == '\n' ? (size_t)indent : 0;
	out = malloc(strlen(raw) + extra + 1);
	if (!out) {
		free(raw);
		return NULL;
	}
	for (const char *p = raw; *p; p++) {
		if (*p == '{' && p[1] == '\n') {
			/* cJSON breaks an empty object over two lines: {} */
			const char *q = p + 2;

			while (*q == '\t')
				q++;
			if (*q == '}') {
				out[n++] = '{';
				out[n++] = '}';
				p = q;
				continue;
			}
		}
		if (*p == '\t') {
			bool after_colon = p > raw && p[-1] == ':';

			out[n++] = ' ';
			if (!after_colon)
				out[n++] = ' ';
		} else {
			out[n++] = *p;
			if (*p == '\n')
				for (int i = 0; i < indent; i++)
					out[n++] = ' ';
		}
	}
	out[n] = '\0';
	free(raw);
	return out;
}
