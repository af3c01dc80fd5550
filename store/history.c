/* history.c - alias history records, their replay, and the names of moments */
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "governance.h"
#include "history.h"
#include "version.h"

/*
 * The history of a model is DB_HISTORY under its id, one JSON line per
 * record keyed by sequence number. Records are written only by
 * store_history_add(), inside the transaction of the alias change they
 * describe, so the history never says an alias moved when it did not. The
 * time-travel view replays them: there is no second copy of past states to
 * fall out of step.
 */

/*============================================================ time names */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): no timegm(), whose range and TZ handling vary. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* n decimal digits at *p into *ret; advances *p. */
static bool digits(const char **p, int n, unsigned *ret)
{
	unsigned v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
		v = v * 10 + (unsigned)((*p)[i] - '0');
	}
	*p += n;
	*ret = v;
	return true;
}

int mfs_history_parse_time(const char *s, int64_t *ret_ns)
{
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0;
	int64_t frac = 0, off = 0, days, secs;
	const char *p = s;

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return -EINVAL;
	if (*p) {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return -EINVAL;
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) ||
		    *p++ != ':' || !digits(&p, 2, &sec))
			return -EINVAL;
		/* 60: a leap second, which POSIX time folds into the next. */
		if (h > 23 || mi > 59 || sec > 60)
			return -EINVAL;
		if (*p == '.') {
			int n = 0;

			p++;
			if (*p < '0' || *p > '9')
				return -EINVAL;
			for (; *p >= '0' && *p <= '9'; p++, n++)
				if (n < 9)
					frac = frac * 10 + (*p - '0');
			for (; n < 9; n++)
				frac *= 10;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1;

			if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) ||
			    oh > 23 || om > 59)
				return -EINVAL;
			off = sign * (int64_t)(oh * 3600 + om * 60);
		} else {
			return -EINVAL;
		}
		if (*p)
			return -EINVAL;
	}
	/* int64 nanoseconds span 1677-09-21 to 2262-04-11: whole years only. */
	if (y < 1678 || y > 2261)
		return -ERANGE;
	days = days_from_civil(y, mo, d);
	secs = days * 86400 + h * 3600 + mi * 60 + sec - off;
	*ret_ns = secs * 1000000000 + frac;
	return 0;
}

int mfs_history_parse_at(const char *name, int64_t *ret_ns, uint64_t *ret_seq)
{
	if (name[0] == 'h') {
		uint64_t v = 0;
		const char *p = name + 1;

		if (!*p || (p[0] == '0' && p[1]))
			return -EINVAL;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			if (v > (UINT64_MAX - 9) / 10)
				return -ERANGE;
			v = v * 10 + (uint64_t)(*p - '0');
		}
		*ret_seq = v;
		*ret_ns = v ? 0 : INT64_MIN;
		return 0;
	}
	{
		int64_t ns;
		int r = mfs_history_parse_time(name, &ns);

		if (r < 0)
			return r;
		*ret_ns = ns;
		*ret_seq = 0;
	}
	return 0;
}

/*============================================================ records */

/*
 * Which versions each alias has named is indexed in DB_INFO, so a move
 * (is it a rollback?) and the gates that ask (been_at, exempt_rollback)
 * cost one lookup however long the history: key 'a' + be64 model id +
 * XXH3-128 of "alias NUL version" (alias and version together are longer
 * than an LMDB key may be), value the be64 seq of the first such move. A
 * model's index is complete once its key 'A' + be64 model id exists; a
 * store from before the index gets it built from the history at the first
 * question, in the asking write transaction.
 */
static void target_key(uint8_t kb[25], uint64_t model_id, const char *alias,
		       const char *version)
{
	size_t al = strlen(alias), vl = strlen(version);
	char buf[2 * (MFS_NAME_MAX + 1)];
	struct mfs_digest d;

	memcpy(buf, alias, al);
	buf[al] = '\0';
	memcpy(buf + al + 1, version, vl);
	mfs_hash_buf(buf, al + 1 + vl, &d);
	kb[0] = 'a';
	put_be64(kb + 1, model_id);
	memcpy(kb + 9, d.b, 16);
}

