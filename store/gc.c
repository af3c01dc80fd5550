/* gc.c - retention (keep_last) and the mark-and-sweep of blobs (see gc.h) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "governance.h"
#include "alias.h"
#include "audit.h"
#include "blob.h"
#include "progress.h"
#include "gc.h"
#include "log.h"
#include "model.h"
#include "perm.h"
#include "policy.h"
#include "ref.h"
#include "version.h"

/*
 * The refcount in DB_BLOBS counts the entries that name a blob, entries of
 * tombstones included (a tombstone keeps its entries until gc releases
 * them; fsck counts them too). A blob is removed only inside a write
 * transaction that sees its refcount 0 (or, for cruft, no record and no
 * seal journal entry): a seal's commit is a write transaction too, so it
 * either commits its reference first (gc then sees refs > 0) or runs after
 * the removal and links the blob again from its draft (seal.c commit()).
 * The file is unlinked before the transaction commits: unlinking after it
 * would let a seal commit in between, find the file still there, and rely
 * on a name about to go. A crash in between leaves a record with refcount
 * 0 and no file, which every reader treats as "no blob".
 *
 * A dry run plans the same: it subtracts, in memory, the references the
 * tombstones (existing and planned) hold, instead of dropping them.
 */

#define SWEEP_BATCH 64

struct dec {
	uint8_t d[16];
	uint64_t n;
};

struct gc {
	struct mfs_store *st;
	const struct mfs_caller *c;
	bool dry;
	mfs_gc_in_use_fn in_use;
	void *ictx;
	struct mfs_gc_report *rep;
	struct dec *dec;		/* dry run: references the plan drops */
	size_t ndec, capdec;
	bool dec_sorted;
	struct mfs_digest *keep;	/* blobs drafts' instant copies name */
	size_t nkeep, capkeep;
};

/* Room for one more element in *arr (n used of *cap, each size bytes).
 * Returns 0 or -ENOMEM. */
static int grow(void *arr, size_t n, size_t *cap, size_t size)
{
	void **a = arr, *p;

	if (n < *cap)
		return 0;
	p = realloc(*a, (*cap ? 2 * *cap : 64) * size);
	if (!p)
		return -ENOMEM;
	*a = p;
	*cap = *cap ? 2 * *cap : 64;
	return 0;
}

/* A file of vid is open here (the daemon says), or on a live host of a
 * shared registry (its lease, lease.h). */
static bool in_use(struct gc *g, uint64_t vid)
{
	struct kv_txn *txn;
	bool held;

	if (g->in_use && g->in_use(g->ictx, vid))
		return true;
	if (!kv_shared(g->st->kv))
		return false;
	if (store_txn_begin(g->st, false, &txn) < 0)
		return true;	/* cannot tell: keep it */
	held = store_leased(g->st, txn, vid);
	kv_txn_abort(txn);
	return held;
}

static int push_version(struct mfs_gc_version **arr, size_t *n, const char *model,
			const struct mfs_version_info *vi)
{
	struct mfs_gc_version *v, *p = realloc(*arr, (*n + 1) * sizeof(**arr));

	if (!p)
		return -ENOMEM;
	*arr = p;
	v = &p[(*n)++];
	memset(v, 0, sizeof(*v));
	v->vid = vi->id;
	v->size = vi->size;
	snprintf(v->model, sizeof(v->model), "%s", model);
	snprintf(v->version, sizeof(v->version), "%s", vi->name);
	return 0;
}

/*============================================================ dry-run counts */

static int add_dec(struct gc *g, const uint8_t d[16])
{
	if (grow(&g->dec, g->ndec, &g->capdec, sizeof(*g->dec)) < 0)
		return -ENOMEM;
	memcpy(g->dec[g->ndec].d, d, 16);
	g->dec[g->ndec++].n = 1;
	g->dec_sorted = false;
	return 0;
}

