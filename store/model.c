/* model.c - models: names, registration, removal, model-level documents */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "objects.h"
#include "perm.h"
#include "log.h"
#include "meta.h"
#include "model.h"
#include "version.h"

int mfs_model_name_check(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > MFS_MODEL_NAME_MAX || name[0] == '.')
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

static void fill_info(struct mfs_model_info *ret, const struct rec_model *rm,
		      const char *name, size_t len)
{
	memset(ret, 0, sizeof(*ret));
	ret->id = rm->id;
	if (len > MFS_MODEL_NAME_MAX)
		len = MFS_MODEL_NAME_MAX;
	memcpy(ret->name, name, len);
	ret->name[len] = '\0';
	ret->uid = rm->uid;
	ret->gid = rm->gid;
	ret->mode = rm->mode;
	ret->ctime_ns = rm->ctime_ns;
}

int store_get_model(struct mfs_store *st, struct kv_txn *txn, uint64_t id,
		    struct rec_model *ret, char *ret_name, size_t n)
{
	struct key k;
	struct kv_val name, v;
	int rc;

	key_id(&k, id);
	rc = kv_get(txn, DB_MODEL_IDS, &k.v, &name);
	if (rc)
		return rc;
	rc = kv_get(txn, DB_MODELS, &name, &v);
	if (rc)
		return rc;
	if (v.len != sizeof(*ret))
		return -EIO;
	memcpy(ret, v.data, sizeof(*ret));
	if (ret_name && n) {
		size_t l = name.len < n - 1 ? name.len : n - 1;

		memcpy(ret_name, name.data, l);
		ret_name[l] = '\0';
	}
	return 0;
}

int mfs_model_lookup(struct mfs_store *st, const char *name,
		     struct mfs_model_info *ret)
{
	struct kv_txn *txn;
	struct kv_val k = { strlen(name), (void *)name }, v;
	int r, rc;

	if (k.len == 0 || k.len > MFS_MODEL_NAME_MAX)
		return -ENOENT;
	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	rc = kv_get(txn, DB_MODELS, &k, &v);
	if (rc == 0 && v.len != sizeof(struct rec_model))
		rc = -EIO;
	if (rc == 0) {
		struct rec_model rm;

		rec_get(&rm, sizeof(rm), &v);
		fill_info(ret, &rm, name, k.len);
	}
	kv_txn_abort(txn);
	return rc;
}

int mfs_model_get(struct mfs_store *st, uint64_t id, struct mfs_model_info *ret)
{
	struct kv_txn *txn;
	struct rec_model rm;
	char name[MFS_MODEL_NAME_MAX + 1];
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = store_get_model(st, txn, id, &rm, name, sizeof(name));
	kv_txn_abort(txn);
	if (r == 0)
		fill_info(ret, &rm, name, strlen(name));
	return r;
}

int mfs_model_create(struct mfs_store *st, const struct mfs_caller *c,
		     const char *name, mode_t mode, struct mfs_model_info *ret)
{
	struct kv_txn *txn = NULL;
	struct rec_model rm = { 0 };
	struct key k;
	struct kv_val nk = { strlen(name), (void *)name }, v;
	cJSON *f;
	int r, rc;

	if (mfs_model_name_check(name) < 0)
		return st->rules->denied(st, c, mfs_log_errno(-EINVAL,
				     "refusing model name '%s': use 1-128 of [A-Za-z0-9._-], not starting with '.'",
				     name), -EINVAL, "model.create", name, NULL, NULL);
	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	rc = kv_get(txn, DB_MODELS, &nk, &v);
	if (rc == 0) {
		r = -EEXIST;
		goto out;
	}
	r = st->rules->model_name(st, txn, name);
	if (r < 0) {
		kv_txn_abort(txn);
		return st->rules->denied(st, c, r, -EINVAL, "model.create", name, NULL, NULL);
	}
	r = store_next_id(st, txn, &rm.id);
	if (r < 0)
		goto out;
	rm.uid = c->uid;
	rm.gid = c->gid;
	rm.mode = S_IFDIR | (mode & 07777);
	rm.ctime_ns = mfs_now_ns();
	v.len = sizeof(rm);
	v.data = &rm;
	rc = kv_put(txn, DB_MODELS, &nk, &v, KV_NOOVERWRITE);
	if (!rc) {
		key_id(&k, rm.id);
		rc = kv_put(txn, DB_MODEL_IDS, &k.v, &nk, 0);
	}
	if (rc) {
		r = rc;
		goto out;
	}
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "model", name);
	r = st->rules->record(st, txn, c, "model.create", f);
	if (r < 0)
		goto out;
	r = store_txn_commit(txn);
	txn = NULL;
	if (r == 0 && ret)
		fill_info(ret, &rm, name, nk.len);
out:
	if (txn)
		kv_txn_abort(txn);
	return r;
}

static int has_prefix(struct mfs_store *st, struct kv_txn *txn, int db, uint64_t id,
		      bool *ret)
{
	struct kv_cursor *cur;
	struct key k;
	struct kv_val kv, v;
	int rc;

	key_id(&k, id);
	kv = k.v;
	rc = kv_cursor_open(txn, db, &cur);
	if (rc)
		return rc;
	rc = kv_cursor_get(cur, &kv, &v, KV_SET_RANGE);
	*ret = rc == 0 && kv.len >= 8 && !memcmp(kv.data, k.b, 8);
	kv_cursor_close(cur);
	return rc == 0 || rc == KV_NOTFOUND ? 0 : rc;
}

