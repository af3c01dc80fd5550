/* kv.c - the storage seam's dispatch: one call, the engine's ops (kv.h) */
#include <stdlib.h>
#include <string.h>

#include "kv_engine.h"
#include "log.h"

bool kv_uri_is_pg(const char *uri)
{
	return !strncmp(uri, "postgresql:", 11) || !strncmp(uri, "postgres:", 9) ||
	       (strncmp(uri, "lmdb:", 5) && strchr(uri, '='));
}

int kv_open(const char *uri, unsigned flags, const char *const *tables, int ntables,
	    struct kv **ret)
{
	if (ntables < 1 || ntables > KV_MAX_TABLES)
		return -EINVAL;
	if (!strncmp(uri, "lmdb:", 5))
		return kv_lmdb_open(uri + 5, flags, tables, ntables, ret);
	if (kv_uri_is_pg(uri))
		return kv_pg_open(uri, flags, tables, ntables, ret);
	/* Not the string itself: it could hold a password. */
	return mfs_log_errno(-EINVAL,
			     "a database is lmdb:DIR or a PostgreSQL URI (postgresql://...) or connection string (key=value ...)");
}

bool kv_uri_has_password(const char *uri)
{
	return kv_uri_is_pg(uri) && kv_pg_has_password(uri);
}

void kv_close(struct kv *kv)
{
	if (kv)
		kv->ops->close(kv);
}

void kv_set_userdata(struct kv *kv, void *user)
{
	kv->user = user;
}

void *kv_userdata(const struct kv *kv)
{
	return kv->user;
}

const char *kv_engine(const struct kv *kv)
{
	return kv->ops->name;
}

bool kv_shared(const struct kv *kv)
{
	return kv->ops->shared;
}

const char *kv_where(const struct kv *kv)
{
	return kv->where;
}

uint64_t kv_generation(struct kv *kv)
{
	return kv ? kv->ops->generation(kv) : 0;
}

void kv_trim(struct kv *kv)
{
	if (kv && kv->ops->trim)
		kv->ops->trim(kv);
}

int kv_copy(struct kv *kv, const char *path)
{
	return kv->ops->copy ? kv->ops->copy(kv, path) : -ENOTSUP;
}

int kv_txn_begin(struct kv *kv, bool write, struct kv_txn **ret)
{
	if (write && (kv->flags & KV_READONLY))
		return -EROFS;
	return kv->ops->txn_begin(kv, write, ret);
}

void kv_txn_set_lazy(struct kv_txn *txn)
{
	txn->lazy = txn->write && txn->kv->ops->sync != NULL;
}

bool kv_txn_lazy(const struct kv_txn *txn)
{
	return txn->lazy;
}

int kv_sync(struct kv *kv)
{
	return kv->ops->sync ? kv->ops->sync(kv) : 0;
}

int kv_txn_commit(struct kv_txn *txn)
{
	struct kv *kv = txn->kv;
	char *notes = txn->notes;
	size_t len = txn->nlen;
	bool told = txn->write, all = txn->overflow;
	int r;

	r = kv->ops->txn_commit(txn);	/* txn is gone */
	/* -EIO (perhaps failed before the commit was sent) or in doubt: it
	 * may have happened (the others hear of it if it did): forgetting
	 * what did not change costs a lookup, the reverse a stale name. */
	if ((r == 0 || r == -EIO || r == KV_IN_DOUBT) && told) {
		kv_watch_fn w = __atomic_load_n(&kv->watch, __ATOMIC_ACQUIRE);

		if (w)
			w(kv->watch_ctx, all ? NULL : notes ? notes : "", all ? 0 : len);
	}
	free(notes);
	return r;
}

void kv_txn_abort(struct kv_txn *txn)
{
	char *notes;

	if (!txn)
		return;
	notes = txn->notes;
	txn->kv->ops->txn_abort(txn);
	free(notes);
}

int kv_txn_note(struct kv_txn *txn, const void *note, size_t len)
{
	if (!txn->write)
		return -EINVAL;
	if (txn->overflow)
		return 0;
	if (txn->nlen + len > KV_NOTES_MAX) {
		txn->overflow = true;
		return 0;
	}
	if (txn->nlen + len > txn->ncap) {
		size_t cap = txn->ncap ? 2 * txn->ncap : 256;
		char *p;

		while (cap < txn->nlen + len)
			cap *= 2;
		p = realloc(txn->notes, cap);
		if (!p) {
			/* Told as "anything" rather than not at all. */
			txn->overflow = true;
			return 0;
		}
		txn->notes = p;
		txn->ncap = cap;
	}
	memcpy(txn->notes + txn->nlen, note, len);
	txn->nlen += len;
	return 0;
}