static int cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static uint64_t dec_of(struct gc *g, const uint8_t d[16])
{
	struct dec *hit;

	if (!g->ndec)
		return 0;
	if (!g->dec_sorted) {
		size_t w = 0;

		qsort(g->dec, g->ndec, sizeof(*g->dec), cmp16);
		for (size_t i = 0; i < g->ndec; i++) {
			if (w && !memcmp(g->dec[w - 1].d, g->dec[i].d, 16))
				g->dec[w - 1].n += g->dec[i].n;
			else
				g->dec[w++] = g->dec[i];
		}
		g->ndec = w;
		g->dec_sorted = true;
	}
	hit = bsearch(d, g->dec, g->ndec, sizeof(*g->dec), cmp16);
	return hit ? hit->n : 0;
}

static int dec_file(void *ctx, const uint8_t digest[16])
{
	return add_dec(ctx, digest);
}

/* The references vid's entries hold, into g->dec. */
static int plan_release(struct gc *g, uint64_t vid)
{
	struct kv_txn *txn;
	int r;

	r = store_txn_begin(g->st, false, &txn);
	if (r < 0)
		return r;
	r = store_version_files(g->st, txn, vid, dec_file, g);
	kv_txn_abort(txn);
	return r;
}

/*============================================================ 1. retention */

