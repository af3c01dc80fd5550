/* store.c - opening a store directory: lock, LMDB environment, recovery */
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "objects.h"
#include "blob.h"
#include "clock.h"
#include "config.h"
#include "lease.h"
#include "log.h"
#include "sys.h"
#include "version.h"

/*
 * A store is opened once per process. The serving daemon takes STORE/lock
 * with flock() (released by the kernel when the daemon dies, even by
 * kill -9) and writes its pid and mount point there so modelctl can find
 * the mount. Read-only users (fsck, list, show) take no lock: LMDB readers
 * never block the writer.
 */

static const char *const db_names[DB_COUNT] = {
	[DB_INFO] = "info", [DB_MODELS] = "models", [DB_MODEL_IDS] = "model_ids",
	[DB_MMETA] = "mmeta", [DB_POLICY] = "policy", [DB_VERSIONS] = "versions",
	[DB_VERSION_IDS] = "version_ids", [DB_VMETA] = "vmeta",
	[DB_ENTRIES] = "entries", [DB_DIRENTS] = "dirents",
	[DB_ALIASES] = "aliases", [DB_HISTORY] = "history", [DB_BLOBS] = "blobs",
	[DB_JOURNAL] = "journal", [DB_AUDIT] = "audit", [DB_CHILDREN] = "children",
	[DB_ANNOT] = "annot",
	[DB_SHA256] = "sha256", [DB_SHA_PENDING] = "sha_pending",
	[DB_HOSTS] = "hosts", [DB_LEASES] = "leases",
};

/*============================================================ helpers */

int64_t mfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void mfs_time_rfc3339(int64_t ns, char out[40])
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	char buf[32];

	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%03dZ", buf, (int)(ns % 1000000000 / 1000000));
}

void key_id(struct key *k, uint64_t a)
{
	put_be64(k->b, a);
	k->v.data = k->b;
	k->v.len = 8;
}

void key_id_name(struct key *k, uint64_t a, const char *name)
{
	size_t n = strnlen(name, 255);

	put_be64(k->b, a);
	memcpy(k->b + 8, name, n);
	k->v.data = k->b;
	k->v.len = 8 + n;
}

void key_id_id(struct key *k, uint64_t a, uint64_t b)
{
	put_be64(k->b, a);
	put_be64(k->b + 8, b);
	k->v.data = k->b;
	k->v.len = 16;
}

void key_id_id_name(struct key *k, uint64_t a, uint64_t b, const char *name)
{
	size_t n = strnlen(name, 255);

	put_be64(k->b, a);
	put_be64(k->b + 8, b);
	memcpy(k->b + 16, name, n);
	k->v.data = k->b;
	k->v.len = 16 + n;
}

/*============================================================ the event sink */

void mfs_store_set_event_sink(struct mfs_store *st, mfs_event_sink_fn fn, void *ctx)
{
	st->sink = fn;
	st->sink_ctx = ctx;
}

void store_sink_add(struct mfs_store *st, struct kv_txn *txn, const char *text)
{
	char *copy;

	if (!st->sink)
		return;
	copy = strdup(text);
	if (!copy)
		return;
	pthread_mutex_lock(&st->ev_lock);
	if (st->pend_txn == txn && st->npend == st->pend_cap) {
		size_t cap = st->pend_cap ? 2 * st->pend_cap : 8;
		char **p = realloc(st->pend, cap * sizeof(*p));

		if (p) {
			st->pend = p;
			st->pend_cap = cap;
		}
	}
	if (st->pend_txn == txn && st->npend < st->pend_cap) {
		st->pend[st->npend++] = copy;
		copy = NULL;
	}
	pthread_mutex_unlock(&st->ev_lock);
	free(copy);
}

/* A write txn begins: what an aborted one left goes. */
static void sink_begin(struct mfs_store *st, struct kv_txn *txn)
{
	pthread_mutex_lock(&st->ev_lock);
	for (size_t i = 0; i < st->npend; i++)
		free(st->pend[i]);
	st->npend = 0;
	st->pend_txn = txn;
	pthread_mutex_unlock(&st->ev_lock);
}

/* The texts of txn, to hand on after its commit (*ret: the caller's, each
 * and the array); how many. */
static size_t sink_take(struct mfs_store *st, struct kv_txn *txn, char ***ret)
{
	size_t n = 0;

	*ret = NULL;
	pthread_mutex_lock(&st->ev_lock);
	if (st->pend_txn == txn && st->npend) {
		*ret = st->pend;
		n = st->npend;
		st->pend = NULL;
		st->npend = st->pend_cap = 0;
	}
	if (st->pend_txn == txn)
		st->pend_txn = NULL;
	pthread_mutex_unlock(&st->ev_lock);
	return n;
}

