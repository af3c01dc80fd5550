/* annot.c - approvals, lifecycle and tags of sealed versions */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "governance.h"
#include "alias.h"
#include "annot.h"
#include "audit.h"
#include "log.h"
#include "model.h"
#include "meta.h"
#include "perm.h"
#include "version.h"

/*
 * One JSON document per version in DB_ANNOT, read and rewritten whole in
 * the write transaction of each change: annotations are few and small.
 */

int store_annot_load(struct mfs_store *st, struct kv_txn *txn, uint64_t vid, cJSON **ret)
{
	cJSON *j = store_get_json(st, txn, DB_ANNOT, vid);

	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = cJSON_CreateObject();
	}
	if (!j)
		return -ENOMEM;
	*ret = j;
	return 0;
}

/* The member name of obj, made (an array or an object) if missing or of
 * another type. */
static cJSON *member(cJSON *obj, const char *name, bool array)
{
	cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (array ? cJSON_IsArray(m) : cJSON_IsObject(m))
		return m;
	cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
	return array ? cJSON_AddArrayToObject(obj, name) : cJSON_AddObjectToObject(obj, name);
}

static int annot_put(struct mfs_store *st, struct kv_txn *txn, uint64_t vid, const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	struct key k;
	struct kv_val v;
	int r;

	if (!s)
		return -ENOMEM;
	key_id(&k, vid);
	v.data = s;
	v.len = strlen(s);
	r = kv_put(txn, DB_ANNOT, &k.v, &v, 0);
	free(s);
	return r;
}

/* Would uid, with its account's groups now, pass approvers (or is it an
 * admin)? */
static bool approver_now(struct mfs_store *st, uid_t uid, const cJSON *approvers)
{
	struct mfs_caller c = { .uid = uid, .gid = (gid_t)-1 };
	struct passwd pw, *res = NULL;
	gid_t groups[256];
	int ng = 256;
	char buf[4096];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res) {
		c.gid = pw.pw_gid;
		if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &ng) < 0)
			ng = 256;	/* the first 256 */
		c.groups = groups;
		c.ngroups = ng;
	}
	return mfs_caller_is_admin(st, &c) || store_policy_lists(&c, approvers);
}

cJSON *store_annot_approvals(struct mfs_store *st, const cJSON *annot, const char *alias,
			     uid_t creator, const cJSON *approvers)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *a;
	uid_t seen[128];
	int nseen = 0;

	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(annot, "approvals")) {
		const cJSON *u = cJSON_GetObjectItemCaseSensitive(a, "uid");
		const char *al = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "alias"));
		uid_t uid;
		bool dup = false;

		if (!cJSON_IsNumber(u) || !al || strcmp(al, alias))
			continue;
		uid = (uid_t)u->valuedouble;
		if (uid == creator)
			continue;
		for (int i = 0; i < nseen; i++)
			dup = dup || seen[i] == uid;
		if (dup || nseen == 128 || (approvers && !approver_now(st, uid, approvers)))
			continue;
		seen[nseen++] = uid;
		cJSON_AddItemToArray(out, cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(a, "user"), 1));
	}
	return out;
}

/* The common prologue: a write txn, the sealed version, its model, its
 * annotations. */
struct ctx {
	struct kv_txn *txn;
	struct rec_version rv;
	struct rec_model rm;
	char name[MFS_NAME_MAX + 1], model[MFS_MODEL_NAME_MAX + 1];
	cJSON *annot;
};

static int begin(struct mfs_store *st, uint64_t vid, const char *what, struct ctx *x)
{
	int r;

	memset(x, 0, sizeof(*x));
	r = store_txn_begin(st, true, &x->txn);
	if (r < 0)
		return r;
	r = store_get_version(st, x->txn, vid, &x->rv, x->name, sizeof(x->name));
	if (r == 0)
		r = store_get_model(st, x->txn, x->rv.model_id, &x->rm, x->model, sizeof(x->model));
	if (r == 0 && x->rv.state != MFS_V_SEALED)
		r = mfs_log_errno(x->rv.state == MFS_V_TOMBSTONE ? -ENOENT : -EINVAL,
				  "refusing %s of '%s@%s': it is %s; only sealed versions take %s",
				  what, x->model, x->name, mfs_vstate_name(x->rv.state), what);
	if (r == 0)
		r = store_annot_load(st, x->txn, vid, &x->annot);
	if (r == 0)	/* its metadata.json shows them */
		r = store_note(x->txn, MFS_CHANGE_DOCS, x->rv.model_id, vid, NULL);
	if (r < 0) {
		kv_txn_abort(x->txn);
		x->txn = NULL;
	}
	return r;
}