static int retain_model(struct gc *g, const struct mfs_model_info *m)
{
	struct mfs_version_info *vs = NULL;
	size_t n = 0, nsealed = 0, over;
	unsigned keep = 0;
	int r;

	r = mfs_policy_keep_last(g->st, m->id, &keep);
	if (r < 0 || keep == 0)
		return r;
	r = mfs_version_list(g->st, m->id, &vs, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		nsealed += vs[i].state == MFS_V_SEALED;
	over = nsealed > keep ? nsealed - keep : 0;
	/* vs is in ascending precedence: the first `over` sealed ones are
	 * beyond the newest keep. */
	for (size_t i = 0; i < n && over && r == 0; i++) {
		struct mfs_alias_info *al = NULL;
		size_t na = 0;

		if (vs[i].state != MFS_V_SEALED)
			continue;	/* drafts are never touched */
		over--;
		r = mfs_alias_list_for(g->st, vs[i].id, &al, &na);
		free(al);
		if (r < 0)
			break;
		if (na)
			continue;	/* aliased versions are always kept */
		if (in_use(g, vs[i].id)) {
			r = push_version(&g->rep->kept_open, &g->rep->nkept_open, m->name, &vs[i]);
			continue;
		}
		if (g->dry) {
			r = push_version(&g->rep->tombstoned, &g->rep->ntombstoned, m->name, &vs[i]);
			if (r == 0)
				r = plan_release(g, vs[i].id);
			if (r == 0)
				g->rep->released++;
			continue;
		}
		r = mfs_version_remove(g->st, g->c, m->id, vs[i].name);
		if (r == -EBUSY || r == -ENOENT || r == -EACCES) {
			/* aliased or removed since we looked, or a model the
			 * caller may not change (logged): the rest goes on */
			r = 0;
			continue;
		}
		if (r == 0)
			r = push_version(&g->rep->tombstoned, &g->rep->ntombstoned, m->name, &vs[i]);
	}
	free(vs);
	return r;
}

static int retention(struct gc *g)
{
	struct mfs_model_info *ms = NULL;
	size_t n = 0;
	int r;

	r = mfs_model_list(g->st, &ms, &n);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = retain_model(g, &ms[i]);
	free(ms);
	return r;
}

/*============================================================ 2. release */

/* Drop tombstone vid's entries and the blob references they hold, in one
 * write txn. *ret_any: it held some. */
static int release_one(struct gc *g, uint64_t vid, bool *ret_any)
{
	struct mfs_store *st = g->st;
	struct kv_txn *txn = NULL;
	struct kv_cursor *cur = NULL;
	struct rec_version rv;
	struct key k;
	struct kv_val kv, v;
	int r, rc;

	*ret_any = false;
	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	r = store_get_version(st, txn, vid, &rv, NULL, 0);
	if (r < 0 || rv.state != MFS_V_TOMBSTONE)
		goto out;
	/* Leased on another host since gc looked: a lease is committed
	 * before the open that takes it returns, and writers take turns, so
	 * this is the last word. */
	if (kv_shared(st->kv) && store_leased(st, txn, vid))
		goto out;
	rc = kv_cursor_open(txn, DB_DIRENTS, &cur);
	if (rc) {
		r = rc;
		goto out;
	}
	key_id(&k, vid);
	for (;;) {
		struct rec_entry re;
		struct key ek;
		struct kv_val ev;

		kv = k.v;
		rc = kv_cursor_get(cur, &kv, &v, KV_SET_RANGE);
		if (rc == KV_NOTFOUND || (rc == 0 && (kv.len < 8 || memcmp(kv.data, k.b, 8))))
			break;
		if (rc) {
			r = rc;
			goto out;
		}
		*ret_any = true;
		if (v.len == 8) {
			key_id(&ek, get_be64(v.data));
			if (kv_get(txn, DB_ENTRIES, &ek.v, &ev) == 0) {
				rec_get(&re, sizeof(re), &ev);
				if (S_ISREG(re.mode)) {
					struct kv_val bk = { 16, re.digest }, bv;
					struct rec_blob rb;

					if (kv_get(txn, DB_BLOBS, &bk, &bv) == 0) {
						rec_get(&rb, sizeof(rb), &bv);
						if (rb.refs)
							rb.refs--;
						bv.data = &rb;
						bv.len = sizeof(rb);
						r = kv_put(txn, DB_BLOBS,
									     &bk, &bv, 0);
						if (r < 0)
							goto out;
					}
				}
				rc = kv_del(txn, DB_ENTRIES, &ek.v);
				if (rc) {
					r = rc;
					goto out;
				}
			}
		}
		rc = kv_cursor_del(cur);
		if (rc) {
			r = rc;
			goto out;
		}
	}
	kv_cursor_close(cur);
	cur = NULL;
	r = store_txn_commit(txn);
	txn = NULL;
out:
	if (cur)
		kv_cursor_close(cur);
	if (txn)
		kv_txn_abort(txn);
	return r;
}

/* Tombstones that still hold entries. Ownership: caller frees *ret. */
static int holding_tombstones(struct gc *g, uint64_t **ret, size_t *ret_n)
{
	struct kv_txn *txn;
	struct kv_cursor *cur, *dcur = NULL;
	struct kv_val k, v;
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int r, rc;

	r = store_read_cursor(g->st, DB_VERSION_IDS, &txn, &cur);
	if (r < 0)
		return r;
	rc = kv_cursor_open(txn, DB_DIRENTS, &dcur);
	for (rc = rc ? rc : kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0 && r == 0;
	     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
		struct rec_version rv;
		struct key dk;
		struct kv_val kv, dv;
		uint64_t vid;

		if (k.len != 8)
			continue;
		vid = get_be64(k.data);
		if (store_get_version(g->st, txn, vid, &rv, NULL, 0) < 0 ||
		    rv.state != MFS_V_TOMBSTONE)
			continue;
		key_id(&dk, vid);
		kv = dk.v;
		if (kv_cursor_get(dcur, &kv, &dv, KV_SET_RANGE) != 0 || kv.len < 8 ||
		    memcmp(kv.data, dk.b, 8))
			continue;
		r = grow(&ids, n, &cap, sizeof(*ids));
		if (r == 0)
			ids[n++] = vid;
	}
	if (dcur)
		kv_cursor_close(dcur);
	kv_cursor_close(cur);
	kv_txn_abort(txn);
	if (r < 0) {
		free(ids);
		return r;
	}
	*ret = ids;
	*ret_n = n;
	return 0;
}

static int release(struct gc *g)
{
	uint64_t *ids = NULL;
	size_t n = 0;
	int r;

	r = holding_tombstones(g, &ids, &n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		bool any = false;

		mfs_progress("releasing deleted versions", i + 1, n);
		/* A file of a deleted version still open (rmdir while it
		 * was read): its entry and blob stay until the next gc. */
		if (in_use(g, ids[i]))
			continue;
		if (g->dry) {
			r = plan_release(g, ids[i]);
			g->rep->released++;
			continue;
		}
		r = release_one(g, ids[i], &any);
		if (r == 0 && any)
			g->rep->released++;
	}
	free(ids);
	return r;
}

/*============================================================ 3. sweep */

static int add_keep(struct gc *g, const struct mfs_digest *d)
{
	if (grow(&g->keep, g->nkeep, &g->capkeep, sizeof(*g->keep)) < 0)
		return -ENOMEM;
	g->keep[g->nkeep++] = *d;
	return 0;
}

static bool kept(struct gc *g, const uint8_t d[16])
{
	for (size_t i = 0; i < g->nkeep; i++)
		if (!memcmp(g->keep[i].b, d, 16))
			return true;
	return false;
}

/* Instant copies (ref.h) in the drafts under at: the blobs they stand
 * for are counted by no LMDB record, yet a seal of the draft needs them. */
static int scan_drafts(struct gc *g, int at, int depth)
{
	DIR *d;
	struct dirent *de;
	int fd, r = 0;

	if (depth > 64)
		return 0;
	fd = openat(at, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;	/* unreadable: it can hold no copy we made */
	}
	while (r == 0 && (de = readdir(d))) {
		struct stat sb;
		int cfd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
								   O_CLOEXEC);
			if (cfd >= 0) {
				r = scan_drafts(g, cfd, depth + 1);
				close(cfd);
			}
		} else if (S_ISREG(sb.st_mode)) {
			struct mfs_digest dg;
			uint64_t size;

			cfd = openat(dirfd(d), de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0)
				continue;
			if (mfs_ref_get(cfd, &dg, &size) == 1)
				r = add_keep(g, &dg);
			close(cfd);
		}
	}
	closedir(d);
	return r;
}

