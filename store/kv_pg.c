/* kv_pg.c - the storage seam on PostgreSQL: every table in one SQL table, for many hosts */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include "kv_engine.h"
#include "clock.h"
#include "log.h"

/*
 * All of the registry's tables live in one SQL table, mfs_kv (t, k, v),
 * keyed by (t, k); bytea compares as memcmp and then length, which is
 * LMDB's default order, so the two engines walk keys alike. t is the
 * database's own number for a table name (mfs_tables): a binary may number
 * its tables differently from the one that made the database.
 *
 * Transactions. kv.h asks for one writer at a time across every host, and
 * readers that see a snapshot. A write transaction is READ COMMITTED and
 * its first statement locks the one row of mfs_state (SELECT ... FOR
 * UPDATE). Holding that row serialises every writer on every host - it is
 * LMDB's own single-writer rule, and the audit chain and the history's
 * sequence numbers need a total order of changes anyway - and because it is
 * taken first, each later statement (a fresh READ COMMITTED snapshot) sees
 * every commit before it: no serialization failures, nothing to retry. A
 * writing commit bumps mfs_state.gen, which is kv_generation(). A read
 * transaction is REPEATABLE READ READ ONLY: its snapshot is taken at its
 * first statement.
 *
 * Connections. libpq connections are not thread-safe, so each transaction
 * takes one from a pool for its whole life; the pool grows on demand (a
 * thread may hold several read transactions and a write transaction at
 * once: a cap could deadlock it) and keeps a few idle ones. Each
 * connection runs in pipeline mode with its statements prepared once, so a
 * call is one round trip: a read transaction sends its BEGIN with its first
 * statement, and ends by sending ROLLBACK without waiting for the answer
 * (the next user of the connection reads it). A connection the server
 * closed is dropped, and so are the idle ones beside it; a call that finds
 * a pooled connection dead before its transaction did anything simply
 * reconnects, so after a server restart everything works again.
 *
 * Time. No call waits longer than a deadline (MODELFS_DB_TIMEOUT_MS,
 * default 5 s), beyond which the connection is dropped and the call fails
 * with -EIO. The server bounds its own side the same way: statement_timeout
 * is a little shorter than the deadline, so a slow statement is cancelled by
 * the server, which says why. We do not PQcancel() on a missed deadline:
 * in libpq 15 it blocks, waiting for the postmaster to answer, which is
 * exactly what a server that missed a deadline does not do. Waiting for the
 * write lock is the one long wait (another host's seal may hold it): it has
 * six deadlines, and the server is seen alive within the first.
 *
 * Errors: a statement that fails fails its transaction (every later call
 * returns the same error; the caller aborts). SQLSTATEs are translated in
 * err() only. Failures are logged at most about once a second, naming the
 * database (never a password), so an outage does not flood the log. A
 * commit whose answer is lost is not an error yet: in_doubt() asks the
 * server what became of it.
 */

#define TIMEOUT_MS 5000		/* default deadline of a call */
#define LOCK_WAITS 6		/* the write lock: this many deadlines */
#define WRITER_IDLE_MS 60000	/* a writer idle this long loses its session
				 * (and the lock) on the server */
#define IDLE_MAX 16		/* idle connections kept */
#define BATCH_MIN 8		/* cursor rows fetched by a seek... */
#define BATCH_MAX 1024		/* ...doubling to this while a walk goes on */
#define LOG_EVERY_MS 1000	/* an outage logs a line a second at most */
#define DOWN_MS 1000		/* after a call found the server gone, calls
				 * fail at once this long: a request made of
				 * several calls fails within one deadline */
#define SCHEMA_LOCK "7309449425399627777"	/* pg_advisory_xact_lock key */
#define CHANNEL "modelfs"		/* LISTEN/NOTIFY: the notes of commits */
#define TOKENS "-1"			/* mfs_kv.t of no table: each commit's token,
					 * keyed by the server's time (us) and 8
					 * random bytes, kept TOKEN_KEEP_S s: far
					 * longer than any inquiry (in_doubt()) */
#define TOKEN_KEEP_S "86400"
#define LISTEN_PING_MS 5000	/* the listener asks the server this often
				 * whether it is still there */
#define LISTEN_BACKOFF_MS 2000	/* longest wait between reconnections */

/* The schema, by version: migration i (from 1) takes a database from
 * version i-1 to i, inside the transaction that holds SCHEMA_LOCK; then
 * mfs_schema says i. Append; never edit one that has shipped. */
