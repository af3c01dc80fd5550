/* version.c - versions: drafts, sealed versions, tombstones, entries */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pwd.h>

#include <cjson/cJSON.h>

#include "objects.h"
#include "clock.h"
#include "blob.h"
#include "log.h"
#include "meta.h"
#include "model.h"
#include "semver.h"
#include "version.h"
#include "sha256.h"
#include "format.h"
#include "perm.h"

/*
 * Versions are keyed by (model id, name) and by id. A draft's files live in
 * STORE/drafts/<id>/, which fs/ works in directly: no LMDB commit per file
 * operation. Sealed versions are trees of entries keyed by (version id,
 * parent entry id, name); their content is in blobs.
 */


const char *mfs_vstate_name(enum mfs_vstate s)
{
	switch (s) {
	case MFS_V_DRAFT:
		return "draft";
	case MFS_V_SEALED:
		return "sealed";
	case MFS_V_TOMBSTONE:
		return "deleted";
	}
	return "unknown";
}

bool store_remote_draft(const struct mfs_store *st, const struct rec_version *rv)
{
	return rv->state == MFS_V_DRAFT && rv->host && rv->host != st->host;
}

/* Is v a version record (of this binary's layout or an older one)? */
static bool version_rec_ok(const struct kv_val *v)
{
	return v->len >= REC_VERSION_V1 && v->len <= sizeof(struct rec_version);
}

static void fill_vinfo(struct mfs_version_info *ret, const struct rec_version *rv,
		       const char *name, size_t len)
{
	memset(ret, 0, sizeof(*ret));
	ret->id = rv->id;
	ret->model_id = rv->model_id;
	if (len > MFS_NAME_MAX)
		len = MFS_NAME_MAX;
	memcpy(ret->name, name, len);
	ret->name[len] = '\0';
	ret->state = (enum mfs_vstate)rv->state;
	ret->uid = rv->uid;
	ret->gid = rv->gid;
	ret->mode = rv->mode;
	ret->created_ns = rv->created_ns;
	ret->sealed_ns = rv->sealed_ns;
	ret->mtime_ns = rv->mtime_ns;
	ret->sealed_uid = rv->sealed_uid;
	ret->size = rv->size;
	ret->nfiles = rv->nfiles;
	ret->has_meta = rv->has_meta;
	ret->host = rv->host;
}

int store_get_version(struct mfs_store *st, struct kv_txn *txn, uint64_t vid,
		      struct rec_version *ret, char *ret_name, size_t n)
{
	struct key k;
	struct kv_val ref, v;
	int rc;

	key_id(&k, vid);
	rc = kv_get(txn, DB_VERSION_IDS, &k.v, &ref);
	if (rc)
		return rc;
	rc = kv_get(txn, DB_VERSIONS, &ref, &v);
	if (rc)
		return rc;
	if (!version_rec_ok(&v) || ref.len < 8)
		return -EIO;
	rec_get(ret, sizeof(*ret), &v);
	if (ret_name && n) {
		size_t l = ref.len - 8 < n - 1 ? ref.len - 8 : n - 1;

		memcpy(ret_name, (char *)ref.data + 8, l);
		ret_name[l] = '\0';
	}
	return 0;
}

int store_put_version(struct mfs_store *st, struct kv_txn *txn,
		      const struct rec_version *rv, const char *name)
{
	struct key k, idk;
	struct kv_val v = { sizeof(*rv), (void *)rv };
	int rc;

	key_id_name(&k, rv->model_id, name);
	rc = kv_put(txn, DB_VERSIONS, &k.v, &v, 0);
	if (rc)
		return rc;
	key_id(&idk, rv->id);
	return kv_put(txn, DB_VERSION_IDS, &idk.v, &k.v, 0);
}

/* A version's record and name with its model's (inside txn). name and
 * model must hold MFS_NAME_MAX + 1 and MFS_MODEL_NAME_MAX + 1 bytes. */
static int version_and_model(struct mfs_store *st, struct kv_txn *txn, uint64_t vid,
			     struct rec_version *rv, char *name, struct rec_model *rm,
			     char *model)
{
	int r = store_get_version(st, txn, vid, rv, name, MFS_NAME_MAX + 1);

	return r < 0 ? r : store_get_model(st, txn, rv->model_id, rm, model,
					   MFS_MODEL_NAME_MAX + 1);
}

int mfs_version_lookup(struct mfs_store *st, uint64_t model_id, const char *name,
		       bool with_tombstones, struct mfs_version_info *ret)
{
	struct kv_txn *txn;
	struct key k;
	struct kv_val v;
	int r, rc;

	if (strlen(name) > MFS_NAME_MAX)
		return -ENOENT;
	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	key_id_name(&k, model_id, name);
	rc = kv_get(txn, DB_VERSIONS, &k.v, &v);
	r = rc;
	if (r == 0) {
		struct rec_version rv;

		rec_get(&rv, sizeof(rv), &v);
		if ((rv.state == MFS_V_TOMBSTONE && !with_tombstones) ||
		    store_remote_draft(st, &rv))
			r = -ENOENT;
		else
			fill_vinfo(ret, &rv, name, strlen(name));
	}
	kv_txn_abort(txn);
	return r;
}

int mfs_version_get(struct mfs_store *st, uint64_t vid, struct mfs_version_info *ret)
{
	struct kv_txn *txn;
	struct rec_version rv;
	char name[MFS_NAME_MAX + 1];
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = store_get_version(st, txn, vid, &rv, name, sizeof(name));
	kv_txn_abort(txn);
	if (r == 0)
		fill_vinfo(ret, &rv, name, strlen(name));
	return r;
}

static int cmp_vinfo(const void *a, const void *b)
{
	int c = 0;

	if (mfs_semver_cmp_str(((const struct mfs_version_info *)a)->name,
			       ((const struct mfs_version_info *)b)->name, &c) < 0)
		return strcmp(((const struct mfs_version_info *)a)->name,
			      ((const struct mfs_version_info *)b)->name);
	return c;
}

/* Every version record of a model, tombstones included (txn-level). */
static int list_all(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
		    bool with_tombstones, bool with_remote, struct mfs_version_info **ret,
		    size_t *ret_n)
{
	struct kv_cursor *cur = NULL;
	struct key k;
	struct kv_val kv, v;
	struct mfs_version_info *arr = NULL;
	size_t n = 0, cap = 0;
	int rc, r = 0;

	rc = kv_cursor_open(txn, DB_VERSIONS, &cur);
	if (rc)
		return rc;
	key_id(&k, model_id);
	kv = k.v;
	for (rc = kv_cursor_get(cur, &kv, &v, KV_SET_RANGE); rc == 0;
	     rc = kv_cursor_get(cur, &kv, &v, KV_NEXT)) {
		struct rec_version rv;

		if (kv.len < 8 || memcmp(kv.data, k.b, 8))
			break;
		if (!version_rec_ok(&v))
			continue;
		rec_get(&rv, sizeof(rv), &v);
		if ((rv.state == MFS_V_TOMBSTONE && !with_tombstones) ||
		    (!with_remote && store_remote_draft(st, &rv)))
			continue;
		if (n == cap) {
			void *p = realloc(arr, (cap = cap ? 2 * cap : 16) * sizeof(*arr));

			if (!p) {
				r = -ENOMEM;
				break;
			}
			arr = p;
		}
		fill_vinfo(&arr[n++], &rv, (char *)kv.data + 8, kv.len - 8);
	}
	kv_cursor_close(cur);
	if (r < 0) {
		free(arr);
		return r;
	}
	if (n)
		qsort(arr, n, sizeof(*arr), cmp_vinfo);
	*ret = arr;
	*ret_n = n;
	return 0;
}