struct cand {
	struct mfs_digest d;
	uint64_t size;
};

struct cands {
	struct cand *c;
	size_t n, cap;
};

static int push_cand(struct cands *cs, const uint8_t d[16], uint64_t size)
{
	if (grow(&cs->c, cs->n, &cs->cap, sizeof(*cs->c)) < 0)
		return -ENOMEM;
	memcpy(cs->c[cs->n].d.b, d, 16);
	cs->c[cs->n++].size = size;
	return 0;
}

/* Blob records whose refcount is (or, planned, would be) 0. */
static int unreferenced(struct gc *g, struct cands *cs)
{
	struct kv_txn *txn;
	struct kv_cursor *cur;
	struct kv_val k, v;
	int r, rc;

	r = store_read_cursor(g->st, DB_BLOBS, &txn, &cur);
	if (r < 0)
		return r;
	for (rc = kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0 && r == 0;
	     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
		struct rec_blob rb;

		if (k.len != 16)
			continue;
		rec_get(&rb, sizeof(rb), &v);
		if (rb.refs <= dec_of(g, k.data) && !kept(g, k.data))
			r = push_cand(cs, k.data, rb.size);
	}
	kv_cursor_close(cur);
	kv_txn_abort(txn);
	return r;
}

struct cruft_walk {
	struct gc *g;
	struct kv_txn *txn;
	struct cands *cs;
};

static int on_blob_file(void *ctx, const struct mfs_digest *d, uint64_t size)
{
	struct cruft_walk *w = ctx;
	struct kv_val k = { 16, (void *)d->b }, v;

	if (kv_get(w->txn, DB_BLOBS, &k, &v) == 0 ||
	    kv_get(w->txn, DB_JOURNAL, &k, &v) == 0 || kept(w->g, d->b))
		return 0;
	return push_cand(w->cs, d->b, size);
}