static const char *const migrations[] = {
	/* 1: the tables */
	"CREATE TABLE mfs_schema (one int PRIMARY KEY CHECK (one = 1), version int NOT NULL);"
	"CREATE TABLE mfs_tables (id smallint PRIMARY KEY, name text NOT NULL UNIQUE);"
	"CREATE TABLE mfs_state (one int PRIMARY KEY CHECK (one = 1), gen bigint NOT NULL);"
	"INSERT INTO mfs_state VALUES (1, 0);"
	"CREATE TABLE mfs_kv (t smallint NOT NULL, k bytea NOT NULL, v bytea NOT NULL,"
	" PRIMARY KEY (t, k));",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Prepared on each connection; all parameters and results are binary. */
enum st {
	S_BEGIN_R, S_BEGIN_W, S_LIMITS, S_LOCK, S_BUMP, S_ROLLBACK, S_COMMIT, S_TOKEN, S_PRUNE,
	S_GEN, S_SESSION, S_GET, S_PUT, S_PUT_NEW, S_DEL, S_COUNT, S_GE, S_GT, S_LT, S_LAST, S_MAX
};

#define BYTEA 17
#define INT8 20
#define INT2 21
#define TEXT 25

static const struct {
	const char *sql;
	int n;
	Oid types[3];
} stmts[S_MAX] = {
	[S_BEGIN_R] = { "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, { 0 } },
	[S_BEGIN_W] = { "BEGIN ISOLATION LEVEL READ COMMITTED", 0, { 0 } },
	[S_LIMITS] = { "SELECT set_config('statement_timeout', $1, true),"
		       " set_config('idle_in_transaction_session_timeout', $2, true)", 2,
		       { TEXT, TEXT } },
	/* the transaction's id and its backend's, for in_doubt() */
	[S_LOCK] = { "SELECT gen, txid_current(), pg_backend_pid() FROM mfs_state"
		     " WHERE one = 1 FOR UPDATE", 0, { 0 } },
	[S_BUMP] = { "UPDATE mfs_state SET gen = gen + 1 WHERE one = 1", 0, { 0 } },
	[S_ROLLBACK] = { "ROLLBACK", 0, { 0 } },
	[S_COMMIT] = { "COMMIT", 0, { 0 } },
	/* now(): stable, so the prune is a range of the index, of what
	 * expired only */
	[S_TOKEN] = { "INSERT INTO mfs_kv (t, k, v) VALUES (" TOKENS ", int8send((extract(epoch"
		      " FROM now()) * 1000000)::int8) || $1, '')", 1, { BYTEA } },
	[S_PRUNE] = { "DELETE FROM mfs_kv WHERE t = " TOKENS " AND k < int8send(((extract(epoch"
		      " FROM now()) - " TOKEN_KEEP_S ") * 1000000)::int8)", 0, { 0 } },
	[S_GEN] = { "SELECT gen FROM mfs_state WHERE one = 1", 0, { 0 } },
	[S_SESSION] = { "SELECT set_config('statement_timeout', $1, false)", 1, { TEXT } },
	[S_GET] = { "SELECT v FROM mfs_kv WHERE t = $1 AND k = $2", 2, { INT2, BYTEA } },
	[S_PUT] = { "INSERT INTO mfs_kv (t, k, v) VALUES ($1, $2, $3)"
		    " ON CONFLICT (t, k) DO UPDATE SET v = EXCLUDED.v", 3, { INT2, BYTEA, BYTEA } },
	[S_PUT_NEW] = { "INSERT INTO mfs_kv (t, k, v) VALUES ($1, $2, $3)"
			" ON CONFLICT (t, k) DO NOTHING", 3, { INT2, BYTEA, BYTEA } },
	[S_DEL] = { "DELETE FROM mfs_kv WHERE t = $1 AND k = $2", 2, { INT2, BYTEA } },
	[S_COUNT] = { "SELECT count(*) FROM mfs_kv WHERE t = $1", 1, { INT2 } },
	[S_GE] = { "SELECT k, v FROM mfs_kv WHERE t = $1 AND k >= $2 ORDER BY k LIMIT $3", 3,
		   { INT2, BYTEA, INT8 } },
	[S_GT] = { "SELECT k, v FROM mfs_kv WHERE t = $1 AND k > $2 ORDER BY k LIMIT $3", 3,
		   { INT2, BYTEA, INT8 } },
	[S_LT] = { "SELECT k, v FROM mfs_kv WHERE t = $1 AND k < $2 ORDER BY k DESC LIMIT $3", 3,
		   { INT2, BYTEA, INT8 } },
	[S_LAST] = { "SELECT k, v FROM mfs_kv WHERE t = $1 ORDER BY k DESC LIMIT $2", 2,
		     { INT2, INT8 } },
};

/* One connection; used by one thread at a time (the pool hands it out). */
struct conn {
	struct conn *next;		/* in the idle list */
	PGconn *pg;
	int pending;			/* syncs sent whose answers are unread */
	bool after_result;		/* the next PQgetResult() NULL ends a statement */
	bool broken;			/* drop it when given back */
	bool lost;			/* the server closed it (no timeout): safe to
					 * retry elsewhere if nothing had happened */
	bool reused;			/* came from the idle list */
	char why[256];			/* the last failure, for the log */
};

/* One statement of a round trip. */
struct q {
	enum st st;
	const char *sql;		/* instead of st: a statement not prepared */
	int n;
	const char *v[3];
	int len[3];
	bool slow;			/* may wait for the write lock */
	bool prep;			/* prepare st (no parameters) */
	PGresult *res;			/* out: the caller's on success */
};

struct pg;
struct ptxn;

struct pg {
	struct kv head;
	const char *keys[3], *vals[3];	/* read-only after open: PQconnectStartParams() */
	char *conninfo, stmt_ms[16], lock_ms[16], idle_ms[16];
	int timeout_ms, lock_wait_ms;	/* read-only after open */
	int16_t id[KV_MAX_TABLES];	/* read-only after open: mfs_kv.t of each
					 * table; -1 absent (read-only opens) */
	char token[17];			/* read-only after open: this process's
					 * name in its NOTIFY payloads */
	/* The listener (kv_watch): a thread with a connection of its own. */
	pthread_t lthread;
	bool listening;			/* the thread runs; only the opener's
					 * thread starts and stops it */
	int lwake[2];			/* a pipe: a byte stops the thread */
	struct conn *lfirst;		/* kv_watch()'s connection, already
					 * listening, handed to the thread */
	bool lup;			/* atomic: the listener is connected */
	uint64_t lgen;			/* atomic: commits heard of (from 1) */
	pthread_mutex_t lock;
	struct conn *idle;		/* protected by lock */
	int nidle;			/* protected by lock */
	int64_t down_ms;		/* atomic: when a call last found the
					 * server gone (0: it answers) */
	bool logged;			/* protected by lock: a line was logged, */
	int64_t logged_ms;		/* protected by lock: at this time, */
	unsigned quiet;			/* protected by lock: and this many not since */
};

/* PGresults whose memory a caller borrows. */
struct keep {
	PGresult **v;
	size_t n, cap;
};

struct ptxn {
	struct kv_txn head;
	struct conn *c;			/* NULL: lost (err says why) */
	bool begun;			/* BEGIN sent: end with ROLLBACK */
	bool wrote;
	int err;			/* a failed statement failed the txn */
	uint64_t gen;			/* write txns: mfs_state.gen at the lock */
	uint64_t xid;			/* write txns: the server's id of it, */
	int pid;			/* its backend's */
	uint32_t changed;		/* bit t: table t was written */
	uint64_t wseq[KV_MAX_TABLES];	/* writes to each table: cursors refetch
					 * when it moved under their batch */
	struct keep kept;		/* kv_get() values */
};

struct pcur {
	struct kv_cursor head;
	int t;
	bool on;			/* positioned at key */
	uint8_t key[KV_KEY_MAX];	/* a copy: the batch may be refetched */
	size_t klen;
	PGresult *res;			/* the batch: rows ascending, or descending */
	int row, nrows, batch;		/* batch: rows asked for */
	bool desc, more;		/* more: rows may follow its last */
	uint64_t seq;			/* wseq[t] when it was fetched */
	struct keep old;		/* earlier batches: values still borrowed */
};

static struct pg *P(struct kv *kv)
{
	return (struct pg *)kv;
}

static struct ptxn *X(struct kv_txn *txn)
{
	return (struct ptxn *)txn;
}

static void put_be16(uint8_t *b, uint16_t x)
{
	b[0] = (uint8_t)(x >> 8);
	b[1] = (uint8_t)x;
}

static void put_be64(uint8_t *b, uint64_t x)
{
	for (int i = 7; i >= 0; i--, x >>= 8)
		b[i] = (uint8_t)x;
}

static uint64_t get_be64(const PGresult *res, int row, int col)
{
	const uint8_t *b = (const uint8_t *)PQgetvalue(res, row, col);
	uint64_t x = 0;

	if (PQgetlength(res, row, col) != 8)
		return 0;
	for (int i = 0; i < 8; i++)
		x = x << 8 | b[i];
	return x;
}

static int keep(struct keep *k, PGresult *res)
{
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 8;
		PGresult **v = realloc(k->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		k->v = v;
		k->cap = cap;
	}
	k->v[k->n++] = res;
	return 0;
}

static void keep_free(struct keep *k)
{
	for (size_t i = 0; i < k->n; i++)
		PQclear(k->v[i]);
	free(k->v);
	memset(k, 0, sizeof(*k));
}

/*============================================================ the log */

/* One error line naming the database; during an outage, one a second at
 * most, the next saying how many were left out. */
static __attribute__((format(printf, 3, 4))) void say(struct pg *p, enum mfs_log_level level,
							const char *fmt, ...)
{
	int64_t now = mfs_mono_ms();
	unsigned quiet;
	char line[512];
	va_list ap;

	pthread_mutex_lock(&p->lock);
	if (p->logged && now - p->logged_ms < LOG_EVERY_MS) {
		p->quiet++;
		pthread_mutex_unlock(&p->lock);
		return;
	}
	quiet = p->quiet;
	p->quiet = 0;
	p->logged = true;
	p->logged_ms = now;
	pthread_mutex_unlock(&p->lock);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (quiet)
		mfs_log(level, "%s: %s (and %u more since the last line)", p->head.where, line, quiet);
	else
		mfs_log(level, "%s: %s", p->head.where, line);
}

/* The first line of a libpq message, into buf. */
static void first_line(char *buf, size_t n, const char *msg)
{
	size_t len = msg ? strcspn(msg, "\n") : 0;

	if (len >= n)
		len = n - 1;
	memcpy(buf, msg ? msg : "", len);
	buf[len] = '\0';
	if (!len)
		snprintf(buf, n, "unknown error");
}

/* Notices (a ROLLBACK with no transaction open, ...) are not ours to print. */
static void notice(void *arg, const char *msg)
{
	(void)arg;
	mfs_log(MFS_LOG_DEBUG, "postgresql: %.*s", (int)strcspn(msg, "\n"), msg);
}

/*============================================================ errors */

static int lost(struct conn *c)
{
	c->broken = c->lost = true;
	first_line(c->why, sizeof(c->why), PQerrorMessage(c->pg));
	return -EIO;
}

static int timed_out(struct conn *c, int64_t waited)
{
	c->broken = true;
	snprintf(c->why, sizeof(c->why), "no answer in %" PRId64 " ms; dropped the connection",
		 waited);
	return -EIO;
}

/* A failed statement's -errno, from its SQLSTATE: the one place (STYLE A2).
 * A connection that is gone is marked so. */
static int err(struct conn *c, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	first_line(c->why, sizeof(c->why), msg ? msg : PQresultErrorMessage(res));
	if (state) {
		size_t len = strlen(c->why);

		snprintf(c->why + len, sizeof(c->why) - len, " (SQLSTATE %s)", state);
	}
	/* No SQLSTATE: libpq's own (the connection); 08: connection
	 * exceptions; 57P01-03: the server is shutting down or starting. */
	if (PQstatus(c->pg) == CONNECTION_BAD || !state || !strncmp(state, "08", 2) ||
	    !strcmp(state, "57P01") || !strcmp(state, "57P02") || !strcmp(state, "57P03")) {
		c->broken = c->lost = true;
		return -EIO;
	}
	if (!strcmp(state, "53100"))	/* disk_full */
		return -ENOSPC;
	if (!strcmp(state, "23505"))	/* unique_violation */
		return -EEXIST;
	/* 57014 (cancelled: our statement_timeout), 40001 and 40P01 (the
	 * write lock should make these impossible), and the rest. */
	return -EIO;
}

/*============================================================ round trips */

/* Wait until fd is ready for events, or the deadline. Returns revents, or
 * -ETIMEDOUT. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - mfs_mono_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return pfd.revents;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int flush(struct conn *c, int64_t deadline, int64_t start)
{
	for (;;) {
		int r = PQflush(c->pg), ev;

		if (r == 0)
			return 0;
		if (r < 0)
			return lost(c);
		ev = wait_fd(PQsocket(c->pg), POLLOUT | POLLIN, deadline);
		if (ev < 0)
			return timed_out(c, mfs_mono_ms() - start);
		if ((ev & POLLIN) && !PQconsumeInput(c->pg))
			return lost(c);
	}
}

/* Wait until PQgetResult() would not block. */
static int await(struct conn *c, int64_t deadline, int64_t start)
{
	while (PQisBusy(c->pg)) {
		if (wait_fd(PQsocket(c->pg), POLLIN, deadline) < 0)
			return timed_out(c, mfs_mono_ms() - start);
		if (!PQconsumeInput(c->pg))
			return lost(c);
	}
	return 0;
}

/* The next result (not the NULL that ends each statement's). Returns 0, or
 * -EIO with c broken. */
static int next(struct conn *c, int64_t deadline, int64_t start, PGresult **ret)
{
	for (;;) {
		PGresult *res;
		int r = await(c, deadline, start);

		if (r)
			return r;
		res = PQgetResult(c->pg);
		if (res) {
			c->after_result = PQresultStatus(res) != PGRES_PIPELINE_SYNC;
			*ret = res;
			return 0;
		}
		if (PQstatus(c->pg) == CONNECTION_BAD)
			return lost(c);
		if (!c->after_result) {
			/* Nothing is pending: we lost count. */
			c->broken = true;
			snprintf(c->why, sizeof(c->why), "out of step with the server");
			return -EIO;
		}
		c->after_result = false;
	}
}

/* Read the answers to the ends of transactions sent without waiting. */
static int drain(struct conn *c, int64_t deadline, int64_t start)
{
	while (c->pending > 0) {
		PGresult *res;
		int r = next(c, deadline, start, &res);

		if (r)
			return r;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
			c->pending--;
		else if (PQstatus(c->pg) == CONNECTION_BAD)
			r = lost(c);
		PQclear(res);
		if (r)
			return r;
	}
	return 0;
}

static void arg(struct q *q, const void *data, size_t len)
{
	q->v[q->n] = len ? data : "";	/* NULL would be SQL's NULL */
	q->len[q->n++] = (int)len;
}

static int send1(struct conn *c, const struct q *q)
{
	static const int bin[3] = { 1, 1, 1 };
	char name[16];

	if (q->sql)
		return PQsendQueryParams(c->pg, q->sql, q->n, NULL, q->v, q->len, bin, 1);
	snprintf(name, sizeof(name), "mfs%d", (int)q->st);
	if (q->prep)
		return PQsendPrepare(c->pg, name, stmts[q->st].sql, stmts[q->st].n,
				     stmts[q->st].types);
	return PQsendQueryPrepared(c->pg, name, q->n, q->v, q->len, bin, 1);
}

/* Run qs[0..n) on c in one round trip (a pipeline and one sync). Returns
 * 0 with every qs[i].res set (the caller clears them), or -errno with none
 * set and c->why saying why. A statement marked slow, and those after it,
 * have lock_wait_ms more; the server answers those before it at once. */
static int run(struct pg *p, struct conn *c, struct q *qs, int n)
{
	int64_t start = mfs_mono_ms(), deadline = start + p->timeout_ms;
	int r = 0, got = 0;
	bool slow = false;

	for (int i = 0; i < n; i++)
		qs[i].res = NULL;
	if (c->broken)
		return -EIO;
	r = drain(c, deadline, start);
	for (int i = 0; r == 0 && i < n; i++) {
		if (qs[i].slow && !PQsendFlushRequest(c->pg))
			r = lost(c);
		else if (!send1(c, &qs[i]))
			r = lost(c);
	}
	if (r == 0 && !PQpipelineSync(c->pg))
		r = lost(c);
	if (r == 0)
		r = flush(c, deadline, start);
	while (r == 0) {
		PGresult *res;

		if (got < n && qs[got].slow && !slow) {
			slow = true;
			deadline += p->lock_wait_ms;
		}
		r = next(c, deadline, start, &res);
		if (r)
			break;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		if (got < n)
			qs[got++].res = res;
		else
			PQclear(res);
	}
	if (r == 0 && got < n) {
		c->broken = true;
		snprintf(c->why, sizeof(c->why), "%d answers to %d statements", got, n);
		r = -EIO;
	}
	for (int i = 0; r == 0 && i < n; i++) {
		ExecStatusType s = PQresultStatus(qs[i].res);

		if (s == PGRES_FATAL_ERROR)
			r = err(c, qs[i].res);
		else if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
			/* aborted with no error before it: never seen */
			snprintf(c->why, sizeof(c->why), "%s", PQresStatus(s));
			r = -EIO;
		}
	}
	if (r) {
		for (int i = 0; i < n; i++) {
			PQclear(qs[i].res);
			qs[i].res = NULL;
		}
	}
	return r;
}

/* Send one statement (the end of a transaction) and do not wait for its
 * answer: the connection's next round trip reads it. */
static void send_end(struct pg *p, struct conn *c, enum st st)
{
	struct q q = { .st = st };
	int64_t start = mfs_mono_ms();

	if (c->broken)
		return;
	if (!send1(c, &q) || !PQpipelineSync(c->pg))
		lost(c);
	else if (flush(c, start + p->timeout_ms, start) == 0)
		c->pending++;
}

/*============================================================ the pool */

static void conn_free(struct conn *c)
{
	if (c) {
		/* The answers to ends of transactions sent without waiting:
		 * read them first (briefly), or the server logs the closed
		 * connection as lost. */
		if (c->pending > 0 && !c->broken) {
			int64_t start = mfs_mono_ms();

			drain(c, start + 200, start);
		}
		PQfinish(c->pg);
		free(c);
	}
}

/* Prepare the statements and set the session's statement_timeout, in
 * one round trip; the connection is in pipeline mode from here on. */
static int conn_setup(struct pg *p, struct conn *c)
{
	struct q q[S_MAX + 1];
	int r;

	if (!PQenterPipelineMode(c->pg))
		return lost(c);
	memset(q, 0, sizeof(q));
	for (int i = 0; i < S_MAX; i++) {
		q[i].st = (enum st)i;
		q[i].prep = true;
	}
	q[S_MAX].st = S_SESSION;
	arg(&q[S_MAX], p->stmt_ms, strlen(p->stmt_ms));
	r = run(p, c, q, S_MAX + 1);
	for (int i = 0; r == 0 && i <= S_MAX; i++)
		PQclear(q[i].res);
	return r;
}

/* A new connection, under the deadline. Logs a failure. */
static int conn_new_until(struct pg *p, struct conn **ret, int64_t deadline)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	int64_t start = mfs_mono_ms();
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	/* expand_dbname: the user's string or URI is dbname's value, after
	 * our defaults, so whatever it says wins. */
	c->pg = PQconnectStartParams(p->keys, p->vals, 1);
	if (!c->pg) {
		free(c);
		return -ENOMEM;
	}
	if (!p->head.where) {
		/* kv_pg_open()'s first connection: one thread. */
		const char *db = PQdb(c->pg), *host = PQhost(c->pg);
		char buf[512];

		snprintf(buf, sizeof(buf), "database %s on %s", db && *db ? db : "(default)",
			 host && *host ? host : "(default)");
		p->head.where = strdup(buf);
		if (!p->head.where) {
			conn_free(c);
			return -ENOMEM;
		}
	}
	while (PQstatus(c->pg) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
	       st != PGRES_POLLING_FAILED) {
		int ev = PQsocket(c->pg) < 0 ? -EBADF :
			 wait_fd(PQsocket(c->pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
				 deadline);

		if (ev == -ETIMEDOUT) {
			timed_out(c, mfs_mono_ms() - start);
			break;
		}
		st = ev < 0 ? PGRES_POLLING_FAILED : PQconnectPoll(c->pg);
	}
	if (st == PGRES_POLLING_OK && PQstatus(c->pg) == CONNECTION_OK &&
	    PQsetnonblocking(c->pg, 1) == 0) {
		PQsetNoticeProcessor(c->pg, notice, NULL);
		*ret = c;
		return 0;
	}
	if (!c->broken)
		lost(c);
	say(p, MFS_LOG_ERR, "connect: %s", c->why);
	conn_free(c);
	return -EIO;
}

static int conn_new(struct pg *p, struct conn **ret)
{
	return conn_new_until(p, ret, mfs_mono_ms() + p->timeout_ms);
}

/* Drop every idle connection: one was found closed, so the server went away
 * and the others are closed too. */
static void drop_idle(struct pg *p)
{
	struct conn *c;

	pthread_mutex_lock(&p->lock);
	c = p->idle;
	p->idle = NULL;
	p->nidle = 0;
	pthread_mutex_unlock(&p->lock);
	while (c) {
		struct conn *n = c->next;

		conn_free(c);
		c = n;
	}
}

static void conn_give(struct pg *p, struct conn *c)
{
	if (!c)
		return;
	if (!c->broken && PQstatus(c->pg) == CONNECTION_OK) {
		pthread_mutex_lock(&p->lock);
		if (p->nidle < IDLE_MAX) {
			c->next = p->idle;
			p->idle = c;
			p->nidle++;
			c = NULL;
		}
		pthread_mutex_unlock(&p->lock);
	} else if (c->lost) {
		drop_idle(p);
	}
	conn_free(c);
}

/* The server was found gone (down) or answering again. */
static void set_down(struct pg *p, bool down)
{
	__atomic_store_n(&p->down_ms, down ? mfs_mono_ms() : 0, __ATOMIC_RELAXED);
}

static bool is_down(struct pg *p)
{
	int64_t t = __atomic_load_n(&p->down_ms, __ATOMIC_RELAXED);

	return t && mfs_mono_ms() - t < DOWN_MS;
}

/* A connection: an idle one, else a new one (the pool never makes a
 * caller wait for another's). Logs a failure. */
static int conn_take(struct pg *p, struct conn **ret)
{
	struct conn *c;
	int r;

	if (is_down(p)) {
		say(p, MFS_LOG_ERR, "not answering; failing at once for a while");
		return -EIO;
	}
	pthread_mutex_lock(&p->lock);
	c = p->idle;
	if (c) {
		p->idle = c->next;
		p->nidle--;
	}
	pthread_mutex_unlock(&p->lock);
	if (c) {
		c->reused = true;
		*ret = c;
		return 0;
	}
	r = conn_new(p, &c);
	if (r == 0)
		r = conn_setup(p, c);
	if (r) {
		if (c)
			say(p, MFS_LOG_ERR, "connect: %s", c->why);
		conn_free(c);
		if (r == -EIO)
			set_down(p, true);
		return r;
	}
	*ret = c;
	return 0;
}

/* run() qs on *cp, and log a failure naming what. first: nothing has
 * happened on *cp for this caller yet; if the server had closed it while
 * it sat idle (a restart), take a new connection and run qs there. */
static int exec(struct pg *p, struct conn **cp, struct q *qs, int n, bool first,
		const char *what)
{
	int r = run(p, *cp, qs, n);

	if (r && first && (*cp)->lost && (*cp)->reused) {
		/* Not through say(): it would hide the error that may follow. */
		mfs_log(MFS_LOG_INFO, "%s: %s: %s; connecting again", p->head.where, what,
			(*cp)->why);
		conn_give(p, *cp);
		*cp = NULL;
		r = conn_take(p, cp);
		if (r)
			return r;	/* logged */
		r = run(p, *cp, qs, n);
	}
	if (r && r != -EEXIST)
		say(p, MFS_LOG_ERR, "%s: %s", what, (*cp)->why);
	if (r && (*cp)->broken)
		set_down(p, true);	/* no answer, or the connection gone */
	else if (r == 0 && __atomic_load_n(&p->down_ms, __ATOMIC_RELAXED))
		set_down(p, false);
	return r;
}

/*============================================================ open/close */

/* One statement outside pipeline mode (with no parameters, several): the
 * opening's SQL, in text. *ret: the last result (the caller clears it).
 * Returns 0 or -errno with c->why. */
static int simple_until(struct pg *p, struct conn *c, const char *sql, int n,
			const char *const *v, PGresult **ret, int64_t deadline)
{
	int64_t start = mfs_mono_ms();
	PGresult *last = NULL, *res;
	int r = 0, bad = 0;

	if (!(n ? PQsendQueryParams(c->pg, sql, n, NULL, v, NULL, NULL, 0) : PQsendQuery(c->pg, sql)))
		return lost(c);
	r = flush(c, deadline, start);
	while (r == 0 && (r = await(c, deadline, start)) == 0) {
		if (!(res = PQgetResult(c->pg)))
			break;
		if (PQresultStatus(res) != PGRES_TUPLES_OK &&
		    PQresultStatus(res) != PGRES_COMMAND_OK && !bad)
			bad = err(c, res);
		PQclear(last);
		last = res;
	}
	if (!r)
		r = bad;
	if (r || !ret)
		PQclear(last);
	else
		*ret = last;
	return r;
}

static int simple(struct pg *p, struct conn *c, const char *sql, int n, const char *const *v,
		  PGresult **ret)
{
	return simple_until(p, c, sql, n, v, ret,
			    mfs_mono_ms() + p->timeout_ms + p->lock_wait_ms);
}

/* Bring the schema up to this binary's (or refuse), and find or make each
 * table's number, in one transaction that holds SCHEMA_LOCK: two daemons
 * opening a new database at once do not race. */
static int prepare_db(struct pg *p, struct conn *c, const char *const *tables, int ntables)
{
	bool ro = p->head.flags & KV_READONLY;
	PGresult *res = NULL;
	int version = 0, r;

	r = simple(p, c, ro ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN", 0,
		   NULL, NULL);
	if (r == 0 && !ro)
		r = simple(p, c, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ")", 0, NULL, NULL);
	if (r == 0)
		r = simple(p, c, "SELECT to_regclass('mfs_schema') IS NOT NULL", 0, NULL, &res);
	if (r == 0 && PQntuples(res) == 1 && *PQgetvalue(res, 0, 0) == 't') {
		PQclear(res);
		res = NULL;
		r = simple(p, c, "SELECT version FROM mfs_schema", 0, NULL, &res);
		if (r == 0 && PQntuples(res) == 1)
			version = atoi(PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	res = NULL;
	if (r)
		goto fail;
	if (version > SCHEMA_VERSION) {
		mfs_log(MFS_LOG_ERR, "%s: its schema is version %d; this modelfs knows %d and older",
			p->head.where, version, SCHEMA_VERSION);
		return -EPROTO;
	}
	if (ro && version == 0) {
		mfs_log(MFS_LOG_ERR, "%s: no registry there (a read-write open makes one)",
			p->head.where);
		return -ENOENT;
	}
	if (ro && version < SCHEMA_VERSION) {
		mfs_log(MFS_LOG_ERR, "%s: its schema is version %d; open it read-write once to upgrade it to %d",
			p->head.where, version, SCHEMA_VERSION);
		return -EPROTO;
	}
	for (int i = version; r == 0 && i < SCHEMA_VERSION; i++) {
		char num[16];
		const char *v[1] = { num };

		snprintf(num, sizeof(num), "%d", i + 1);
		r = simple(p, c, migrations[i], 0, NULL, NULL);
		if (r == 0)
			r = simple(p, c, "INSERT INTO mfs_schema VALUES (1, $1)"
				   " ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version",
				   1, v, NULL);
	}
	if (r)
		goto fail;
	if (version < SCHEMA_VERSION)
		mfs_log(MFS_LOG_INFO, "%s: schema version %d (was %d)", p->head.where,
			SCHEMA_VERSION, version);
	r = simple(p, c, "SELECT id, name FROM mfs_tables", 0, NULL, &res);
	for (int i = 0; r == 0 && i < ntables; i++) {
		p->id[i] = -1;
		for (int row = 0; row < PQntuples(res); row++) {
			if (!strcmp(PQgetvalue(res, row, 1), tables[i]))
				p->id[i] = (int16_t)atoi(PQgetvalue(res, row, 0));
		}
	}
	PQclear(res);
	for (int i = 0; r == 0 && !ro && i < ntables; i++) {
		if (p->id[i] >= 0)
			continue;
		res = NULL;
		r = simple(p, c, "INSERT INTO mfs_tables (id, name)"
			   " SELECT coalesce(max(id) + 1, 0), $1 FROM mfs_tables RETURNING id",
			   1, &tables[i], &res);
		if (r == 0)
			p->id[i] = (int16_t)atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	if (r == 0)
		r = simple(p, c, "COMMIT", 0, NULL, NULL);
	if (r == 0)
		return 0;
fail:
	say(p, MFS_LOG_ERR, "open: %s", c->why);
	return r;
}

/*============================================================ the listener */

/*
 * kv_watch() on PostgreSQL: a thread LISTENs on a connection of its own
 * and hands every other process's notes to the watcher. Its own process's
 * notes it skips (kv.c told the watcher at the commit): the payload starts
 * with the committer's token. The server could vanish without closing the
 * socket (a host that hangs, a cut network), so the thread asks it every
 * LISTEN_PING_MS whether it is there; a connection that fails is dropped and
 * made again (backing off to LISTEN_BACKOFF_MS), and the watcher is then
 * told that anything may have changed (notes sent meanwhile are lost).
 */

/* Hand notes to the watcher (NULL, 0: anything may have changed). */
static void tell(struct pg *p, const void *notes, size_t len)
{
	kv_watch_fn w = __atomic_load_n(&p->head.watch, __ATOMIC_ACQUIRE);

	if (w)
		w(p->head.watch_ctx, notes, len);
}

static int unhex(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void heard(struct pg *p, const char *payload)
{
	const char *colon = strchr(payload, ':');
	size_t hl;
	uint8_t *buf;

	if (colon && (size_t)(colon - payload) == strlen(p->token) &&
	    !memcmp(payload, p->token, strlen(p->token)))
		return;		/* ours: told and counted at the commit */
	__atomic_add_fetch(&p->lgen, 1, __ATOMIC_RELAXED);
	if (colon && !colon[1]) {
		tell(p, "", 0);	/* a commit without notes */
		return;
	}
	if (!colon || !strcmp(colon + 1, "*")) {
		tell(p, NULL, 0);
		return;
	}
	hl = strlen(colon + 1);
	buf = hl % 2 == 0 ? malloc(hl / 2 + 1) : NULL;
	for (size_t i = 0; buf && i < hl / 2; i++) {
		int a = unhex(colon[1 + 2 * i]), b = unhex(colon[2 + 2 * i]);

		if (a < 0 || b < 0) {
			free(buf);
			buf = NULL;
			break;
		}
		buf[i] = (uint8_t)(a << 4 | b);
	}
	if (buf && hl)
		tell(p, buf, hl / 2);
	else
		tell(p, NULL, 0);	/* not ours to read */
	free(buf);
}

/* Wait up to ms for the wake pipe (true: stop) or, when fd >= 0, for fd
 * to be readable. */
static bool listen_wait(struct pg *p, int fd, int ms, bool *ret_readable)
{
	struct pollfd pfd[2] = { { .fd = p->lwake[0], .events = POLLIN },
				 { .fd = fd, .events = POLLIN } };
	int r = poll(pfd, fd >= 0 ? 2 : 1, ms);

	*ret_readable = r > 0 && fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR));
	return r > 0 && (pfd[0].revents & POLLIN);
}

/* A new connection that LISTENs, or NULL (logged). */
static struct conn *listen_conn(struct pg *p)
{
	struct conn *c = NULL;

	if (conn_new(p, &c) == 0 && simple(p, c, "LISTEN " CHANNEL, 0, NULL, NULL) != 0) {
		say(p, MFS_LOG_ERR, "listen: %s", c->why);
		conn_free(c);
		c = NULL;
	}
	return c;
}

static void *listen_main(void *arg)
{
	struct pg *p = arg;
	struct conn *c = p->lfirst;
	bool had = c != NULL, readable;
	int backoff = 100;
	int64_t pinged = mfs_mono_ms();

	p->lfirst = NULL;
	for (;;) {
		if (!c) {
			c = listen_conn(p);
			if (!c) {
				if (listen_wait(p, -1, backoff, &readable))
					break;
				backoff = backoff * 2 > LISTEN_BACKOFF_MS ? LISTEN_BACKOFF_MS :
					  backoff * 2;
				continue;
			}
			/* Commits meanwhile went unheard: count one more. */
			__atomic_add_fetch(&p->lgen, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&p->lup, true, __ATOMIC_RELEASE);
			/* Also the first time, when kv_watch() could not
			 * connect: the watcher may have served meanwhile. */
			if (had)
				mfs_log(MFS_LOG_INFO, "%s: listening again; anything may have changed meanwhile",
					p->head.where);
			tell(p, NULL, 0);
			had = true;
			backoff = 100;
			pinged = mfs_mono_ms();
		}
		if (listen_wait(p, PQsocket(c->pg), LISTEN_PING_MS, &readable))
			break;
		if (readable && !PQconsumeInput(c->pg)) {
			__atomic_store_n(&p->lup, false, __ATOMIC_RELEASE);
			lost(c);
			say(p, MFS_LOG_ERR, "listen: %s", c->why);
			conn_free(c);
			c = NULL;
			continue;
		}
		for (PGnotify *n; (n = PQnotifies(c->pg)); PQfreemem(n))
			heard(p, n->extra);
		if (mfs_mono_ms() - pinged >= LISTEN_PING_MS) {
			if (simple(p, c, "SELECT 1", 0, NULL, NULL) != 0) {
				__atomic_store_n(&p->lup, false, __ATOMIC_RELEASE);
				say(p, MFS_LOG_ERR, "listen: %s", c->why);
				conn_free(c);
				c = NULL;
				continue;
			}
			pinged = mfs_mono_ms();
			/* simple() may have read notifications too */
			for (PGnotify *n; (n = PQnotifies(c->pg)); PQfreemem(n))
				heard(p, n->extra);
		}
	}
	__atomic_store_n(&p->lup, false, __ATOMIC_RELEASE);
	conn_free(c);
	return NULL;
}

static void listen_stop(struct pg *p)
{
	if (!p->listening)
		return;
	if (write(p->lwake[1], "x", 1) < 0) {
		/* a full pipe already says stop */
	}
	pthread_join(p->lthread, NULL);
	close(p->lwake[0]);
	close(p->lwake[1]);
	__atomic_store_n(&p->listening, false, __ATOMIC_RELAXED);
}

static int pg_watch(struct kv *kv, bool on)
{
	struct pg *p = P(kv);
	int r;

	listen_stop(p);
	if (!on)
		return 0;
	if (pipe2(p->lwake, O_CLOEXEC) < 0)
		return -errno;
	/* LISTEN before returning: every commit after kv_watch() is heard,
	 * so the watcher need not be told that anything may have changed
	 * (it would forget what it cached, at a moment nobody can predict).
	 * The server unreachable: the thread keeps trying, and says so. */
	p->lfirst = listen_conn(p);
	if (p->lfirst) {
		__atomic_add_fetch(&p->lgen, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&p->lup, true, __ATOMIC_RELEASE);
	}
	r = pthread_create(&p->lthread, NULL, listen_main, p);
	if (r) {
		conn_free(p->lfirst);
		p->lfirst = NULL;
		__atomic_store_n(&p->lup, false, __ATOMIC_RELEASE);
		close(p->lwake[0]);
		close(p->lwake[1]);
		return -r;
	}
	__atomic_store_n(&p->listening, true, __ATOMIC_RELAXED);
	return 0;
}

static void pg_close(struct kv *kv)
{
	struct pg *p = P(kv);

	listen_stop(p);
	drop_idle(p);
	pthread_mutex_destroy(&p->lock);
	free(p->conninfo);
	free(kv->where);
	free(p);
}

static const struct kv_ops pg_ops;

bool kv_pg_has_password(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	bool has = false;

	/* As libpq reads it (key = value with spaces, %-encoded URI keys):
	 * a string it cannot parse names nothing, and is refused later. */
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, "password") && o->val && o->val[0])
			has = true;
	PQconninfoFree(opts);
	return has;
}

int kv_pg_open(const char *conninfo, unsigned flags, const char *const *tables, int ntables,
	       struct kv **ret)
{
	const char *env = getenv("MODELFS_DB_TIMEOUT_MS");
	struct pg *p = NULL;
	struct conn *c = NULL;
	PQconninfoOption *opts;
	char *msg = NULL;
	long ms;
	int r;

	opts = PQconninfoParse(conninfo, &msg);
	if (!opts) {
		char why[256];

		/* Not the string itself: it may hold a password. */
		if (!msg)
			return -ENOMEM;
		first_line(why, sizeof(why), msg);
		PQfreemem(msg);
		mfs_log(MFS_LOG_ERR, "database connection string: %s", why);
		return -EINVAL;
	}
	PQconninfoFree(opts);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	p->head.ops = &pg_ops;
	p->head.flags = flags;
	p->head.ntables = ntables;
	ms = env ? strtol(env, NULL, 10) : 0;
	p->timeout_ms = ms > 0 && ms <= 3600000 ? (int)ms : TIMEOUT_MS;
	p->lock_wait_ms = LOCK_WAITS * p->timeout_ms;
	/* The server cancels a statement itself a little before our
	 * deadline, so the log says why rather than that it did not answer. */
	snprintf(p->stmt_ms, sizeof(p->stmt_ms), "%d", p->timeout_ms - p->timeout_ms / 5);
	snprintf(p->lock_ms, sizeof(p->lock_ms), "%d", p->lock_wait_ms);
	snprintf(p->idle_ms, sizeof(p->idle_ms), "%d", WRITER_IDLE_MS);
	{
		uint64_t tok = 0;

		if (getrandom(&tok, sizeof(tok), 0) != sizeof(tok))
			tok = (uint64_t)mfs_mono_ms() ^ (uint64_t)getpid() << 32;
		snprintf(p->token, sizeof(p->token), "%016" PRIx64, tok);
	}
	p->conninfo = strdup(conninfo);
	if (!p->conninfo) {
		r = -ENOMEM;
		goto out;
	}
	/* No connect_timeout: PQconnectPoll() ignores it (the deadline
	 * bounds connecting). A fallback_application_name yields to the
	 * string's application_name and to PGAPPNAME. */
	p->keys[0] = "fallback_application_name";
	p->vals[0] = "modelfs";
	p->keys[1] = "dbname";
	p->vals[1] = p->conninfo;
	r = conn_new(p, &c);
	if (r == 0)
		r = prepare_db(p, c, tables, ntables);
	if (r == 0) {
		r = conn_setup(p, c);
		if (r)
			say(p, MFS_LOG_ERR, "connect: %s", c->why);
	}
	if (r == 0) {
		conn_give(p, c);
		c = NULL;
		*ret = &p->head;
	}
out:
	conn_free(c);
	if (r)
		pg_close(&p->head);
	return r;
}

/*
 * The generation: while the listener is connected, every commit of any
 * process reaches it (each NOTIFYs) and this process's own commits count
 * at once, so a local counter moves whenever the database changes, without
 * asking the server. It may lag a commit of another host by the
 * notification's way here: a rendering cached meanwhile is stale for that
 * moment, never wrong (kv.h). Without a listener, the server is asked.
 */
static uint64_t pg_generation(struct kv *kv)
{
	struct pg *p = P(kv);
	struct conn *c = NULL;
	struct q q = { .st = S_GEN };
	uint64_t gen = 0;

	if (__atomic_load_n(&p->lup, __ATOMIC_ACQUIRE))
		return __atomic_load_n(&p->lgen, __ATOMIC_RELAXED);
	/* Listening, but not connected: the server's number would not be
	 * comparable with the counted one. Unknown: nothing is cached. */
	if (__atomic_load_n(&p->listening, __ATOMIC_RELAXED))
		return 0;
	if (conn_take(p, &c) != 0)
		return 0;
	if (exec(p, &c, &q, 1, true, "generation") == 0) {
		if (PQntuples(q.res) == 1)
			gen = get_be64(q.res, 0, 0);
		PQclear(q.res);
	}
	conn_give(p, c);
	return gen;
}

/*============================================================ transactions */

static void txn_end(struct ptxn *t)
{
	struct pg *p = P(t->head.kv);

	if (t->c && t->begun)
		send_end(p, t->c, S_ROLLBACK);
	conn_give(p, t->c);
	keep_free(&t->kept);
	free(t);
}

static int pg_txn_begin(struct kv *kv, bool write, struct kv_txn **ret)
{
	struct pg *p = P(kv);
	struct ptxn *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->head.kv = kv;
	t->head.write = write;
	r = conn_take(p, &t->c);
	if (r == 0 && write) {
		/* The lock may wait for another host's writer; the server
		 * may keep a writer's session no longer than WRITER_IDLE_MS
		 * past its last statement, so a hung writer frees the lock. */
		struct q q[4] = {
			{ .st = S_BEGIN_W },
			{ .st = S_LIMITS, .n = 2, .v = { p->lock_ms, p->idle_ms } },
			{ .st = S_LOCK, .slow = true },
			{ .st = S_LIMITS, .n = 2, .v = { p->stmt_ms, p->idle_ms } },
		};

		for (int i = 1; i < 4; i += 2) {
			q[i].len[0] = (int)strlen(q[i].v[0]);
			q[i].len[1] = (int)strlen(q[i].v[1]);
		}
		r = exec(p, &t->c, q, 4, true, "begin");
		t->begun = t->c && !t->c->broken;
		if (r == 0) {
			t->gen = PQntuples(q[2].res) == 1 ? get_be64(q[2].res, 0, 0) : 0;
			if (PQntuples(q[2].res) == 1 && PQgetlength(q[2].res, 0, 2) == 4) {
				const uint8_t *b = (const uint8_t *)PQgetvalue(q[2].res, 0, 2);

				t->xid = get_be64(q[2].res, 0, 1);
				t->pid = (int)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
					       (uint32_t)b[2] << 8 | b[3]);
			}
			for (int i = 0; i < 4; i++)
				PQclear(q[i].res);
		}
	}
	if (r) {
		txn_end(t);
		return r;
	}
	*ret = &t->head;
	return 0;
}

