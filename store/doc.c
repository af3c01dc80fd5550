/* doc.c - the documents of models and of the registry, and index.json */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "governance.h"
#include "audit.h"
#include "doc.h"
#include "log.h"
#include "meta.h"
#include "model.h"
#include "perm.h"
#include "policy.h"
#include "promote.h"
#include "version.h"

int mfs_model_doc_get(struct mfs_store *st, uint64_t id, enum mfs_model_doc doc,
		      char **ret, size_t *ret_len)
{
	char *dflt = NULL;
	size_t dlen;
	int r;

	/* A model without a policy of its own reads the registry's. */
	if (doc == MFS_DOC_POLICY && id) {
		r = mfs_policy_registry_get(st, &dflt, &dlen);
		if (r < 0)
			return r;
	}
	r = store_get_text(st, doc == MFS_DOC_POLICY ? DB_POLICY : DB_MMETA, id,
			   dflt ? dflt : "{}\n", ret, ret_len);
	free(dflt);
	return r;
}

static int may_write(struct mfs_store *st, const struct mfs_caller *c,
		     const struct rec_model *rm, const char *name, enum mfs_model_doc doc,
		     bool quiet)
{
	if (doc != MFS_DOC_POLICY) {
		if (quiet)
			return mfs_perm_check(c, rm->uid, rm->gid, rm->mode, W_OK | X_OK);
		return store_model_writable(st, c, rm, name);
	}
	if (!c || c->uid == rm->uid || mfs_caller_is_admin(st, c))
		return 0;
	if (quiet)
		return -EACCES;
	return mfs_log_errno(-EACCES, "refusing '%s/policy.json' to uid %u: only the model's owner (uid %u) and admins write it",
			     name, (unsigned)c->uid, (unsigned)rm->uid);
}

int mfs_model_doc_may_write(struct mfs_store *st, const struct mfs_caller *c,
			    uint64_t id, enum mfs_model_doc doc, bool quiet)
{
	struct rec_model rm;
	char name[MFS_MODEL_NAME_MAX + 1];
	struct kv_txn *txn;
	int r;

	if (id == 0 && doc == MFS_DOC_POLICY) {
		if (mfs_caller_is_admin(st, c))
			return 0;
		if (quiet)
			return -EACCES;
		return mfs_audit_refuse(st, c, "registry.policy", NULL, NULL, NULL, EACCES,
					"refusing the registry's policy.json to uid %u: only admins write it",
					(unsigned)c->uid);
	}
	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = store_get_model(st, txn, id, &rm, name, sizeof(name));
	kv_txn_abort(txn);
	if (r < 0)
		return r;
	r = may_write(st, c, &rm, name, doc, quiet);
	if (quiet)
		return r;
	return store_denied(st, c, r, 0, doc == MFS_DOC_POLICY ? "model.policy" : "model.metadata",
			    name, NULL, NULL);
}

int mfs_model_doc_set(struct mfs_store *st, const struct mfs_caller *c,
		      uint64_t id, enum mfs_model_doc doc, const char *buf,
		      size_t len)
{
	const char *fname = doc == MFS_DOC_POLICY ? "policy.json" : "metadata.json";
	struct kv_txn *txn = NULL;
	struct rec_model rm;
	char name[MFS_MODEL_NAME_MAX + 1] = "", why[400];
	cJSON *j = NULL, *f;
	struct key k;
	struct kv_val v;
	int r;

	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	r = store_get_model(st, txn, id, &rm, name, sizeof(name));
	if (r == 0)
		r = store_note(txn, MFS_CHANGE_DOCS, id, 0, NULL);
	if (r < 0)
		goto out;
	r = may_write(st, c, &rm, name, doc, false);
	if (r < 0)
		goto out;
	if (doc == MFS_DOC_POLICY) {
		r = mfs_policy_validate(buf, len, false, why, sizeof(why));
		if (r < 0) {
			r = mfs_log_errno(r, "refusing '%s/policy.json': %s", name, why);
			goto out;
		}
	}
	r = mfs_meta_parse_object(buf, len, &j, why, sizeof(why));
	if (r < 0) {
		r = mfs_log_errno(r, "refusing '%s/%s': it %s", name, fname, why);
		goto out;
	}
	/* Stored as written: users keep these files in git and diff them. */
	key_id(&k, id);
	v.data = (void *)buf;
	v.len = len;
	r = kv_put(txn, doc == MFS_DOC_POLICY ? DB_POLICY : DB_MMETA,
				     &k.v, &v, 0);
	if (r < 0)
		goto out;
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "model", name);
	cJSON_AddItemToObject(f, "document", j);
	j = NULL;
	r = store_audit(st, txn, c, doc == MFS_DOC_POLICY ? "model.policy" : "model.metadata", f);
	if (r < 0)
		goto out;
	r = store_txn_commit(txn);
	txn = NULL;