int kv_watch(struct kv *kv, kv_watch_fn fn, void *ctx)
{
	int r = 0;

	if (!fn) {
		/* The engine's thread stops first (it may be handing notes
		 * to the watcher right now), then the watcher goes. */
		if (kv->ops->watch)
			kv->ops->watch(kv, false);
		__atomic_store_n(&kv->watch, NULL, __ATOMIC_RELEASE);
		return 0;
	}
	kv->watch_ctx = ctx;
	__atomic_store_n(&kv->watch, fn, __ATOMIC_RELEASE);
	if (kv->ops->watch)
		r = kv->ops->watch(kv, true);
	if (r)
		__atomic_store_n(&kv->watch, NULL, __ATOMIC_RELEASE);
	return r;
}

struct kv *kv_txn_kv(const struct kv_txn *txn)
{
	return txn->kv;
}

bool kv_txn_writable(const struct kv_txn *txn)
{
	return txn->write;
}

static bool table_ok(const struct kv_txn *txn, int t)
{
	return t >= 0 && t < txn->kv->ntables;
}

int kv_get(struct kv_txn *txn, int t, const struct kv_val *k, struct kv_val *ret)
{
	if (!table_ok(txn, t))
		return -EINVAL;
	return txn->kv->ops->get(txn, t, k, ret);
}

int kv_put(struct kv_txn *txn, int t, const struct kv_val *k, const struct kv_val *v,
	   unsigned flags)
{
	if (!table_ok(txn, t) || !txn->write || !k->len || k->len > KV_KEY_MAX)
		return -EINVAL;
	return txn->kv->ops->put(txn, t, k, v, flags);
}

int kv_del(struct kv_txn *txn, int t, const struct kv_val *k)
{
	if (!table_ok(txn, t) || !txn->write)
		return -EINVAL;
	return txn->kv->ops->del(txn, t, k);
}

int kv_count(struct kv_txn *txn, int t, uint64_t *ret)
{
	if (!table_ok(txn, t))
		return -EINVAL;
	return txn->kv->ops->count(txn, t, ret);
}

int kv_cursor_open(struct kv_txn *txn, int t, struct kv_cursor **ret)
{
	if (!table_ok(txn, t))
		return -EINVAL;
	return txn->kv->ops->cursor_open(txn, t, ret);
}

int kv_cursor_get(struct kv_cursor *cur, struct kv_val *k, struct kv_val *v, enum kv_op op)
{
	return cur->txn->kv->ops->cursor_get(cur, k, v, op);
}

int kv_cursor_del(struct kv_cursor *cur)
{
	if (!cur->txn->write)
		return -EINVAL;
	return cur->txn->kv->ops->cursor_del(cur);
}

void kv_cursor_close(struct kv_cursor *cur)
{
	if (cur)
		cur->txn->kv->ops->cursor_close(cur);
}

int kv_copy_to(struct kv *src, struct kv *dst)
{
	struct kv_txn *from = NULL, *to = NULL;
	int r;

	if (src->ntables != dst->ntables)
		return -EINVAL;
	r = kv_txn_begin(src, false, &from);
	if (r == 0)
		r = kv_txn_begin(dst, true, &to);
	for (int t = 0; r == 0 && t < dst->ntables; t++) {
		uint64_t n = 0;

		r = kv_count(to, t, &n);
		if (r == 0 && n)
			r = mfs_log_errno(-EEXIST, "%s is not empty: refusing to copy a registry into it",
					  kv_where(dst));
	}
	for (int t = 0; r == 0 && t < src->ntables; t++) {
		struct kv_cursor *cur = NULL;
		struct kv_val k, v;
		int rc;

		r = kv_cursor_open(from, t, &cur);
		if (r)
			break;
		for (rc = kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0;
		     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
			rc = kv_put(to, t, &k, &v, KV_NOOVERWRITE);
			if (rc)
				break;
		}
		kv_cursor_close(cur);
		if (rc != KV_NOTFOUND)
			r = rc;
	}
	kv_txn_abort(from);
	if (r == 0)
		return kv_txn_commit(to);
	kv_txn_abort(to);
	return r;
}