/* Run q[1..n] in t, a read txn's BEGIN (q[0]) with its first. Returns 0
 * or -errno; a failure fails t. */
static int txn_run(struct ptxn *t, struct q *q, int n, const char *what)
{
	struct pg *p = P(t->head.kv);
	bool first = !t->begun;
	int r;

	if (t->err)
		return t->err;
	if (first)
		q[0] = (struct q){ .st = S_BEGIN_R };
	r = exec(p, &t->c, first ? q : q + 1, first ? n + 1 : n, first, what);
	if (first) {
		t->begun = t->c != NULL;
		if (r == 0)
			PQclear(q[0].res);
	}
	if (r)
		t->err = r;
	return r;
}

/* The NOTIFY payload of txn's notes: "TOKEN:HEX" ("TOKEN:" without
 * notes), or "TOKEN:*" for "anything may have changed". Caller frees. */
static char *note_payload(struct pg *p, const struct kv_txn *txn)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = txn->overflow ? 1 : 2 * txn->nlen;
	char *s = malloc(sizeof(p->token) + 1 + n);
	char *o;

	if (!s)
		return NULL;
	o = s + sprintf(s, "%s:", p->token);
	if (txn->overflow) {
		*o++ = '*';
	} else {
		for (size_t i = 0; i < txn->nlen; i++) {
			*o++ = hex[(uint8_t)txn->notes[i] >> 4];
			*o++ = hex[(uint8_t)txn->notes[i] & 15];
		}
	}
	*o = '\0';
	return s;
}

