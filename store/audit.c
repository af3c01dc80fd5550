/* audit.c - the hash-chained audit trail: append, merge denials, render, verify */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "governance.h"
#include "audit.h"
#include "err.h"
#include "log.h"
#include "perm.h"

/*
 * A record is one JSON object under its sequence number in DB_AUDIT. Its
 * link to the chain is "prev" (the previous record's "hash") and its own
 * "hash", which always comes last in the stored text.
 *
 * Schemes, named per record by "chain":
 *  - absent ("xxh3"): records written before SHA-256; hash = XXH3-128 of
 *    the record without "hash" as cJSON prints it (32 hex digits). Verified,
 *    never written any more.
 *  - "sha256": hash = SHA-256(prev "\n" text), where text is the stored
 *    record up to ,"hash":... with its closing brace (64 hex digits).
 *  - "hmac-sha256": the same message under HMAC-SHA256 with the key of
 *    -o audit_key.
 * A chain may step up (xxh3 -> sha256 -> hmac-sha256) at any record, never
 * down: a downgrade is how someone without the key would extend it.
 * Hashing the stored bytes (not a re-rendering) makes the new schemes
 * independent of how cJSON prints numbers or escapes.
 */

#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"
#define HASH_SUFFIX ",\"hash\":\""	/* then 64 hex digits and "} */
#define SUFFIX_LEN (sizeof(HASH_SUFFIX) - 1 + 64 + 2)

enum chain { CH_XXH3, CH_SHA256, CH_HMAC };

static const char *const chain_names[] = { "xxh3", "sha256", "hmac-sha256" };

/*============================================================ links */

static void hex_of(const unsigned char *md, unsigned n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The link of a sha256/hmac-sha256 record: hash of prev "\n" text[0..n). */
static int link_of(enum chain ch, const void *key, size_t keylen, const char *prev,
		   const char *text, size_t n, char out[65])
{
	size_t pl = strlen(prev);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char *msg = malloc(pl + 1 + n);
	bool ok;

	if (!msg)
		return -ENOMEM;
	memcpy(msg, prev, pl);
	msg[pl] = '\n';
	memcpy(msg + pl + 1, text, n);
	if (ch == CH_HMAC)
		ok = HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg,
			  pl + 1 + n, md, &mdlen) != NULL;
	else
		ok = EVP_Digest(msg, pl + 1 + n, md, &mdlen, EVP_sha256(), NULL) == 1;
	free(msg);
	if (!ok || mdlen != 32)
		return -EIO;
	hex_of(md, 32, out);
	return 0;
}

/* The chain fields of a stored record. Returns 0, or -EBADMSG if it is not
 * a record of any scheme. Ownership: *ret_rec is the caller's (cJSON_Delete). */
static int parse_record(const struct kv_val *v, cJSON **ret_rec, enum chain *ret_ch,
			const char **ret_prev, const char **ret_hash)
{
	cJSON *rec = cJSON_ParseWithLength(v->data, v->len);
	const char *ch, *prev, *hash;

	if (!cJSON_IsObject(rec)) {
		cJSON_Delete(rec);
		return -EBADMSG;
	}
	ch = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "chain"));
	prev = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "prev"));
	hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "hash"));
	if (!ch)
		*ret_ch = CH_XXH3;
	else if (!strcmp(ch, chain_names[CH_SHA256]))
		*ret_ch = CH_SHA256;
	else if (!strcmp(ch, chain_names[CH_HMAC]))
		*ret_ch = CH_HMAC;
	else
		hash = NULL;
	if (!prev || !hash) {
		cJSON_Delete(rec);
		return -EBADMSG;
	}
	*ret_rec = rec;
	*ret_prev = prev;
	*ret_hash = hash;
	return 0;
}

/* Recompute a record's own hash. Returns 0, -EBADMSG if its text cannot
 * carry one, -ENOKEY for an HMAC record without a key, or -errno. */
