/* fsck.c - consistency check of blobs and LMDB references */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "objects.h"
#include "blob.h"
#include "fsck.h"
#include "progress.h"
#include "log.h"
#include "version.h"

/*
 * Three passes over one read snapshot: (1) count references per digest
 * from the entries of every sealed or deleted version (deleted versions
 * keep their blobs until gc); (2) compare with the blob table and the files
 * on disk; (3) walk blobs/ for files the table does not know (cruft).
 */

struct ref {
	uint8_t d[16];
	uint64_t refs;
	uint64_t size;
};

struct ctx {
	struct mfs_store *st;
	struct kv_txn *txn;
	mfs_fsck_report_fn report;
	void *rctx;
	struct mfs_fsck_result *res;
	struct ref *refs;
	size_t n, cap;
};

static void say(struct ctx *c, enum mfs_fsck_level l, const char *what,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void say(struct ctx *c, enum mfs_fsck_level l, const char *what,
		const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l == MFS_FSCK_ERROR)
		c->res->errors++;
	else
		c->res->warnings++;
	if (c->report)
		c->report(c->rctx, l, what, msg);
}

static int cmp_ref(const void *a, const void *b)
{
	return memcmp(((const struct ref *)a)->d, ((const struct ref *)b)->d, 16);
}

static struct ref *find_ref(struct ctx *c, const uint8_t d[16])
{
	struct ref key;

	if (!c->n)
		return NULL;
	memcpy(key.d, d, 16);
	return bsearch(&key, c->refs, c->n, sizeof(*c->refs), cmp_ref);
}

static int count_refs(struct ctx *c)
{
	struct kv_cursor *cur;
	struct kv_val k, v;
	int rc;

	rc = kv_cursor_open(c->txn, DB_ENTRIES, &cur);
	if (rc)
		return rc;
	for (rc = kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0;
	     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
		struct rec_entry re;

		if (v.len < sizeof(re))
			continue;
		rec_get(&re, sizeof(re), &v);
		if (!S_ISREG(re.mode))
			continue;
		if (c->n == c->cap) {
			void *p = realloc(c->refs, (c->cap = c->cap ? 2 * c->cap : 256) *
							   sizeof(*c->refs));

			if (!p) {
				kv_cursor_close(cur);
				return -ENOMEM;
			}
			c->refs = p;
		}
		memcpy(c->refs[c->n].d, re.digest, 16);
		c->refs[c->n].refs = 1;
		c->refs[c->n].size = re.size;
		c->n++;
	}
	kv_cursor_close(cur);
	/* Merge duplicates into counts. */
	if (c->n)
		qsort(c->refs, c->n, sizeof(*c->refs), cmp_ref);
	{
		size_t w = 0;

		for (size_t i = 0; i < c->n; i++) {
			if (w && !memcmp(c->refs[w - 1].d, c->refs[i].d, 16))
				c->refs[w - 1].refs++;
			else
				c->refs[w++] = c->refs[i];
		}
		c->n = w;
	}
	return 0;
}