/* Blob files with no record and no seal journalling them. */
static int cruft_files(struct gc *g, struct cands *cs)
{
	struct cruft_walk w = { .g = g, .cs = cs };
	int r;

	r = store_txn_begin(g->st, false, &w.txn);
	if (r < 0)
		return r;
	r = mfs_blob_iterate(g->st, on_blob_file, NULL, &w);
	kv_txn_abort(w.txn);
	return r;
}

/* Remove candidates, SWEEP_BATCH per write txn, each after re-checking
 * inside it that nothing references it (cruft: that it has no record and
 * no journal entry). */
static int remove_blobs(struct gc *g, struct cands *cs, bool cruft)
{
	struct mfs_store *st = g->st;
	int r = 0;

	for (size_t i = 0; r == 0 && i < cs->n; i += SWEEP_BATCH) {
		struct kv_txn *txn;
		uint64_t blobs = 0, bytes = 0;

		r = store_txn_begin(st, true, &txn);
		if (r < 0)
			break;
		for (size_t j = i; r == 0 && j < cs->n && j < i + SWEEP_BATCH; j++) {
			struct mfs_digest *d = &cs->c[j].d;

			mfs_progress(cruft ? "removing cruft" : "removing blobs", j + 1, cs->n);
			struct kv_val k = { 16, d->b }, v;
			struct rec_blob rb = { 0, 0 };
			bool has_rec = kv_get(txn, DB_BLOBS, &k, &v) == 0;
			uint64_t size = 0;
			char rel[40];
			int has;

			if (has_rec)
				rec_get(&rb, sizeof(rb), &v);
			/* Referenced since we looked, or journalled by a seal
			 * that will reference it (a record at 0 included). */
			if (kv_get(txn, DB_JOURNAL, &k, &v) == 0 ||
			    (cruft ? has_rec : (!has_rec || rb.refs != 0)))
				continue;
			has = mfs_blob_has(st, d, &size);
			mfs_blob_relpath(d, rel);
			if (has == 1) {
				int e = mfs_blob_unlink(st, d);

				if (e < 0 && e != -ENOENT) {
					mfs_log(MFS_LOG_WARN, "gc: unlink blob '%s': %s", rel,
						strerror(-e));
					continue;
				}
				if (e == 0) {
					blobs++;
					bytes += size;
				}
			}
			if (has_rec) {
				int rc = kv_del(txn, DB_BLOBS, &k);

				if (rc)
					r = rc;
			}
			store_sha256_forget(st, txn, d->b);
			mfs_log(MFS_LOG_DEBUG, "gc: removed blob '%s' (%llu bytes)", rel,
				(unsigned long long)size);
		}
		if (r < 0) {
			kv_txn_abort(txn);
			break;
		}
		/* The files are gone whatever the commit says; a record left
		 * at refcount 0 names no blob for anyone (see above). */
		g->rep->blobs += blobs;
		g->rep->bytes += bytes;
		if (cruft)
			g->rep->cruft += blobs;
		r = store_txn_commit(txn);
	}
	return r;
}

/* A dry run counts what remove_blobs() would remove. */
static void count_blobs(struct gc *g, struct cands *cs, bool cruft)
{
	for (size_t i = 0; i < cs->n; i++) {
		uint64_t size = 0;

		if (mfs_blob_has(g->st, &cs->c[i].d, &size) != 1)
			continue;
		g->rep->blobs++;
		g->rep->bytes += size;
		if (cruft)
			g->rep->cruft++;
	}
}

/* What a host that is gone left (a crash): seal journal entries and
 * temporary copies. This host's own are cleared when it starts serving. */
static bool gone(struct gc *g, struct kv_txn *txn, uint64_t host)
{
	return host && host != g->st->host && !store_host_alive(g->st, txn, host);
}