int mfs_version_list(struct mfs_store *st, uint64_t model_id,
		     struct mfs_version_info **ret, size_t *ret_n)
{
	struct kv_txn *txn;
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = list_all(st, txn, model_id, false, false, ret, ret_n);
	kv_txn_abort(txn);
	return r;
}

/* -EEXIST if a version of equal precedence exists (tombstones included). */
static int check_free(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
		      const char *model, const char *name, const char *except)
{
	struct mfs_version_info *all = NULL;
	struct mfs_semver want, have;
	size_t n = 0;
	int r;

	r = list_all(st, txn, model_id, true, true, &all, &n);
	if (r < 0)
		return r;
	mfs_semver_parse(name, &want);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (except && !strcmp(all[i].name, except))
			continue;
		if (mfs_semver_parse(all[i].name, &have) < 0)
			continue;
		if (mfs_semver_cmp(&want, &have) == 0) {
			if (all[i].state == MFS_V_DRAFT && all[i].host && all[i].host != st->host)
				r = mfs_log_errno(-EEXIST,
						  "refusing version '%s@%s': '%s' is a draft on another host (%016llx); names are the registry's, and it shows here once sealed",
						  model, name, all[i].name,
						  (unsigned long long)all[i].host);
			else if (!strcmp(all[i].name, name) && all[i].state != MFS_V_TOMBSTONE)
				r = -EEXIST;
			else
				r = mfs_log_errno(-EEXIST,
						  "refusing version '%s@%s': %s '%s' has the same SemVer precedence%s",
						  model, name,
						  all[i].state == MFS_V_TOMBSTONE ? "deleted version" : "version",
						  all[i].name,
						  all[i].state == MFS_V_TOMBSTONE ? " and names are never reused" : "");
		}
	}
	free(all);
	return r;
}

static int check_name(const char *model, const char *name)
{
	struct mfs_semver sv;

	if (mfs_semver_parse(name, &sv) < 0)
		return mfs_log_errno(-EINVAL,
				     "refusing version name '%s' in model '%s': not a SemVer 2.0.0 version such as 1.2.0 or 2.0.0-rc.1",
				     name, model);
	return 0;
}

/* May a version of model be named name (SemVer, free, the policy's semver
 * rules)? from: the draft being renamed. Returns 0, -EPERM (a policy
 * refusal), or another -errno (logged). */
static int new_name_ok(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
		       const char *model, const char *name, const char *from)
{
	int r = check_name(model, name);

	if (r == 0)
		r = check_free(st, txn, model_id, model, name, from);
	if (r == 0)
		r = st->rules->version_name(st, txn, model_id, model, name);
	return r;
}

/* A create marks its id from its mkdir to its end (op 1), unmarks it
 * (op 0), or asks whether it is marked (op 2). A create whose commit fails
 * gives its id back (the counter rolls back with it) and removes its
 * directory at its end: the next create, by the same id, must not take a
 * directory that is still to be removed. */
static bool creating(struct mfs_store *st, uint64_t vid, int op)
{
	const size_t n = sizeof(st->creating) / sizeof(st->creating[0]);
	bool found = false;

	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < n && !found; i++) {
		if (st->creating[i] == (op == 1 ? 0 : vid)) {
			found = true;
			if (op != 2)
				st->creating[i] = op == 1 ? vid : 0;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return found;
}

/* Make the directory of a new draft, dname (its fresh id vid). An empty
 * one there already is the leftover of a create whose commit was in doubt
 * and did not happen (the id came back): nothing names it. One with
 * files in it is not ours to remove (a database that went back in time):
 * -EEXIST. */
static int make_draft_dir(struct mfs_store *st, uint64_t vid, const char *dname, mode_t mode)
{
	int64_t until = mfs_mono_ms() + 60000;

	while (mkdirat(st->drafts_fd, dname, mode) < 0) {
		if (errno != EEXIST)
			return mfs_log_errno(-errno, "mkdir '%s/%s': %s", st->drafts_dir, dname,
					     strerror(errno));
		if (creating(st, vid, 2)) {
			/* a create of this id still ends (its commit's
			 * inquiry is bounded well within this) */
			if (mfs_mono_ms() > until)
				return mfs_log_errno(-EAGAIN,
						     "mkdir '%s/%s': an earlier create by this id has not ended in 60 s",
						     st->drafts_dir, dname);
			usleep(10000);
			continue;
		}
		if (unlinkat(st->drafts_fd, dname, AT_REMOVEDIR) == 0)
			mfs_log(MFS_LOG_INFO,
				"removed draft directory '%s/%s' of no version, left by a create whose commit was in doubt",
				st->drafts_dir, dname);
		else if (errno == ENOTEMPTY || errno == EEXIST)
			return mfs_log_errno(-EEXIST,
					     "refusing to make draft directory '%s/%s': it is there already, with files in it, and no version names it",
					     st->drafts_dir, dname);
		else if (errno != ENOENT)
			return mfs_log_errno(-errno, "rmdir '%s/%s': %s", st->drafts_dir, dname,
					     strerror(errno));
	}
	if (!creating(st, vid, 1))
		mfs_log(MFS_LOG_DEBUG, "create of '%s/%s': more creates at once than marks",
			st->drafts_dir, dname);
	return 0;
}

int mfs_version_create(struct mfs_store *st, const struct mfs_caller *c,
		       uint64_t model_id, const char *name, mode_t mode,
		       struct mfs_version_info *ret)
{
	struct kv_txn *txn = NULL;
	struct rec_model rm;
	struct rec_version rv = { 0 };
	char model[MFS_MODEL_NAME_MAX + 1] = "", dname[24];
	bool made_dir = false, marked = false;
	cJSON *f;
	int r;

	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	r = store_get_model(st, txn, model_id, &rm, model, sizeof(model));
	if (r == 0)
		r = store_note(txn, MFS_CHANGE_DOCS, model_id, 0, NULL);
	if (r < 0)
		goto out;
	r = store_model_writable(st, c, &rm, model);
	if (r < 0)
		goto out;
	r = new_name_ok(st, txn, model_id, model, name, NULL);
	if (r < 0)
		goto out;
	r = store_next_id(st, txn, &rv.id);
	if (r < 0)
		goto out;
	rv.model_id = model_id;
	rv.state = MFS_V_DRAFT;
	rv.host = st->host;
	rv.uid = c->uid;
	/* setgid model directories hand their group down, as on disk. */
	rv.gid = (rm.mode & S_ISGID) ? rm.gid : c->gid;
	rv.mode = S_IFDIR | (mode & 07777);
	rv.created_ns = rv.mtime_ns = mfs_now_ns();
	snprintf(dname, sizeof(dname), "%llu", (unsigned long long)rv.id);
	r = make_draft_dir(st, rv.id, dname, mode & 07777);
	if (r < 0)
		goto out;
	made_dir = marked = true;
	/* mkdir applied the daemon's umask; the recorded mode is the user's. */
	if (fchmodat(st->drafts_fd, dname, mode & 07777, 0) < 0 ||
	    fchownat(st->drafts_fd, dname, rv.uid, rv.gid, 0) < 0) {
		/* Unprivileged daemons cannot chown: ownership stays theirs. */
	}
	r = store_put_version(st, txn, &rv, name);
	if (r < 0)
		goto out;
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "model", model);
	cJSON_AddStringToObject(f, "version", name);
	r = st->rules->record(st, txn, c, "version.create", f);
	if (r < 0)
		goto out;
	r = store_txn_commit(txn);
	txn = NULL;
	/* In doubt: the version may be there, and then its directory must
	 * be; if it is not, the next start or create by this id removes it. */
	if (r == 0 || r == KV_IN_DOUBT)
		made_dir = false;
	if (r == 0 && ret)
		fill_vinfo(ret, &rv, name, strlen(name));
out:
	if (txn)
		kv_txn_abort(txn);
	if (made_dir)
		unlinkat(st->drafts_fd, dname, AT_REMOVEDIR);
	if (marked)
		creating(st, rv.id, 0);
	return st->rules->denied(st, c, r, -EINVAL, "version.create", model, name, NULL);
}