/*============================================================ transactions */

static _Thread_local bool background;

void store_background(void)
{
	background = true;
}

void store_yield_writer(struct mfs_store *st, int quiet_ms, int max_ms,
			bool (*stop)(void *ctx), void *ctx)
{
	int64_t t0 = mfs_mono_ns(), quiet = (int64_t)quiet_ms * 1000000;

	for (;;) {
		int64_t now = mfs_mono_ns(),
			last = __atomic_load_n(&st->fg_write_ns, __ATOMIC_RELAXED);

		if (now - last >= quiet || now - t0 >= (int64_t)max_ms * 1000000 ||
		    (stop && stop(ctx)))
			return;
		usleep(10000);
	}
}

int store_txn_begin(struct mfs_store *st, bool write, struct kv_txn **ret)
{
	int r;

	if (write && !background)
		__atomic_store_n(&st->fg_write_ns, mfs_mono_ns(), __ATOMIC_RELAXED);
	r = kv_txn_begin(st->kv, write, ret);

	if (r == 0 && write)
		sink_begin(st, *ret);
	return r;
}

/* The marker a lazy commit leaves in DB_INFO until a durable one removes
 * it: readers in other processes wait for it to go (store_durable()). */
static const struct kv_val lazy_key = { 9, (void *)"lazy_tail" };

struct flusher {
	struct mfs_store *st;	/* read-only */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cond;	/* with mu */
	bool kicked, stop;	/* mu */
};

static void free_events(char **ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ev[i]);
}

static void hand_over(struct mfs_store *st, char **ev, size_t n)
{
	for (size_t i = 0; i < n && st->sink; i++)
		st->sink(st->sink_ctx, ev[i]);
	free_events(ev, n);
}

static void flusher_kick(struct mfs_store *st);

void store_txn_lazy(struct kv_txn *txn)
{
	kv_txn_set_lazy(txn);
}

int store_txn_commit(struct kv_txn *txn)
{
	struct mfs_store *st = kv_userdata(kv_txn_kv(txn));
	bool write = st && kv_txn_writable(txn), lazy = write && kv_txn_lazy(txn);
	char **ev = NULL;
	/* Taken while this txn still holds the writer's lock: the next
	 * writer's records cannot mix in. */
	size_t nev = write ? sink_take(st, txn, &ev) : 0;
	int rc;

	if (!write)
		return kv_txn_commit(txn);
	/* The sink lock from before the commit to the last hand-over: a
	 * writer that commits after us hands its records on after ours, and
	 * a lazy commit's records after the ones before it. */
	pthread_mutex_lock(&st->sink_lock);
	if (lazy) {
		struct kv_val one = { 1, (void *)"1" };

		rc = kv_put(txn, DB_INFO, &lazy_key, &one, 0);
		if (rc) {
			kv_txn_abort(txn);
			free_events(ev, nev);
			goto out;
		}
	} else if (st->lazy) {
		kv_del(txn, DB_INFO, &lazy_key);	/* made durable by this one */
	}
	rc = kv_txn_commit(txn);
	if (rc == 0 && lazy) {
		char **p = realloc(st->lazy_ev, (st->nlazy + nev + 1) * sizeof(*p));

		__atomic_store_n(&st->lazy, true, __ATOMIC_RELEASE);
		if (p) {
			st->lazy_ev = p;
			if (nev)
				memcpy(p + st->nlazy, ev, nev * sizeof(*ev));
			st->nlazy += nev;
			nev = 0;
			flusher_kick(st);
		} else if (kv_sync(st->kv) == 0) {
			/* No room to hold the records back: durable now (the
			 * next commit still removes the marker). */
			hand_over(st, st->lazy_ev, st->nlazy);
			st->nlazy = 0;
		} else {
			free_events(ev, nev);	/* never shown: lost with the hooks' view */
			nev = 0;
		}
	} else if (rc == 0 && st->lazy) {
		hand_over(st, st->lazy_ev, st->nlazy);
		st->nlazy = 0;
		__atomic_store_n(&st->lazy, false, __ATOMIC_RELEASE);
	}
	if (rc == 0)
		hand_over(st, ev, nev);
	else
		free_events(ev, nev);
out:
	pthread_mutex_unlock(&st->sink_lock);
	free(ev);
	return rc;
}

