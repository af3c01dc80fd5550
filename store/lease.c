/* lease.c - host rows and version leases of a shared registry (lease.h) */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "objects.h"
#include "lease.h"
#include "log.h"

#define TTL_DEFAULT 30		/* seconds a host row is valid */

struct held {
	uint64_t vid;
	int n;				/* files of it open here */
};

struct lease_state {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;			/* protected by lock */
	int64_t ttl_ns;			/* read-only */
	char *row;			/* the host row but for "until": read-only */
	/* vids with files open here, and vids closed since the last beat
	 * (their rows go then); both protected by lock */
	struct held *held;
	size_t nheld, capheld;
	uint64_t *dropped;
	size_t ndropped, capdropped;
};

/* MODELFS_LEASE_SECONDS (default 30), in ns. */
static int64_t lease_ttl_ns(void)
{
	const char *env = getenv("MODELFS_LEASE_SECONDS");
	long ttl = env ? strtol(env, NULL, 10) : 0;

	return (ttl > 0 && ttl <= 3600 ? ttl : TTL_DEFAULT) * 1000000000LL;
}

static void lease_key(struct key *k, uint64_t vid, uint64_t host)
{
	put_be64(k->b, vid);
	put_be64(k->b + 8, host);
	k->v.data = k->b;
	k->v.len = 16;
}

static struct held *held_of(struct lease_state *l, uint64_t vid)
{
	for (size_t i = 0; i < l->nheld; i++)
		if (l->held[i].vid == vid)
			return &l->held[i];
	return NULL;
}