static int recompute(enum chain ch, const void *key, size_t keylen, const char *prev,
		     cJSON *rec, const struct kv_val *v, char out[65])
{
	const char *t = v->data;

	if (ch == CH_XXH3) {
		cJSON *h = cJSON_DetachItemFromObjectCaseSensitive(rec, "hash");
		char *line = cJSON_PrintUnformatted(rec);
		struct mfs_digest d;

		if (h)
			cJSON_AddItemToObject(rec, "hash", h);
		if (!line)
			return -ENOMEM;
		mfs_hash_buf(line, strlen(line), &d);
		mfs_digest_hex(&d, out);
		free(line);
		return 0;
	}
	if (ch == CH_HMAC && !key)
		return -ENOKEY;
	if (v->len < SUFFIX_LEN + 2 ||
	    memcmp(t + v->len - SUFFIX_LEN, HASH_SUFFIX, sizeof(HASH_SUFFIX) - 1) ||
	    memcmp(t + v->len - 2, "\"}", 2))
		return -EBADMSG;
	{
		size_t n = v->len - SUFFIX_LEN;
		char *text = malloc(n + 1);
		int r;

		if (!text)
			return -ENOMEM;
		memcpy(text, t, n);
		text[n] = '}';
		r = link_of(ch, key, keylen, prev, text, n + 1, out);
		free(text);
		return r;
	}
}

/*============================================================ append */

static void add_user(cJSON *rec, uid_t uid)
{
	char name[256];

	if (store_user_name(uid, name, sizeof(name)))
		cJSON_AddStringToObject(rec, "user", name);
	else
		cJSON_AddNumberToObject(rec, "user", uid);
}


/* The last record: its seq (0: none), its hash (genesis: zeros), the
 * parsed record (NULL: none) and, with ret_merged, a copy of its text if it
 * is a merged denial (NULL otherwise). Ownership: *ret_last and
 * *ret_merged are the caller's. */
static int last_record_raw(struct mfs_store *st, struct kv_txn *txn, uint64_t *ret_seq,
			   char prev[65], cJSON **ret_last, char **ret_merged)
{
	struct kv_cursor *cur;
	struct kv_val k, v;
	int rc;

	*ret_seq = 0;
	*ret_last = NULL;
	if (ret_merged)
		*ret_merged = NULL;
	strcpy(prev, ZERO64);
	rc = kv_cursor_open(txn, DB_AUDIT, &cur);
	if (rc)
		return rc;
	rc = kv_cursor_get(cur, &k, &v, KV_LAST);
	if (rc == 0 && k.len == 8) {
		cJSON *last = cJSON_ParseWithLength(v.data, v.len);
		const char *h = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(last, "hash"));

		*ret_seq = get_be64(k.data);
		if (h && strlen(h) <= 64)
			strcpy(prev, h);
		*ret_last = last;
		if (ret_merged && cJSON_GetObjectItemCaseSensitive(last, "count"))
			*ret_merged = strndup(v.data, v.len);
	}
	kv_cursor_close(cur);
	return rc == 0 || rc == KV_NOTFOUND ? 0 : rc;
}

/* The same without the text. */
static int last_record(struct mfs_store *st, struct kv_txn *txn, uint64_t *ret_seq,
		       char prev[65], cJSON **ret_last)
{
	return last_record_raw(st, txn, ret_seq, prev, ret_last, NULL);
}

/* Chain rec (without prev/chain/hash) after prev and store it under seq,
 * replacing what is there. Consumes rec. */
