/* governance.h - private to store/: policy, approvals, audit, history, retention */
#ifndef MFS_GOVERNANCE_H
#define MFS_GOVERNANCE_H

/*
 * The top layer of store/ (README, "Layout of the code"): the rules a
 * change must pass and the records it leaves, written once for every
 * engine. It includes the layers below (objects.h, kv.h); nothing below
 * includes it. It answers the objects through struct store_rules
 * (registry.c), and moves aliases itself (promote.c).
 */

#include "objects.h"

/* Audit record of a registry event (inside the event's write txn). fields is
 * a cJSON object (may be NULL) that the call consumes. */
struct cJSON;
int store_audit(struct mfs_store *st, struct kv_txn *txn, const struct mfs_caller *c,
		const char *event, struct cJSON *fields);

/* Record r as a denial of op when it is a refusal (-EACCES, -EPERM, -EROFS,
 * or also, e.g. -EINVAL where that means a name the rules refuse), after
 * the operation's txn ended; the reason is the thread's last refusal log
 * line. model "" counts as none. Returns r unchanged. */
int store_denied(struct mfs_store *st, const struct mfs_caller *c, int r, int also,
		 const char *op, const char *model, const char *version, const char *alias);

/* store_denied() of an alias refusal of the model model_id. */
int store_denied_id(struct mfs_store *st, const struct mfs_caller *c, int r, int also,
		    const char *op, uint64_t model_id, const char *alias);

/* Append one alias history record of the model (history.c; inside the
 * change's write txn): alias moved from version `from` to `to` (either NULL:
 * creation, removal) by c. approvals (may be NULL: none) is the JSON array
 * of approvals the move used; it is copied, not consumed. The record's
 * sequence number goes to *ret_seq (may be NULL). Returns 0 or -errno. */
/* Has alias of the model ever named version (history.c; an index, one
 * lookup)? Inside a write txn: a store from before the index gets the
 * model's built on the way. Returns 1, 0, or -errno. */
int store_history_was_at(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
			 const char *alias, const char *version);

int store_history_add(struct mfs_store *st, struct kv_txn *txn, const struct mfs_caller *c,
		      uint64_t model_id, const char *alias, const char *from,
		      const char *to, const struct cJSON *approvals, uint64_t *ret_seq);

/* The text a stream shows for record v (*ret_len bytes), or NULL when its
 * reader does not see it. ctx: the opener's, as given to
 * store_stream_open(). */
typedef const char *(*store_stream_text_fn)(struct mfs_store *st, struct kv_txn *txn,
					     void *ctx, const struct kv_val *v, size_t *ret_len);

/* The numbers of the records of the log under prefix that may be
 * rewritten or dropped while a stream of it is open: the stream copies
 * them at open. Ownership: *ret_seqs is malloc()ed (NULL when none). */
typedef int (*store_stream_pins_fn)(struct mfs_store *st, struct kv_txn *txn, const void *prefix,
				    size_t plen, uint64_t **ret_seqs, size_t *ret_n);

/* Open a stream (stream.h) over the records of db whose keys are prefix
 * (plen bytes, at most 8) then a big-endian sequence number. text NULL
 * shows every record as stored. The last record is always copied at open;
 * pins (may be NULL) names more. ctx (may be NULL) is the stream's from
 * this call on, freed by free() at close, or at once when this fails.
 * Returns 0 with *ret and its size, or -errno. */
struct mfs_stream;
int store_stream_open(struct mfs_store *st, int db, const void *prefix, size_t plen,
		      store_stream_text_fn text, store_stream_pins_fn pins, void *ctx,
		      struct mfs_stream **ret, uint64_t *ret_size);

/* Everything stream s holds, read into one NUL-terminated buffer (*ret,
 * *ret_len bytes; caller free()s); closes s either way. The renderings of
 * the logs (mfs_audit_render(), mfs_alias_history_render()) are this.
 * Returns 0 or -errno. */
int store_stream_render(struct mfs_store *st, struct mfs_stream *s, char **ret,
			size_t *ret_len);

/* ---- policy.c: the effective policy and its checks (inside a txn) ---- */

/* A model's policy document and the registry's (either may be NULL). */
struct store_policy {
	struct cJSON *model, *registry;
};
int store_policy_load(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
		      struct store_policy *ret);
void store_policy_free(struct store_policy *p);
/* A top-level key: the model's, else the registry's. Borrowed. */
const struct cJSON *store_policy_key(const struct store_policy *p, const char *key);
/* The rule of an alias name: the model's, the registry's, the built-in
 * one (production: protected), or NULL. Borrowed. */
const struct cJSON *store_policy_rule(const struct store_policy *p, const char *alias);
bool store_policy_protected(const struct store_policy *p, const char *alias);
/* Does the alias's rule name who may move it (users or groups)? */
bool store_policy_restricted(const struct store_policy *p, const char *alias);
/* Is c one of the users, or in one of the groups, that who (an object
 * with "users" and/or "groups") names? */
bool store_policy_lists(const struct mfs_caller *c, const struct cJSON *who);
/* May c create, move or remove alias (its rule's users/groups, else the
 * default alias rule)? Returns 0, or -EACCES with why. Admins pass. */
int store_policy_check_who(struct mfs_store *st, const struct store_policy *p,
			   const struct mfs_caller *c, const struct rec_model *rm,
			   const char *model, const char *alias, char *why, size_t n);
/* May alias point at vid (not archived; the rule's gates and approvals)?
 * Returns 0 and the approvals used (*ret_approvals, a cJSON array of user
 * names, or NULL; caller deletes), or -EPERM with why. */
int store_policy_check_gates(struct mfs_store *st, struct kv_txn *txn,
			     const struct store_policy *p, const struct mfs_caller *c,
			     uint64_t model_id, const char *model, const char *alias,
			     uint64_t vid, struct cJSON **ret_approvals, char *why, size_t n);
/* semver.monotonic for a new version name: 0 or -EPERM (logged). */
int store_policy_check_new_version(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
				   const char *model, const char *name);
/* semver.major_on_breaking_change for a draft about to be sealed (its own
 * read txn): 0 or -EPERM (logged). */
int store_policy_check_seal(struct mfs_store *st, uint64_t vid);
/* The registry's naming.models for a new model name: 0 or -EINVAL (logged). */
int store_policy_check_model_name(struct mfs_store *st, struct kv_txn *txn, const char *name);

/* ---- annot.c: approvals, lifecycle and tags of versions ---- */

/* The version's annotations ({} when none). Caller cJSON_Delete()s. */
int store_annot_load(struct mfs_store *st, struct kv_txn *txn, uint64_t vid,
		     struct cJSON **ret);
/* Names of the distinct users who approved alias, the creator excluded,
 * and, when approvers (the rule's "approvers" object) is not NULL, only
 * those it names now (or admins): an approval given before the rule named
 * its approvers, or by someone who left their group since, does not
 * count. Caller cJSON_Delete()s (never NULL unless out of memory). */
struct cJSON *store_annot_approvals(struct mfs_store *st, const struct cJSON *annot,
				    const char *alias, uid_t creator,
				    const struct cJSON *approvers);
/* Set a version's lifecycle inside txn (audited with reason). */
int store_annot_set_lifecycle(struct mfs_store *st, struct kv_txn *txn,
			      const struct mfs_caller *c, uint64_t vid,
			      const char *state, const char *reason);

#endif
