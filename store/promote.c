/* promote.c - moving aliases under the registry's rules; latest; history */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "governance.h"
#include "alias.h"
#include "annot.h"
#include "audit.h"
#include "log.h"
#include "meta.h"
#include "model.h"
#include "perm.h"
#include "promote.h"
#include "semver.h"

/*
 * Creating, moving, renaming and removing an alias (alias.c reads the
 * rows). A rename onto an existing alias is one move of the destination,
 * which is how `ln -sfn` (link under a random name, rename onto the alias)
 * promotes. Every change passes the policy's rules for the alias name (who
 * may, protection, gates, approvals) and appends a history record (the
 * model's history.jsonl) and an audit record in the same transaction.
 */

/* Write alias `name`'s row as it is. */
static int write_alias(struct kv_txn *txn, uint64_t model_id, const char *name,
		       const struct rec_alias *ra)
{
	struct key k;
	struct kv_val v = { sizeof(*ra), (void *)ra };

	key_id_name(&k, model_id, name);
	return kv_put(txn, DB_ALIASES, &k.v, &v, 0);
}

/* Point alias `name` at ra->vid, from old_vid (0: a new name). The
 * versions an alias leaves and reaches list it in their metadata.json:
 * their documents and the model's are noted (change.h). The caller read
 * the old row already: no second read (a round trip on PostgreSQL). */
static int put_alias_txn(struct kv_txn *txn, uint64_t model_id, const char *name,
			 uint64_t old_vid, const struct rec_alias *ra)
{
	int r = 0;

	if (old_vid && old_vid != ra->vid)
		r = store_note(txn, MFS_CHANGE_DOCS, model_id, old_vid, NULL);
	if (r == 0)
		r = store_note(txn, MFS_CHANGE_DOCS, model_id, ra->vid, NULL);
	return r < 0 ? r : write_alias(txn, model_id, name, ra);
}

/* Remove alias `name`, which pointed at old_vid. */
static int del_alias_txn(struct kv_txn *txn, uint64_t model_id, const char *name,
			 uint64_t old_vid)
{
	struct key k;
	int r;

	key_id_name(&k, model_id, name);
	r = store_note(txn, MFS_CHANGE_DOCS, model_id, old_vid, NULL);
	return r < 0 ? r : kv_del(txn, DB_ALIASES, &k.v);
}

/* Record a move of alias `name` from version `from` to `to` (NULL: none),
 * with the approvals it used (a cJSON array, borrowed; NULL: none): one
 * history record (history.c) and one audit record. */
static int record_move(struct mfs_store *st, struct kv_txn *txn,
		       const struct mfs_caller *c, uint64_t model_id,
		       const char *model, const char *name, const char *from,
		       const char *to, const cJSON *approvals, uint64_t *ret_seq)
{
	cJSON *a;
	const char *event = !from ? "alias.create" : !to ? "alias.remove" : "alias.move";
	int r;

	r = store_history_add(st, txn, c, model_id, name, from, to, approvals, ret_seq);
	if (r < 0)
		return r;
	a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "model", model);
	cJSON_AddStringToObject(a, "alias", name);
	if (from)
		cJSON_AddStringToObject(a, "from", from);
	if (to)
		cJSON_AddStringToObject(a, "to", to);
	if (approvals && cJSON_GetArraySize(approvals))
		cJSON_AddItemToObject(a, "approvals", cJSON_Duplicate(approvals, 1));
	return store_audit(st, txn, c, event, a);
}

int mfs_alias_latest(struct mfs_store *st, uint64_t model_id,
		     struct mfs_version_info *ret)
{
	struct mfs_version_info *all = NULL, *rel = NULL, *pre = NULL;
	size_t n = 0;
	int r;

	r = mfs_version_list(st, model_id, &all, &n);
	if (r < 0)
		return r;
	/* Sorted ascending by precedence: the last of each kind wins, so
	 * walk down and stop at the first release (archived ones skipped). */
	for (size_t i = n; i-- > 0 && !rel;) {
		struct mfs_semver sv;
		bool prerelease;

		if (all[i].state != MFS_V_SEALED || mfs_semver_parse(all[i].name, &sv) < 0)
			continue;
		prerelease = mfs_semver_is_prerelease(&sv);
		if ((prerelease && pre) || mfs_version_archived(st, all[i].id))
			continue;
		if (prerelease)
			pre = &all[i];
		else
			rel = &all[i];
	}
	if (rel || pre)
		*ret = rel ? *rel : *pre;
	else
		r = -ENOENT;
	free(all);
	return r;
}

