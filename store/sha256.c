/* sha256.c - SHA-256 digests of blobs, computed after the seal (see sha256.h) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <openssl/evp.h>

#include "objects.h"
#include "blob.h"
#include "clock.h"
#include "ioprio.h"
#include "log.h"
#include "sha256.h"

/*
 * The debt lives in DB_SHA_PENDING, so nothing here needs to survive a
 * crash: the worker takes a batch of owed digests in a read transaction,
 * hashes each blob with no transaction open (a 20 GiB blob takes seconds),
 * then records the result in a short write transaction that first checks
 * the blob is still recorded (gc may have removed it meanwhile; gc drops
 * the debt and the digest in its own transaction, so the two agree).
 */

#define BATCH 256
#define CHUNK (1u << 20)

struct sha_worker {
	pthread_t th;			/* read-only after start */
	pthread_mutex_t mu;
	pthread_cond_t cond;		/* with mu */
	bool stop;			/* protected by mu; also read unlocked
					 * (atomic) by a hash in progress */
	bool kicked;			/* protected by mu */
};

static const char backfill_key[] = "sha256_backfill";

void mfs_sha256_hex(const uint8_t sha[MFS_SHA256_LEN], char out[MFS_SHA256_HEX])
{
	for (int i = 0; i < MFS_SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", sha[i]);
}

int mfs_sha256_get(struct mfs_store *st, const struct mfs_digest *d,
		   uint8_t out[MFS_SHA256_LEN])
{
	struct kv_txn *txn;
	struct kv_val k = { 16, (void *)d->b }, v;
	int r, rc;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	rc = kv_get(txn, DB_SHA256, &k, &v);
	if (rc == 0 && v.len == MFS_SHA256_LEN)
		memcpy(out, v.data, MFS_SHA256_LEN);
	kv_txn_abort(txn);
	if (rc == KV_NOTFOUND || (rc == 0 && v.len != MFS_SHA256_LEN))
		return -ENODATA;
	return rc;
}

int store_sha256_enqueue(struct mfs_store *st, struct kv_txn *txn, const uint8_t d[16])
{
	struct kv_val k = { 16, (void *)d }, v = { 0, (void *)"" };

	if (kv_get(txn, DB_SHA256, &k, &v) == 0)
		return 0;
	v.len = 0;
	v.data = (void *)"";
	return kv_put(txn, DB_SHA_PENDING, &k, &v, 0);
}

void store_sha256_forget(struct mfs_store *st, struct kv_txn *txn, const uint8_t d[16])
{
	struct kv_val k = { 16, (void *)d };

	kv_del(txn, DB_SHA256, &k);
	kv_del(txn, DB_SHA_PENDING, &k);
}

void store_sha256_kick(struct mfs_store *st)
{
	struct sha_worker *w = st->sha;

	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->kicked = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

static bool stopping(struct mfs_store *st)
{
	return st->sha && __atomic_load_n(&st->sha->stop, __ATOMIC_ACQUIRE);
}

/*============================================================ hashing */

/* Are most of fd's pages in the page cache already (someone reads the
 * file: a server, a benchmark)? Then the hash leaves them there. */
static bool mostly_cached(int fd)
{
	long psz = sysconf(_SC_PAGESIZE);
	struct stat sb;
	size_t pages, resident = 0;
	unsigned char *vec;
	void *p;

	if (fstat(fd, &sb) < 0 || sb.st_size == 0 || psz <= 0)
		return true;
	pages = ((size_t)sb.st_size + (size_t)psz - 1) / (size_t)psz;
	p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return true;
	vec = malloc(pages);
	if (vec && mincore(p, (size_t)sb.st_size, vec) == 0)
		for (size_t i = 0; i < pages; i++)
			resident += vec[i] & 1;
	else
		resident = pages;	/* cannot tell: leave them */
	free(vec);
	munmap(p, (size_t)sb.st_size);
	return resident * 2 >= pages;
}

/* SHA-256 of blob d. Returns 0, -ECANCELED when the worker is stopped,
 * -ENOENT if the blob is gone, -errno. */
static int hash_blob(struct mfs_store *st, const struct mfs_digest *d,
		     uint8_t out[MFS_SHA256_LEN])
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	unsigned int len = 0;
	off_t off = 0;
	int fd = -1, r;
	bool cached;

	r = mfs_blob_open(st, d, &fd);
	if (r < 0)
		goto out;
	cached = mostly_cached(fd);
	buf = malloc(CHUNK);
	ctx = EVP_MD_CTX_new();
	if (!buf || !ctx) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = -EIO;
		goto out;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, CHUNK, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			r = -EIO;
			goto out;
		}
		off += n;
		if (stopping(st)) {
			r = -ECANCELED;
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != MFS_SHA256_LEN)
		r = -EIO;
	/* The blob was read once for this: the pages this read brought in
	 * need not stay, but pages others were using do (dropping them
	 * would turn a server's warm reads cold). */
	if (!cached)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return r;
}