int mfs_version_rename(struct mfs_store *st, const struct mfs_caller *c,
		       uint64_t model_id, const char *from, const char *to)
{
	struct kv_txn *txn = NULL;
	struct rec_model rm;
	struct rec_version rv;
	char model[MFS_MODEL_NAME_MAX + 1] = "";
	struct key k;
	struct kv_val v;
	cJSON *f;
	int r, rc;

	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	r = store_get_model(st, txn, model_id, &rm, model, sizeof(model));
	if (r < 0)
		goto out;
	r = store_model_writable(st, c, &rm, model);
	if (r < 0)
		goto out;
	key_id_name(&k, model_id, from);
	rc = kv_get(txn, DB_VERSIONS, &k.v, &v);
	if (rc) {
		r = rc;
		goto out;
	}
	rec_get(&rv, sizeof(rv), &v);
	if (rv.state == MFS_V_TOMBSTONE || store_remote_draft(st, &rv)) {
		r = -ENOENT;
		goto out;
	}
	if (rv.state == MFS_V_SEALED) {
		r = mfs_log_errno(-EROFS,
				  "refusing to rename sealed version '%s@%s': a sealed name maps to its bytes forever",
				  model, from);
		goto out;
	}
	if (!strcmp(from, to)) {
		r = 0;
		goto out;
	}
	r = new_name_ok(st, txn, model_id, model, to, from);
	if (r < 0)
		goto out;
	rc = kv_del(txn, DB_VERSIONS, &k.v);
	if (rc) {
		r = rc;
		goto out;
	}
	r = store_put_version(st, txn, &rv, to);
	if (r == 0)
		r = store_note(txn, MFS_CHANGE_VERSION, model_id, rv.id, from);
	if (r < 0)
		goto out;
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "model", model);
	cJSON_AddStringToObject(f, "from", from);
	cJSON_AddStringToObject(f, "version", to);
	r = st->rules->record(st, txn, c, "version.rename", f);
	if (r < 0)
		goto out;
	r = store_txn_commit(txn);
	txn = NULL;
out:
	if (txn)
		kv_txn_abort(txn);
	return st->rules->denied(st, c, r, -EINVAL, "version.rename", model, from, NULL);
}

int store_vid_aliased(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
		      uint64_t vid, char *ret_alias, size_t n)
{
	struct kv_cursor *cur;
	struct key k;
	struct kv_val kv, v;
	int rc, found = 0;

	rc = kv_cursor_open(txn, DB_ALIASES, &cur);
	if (rc)
		return rc;
	key_id(&k, model_id);
	kv = k.v;
	for (rc = kv_cursor_get(cur, &kv, &v, KV_SET_RANGE); rc == 0;
	     rc = kv_cursor_get(cur, &kv, &v, KV_NEXT)) {
		struct rec_alias ra;

		if (kv.len < 8 || memcmp(kv.data, k.b, 8))
			break;
		rec_get(&ra, sizeof(ra), &v);
		if (ra.vid == vid) {
			snprintf(ret_alias, n, "%.*s", (int)(kv.len - 8),
				 (char *)kv.data + 8);
			found = 1;
			break;
		}
	}
	kv_cursor_close(cur);
	return found;
}

static int version_remove(struct mfs_store *st, const struct mfs_caller *c,
			  uint64_t model_id, const char *name, bool any_host);

int mfs_version_remove(struct mfs_store *st, const struct mfs_caller *c,
		       uint64_t model_id, const char *name)
{
	return version_remove(st, c, model_id, name, false);
}

int store_discard_drafts(struct mfs_store *st, const struct mfs_caller *c, uint64_t model_id,
			 size_t *ret_n)
{
	struct mfs_version_info *v = NULL;
	struct kv_txn *txn;
	size_t n = 0;
	int r;

	*ret_n = 0;
	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = list_all(st, txn, model_id, false, true, &v, &n);
	kv_txn_abort(txn);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (v[i].state != MFS_V_DRAFT)
			continue;
		r = version_remove(st, c, model_id, v[i].name, true);
		if (r == 0)
			(*ret_n)++;
	}
	free(v);
	return r;
}

int store_count_drafts(struct mfs_store *st, uint64_t model_id, size_t *ret_n)
{
	struct mfs_version_info *v = NULL;
	struct kv_txn *txn;
	size_t n = 0;
	int r;

	*ret_n = 0;
	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = list_all(st, txn, model_id, false, true, &v, &n);
	kv_txn_abort(txn);
	for (size_t i = 0; i < n && r == 0; i++)
		*ret_n += v[i].state == MFS_V_DRAFT;
	free(v);
	return r;
}

static int version_remove(struct mfs_store *st, const struct mfs_caller *c,
			  uint64_t model_id, const char *name, bool any_host)
{
	struct kv_txn *txn = NULL;
	struct rec_model rm;
	struct rec_version rv;
	char model[MFS_MODEL_NAME_MAX + 1] = "", dname[24], alias[MFS_NAME_MAX + 1];
	struct key k, idk;
	struct kv_val v;
	cJSON *f;
	bool removed_dir = false;
	int r, rc;

	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	r = store_get_model(st, txn, model_id, &rm, model, sizeof(model));
	if (r < 0)
		goto out;
	r = store_model_writable(st, c, &rm, model);
	if (r < 0)
		goto out;
	key_id_name(&k, model_id, name);
	rc = kv_get(txn, DB_VERSIONS, &k.v, &v);
	if (rc) {
		r = rc;
		goto out;
	}
	rec_get(&rv, sizeof(rv), &v);
	snprintf(dname, sizeof(dname), "%llu", (unsigned long long)rv.id);
	key_id(&idk, rv.id);
	r = store_note(txn, MFS_CHANGE_VERSION, model_id, rv.id, name);
	if (r < 0)
		goto out;
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "model", model);
	cJSON_AddStringToObject(f, "version", name);
	if (rv.state == MFS_V_TOMBSTONE || (!any_host && store_remote_draft(st, &rv))) {
		cJSON_Delete(f);
		r = -ENOENT;
		goto out;
	}
	if (rv.state == MFS_V_DRAFT) {
		/* rmdir semantics: the draft must be empty. If the record
		 * then stays (its commit fails), the empty directory comes
		 * back below. */
		if (unlinkat(st->drafts_fd, dname, AT_REMOVEDIR) < 0 && errno != ENOENT) {
			r = -errno;
			cJSON_Delete(f);
			goto out;
		}
		removed_dir = true;
		kv_del(txn, DB_VERSIONS, &k.v);
		kv_del(txn, DB_VERSION_IDS, &idk.v);
		kv_del(txn, DB_VMETA, &idk.v);
		r = st->rules->record(st, txn, c, "version.discard", f);
	} else {
		r = store_vid_aliased(st, txn, model_id, rv.id, alias, sizeof(alias));
		if (r != 0) {
			cJSON_Delete(f);
			if (r > 0)
				r = mfs_log_errno(-EBUSY,
						  "refusing to delete '%s@%s': alias '%s' points at it",
						  model, name, alias);
			goto out;
		}
		/* A tombstone keeps the record (and so the name) forever; the
		 * entries stay too, so gc keeps nothing alive by accident: their
		 * blob references are dropped by gc's mark phase. */
		rv.state = MFS_V_TOMBSTONE;
		rv.mtime_ns = mfs_now_ns();
		r = store_put_version(st, txn, &rv, name);
		if (r == 0)
			r = st->rules->record(st, txn, c, "version.delete", f);
		else
			cJSON_Delete(f);
	}
	if (r < 0)
		goto out;
	r = store_txn_commit(txn);
	txn = NULL;