/* Common prologue of the mutating calls: a write txn, the model and its
 * policy. Who may do what is the policy's rule per alias name. */
struct op {
	struct kv_txn *txn;
	struct rec_model rm;
	char model[MFS_MODEL_NAME_MAX + 1];
	struct store_policy pol;
	char why[512];		/* set with a refusal of the policy */
	const char *event, *alias, *version;
};

static int begin(struct mfs_store *st, uint64_t model_id, const char *event,
		 const char *alias, struct op *o)
{
	int r;

	memset(o, 0, sizeof(*o));
	o->event = event;
	o->alias = alias;
	r = store_txn_begin(st, true, &o->txn);
	if (r < 0)
		return r;
	r = store_get_model(st, o->txn, model_id, &o->rm, o->model, sizeof(o->model));
	if (r == 0)
		r = store_policy_load(st, o->txn, model_id, &o->pol);
	if (r < 0) {
		kv_txn_abort(o->txn);
		o->txn = NULL;
	}
	return r;
}

/* Who may touch alias name (EACCES), and is it removable (EPERM)? */
static int may(struct mfs_store *st, const struct mfs_caller *c, struct op *o,
	       const char *name, bool removes)
{
	int r = store_policy_check_who(st, &o->pol, c, &o->rm, o->model, name, o->why,
				       sizeof(o->why));

	o->alias = name;
	if (r == 0 && removes && store_policy_protected(&o->pol, name)) {
		snprintf(o->why, sizeof(o->why),
			 "alias '%s' of '%s' is protected by its policy: it may be moved, never removed",
			 name, o->model);
		r = -EPERM;
	}
	return r;
}

/*
 * A link renamed or exchanged onto an alias whose rule names who may move
 * it gets that alias's target: when the link's own name has no such rule
 * (ln -sfn's temporary link), anyone under the default rule may have set
 * it - swapped it, in the middle of a permitted user's promotion, for one
 * pointing elsewhere. So it must be the caller's own (they set it last),
 * or the caller an admin. Returns 0, or -EACCES with why.
 */
static int own_link(struct mfs_store *st, const struct mfs_caller *c, struct op *o,
		    const char *name, const struct rec_alias *ra, const char *onto)
{
	char who[64];

	if (ra->uid == c->uid || mfs_caller_is_admin(st, c) ||
	    !store_policy_restricted(&o->pol, onto) || store_policy_restricted(&o->pol, name))
		return 0;
	store_user_name(ra->uid, who, sizeof(who));
	o->alias = onto;
	snprintf(o->why, sizeof(o->why),
		 "link '%s' of '%s' was last set by %s, not by the caller: only one's own link "
		 "may become alias '%s', whose rule names who may move it", name, o->model, who,
		 onto);
	return -EACCES;
}

static int gates(struct mfs_store *st, const struct mfs_caller *c, struct op *o,
		 uint64_t model_id, const char *name, uint64_t vid, cJSON **ret_approvals)
{
	o->alias = name;
	return store_policy_check_gates(st, o->txn, &o->pol, c, model_id, o->model, name,
					vid, ret_approvals, o->why, sizeof(o->why));
}

/* The version an alias replaced gets the lifecycle its rule names. */
static int on_replace(struct mfs_store *st, const struct mfs_caller *c, struct op *o,
		      const char *name, uint64_t old_vid, uint64_t new_vid)
{
	const char *what = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		store_policy_rule(&o->pol, name), "on_replace"));
	char reason[300];

	if (!what || !strcmp(what, "none") || old_vid == new_vid)
		return 0;
	snprintf(reason, sizeof(reason), "on_replace of alias '%s'", name);
	return store_annot_set_lifecycle(st, o->txn, c, old_vid, what, reason);
}

static int end(struct mfs_store *st, const struct mfs_caller *c, struct op *o, int r)
{
	store_policy_free(&o->pol);
	if (r == 0)
		return store_txn_commit(o->txn);
	if (o->txn)
		kv_txn_abort(o->txn);
	if (o->why[0]) {
		mfs_log(MFS_LOG_WARN, "refusing %s of alias '%s' by uid %u: %s", o->event,
			o->alias ? o->alias : "?", (unsigned)c->uid, o->why);
		mfs_audit_denial(st, c, o->event, o->model, o->version, o->alias, -r, o->why);
	}
	return r;
}