static int mark_target(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
		       const char *alias, const char *version, uint64_t seq)
{
	uint8_t kb[25], sb[8];
	struct kv_val k = { sizeof(kb), kb }, v = { sizeof(sb), sb };
	int rc;

	if (strlen(alias) > MFS_NAME_MAX || strlen(version) > MFS_NAME_MAX)
		return 0;
	target_key(kb, model_id, alias, version);
	put_be64(sb, seq);
	rc = kv_put(txn, DB_INFO, &k, &v, KV_NOOVERWRITE);
	return rc == -EEXIST ? 0 : rc;
}

static int index_record(const struct kv_val *k, const struct kv_val *v, void *ctx)
{
	void **x = ctx;
	cJSON *rec = cJSON_ParseWithLength(v->data, v->len);
	const char *a = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "alias"));
	const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "to"));
	int r = 0;

	if (a && t)
		r = mark_target(x[0], x[1], get_be64((const uint8_t *)k->data),
				a, t, get_be64((const uint8_t *)k->data + 8));
	cJSON_Delete(rec);
	return r;
}

/* Make sure the model's index is complete (a write txn). */
static int index_model(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id)
{
	uint8_t kb[9] = { 'A' };
	struct kv_val k = { sizeof(kb), kb }, v;
	void *x[2] = { st, txn };
	int rc, r;

	put_be64(kb + 1, model_id);
	rc = kv_get(txn, DB_INFO, &k, &v);
	if (rc == 0)
		return 0;
	if (rc != KV_NOTFOUND)
		return rc;
	r = store_each_under(st, txn, DB_HISTORY, model_id, index_record, x);
	if (r < 0)
		return r;
	v.data = (void *)"1";
	v.len = 1;
	return kv_put(txn, DB_INFO, &k, &v, 0);
}

int store_history_was_at(struct mfs_store *st, struct kv_txn *txn, uint64_t model_id,
			 const char *alias, const char *version)
{
	uint8_t kb[25];
	struct kv_val k = { sizeof(kb), kb }, v;
	int r, rc;

	if (strlen(alias) > MFS_NAME_MAX || strlen(version) > MFS_NAME_MAX)
		return 0;
	r = index_model(st, txn, model_id);
	if (r < 0)
		return r;
	target_key(kb, model_id, alias, version);
	rc = kv_get(txn, DB_INFO, &k, &v);
	if (rc == KV_NOTFOUND)
		return 0;
	return rc ? (rc) : 1;
}

int store_history_add(struct mfs_store *st, struct kv_txn *txn, const struct mfs_caller *c,
		      uint64_t model_id, const char *alias, const char *from,
		      const char *to, const cJSON *approvals, uint64_t *ret_seq)
{
	/* The model's last sequence number lives in DB_INFO ("h" + id), so a
	 * number is never reused even when a record is dropped. */
	uint8_t ck[9] = { 'h' };
	struct kv_val kk = { sizeof(ck), ck }, v;
	char ts[40], name[256];
	struct key k;
	uint64_t seq = 1;
	cJSON *rec = NULL, *ap;
	char *line = NULL;
	int rc, r, rb = 0;

	put_be64(ck + 1, model_id);
	rc = kv_get(txn, DB_INFO, &kk, &v);
	if (rc == 0 && v.len == 8)
		seq = get_be64(v.data) + 1;
	else if (rc && rc != KV_NOTFOUND)
		return rc;
	if (to) {
		rb = store_history_was_at(st, txn, model_id, alias, to);
		if (rb < 0)
			return rb;
	}
	rec = cJSON_CreateObject();
	if (!rec)
		return -ENOMEM;
	mfs_time_rfc3339(mfs_now_ns(), ts);
	cJSON_AddNumberToObject(rec, "seq", (double)seq);
	cJSON_AddStringToObject(rec, "time", ts);
	cJSON_AddStringToObject(rec, "alias", alias);
	if (from)
		cJSON_AddStringToObject(rec, "from", from);
	else
		cJSON_AddNullToObject(rec, "from");
	if (to)
		cJSON_AddStringToObject(rec, "to", to);
	else
		cJSON_AddNullToObject(rec, "to");
	cJSON_AddNumberToObject(rec, "uid", c ? c->uid : 0);
	store_user_name(c ? c->uid : 0, name, sizeof(name));
	cJSON_AddStringToObject(rec, "user", name);
	ap = approvals ? cJSON_Duplicate(approvals, 1) : cJSON_CreateArray();
	if (!ap) {
		r = -ENOMEM;
		goto out;
	}
	cJSON_AddItemToObject(rec, "approvals", ap);
	cJSON_AddBoolToObject(rec, "rollback", rb > 0);
	line = cJSON_PrintUnformatted(rec);
	if (!line) {
		r = -ENOMEM;
		goto out;
	}
	key_id_id(&k, model_id, seq);
	v.data = line;
	v.len = strlen(line);
	rc = kv_put(txn, DB_HISTORY, &k.v, &v, 0);
	if (rc == 0) {
		uint8_t sb[8];

		put_be64(sb, seq);
		v.data = sb;
		v.len = 8;
		rc = kv_put(txn, DB_INFO, &kk, &v, 0);
	}
	r = rc;
	if (r == 0 && to)
		r = mark_target(st, txn, model_id, alias, to, seq);
	if (r == 0 && ret_seq)
		*ret_seq = seq;
out:
	free(line);
	cJSON_Delete(rec);
	return r;
}