out:
	if (txn)
		kv_txn_abort(txn);
	if (r < 0 && removed_dir &&
	    mkdirat(st->drafts_fd, dname, rv.mode & 07777) == 0 &&
	    fchownat(st->drafts_fd, dname, rv.uid, rv.gid, 0) < 0) {
		/* an unprivileged daemon keeps it as its own */
	}
	return st->rules->denied(st, c, r, -EBUSY, "version.delete", model, name, NULL);
}

int mfs_version_draft_open(struct mfs_store *st, uint64_t vid, int flags, int *ret_fd)
{
	char dname[24];
	int fd;

	snprintf(dname, sizeof(dname), "%llu", (unsigned long long)vid);
	fd = openat(st->drafts_fd, dname, flags | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		struct mfs_version_info vi;
		int e = errno;

		/* errno taken first: the lookup below may change it (a
		 * database call), and a 0 here once made callers close a
		 * descriptor they never got - another owner's. */
		if (e == ENOENT && mfs_version_get(st, vid, &vi) == 0 &&
		    vi.state != MFS_V_DRAFT)
			return -EROFS;
		return -e;
	}
	*ret_fd = fd;
	return 0;
}

/*============================================================ links */

/* Does target, seen from directory rel (below the version root), stay
 * inside the version? Resolved as the kernel would: symlinks already in the
 * draft are followed (d/up -> .. makes d/up/.. the version's parent), up
 * to 40 of them. root is the draft's root directory. */
bool mfs_version_link_inside(int root, const char *rel, const char *target)
{
	char comp[64][256], path[8192], queue[8192], link[4096];
	int depth = 0, hops = 0;
	size_t qlen;

	if (target[0] == '/' || !target[0])
		return false;
	/* The link's directory is known to be inside: start there. */
	snprintf(queue, sizeof(queue), "%s%s%s", rel, *rel ? "/" : "", target);
	qlen = strlen(queue);
	while (qlen) {
		char *slash = memchr(queue, '/', qlen);
		size_t n = slash ? (size_t)(slash - queue) : qlen;
		char name[256];
		struct stat sb;

		if (n >= sizeof(name))
			return false;
		memcpy(name, queue, n);
		name[n] = '\0';
		memmove(queue, queue + n + (slash ? 1 : 0), qlen - n - (slash ? 1 : 0));
		qlen -= n + (slash ? 1 : 0);
		queue[qlen] = '\0';
		if (!n || !strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			if (--depth < 0)
				return false;
			continue;
		}
		if (depth >= 64)
			return false;
		snprintf(comp[depth++], sizeof(comp[0]), "%s", name);
		path[0] = '\0';
		for (int i = 0; i < depth; i++)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s%s",
				 i ? "/" : "", comp[i]);
		if (fstatat(root, path, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(sb.st_mode))
			continue;	/* a dangling name inside is fine */
		{
			ssize_t l = readlinkat(root, path, link, sizeof(link) - 1);
			char rest[8192];

			if (l < 0 || ++hops > 40)
				return false;
			link[l] = '\0';
			if (link[0] == '/')
				return false;
			/* Replace the link by its target, relative to its dir. */
			depth--;
			snprintf(rest, sizeof(rest), "%s%s%s", link, qlen ? "/" : "", queue);
			snprintf(queue, sizeof(queue), "%s", rest);
			qlen = strlen(queue);
		}
	}
	return true;
}

/*============================================================ metadata */

int mfs_version_meta_get(struct mfs_store *st, uint64_t vid, char **ret,
			 size_t *ret_len)
{
	return store_get_text(st, DB_VMETA, vid, "{}", ret, ret_len);
}

int mfs_version_meta_set(struct mfs_store *st, const struct mfs_caller *c,
			 uint64_t vid, const char *buf, size_t len)
{
	struct kv_txn *txn = NULL;
	struct rec_version rv;
	struct rec_model rm;
	char name[MFS_NAME_MAX + 1] = "", model[MFS_MODEL_NAME_MAX + 1] = "", why[200];
	char *canon = NULL;
	struct key k;
	struct kv_val v;
	int r;

	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	r = version_and_model(st, txn, vid, &rv, name, &rm, model);
	if (r == 0)
		r = store_note(txn, MFS_CHANGE_DOCS, rv.model_id, vid, NULL);
	if (r < 0)
		goto out;
	if (rv.state != MFS_V_DRAFT) {
		r = mfs_log_errno(-EROFS, "refusing metadata change of sealed version '%s@%s'",
				  model, name);
		goto out;
	}
	if (c && c->uid != 0 && c->uid != rv.uid) {
		r = store_model_writable(st, c, &rm, model);
		if (r < 0)
			goto out;
	}
	key_id(&k, vid);
	if (!buf) {
		kv_del(txn, DB_VMETA, &k.v);
		rv.has_meta = 0;
	} else {
		r = mfs_meta_validate_version(buf, len, model, name, &canon, why,
					      sizeof(why));
		if (r < 0) {
			r = mfs_log_errno(r, "refusing '%s@%s/metadata.json': it %s; the previous metadata stays",
					  model, name, why);
			goto out;
		}
		v.data = canon;
		v.len = strlen(canon);
		r = kv_put(txn, DB_VMETA, &k.v, &v, 0);
		if (r < 0)
			goto out;
		rv.has_meta = 1;
	}
	rv.mtime_ns = mfs_now_ns();
	r = store_put_version(st, txn, &rv, name);
	if (r < 0)
		goto out;
	r = store_txn_commit(txn);
	txn = NULL;
out:
	free(canon);
	if (txn)
		kv_txn_abort(txn);
	return st->rules->denied(st, c, r, 0, "version.metadata", model, name, NULL);
}

/*============================================================ entries */

static int decode_entry(const struct kv_val *v, struct mfs_entry *ret, char *target,
			size_t tn)
{
	struct rec_entry re;

	if (v->len < sizeof(re))
		return -EIO;
	memcpy(&re, v->data, sizeof(re));
	if (v->len < sizeof(re) + re.name_len + re.target_len ||
	    re.name_len > MFS_NAME_MAX)
		return -EIO;
	if (ret) {
		memset(ret, 0, sizeof(*ret));
		ret->id = re.id;
		ret->vid = re.vid;
		ret->parent = re.parent;
		ret->mode = re.mode;
		ret->uid = re.uid;
		ret->gid = re.gid;
		ret->size = re.size;
		ret->mtime_ns = re.mtime_ns;
		memcpy(ret->digest.b, re.digest, 16);
		ret->format = re.format;
		memcpy(ret->name, (char *)v->data + sizeof(re), re.name_len);
		ret->name[re.name_len] = '\0';
	}
	if (target) {
		if (re.target_len >= tn)
			return -ENAMETOOLONG;
		memcpy(target, (char *)v->data + sizeof(re) + re.name_len,
		       re.target_len);
		target[re.target_len] = '\0';
	}
	return 0;
}