/* A commit sent whose answer never came (the connection was lost, or the
 * deadline passed): the server may have committed it or not. Ask it, on a
 * connection of our own, for LOCK_WAITS deadlines at most. While the
 * transaction (xid) still runs in its backend (pid) - one that did not see
 * our connection close (a cut network) waits in it, holding the write
 * lock - terminate that backend: a transaction whose COMMIT never arrived
 * rolls back, one already committing finishes. Once no backend runs it,
 * it is over, and the commit's token says how: it is there if and only
 * if it committed. (Not txid_status(): after a crash before any of the
 * transaction's WAL reached the disk, the server hands its id out again,
 * and another writer's commit would answer for it.) A server restarting
 * after a crash answers once it is up. Returns 0 (it committed), -EIO (it
 * did not), or KV_IN_DOUBT (nobody could say). Logs what it did. */
static int in_doubt(struct pg *p, uint64_t xid, int pid, const uint8_t *token)
{
	static const char kill[] =
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $2::int"
		" AND backend_xid::text = ($1::bigint % 4294967296)::text";
	static const char found[] =
		"SELECT count(*) FROM mfs_kv WHERE t = " TOKENS " AND substring(k FROM 9) = $1";
	int64_t end = mfs_mono_ms() + (int64_t)p->timeout_ms * LOCK_WAITS;
	char num[24], pnum[16], hex[2 + 2 * 8 + 1], why[256] = "no answer";
	const char *v[2] = { num, pnum }, *tv[1] = { hex };
	struct conn *c = NULL;
	bool told = false;
	int r = KV_IN_DOUBT;

	snprintf(num, sizeof(num), "%" PRIu64, xid);
	snprintf(pnum, sizeof(pnum), "%d", pid);
	strcpy(hex, "\\x");
	for (int i = 0; i < 8; i++)
		sprintf(hex + 2 + 2 * i, "%02x", token[i]);
	while (r == KV_IN_DOUBT && mfs_mono_ms() < end) {
		PGresult *res = NULL;
		int q;

		if (!c && conn_new_until(p, &c, end) < 0) {
			c = NULL;
			snprintf(why, sizeof(why), "cannot connect");
			usleep(200000);		/* not up yet */
			continue;
		}
		q = simple_until(p, c, kill, 2, v, &res, end);
		if (q == 0 && PQntuples(res) > 0) {
			/* still running: ended now (or as soon as its commit is) */
			if (!told)
				mfs_log(MFS_LOG_WARN, "%s: commit: the answer was lost; terminating backend %d, still in transaction %s",
					p->head.where, pid, num);
			told = true;
			PQclear(res);
			usleep(20000);
			continue;
		}
		PQclear(res);
		res = NULL;
		if (q == 0)
			q = simple_until(p, c, found, 1, tv, &res, end);
		if (q == 0 && PQntuples(res) == 1)
			r = atoi(PQgetvalue(res, 0, 0)) ? 0 : -EIO;
		PQclear(res);
		if (r != KV_IN_DOUBT)
			break;
		snprintf(why, sizeof(why), "%s", c->why);
		if (c->broken) {
			conn_free(c);
			c = NULL;
		}
		usleep(200000);		/* a failed statement: not up yet */
	}
	conn_free(c);
	if (r == KV_IN_DOUBT) {
		mfs_log(MFS_LOG_ERR, "%s: commit: the answer was lost and the server could not say in %d s whether transaction %s committed (%s)",
			p->head.where, p->timeout_ms * LOCK_WAITS / 1000, num, why);
		return r;
	}
	mfs_log(MFS_LOG_WARN, "%s: commit: the answer was lost; the server says transaction %s %s",
		p->head.where, num, r == 0 ? "committed" : "was rolled back");
	set_down(p, false);
	return r;
}

