/* stream.c - a log of JSON-line records read by offset (stream.h) */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "governance.h"
#include "stream.h"

/* A record copied at open: the log may still rewrite or drop it. */
struct pin {
	uint64_t seq;
	char *text;		/* NULL: this reader does not see it */
	size_t len;
};

/* Read-only after open, except where a field says lock: protected by
 * lock, which reads hold. */
struct mfs_stream {
	pthread_mutex_t lock;
	int db;
	uint8_t prefix[8];
	size_t plen;
	store_stream_text_fn text;	/* NULL: every record as stored */
	void *ctx;			/* text's state; lock */
	uint64_t last_seq;		/* the snapshot's last record */
	struct pin *pins;		/* by seq; the last record is one */
	size_t npins;
	uint64_t size;
	uint64_t pos_off, pos_seq;	/* lock: the next shown record at or
					 * after pos_seq starts at pos_off */
	int err;			/* lock: a failed cursor read (-errno) */
};

/* Position cur at the first record of s at or after seq (op
 * KV_SET_RANGE), or move it (KV_LAST, KV_PREV); *ret_seq is the
 * record's number. Returns false when there is none in the log. */
static bool seek(struct mfs_stream *s, struct kv_cursor *cur, uint64_t seq, struct kv_val *k,
		 struct kv_val *v, enum kv_op op, uint64_t *ret_seq)
{
	uint8_t kb[16];
	int rc;

	if (op == KV_SET_RANGE) {
		memcpy(kb, s->prefix, s->plen);
		put_be64(kb + s->plen, seq);
		k->data = kb;
		k->len = s->plen + 8;
	}
	rc = kv_cursor_get(cur, k, v, op);
	if (rc && rc != KV_NOTFOUND)
		s->err = rc;	/* not the end: a damaged store */
	if (rc || k->len != s->plen + 8 || memcmp(k->data, s->prefix, s->plen))
		return false;
	*ret_seq = get_be64((const uint8_t *)k->data + s->plen);
	return true;
}

/* The text of record v as s shows it now, or NULL when s does not. */
static const char *text_now(struct mfs_store *st, struct kv_txn *txn, struct mfs_stream *s,
			    const struct kv_val *v, size_t *ret_len)
{
	if (s->text)
		return s->text(st, txn, s->ctx, v, ret_len);
	*ret_len = v->len;
	return v->data;
}

/* The snapshot's first record at or after seq: a pinned copy, or the
 * log's own (pins win: they are the record as at open). Returns false
 * past the snapshot's end; *ret_text NULL: a record this reader does not
 * see. */
static bool next(struct mfs_store *st, struct kv_txn *txn, struct kv_cursor *cur, struct mfs_stream *s,
		 uint64_t seq, uint64_t *ret_seq, const char **ret_text, size_t *ret_len)
{
	const struct pin *p = NULL;
	struct kv_val k, v;
	uint64_t dseq = 0;
	bool in_log = seek(s, cur, seq, &k, &v, KV_SET_RANGE, &dseq);
	size_t lo = 0, hi = s->npins;

	/* The first pin at or after seq: they are sorted. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->pins[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->npins)
		p = &s->pins[lo];
	if (p && (!in_log || p->seq <= dseq)) {
		*ret_seq = p->seq;
		*ret_text = p->text;
		*ret_len = p->len;
	} else if (in_log) {
		*ret_seq = dseq;
		*ret_text = text_now(st, txn, s, &v, ret_len);
	} else {
		return false;
	}
	/* UINT64_MAX: no number modelfs gives (a damaged store's); the
	 * walks count past every record they read. */
	return *ret_seq <= s->last_seq && *ret_seq != UINT64_MAX;
}

/* The number of the log's last record (0: none). */
static uint64_t last_seq(struct mfs_stream *s, struct kv_cursor *cur)
{
	uint8_t kb[16];
	struct kv_val k = { s->plen + 8, kb }, v;
	uint64_t seq = 0;
	int rc;

	memcpy(kb, s->prefix, s->plen);
	memset(kb + s->plen, 0xff, 8);
	rc = kv_cursor_get(cur, &k, &v, KV_SET_RANGE);
	if (rc == 0 && k.len == s->plen + 8 && !memcmp(k.data, kb, s->plen + 8))
		return UINT64_MAX;
	/* The record before the first key past the log, or the last one. */
	return seek(s, cur, 0, &k, &v, rc == 0 ? KV_PREV : KV_LAST, &seq) ? seq : 0;
}

static int cmp_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Copy the records numbered seqs[0..n) (those in the log) and the last
 * one into s->pins. */
static int pin(struct mfs_store *st, struct kv_txn *txn, struct kv_cursor *cur, struct mfs_stream *s,
	       uint64_t *seqs, size_t n)
{
	s->pins = calloc(n + 1, sizeof(*s->pins));
	if (!s->pins)
		return -ENOMEM;
	seqs[n++] = s->last_seq;
	qsort(seqs, n, sizeof(*seqs), cmp_seq);
	for (size_t i = 0; i < n; i++) {
		struct pin *p = &s->pins[s->npins];
		struct kv_val k, v;
		uint64_t seq;
		const char *t;

		if ((i && seqs[i] == seqs[i - 1]) || !seqs[i] || seqs[i] > s->last_seq ||
		    !seek(s, cur, seqs[i], &k, &v, KV_SET_RANGE, &seq) || seq != seqs[i])
			continue;
		p->seq = seq;
		t = text_now(st, txn, s, &v, &p->len);
		if (t) {
			p->text = malloc(p->len ? p->len : 1);
			if (!p->text)
				return -ENOMEM;
			memcpy(p->text, t, p->len);
		}
		s->npins++;
	}
	return 0;
}