/* A durable commit of nothing but the marker's removal: what the lazy
 * commits before it wrote is durable after it. */
static int make_durable(struct mfs_store *st)
{
	struct kv_txn *txn;
	int r;

	if (!__atomic_load_n(&st->lazy, __ATOMIC_ACQUIRE))
		return 0;
	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	store_note(txn, MFS_CHANGE_NO_DOCS, 0, 0, NULL);
	return store_txn_commit(txn);
}

static void *flusher_main(void *arg)
{
	struct flusher *f = arg;
	struct mfs_store *st = f->st;

	store_background();
	pthread_mutex_lock(&f->mu);
	for (;;) {
		struct timespec ts;

		while (!f->kicked && !f->stop)
			pthread_cond_wait(&f->cond, &f->mu);
		if (f->stop)
			break;
		f->kicked = false;
		/* The commit that makes it durable usually comes by itself
		 * (ln -sfn renames at once): give it the moment. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += STORE_LAZY_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!f->stop && pthread_cond_timedwait(&f->cond, &f->mu, &ts) == 0)
			;
		pthread_mutex_unlock(&f->mu);
		if (make_durable(st) < 0) {
			mfs_log(MFS_LOG_WARN, "could not make the last alias creation durable; the next commit will");
			usleep(100000);
		}
		pthread_mutex_lock(&f->mu);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* Called with sink_lock held. */
static void flusher_kick(struct mfs_store *st)
{
	struct flusher *f = st->flusher;

	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f)
			return;		/* the next commit makes it durable */
		pthread_mutex_init(&f->mu, NULL);
		pthread_cond_init(&f->cond, NULL);
		f->st = st;
		st->flusher = f;
		if (pthread_create(&f->th, NULL, flusher_main, f) != 0) {
			st->flusher = NULL;
			pthread_cond_destroy(&f->cond);
			pthread_mutex_destroy(&f->mu);
			free(f);
			return;
		}
	}
	pthread_mutex_lock(&f->mu);
	f->kicked = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->mu);
}

/* Stop the flusher and make what it would have made durable. */
static void flusher_stop(struct mfs_store *st)
{
	struct flusher *f;

	pthread_mutex_lock(&st->sink_lock);
	f = st->flusher;
	st->flusher = NULL;
	pthread_mutex_unlock(&st->sink_lock);
	if (f) {
		pthread_mutex_lock(&f->mu);
		f->stop = true;
		pthread_cond_signal(&f->cond);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->th, NULL);
		pthread_cond_destroy(&f->cond);
		pthread_mutex_destroy(&f->mu);
		free(f);
	}
	if (make_durable(st) < 0)
		mfs_log(MFS_LOG_WARN, "could not make the last alias creation durable before closing");
}

int mfs_store_sync(struct mfs_store *st)
{
	return store_durable(st);
}

int store_durable(struct mfs_store *st)
{
	struct kv_txn *txn;
	struct kv_val v;
	int r;

	if (__atomic_load_n(&st->lazy, __ATOMIC_ACQUIRE))
		return make_durable(st);
	if (kv_shared(st->kv))
		return 0;	/* PostgreSQL: every commit is durable */
	/* Another process's lazy commit (the daemon's, for modelctl
	 * reading beside it): its flusher removes the marker soon. */
	for (int i = 0; i < 200; i++) {
		r = store_txn_begin(st, false, &txn);
		if (r < 0)
			return r;
		r = kv_get(txn, DB_INFO, &lazy_key, &v);
		kv_txn_abort(txn);
		if (r == KV_NOTFOUND)
			return 0;
		if (r)
			return r;
		usleep(5000);
	}
	return 0;	/* its writer is gone: the kernel writes it back anyway */
}

int store_read_cursor(struct mfs_store *st, int db, struct kv_txn **ret_txn,
		      struct kv_cursor **ret_cur)
{
	int r = store_txn_begin(st, false, ret_txn), rc;

	if (r < 0)
		return r;
	rc = kv_cursor_open(*ret_txn, db, ret_cur);
	if (rc) {
		kv_txn_abort(*ret_txn);
		return rc;
	}
	return 0;
}