static int put_record(struct mfs_store *st, struct kv_txn *txn, uint64_t seq, const char *prev,
		      cJSON *rec, bool notify)
{
	enum chain ch = st->audit_key ? CH_HMAC : CH_SHA256;
	char hash[65], *line = NULL, *stored = NULL;
	uint8_t kb[8];
	struct kv_val k = { 8, kb }, v;
	size_t n;
	int r;

	cJSON_AddStringToObject(rec, "chain", chain_names[ch]);
	cJSON_AddStringToObject(rec, "prev", prev);
	line = cJSON_PrintUnformatted(rec);
	if (!line) {
		r = -ENOMEM;
		goto out;
	}
	n = strlen(line);
	r = link_of(ch, st->audit_key, st->audit_key_len, prev, line, n, hash);
	if (r < 0)
		goto out;
	stored = malloc(n - 1 + SUFFIX_LEN + 1);
	if (!stored) {
		r = -ENOMEM;
		goto out;
	}
	/* The record up to its closing brace, then its hash, last. */
	memcpy(stored, line, n - 1);
	snprintf(stored + n - 1, SUFFIX_LEN + 1, HASH_SUFFIX "%s\"}", hash);
	put_be64(kb, seq);
	v.data = stored;
	v.len = strlen(stored);
	r = kv_put(txn, DB_AUDIT, &k, &v, 0);
	if (r == 0 && notify)
		store_sink_add(st, txn, stored);
out:
	free(line);
	free(stored);
	cJSON_Delete(rec);
	return r;
}

/* A new record: seq, time, event, who, then fields, then result. */
static cJSON *new_record(uint64_t seq, const struct mfs_caller *c, const char *event,
			 cJSON *fields)
{
	cJSON *rec = cJSON_CreateObject();
	char ts[40];

	if (!rec) {
		cJSON_Delete(fields);
		return NULL;
	}
	mfs_time_rfc3339(mfs_now_ns(), ts);
	cJSON_AddNumberToObject(rec, "seq", (double)seq);
	cJSON_AddStringToObject(rec, "time", ts);
	cJSON_AddStringToObject(rec, "event", event);
	cJSON_AddNumberToObject(rec, "uid", c ? c->uid : 0);
	add_user(rec, c ? c->uid : 0);
	if (c && c->pid)
		cJSON_AddNumberToObject(rec, "pid", c->pid);
	if (fields) {
		cJSON *f = fields->child;

		while (f) {
			cJSON *next = f->next;

			cJSON_DetachItemViaPointer(fields, f);
			cJSON_AddItemToObject(rec, f->string, f);
			f = next;
		}
		cJSON_Delete(fields);
	}
	if (!cJSON_GetObjectItemCaseSensitive(rec, "result"))
		cJSON_AddStringToObject(rec, "result", "ok");
	return rec;
}

/* A trail whose last record is HMAC-chained takes records only from a
 * writer with the key: a plain SHA-256 record after it would be a
 * downgrade anyone could forge (a daemon refuses to start without the
 * key; modelctl writing the registry directly gets this). */
static int keyed_refusal(struct mfs_store *st, cJSON *last)
{
	const char *ch = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(last, "chain"));

	if (st->audit_key || !ch || strcmp(ch, chain_names[CH_HMAC]))
		return 0;
	/* Not a user's slip but a writer set up without the key: an error,
	 * which modelctl prints too. */
	mfs_log(MFS_LOG_ERR, "refusing to change the registry: its audit trail is keyed (HMAC) and this writer has no key (modelfs -o audit_key=FILE, or write through a mount that has it)");
	return -EPERM;
}

int store_audit(struct mfs_store *st, struct kv_txn *txn, const struct mfs_caller *c,
		const char *event, cJSON *fields)
{
	char prev[65], *merged = NULL;
	uint64_t seq;
	cJSON *last = NULL, *rec;
	int r;

	r = last_record_raw(st, txn, &seq, prev, &last, st->sink ? &merged : NULL);
	if (r == 0)
		r = keyed_refusal(st, last);
	cJSON_Delete(last);
	if (r < 0) {
		cJSON_Delete(fields);
		free(merged);
		return r;
	}
	/* A run of merged denials ends here: the sink gets its final text
	 * (same seq, the hash this record links to) before this record. */
	if (merged) {
		store_sink_add(st, txn, merged);
		free(merged);
	}
	rec = new_record(seq + 1, c, event, fields);
	if (!rec)
		return -ENOMEM;
	return put_record(st, txn, seq + 1, prev, rec, true);
}