int store_stream_open(struct mfs_store *st, int db, const void *prefix, size_t plen,
		      store_stream_text_fn text, store_stream_pins_fn pins, void *ctx,
		      struct mfs_stream **ret, uint64_t *ret_size)
{
	struct mfs_stream *s = calloc(1, sizeof(*s));
	struct kv_txn *txn = NULL;
	struct kv_cursor *cur = NULL;
	uint64_t *seqs = NULL, seq;
	size_t nseqs = 0, len;
	const char *t;
	int r;

	/* A log shows no record a crash could still take back. */
	r = store_durable(st);
	if (r < 0) {
		free(ctx);
		free(s);
		return r;
	}
	if (!s || plen > sizeof(s->prefix)) {
		r = s ? -EINVAL : -ENOMEM;
		free(ctx);
		free(s);
		return r;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->db = db;
	if (plen)
		memcpy(s->prefix, prefix, plen);
	s->plen = plen;
	s->text = text;
	s->ctx = ctx;
	r = store_read_cursor(st, db, &txn, &cur);
	if (r < 0)
		goto fail;
	s->last_seq = last_seq(s, cur);
	if (pins)
		r = pins(st, txn, prefix, plen, &seqs, &nseqs);
	if (r == 0) {
		/* room for the last record */
		void *p = realloc(seqs, (nseqs + 1) * sizeof(*seqs));

		r = p ? 0 : -ENOMEM;
		if (p)
			seqs = p;
	}
	if (r == 0)
		r = pin(st, txn, cur, s, seqs, nseqs);
	if (r < 0)
		goto fail;
	/* The size: one pass, nothing kept. */
	for (seq = 0; next(st, txn, cur, s, seq, &seq, &t, &len); seq++) {
		if (t)
			s->size += len + 1;
	}
	r = s->err;
	if (r < 0)
		goto fail;
	kv_cursor_close(cur);
	kv_txn_abort(txn);
	free(seqs);
	*ret = s;
	*ret_size = s->size;
	return 0;
fail:
	if (cur)
		kv_cursor_close(cur);
	if (txn)
		kv_txn_abort(txn);
	free(seqs);
	mfs_stream_close(s);
	return r;
}

uint64_t mfs_stream_size(const struct mfs_stream *s)
{
	return s->size;
}

/* Copy bytes [off, off + n) of record text (len bytes, then a newline)
 * into buf. */
static void copy_line(char *buf, const char *text, size_t len, size_t off, size_t n)
{
	size_t t = off < len ? (n < len - off ? n : len - off) : 0;

	if (t)
		memcpy(buf, text + off, t);
	if (t < n)
		buf[t] = '\n';
}

ssize_t mfs_stream_read(struct mfs_store *st, struct mfs_stream *s, uint64_t off,
			char *buf, size_t n)
{
	struct kv_txn *txn;
	struct kv_cursor *cur;
	uint64_t seq;
	const char *text;
	size_t got = 0, len;
	int r;

	if (off >= s->size || n == 0)
		return 0;
	if (n > s->size - off)
		n = (size_t)(s->size - off);
	pthread_mutex_lock(&s->lock);
	if (off < s->pos_off) {
		/* A reader went back: start over. */
		s->pos_off = 0;
		s->pos_seq = 0;
	}
	r = store_read_cursor(st, s->db, &txn, &cur);
	if (r < 0) {
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	for (seq = s->pos_seq; got < n && next(st, txn, cur, s, seq, &seq, &text, &len);
	     seq++) {
		size_t at, take;

		if (!text) {
			s->pos_seq = seq + 1;
			continue;
		}
		if (s->pos_off + len + 1 <= off) {
			/* Before the range asked: passed for good. */
			s->pos_off += len + 1;
			s->pos_seq = seq + 1;
			continue;
		}
		at = (size_t)(off + got - s->pos_off);
		take = len + 1 - at < n - got ? len + 1 - at : n - got;
		copy_line(buf + got, text, len, at, take);
		got += take;
		if (at + take < len + 1)
			break;	/* the rest of this record: the next read */
		s->pos_off += len + 1;
		s->pos_seq = seq + 1;
	}
	r = s->err;
	s->err = 0;
	kv_cursor_close(cur);
	kv_txn_abort(txn);
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		return r;
	/* Records gone since open that were not pinned (an audit record
	 * that became invisible): the snapshot keeps its size, and what is
	 * missing reads as newlines at its end. */
	if (got < n) {
		memset(buf + got, '\n', n - got);
		got = n;
	}
	return (ssize_t)got;
}

int store_stream_render(struct mfs_store *st, struct mfs_stream *s, char **ret,
			size_t *ret_len)
{
	char *buf = malloc((size_t)s->size + 1);
	size_t got = 0;
	ssize_t n = 0;

	while (buf && got < s->size) {
		n = mfs_stream_read(st, s, got, buf + got, (size_t)s->size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	mfs_stream_close(s);
	if (!buf || n < 0) {
		free(buf);
		return buf ? (int)n : -ENOMEM;
	}
	buf[got] = '\0';
	*ret = buf;
	*ret_len = got;
	return 0;
}

void mfs_stream_close(struct mfs_stream *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->ctx);
	for (size_t i = 0; i < s->npins; i++)
		free(s->pins[i].text);
	free(s->pins);
	free(s);
}
