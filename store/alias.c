/* alias.c - aliases as objects: names, targets, reading the rows */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "objects.h"
#include "alias.h"
#include "meta.h"
#include "semver.h"
#include "log.h"
#include "model.h"
#include "semver.h"

/*
 * An alias row maps (model id, name) to a sealed version id. Reading rows
 * and parsing targets is here; moving an alias is governance (promote.c:
 * who may, the gates, approvals, history and audit, in one transaction).
 */

int mfs_alias_name_check(const char *name)
{
	static const char *const reserved[] = { "versions", "latest",
		"history.jsonl", "metadata.json", "policy.json" };
	size_t n = strlen(name);

	if (n == 0 || n > MFS_NAME_MAX || name[0] == '@' || strchr(name, '/') ||
	    !strcmp(name, ".") || !strcmp(name, "..") || !mfs_meta_text_ok(name, n))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcmp(name, reserved[i]))
			return -EINVAL;
	return 0;
}

int mfs_alias_name_new_check(const char *name)
{
	struct mfs_semver sv;

	/* MODEL@NAME names a version or an alias: no new alias spells one. */
	if (mfs_semver_parse(name, &sv) == 0)
		return -EINVAL;
	return mfs_alias_name_check(name);
}

int store_get_alias(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
		    const char *name, struct rec_alias *ret)
{
	struct key k;
	struct kv_val v;
	int rc;

	if (strlen(name) > MFS_NAME_MAX)
		return -ENOENT;
	key_id_name(&k, model_id, name);
	rc = kv_get(txn, DB_ALIASES, &k.v, &v);
	if (rc)
		return rc;
	if (v.len != sizeof(*ret))
		return -EIO;
	memcpy(ret, v.data, sizeof(*ret));
	return 0;
}

static void fill_alias(struct mfs_store *st, struct kv_txn *txn, struct mfs_alias_info *ret,
		       const char *name, size_t len, const struct rec_alias *ra)
{
	struct rec_version rv;

	memset(ret, 0, sizeof(*ret));
	if (len > MFS_NAME_MAX)
		len = MFS_NAME_MAX;
	memcpy(ret->name, name, len);
	ret->vid = ra->vid;
	ret->ctime_ns = ra->ctime_ns;
	ret->uid = ra->uid;
	if (store_get_version(st, txn, ra->vid, &rv, ret->version,
			      sizeof(ret->version)) < 0)
		snprintf(ret->version, sizeof(ret->version), "?");
}

/* Does the n-byte string s start with the NUL-terminated string t? On a
 * match, advance *s and *n past it. */
static bool eat(const char **s, size_t *n, const char *t)
{
	size_t l = strlen(t);

	if (*n < l || memcmp(*s, t, l))
		return false;
	*s += l;
	*n -= l;
	return true;
}

int mfs_alias_target_parse(const char *target, const char *mount, const char *model,
			   char *ret_version, size_t n)
{
	char v[MFS_SEMVER_MAX_LEN + 1];
	struct mfs_semver sv;
	const char *p = target;
	size_t len = strnlen(target, PATH_MAX);

	/* symlink(2) refuses longer targets (ENAMETOOLONG) anyway. */
	if (len >= PATH_MAX)
		return -EINVAL;
	while (len > 1 && p[len - 1] == '/')
		len--;
	if (p[0] == '/') {
		/* An absolute path is accepted only through our own mount: the
		 * prefix "<mount>/models/<model>/" is matched piece by piece,
		 * byte for byte, so no buffer bounds its length. */
		if (!mount || !*mount)
			return -EINVAL;
		if (!eat(&p, &len, mount) || !eat(&p, &len, "/models/") ||
		    !eat(&p, &len, model) || !eat(&p, &len, "/"))
			return -EINVAL;
	}
	while (eat(&p, &len, "./"))
		;
	if (!eat(&p, &len, "versions/"))
		return -EINVAL;
	if (len == 0 || len > MFS_SEMVER_MAX_LEN || memchr(p, '/', len))
		return -EINVAL;
	memcpy(v, p, len);
	v[len] = '\0';
	if (mfs_semver_parse(v, &sv) < 0 || len >= n)
		return -EINVAL;
	memcpy(ret_version, v, len + 1);
	return 0;
}