int store_copy(int sfd, int dfd, uint64_t len, uint64_t *ret_copied)
{
	loff_t in = 0, out = 0;
	int r = 0;

	while ((uint64_t)in < len) {
		uint64_t want = len - (uint64_t)in;
		ssize_t n = copy_file_range(sfd, &in, dfd, &out, want > (1u << 30) ? 1u << 30 : want, 0);

		if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS ||
			      errno == EINVAL)) {
			char buf[1 << 16];

			/* two filesystems, or one without it: through us */
			n = pread(sfd, buf, sizeof(buf), in);
			if (n > 0 && pwrite(dfd, buf, (size_t)n, out) != n)
				n = -1;
			if (n > 0) {
				in += n;
				out += n;
			}
		}
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0) {
			r = len == UINT64_MAX ? 0 : -EIO;
			break;
		}
	}
	if (ret_copied)
		*ret_copied = (uint64_t)in;
	return r;
}

int store_next_id(struct mfs_store *st, struct kv_txn *txn, uint64_t *ret)
{
	struct kv_val k = { 3, (void *)"seq" }, v;
	uint64_t next = 1;
	int rc;

	rc = kv_get(txn, DB_INFO, &k, &v);
	if (rc == 0 && v.len == 8)
		memcpy(&next, v.data, 8);
	else if (rc != KV_NOTFOUND && rc != 0)
		return rc;
	*ret = next;
	next++;
	v.len = 8;
	v.data = &next;
	return kv_put(txn, DB_INFO, &k, &v, 0);
}

int store_get_text(struct mfs_store *st, int db, uint64_t id, const char *dflt,
		   char **ret, size_t *ret_len)
{
	struct kv_txn *txn;
	struct key k;
	struct kv_val v;
	char *out;
	int r, rc;

	r = store_txn_begin(st, false, &txn);
	if (r < 0)
		return r;
	key_id(&k, id);
	rc = kv_get(txn, db, &k.v, &v);
	if (rc == KV_NOTFOUND) {
		v.data = (void *)dflt;
		v.len = strlen(dflt);
		rc = 0;
	}
	if (rc) {
		kv_txn_abort(txn);
		return rc;
	}
	out = malloc(v.len + 1);
	if (out) {
		memcpy(out, v.data, v.len);
		out[v.len] = '\0';
		*ret = out;
		*ret_len = v.len;
	}
	kv_txn_abort(txn);
	return out ? 0 : -ENOMEM;
}

/*============================================================ prepare */

static bool is_store_entry(const char *name)
{
	static const char *const known[] = { "meta", "blobs", "drafts", "lock", "config",
					     ".config.tmp" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(name, known[i]))
			return true;
	return false;
}

/* Returns 1 if dir is empty, 0 if it is a store, -EEXIST if foreign. */
static int classify_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int entries = 0, foreign = 0, has_meta = 0;	/* meta/ or config */

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		entries++;
		if (!strcmp(de->d_name, "meta") || !strcmp(de->d_name, "config"))
			has_meta = 1;
		if (!is_store_entry(de->d_name))
			foreign++;
	}
	closedir(d);
	if (entries == 0)
		return 1;
	if (foreign || !has_meta)
		return -EEXIST;
	return 0;
}

int mfs_store_prepare(const char *dir, unsigned flags)
{
	struct stat sb;
	int r;

	if (stat(dir, &sb) < 0) {
		if (errno != ENOENT)
			return mfs_log_errno(-errno, "store '%s': %s", dir,
					     strerror(errno));
		if (!(flags & MFS_STORE_CREATE))
			return mfs_log_errno(-ENOENT, "store '%s' does not exist",
					     dir);
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return mfs_log_errno(-errno, "cannot create store '%s': %s",
					     dir, strerror(errno));
		if (stat(dir, &sb) < 0)
			return -errno;
	}
	if (!S_ISDIR(sb.st_mode))
		return mfs_log_errno(-ENOTDIR, "store '%s' is not a directory",
				     dir);
	if (sb.st_uid != geteuid())
		return mfs_log_errno(-EPERM,
				     "store '%s' is owned by uid %u, not by this user (uid %u)",
				     dir, (unsigned)sb.st_uid, (unsigned)geteuid());
	r = classify_dir(dir);
	if (r == -EEXIST)
		return mfs_log_errno(-EEXIST,
				     "'%s' holds files that are not a modelfs store; give an empty or new directory",
				     dir);
	if (r < 0)
		return mfs_log_errno(r, "cannot read store '%s': %s", dir,
				     strerror(-r));
	if (r == 1) {
		if (!(flags & MFS_STORE_CREATE))
			return mfs_log_errno(-ENOENT, "'%s' is not an initialised store", dir);
		if (chmod(dir, 0700) < 0)
			return -errno;
	}
	return 0;
}

/*============================================================ lock */