static int pg_txn_commit(struct kv_txn *txn)
{
	struct ptxn *t = X(txn);
	struct pg *p = P(txn->kv);
	char *payload = NULL;
	int r = t->err;

	if (r == 0 && txn->write && t->wrote) {
		struct q q[5];
		uint8_t token[8];
		int n = 0;

		memset(q, 0, sizeof(q));
		q[n++].st = S_BUMP;
		/* NOTIFY in the commit's round trip: the server delivers it
		 * only if the transaction commits. Every commit does, notes
		 * or none: the listeners count them (pg_generation()). */
		payload = note_payload(p, txn);
		if (!payload) {
			txn_end(t);
			return -ENOMEM;
		}
		q[n] = (struct q){ .sql = "SELECT pg_notify('" CHANNEL "', $1)" };
		arg(&q[n++], payload, strlen(payload));
		/* The token says whether it committed if the answer is lost */
		if (getrandom(token, sizeof(token), 0) != sizeof(token)) {
			uint64_t x = (uint64_t)mfs_mono_ms() ^ ((uint64_t)getpid() << 32) ^ t->xid;

			memcpy(token, &x, sizeof(token));
		}
		q[n].st = S_TOKEN;
		arg(&q[n++], token, sizeof(token));
		q[n++].st = S_PRUNE;
		q[n++].st = S_COMMIT;
		r = exec(p, &t->c, q, n, false, "commit");
		if (r == 0 && strcmp(PQcmdStatus(q[n - 1].res), "COMMIT")) {
			say(p, MFS_LOG_ERR, "commit: the server rolled the transaction back");
			r = -EIO;
		}
		for (int i = 0; i < n; i++)
			PQclear(q[i].res);
		if (r && t->c->broken && t->xid) {
			/* Close ours first: a backend that never got the
			 * COMMIT then rolls back instead of waiting. */
			conn_give(p, t->c);
			t->c = NULL;
			r = in_doubt(p, t->xid, t->pid, token);
		}
		if (r && t->c)
			t->c->broken = true;
		/* ours are not heard: count what may have happened */
		if (r == 0 || r == KV_IN_DOUBT)
			__atomic_add_fetch(&p->lgen, 1, __ATOMIC_RELAXED);
		t->begun = false;
	}
	free(payload);
	txn_end(t);
	return r;
}