static int check_blobs(struct ctx *c, unsigned flags)
{
	struct kv_cursor *cur;
	struct kv_val k, v;
	int rc;

	/* Every referenced digest must have a blob record and a file. */
	for (size_t i = 0; i < c->n; i++) {
		struct kv_val dk = { 16, c->refs[i].d };
		struct mfs_digest d;
		struct rec_blob rb;
		char rel[40];
		uint64_t size;
		int has;

		memcpy(d.b, c->refs[i].d, 16);
		mfs_blob_relpath(&d, rel);
		c->res->blobs++;
		mfs_progress(flags & MFS_FSCK_QUICK ? "checking blobs" : "checking blobs' contents",
			     i + 1, c->n);
		if (kv_get(c->txn, DB_BLOBS, &dk, &v) != 0) {
			say(c, MFS_FSCK_ERROR, rel, "blob is referenced by %llu files but has no blob record",
			    (unsigned long long)c->refs[i].refs);
		} else {
			rec_get(&rb, sizeof(rb), &v);
			if (rb.refs != c->refs[i].refs)
				say(c, MFS_FSCK_ERROR, rel, "refcount is %llu but %llu files reference it",
				    (unsigned long long)rb.refs,
				    (unsigned long long)c->refs[i].refs);
		}
		has = mfs_blob_has(c->st, &d, &size);
		if (has <= 0) {
			say(c, MFS_FSCK_ERROR, rel, "blob is missing (referenced by %llu files)",
			    (unsigned long long)c->refs[i].refs);
			continue;
		}
		if (size != c->refs[i].size) {
			say(c, MFS_FSCK_ERROR, rel, "blob has size %llu, expected %llu",
			    (unsigned long long)size, (unsigned long long)c->refs[i].size);
			continue;
		}
		if (!(flags & MFS_FSCK_QUICK)) {
			int r = mfs_blob_verify(c->st, &d);

			if (r == -EBADMSG)
				say(c, MFS_FSCK_ERROR, rel, "blob content does not match its digest");
			else if (r < 0)
				say(c, MFS_FSCK_ERROR, rel, "cannot read blob: %s", strerror(-r));
		}
	}
	/* Blob records nothing references. */
	rc = kv_cursor_open(c->txn, DB_BLOBS, &cur);
	if (rc)
		return rc;
	for (rc = kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0;
	     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
		struct rec_blob rb;
		struct mfs_digest d;
		char rel[40];

		if (k.len != 16)
			continue;
		memcpy(d.b, k.data, 16);
		rec_get(&rb, sizeof(rb), &v);
		if (!find_ref(c, d.b) && rb.refs) {
			mfs_blob_relpath(&d, rel);
			say(c, MFS_FSCK_ERROR, rel, "refcount is %llu but no file references it",
			    (unsigned long long)rb.refs);
		}
	}
	kv_cursor_close(cur);
	return 0;
}

static int on_obj(void *ctx, const struct mfs_digest *d, uint64_t size)
{
	struct ctx *c = ctx;
	struct kv_val dk = { 16, (void *)d->b }, v;
	char rel[40];

	if (find_ref(c, d->b))
		return 0;
	mfs_blob_relpath(d, rel);
	if (kv_get(c->txn, DB_JOURNAL, &dk, &v) == 0)
		say(c, MFS_FSCK_WARNING, rel, "blob of a seal in progress (or interrupted: removed at the next start)");
	else
		say(c, MFS_FSCK_WARNING, rel, "cruft: blob (%llu bytes) that no version references; gc removes it",
		    (unsigned long long)size);
	return 0;
}

static int on_cruft(void *ctx, const char *relpath)
{
	struct ctx *c = ctx;

	say(c, MFS_FSCK_WARNING, relpath, "cruft: not a blob name");
	return 0;
}

int mfs_fsck_run(struct mfs_store *st, unsigned flags, mfs_fsck_report_fn report,
		 void *rctx, struct mfs_fsck_result *ret)
{
	struct mfs_fsck_result res = { 0 };
	struct ctx c = { .st = st, .report = report, .rctx = rctx, .res = &res };
	struct kv_cursor *cur = NULL;
	struct kv_val k, v;
	int r;

	r = store_txn_begin(st, false, &c.txn);
	if (r < 0)
		return r;
	r = count_refs(&c);
	if (r == 0)
		r = check_blobs(&c, flags);
	if (r == 0)
		r = mfs_blob_iterate(st, on_obj, on_cruft, &c);
	if (r == 0 && kv_cursor_open(c.txn, DB_VERSIONS, &cur) == 0) {
		while (kv_cursor_get(cur, &k, &v, res.versions ? KV_NEXT : KV_FIRST) == 0)
			res.versions++;
		kv_cursor_close(cur);
	}
	kv_txn_abort(c.txn);
	free(c.refs);
	if (r == 0)
		*ret = res;
	return r;
}