/*============================================================ replay */

/* One record of a model's history, as the walk hands it over. */
struct rec {
	uint64_t seq;
	const char *alias, *to;		/* to: NULL for a removal */
	int64_t t_ns;
	uid_t uid;
};

typedef int (*rec_fn)(const struct rec *r, void *ctx);

/* Call fn for each record of model_id in sequence order, up to at_seq
 * (0: all), stopping at fn's first nonzero answer (< 0: an error,
 * returned; > 0: enough, 0 returned). -EIO for a record that is not
 * JSON. A read transaction of its own. */
static int walk(struct mfs_store *st, uint64_t model_id, uint64_t at_seq,
		rec_fn fn, void *ctx)
{
	struct kv_txn *txn;
	struct kv_cursor *cur = NULL;
	struct rec_model rm;
	struct key k;
	struct kv_val kv, v;
	int r, rc;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = store_get_model(st, txn, model_id, &rm, NULL, 0);
	if (r < 0)
		goto out;
	rc = kv_cursor_open(txn, DB_HISTORY, &cur);
	if (rc) {
		r = rc;
		goto out;
	}
	key_id(&k, model_id);
	kv = k.v;
	for (rc = kv_cursor_get(cur, &kv, &v, KV_SET_RANGE); rc == 0 && r == 0;
	     rc = kv_cursor_get(cur, &kv, &v, KV_NEXT)) {
		struct rec x = { 0 };
		const char *time;
		cJSON *rec, *uid;

		if (kv.len != 16 || memcmp(kv.data, k.b, 8))
			break;
		x.seq = get_be64((const uint8_t *)kv.data + 8);
		if (at_seq && x.seq > at_seq)
			break;
		rec = cJSON_ParseWithLength(v.data, v.len);
		if (!rec) {
			r = -EIO;
			break;
		}
		x.alias = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "alias"));
		x.to = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "to"));
		time = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "time"));
		uid = cJSON_GetObjectItemCaseSensitive(rec, "uid");
		x.uid = cJSON_IsNumber(uid) ? (uid_t)uid->valuedouble : 0;
		if (!x.alias || !time || mfs_history_parse_time(time, &x.t_ns) < 0)
			r = -EIO;
		/* Not a record this store writes: skipped. */
		else if (strlen(x.alias) <= MFS_NAME_MAX &&
			 (!x.to || strlen(x.to) <= MFS_NAME_MAX))
			r = fn(&x, ctx);
		cJSON_Delete(rec);
	}
	if (r > 0)
		r = 0;
out:
	if (cur)
		kv_cursor_close(cur);
	kv_txn_abort(txn);
	return r;
}

struct state {
	struct mfs_alias_info *a;
	size_t n, cap;
	int64_t at_ns;		/* replay: records at or before it */
	bool by_time;
	const char *alias;	/* moves: this alias's */
};