static bool has(const uint64_t *v, size_t n, uint64_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

static int add(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
	if (has(*v, *n, x))
		return 0;
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		uint64_t *p = realloc(*v, c * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return 0;
}

static void drop(uint64_t *v, size_t *n, uint64_t x)
{
	for (size_t i = 0; i < *n; i++) {
		if (v[i] == x) {
			v[i] = v[--*n];
			return;
		}
	}
}

/* A host is gone once its row is a whole lease past its time: a heartbeat
 * may wait for the registry's write lock (another host's long commit) up
 * to the database's lock wait, and must not be taken for a death. */
bool store_host_alive(struct mfs_store *st, struct kv_txn *txn, uint64_t host)
{
	struct key k;
	struct kv_val v;
	cJSON *j, *until;
	bool alive;

	if (host == st->host)
		return true;
	if (!host)
		return false;
	key_id(&k, host);
	if (kv_get(txn, DB_HOSTS, &k.v, &v) != 0)
		return false;
	j = cJSON_ParseWithLength(v.data, v.len);
	until = cJSON_GetObjectItemCaseSensitive(j, "until_ns");
	alive = cJSON_IsNumber(until) &&
		until->valuedouble + (double)lease_ttl_ns() > (double)mfs_now_ns();
	cJSON_Delete(j);
	return alive;
}

bool store_leased(struct mfs_store *st, struct kv_txn *txn, uint64_t vid)
{
	struct kv_cursor *cur;
	struct key k;
	struct kv_val kv, v;
	bool held = false;
	int rc;

	if (kv_cursor_open(txn, DB_LEASES, &cur) != 0)
		return true;	/* cannot tell: keep it */
	key_id(&k, vid);
	kv = k.v;
	for (rc = kv_cursor_get(cur, &kv, &v, KV_SET_RANGE); rc == 0 && !held;
	     rc = kv_cursor_get(cur, &kv, &v, KV_NEXT)) {
		if (kv.len != 16 || memcmp(kv.data, k.b, 8))
			break;
		/* This host's own rows lag its closes by a heartbeat: what is
		 * open here, the daemon knows exactly (gc's in_use). */
		uint64_t host = get_be64((const uint8_t *)kv.data + 8);

		held = host != st->host && store_host_alive(st, txn, host);
	}
	kv_cursor_close(cur);
	return held;
}

/* One heartbeat: the host row valid for another ttl, the rows of what
 * was closed gone, those of what is open there. What is open is read once
 * this beat holds the registry's write lock: an open that leases meanwhile
 * writes its row after this commit (writers take turns). */
static int beat(struct mfs_store *st, struct lease_state *l)
{
	struct kv_txn *txn = NULL;
	uint64_t *held = NULL, *dropped = NULL;
	size_t nheld = 0, ndropped = 0;
	char row[1024];
	struct key k;
	struct kv_val v = { 0, NULL };
	int r;

	r = store_txn_begin(st, true, &txn);
	if (r < 0)
		return r;
	store_note(txn, MFS_CHANGE_NO_DOCS, 0, 0, NULL);	/* leases only */
	pthread_mutex_lock(&l->lock);
	held = malloc((l->nheld + 1) * sizeof(*held));
	dropped = malloc((l->ndropped + 1) * sizeof(*dropped));
	if (held && dropped) {
		for (size_t i = 0; i < l->nheld; i++)
			held[nheld++] = l->held[i].vid;
		for (size_t i = 0; i < l->ndropped; i++)
			if (!held_of(l, l->dropped[i]))
				dropped[ndropped++] = l->dropped[i];
		l->ndropped = 0;
	}
	pthread_mutex_unlock(&l->lock);
	if (!held || !dropped) {
		free(held);
		free(dropped);
		kv_txn_abort(txn);
		return -ENOMEM;
	}
	snprintf(row, sizeof(row), "%s,\"until_ns\":%" PRId64 "}", l->row, mfs_now_ns() + l->ttl_ns);
	key_id(&k, st->host);
	v.data = row;
	v.len = strlen(row);
	r = kv_put(txn, DB_HOSTS, &k.v, &v, 0);
	for (size_t i = 0; r == 0 && i < ndropped; i++) {
		lease_key(&k, dropped[i], st->host);
		r = kv_del(txn, DB_LEASES, &k.v);
		if (r == -ENOENT)
			r = 0;
	}
	for (size_t i = 0; r == 0 && i < nheld; i++) {
		lease_key(&k, held[i], st->host);
		v.data = (void *)"";
		v.len = 0;
		r = kv_put(txn, DB_LEASES, &k.v, &v, 0);
	}
	if (r == 0)
		r = store_txn_commit(txn);
	else
		kv_txn_abort(txn);
	if (r < 0) {
		/* Their rows go at the next beat that works. */
		pthread_mutex_lock(&l->lock);
		for (size_t i = 0; i < ndropped; i++)
			if (!held_of(l, dropped[i]))
				add(&l->dropped, &l->ndropped, &l->capdropped, dropped[i]);
		pthread_mutex_unlock(&l->lock);
	}
	free(held);
	free(dropped);
	return r;
}

static void *beat_main(void *arg)
{
	struct mfs_store *st = arg;
	struct lease_state *l = st->lease;
	bool failing = false;

	pthread_mutex_lock(&l->lock);
	while (!l->stop) {
		struct timespec until;
		/* a third of the lease; a failed beat is tried again sooner */
		int64_t wait = failing ? 1000000000 : l->ttl_ns / 3;
		int r;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait / 1000000000;
		until.tv_nsec += wait % 1000000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&l->cond, &l->lock, &until);
		if (l->stop)
			break;
		pthread_mutex_unlock(&l->lock);
		r = beat(st, l);
		if (r < 0 && !failing)
			mfs_log(MFS_LOG_WARN, "could not renew this host's lease: %s; other hosts' gc may take what is open here for unused once it expires",
				strerror(-r));
		else if (r == 0 && failing)
			mfs_log(MFS_LOG_INFO, "this host's lease is renewed again");
		failing = r < 0;
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static void lease_free(struct lease_state *l)
{
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l->row);
	free(l->held);
	free(l->dropped);
	free(l);
}

int mfs_lease_start(struct mfs_store *st, const char *mount)
{
	struct lease_state *l;
	char host[256] = "";
	cJSON *j;
	char *s;
	int r;

	if (!kv_shared(st->kv) || st->lease)
		return 0;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	l->ttl_ns = lease_ttl_ns();
	gethostname(host, sizeof(host) - 1);
	j = cJSON_CreateObject();
	{
		char id[24];

		snprintf(id, sizeof(id), "%016" PRIx64, st->host);
		cJSON_AddStringToObject(j, "host", id);
	}
	cJSON_AddStringToObject(j, "hostname", host);
	cJSON_AddStringToObject(j, "store", st->dir);
	cJSON_AddStringToObject(j, "mount", mount ? mount : "");
	cJSON_AddNumberToObject(j, "pid", (double)getpid());
	cJSON_AddNumberToObject(j, "started_ns", (double)mfs_now_ns());
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!s || strlen(s) > 900) {
		free(s);
		lease_free(l);
		return -ENOMEM;
	}
	s[strlen(s) - 1] = '\0';	/* beat() closes it after "until_ns" */
	l->row = s;
	st->lease = l;
	r = beat(st, l);
	if (r == 0)
		r = -pthread_create(&l->thread, NULL, beat_main, st);
	if (r < 0) {
		st->lease = NULL;
		lease_free(l);
		return mfs_log_errno(r, "cannot publish this host in the registry: %s", strerror(-r));
	}
	return 0;
}

void mfs_lease_stop(struct mfs_store *st)
{
	struct lease_state *l = st->lease;
	struct kv_txn *txn;
	struct key k;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	st->lease = NULL;
	if (store_txn_begin(st, true, &txn) == 0) {
		store_note(txn, MFS_CHANGE_NO_DOCS, 0, 0, NULL);
		key_id(&k, st->host);
		kv_del(txn, DB_HOSTS, &k.v);
		for (size_t i = 0; i < l->nheld; i++) {
			lease_key(&k, l->held[i].vid, st->host);
			kv_del(txn, DB_LEASES, &k.v);
		}
		for (size_t i = 0; i < l->ndropped; i++) {
			lease_key(&k, l->dropped[i], st->host);
			kv_del(txn, DB_LEASES, &k.v);
		}
		if (store_txn_commit(txn) < 0)
			mfs_log(MFS_LOG_WARN, "could not withdraw this host from the registry; its lease expires on its own");
	}
	lease_free(l);
}

void mfs_lease_hold(struct mfs_store *st, uint64_t vid)
{
	struct lease_state *l = st->lease;
	struct kv_txn *txn;
	struct held *h;
	struct key k;
	struct kv_val v = { 0, (void *)"" };
	bool first = false;
	int r;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	h = held_of(l, vid);
	if (!h && l->nheld == l->capheld) {
		size_t cap = l->capheld ? 2 * l->capheld : 16;
		struct held *p = realloc(l->held, cap * sizeof(*p));

		if (p) {
			l->held = p;
			l->capheld = cap;
		}
	}
	if (!h && l->nheld < l->capheld) {
		h = &l->held[l->nheld++];
		h->vid = vid;
		h->n = 0;
	}
	if (h) {
		first = h->n++ == 0;
		drop(l->dropped, &l->ndropped, vid);
	}
	pthread_mutex_unlock(&l->lock);
	if (!first)
		return;
	/* Before the open goes on: gc elsewhere must see it from now on. A
	 * write even when the row is there: a beat may be removing it. */
	lease_key(&k, vid, st->host);
	r = store_txn_begin(st, true, &txn);
	if (r == 0) {
		/* Leases only (a note lost: taken as any document). */
		store_note(txn, MFS_CHANGE_NO_DOCS, 0, 0, NULL);
		r = kv_put(txn, DB_LEASES, &k.v, &v, 0);
		if (r == 0)
			r = store_txn_commit(txn);
		else
			kv_txn_abort(txn);
	}
	if (r < 0)
		mfs_log(MFS_LOG_WARN, "could not lease version %" PRIu64 " for an open file: %s; the next heartbeat will",
			vid, strerror(-r));
}

void mfs_lease_release(struct mfs_store *st, uint64_t vid)
{
	struct lease_state *l = st->lease;
	struct held *h;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	h = held_of(l, vid);
	if (h && --h->n <= 0) {
		*h = l->held[--l->nheld];
		add(&l->dropped, &l->ndropped, &l->capdropped, vid);
	}
	pthread_mutex_unlock(&l->lock);
}