static int entry_get_txn(struct mfs_store *st, struct kv_txn *txn, uint64_t eid,
			 struct mfs_entry *ret, char *target, size_t tn)
{
	struct key k;
	struct kv_val v;
	int rc;

	key_id(&k, eid);
	rc = kv_get(txn, DB_ENTRIES, &k.v, &v);
	if (rc)
		return rc;
	return decode_entry(&v, ret, target, tn);
}

int mfs_entry_lookup(struct mfs_store *st, uint64_t vid, uint64_t parent,
		     const char *name, struct mfs_entry *ret)
{
	struct kv_txn *txn;
	struct key k;
	struct kv_val v;
	int r, rc;

	if (strlen(name) > MFS_NAME_MAX)
		return -ENAMETOOLONG;
	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	key_id_id_name(&k, vid, parent, name);
	rc = kv_get(txn, DB_DIRENTS, &k.v, &v);
	r = rc;
	if (r == 0)
		r = entry_get_txn(st, txn, get_be64(v.data), ret, NULL, 0);
	kv_txn_abort(txn);
	return r;
}

int mfs_entry_get(struct mfs_store *st, uint64_t eid, struct mfs_entry *ret)
{
	struct kv_txn *txn;
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = entry_get_txn(st, txn, eid, ret, NULL, 0);
	kv_txn_abort(txn);
	return r;
}

int mfs_entry_readlink(struct mfs_store *st, uint64_t eid, char *buf, size_t n)
{
	struct kv_txn *txn;
	struct mfs_entry e;
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = entry_get_txn(st, txn, eid, &e, buf, n);
	kv_txn_abort(txn);
	if (r == 0 && !S_ISLNK(e.mode))
		return -EINVAL;
	return r;
}

static int list_children(struct mfs_store *st, struct kv_txn *txn, uint64_t vid,
			 uint64_t parent, struct mfs_entry **ret, size_t *ret_n)
{
	struct kv_cursor *cur = NULL;
	struct key k;
	struct kv_val kv, v;
	struct mfs_entry *arr = NULL;
	size_t n = 0, cap = 0;
	int rc, r = 0;

	rc = kv_cursor_open(txn, DB_DIRENTS, &cur);
	if (rc)
		return rc;
	key_id_id(&k, vid, parent);
	kv = k.v;
	for (rc = kv_cursor_get(cur, &kv, &v, KV_SET_RANGE); rc == 0;
	     rc = kv_cursor_get(cur, &kv, &v, KV_NEXT)) {
		if (kv.len < 16 || memcmp(kv.data, k.b, 16))
			break;
		if (n == cap) {
			void *p = realloc(arr, (cap = cap ? 2 * cap : 16) * sizeof(*arr));

			if (!p) {
				r = -ENOMEM;
				break;
			}
			arr = p;
		}
		r = entry_get_txn(st, txn, get_be64(v.data), &arr[n], NULL, 0);
		if (r < 0)
			break;
		n++;
	}
	kv_cursor_close(cur);
	if (r < 0) {
		free(arr);
		return r;
	}
	*ret = arr;
	*ret_n = n;
	return 0;
}

int mfs_entry_list(struct mfs_store *st, uint64_t vid, uint64_t parent,
		   struct mfs_entry **ret, size_t *ret_n)
{
	struct kv_txn *txn;
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = list_children(st, txn, vid, parent, ret, ret_n);
	kv_txn_abort(txn);
	return r;
}

int mfs_entry_open(struct mfs_store *st, const struct mfs_entry *e, int *ret_fd)
{
	char rel[40];
	int r;

	if (!S_ISREG(e->mode))
		return -EINVAL;
	r = mfs_blob_open(st, &e->digest, ret_fd);
	if (r == -ENOENT) {
		mfs_blob_relpath(&e->digest, rel);
		return mfs_log_errno(-EIO, "blob '%s' of '%s' is missing: run modelctl fsck",
				     rel, e->name);
	}
	if (r == 0) {
		struct stat sb = { 0 };

		/* What is cheap to check at every open: a blob cut short or
		 * grown is never served as this version (fsck re-hashes). */
		if (fstat(*ret_fd, &sb) < 0 || (uint64_t)sb.st_size != e->size) {
			close(*ret_fd);
			mfs_blob_relpath(&e->digest, rel);
			return mfs_log_errno(-EIO, "blob '%s' of '%s' is damaged (%lld bytes, %llu recorded): run modelctl fsck",
					     rel, e->name, (long long)sb.st_size,
					     (unsigned long long)e->size);
		}
	}
	return r;
}

/*============================================================ rendering */

static int add_files(struct mfs_store *st, struct kv_txn *txn, uint64_t vid,
		     uint64_t parent, const char *prefix, cJSON *files, cJSON *links,
		     size_t *pending)
{
	struct mfs_entry *kids = NULL;
	size_t n = 0;
	int r;

	r = list_children(st, txn, vid, parent, &kids, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		char path[4096], hex[MFS_DIGEST_HEX], mode[8];
		cJSON *f;

		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "/" : "",
			 kids[i].name);
		if (S_ISDIR(kids[i].mode)) {
			r = add_files(st, txn, vid, kids[i].id, path, files, links, pending);
			continue;
		}
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "path", path);
		snprintf(mode, sizeof(mode), "%04o", (unsigned)(kids[i].mode & 07777));
		if (S_ISLNK(kids[i].mode)) {
			char target[4096];

			if (entry_get_txn(st, txn, kids[i].id, NULL, target,
					  sizeof(target)) == 0)
				cJSON_AddStringToObject(f, "target", target);
			cJSON_AddItemToArray(links, f);
			continue;
		}
		mfs_digest_hex(&kids[i].digest, hex);
		cJSON_AddNumberToObject(f, "size", (double)kids[i].size);
		cJSON_AddStringToObject(f, "digest", hex);
		cJSON_AddStringToObject(f, "format", mfs_format_name(kids[i].format));
		cJSON_AddStringToObject(f, "mode", mode);
		{
			/* Computed after the seal (sha256.h): null until then,
			 * and counted so the document keeps its size. */
			struct kv_val sk = { 16, kids[i].digest.b }, sv;

			if (kv_get(txn, DB_SHA256, &sk, &sv) == 0 &&
			    sv.len == MFS_SHA256_LEN) {
				char sha[MFS_SHA256_HEX];

				mfs_sha256_hex(sv.data, sha);
				cJSON_AddStringToObject(f, "sha256", sha);
			} else {
				cJSON_AddNullToObject(f, "sha256");
				(*pending)++;
			}
		}
		cJSON_AddItemToArray(files, f);
	}
	free(kids);
	return r;
}

