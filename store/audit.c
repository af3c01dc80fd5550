/* audit.c - reading and verifying the audit trail */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"
#include "audit.h"
#include "err.h"

/* A growing buffer of lines. */
struct lines {
	char *p;
	size_t len, cap;
};

static int lines_add(struct lines *l, const void *s, size_t n)
{
	if (l->len + n + 2 > l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 4096;
		char *p;

		while (cap < l->len + n + 2)
			cap *= 2;
		p = realloc(l->p, cap);
		if (!p)
			return -ENOMEM;
		l->p = p;
		l->cap = cap;
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
	l->p[l->len++] = '\n';
	l->p[l->len] = '\0';
	return 0;
}

/* Render every value of db whose key starts with prefix (n bytes) as lines. */
int store_render_lines(struct mfs_store *st, int db, const void *prefix, size_t n,
		       char **ret, size_t *ret_len)
{
	struct lines l = { 0 };
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k = { n, (void *)prefix }, v;
	int r, rc;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	rc = mdb_cursor_open(txn, st->dbi[db], &cur);
	if (rc) {
		mdb_txn_abort(txn);
		return mfs_err_from_mdb(rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, n ? MDB_SET_RANGE : MDB_FIRST);
	     rc == 0 && r == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (n && (k.mv_size < n || memcmp(k.mv_data, prefix, n)))
			break;
		r = lines_add(&l, v.mv_data, v.mv_size);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (r < 0) {
		free(l.p);
		return r;
	}
	if (!l.p) {
		l.p = strdup("");
		if (!l.p)
			return -ENOMEM;
	}
	*ret = l.p;
	*ret_len = l.len;
	return 0;
}

int mfs_audit_denial(struct mfs_store *st, const struct mfs_caller *c, const char *op,
		     const char *model, const char *version, const char *alias,
		     int err, const char *reason)
{
	MDB_txn *txn;
	cJSON *f;
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
	cJSON_AddStringToObject(f, "reason", reason ? reason : "");
	r = store_txn_begin(st, true, &txn);
	if (r < 0) {
		cJSON_Delete(f);
		return r;
	}
	r = store_audit(st, txn, c, op, f);
	if (r < 0) {
		mdb_txn_abort(txn);
		return r;
	}
	return store_txn_commit(txn);
}

int mfs_audit_render(struct mfs_store *st, char **ret, size_t *ret_len)
{
	return store_render_lines(st, DB_AUDIT, NULL, 0, ret, ret_len);
}

int mfs_audit_verify(struct mfs_store *st, unsigned long long *ret_count,
		     unsigned long long *ret_bad)
{
	char prev[MFS_DIGEST_HEX] = "00000000000000000000000000000000";
	unsigned long long count = 0;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int r, rc;

	r = store_read_cursor(st, DB_AUDIT, &txn, &cur);
	if (r < 0)
		return r;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		cJSON *rec = cJSON_ParseWithLength(v.mv_data, v.mv_size);
		cJSON *h = rec ? cJSON_DetachItemFromObjectCaseSensitive(rec, "hash") : NULL;
		const char *p = rec ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "prev")) : NULL;
		char *line = rec ? cJSON_PrintUnformatted(rec) : NULL;
		struct mfs_digest d;
		char hex[MFS_DIGEST_HEX];

		count++;
		if (line)
			mfs_hash_buf(line, strlen(line), &d);
		mfs_digest_hex(&d, hex);
		if (!line || !h || !cJSON_IsString(h) || !p || strcmp(p, prev) ||
		    strcmp(h->valuestring, hex)) {
			r = -EBADMSG;
			if (ret_bad)
				*ret_bad = get_be64(k.mv_data);
		} else {
			memcpy(prev, hex, sizeof(prev));
		}
		free(line);
		cJSON_Delete(h);
		cJSON_Delete(rec);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (ret_count)
		*ret_count = count;
	return r;
}