static void pg_txn_abort(struct kv_txn *txn)
{
	txn_end(X(txn));
}

/*============================================================ records */

/* Run st in txn: table t's number, then a and b (when not NULL), one
 * round trip. *ret: its result. */
static int one(struct kv_txn *txn, enum st st, int t, const struct kv_val *a,
	       const struct kv_val *b, const char *what, PGresult **ret)
{
	struct q q[2] = { [1] = { .st = st } };
	uint8_t tb[2];
	int r;

	put_be16(tb, (uint16_t)P(txn->kv)->id[t]);
	arg(&q[1], tb, sizeof(tb));
	if (a)
		arg(&q[1], a->data, a->len);
	if (b)
		arg(&q[1], b->data, b->len);
	r = txn_run(X(txn), q, 1, what);
	if (r == 0)
		*ret = q[1].res;
	return r;
}

/* A put or delete: 0, or none when it changed no row. */
static int change(struct kv_txn *txn, enum st st, int t, const struct kv_val *k,
		  const struct kv_val *v, const char *what, int none)
{
	struct ptxn *x = X(txn);
	PGresult *res;
	bool changed;
	int r = one(txn, st, t, k, v, what, &res);

	if (r)
		return r;
	changed = strcmp(PQcmdTuples(res), "0") != 0;
	PQclear(res);
	if (!changed)
		return none;
	x->wrote = true;
	x->changed |= 1u << t;
	x->wseq[t]++;
	return 0;
}