int mfs_alias_resolve_target(struct mfs_store *st, uint64_t model_id,
			     const char *target, const char *mount, uint64_t *ret_vid)
{
	struct mfs_model_info mi;
	struct mfs_version_info vi;
	char v[MFS_NAME_MAX + 1];
	int r;

	r = mfs_model_get(st, model_id, &mi);
	if (r < 0)
		return r;
	if (mfs_alias_target_parse(target, mount, mi.name, v, sizeof(v)) < 0)
		return mfs_log_errno(-EINVAL,
				     "refusing alias target '%s' in model '%s': an alias must point at versions/<version> of its own model",
				     target, mi.name);
	r = mfs_version_lookup(st, model_id, v, false, &vi);
	if (r == -ENOENT)
		return mfs_log_errno(-ENOENT, "refusing alias target '%s' in model '%s': no version '%s'",
				     target, mi.name, v);
	if (r < 0)
		return r;
	*ret_vid = vi.id;
	return 0;
}

int mfs_alias_get(struct mfs_store *st, uint64_t model_id, const char *name,
		  struct mfs_alias_info *ret)
{
	struct kv_txn *txn;
	struct rec_alias ra;
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = store_get_alias(st, txn, model_id, name, &ra);
	if (r == 0)
		fill_alias(st, txn, ret, name, strlen(name), &ra);
	kv_txn_abort(txn);
	return r;
}

static int list_filtered(struct mfs_store *st, uint64_t model_id, uint64_t vid,
			 struct mfs_alias_info **ret, size_t *ret_n)
{
	struct kv_txn *txn;
	struct kv_cursor *cur = NULL;
	struct key k;
	struct kv_val kv, v;
	struct mfs_alias_info *arr = NULL;
	size_t n = 0, cap = 0;
	int r, rc;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	rc = kv_cursor_open(txn, DB_ALIASES, &cur);
	if (rc) {
		r = rc;
		goto out;
	}
	key_id(&k, model_id);
	kv = k.v;
	for (rc = kv_cursor_get(cur, &kv, &v, KV_SET_RANGE); rc == 0;
	     rc = kv_cursor_get(cur, &kv, &v, KV_NEXT)) {
		struct rec_alias ra;

		if (kv.len < 8 || memcmp(kv.data, k.b, 8))
			break;
		rec_get(&ra, sizeof(ra), &v);
		if (vid && ra.vid != vid)
			continue;
		if (n == cap) {
			void *p = realloc(arr, (cap = cap ? 2 * cap : 8) * sizeof(*arr));

			if (!p) {
				r = -ENOMEM;
				goto out;
			}
			arr = p;
		}
		fill_alias(st, txn, &arr[n++], (char *)kv.data + 8,
			   kv.len - 8, &ra);
	}
	*ret = arr;
	*ret_n = n;
	arr = NULL;
out:
	if (cur)
		kv_cursor_close(cur);
	kv_txn_abort(txn);
	free(arr);
	return r;
}

int mfs_alias_list(struct mfs_store *st, uint64_t model_id,
		   struct mfs_alias_info **ret, size_t *ret_n)
{
	return list_filtered(st, model_id, 0, ret, ret_n);
}

int mfs_alias_list_for(struct mfs_store *st, uint64_t vid,
		       struct mfs_alias_info **ret, size_t *ret_n)
{
	struct mfs_version_info vi;
	int r = mfs_version_get(st, vid, &vi);

	if (r < 0)
		return r;
	return list_filtered(st, vi.model_id, vid, ret, ret_n);
}