int mfs_model_remove(struct mfs_store *st, const struct mfs_caller *c,
		     const char *name)
{
	struct kv_txn *txn = NULL;
	struct kv_val nk = { strlen(name), (void *)name }, v;
	struct rec_model rm;
	struct key k;
	bool busy;
	cJSON *f;
	int r, rc;

	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	rc = kv_get(txn, DB_MODELS, &nk, &v);
	if (rc) {
		r = rc;
		goto out;
	}
	rec_get(&rm, sizeof(rm), &v);
	if (c && c->uid != 0 && c->uid != rm.uid) {
		/* models/ is sticky: only the owner (or root) removes. */
		r = mfs_log_errno(-EPERM, "refusing uid %u: model '%s' belongs to uid %u",
				  (unsigned)c->uid, name, (unsigned)rm.uid);
		goto out;
	}
	r = has_prefix(st, txn, DB_VERSIONS, rm.id, &busy);
	if (r == 0 && !busy)
		r = has_prefix(st, txn, DB_ALIASES, rm.id, &busy);
	if (r < 0)
		goto out;
	if (busy) {
		r = mfs_log_errno(-ENOTEMPTY,
				  "refusing to remove model '%s': it has versions (sealed and deleted versions are kept forever) or aliases",
				  name);
		goto out;
	}
	key_id(&k, rm.id);
	kv_del(txn, DB_MODELS, &nk);
	kv_del(txn, DB_MODEL_IDS, &k.v);
	kv_del(txn, DB_MMETA, &k.v);
	kv_del(txn, DB_POLICY, &k.v);
	r = store_note(txn, MFS_CHANGE_MODEL_GONE, rm.id, 0, name);
	if (r < 0)
		goto out;
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "model", name);
	r = st->rules->record(st, txn, c, "model.remove", f);
	if (r < 0)
		goto out;
	r = store_txn_commit(txn);
	txn = NULL;
out:
	if (txn)
		kv_txn_abort(txn);
	return st->rules->denied(st, c, r, 0, "model.remove", name, NULL, NULL);
}

int mfs_model_setattr(struct mfs_store *st, const struct mfs_caller *c,
		      uint64_t id, mode_t mode, uid_t uid, gid_t gid)
{
	struct kv_txn *txn = NULL;
	struct rec_model rm;
	char name[MFS_MODEL_NAME_MAX + 1] = "";
	struct kv_val nk, v;
	int r;

	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	r = store_get_model(st, txn, id, &rm, name, sizeof(name));
	if (r < 0)
		goto out;
	if (c && c->uid != 0 && (c->uid != rm.uid || (uid != (uid_t)-1 && uid != rm.uid))) {
		r = mfs_log_errno(-EPERM, "refusing uid %u: only the owner changes model '%s' (and only root gives it away)",
				  (unsigned)c->uid, name);
		goto out;
	}
	/* POSIX chown(2)/chmod(2): an owner gives the model only to a group
	 * of theirs, and the set-group-ID bit goes when the group is not. */
	if (c && c->uid != 0 && gid != (gid_t)-1 && gid != rm.gid && !mfs_caller_in_group(c, gid)) {
		r = mfs_log_errno(-EPERM, "refusing uid %u: model '%s' may be given only to a group of its owner's",
				  (unsigned)c->uid, name);
		goto out;
	}
	if (gid != (gid_t)-1)
		rm.gid = gid;
	if (mode != (mode_t)-1) {
		rm.mode = S_IFDIR | (mode & 07777);
		if (c && c->uid != 0 && !mfs_caller_in_group(c, rm.gid))
			rm.mode &= ~(mode_t)S_ISGID;
	}
	if (uid != (uid_t)-1)
		rm.uid = uid;
	nk.data = name;
	nk.len = strlen(name);
	v.data = &rm;
	v.len = sizeof(rm);
	r = kv_put(txn, DB_MODELS, &nk, &v, 0);
	/* Who may search it changed: cached names under it must go. */
	if (r == 0 && (mode != (mode_t)-1 || uid != (uid_t)-1 || gid != (gid_t)-1))
		r = store_note(txn, MFS_CHANGE_MODEL, id, 0, name);
	if (r < 0)
		goto out;
	r = store_txn_commit(txn);
	txn = NULL;
out:
	if (txn)
		kv_txn_abort(txn);
	return st->rules->denied(st, c, r, 0, "model.setattr", name, NULL, NULL);
}

static int cmp_model(const void *a, const void *b)
{
	return strcmp(((const struct mfs_model_info *)a)->name,
		      ((const struct mfs_model_info *)b)->name);
}

int mfs_model_list(struct mfs_store *st, struct mfs_model_info **ret,
		   size_t *ret_n)
{
	struct kv_txn *txn = NULL;
	struct kv_cursor *cur = NULL;
	struct kv_val k, v;
	struct mfs_model_info *arr = NULL;
	size_t n = 0, cap = 0;
	int r, rc;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	rc = kv_cursor_open(txn, DB_MODELS, &cur);
	if (rc) {
		r = rc;
		goto out;
	}
	for (rc = kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0;
	     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
		if (v.len != sizeof(struct rec_model))
			continue;
		if (n == cap) {
			void *p = realloc(arr, (cap = cap ? 2 * cap : 16) * sizeof(*arr));

			if (!p) {
				r = -ENOMEM;
				goto out;
			}
			arr = p;
		}
		{
			struct rec_model rm;

			rec_get(&rm, sizeof(rm), &v);
			fill_info(&arr[n++], &rm, k.data, k.len);
		}
	}
	if (n)
		qsort(arr, n, sizeof(*arr), cmp_model);
	*ret = arr;
	*ret_n = n;
	arr = NULL;
	r = 0;
out:
	if (cur)
		kv_cursor_close(cur);
	kv_txn_abort(txn);
	free(arr);
	return r;
}