static int finish(struct ctx *x, int r)
{
	cJSON_Delete(x->annot);
	if (!x->txn)
		return r;
	if (r < 0) {
		kv_txn_abort(x->txn);
		return r;
	}
	return store_txn_commit(x->txn);
}

/* The audit fields naming the version. */
static cJSON *fields_of(const struct ctx *x)
{
	cJSON *f = cJSON_CreateObject();

	cJSON_AddStringToObject(f, "model", x->model);
	cJSON_AddStringToObject(f, "version", x->name);
	return f;
}

/* A refusal: log, abort, and record the denial. */
static int deny(struct mfs_store *st, const struct mfs_caller *c, struct ctx *x,
		const char *op, const char *alias, int err, const char *why)
{
	char model[MFS_MODEL_NAME_MAX + 1], name[MFS_NAME_MAX + 1];

	memcpy(model, x->model, sizeof(model));
	memcpy(name, x->name, sizeof(name));
	mfs_log(MFS_LOG_WARN, "refusing %s of '%s@%s' by uid %u: %s", op, model, name,
		(unsigned)c->uid, why);
	finish(x, err);
	mfs_audit_denial(st, c, op, model, name, alias, -err, why);
	return err;
}

/* Creator of the version, whoever may write its model, or an admin. */
static bool may_annotate(struct mfs_store *st, const struct mfs_caller *c, const struct ctx *x)
{
	return mfs_caller_is_admin(st, c) || c->uid == x->rv.uid ||
	       mfs_perm_check(c, x->rm.uid, x->rm.gid, x->rm.mode, W_OK | X_OK) == 0;
}

int mfs_version_approve(struct mfs_store *st, const struct mfs_caller *c, uint64_t vid,
			const char *value, size_t len)
{
	char alias[MFS_NAME_MAX + 1], comment[1024] = "", ts[40], who[256];
	struct store_policy p;
	const cJSON *rule, *approvers;
	cJSON *list, *a, *it, *f;
	struct ctx x;
	size_t al;
	int r;

	while (len && (value[len - 1] == '\n' || value[len - 1] == ' '))
		len--;
	al = 0;
	while (al < len && value[al] != ' ' && value[al] != '\t' && value[al] != ':')
		al++;
	if (al == 0 || al > MFS_NAME_MAX || !mfs_meta_text_ok(value, len))
		return mfs_log_errno(-EINVAL, "refusing an approval: the value is 'ALIAS[ COMMENT]'");
	memcpy(alias, value, al);
	alias[al] = '\0';
	if (mfs_alias_name_check(alias) < 0 || alias[0] == '.')
		return mfs_log_errno(-EINVAL, "refusing an approval for '%s': not an alias name", alias);
	{
		size_t cs = al;

		while (cs < len && (value[cs] == ' ' || value[cs] == '\t' || value[cs] == ':'))
			cs++;
		snprintf(comment, sizeof(comment), "%.*s", (int)(len - cs), value + cs);
	}
	r = begin(st, vid, "an approval", &x);
	if (r < 0)
		return r;
	if (c->uid == x.rv.uid)
		return deny(st, c, &x, "version.approve", alias, -EPERM,
			    "the creator of a version cannot approve it");
	store_policy_load(st, x.txn, x.rm.id, &p);
	rule = store_policy_rule(&p, alias);
	approvers = cJSON_GetObjectItemCaseSensitive(rule, "approvers");
	r = 0;
	if (approvers && !mfs_caller_is_admin(st, c) && !store_policy_lists(c, approvers))
		r = -EACCES;
	store_policy_free(&p);
	if (r < 0)
		return deny(st, c, &x, "version.approve", alias, -EACCES,
			    "the alias rule names its approvers and the caller is not one");
	list = member(x.annot, "approvals", true);
	for (int i = cJSON_GetArraySize(list) - 1; i >= 0; i--) {
		it = cJSON_GetArrayItem(list, i);
		if (cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "uid")) == c->uid &&
		    !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "alias")) ?: "", alias))
			cJSON_DeleteItemFromArray(list, i);
	}
	store_user_name(c->uid, who, sizeof(who));
	mfs_time_rfc3339(mfs_now_ns(), ts);
	a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "alias", alias);
	cJSON_AddNumberToObject(a, "uid", c->uid);
	cJSON_AddStringToObject(a, "user", who);
	cJSON_AddStringToObject(a, "time", ts);
	if (*comment)
		cJSON_AddStringToObject(a, "comment", comment);
	cJSON_AddItemToArray(list, a);
	r = annot_put(st, x.txn, vid, x.annot);
	if (r == 0) {
		f = fields_of(&x);
		cJSON_AddStringToObject(f, "alias", alias);
		if (*comment)
			cJSON_AddStringToObject(f, "comment", comment);
		r = store_audit(st, x.txn, c, "version.approve", f);
	}
	return finish(&x, r);
}