/*============================================================ denials */

/* Do two records name the same thing under key (both absent counts)? */
static bool same_field(cJSON *a, cJSON *b, const char *key)
{
	cJSON *x = cJSON_GetObjectItemCaseSensitive(a, key);
	cJSON *y = cJSON_GetObjectItemCaseSensitive(b, key);

	if (!x || !y)
		return !x && !y;
	return cJSON_Compare(x, y, true);
}

/* Is last a denial that rec repeats? The reason may differ (the path
 * probed); who, what and the errno may not. */
static bool repeats(cJSON *last, cJSON *rec)
{
	static const char *const keys[] = { "result", "event", "uid", "pid", "model",
					    "version", "alias", "errno" };

	if (!last || strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(last, "result")) ?: "", "denied"))
		return false;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!same_field(last, rec, keys[i]))
			return false;
	return true;
}

/* Rewrite the last record (a denial) with one more in its count: the same
 * seq, linked to the same predecessor, so the chain stays whole. */
static int merge_into(struct mfs_store *st, struct kv_txn *txn, uint64_t seq, cJSON *last)
{
	cJSON *count = cJSON_GetObjectItemCaseSensitive(last, "count");
	double n = cJSON_IsNumber(count) ? count->valuedouble : 1;
	char ts[40], prev[65];
	const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(last, "prev"));

	if (!p || strlen(p) > 64)
		return -EBADMSG;
	strcpy(prev, p);
	mfs_time_rfc3339(mfs_now_ns(), ts);
	cJSON_DeleteItemFromObjectCaseSensitive(last, "hash");
	cJSON_DeleteItemFromObjectCaseSensitive(last, "prev");
	cJSON_DeleteItemFromObjectCaseSensitive(last, "chain");
	cJSON_DeleteItemFromObjectCaseSensitive(last, "count");
	cJSON_DeleteItemFromObjectCaseSensitive(last, "last_time");
	cJSON_AddNumberToObject(last, "count", n + 1);
	cJSON_AddStringToObject(last, "last_time", ts);
	/* Not handed to the hook again: one notification per run of
	 * identical denials (a probing loop must not flood it either). */
	return put_record(st, txn, seq, prev, last, false);
}

int mfs_audit_denial(struct mfs_store *st, const struct mfs_caller *c, const char *op,
		     const char *model, const char *version, const char *alias,
		     int err, const char *reason)
{
	struct kv_txn *txn = NULL;
	cJSON *f, *rec = NULL, *last = NULL;
	char prev[65], *merged = NULL;
	uint64_t seq;
	int r;

	if (st->flags & MFS_STORE_READONLY)
		return 0;
	f = cJSON_CreateObject();
	if (!f)
		return -ENOMEM;
	if (model)
		cJSON_AddStringToObject(f, "model", model);
	if (version)
		cJSON_AddStringToObject(f, "version", version);
	if (alias)
		cJSON_AddStringToObject(f, "alias", alias);
	cJSON_AddStringToObject(f, "result", "denied");
	cJSON_AddStringToObject(f, "errno", mfs_errno_name(err));
	if (!reason)
		reason = mfs_log_last_refusal(-err);
	cJSON_AddStringToObject(f, "reason", reason ? reason : mfs_strerror(err));
	r = store_txn_begin(st, true, &txn);
	if (r < 0) {
		cJSON_Delete(f);
		return r;
	}
	store_note(txn, MFS_CHANGE_DOCS, 0, 0, NULL);	/* audit.jsonl alone */
	r = last_record_raw(st, txn, &seq, prev, &last, st->sink ? &merged : NULL);
	if (r == 0)
		r = keyed_refusal(st, last);
	if (r < 0) {
		cJSON_Delete(f);
		goto out;
	}
	rec = new_record(seq + 1, c, op, f);
	if (!rec) {
		r = -ENOMEM;
		goto out;
	}
	if (repeats(last, rec)) {
		r = merge_into(st, txn, seq, last);
		last = NULL;
	} else {
		if (merged)
			store_sink_add(st, txn, merged);
		r = put_record(st, txn, seq + 1, prev, rec, true);
		rec = NULL;
	}
out:
	free(merged);
	cJSON_Delete(last);
	cJSON_Delete(rec);
	if (r < 0) {
		kv_txn_abort(txn);
		return r;
	}
	return store_txn_commit(txn);
}