/* Create alias name -> vid, or with move, move an existing one there. */
static int alias_point(struct mfs_store *st, const struct mfs_caller *c,
		       uint64_t model_id, const char *name, uint64_t vid, bool move)
{
	char vname[MFS_NAME_MAX + 1], oldv[MFS_NAME_MAX + 1] = "";
	struct rec_alias ra = { 0 };
	struct rec_version rv;
	cJSON *approvals = NULL;
	uint64_t old_vid = 0;
	bool had = false;
	struct op o;
	int r;

	if ((move ? mfs_alias_name_check(name) : mfs_alias_name_new_check(name)) < 0)
		return store_denied_id(st, c, mfs_log_errno(-EINVAL, "refusing alias name '%s': reserved or shaped like a version", name),
				       -EINVAL, move ? "alias.move" : "alias.create", model_id, name);
	r = begin(st, model_id, "alias.create", name, &o);
	if (r < 0)
		return r;
	r = store_get_alias(st, o.txn, model_id, name, &ra);
	if (r == 0 && !move) {
		r = -EEXIST;
		goto out;
	}
	if (r == 0) {
		had = true;
		o.event = "alias.move";
		old_vid = ra.vid;
		r = store_get_version(st, o.txn, ra.vid, &rv, oldv, sizeof(oldv));
		if (r < 0)
			goto out;
		memset(&ra, 0, sizeof(ra));
	} else if (r != -ENOENT) {
		goto out;
	}
	r = store_get_version(st, o.txn, vid, &rv, vname, sizeof(vname));
	if (r < 0)
		goto out;
	o.version = vname;
	if (rv.model_id != model_id || rv.state != MFS_V_SEALED) {
		r = mfs_log_errno(rv.state == MFS_V_TOMBSTONE ? -ENOENT : -EINVAL,
				  "refusing alias '%s' of '%s': version '%s' is %s",
				  name, o.model, vname, mfs_vstate_name(rv.state));
		snprintf(o.why, sizeof(o.why), "version '%s' is %s", vname,
			 mfs_vstate_name(rv.state));
		goto out;
	}
	r = may(st, c, &o, name, false);
	if (r == 0)
		r = gates(st, c, &o, model_id, name, vid, &approvals);
	if (r < 0)
		goto out;
	ra.vid = vid;
	ra.ctime_ns = mfs_now_ns();
	ra.uid = c->uid;
	r = put_alias_txn(o.txn, model_id, name, had ? old_vid : 0, &ra);
	if (r == 0)
		r = record_move(st, o.txn, c, model_id, o.model, name, had ? oldv : NULL,
				vname, approvals, had ? NULL : &ra.hseq);
	if (r == 0)
		r = write_alias(o.txn, model_id, name, &ra);	/* its hseq */
	if (r == 0 && had)
		r = on_replace(st, c, &o, name, old_vid, vid);
	/* A new name no rule of the policy governs nor protects (production
	 * always is) - ln -sfn's temporary link, renamed onto the alias at
	 * once - need not wait for the disk:
	 * the rename's commit makes it durable (one durable commit per
	 * promotion), or the store does within STORE_LAZY_MS. A crash of the
	 * machine in between loses a link nobody was shown the record of. */
	if (r == 0 && !had && !store_policy_rule(&o.pol, name) &&
	    !store_policy_protected(&o.pol, name))
		store_txn_lazy(o.txn);
out:
	cJSON_Delete(approvals);
	return end(st, c, &o, r);
}

int mfs_alias_create(struct mfs_store *st, const struct mfs_caller *c,
		     uint64_t model_id, const char *name, uint64_t vid)
{
	return alias_point(st, c, model_id, name, vid, false);
}

int mfs_alias_set(struct mfs_store *st, const struct mfs_caller *c,
		  uint64_t model_id, const char *name, uint64_t vid)
{
	return alias_point(st, c, model_id, name, vid, true);
}

/* A link made under a temporary name and renamed onto an alias (ln -sfn,
 * mv -T) is one move in the history: drop the temporary name's creation
 * record. The audit trail keeps both events. */