int store_annot_set_lifecycle(struct mfs_store *st, struct kv_txn *txn,
			      const struct mfs_caller *c, uint64_t vid,
			      const char *state, const char *reason)
{
	struct rec_version rv;
	struct rec_model rm;
	char name[MFS_NAME_MAX + 1], model[MFS_MODEL_NAME_MAX + 1], ts[40];
	cJSON *annot, *f;
	const char *before;
	int r;

	r = store_get_version(st, txn, vid, &rv, name, sizeof(name));
	if (r == 0)
		r = store_get_model(st, txn, rv.model_id, &rm, model, sizeof(model));
	if (r == 0)
		r = store_annot_load(st, txn, vid, &annot);
	if (r < 0)
		return r;
	before = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(annot, "lifecycle"));
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "model", model);
	cJSON_AddStringToObject(f, "version", name);
	cJSON_AddStringToObject(f, "before", before ? before : "active");
	cJSON_AddStringToObject(f, "after", state);
	if (reason)
		cJSON_AddStringToObject(f, "reason", reason);
	cJSON_DeleteItemFromObjectCaseSensitive(annot, "lifecycle");
	cJSON_DeleteItemFromObjectCaseSensitive(annot, "lifecycle_time");
	if (strcmp(state, "active")) {
		mfs_time_rfc3339(mfs_now_ns(), ts);
		cJSON_AddStringToObject(annot, "lifecycle", state);
		cJSON_AddStringToObject(annot, "lifecycle_time", ts);
	}
	r = annot_put(st, txn, vid, annot);
	cJSON_Delete(annot);
	if (r < 0) {
		cJSON_Delete(f);
		return r;
	}
	return store_audit(st, txn, c, "version.lifecycle", f);
}

int mfs_version_set_lifecycle(struct mfs_store *st, const struct mfs_caller *c,
			      uint64_t vid, const char *state, size_t len)
{
	char s[16], alias[MFS_NAME_MAX + 1];
	struct ctx x;
	int r;

	while (len && state[len - 1] == '\n')
		len--;
	snprintf(s, sizeof(s), "%.*s", (int)(len < 15 ? len : 15), state);
	if (len >= 15 || (strcmp(s, "active") && strcmp(s, "deprecated") && strcmp(s, "archived")))
		return mfs_log_errno(-EINVAL, "refusing lifecycle '%.*s': it is active, deprecated or archived",
				     (int)(len < 64 ? len : 64), state);
	r = begin(st, vid, "a lifecycle", &x);
	if (r < 0)
		return r;
	if (!may_annotate(st, c, &x))
		return deny(st, c, &x, "version.lifecycle", NULL, -EACCES,
			    "only the version's creator, the model's writers and admins set its lifecycle");
	if (!strcmp(s, "archived") &&
	    store_vid_aliased(st, x.txn, x.rv.model_id, vid, alias, sizeof(alias)) == 1) {
		mfs_log(MFS_LOG_WARN, "refusing to archive '%s@%s': alias '%s' points at it; move the alias first",
			x.model, x.name, alias);
		return finish(&x, -EBUSY);
	}
	r = store_annot_set_lifecycle(st, x.txn, c, vid, s, NULL);
	return finish(&x, r);
}