int store_denied(struct mfs_store *st, const struct mfs_caller *c, int r, int also,
		 const char *op, const char *model, const char *version, const char *alias)
{
	if (r == -EACCES || r == -EPERM || r == -EROFS || (also && r == also))
		mfs_audit_denial(st, c, op, model && *model ? model : NULL, version, alias,
				 -r, NULL);
	return r;
}

int store_denied_id(struct mfs_store *st, const struct mfs_caller *c, int r, int also,
		    const char *op, uint64_t model_id, const char *alias)
{
	char model[256] = "";
	struct rec_model rm;
	struct kv_txn *txn;

	if (!(r == -EACCES || r == -EPERM || r == -EROFS || (also && r == also)))
		return r;
	if (store_txn_begin(st, false, &txn) == 0) {
		if (store_get_model(st, txn, model_id, &rm, model, sizeof(model)) < 0)
			model[0] = '\0';
		kv_txn_abort(txn);
	}
	return store_denied(st, c, r, also, op, model, NULL, alias);
}

int mfs_audit_refuse(struct mfs_store *st, const struct mfs_caller *c, const char *op,
		     const char *model, const char *version, const char *alias,
		     int err, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	err = err < 0 ? err : -err;
	mfs_log_errno(err, "%s", reason);
	mfs_audit_denial(st, c, op, model, version, alias, -err, reason);
	return err;
}

int mfs_audit_denial_ids(struct mfs_store *st, const struct mfs_caller *c, const char *op,
			 uint64_t model_id, uint64_t vid, const char *version, int err,
			 const char *reason)
{
	char model[256] = "", vname[256] = "";
	struct rec_version rv;
	struct rec_model rm;
	struct kv_txn *txn;
	int r;

	if (st->flags & MFS_STORE_READONLY)
		return 0;
	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	if (vid && store_get_version(st, txn, vid, &rv, vname, sizeof(vname)) == 0)
		model_id = rv.model_id;
	else
		vname[0] = '\0';
	if (model_id && store_get_model(st, txn, model_id, &rm, model, sizeof(model)) < 0)
		model[0] = '\0';
	kv_txn_abort(txn);
	if (!vname[0] && version)
		snprintf(vname, sizeof(vname), "%s", version);
	return mfs_audit_denial(st, c, op, model[0] ? model : NULL, vname[0] ? vname : NULL,
				NULL, err, reason);
}

/*============================================================ render */

/* May c (not an admin) see the record v? The owner of the model it names
 * sees it; a record naming no model, or one that does not exist (refused,
 * or removed since), is its author's. owned caches the last model looked
 * up (a trail runs in streaks of one model). */
struct owned {
	char name[256];
	int state;	/* 1 c owns it, 0 another does, -1 no such model */
};

static bool visible(struct mfs_store *st, struct kv_txn *txn, const struct mfs_caller *c,
		    const struct kv_val *v, struct owned *o)
{
	cJSON *rec = cJSON_ParseWithLength(v->data, v->len);
	const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "model"));
	cJSON *uid = cJSON_GetObjectItemCaseSensitive(rec, "uid");
	bool author = cJSON_IsNumber(uid) && uid->valuedouble == (double)c->uid, ok;

	if (!rec)
		return false;
	if (m && strcmp(m, o->name)) {
		struct kv_val k = { strlen(m), (void *)m }, mv;
		struct rec_model rm;

		if (k.len && kv_get(txn, DB_MODELS, &k, &mv) == 0) {
			rec_get(&rm, sizeof(rm), &mv);
			o->state = rm.uid == c->uid;
		} else {
			o->state = -1;
		}
		snprintf(o->name, sizeof(o->name), "%s", m);
	}
	ok = m ? o->state == 1 || (o->state == -1 && author) : author;
	cJSON_Delete(rec);
	return ok;
}