static int pg_get(struct kv_txn *txn, int t, const struct kv_val *k, struct kv_val *ret)
{
	PGresult *res = NULL;
	int r;

	if (P(txn->kv)->id[t] < 0 || k->len > KV_KEY_MAX)
		return -ENOENT;
	r = one(txn, S_GET, t, k, NULL, "get", &res);
	if (r == 0 && PQntuples(res) != 1)
		r = -ENOENT;
	else if (r == 0)
		r = keep(&X(txn)->kept, res);
	if (r) {
		PQclear(res);
		return r;
	}
	ret->data = PQgetvalue(res, 0, 0);
	ret->len = (size_t)PQgetlength(res, 0, 0);
	return 0;
}

static int pg_put(struct kv_txn *txn, int t, const struct kv_val *k, const struct kv_val *v,
		  unsigned flags)
{
	if (v->len > INT_MAX)
		return -EINVAL;
	/* KV_NOOVERWRITE over a present key inserts no row. */
	return change(txn, flags & KV_NOOVERWRITE ? S_PUT_NEW : S_PUT, t, k, v, "put", -EEXIST);
}

static int pg_del(struct kv_txn *txn, int t, const struct kv_val *k)
{
	if (k->len > KV_KEY_MAX)
		return -ENOENT;
	return change(txn, S_DEL, t, k, NULL, "delete", -ENOENT);
}