#define YIELD_QUIET_MS 200
#define YIELD_MAX_MS 5000

/* stopping(), as store_yield_writer() asks it. */
static bool stop_asked(void *ctx)
{
	return stopping(ctx);
}

/* A digest to record: sha, or none when the blob is gone. */
struct paid {
	struct mfs_digest d;
	uint8_t sha[MFS_SHA256_LEN];
	bool gone;
};

/* Record n digests and clear their debts, in one write transaction (one
 * commit, so the worker holds the writer's lock once per batch, not once
 * per blob: a promotion waits behind it at most once). A blob gc removed
 * meanwhile gets no digest; gc dropped its debt in its own transaction. */
static int record(struct mfs_store *st, const struct paid *p, size_t n)
{
	struct kv_txn *txn;
	int r;

	if (!n)
		return 0;
	/* A promotion or a seal waits for no digest: the writer's lock (and
	 * the commit's sync) is taken when users have left it alone for a
	 * moment, or after a few seconds of their writes. */
	store_yield_writer(st, YIELD_QUIET_MS, YIELD_MAX_MS, stop_asked, st);
	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	/* metadata.json keeps its size as digests arrive (version.c
	 * pad_pending()): no document's attributes change. */
	store_note(txn, MFS_CHANGE_NO_DOCS, 0, 0, NULL);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct kv_val k = { 16, (void *)p[i].d.b }, v;
		int rc;

		if (!p[i].gone && kv_get(txn, DB_BLOBS, &k, &v) == 0) {
			v.len = MFS_SHA256_LEN;
			v.data = (void *)p[i].sha;
			r = kv_put(txn, DB_SHA256, &k, &v, 0);
		}
		if (r == 0 && (rc = kv_del(txn, DB_SHA_PENDING, &k)) && rc != KV_NOTFOUND)
			r = rc;
	}
	if (r < 0) {
		kv_txn_abort(txn);
		return r;
	}
	return store_txn_commit(txn);
}

/* Owed digests, up to BATCH. Returns how many, or -errno. */
static int take_batch(struct mfs_store *st, struct mfs_digest *out)
{
	struct kv_txn *txn;
	struct kv_cursor *cur;
	struct kv_val k, v;
	int r, rc, n = 0;

	r = store_read_cursor(st, DB_SHA_PENDING, &txn, &cur);
	if (r < 0)
		return r;
	for (rc = kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0 && n < BATCH;
	     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
		if (k.len == 16)
			memcpy(out[n++].b, k.data, 16);
	}
	kv_cursor_close(cur);
	kv_txn_abort(txn);
	return n;
}

/* How long hashed digests may wait to be recorded together. */
#define RECORD_MS 500

/* One batch. Returns how many digests were paid (0: none owed, or none
 * could be), *ret_owed how many were owed, or -ECANCELED. */
static int work(struct mfs_store *st, int *ret_owed)
{
	struct mfs_digest ds[BATCH];
	struct paid paid[BATCH];
	int n = take_batch(st, ds), done = 0;
	size_t np = 0;
	int64_t since = mfs_mono_ms();

	*ret_owed = n > 0 ? n : 0;
	for (int i = 0; i < n; i++) {
		char rel[40];
		int r = hash_blob(st, &ds[i], paid[np].sha);

		if (r == -ECANCELED)
			return r;	/* the debts stay: paid at the next start */
		mfs_blob_relpath(&ds[i], rel);
		if (r < 0 && r != -ENOENT) {
			mfs_log(MFS_LOG_WARN, "SHA-256 of blob '%s': %s; retrying later", rel,
				strerror(-r));
		} else {
			/* -ENOENT: gc removed it, or it is damaged (fsck
			 * says so): nothing to hash. */
			paid[np].d = ds[i];
			paid[np++].gone = r == -ENOENT;
		}
		/* Recorded together; a big blob's hash does not hold back
		 * the digests before it for long. */
		if (np && (i == n - 1 || mfs_mono_ms() - since >= RECORD_MS)) {
			if (record(st, paid, np) == 0)
				done += (int)np;
			np = 0;
			since = mfs_mono_ms();
		}
	}
	return done;
}

/* A store sealed before SHA-256 digests existed owes every blob's: found
 * once, by the worker, so start-up does not wait for a walk of the blobs. */