/*============================================================ stream */

/* What a non-admin's stream needs to tell which records it shows. */
struct reader {
	struct mfs_caller c;
	gid_t groups[256];
	struct owned o;
};

static const char *reader_text(struct mfs_store *st, struct kv_txn *txn, void *ctx,
			       const struct kv_val *v, size_t *ret_len)
{
	struct reader *rd = ctx;

	if (!visible(st, txn, &rd->c, v, &rd->o))
		return NULL;
	*ret_len = v->len;
	return v->data;
}

int mfs_audit_stream_open(struct mfs_store *st, const struct mfs_caller *c,
			  struct mfs_stream **ret, uint64_t *ret_size)
{
	struct reader *rd;

	if (!c || mfs_caller_is_admin(st, c))
		return store_stream_open(st, DB_AUDIT, NULL, 0, NULL, NULL, NULL, ret, ret_size);
	rd = calloc(1, sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	rd->c = *c;
	rd->c.ngroups = c->ngroups < 0 ? 0 : c->ngroups > 256 ? 256 : c->ngroups;
	if (rd->c.ngroups && c->groups)
		memcpy(rd->groups, c->groups, (size_t)rd->c.ngroups * sizeof(gid_t));
	rd->c.groups = rd->groups;
	rd->o.state = -1;
	return store_stream_open(st, DB_AUDIT, NULL, 0, reader_text, NULL, rd, ret,
				 ret_size);
}

int mfs_audit_render(struct mfs_store *st, const struct mfs_caller *c, char **ret,
		     size_t *ret_len)
{
	struct mfs_stream *s;
	uint64_t size;
	int r = mfs_audit_stream_open(st, c, &s, &size);

	return r < 0 ? r : store_stream_render(st, s, ret, ret_len);
}

/*============================================================ verify, key */

int mfs_audit_verify(struct mfs_store *st, const void *key, size_t keylen,
		     struct mfs_audit_check *ret)
{
	struct mfs_audit_check res = { 0 };
	char prev[65] = "";
	enum chain top = CH_XXH3, ch = CH_XXH3;
	struct kv_txn *txn;
	struct kv_cursor *cur;
	struct kv_val k, v;
	int r, rc;