static int pg_count(struct kv_txn *txn, int t, uint64_t *ret)
{
	PGresult *res;
	int r;

	if (P(txn->kv)->id[t] < 0) {
		*ret = 0;
		return 0;
	}
	r = one(txn, S_COUNT, t, NULL, NULL, "count", &res);
	if (r)
		return r;
	*ret = PQntuples(res) == 1 ? get_be64(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

/*============================================================ cursors */

/*
 * A cursor holds a batch of rows fetched from its key onward (or backward)
 * and steps through it; stepping off it fetches the next batch, twice as
 * big, so a seek costs one small query and a long walk few round trips.
 * In a write transaction a batch is stale once its table has been written
 * (wseq): the step then fetches afresh from the cursor's key, so it sees
 * the writes, a kv_cursor_del() among them. Batches stay until the cursor
 * closes: the values handed out point into them.
 */

static int pg_cursor_open(struct kv_txn *txn, int t, struct kv_cursor **ret)
{
	struct pcur *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->head.txn = txn;
	c->t = t;
	*ret = &c->head;
	return 0;
}

/* Fetch up to n rows of st (S_GE, S_GT, S_LT from key; S_LAST). */
static int fetch(struct pcur *c, enum st st, const void *key, size_t klen, int n)
{
	struct ptxn *x = X(c->head.txn);
	uint8_t lim[8];
	struct kv_val kv = { klen, (void *)key }, limit = { sizeof(lim), lim };
	PGresult *res = NULL;
	int r;

	put_be64(lim, (uint64_t)n);
	r = one(c->head.txn, st, c->t, st == S_LAST ? &limit : &kv, st == S_LAST ? NULL : &limit,
		"cursor", &res);
	if (r == 0 && c->res)
		r = keep(&c->old, c->res);
	if (r) {
		PQclear(res);
		return r;
	}
	c->res = res;
	c->nrows = PQntuples(res);
	c->row = 0;
	c->batch = n;
	c->desc = st == S_LT || st == S_LAST;
	c->more = c->nrows == n;
	c->seq = x->wseq[c->t];
	return 0;
}

/* Stand at row and hand out its key and value. */
static int at(struct pcur *c, int row, struct kv_val *k, struct kv_val *v)
{
	size_t klen = (size_t)PQgetlength(c->res, row, 0);

	if (klen > KV_KEY_MAX) {
		c->on = false;
		say(P(c->head.txn->kv), MFS_LOG_ERR, "cursor: a key of %zu bytes", klen);
		return -EIO;
	}
	c->row = row;
	c->on = true;
	memcpy(c->key, PQgetvalue(c->res, row, 0), klen);
	c->klen = klen;
	k->data = PQgetvalue(c->res, row, 0);
	k->len = klen;
	if (v) {
		v->data = PQgetvalue(c->res, row, 1);
		v->len = (size_t)PQgetlength(c->res, row, 1);
	}
	return 0;
}

/* The key after (dir 1) or before (-1) the cursor's. */
static int step(struct pcur *c, int dir, struct kv_val *k, struct kv_val *v)
{
	struct ptxn *x = X(c->head.txn);
	bool fresh = c->res && c->seq == x->wseq[c->t];
	int r, n = BATCH_MIN;

	if (fresh) {
		int row = c->row + (c->desc ? -dir : dir);

		if (row >= 0 && row < c->nrows)
			return at(c, row, k, v);
		if (row >= c->nrows) {
			/* Off the far end of the batch, which went the
			 * table's end: none. Else: the next, bigger. */
			if (!c->more)
				return -ENOENT;
			n = c->batch < BATCH_MAX ? 2 * c->batch : BATCH_MAX;
		}
	}
	r = fetch(c, dir > 0 ? S_GT : S_LT, c->key, c->klen, n);
	if (r)
		return r;
	return c->nrows ? at(c, 0, k, v) : -ENOENT;
}

static int pg_cursor_get(struct kv_cursor *cur, struct kv_val *k, struct kv_val *v,
			 enum kv_op op)
{
	struct pcur *c = (struct pcur *)cur;
	struct pg *p = P(cur->txn->kv);
	bool was_on = c->on;
	int r;

	c->on = false;
	if (p->id[c->t] < 0)
		return -ENOENT;
	if ((op == KV_SET_RANGE || op == KV_SET_KEY) && k->len > KV_KEY_MAX)
		return -EINVAL;
	if (op == KV_NEXT && !was_on)
		op = KV_FIRST;
	if (op == KV_PREV && !was_on)
		op = KV_LAST;
	switch (op) {
	case KV_FIRST:
		r = fetch(c, S_GE, "", 0, BATCH_MIN);
		break;
	case KV_LAST:
		r = fetch(c, S_LAST, NULL, 0, BATCH_MIN);
		break;
	case KV_SET_RANGE:
	case KV_SET_KEY:
		r = fetch(c, S_GE, k->data, k->len, BATCH_MIN);
		if (r == 0 && op == KV_SET_KEY && c->nrows &&
		    ((size_t)PQgetlength(c->res, 0, 0) != k->len ||
		     memcmp(PQgetvalue(c->res, 0, 0), k->data, k->len)))
			return -ENOENT;
		break;
	case KV_NEXT:
	case KV_PREV:
		c->on = true;
		r = step(c, op == KV_NEXT ? 1 : -1, k, v);
		if (r)
			c->on = false;
		return r;
	default:
		return -EINVAL;
	}
	if (r)
		return r;
	return c->nrows ? at(c, 0, k, v) : -ENOENT;
}

static int pg_cursor_del(struct kv_cursor *cur)
{
	struct pcur *c = (struct pcur *)cur;
	struct kv_val k = { c->klen, c->key };

	if (!c->on)
		return -EINVAL;
	return pg_del(cur->txn, c->t, &k);
}

static void pg_cursor_close(struct kv_cursor *cur)
{
	struct pcur *c = (struct pcur *)cur;

	PQclear(c->res);
	keep_free(&c->old);
	free(c);
}

/* trim: nothing to give back (rows live in PGresults only as long as a
 * transaction or cursor borrows them); copy: pg_dump does that. */
static const struct kv_ops pg_ops = {
	.name = "postgresql",
	.shared = true,
	.close = pg_close,
	.generation = pg_generation,
	.trim = NULL,
	.copy = NULL,
	.watch = pg_watch,
	.txn_begin = pg_txn_begin,
	.txn_commit = pg_txn_commit,
	.txn_abort = pg_txn_abort,
	.get = pg_get,
	.put = pg_put,
	.del = pg_del,
	.count = pg_count,
	.cursor_open = pg_cursor_open,
	.cursor_get = pg_cursor_get,
	.cursor_del = pg_cursor_del,
	.cursor_close = pg_cursor_close,
};