static int forget_creation(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
			   const struct rec_alias *a)
{
	struct kv_cursor *cur;
	struct key k;
	struct kv_val kv, v;
	int rc;

	if (!a->hseq)
		return 0;
	rc = kv_cursor_open(txn, DB_HISTORY, &cur);
	if (rc)
		return rc;
	key_id_id(&k, model_id, a->hseq);
	kv = k.v;
	rc = kv_cursor_get(cur, &kv, &v, KV_SET_KEY);
	kv_cursor_close(cur);
	/* Concurrent promotions interleave their records: drop this one
	 * wherever it is (sequence numbers may skip, never repeat). */
	if (rc == 0)
		return kv_del(txn, DB_HISTORY, &k.v);
	return 0;
}

int mfs_alias_rename(struct mfs_store *st, const struct mfs_caller *c,
		     uint64_t model_id, const char *from, const char *to,
		     unsigned flags)
{
	char fromv[MFS_NAME_MAX + 1], tov[MFS_NAME_MAX + 1];
	struct rec_alias a, b;
	struct rec_version rv;
	cJSON *appr_to = NULL, *appr_from = NULL;
	struct op o;
	int r, hb;

	if (mfs_alias_name_check(to) < 0)
		return store_denied_id(st, c, mfs_log_errno(-EINVAL, "refusing alias name '%s': reserved", to),
				       -EINVAL, "alias.move", model_id, to);
	r = begin(st, model_id, "alias.move", to, &o);
	if (r < 0)
		return r;
	r = store_get_alias(st, o.txn, model_id, from, &a);
	if (r < 0)
		goto out;
	hb = store_get_alias(st, o.txn, model_id, to, &b);
	if (hb < 0 && hb != -ENOENT) {
		r = hb;
		goto out;
	}
	/* A rename onto a new name makes an alias: no version's spelling. */
	if (hb == -ENOENT && mfs_alias_name_new_check(to) < 0) {
		r = mfs_log_errno(-EINVAL, "refusing alias name '%s': shaped like a version", to);
		goto out;
	}
	if (!strcmp(from, to)) {
		r = (flags & MFS_ALIAS_NOREPLACE) ? -EEXIST : 0;
		goto out;
	}
	if ((flags & MFS_ALIAS_NOREPLACE) && hb == 0) {
		r = -EEXIST;
		goto out;
	}
	if ((flags & MFS_ALIAS_EXCHANGE) && hb < 0) {
		r = -ENOENT;
		goto out;
	}
	r = store_get_version(st, o.txn, a.vid, &rv, fromv, sizeof(fromv));
	if (r < 0)
		goto out;
	if (hb == 0) {
		r = store_get_version(st, o.txn, b.vid, &rv, tov, sizeof(tov));
		if (r < 0)
			goto out;
	}
	/* Policy: both names' rules; `from` disappears unless exchanged, so
	 * it must be removable; `to` gets from's version (and, exchanged,
	 * from gets to's): both pass their gates. */
	o.version = fromv;
	r = may(st, c, &o, from, !(flags & MFS_ALIAS_EXCHANGE));
	if (r == 0)
		r = may(st, c, &o, to, false);
	if (r == 0)
		r = own_link(st, c, &o, from, &a, to);
	if (r == 0 && (flags & MFS_ALIAS_EXCHANGE))
		r = own_link(st, c, &o, to, &b, from);
	if (r == 0)
		r = gates(st, c, &o, model_id, to, a.vid, &appr_to);
	if (r == 0 && (flags & MFS_ALIAS_EXCHANGE)) {
		o.version = tov;
		r = gates(st, c, &o, model_id, from, b.vid, &appr_from);
	}
	if (r < 0)
		goto out;
	if (flags & MFS_ALIAS_EXCHANGE) {
		struct rec_alias t = a;

		a.vid = b.vid;
		b.vid = t.vid;
		a.ctime_ns = b.ctime_ns = mfs_now_ns();
		a.uid = b.uid = c->uid;
		r = put_alias_txn(o.txn, model_id, from, b.vid, &a);
		if (r == 0)
			r = put_alias_txn(o.txn, model_id, to, a.vid, &b);
		if (r == 0)
			r = record_move(st, o.txn, c, model_id, o.model, from, fromv, tov,
					appr_from, NULL);
		if (r == 0)
			r = record_move(st, o.txn, c, model_id, o.model, to, tov, fromv,
					appr_to, NULL);
		goto out;
	}
	/* `to` now names what `from` named: one move of `to` (or its
	 * creation); `from` disappears. When `from` is a temporary name
	 * (ln -sfn) its creation record is dropped. */
	r = del_alias_txn(o.txn, model_id, from, a.vid);
	if (r < 0)
		goto out;
	r = forget_creation(st, o.txn, model_id, &a);
	/* A name with a history of its own (it was moved since its creation,
	 * or made by a rename): its end is recorded, or a replay of the
	 * history (time travel) would still show it. */
	if (r == 0 && !a.hseq)
		r = record_move(st, o.txn, c, model_id, o.model, from, fromv, NULL, NULL, NULL);
	if (r < 0)
		goto out;
	{
		uint64_t moved = a.vid;

		a.ctime_ns = mfs_now_ns();
		a.uid = c->uid;
		a.hseq = 0;
		r = put_alias_txn(o.txn, model_id, to, hb == 0 ? b.vid : 0, &a);
		if (r == 0)
			r = record_move(st, o.txn, c, model_id, o.model, to,
					hb == 0 ? tov : NULL, fromv, appr_to, NULL);
		if (r == 0 && hb == 0)
			r = on_replace(st, c, &o, to, b.vid, moved);
	}
out:
	cJSON_Delete(appr_to);
	cJSON_Delete(appr_from);
	return end(st, c, &o, r);
}