int mfs_version_tag(struct mfs_store *st, const struct mfs_caller *c, uint64_t vid,
		    const char *name, const char *value, size_t len)
{
	size_t nl = strlen(name);
	cJSON *tags, *f;
	struct ctx x;
	int r;

	if (nl == 0 || nl > 128 || !mfs_meta_text_ok(name, nl) ||
	    (value && (len > 4096 || !mfs_meta_text_ok(value, len))))
		return mfs_log_errno(-EINVAL, "refusing tag '%.128s': names are 1-128 bytes and values up to 4096 bytes of UTF-8 text",
				     name);
	r = begin(st, vid, "a tag", &x);
	if (r < 0)
		return r;
	if (!may_annotate(st, c, &x))
		return deny(st, c, &x, "version.tag", NULL, -EACCES,
			    "only the version's creator, the model's writers and admins tag it");
	tags = member(x.annot, "tags", false);
	if (!value && !cJSON_GetObjectItemCaseSensitive(tags, name))
		return finish(&x, -ENODATA);
	cJSON_DeleteItemFromObjectCaseSensitive(tags, name);
	if (value) {
		char *v = strndup(value, len);

		if (!v)
			return finish(&x, -ENOMEM);
		cJSON_AddStringToObject(tags, name, v);
		free(v);
	}
	r = annot_put(st, x.txn, vid, x.annot);
	if (r == 0) {
		f = fields_of(&x);
		cJSON_AddStringToObject(f, "tag", name);
		if (value)
			cJSON_AddItemToObject(f, "after", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(tags, name), 1));
		r = store_audit(st, x.txn, c, value ? "version.tag" : "version.untag", f);
	}
	return finish(&x, r);
}

bool mfs_version_archived(struct mfs_store *st, uint64_t vid)
{
	struct kv_txn *txn;
	cJSON *a = NULL;
	bool archived = false;

	if (store_txn_begin(st, false, &txn) < 0)
		return false;
	if (store_annot_load(st, txn, vid, &a) == 0) {
		const char *lc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "lifecycle"));

		archived = lc && !strcmp(lc, "archived");
	}
	kv_txn_abort(txn);
	cJSON_Delete(a);
	return archived;
}

int mfs_version_docs_each(struct mfs_store *st, mfs_version_docs_fn fn, void *ctx)
{
	struct kv_txn *txn;
	struct kv_cursor *mc = NULL, *ac = NULL;
	struct kv_val mk, mv, ak, av;
	int r, rm, ra;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = kv_cursor_open(txn, DB_VMETA, &mc);
	if (r == 0)
		r = kv_cursor_open(txn, DB_ANNOT, &ac);
	if (r)
		goto out;
	/* A merge of the two tables, both keyed by be64 vid. */
	rm = kv_cursor_get(mc, &mk, &mv, KV_FIRST);
	ra = kv_cursor_get(ac, &ak, &av, KV_FIRST);
	while (r == 0 && (rm == 0 || ra == 0)) {
		uint64_t m = rm == 0 && mk.len == 8 ? get_be64(mk.data) : UINT64_MAX;
		uint64_t a = ra == 0 && ak.len == 8 ? get_be64(ak.data) : UINT64_MAX;
		uint64_t vid = m < a ? m : a;

		if (vid == UINT64_MAX)
			break;	/* (keys of another length: none are written) */
		r = fn(ctx, vid, m == vid ? mv.data : NULL, m == vid ? mv.len : 0,
		       a == vid ? av.data : NULL, a == vid ? av.len : 0);
		if (m == vid)
			rm = kv_cursor_get(mc, &mk, &mv, KV_NEXT);
		if (a == vid)
			ra = kv_cursor_get(ac, &ak, &av, KV_NEXT);
	}
	if (r == 0 && rm != 0 && rm != KV_NOTFOUND)
		r = rm;
	if (r == 0 && ra != 0 && ra != KV_NOTFOUND)
		r = ra;
out:
	if (mc)
		kv_cursor_close(mc);
	if (ac)
		kv_cursor_close(ac);
	kv_txn_abort(txn);
	return r;
}

int mfs_version_annot_get(struct mfs_store *st, uint64_t vid, char **ret, size_t *ret_len)
{
	struct kv_txn *txn;
	cJSON *a = NULL;
	char *s;
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = store_annot_load(st, txn, vid, &a);
	kv_txn_abort(txn);
	if (r < 0)
		return r;
	s = cJSON_PrintUnformatted(a);
	cJSON_Delete(a);
	if (!s)
		return -ENOMEM;
	*ret = s;
	*ret_len = strlen(s);
	return 0;
}