static int take_lock(struct mfs_store *st, const char *mount)
{
	char buf[4200];
	int fd, n;

	fd = openat(st->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return mfs_log_errno(-errno, "open '%s/lock': %s", st->dir,
				     strerror(errno));
	/* Retry for ~2 s so that an unmount followed at once by a mount works:
	 * the old daemon may still be closing the environment. */
	for (int i = 0;; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK || i >= 40) {
			char who[4200] = "";

			n = (int)pread(fd, who, sizeof(who) - 1, 0);
			if (n > 0)
				who[n] = '\0';
			who[strcspn(who, "\n")] = ' ';
			close(fd);
			return mfs_log_errno(-EBUSY,
					     "store '%s' is already served by another daemon (%s)",
					     st->dir, n > 0 ? who : "unknown");
		}
		usleep(50000);
	}
	n = snprintf(buf, sizeof(buf), "pid %d\nmount %s\n", (int)getpid(),
		     mount ? mount : "");
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		int e = errno;

		close(fd);
		return mfs_log_errno(-e, "write '%s/lock': %s", st->dir,
				     strerror(e));
	}
	st->lock_fd = fd;
	return 0;
}

int mfs_store_served(const char *dir, char *mount, size_t n)
{
	char path[4200], buf[4200];
	int fd, r;
	ssize_t len;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	/* A shared lock attempt tells without disturbing the daemon. */
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		flock(fd, LOCK_UN);
		close(fd);
		return 0;
	}
	r = errno == EWOULDBLOCK ? 1 : -errno;
	len = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (r != 1)
		return r;
	buf[len > 0 ? len : 0] = '\0';
	if (mount && n) {
		char *m = strstr(buf, "mount ");

		mount[0] = '\0';
		if (m) {
			m += 6;
			m[strcspn(m, "\n")] = '\0';
			snprintf(mount, n, "%s", m);
		}
	}
	return 1;
}

/*============================================================ recovery */

/* Blobs a crash left behind: names a seal journalled but never committed.
 * Only the journal is read, so start-up stays O(1) in the registry size. */
static int recover_journal(struct mfs_store *st)
{
	struct kv_txn *txn = NULL;
	struct kv_cursor *cur = NULL;
	struct kv_val k, v;
	int r, rc, n = 0;

	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	rc = kv_cursor_open(txn, DB_JOURNAL, &cur);
	if (rc)
		goto kv_out;
	for (rc = kv_cursor_get(cur, &k, &v, KV_FIRST); rc == 0;
	     rc = kv_cursor_get(cur, &k, &v, KV_NEXT)) {
		struct mfs_digest d;
		struct kv_val bv;

		/* Another host's seal, perhaps running now: not ours. gc
		 * clears those of hosts that are gone. */
		if (v.len >= 16 && get_be64((const uint8_t *)v.data + 8) &&
		    get_be64((const uint8_t *)v.data + 8) != st->host)
			continue;
		memcpy(d.b, k.data, 16);
		if (kv_get(txn, DB_BLOBS, &k, &bv) == KV_NOTFOUND) {
			char rel[40];

			mfs_blob_relpath(&d, rel);
			if (mfs_blob_unlink(st, &d) == 0)
				mfs_log(MFS_LOG_INFO,
					"removed blob '%s' left by an interrupted seal",
					rel);
		}
		rc = kv_cursor_del(cur);
		if (rc)
			goto kv_out;
		n++;
	}
	if (rc != KV_NOTFOUND)
		goto kv_out;
	kv_cursor_close(cur);
	cur = NULL;
	/* A lazy commit's marker that a killed daemon left: the kernel wrote
	 * the commit back meanwhile (or the machine's crash undid it). */
	kv_del(txn, DB_INFO, &lazy_key);
	r = store_txn_commit(txn);
	txn = NULL;
	return r;
kv_out:
	if (cur)
		kv_cursor_close(cur);
	if (txn)
		kv_txn_abort(txn);
	return rc;
}

static int rm_tree_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP)
			return mfs_sys->unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
		return -errno;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR) {
			int e = rm_tree_at(fd, de->d_name);

			if (e < 0 && !r)
				r = e;
		} else if (mfs_sys->unlinkat(fd, de->d_name, 0) < 0) {
			if (errno == EISDIR) {
				int e = rm_tree_at(fd, de->d_name);

				if (e < 0 && !r)
					r = e;
			} else if (!r) {
				r = -errno;
			}
		}
	}
	closedir(d);
	if (mfs_sys->unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && !r)
		r = -errno;
	return r;
}

int store_rm_tree(int dirfd, const char *name);
int store_rm_tree(int dirfd, const char *name)
{
	return rm_tree_at(dirfd, name);
}