static char *finish(cJSON *root, size_t *ret_len)
{
	char *s = mfs_meta_print(root, 0);
	size_t n;
	char *out;

	if (!s)
		return NULL;
	n = strlen(s);
	out = realloc(s, n + 2);
	if (!out) {
		free(s);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	*ret_len = n + 1;
	return out;
}

/* A file's "sha256": null becomes 64 hex digits in quotes once computed:
 * 62 bytes more. Spaces after the document (valid JSON) hold that room
 * while it is owed, so a sealed version's metadata.json keeps its size as
 * the digests arrive: a stat before a read (tar, cp, rsync) still matches
 * what the read gives. */
#define SHA256_ROOM (MFS_SHA256_HEX - 1 + 2 - 4)

static int pad_pending(char **doc, size_t *len, size_t pending)
{
	size_t add = pending * SHA256_ROOM, n = *len;
	bool nl = n && (*doc)[n - 1] == '\n';
	char *p = realloc(*doc, n + add + 1);

	if (!p) {
		free(*doc);
		*doc = NULL;
		return -ENOMEM;
	}
	if (nl)
		n--;
	memset(p + n, ' ', add);
	if (nl)
		p[n + add] = '\n';
	p[*len + add] = '\0';
	*doc = p;
	*len += add;
	return 0;
}

int mfs_version_render_metadata(struct mfs_store *st, uint64_t vid, char **ret,
				size_t *ret_len)
{
	struct kv_txn *txn = NULL;
	struct rec_version rv;
	struct rec_model rm;
	char name[MFS_NAME_MAX + 1], model[MFS_MODEL_NAME_MAX + 1], ts[40];
	cJSON *reg = NULL, *aliases, *files;
	char *user = NULL, *regtxt = NULL;
	size_t ulen = 2, pending = 0;
	struct kv_cursor *cur = NULL;
	struct key k;
	struct kv_val kv, v;
	int r, rc;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = version_and_model(st, txn, vid, &rv, name, &rm, model);
	if (r < 0)
		goto out;
	key_id(&k, vid);
	if (kv_get(txn, DB_VMETA, &k.v, &v) == 0) {
		ulen = v.len;
		user = malloc(ulen + 2);
		if (user)
			memcpy(user, v.data, ulen);
	} else {
		user = malloc(4);
		if (user)
			memcpy(user, "{}", 2);
	}
	if (!user) {
		r = -ENOMEM;
		goto out;
	}
	if (rv.state == MFS_V_DRAFT) {
		/* A draft shows what its author wrote, byte for byte. */
		if (ulen == 0 || user[ulen - 1] != '\n')
			user[ulen++] = '\n';
		user[ulen] = '\0';
		*ret = user;
		*ret_len = ulen;
		user = NULL;
		goto out;
	}
	reg = cJSON_CreateObject();
	cJSON_AddStringToObject(reg, "model", model);
	cJSON_AddStringToObject(reg, "version", name);
	cJSON_AddStringToObject(reg, "state", mfs_vstate_name(rv.state));
	mfs_time_rfc3339(rv.created_ns, ts);
	cJSON_AddStringToObject(reg, "created", ts);
	cJSON_AddNumberToObject(reg, "created_uid", rv.uid);
	{
		char who[256], host[256];

		if (store_user_name(rv.uid, who, sizeof(who)))
			cJSON_AddStringToObject(reg, "created_user", who);
		else
			cJSON_AddNullToObject(reg, "created_user");
		/* The embedded store serves one host: it is where the version
		 * was made. */
		if (gethostname(host, sizeof(host)) == 0) {
			host[sizeof(host) - 1] = '\0';
			cJSON_AddStringToObject(reg, "host", host);
		}
	}
	mfs_time_rfc3339(rv.sealed_ns, ts);
	cJSON_AddStringToObject(reg, "sealed", ts);
	cJSON_AddNumberToObject(reg, "sealed_uid", rv.sealed_uid);
	cJSON_AddNumberToObject(reg, "size", (double)rv.size);
	cJSON_AddNumberToObject(reg, "file_count", (double)rv.nfiles);
	aliases = cJSON_AddArrayToObject(reg, "aliases");
	rc = kv_cursor_open(txn, DB_ALIASES, &cur);
	if (rc) {
		r = rc;
		goto out;
	}
	key_id(&k, rv.model_id);
	kv = k.v;
	for (rc = kv_cursor_get(cur, &kv, &v, KV_SET_RANGE); rc == 0;
	     rc = kv_cursor_get(cur, &kv, &v, KV_NEXT)) {
		struct rec_alias ra;
		char an[MFS_NAME_MAX + 1];

		if (kv.len < 8 || memcmp(kv.data, k.b, 8))
			break;
		rec_get(&ra, sizeof(ra), &v);
		if (ra.vid != vid)
			continue;
		snprintf(an, sizeof(an), "%.*s", (int)(kv.len - 8),
			 (char *)kv.data + 8);
		cJSON_AddItemToArray(aliases, cJSON_CreateString(an));
	}
	kv_cursor_close(cur);
	cur = NULL;
	{
		/* What people said of it: approvals, lifecycle, tags. */
		cJSON *an = NULL, *it;

		r = st->rules->annotations(st, txn, vid, &an);
		if (r < 0)
			goto out;
		it = cJSON_DetachItemFromObjectCaseSensitive(an, "approvals");
		cJSON_AddItemToObject(reg, "approvals", it ? it : cJSON_CreateArray());
		it = cJSON_GetObjectItemCaseSensitive(an, "lifecycle");
		cJSON_AddStringToObject(reg, "lifecycle", cJSON_GetStringValue(it) ?
				       it->valuestring : "active");
		it = cJSON_DetachItemFromObjectCaseSensitive(an, "tags");
		cJSON_AddItemToObject(reg, "tags", it ? it : cJSON_CreateObject());
		cJSON_Delete(an);
	}
	files = cJSON_AddArrayToObject(reg, "files");
	r = add_files(st, txn, vid, 0, "", files, cJSON_AddArrayToObject(reg, "symlinks"),
		      &pending);
	if (r < 0)
		goto out;
	{
		/* The version's formats: each model format found, once, in a
		 * fixed order (plain json/text/zip files are not model formats
		 * but are listed when nothing else is). */
		bool seen[MFS_FMT_COUNT] = { false }, is_model = false;
		cJSON *fl = cJSON_CreateArray(), *it;

		cJSON_ArrayForEach(it, files) {
			const char *fn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "format"));

			for (int f = 1; fn && f < MFS_FMT_COUNT; f++)
				if (!strcmp(fn, mfs_format_name((enum mfs_format)f)))
					seen[f] = true;
		}
		for (int f = 1; f < MFS_FMT_ZIP; f++)
			is_model = is_model || seen[f];
		for (int f = 1; f < MFS_FMT_COUNT; f++)
			if (seen[f] && (f < MFS_FMT_ZIP || !is_model))
				cJSON_AddItemToArray(fl, cJSON_CreateString(mfs_format_name((enum mfs_format)f)));
		cJSON_AddItemToObject(reg, "formats", fl);
	}
	regtxt = mfs_meta_print(reg, 2);
	*ret = regtxt ? mfs_meta_merge_registry(user, ulen, regtxt) : NULL;
	r = *ret ? 0 : -ENOMEM;
	if (r == 0)
		*ret_len = strlen(*ret);
	if (r == 0 && pending)
		r = pad_pending(ret, ret_len, pending);
out:
	if (cur)
		kv_cursor_close(cur);
	cJSON_Delete(reg);
	free(regtxt);
	free(user);
	if (txn)
		kv_txn_abort(txn);
	return r;
}