static int backfill(struct mfs_store *st)
{
	struct kv_val ik = { sizeof(backfill_key) - 1, (void *)backfill_key }, v;
	struct kv_txn *txn = NULL;
	struct kv_cursor *cur = NULL;
	struct mfs_digest *ds = NULL;
	size_t n = 0, cap = 0;
	int r, rc;

	r = store_read_cursor(st, DB_BLOBS, &txn, &cur);
	if (r < 0)
		return r;
	if (kv_get(txn, DB_INFO, &ik, &v) == 0) {
		kv_cursor_close(cur);
		kv_txn_abort(txn);
		return 0;
	}
	for (rc = kv_cursor_get(cur, &ik, &v, KV_FIRST); rc == 0;
	     rc = kv_cursor_get(cur, &ik, &v, KV_NEXT)) {
		struct kv_val sv;

		if (ik.len != 16 || kv_get(txn, DB_SHA256, &ik, &sv) == 0)
			continue;
		if (n == cap) {
			void *p = realloc(ds, (cap = cap ? 2 * cap : 256) * sizeof(*ds));

			if (!p) {
				r = -ENOMEM;
				break;
			}
			ds = p;
		}
		memcpy(ds[n++].b, ik.data, 16);
	}
	kv_cursor_close(cur);
	kv_txn_abort(txn);
	txn = NULL;
	if (r == 0)
		r = store_txn_begin(st, true, &txn);
	if (r == 0)
		store_note(txn, MFS_CHANGE_NO_DOCS, 0, 0, NULL);	/* debts only */
	for (size_t i = 0; r == 0 && i < n; i++)
		r = store_sha256_enqueue(st, txn, ds[i].b);
	if (r == 0) {
		struct kv_val k = { sizeof(backfill_key) - 1, (void *)backfill_key };

		v.len = 1;
		v.data = (void *)"1";
		r = kv_put(txn, DB_INFO, &k, &v, 0);
	}
	if (txn && r == 0)
		r = store_txn_commit(txn);
	else if (txn)
		kv_txn_abort(txn);
	if (r == 0 && n)
		mfs_log(MFS_LOG_INFO, "SHA-256 digests owed for %zu blobs sealed before they were kept",
			n);
	free(ds);
	return r;
}

int mfs_sha256_pending(struct mfs_store *st, size_t *ret_n)
{
	struct kv_txn *txn;
	uint64_t n = 0;
	int r;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	r = kv_count(txn, DB_SHA_PENDING, &n);
	kv_txn_abort(txn);
	if (r == 0)
		*ret_n = (size_t)n;
	return r;
}

int mfs_sha256_fill(struct mfs_store *st, size_t *ret_done)
{
	size_t total = 0;
	int r, owed;

	if (st->flags & MFS_STORE_READONLY)
		return -EROFS;
	r = backfill(st);
	while (r >= 0) {
		r = work(st, &owed);
		if (r <= 0)
			break;
		total += (size_t)r;
	}
	if (ret_done)
		*ret_done = total;
	return r < 0 ? r : 0;
}

/*============================================================ the worker */

/* The worker's thread yields to everything else on the machine: the
 * CPU only after others (nice 10), and the idle I/O class (it reads only when the disk
 * has nothing else to do), so a promotion or a read never waits for a
 * digest. Linux gives each thread its own nice value and I/O priority. */
static void lower_priority(void)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	int r;

	if (setpriority(PRIO_PROCESS, (id_t)tid, 10) < 0)
		mfs_log(MFS_LOG_DEBUG, "SHA-256 worker: cannot lower its CPU priority: %s",
			strerror(errno));
	r = mfs_ioprio_set(mfs_ioprio(MFS_IO_IDLE, 0));
	if (r < 0)
		mfs_log(MFS_LOG_DEBUG, "SHA-256 worker: cannot lower its I/O priority: %s",
			strerror(-r));
}

static void *worker_main(void *arg)
{
	struct mfs_store *st = arg;
	struct sha_worker *w = st->sha;
	bool backfilled = false;

	lower_priority();
	store_background();

	for (;;) {
		int done = 0, owed = 0;

		if (!backfilled)
			backfilled = backfill(st) == 0;
		done = work(st, &owed);
		if (done == -ECANCELED)
			break;
		pthread_mutex_lock(&w->mu);
		if (owed == 0 || done <= 0) {
			/* Nothing owed: until a seal commits. Owed but
			 * unreadable: try again in a minute. */
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += owed ? 60 : 3600;
			while (!w->kicked && !w->stop)
				if (pthread_cond_timedwait(&w->cond, &w->mu, &ts) == ETIMEDOUT)
					break;
		}
		w->kicked = false;
		if (w->stop) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		pthread_mutex_unlock(&w->mu);
	}
	return NULL;
}

int mfs_sha256_start(struct mfs_store *st)
{
	struct sha_worker *w;
	int e;

	if (st->sha || (st->flags & MFS_STORE_READONLY))
		return st->sha ? 0 : -EROFS;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cond, NULL);
	st->sha = w;
	e = pthread_create(&w->th, NULL, worker_main, st);
	if (e) {
		st->sha = NULL;
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return mfs_log_errno(-e, "cannot start the SHA-256 worker: %s", strerror(e));
	}
	return 0;
}

void store_sha256_stop(struct mfs_store *st)
{
	struct sha_worker *w = st->sha;

	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->th, NULL);
	st->sha = NULL;
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