	strcpy(res.head, "");
	r = store_durable(st);	/* no record a crash could take back */
	if (r == 0)
		r = store_read_cursor(st, DB_AUDIT, &txn, &cur);
	if (r < 0)
		return r;
	for (rc = kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0 && r == 0;
	     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
		uint64_t seq = k.len == 8 ? get_be64(k.data) : 0;
		const char *p = NULL, *h = NULL, *why = NULL;
		cJSON *rec = NULL, *s;
		char hex[65];
		int e;

		res.count++;
		if (parse_record(&v, &rec, &ch, &p, &h) < 0) {
			why = "not a chained record";
		} else if (!(s = cJSON_GetObjectItemCaseSensitive(rec, "seq")) ||
			   !cJSON_IsNumber(s) || (uint64_t)s->valuedouble != seq ||
			   seq != res.last_seq + 1) {
			why = "sequence number out of place (a record moved or removed)";
		} else if (ch < top) {
			why = "chain scheme downgraded";
		} else if (res.count == 1 ? strspn(p, "0") != strlen(p) || !*p :
			   strcmp(p, prev)) {
			why = "prev does not match the previous record's hash";
		} else if ((e = recompute(ch, key, keylen, p, rec, &v, hex)) == -ENOKEY) {
			res.unkeyed++;
			hex[0] = '\0';
		} else if (e < 0) {
			why = e == -EBADMSG ? "hash not where the scheme puts it" : "cannot hash";
		} else if (strcmp(hex, h)) {
			why = ch == CH_HMAC ? "HMAC does not match (record edited, or another key)" :
					      "hash does not match the record (record edited)";
		}
		if (!why) {
			top = ch;
			snprintf(prev, sizeof(prev), "%s", h);
			res.last_seq = seq;
			snprintf(res.head, sizeof(res.head), "%s", h);
		} else {
			res.bad_seq = seq;
			res.why = why;
			r = -EBADMSG;
		}
		cJSON_Delete(rec);
	}
	kv_cursor_close(cur);
	kv_txn_abort(txn);
	if (r == 0 && key && res.count && ch != CH_HMAC) {
		/* Only key holders extend an HMAC chain: one that ends
		 * without HMAC was extended (or rebuilt) without the key. */
		res.bad_seq = res.last_seq;
		res.why = "the chain does not end in an HMAC record: not extended with this key";
		r = -EBADMSG;
	}
	if (r == 0 || r == -EBADMSG)
		*ret = res;
	return r;
}

/* last_record() in a read transaction of its own. */
static int read_last(struct mfs_store *st, uint64_t *ret_seq, char prev[65], cJSON **ret_last)
{
	struct kv_txn *txn;
	int r = store_txn_begin(st, false, &txn);

	if (r < 0)
		return r;
	r = last_record(st, txn, ret_seq, prev, ret_last);
	kv_txn_abort(txn);
	return r;
}

int mfs_audit_head(struct mfs_store *st, uint64_t *ret_seq, char ret_hash[65])
{
	cJSON *last = NULL;
	uint64_t seq;
	char prev[65];
	int r = store_durable(st);	/* a head no crash can take back */

	if (r == 0)
		r = read_last(st, &seq, prev, &last);
	cJSON_Delete(last);
	if (r < 0)
		return r;
	*ret_seq = seq;
	strcpy(ret_hash, seq ? prev : "");
	return 0;
}

int mfs_audit_keyed(struct mfs_store *st)
{
	cJSON *last = NULL;
	uint64_t seq;
	char prev[65];
	const char *ch;
	int r = read_last(st, &seq, prev, &last);

	if (r == 0) {
		ch = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(last, "chain"));
		r = ch && !strcmp(ch, chain_names[CH_HMAC]);
	}
	cJSON_Delete(last);
	return r;
}

int mfs_audit_key_load(const char *path, void **ret_key, size_t *ret_len)
{
	struct stat sb;
	char *buf = NULL;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return mfs_log_errno(-errno, "audit key '%s': %s", path, strerror(errno));
	if (fstat(fd, &sb) < 0) {
		r = mfs_log_errno(-errno, "audit key '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		r = mfs_log_errno(-EINVAL, "audit key '%s' is not a regular file", path);
		goto out;
	}
	if (sb.st_mode & S_IROTH) {
		r = mfs_log_errno(-EPERM, "refusing audit key '%s': it is readable by every user (chmod o-rwx)",
				  path);
		goto out;
	}
	buf = malloc(4097);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	n = read(fd, buf, 4097);
	if (n < 0) {
		r = mfs_log_errno(-errno, "read audit key '%s': %s", path, strerror(errno));
		goto out;
	}
	if (n > 4096) {
		r = mfs_log_errno(-EINVAL, "audit key '%s' is longer than 4096 bytes", path);
		goto out;
	}
	/* A key written with echo keeps working: its final newline is no part of it. */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n == 0) {
		r = mfs_log_errno(-EINVAL, "audit key '%s' is empty", path);
		goto out;
	}
	*ret_key = buf;
	*ret_len = (size_t)n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

int mfs_store_set_audit_key(struct mfs_store *st, const void *key, size_t len)
{
	void *copy = NULL;

	if (key && len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, key, len);
	}
	if (st->audit_key) {
		OPENSSL_cleanse(st->audit_key, st->audit_key_len);
		free(st->audit_key);
	}
	st->audit_key = copy;
	st->audit_key_len = copy ? len : 0;
	return 0;
}