int store_link_parents(struct mfs_store *st, struct kv_txn *txn, uint64_t vid)
{
	cJSON *meta = NULL, *list = NULL, *it;
	struct key k;
	struct kv_val v;
	int r = 0;

	key_id(&k, vid);
	if (kv_get(txn, DB_VMETA, &k.v, &v) == 0)
		meta = cJSON_ParseWithLength(v.data, v.len);
	if (meta)
		list = cJSON_GetObjectItemCaseSensitive(meta, "parents");
	cJSON_ArrayForEach(it, list) {
		uint8_t key[600];
		size_t n;
		struct kv_val kv, empty = { 0, (void *)"" };

		if (!cJSON_IsString(it) || (n = strlen(it->valuestring)) > 500)
			continue;
		memcpy(key, it->valuestring, n + 1);
		put_be64(key + n + 1, vid);
		kv.data = key;
		kv.len = n + 9;
		r = kv_put(txn, DB_CHILDREN, &kv, &empty, 0);
		if (r == 0) {
			/* The parent's lineage.json lists it now. */
			struct rec_version pv;

			if (store_resolve_ref(st, txn, it->valuestring, &pv) == 0)
				r = store_note(txn, MFS_CHANGE_DOCS, pv.model_id, pv.id, NULL);
		}
		if (r < 0)
			break;
	}
	cJSON_Delete(meta);
	return r;
}

/* Resolve "model@version" inside txn. Returns 0 and fills rv/vid, or
 * -ENOENT (unresolved: the registry does not have it). */
int store_resolve_ref(struct mfs_store *st, struct kv_txn *txn, const char *ref,
		      struct rec_version *rv)
{
	const char *at = strrchr(ref, '@');
	char model[MFS_MODEL_NAME_MAX + 1];
	struct key k;
	struct kv_val mk, v;

	if (!at || at == ref || (size_t)(at - ref) > MFS_MODEL_NAME_MAX)
		return -ENOENT;
	memcpy(model, ref, (size_t)(at - ref));
	model[at - ref] = '\0';
	mk.data = model;
	mk.len = strlen(model);
	if (kv_get(txn, DB_MODELS, &mk, &v) || v.len != sizeof(struct rec_model))
		return -ENOENT;
	{
		struct rec_model rm;

		rec_get(&rm, sizeof(rm), &v);
		if (strlen(at + 1) > MFS_NAME_MAX)
			return -ENOENT;
		key_id_name(&k, rm.id, at + 1);
	}
	if (kv_get(txn, DB_VERSIONS, &k.v, &v) || !version_rec_ok(&v))
		return -ENOENT;
	rec_get(rv, sizeof(*rv), &v);
	return 0;
}

int mfs_version_check_parents(struct mfs_store *st, uint64_t vid)
{
	struct rec_version rv, pv;
	struct rec_model rm;
	char name[MFS_NAME_MAX + 1], model[MFS_MODEL_NAME_MAX + 1], self[400];
	cJSON *meta = NULL, *list = NULL, *it;
	struct kv_txn *txn;
	struct key k;
	struct kv_val v;
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = version_and_model(st, txn, vid, &rv, name, &rm, model);
	if (r < 0)
		goto out;
	snprintf(self, sizeof(self), "%s@%s", model, name);
	key_id(&k, vid);
	if (kv_get(txn, DB_VMETA, &k.v, &v) == 0)
		meta = cJSON_ParseWithLength(v.data, v.len);
	if (meta)
		list = cJSON_GetObjectItemCaseSensitive(meta, "parents");
	cJSON_ArrayForEach(it, list) {
		const char *ref = cJSON_GetStringValue(it), *at;
		struct kv_val mk, mv;

		if (!ref || !(at = strrchr(ref, '@')))
			continue;
		if (!strcmp(ref, self)) {
			r = mfs_log_errno(-EINVAL, "refusing to seal '%s': it names itself as a parent",
					  self);
			break;
		}
		/* A parent outside the registry (a hub model) stays
		 * unresolved; one of a registered model must already be
		 * sealed, so the lineage can never loop. */
		mk.data = (void *)ref;
		mk.len = (size_t)(at - ref);
		if (kv_get(txn, DB_MODELS, &mk, &mv) != 0)
			continue;
		if (store_resolve_ref(st, txn, ref, &pv) < 0 || pv.state == MFS_V_DRAFT) {
			r = mfs_log_errno(-EINVAL, "refusing to seal '%s': parent '%s' is %s; seal it first",
					  self, ref, store_resolve_ref(st, txn, ref, &pv) < 0 ?
						     "not a version of that model" : "a draft");
			break;
		}
	}
out:
	cJSON_Delete(meta);
	kv_txn_abort(txn);
	return r;
}

static cJSON *meta_of(struct mfs_store *st, struct kv_txn *txn, uint64_t vid)
{
	return store_get_json(st, txn, DB_VMETA, vid);
}

/* May c see inside model rm (c NULL: anyone)? */
static bool model_visible(const struct mfs_caller *c, const struct rec_model *rm)
{
	return !c || mfs_perm_check(c, rm->uid, rm->gid, rm->mode, X_OK) == 0;
}

/* One node of the graph: its ref, whether the registry has it, and the
 * provenance keys its metadata names (when c may see them). */
static cJSON *lineage_node(struct mfs_store *st, struct kv_txn *txn, const struct mfs_caller *c,
			   const char *ref, cJSON **ret_parents)
{
	static const char *const keys[] = { "dataset_snapshot_id", "feature_set_version",
		"run_id", "code_commit" };
	cJSON *o = cJSON_CreateObject(), *meta = NULL, *it;
	struct rec_version rv;
	bool found = store_resolve_ref(st, txn, ref, &rv) == 0 && rv.state != MFS_V_TOMBSTONE;

	cJSON_AddStringToObject(o, "ref", ref);
	cJSON_AddBoolToObject(o, "resolved", found);
	if (found && c) {
		struct rec_model rm;

		if (store_get_model(st, txn, rv.model_id, &rm, NULL, 0) < 0 ||
		    !model_visible(c, &rm)) {
			*ret_parents = cJSON_CreateArray();
			return o;
		}
	}
	if (found) {
		cJSON_AddStringToObject(o, "state", mfs_vstate_name(rv.state));
		meta = meta_of(st, txn, rv.id);
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		it = meta ? cJSON_GetObjectItemCaseSensitive(meta, keys[i]) : NULL;
		if (it)
			cJSON_AddItemToObject(o, keys[i], cJSON_Duplicate(it, 1));
	}
	it = meta ? cJSON_GetObjectItemCaseSensitive(meta, "parents") : NULL;
	*ret_parents = cJSON_IsArray(it) ? cJSON_Duplicate(it, 1) : cJSON_CreateArray();
	cJSON_Delete(meta);
	return o;
}