out:
	cJSON_Delete(j);
	if (txn)
		kv_txn_abort(txn);
	return store_denied(st, c, r, 0, doc == MFS_DOC_POLICY ? "model.policy" : "model.metadata",
			    name, NULL, NULL);
}

/* index.json is composed from the public calls: it is a view, not a table. */
int mfs_model_index_render(struct mfs_store *st, const struct mfs_caller *c, char **ret,
			   size_t *ret_len)
{
	struct mfs_model_info *m = NULL;
	size_t n = 0;
	cJSON *root, *models;
	char *s;
	int r;

	r = mfs_model_list(st, &m, &n);
	if (r < 0)
		return r;
	if (c && mfs_caller_is_admin(st, c))
		c = NULL;
	root = cJSON_CreateObject();
	models = cJSON_AddArrayToObject(root, "models");
	for (size_t i = 0; i < n && r == 0; i++) {
		struct mfs_version_info *v = NULL, lv;
		struct mfs_alias_info *a = NULL;
		size_t nv = 0, na = 0, sealed = 0, drafts = 0;
		cJSON *o, *al;
		char ts[40];

		/* What is inside a model it may not search is not c's to see. */
		if (c && mfs_perm_check(c, m[i].uid, m[i].gid, m[i].mode, X_OK) < 0)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddItemToArray(models, o);
		cJSON_AddStringToObject(o, "model", m[i].name);
		cJSON_AddNumberToObject(o, "owner_uid", m[i].uid);
		mfs_time_rfc3339(m[i].ctime_ns, ts);
		cJSON_AddStringToObject(o, "created", ts);
		r = mfs_version_list(st, m[i].id, &v, &nv);
		if (r < 0)
			break;
		for (size_t j = 0; j < nv; j++) {
			sealed += v[j].state == MFS_V_SEALED;
			drafts += v[j].state == MFS_V_DRAFT;
		}
		free(v);
		cJSON_AddNumberToObject(o, "versions", (double)sealed);
		cJSON_AddNumberToObject(o, "drafts", (double)drafts);
		if (mfs_alias_latest(st, m[i].id, &lv) == 0)
			cJSON_AddStringToObject(o, "latest", lv.name);
		else
			cJSON_AddNullToObject(o, "latest");
		al = cJSON_AddObjectToObject(o, "aliases");
		r = mfs_alias_list(st, m[i].id, &a, &na);
		for (size_t j = 0; r == 0 && j < na; j++)
			cJSON_AddStringToObject(al, a[j].name, a[j].version);
		free(a);
	}
	free(m);
	s = r == 0 ? mfs_meta_print(root, 0) : NULL;
	cJSON_Delete(root);
	if (r < 0)
		return r;
	if (!s)
		return -ENOMEM;
	{
		size_t l = strlen(s);
		char *p = realloc(s, l + 2);

		if (!p) {
			free(s);
			return -ENOMEM;
		}
		p[l] = '\n';
		p[l + 1] = '\0';
		*ret = p;
		*ret_len = l + 1;
	}
	return 0;
}