/* A crash between a seal's commit and the removal of its draft leaves the
 * draft directory of a sealed version: finish the job. Drafts are few. */
static void recover_drafts(struct mfs_store *st)
{
	int fd = openat(st->drafts_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct rec_version rv;
		struct kv_txn *txn;
		char *end;
		uint64_t vid;
		int r;

		if (de->d_name[0] == '.')
			continue;
		vid = strtoull(de->d_name, &end, 10);
		if (*end || !vid)
			continue;
		if (store_txn_begin(st, false, &txn) < 0)
			break;
		r = store_get_version(st, txn, vid, &rv, NULL, 0);
		kv_txn_abort(txn);
		if (r == -ENOENT || (r == 0 && rv.state != MFS_V_DRAFT)) {
			rm_tree_at(st->drafts_fd, de->d_name);
			mfs_log(MFS_LOG_INFO,
				"removed leftover draft directory '%s' of a sealed or deleted version",
				de->d_name);
		}
	}
	closedir(d);
}

/*============================================================ open/close */

/* Open (creating when create) the blob and draft directories: STORE/blobs
 * and STORE/drafts, or where the config puts them, and STORE/meta when the
 * database is LMDB there. */
static int open_dirs(struct mfs_store *st, const struct mfs_config *cfg, bool create)
{
	const char *sub[] = { cfg->db[0] ? NULL : "meta", cfg->blobs[0] ? cfg->blobs : "blobs",
			      cfg->drafts[0] ? cfg->drafts : "drafts" };
	int *fds[] = { NULL, &st->blobs_fd, &st->drafts_fd };
	char **paths[] = { NULL, &st->blobs_dir, &st->drafts_dir };

	for (int i = 0; i < 3; i++) {
		/* relative names are STORE's; the config's are absolute */
		int at = st->dirfd >= 0 ? st->dirfd : AT_FDCWD;
		char where[4200];

		if (!sub[i] || (st->dirfd < 0 && sub[i][0] != '/'))
			continue;
		if (sub[i][0] == '/')
			snprintf(where, sizeof(where), "%s", sub[i]);
		else
			snprintf(where, sizeof(where), "%s/%s", st->dir, sub[i]);
		if (create && mkdirat(at, sub[i], 0700) < 0 && errno != EEXIST)
			return mfs_log_errno(-errno, "mkdir '%s': %s", where, strerror(errno));
		if (!fds[i])
			continue;
		*fds[i] = openat(at, sub[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*fds[i] < 0)
			return mfs_log_errno(-errno, "open '%s': %s", where, strerror(errno));
		/* the real path: fs/ finds a draft file's place in its
		 * version by its fd's path below it */
		*paths[i] = realpath(where, NULL);
		if (!*paths[i])
			return -ENOMEM;
	}
	return 0;
}

/* Open the store's database: STORE/meta (LMDB) unless the store names
 * another, and check the schema of the registry's records. */
static int open_db(struct mfs_store *st, const struct mfs_config *cfg, bool readonly)
{
	char uri[4200];
	struct kv_txn *txn = NULL;
	struct kv_val k = { 6, (void *)"schema" }, v;
	uint32_t schema = MFS_SCHEMA_VERSION;
	int r;

	if (cfg->db[0])
		snprintf(uri, sizeof(uri), "%s", cfg->db);
	else
		snprintf(uri, sizeof(uri), "lmdb:%s/meta", st->dir);
	r = kv_open(uri, readonly ? KV_READONLY : 0, db_names, DB_COUNT, &st->kv);
	if (r < 0)
		return r;
	/* store_txn_commit() finds the store (its event sink) by the kv. */
	kv_set_userdata(st->kv, st);
	if (readonly)
		return 0;
	r = kv_txn_begin(st->kv, true, &txn);
	if (r < 0)
		return r;
	r = kv_get(txn, DB_INFO, &k, &v);
	if (r == -ENOENT) {
		v.len = 4;
		v.data = &schema;
		r = kv_put(txn, DB_INFO, &k, &v, 0);
	} else if (r == 0) {
		memcpy(&schema, v.data, v.len < 4 ? v.len : 4);
		if (schema != MFS_SCHEMA_VERSION) {
			kv_txn_abort(txn);
			return mfs_log_errno(-EPROTO,
					     "registry '%s' has schema %u; this modelfs reads %u",
					     kv_where(st->kv), schema, MFS_SCHEMA_VERSION);
		}
	}
	if (r < 0) {
		kv_txn_abort(txn);
		return r;
	}
	return kv_txn_commit(txn);
}

/* This store's number among its registry's hosts: STORE/config's, made
 * (random) and recorded at the first read-write open. */
static int host_id(const char *dir, struct mfs_config *cfg, bool readonly, uint64_t *ret)
{
	char *end;

	*ret = 0;
	if (!cfg->host[0]) {
		struct mfs_config add;
		uint64_t id = 0;

		if (readonly || !dir)
			return 0;
		while (!id)
			if (getrandom(&id, sizeof(id), 0) != sizeof(id))
				return mfs_log_errno(-errno, "getrandom: %s", strerror(errno));
		memset(&add, 0, sizeof(add));
		snprintf(add.host, sizeof(add.host), "%016llx", (unsigned long long)id);
		if (mfs_config_set(dir, &add) < 0)
			return -EIO;
		strcpy(cfg->host, add.host);
	}
	errno = 0;
	*ret = strtoull(cfg->host, &end, 16);
	if (errno || *end || !*ret)
		return mfs_log_errno(-EINVAL, "'%s/config': host '%s' is not 16 hex digits",
				     dir, cfg->host);
	return 0;
}

/* A drafts directory the config names may be on a shared filesystem: it is
 * one host's, marked by its .modelfs-host file, so that two hosts never
 * share one (each would take the other's drafts for its own leftovers). */
static int claim_drafts(struct mfs_store *st)
{
	char want[24], got[24] = "";
	ssize_t n;
	int fd;

	snprintf(want, sizeof(want), "%016llx\n", (unsigned long long)st->host);
	fd = openat(st->drafts_fd, ".modelfs-host", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return mfs_log_errno(-errno, "open '%s/.modelfs-host': %s", st->drafts_dir,
				     strerror(errno));
	n = pread(fd, got, sizeof(got) - 1, 0);
	if (n == 0 && (pwrite(fd, want, strlen(want), 0) != (ssize_t)strlen(want) ||
		       fsync(fd) < 0)) {
		int e = errno;

		close(fd);
		return mfs_log_errno(-e, "write '%s/.modelfs-host': %s", st->drafts_dir,
				     strerror(e));
	}
	close(fd);
	if (n > 0 && strcmp(got, want))
		return mfs_log_errno(-EBUSY, "drafts directory '%s' belongs to another host (%.16s): give each host a drafts= of its own",
				     st->drafts_dir, got);
	return 0;
}

int store_open(const char *dir, const struct mfs_config *over, unsigned flags,
	       const char *mount, const struct store_rules *rules, struct mfs_store **ret)
{
	struct mfs_store *st = NULL;
	bool readonly = flags & MFS_STORE_READONLY;
	struct mfs_config cfg;
	int r;

	memset(&cfg, 0, sizeof(cfg));
	if (!rules)
		return -EINVAL;		/* every change must be asked about */
	if (!dir && (!readonly || !over || !over->db[0]))
		return mfs_log_errno(-EINVAL, "a registry without a store directory is opened read-only, by its database");
	if (dir) {
		r = mfs_store_prepare(dir, readonly ? 0 : flags);
		if (r == 0)
			r = mfs_config_read(dir, &cfg);
		if (r < 0)
			return r;
	}
	if (over) {
		if (over->db[0])
			strcpy(cfg.db, over->db);
		if (over->blobs[0])
			strcpy(cfg.blobs, over->blobs);
		if (over->drafts[0])
			strcpy(cfg.drafts, over->drafts);
	}
	if (cfg.db[0] && mfs_store_db_has_password(cfg.db))
		return mfs_log_errno(-EINVAL, "refusing a database string with a password: put it in PGPASSFILE (~/.pgpass) or a service file (db=service=NAME)");
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	r = host_id(dir, &cfg, readonly, &st->host);
	if (r < 0) {
		free(st);
		return r;
	}
	st->dirfd = st->blobs_fd = st->drafts_fd = st->lock_fd = -1;
	st->flags = flags;
	st->rules = rules;
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->ev_lock, NULL);
	pthread_mutex_init(&st->sink_lock, NULL);
	pthread_mutex_init(&st->gc_lock, NULL);
	st->dir = dir ? realpath(dir, NULL) : strdup(cfg.db);
	if (!st->dir) {
		r = -errno;
		goto fail;
	}
	st->dirfd = dir ? open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dir && st->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	if (flags & MFS_STORE_SERVE) {
		r = take_lock(st, mount);
		if (r < 0)
			goto fail;
	}
	r = open_dirs(st, &cfg, !readonly);
	if (r == 0 && (flags & MFS_STORE_SERVE) && cfg.drafts[0])
		r = claim_drafts(st);
	if (r < 0)
		goto fail;
	r = open_db(st, &cfg, readonly);
	if (r < 0)
		goto fail;
	if (flags & MFS_STORE_SERVE) {
		r = recover_journal(st);
		if (r < 0)
			goto fail;
		recover_drafts(st);
	}
	*ret = st;
	return 0;
fail:
	mfs_store_close(st);
	return r;
}

bool mfs_store_db_has_password(const char *db)
{
	return mfs_config_has_password(db) || kv_uri_has_password(db);
}

int store_copy_db(struct mfs_store *st, const char *uri)
{
	struct kv *dst = NULL;
	int r = kv_open(uri, 0, db_names, DB_COUNT, &dst);

	if (r == 0)
		r = kv_copy_to(st->kv, dst);
	kv_close(dst);
	return r;
}

uint64_t mfs_store_generation(struct mfs_store *st)
{
	return st ? kv_generation(st->kv) : 0;
}

void mfs_store_trim(struct mfs_store *st)
{
	if (st)
		kv_trim(st->kv);
}

void mfs_store_close(struct mfs_store *st)
{
	if (!st)
		return;
	mfs_lease_stop(st);		/* (a no-op when not publishing) */
	store_sha256_stop(st);
	flusher_stop(st);
	kv_close(st->kv);
	if (st->blobs_fd >= 0)
		close(st->blobs_fd);
	if (st->drafts_fd >= 0)
		close(st->drafts_fd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	if (st->lock_fd >= 0) {
		/* Leave the file; clear who served it. */
		if (ftruncate(st->lock_fd, 0) < 0) {
			/* nothing to do: the lock dies with the fd */
		}
		close(st->lock_fd);
	}
	sink_begin(st, NULL);
	free(st->pend);
	free_events(st->lazy_ev, st->nlazy);
	free(st->lazy_ev);
	if (st->audit_key) {
		explicit_bzero(st->audit_key, st->audit_key_len);
		free(st->audit_key);
	}
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->ev_lock);
	pthread_mutex_destroy(&st->sink_lock);
	pthread_mutex_destroy(&st->gc_lock);
	free(st->blobs_dir);
	free(st->drafts_dir);
	free(st->dir);
	free(st);
}

const char *mfs_store_dir(const struct mfs_store *st)
{
	return st->dir;
}

const char *mfs_store_drafts_dir(const struct mfs_store *st)
{
	return st->drafts_dir ? st->drafts_dir : "";
}

const char *mfs_store_blobs_dir(const struct mfs_store *st)
{
	return st->blobs_dir ? st->blobs_dir : "";
}

const char *mfs_store_db(const struct mfs_store *st)
{
	return kv_where(st->kv);
}

const char *mfs_store_engine(const struct mfs_store *st)
{
	return kv_engine(st->kv);
}

int store_each_under(struct mfs_store *st, struct kv_txn *txn, int db, uint64_t id,
		     store_each_fn fn, void *ctx)
{
	struct kv_cursor *cur;
	struct key k;
	struct kv_val kv, v;
	int r = 0, rc;

	rc = kv_cursor_open(txn, db, &cur);
	if (rc)
		return rc;
	key_id(&k, id);
	kv = k.v;
	for (rc = kv_cursor_get(cur, &kv, &v, KV_SET_RANGE); rc == 0 && r == 0;
	     rc = kv_cursor_get(cur, &kv, &v, KV_NEXT)) {
		if (kv.len < 8 || memcmp(kv.data, k.b, 8))
			break;
		r = fn(&kv, &v, ctx);
	}
	if (r == 0 && rc && rc != KV_NOTFOUND)
		r = rc;
	kv_cursor_close(cur);
	return r;
}

cJSON *store_get_json(struct mfs_store *st, struct kv_txn *txn, int db, uint64_t id)
{
	struct key k;
	struct kv_val v;

	key_id(&k, id);
	if (kv_get(txn, db, &k.v, &v) != 0)
		return NULL;
	return cJSON_ParseWithLength(v.data, v.len);
}

bool store_user_name(uid_t uid, char *buf, size_t n)
{
	struct passwd pw, *res = NULL;
	char pwbuf[1024];

	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res) {
		snprintf(buf, n, "%s", res->pw_name);
		return true;
	}
	snprintf(buf, n, "%u", (unsigned)uid);
	return false;
}