static int journal_of_the_gone(struct gc *g)
{
	struct kv_txn *txn;
	struct kv_cursor *cur = NULL;
	struct kv_val k, v;
	int r, rc;

	r = store_txn_begin(g->st, !g->dry, &txn);
	if (r < 0)
		return r;
	rc = kv_cursor_open(txn, DB_JOURNAL, &cur);
	for (rc = rc ? rc : kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0;
	     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
		struct mfs_digest d;
		struct kv_val bv;
		uint64_t size = 0;

		if (k.len != 16 || v.len < 16 || !gone(g, txn, get_be64((uint8_t *)v.data + 8)))
			continue;
		memcpy(d.b, k.data, 16);
		if (kv_get(txn, DB_BLOBS, &k, &bv) == KV_NOTFOUND &&
		    mfs_blob_has(g->st, &d, &size) == 1) {
			g->rep->blobs++;
			g->rep->cruft++;
			g->rep->bytes += size;
			if (!g->dry) {
				char rel[40];

				mfs_blob_relpath(&d, rel);
				mfs_blob_unlink(g->st, &d);
				mfs_log(MFS_LOG_INFO, "gc: removed blob '%s', left by a seal of host %016llx, which is gone",
					rel, (unsigned long long)get_be64((uint8_t *)v.data + 8));
			}
		}
		if (!g->dry) {
			rc = kv_cursor_del(cur);
			if (rc)
				break;
		}
	}
	if (cur)
		kv_cursor_close(cur);
	if (rc != KV_NOTFOUND) {
		kv_txn_abort(txn);
		return rc;
	}
	return g->dry ? (kv_txn_abort(txn), 0) : store_txn_commit(txn);
}

struct tmp_walk {
	struct gc *g;
	struct kv_txn *txn;
};

/* A temporary copy "ab/.tmp-HOST-PID-N" (blob.c) of a seal that is not
 * running: this host's from another process, or a gone host's. */