/* Room for one more entry. */
static struct mfs_alias_info *grow(struct state *s)
{
	if (s->n == s->cap) {
		void *p = realloc(s->a, (s->cap = s->cap ? 2 * s->cap : 8) * sizeof(*s->a));

		if (!p)
			return NULL;
		s->a = p;
	}
	memset(&s->a[s->n], 0, sizeof(s->a[s->n]));
	return &s->a[s->n];
}

static void set_to(struct mfs_alias_info *a, const struct rec *x)
{
	snprintf(a->name, sizeof(a->name), "%s", x->alias);
	snprintf(a->version, sizeof(a->version), "%s", x->to);
	a->ctime_ns = x->t_ns;
	a->uid = x->uid;
	a->seq = x->seq;
}

/* Apply one record: `to` set (create or move) or null (remove). By time,
 * every record at or before the moment, in sequence order (a clock
 * stepped back leaves later records earlier in time). */
static int apply(const struct rec *x, void *ctx)
{
	struct state *s = ctx;
	size_t i;

	if (s->by_time && x->t_ns > s->at_ns)
		return 0;
	for (i = 0; i < s->n && strcmp(s->a[i].name, x->alias); i++)
		;
	if (!x->to) {
		if (i < s->n)
			s->a[i] = s->a[--s->n];
		return 0;
	}
	if (i == s->n) {
		if (!grow(s))
			return -ENOMEM;
		s->n++;
	}
	set_to(&s->a[i], x);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct mfs_alias_info *)a)->name,
		      ((const struct mfs_alias_info *)b)->name);
}

/* Version ids of the entries, after the walk (one read transaction per
 * thread), and the result handed over. */
static int finish(struct mfs_store *st, uint64_t model_id, struct state *s, int r,
		  struct mfs_alias_info **ret, size_t *ret_n)
{
	for (size_t i = 0; r == 0 && i < s->n; i++) {
		struct mfs_version_info vi;

		if (mfs_version_lookup(st, model_id, s->a[i].version, true, &vi) == 0)
			s->a[i].vid = vi.id;
	}
	if (r < 0 || !s->n) {
		free(s->a);
		s->a = NULL;
		s->n = 0;
	}
	if (r < 0)
		return r;
	*ret = s->a;
	*ret_n = s->n;
	return 0;
}

int mfs_history_at(struct mfs_store *st, uint64_t model_id, int64_t at_ns,
		   uint64_t at_seq, struct mfs_alias_info **ret, size_t *ret_n)
{
	struct state s = { .at_ns = at_ns, .by_time = !at_seq };
	int r = walk(st, model_id, at_seq, apply, &s);

	if (r == 0 && s.n)
		qsort(s.a, s.n, sizeof(*s.a), by_name);
	return finish(st, model_id, &s, r, ret, ret_n);
}

static int add_move(const struct rec *x, void *ctx)
{
	struct state *s = ctx;

	if (!x->to || strcmp(x->alias, s->alias))
		return 0;
	if (!grow(s))
		return -ENOMEM;
	set_to(&s->a[s->n++], x);
	return 0;
}

int mfs_history_moves(struct mfs_store *st, uint64_t model_id, const char *alias,
		      struct mfs_alias_info **ret, size_t *ret_n)
{
	struct state s = { .alias = alias };

	return finish(st, model_id, &s, walk(st, model_id, 0, add_move, &s), ret, ret_n);
}

int mfs_history_previous(const char *text, size_t len, const char *alias,
			 char *ret_version, size_t n)
{
	const char *p = text, *end = text + len;
	char found[MFS_NAME_MAX + 1];
	int r = -ENOENT;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		cJSON *rec;

		if (l) {
			const char *a, *from;

			rec = cJSON_ParseWithLength(p, l);
			if (!cJSON_IsObject(rec)) {
				cJSON_Delete(rec);
				return -EINVAL;
			}
			a = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "alias"));
			from = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "from"));
			if (a && !strcmp(a, alias)) {
				r = from && strlen(from) < sizeof(found) ? 0 : -ENOENT;
				if (r == 0)
					memcpy(found, from, strlen(from) + 1);
			}
			cJSON_Delete(rec);
		}
		p += l + 1;
	}
	if (r < 0)
		return r;
	if (strlen(found) >= n)
		return -ENAMETOOLONG;
	memcpy(ret_version, found, strlen(found) + 1);
	return 0;
}