int mfs_alias_remove(struct mfs_store *st, const struct mfs_caller *c,
		     uint64_t model_id, const char *name)
{
	char vname[MFS_NAME_MAX + 1];
	struct rec_alias ra;
	struct rec_version rv;
	struct op o;
	int r;

	r = begin(st, model_id, "alias.remove", name, &o);
	if (r < 0)
		return r;
	r = store_get_alias(st, o.txn, model_id, name, &ra);
	if (r == 0)
		r = store_get_version(st, o.txn, ra.vid, &rv, vname, sizeof(vname));
	if (r == 0) {
		o.version = vname;
		r = may(st, c, &o, name, true);
	}
	if (r == 0)
		r = del_alias_txn(o.txn, model_id, name, ra.vid);
	if (r == 0)
		r = record_move(st, o.txn, c, model_id, o.model, name, vname, NULL, NULL, NULL);
	return end(st, c, &o, r);
}


int mfs_alias_history_render(struct mfs_store *st, uint64_t model_id, char **ret,
			     size_t *ret_len)
{
	struct mfs_stream *s;
	uint64_t size;
	int r = mfs_alias_history_stream_open(st, model_id, &s, &size);

	return r < 0 ? r : store_stream_render(st, s, ret, ret_len);
}

/* The creation records of the model's aliases that a rename onto
 * another alias may still drop (forget_creation()). */
static int droppable(struct mfs_store *st, struct kv_txn *txn, const void *prefix, size_t plen,
		     uint64_t **ret_seqs, size_t *ret_n)
{
	struct kv_cursor *cur;
	struct kv_val k = { plen, (void *)prefix }, v;
	uint64_t *seqs = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*ret_seqs = NULL;
	*ret_n = 0;
	rc = kv_cursor_open(txn, DB_ALIASES, &cur);
	if (rc)
		return rc;
	for (rc = kv_cursor_get(cur, &k, &v, KV_SET_RANGE); rc == 0;
	     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
		struct rec_alias ra;

		if (k.len < plen || memcmp(k.data, prefix, plen))
			break;
		rec_get(&ra, sizeof(ra), &v);
		if (!ra.hseq)
			continue;
		if (n == cap) {
			void *p = realloc(seqs, (cap = cap ? 2 * cap : 8) * sizeof(*seqs));

			if (!p) {
				kv_cursor_close(cur);
				free(seqs);
				return -ENOMEM;
			}
			seqs = p;
		}
		seqs[n++] = ra.hseq;
	}
	kv_cursor_close(cur);
	*ret_seqs = seqs;
	*ret_n = n;
	return 0;
}

int mfs_alias_history_stream_open(struct mfs_store *st, uint64_t model_id,
				  struct mfs_stream **ret, uint64_t *ret_size)
{
	uint8_t k[8];

	put_be64(k, model_id);
	return store_stream_open(st, DB_HISTORY, k, 8, NULL, droppable, NULL, ret, ret_size);
}