static int on_tmp(void *ctx, const char *rel)
{
	struct tmp_walk *w = ctx;
	unsigned long long host;
	int pid, n = 0;
	struct stat sb;

	if (sscanf(rel, "%*2[0-9a-f]/.tmp-%16llx-%d-%*u%n", &host, &pid, &n) != 2 ||
	    (size_t)n != strlen(rel))
		return 0;
	if (host == w->g->st->host ? pid == getpid() : !gone(w->g, w->txn, host))
		return 0;
	if (fstatat(w->g->st->blobs_fd, rel, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	w->g->rep->cruft++;
	w->g->rep->bytes += (uint64_t)sb.st_size;
	if (!w->g->dry && unlinkat(w->g->st->blobs_fd, rel, 0) == 0)
		mfs_log(MFS_LOG_INFO, "gc: removed '%s', a copy an interrupted seal left", rel);
	return 0;
}

static int tmp_files(struct gc *g)
{
	struct tmp_walk w = { .g = g };
	int r = store_txn_begin(g->st, false, &w.txn);

	if (r < 0)
		return r;
	r = mfs_blob_iterate(g->st, NULL, on_tmp, &w);
	kv_txn_abort(w.txn);
	return r;
}

static int sweep(struct gc *g)
{
	struct cands unref = { 0 }, cruft = { 0 };
	int r;

	pthread_mutex_lock(&g->st->gc_lock);
	r = journal_of_the_gone(g);
	if (r == 0)
		r = tmp_files(g);
	if (r == 0)
		r = scan_drafts(g, g->st->drafts_fd, 0);
	if (r == 0)
		r = unreferenced(g, &unref);
	if (r == 0 && g->dry)
		count_blobs(g, &unref, false);
	else if (r == 0)
		r = remove_blobs(g, &unref, false);
	if (r == 0)
		r = cruft_files(g, &cruft);
	if (r == 0 && g->dry)
		count_blobs(g, &cruft, true);
	else if (r == 0)
		r = remove_blobs(g, &cruft, true);
	pthread_mutex_unlock(&g->st->gc_lock);
	free(unref.c);
	free(cruft.c);
	return r;
}

/*============================================================ run */

static int audit_run(struct gc *g)
{
	struct kv_txn *txn;
	cJSON *f = cJSON_CreateObject();
	int r;

	if (!f)
		return -ENOMEM;
	cJSON_AddNumberToObject(f, "tombstoned", (double)g->rep->ntombstoned);
	cJSON_AddNumberToObject(f, "released", (double)g->rep->released);
	cJSON_AddNumberToObject(f, "blobs_removed", (double)g->rep->blobs);
	cJSON_AddNumberToObject(f, "bytes_freed", (double)g->rep->bytes);
	r = store_txn_begin(g->st, true, &txn);
	if (r < 0) {
		cJSON_Delete(f);
		return r;
	}
	r = store_audit(g->st, txn, g->c, "store.gc", f);
	if (r < 0) {
		kv_txn_abort(txn);
		return r;
	}
	return store_txn_commit(txn);
}

int mfs_gc_run(struct mfs_store *st, const struct mfs_caller *c, unsigned flags,
	       mfs_gc_in_use_fn in_use_fn, void *in_use_ctx, struct mfs_gc_report *ret)
{
	struct mfs_gc_report rep = { .dry_run = flags & MFS_GC_DRY_RUN };
	struct gc g = { .st = st, .c = c, .dry = flags & MFS_GC_DRY_RUN, .in_use = in_use_fn,
			.ictx = in_use_ctx, .rep = &rep };
	int r;

	/* Whoever can open the store owns its files and could delete them
	 * anyway: the store's owner counts as an admin here. */
	if (c && !mfs_caller_is_admin(st, c) && c->uid != geteuid()) {
		char why[160];

		snprintf(why, sizeof(why), "gc is for registry admins; uid %u is none",
			 (unsigned)c->uid);
		mfs_log_errno(-EACCES, "refusing gc: %s", why);
		mfs_audit_denial(st, c, "store.gc", NULL, NULL, NULL, EACCES, why);
		return -EACCES;
	}
	r = retention(&g);
	if (r == 0)
		r = release(&g);
	if (r == 0)
		r = sweep(&g);
	if (r == 0 && !g.dry)
		r = audit_run(&g);
	free(g.dec);
	free(g.keep);
	if (r < 0) {
		mfs_log_errno(r, "gc of '%s' stopped: %s", st->dir, strerror(-r));
		mfs_gc_report_release(&rep);
		return r;
	}
	if (!g.dry && (rep.ntombstoned || rep.blobs))
		mfs_log(MFS_LOG_INFO, "gc: tombstoned %zu versions, removed %llu blobs (%llu bytes)",
			rep.ntombstoned, (unsigned long long)rep.blobs,
			(unsigned long long)rep.bytes);
	*ret = rep;
	return 0;
}

void mfs_gc_report_release(struct mfs_gc_report *r)
{
	if (!r)
		return;
	free(r->tombstoned);
	free(r->kept_open);
	r->tombstoned = r->kept_open = NULL;
	r->ntombstoned = r->nkept_open = 0;
}

static cJSON *versions_json(const struct mfs_gc_version *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "model", v[i].model);
		cJSON_AddStringToObject(o, "version", v[i].version);
		cJSON_AddNumberToObject(o, "size", (double)v[i].size);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

int mfs_gc_report_json(const struct mfs_gc_report *r, char **ret, size_t *ret_len)
{
	cJSON *j = cJSON_CreateObject();
	char *s;

	if (!j)
		return -ENOMEM;
	cJSON_AddBoolToObject(j, "dry_run", r->dry_run);
	cJSON_AddItemToObject(j, "tombstoned", versions_json(r->tombstoned, r->ntombstoned));
	cJSON_AddItemToObject(j, "kept_open", versions_json(r->kept_open, r->nkept_open));
	cJSON_AddNumberToObject(j, "released", (double)r->released);
	cJSON_AddNumberToObject(j, "blobs_removed", (double)r->blobs);
	cJSON_AddNumberToObject(j, "bytes_freed", (double)r->bytes);
	cJSON_AddNumberToObject(j, "cruft_removed", (double)r->cruft);
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!s)
		return -ENOMEM;
	*ret = s;
	*ret_len = strlen(s);
	return 0;
}