int mfs_version_render_lineage(struct mfs_store *st, const struct mfs_caller *c,
			       uint64_t vid, char **ret, size_t *ret_len)
{
	struct kv_txn *txn = NULL;
	struct kv_cursor *cur = NULL;
	struct rec_version rv;
	struct rec_model rm;
	char name[MFS_NAME_MAX + 1], model[MFS_MODEL_NAME_MAX + 1], self[400];
	cJSON *root = NULL, *meta = NULL, *it, *parents, *children, *ancestors;
	cJSON *queue = NULL, *seen = NULL;
	struct kv_val kv, v;
	int r, rc;

	if (c && mfs_caller_is_admin(st, c))
		c = NULL;
	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = version_and_model(st, txn, vid, &rv, name, &rm, model);
	if (r < 0)
		goto out;
	snprintf(self, sizeof(self), "%s@%s", model, name);
	meta = meta_of(st, txn, vid);
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "model", model);
	cJSON_AddStringToObject(root, "version", name);
	{
		static const char *const keys[] = { "dataset_snapshot_id",
			"feature_set_version", "run_id", "code_commit" };

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			it = meta ? cJSON_GetObjectItemCaseSensitive(meta, keys[i]) : NULL;
			cJSON_AddItemToObject(root, keys[i], it ? cJSON_Duplicate(it, 1) :
								  cJSON_CreateNull());
		}
	}
	/* Direct parents, resolved or not (never dropped). */
	parents = cJSON_AddArrayToObject(root, "parents");
	it = meta ? cJSON_GetObjectItemCaseSensitive(meta, "parents") : NULL;
	queue = cJSON_IsArray(it) ? cJSON_Duplicate(it, 1) : cJSON_CreateArray();
	cJSON_ArrayForEach(it, queue) {
		cJSON *pp, *node = lineage_node(st, txn, c, it->valuestring, &pp);

		cJSON_Delete(pp);
		cJSON_AddItemToArray(parents, node);
	}
	/* Direct children, from the index the seal keeps. */
	children = cJSON_AddArrayToObject(root, "children");
	rc = kv_cursor_open(txn, DB_CHILDREN, &cur);
	if (rc) {
		r = rc;
		goto out;
	}
	kv.data = self;
	kv.len = strlen(self) + 1;
	for (rc = kv_cursor_get(cur, &kv, &v, KV_SET_RANGE); rc == 0;
	     rc = kv_cursor_get(cur, &kv, &v, KV_NEXT)) {
		struct rec_version cv;
		struct rec_model cm;
		char cn[MFS_NAME_MAX + 1], cmn[MFS_MODEL_NAME_MAX + 1], ref[400];

		if (kv.len != strlen(self) + 9 || memcmp(kv.data, self, strlen(self) + 1))
			break;
		if (store_get_version(st, txn, get_be64((uint8_t *)kv.data + strlen(self) + 1),
				      &cv, cn, sizeof(cn)) < 0 ||
		    cv.state != MFS_V_SEALED ||
		    store_get_model(st, txn, cv.model_id, &cm, cmn, sizeof(cmn)) < 0 ||
		    !model_visible(c, &cm))
			continue;
		snprintf(ref, sizeof(ref), "%s@%s", cmn, cn);
		cJSON_AddItemToArray(children, cJSON_CreateString(ref));
	}
	kv_cursor_close(cur);
	cur = NULL;
	/* The whole ancestor chain, breadth first, each once: cycles cannot
	 * form (a parent must exist before its child is sealed), but a
	 * hand-written reference may loop; `seen` stops it. */
	ancestors = cJSON_AddArrayToObject(root, "ancestors");
	seen = cJSON_CreateObject();
	cJSON_AddTrueToObject(seen, self);
	for (int depth = 1; cJSON_GetArraySize(queue) > 0 && depth <= 64; depth++) {
		cJSON *next = cJSON_CreateArray();

		cJSON_ArrayForEach(it, queue) {
			cJSON *pp, *node, *p;

			if (!cJSON_IsString(it) || cJSON_GetObjectItemCaseSensitive(seen, it->valuestring))
				continue;
			cJSON_AddTrueToObject(seen, it->valuestring);
			node = lineage_node(st, txn, c, it->valuestring, &pp);
			cJSON_AddNumberToObject(node, "depth", depth);
			cJSON_AddItemToArray(ancestors, node);
			cJSON_ArrayForEach(p, pp)
				if (cJSON_IsString(p))
					cJSON_AddItemToArray(next, cJSON_CreateString(p->valuestring));
			cJSON_Delete(pp);
		}
		cJSON_Delete(queue);
		queue = next;
	}
	*ret = finish(root, ret_len);
	r = *ret ? 0 : -ENOMEM;
out:
	if (cur)
		kv_cursor_close(cur);
	cJSON_Delete(queue);
	cJSON_Delete(seen);
	cJSON_Delete(meta);
	cJSON_Delete(root);
	if (txn)
		kv_txn_abort(txn);
	return r;
}

int store_model_writable(struct mfs_store *st, const struct mfs_caller *c,
			 const struct rec_model *rm, const char *model)
{
	if (c && mfs_caller_is_admin(st, c))
		return 0;
	if (mfs_perm_check(c, rm->uid, rm->gid, rm->mode, W_OK | X_OK) < 0)
		return mfs_log_errno(-EACCES, "refusing uid %u: model '%s' is not writable for it (owner uid %u, mode %04o)",
				     (unsigned)c->uid, model, (unsigned)rm->uid,
				     (unsigned)(rm->mode & 07777));
	return 0;
}

/*============================================================ SHA-256 */

int store_version_files(struct mfs_store *st, struct kv_txn *txn, uint64_t vid,
			int (*fn)(void *ctx, const uint8_t digest[16]), void *ctx)
{
	struct kv_cursor *cur;
	struct key k;
	struct kv_val kv, v;
	int r = 0, rc;

	rc = kv_cursor_open(txn, DB_DIRENTS, &cur);
	if (rc)
		return rc;
	key_id(&k, vid);
	kv = k.v;
	for (rc = kv_cursor_get(cur, &kv, &v, KV_SET_RANGE); r == 0 && rc == 0;
	     rc = kv_cursor_get(cur, &kv, &v, KV_NEXT)) {
		struct rec_entry re;
		struct key ek;
		struct kv_val ev;

		if (kv.len < 8 || memcmp(kv.data, k.b, 8))
			break;
		if (v.len != 8)
			continue;
		key_id(&ek, get_be64(v.data));
		if (kv_get(txn, DB_ENTRIES, &ek.v, &ev) != 0)
			continue;
		rec_get(&re, sizeof(re), &ev);
		if (S_ISREG(re.mode))
			r = fn(ctx, re.digest);
	}
	kv_cursor_close(cur);
	return r;
}

struct sha_walk {
	struct mfs_store *st;
	struct kv_txn *txn;
};

/* 1 (stop) at the first file without its SHA-256. */
static int sha_missing(void *ctx, const uint8_t digest[16])
{
	struct sha_walk *w = ctx;
	struct kv_val k = { 16, (void *)digest }, v;

	return kv_get(w->txn, DB_SHA256, &k, &v) != 0;
}

int store_sha256_complete(struct mfs_store *st, struct kv_txn *txn, uint64_t vid, bool *ret)
{
	struct sha_walk w = { .st = st, .txn = txn };
	struct rec_version rv;
	int r;

	r = store_get_version(st, txn, vid, &rv, NULL, 0);
	if (r == 0 && rv.state == MFS_V_TOMBSTONE)
		r = -ENOENT;
	if (r == 0 && rv.state != MFS_V_SEALED) {
		*ret = false;
	} else if (r == 0) {
		r = store_version_files(st, txn, vid, sha_missing, &w);
		if (r >= 0) {
			*ret = r == 0;
			r = 0;
		}
	}
	return r;
}

int mfs_version_sha256_complete(struct mfs_store *st, uint64_t vid, bool *ret_complete)
{
	struct kv_txn *txn;
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = store_sha256_complete(st, txn, vid, ret_complete);
	kv_txn_abort(txn);
	return r;
}
