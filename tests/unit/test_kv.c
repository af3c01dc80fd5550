/* test_kv.c - conformance tests of the storage seam (kv.h): one set of checks, every engine */

/*
 * Every check runs against LMDB (an environment in a fresh mkdtemp()
 * directory) and, when a PostgreSQL server is installed, against a cluster
 * this program starts with tests/pg.sh in a mkdtemp() directory, one fresh
 * database per check. The cluster is stopped at the end however this
 * program ends: a forked guardian, outside our process group, waits for
 * its end of a pipe to close (our exit, or a crash) and then stops the
 * cluster and removes its directory. Checks of what only a server has
 * (schema versions, outages) are skipped on LMDB.
 *
 * MFS_TEST_PG=0 skips PostgreSQL; MFS_TEST_PG=1 fails when it is missing.
 * MFS_PG_SH overrides the path of pg.sh that meson compiles in.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kv.h"
#include "log.h"

#ifndef MFS_PG_SH
#define MFS_PG_SH "tests/pg.sh"
#endif

/* The engine a group of checks runs on. */
struct engine {
	bool pg;
	char dir[64];			/* lmdb: holds the environments; pg: DIR */
	int made;			/* databases made so far */
	pid_t guard;			/* pg: stops the cluster when we end */
	int guard_fd;
};

static struct engine E;

struct fx {
	char uri[512];
	struct kv *kv;
};

static const char *const names[] = { "alpha", "beta", "gamma" };
#define NT 3
#define KEY_MAX 511		/* kv.h: the longest key */

static const char *pg_sh(void)
{
	const char *s = getenv("MFS_PG_SH");

	return s && *s ? s : MFS_PG_SH;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run pg.sh with args; its first line of output into out (may be NULL). */
static int pg(char *out, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int pg(char *out, size_t n, const char *fmt, ...)
{
	char cmd[1024], line[1024] = "";
	va_list ap;
	FILE *f;
	int st, len;

	len = snprintf(cmd, sizeof(cmd), "'%s' ", pg_sh());
	va_start(ap, fmt);
	vsnprintf(cmd + len, sizeof(cmd) - (size_t)len, fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	if (!f)
		return -errno;
	if (fgets(line, sizeof(line), f))
		line[strcspn(line, "\n")] = '\0';
	while (fgetc(f) != EOF)
		;
	st = pclose(f);
	if (out)
		snprintf(out, n, "%s", line);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static int rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

/*============================================================ fixtures */

static int group_lmdb(void **state)
{
	(void)state;
	memset(&E, 0, sizeof(E));
	snprintf(E.dir, sizeof(E.dir), "/tmp/mfs-kv-XXXXXX");
	if (!mkdtemp(E.dir))
		return -1;
	return 0;
}

static int group_pg(void **state)
{
	char uri[512];
	int fds[2];

	(void)state;
	memset(&E, 0, sizeof(E));
	E.pg = true;
	E.guard_fd = -1;
	snprintf(E.dir, sizeof(E.dir), "/tmp/mfs-kv-pg-XXXXXX");
	if (!mkdtemp(E.dir) || pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	E.guard = fork();
	if (E.guard < 0)
		return -1;
	if (E.guard == 0) {
		char c;

		/* Out of our process group: a test runner that kills the
		 * group on a timeout leaves the guardian to clean up. */
		setsid();
		close(fds[1]);
		while (read(fds[0], &c, 1) < 0 && errno == EINTR)
			;
		execl("/bin/sh", "sh", "-c",
		      "\"$0\" stop \"$1\" immediate >/dev/null 2>&1; rm -rf \"$1\"",
		      pg_sh(), E.dir, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	E.guard_fd = fds[1];
	if (pg(uri, sizeof(uri), "start '%s'", E.dir) != 0) {
		print_message("pg.sh start '%s' failed\n", E.dir);
		return -1;
	}
	return 0;
}

static int group_end(void **state)
{
	(void)state;
	if (E.pg) {
		pg(NULL, 0, "stop '%s'", E.dir);
		if (E.guard_fd >= 0)
			close(E.guard_fd);	/* the guardian removes E.dir */
		if (E.guard > 0)
			waitpid(E.guard, NULL, 0);
	} else if (E.dir[0]) {
		nftw(E.dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	}
	return 0;
}

/* A new, empty database; its URI into f->uri. */
static void new_db(struct fx *f)
{
	E.made++;
	if (E.pg) {
		if (pg(f->uri, sizeof(f->uri), "createdb '%s' db%d", E.dir, E.made) != 0)
			fail_msg("pg.sh createdb failed");
	} else {
		char dir[128];

		snprintf(dir, sizeof(dir), "%s/db%d", E.dir, E.made);
		if (mkdir(dir, 0700) < 0)
			fail_msg("mkdir '%s': %s", dir, strerror(errno));
		snprintf(f->uri, sizeof(f->uri), "lmdb:%s", dir);
	}
}

static void fx_open(struct fx *f)
{
	int r = kv_open(f->uri, 0, names, NT, &f->kv);

	if (r != 0)
		fail_msg("kv_open('%s'): %d (%s)", f->uri, r, strerror(-r));
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	new_db(f);
	fx_open(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kv_close(f->kv);
	free(f);
	return 0;
}

/*============================================================ helpers */

static struct kv_val S(const char *s)
{
	struct kv_val v = { strlen(s), (void *)s };

	return v;
}

static struct kv_val key4(uint8_t b[4], uint32_t x)
{
	struct kv_val v = { 4, b };

	b[0] = (uint8_t)(x >> 24);
	b[1] = (uint8_t)(x >> 16);
	b[2] = (uint8_t)(x >> 8);
	b[3] = (uint8_t)x;
	return v;
}

static uint32_t num4(const struct kv_val *k)
{
	const uint8_t *b = k->data;

	assert_int_equal(k->len, 4);
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void assert_val(const struct kv_val *v, const char *want)
{
	if (v->len != strlen(want) || memcmp(v->data, want, v->len))
		fail_msg("value '%.*s', want '%s'", (int)v->len, (const char *)v->data, want);
}

static void put_s(struct kv_txn *txn, int t, const char *k, const char *v)
{
	struct kv_val kk = S(k), vv = S(v);

	assert_int_equal(kv_put(txn, t, &kk, &vv, 0), 0);
}

static void assert_get(struct kv_txn *txn, int t, const char *k, const char *want)
{
	struct kv_val kk = S(k), v;
	int r = kv_get(txn, t, &kk, &v);

	if (!want) {
		assert_int_equal(r, -ENOENT);
		return;
	}
	assert_int_equal(r, 0);
	assert_val(&v, want);
}

static struct kv_txn *begin(struct kv *kv, bool write)
{
	struct kv_txn *txn = NULL;

	assert_int_equal(kv_txn_begin(kv, write, &txn), 0);
	return txn;
}

/* Put "k" = v in table 0 in a transaction of its own. */
static void commit_one(struct kv *kv, const char *k, const char *v)
{
	struct kv_txn *txn = begin(kv, true);

	put_s(txn, 0, k, v);
	assert_int_equal(kv_txn_commit(txn), 0);
}

/*============================================================ reads and writes */

static void test_kv_gets_puts_and_deletes(void **state)
{
	struct fx *f = *state;
	struct kv_txn *txn = begin(f->kv, true);
	struct kv_val k = S("key"), v = S("other"), got, got2;
	static char big[1 << 20];

	put_s(txn, 0, "key", "one");
	assert_get(txn, 0, "key", "one");
	assert_get(txn, 1, "key", NULL);	/* tables are apart */
	put_s(txn, 0, "key", "two");		/* overwrite */
	assert_get(txn, 0, "key", "two");
	assert_int_equal(kv_put(txn, 0, &k, &v, KV_NOOVERWRITE), -EEXIST);
	assert_get(txn, 0, "key", "two");
	assert_int_equal(kv_put(txn, 1, &k, &v, KV_NOOVERWRITE), 0);
	assert_get(txn, 1, "key", "other");
	put_s(txn, 2, "empty", "");		/* an empty value is a value */
	assert_get(txn, 2, "empty", "");
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 4096);
	v.data = big;
	v.len = sizeof(big);
	k = S("big");
	assert_int_equal(kv_put(txn, 0, &k, &v, 0), 0);
	assert_int_equal(kv_txn_commit(txn), 0);

	txn = begin(f->kv, false);
	assert_get(txn, 0, "key", "two");
	assert_get(txn, 1, "key", "other");
	assert_int_equal(kv_get(txn, 0, &k, &got), 0);
	assert_int_equal(got.len, sizeof(big));
	assert_memory_equal(got.data, big, sizeof(big));
	k = S("key");
	assert_int_equal(kv_get(txn, 1, &k, &got2), 0);
	/* Both still valid: borrowed until the transaction ends. */
	assert_memory_equal(got.data, big, sizeof(big));
	assert_val(&got2, "other");
	assert_int_equal(kv_txn_commit(txn), 0);

	txn = begin(f->kv, true);
	k = S("key");
	assert_int_equal(kv_del(txn, 0, &k), 0);
	assert_int_equal(kv_del(txn, 0, &k), -ENOENT);
	assert_get(txn, 0, "key", NULL);
	k = S("never");
	assert_int_equal(kv_del(txn, 0, &k), -ENOENT);
	assert_int_equal(kv_txn_commit(txn), 0);
	txn = begin(f->kv, false);
	assert_get(txn, 0, "key", NULL);
	assert_get(txn, 1, "key", "other");
	kv_txn_abort(txn);
}

static void test_kv_refuses_empty_and_long_keys(void **state)
{
	struct fx *f = *state;
	struct kv_txn *txn = begin(f->kv, true);
	static uint8_t kb[KEY_MAX + 1];
	struct kv_val k = { 0, kb }, v = S("v"), got;

	assert_int_equal(kv_put(txn, 0, &k, &v, 0), -EINVAL);
	memset(kb, 0xab, sizeof(kb));
	k.len = KEY_MAX + 1;
	assert_int_equal(kv_put(txn, 0, &k, &v, 0), -EINVAL);
	k.len = KEY_MAX;
	assert_int_equal(kv_put(txn, 0, &k, &v, 0), 0);
	assert_int_equal(kv_get(txn, 0, &k, &got), 0);
	assert_val(&got, "v");
	assert_int_equal(kv_put(txn, NT, &k, &v, 0), -EINVAL);	/* no such table */
	assert_int_equal(kv_txn_commit(txn), 0);
	txn = begin(f->kv, false);
	assert_int_equal(kv_put(txn, 0, &k, &v, 0), -EINVAL);	/* a read txn */
	kv_txn_abort(txn);
}

static void test_kv_abort_discards_writes(void **state)
{
	struct fx *f = *state;
	struct kv_txn *txn;

	commit_one(f->kv, "kept", "1");
	txn = begin(f->kv, true);
	put_s(txn, 0, "dropped", "2");
	put_s(txn, 0, "kept", "changed");
	kv_txn_abort(txn);
	txn = begin(f->kv, false);
	assert_get(txn, 0, "dropped", NULL);
	assert_get(txn, 0, "kept", "1");
	kv_txn_abort(txn);
	/* The write lock went with the aborted txn. */
	commit_one(f->kv, "after", "3");
}

static void test_kv_counts_keys(void **state)
{
	struct fx *f = *state;
	struct kv_txn *txn = begin(f->kv, true);
	uint64_t n = 99;
	uint8_t kb[4];

	assert_int_equal(kv_count(txn, 0, &n), 0);
	assert_int_equal(n, 0);
	for (uint32_t i = 0; i < 300; i++) {
		struct kv_val k = key4(kb, i), v = S("x");

		assert_int_equal(kv_put(txn, i % 3 ? 0 : 1, &k, &v, 0), 0);
	}
	assert_int_equal(kv_count(txn, 0, &n), 0);
	assert_int_equal(n, 200);
	assert_int_equal(kv_txn_commit(txn), 0);
	txn = begin(f->kv, true);
	for (uint32_t i = 0; i < 30; i++) {
		struct kv_val k = key4(kb, i);

		assert_int_equal(kv_del(txn, 1, &k), i % 3 ? -ENOENT : 0);
	}
	assert_int_equal(kv_count(txn, 1, &n), 0);
	assert_int_equal(n, 90);
	assert_int_equal(kv_txn_commit(txn), 0);
	txn = begin(f->kv, false);
	assert_int_equal(kv_count(txn, 1, &n), 0);
	assert_int_equal(n, 90);
	assert_int_equal(kv_count(txn, 2, &n), 0);
	assert_int_equal(n, 0);
	kv_txn_abort(txn);
}

/*============================================================ order and cursors */

struct bkey {
	size_t len;
	uint8_t b[4];
};

static int bkey_cmp(const void *a, const void *b)
{
	const struct bkey *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->b, y->b, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void test_kv_orders_keys_by_bytes_then_length(void **state)
{
	static const struct bkey keys[] = {
		{ 1, { 0x00 } }, { 2, { 0x00, 0x00 } }, { 2, { 0x00, 0x01 } }, { 1, { 0x01 } },
		{ 1, { 0x7f } }, { 1, { 0x80 } }, { 2, { 0x80, 0x00 } }, { 2, { 0xfe, 0xff } },
		{ 1, { 0xff } }, { 2, { 0xff, 0x00 } }, { 2, { 0xff, 0xff } },
		{ 3, { 0xff, 0xff, 0xff } }, { 1, { 'a' } }, { 2, { 'a', 'b' } },
		{ 3, { 'a', 'b', 'c' } }, { 3, { 'a', 'b', 'd' } }, { 1, { 'b' } },
		{ 4, { 'a', 0x00, 0x00, 0x00 } }, { 2, { 'a', 0x00 } },
	};
	enum { N = sizeof(keys) / sizeof(keys[0]) };
	struct fx *f = *state;
	struct bkey sorted[N];
	struct kv_txn *txn = begin(f->kv, true);
	struct kv_cursor *cur;
	struct kv_val k, v;
	int i;

	memcpy(sorted, keys, sizeof(keys));
	qsort(sorted, N, sizeof(sorted[0]), bkey_cmp);
	for (i = 0; i < N; i++) {
		/* An order of insertion unlike either walk's. */
		const struct bkey *b = &keys[(i * 7) % N];
		struct kv_val kk = { b->len, (void *)b->b }, vv = { b->len, (void *)b->b };

		assert_int_equal(kv_put(txn, 1, &kk, &vv, 0), 0);
	}
	put_s(txn, 0, "\x01", "other table");
	put_s(txn, 2, "\x01", "other table");
	assert_int_equal(kv_txn_commit(txn), 0);

	txn = begin(f->kv, false);
	assert_int_equal(kv_cursor_open(txn, 1, &cur), 0);
	for (i = 0; kv_cursor_get(cur, &k, &v, i ? KV_NEXT : KV_FIRST) == 0; i++) {
		assert_true(i < N);
		assert_int_equal(k.len, sorted[i].len);
		assert_memory_equal(k.data, sorted[i].b, k.len);
		assert_int_equal(v.len, k.len);
		assert_memory_equal(v.data, sorted[i].b, v.len);
	}
	assert_int_equal(i, N);
	for (i = N - 1; kv_cursor_get(cur, &k, &v, i == N - 1 ? KV_LAST : KV_PREV) == 0; i--) {
		assert_true(i >= 0);
		assert_int_equal(k.len, sorted[i].len);
		assert_memory_equal(k.data, sorted[i].b, k.len);
	}
	assert_int_equal(i, -1);
	kv_cursor_close(cur);
	kv_txn_abort(txn);
}

#define WALK 5000

static void test_kv_cursor_walks_5000_keys(void **state)
{
	struct fx *f = *state;
	struct kv_txn *txn = begin(f->kv, true);
	struct kv_cursor *cur;
	struct kv_val k, v, first_v;
	uint8_t kb[5];
	char buf[16];
	uint32_t i;
	int r;

	for (i = 0; i < WALK; i++) {
		struct kv_val kk = key4(kb, 2 * i), vv;

		snprintf(buf, sizeof(buf), "v%u", 2 * i);
		vv = S(buf);
		assert_int_equal(kv_put(txn, 0, &kk, &vv, 0), 0);
	}
	assert_int_equal(kv_txn_commit(txn), 0);

	txn = begin(f->kv, false);
	assert_int_equal(kv_cursor_open(txn, 0, &cur), 0);
	/* Forward: FIRST, then NEXT to the end. */
	assert_int_equal(kv_cursor_get(cur, &k, &first_v, KV_FIRST), 0);
	assert_int_equal(num4(&k), 0);
	for (i = 1; (r = kv_cursor_get(cur, &k, &v, KV_NEXT)) == 0; i++) {
		assert_int_equal(num4(&k), 2 * i);
		snprintf(buf, sizeof(buf), "v%u", 2 * i);
		assert_val(&v, buf);
	}
	assert_int_equal(r, -ENOENT);
	assert_int_equal(i, WALK);
	/* Backward: LAST, then PREV to the start. */
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_LAST), 0);
	assert_int_equal(num4(&k), 2 * (WALK - 1));
	for (i = WALK - 1; (r = kv_cursor_get(cur, &k, &v, KV_PREV)) == 0;)
		assert_int_equal(num4(&k), 2 * --i);
	assert_int_equal(r, -ENOENT);
	assert_int_equal(i, 0);
	/* Seeks. */
	for (i = 0; i < WALK - 1; i += 97) {
		k = key4(kb, 2 * i + 1);
		assert_int_equal(kv_cursor_get(cur, &k, &v, KV_SET_RANGE), 0);
		assert_int_equal(num4(&k), 2 * i + 2);
		k = key4(kb, 2 * i);
		assert_int_equal(kv_cursor_get(cur, &k, &v, KV_SET_KEY), 0);
		assert_int_equal(num4(&k), 2 * i);
		snprintf(buf, sizeof(buf), "v%u", 2 * i);
		assert_val(&v, buf);
		k = key4(kb, 2 * i + 1);
		assert_int_equal(kv_cursor_get(cur, &k, &v, KV_SET_KEY), -ENOENT);
	}
	k = key4(kb, 2 * WALK);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_SET_RANGE), -ENOENT);
	/* A longer key between two: {0,0,0,4} < {0,0,0,4,0} < {0,0,0,6}. */
	key4(kb, 4);
	kb[4] = 0;
	k.data = kb;
	k.len = 5;
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_SET_RANGE), 0);
	assert_int_equal(num4(&k), 6);
	/* Turning around. */
	k = key4(kb, 100);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_SET_RANGE), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_PREV), 0);
	assert_int_equal(num4(&k), 98);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_NEXT), 0);
	assert_int_equal(num4(&k), 100);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_NEXT), 0);
	assert_int_equal(num4(&k), 102);
	/* The first step's value: borrowed until the cursor closes. */
	assert_val(&first_v, "v0");
	kv_cursor_close(cur);
	/* An unpositioned cursor's NEXT is FIRST, its PREV is LAST. */
	assert_int_equal(kv_cursor_open(txn, 0, &cur), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_NEXT), 0);
	assert_int_equal(num4(&k), 0);
	kv_cursor_close(cur);
	assert_int_equal(kv_cursor_open(txn, 0, &cur), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_PREV), 0);
	assert_int_equal(num4(&k), 2 * (WALK - 1));
	kv_cursor_close(cur);
	/* An empty table. */
	assert_int_equal(kv_cursor_open(txn, 2, &cur), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_FIRST), -ENOENT);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_LAST), -ENOENT);
	kv_cursor_close(cur);
	kv_txn_abort(txn);

	/* A write txn's walk deleting every third key as it goes. */
	txn = begin(f->kv, true);
	assert_int_equal(kv_cursor_open(txn, 0, &cur), 0);
	for (i = 0, r = kv_cursor_get(cur, &k, &v, KV_FIRST); r == 0;
	     r = kv_cursor_get(cur, &k, &v, KV_NEXT), i++) {
		assert_int_equal(num4(&k), 2 * i);
		if (i % 3 == 0)
			assert_int_equal(kv_cursor_del(cur), 0);
	}
	assert_int_equal(r, -ENOENT);
	assert_int_equal(i, WALK);
	kv_cursor_close(cur);
	assert_int_equal(kv_txn_commit(txn), 0);
	txn = begin(f->kv, false);
	{
		uint64_t n;

		assert_int_equal(kv_count(txn, 0, &n), 0);
		assert_int_equal(n, WALK - (WALK + 2) / 3);
	}
	kv_txn_abort(txn);
}

/* kv.h: -ENOENT leaves a cursor unpositioned, and an unpositioned
 * cursor's NEXT is FIRST, its PREV is LAST. */
static void test_kv_cursor_is_unpositioned_after_enoent(void **state)
{
	struct fx *f = *state;
	struct kv_txn *txn = begin(f->kv, true);
	struct kv_cursor *cur;
	struct kv_val k, v;

	put_s(txn, 0, "a", "1");
	put_s(txn, 0, "b", "2");
	assert_int_equal(kv_txn_commit(txn), 0);
	txn = begin(f->kv, false);
	assert_int_equal(kv_cursor_open(txn, 0, &cur), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_LAST), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_NEXT), -ENOENT);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_NEXT), 0);
	assert_val(&k, "a");
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_PREV), -ENOENT);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_PREV), 0);
	assert_val(&k, "b");
	k = S("c");
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_SET_RANGE), -ENOENT);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_PREV), 0);
	assert_val(&k, "b");
	k = S("aa");
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_SET_KEY), -ENOENT);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_NEXT), 0);
	assert_val(&k, "a");
	kv_cursor_close(cur);
	kv_txn_abort(txn);
}

static struct kv_val B(uint8_t *b, uint8_t x)
{
	struct kv_val v = { 1, b };

	*b = x;
	return v;
}

static void test_kv_cursor_sees_its_txn_writes(void **state)
{
	struct fx *f = *state;
	struct kv_txn *txn = begin(f->kv, true);
	struct kv_cursor *cur;
	struct kv_val k, v, x = S("x"), nv = S("new");
	uint8_t b;

	for (uint8_t i = 10; i <= 30; i += 10) {
		k = B(&b, i);
		assert_int_equal(kv_put(txn, 0, &k, &x, 0), 0);
	}
	assert_int_equal(kv_cursor_open(txn, 0, &cur), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_FIRST), 0);
	assert_int_equal(*(uint8_t *)k.data, 10);
	k = B(&b, 15);
	assert_int_equal(kv_put(txn, 0, &k, &x, 0), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_NEXT), 0);
	assert_int_equal(*(uint8_t *)k.data, 15);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_NEXT), 0);
	assert_int_equal(*(uint8_t *)k.data, 20);
	assert_int_equal(kv_cursor_del(cur), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_NEXT), 0);
	assert_int_equal(*(uint8_t *)k.data, 30);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_PREV), 0);
	assert_int_equal(*(uint8_t *)k.data, 15);
	k = B(&b, 30);
	assert_int_equal(kv_put(txn, 0, &k, &nv, 0), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_NEXT), 0);
	assert_int_equal(*(uint8_t *)k.data, 30);
	assert_val(&v, "new");
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_NEXT), -ENOENT);
	k = B(&b, 40);
	assert_int_equal(kv_put(txn, 0, &k, &x, 0), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_LAST), 0);
	assert_int_equal(*(uint8_t *)k.data, 40);
	/* A write to another table leaves this walk alone. */
	k = B(&b, 5);
	assert_int_equal(kv_put(txn, 1, &k, &x, 0), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_PREV), 0);
	assert_int_equal(*(uint8_t *)k.data, 30);
	kv_cursor_close(cur);
	assert_int_equal(kv_txn_commit(txn), 0);

	txn = begin(f->kv, false);
	assert_int_equal(kv_cursor_open(txn, 0, &cur), 0);
	{
		static const uint8_t want[] = { 10, 15, 30, 40 };
		int i = 0;

		for (int r = kv_cursor_get(cur, &k, &v, KV_FIRST); r == 0;
		     r = kv_cursor_get(cur, &k, &v, KV_NEXT))
			assert_int_equal(*(uint8_t *)k.data, want[i++]);
		assert_int_equal(i, 4);
	}
	kv_cursor_close(cur);
	kv_txn_abort(txn);
}

/*============================================================ transactions */

static void test_kv_read_txn_is_a_snapshot(void **state)
{
	struct fx *f = *state;
	struct kv_txn *r, *w;
	struct kv_cursor *cur;
	struct kv_val k, v;
	uint64_t n;

	commit_one(f->kv, "k", "A");
	r = begin(f->kv, false);
	assert_get(r, 0, "k", "A");		/* its first read */
	w = begin(f->kv, true);
	put_s(w, 0, "k", "B");
	put_s(w, 0, "k2", "X");
	assert_int_equal(kv_txn_commit(w), 0);
	assert_get(r, 0, "k", "A");
	assert_get(r, 0, "k2", NULL);
	assert_int_equal(kv_count(r, 0, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kv_cursor_open(r, 0, &cur), 0);
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_FIRST), 0);
	assert_val(&v, "A");
	assert_int_equal(kv_cursor_get(cur, &k, &v, KV_NEXT), -ENOENT);
	kv_cursor_close(cur);
	assert_int_equal(kv_txn_commit(r), 0);
	r = begin(f->kv, false);
	assert_get(r, 0, "k", "B");
	assert_get(r, 0, "k2", "X");
	kv_txn_abort(r);
}

static void test_kv_one_thread_holds_many_txns(void **state)
{
	enum { N = 24 };
	struct fx *f = *state;
	struct kv_txn *r[N], *w;

	commit_one(f->kv, "k", "old");
	for (int i = 0; i < N; i++) {
		r[i] = begin(f->kv, false);
		assert_get(r[i], 0, "k", "old");
	}
	/* A write txn beside them: they do not see it, before or after. */
	w = begin(f->kv, true);
	put_s(w, 0, "k", "new");
	assert_get(w, 0, "k", "new");
	for (int i = 0; i < N; i += 2)
		assert_get(r[i], 0, "k", "old");
	assert_int_equal(kv_txn_commit(w), 0);
	for (int i = 0; i < N; i++) {
		assert_get(r[i], 0, "k", "old");
		if (i % 2)
			kv_txn_abort(r[i]);
		else
			assert_int_equal(kv_txn_commit(r[i]), 0);
	}
	r[0] = begin(f->kv, false);
	assert_get(r[0], 0, "k", "new");
	kv_txn_abort(r[0]);
}

struct turn {
	struct kv *kv;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool holding;
	volatile bool committing;
	int err;
};

static void *hold_write_lock(void *arg)
{
	struct turn *t = arg;
	struct kv_txn *txn = NULL;
	struct kv_val k = S("turn"), v = S("first");
	struct timespec ts = { 0, 300 * 1000000 };

	t->err = kv_txn_begin(t->kv, true, &txn);
	pthread_mutex_lock(&t->lock);
	t->holding = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (t->err)
		return NULL;
	nanosleep(&ts, NULL);
	t->err = kv_put(txn, 0, &k, &v, 0);
	t->committing = true;
	if (t->err == 0)
		t->err = kv_txn_commit(txn);
	else
		kv_txn_abort(txn);
	return NULL;
}

static void test_kv_writers_take_turns(void **state)
{
	struct fx *f = *state;
	struct turn t = { .kv = f->kv };
	struct kv_txn *txn;
	pthread_t th;
	int64_t t0, waited;

	pthread_mutex_init(&t.lock, NULL);
	pthread_cond_init(&t.cond, NULL);
	assert_int_equal(pthread_create(&th, NULL, hold_write_lock, &t), 0);
	pthread_mutex_lock(&t.lock);
	while (!t.holding)
		pthread_cond_wait(&t.cond, &t.lock);
	pthread_mutex_unlock(&t.lock);
	t0 = now_ms();
	txn = begin(f->kv, true);
	waited = now_ms() - t0;
	/* It began after the other committed: it sees its write. */
	assert_true(t.committing);
	assert_get(txn, 0, "turn", "first");
	assert_true(waited >= 200);
	put_s(txn, 0, "turn", "second");
	assert_int_equal(kv_txn_commit(txn), 0);
	pthread_join(th, NULL);
	assert_int_equal(t.err, 0);
	pthread_mutex_destroy(&t.lock);
	pthread_cond_destroy(&t.cond);
}

/* Another host's write txn may hold the lock longer than one call's
 * deadline: the next writer waits for it (a few deadlines) rather than
 * failing. */
static void test_kv_writer_waits_past_the_deadline(void **state)
{
	struct fx *f = *state;
	struct turn t;
	struct kv_txn *txn;
	pthread_t th;

	kv_close(f->kv);
	f->kv = NULL;
	setenv("MODELFS_DB_TIMEOUT_MS", "200", 1);
	fx_open(f);
	unsetenv("MODELFS_DB_TIMEOUT_MS");
	memset(&t, 0, sizeof(t));
	t.kv = f->kv;
	pthread_mutex_init(&t.lock, NULL);
	pthread_cond_init(&t.cond, NULL);
	assert_int_equal(pthread_create(&th, NULL, hold_write_lock, &t), 0);
	pthread_mutex_lock(&t.lock);
	while (!t.holding)
		pthread_cond_wait(&t.cond, &t.lock);
	pthread_mutex_unlock(&t.lock);
	txn = begin(f->kv, true);	/* 300 ms > the deadline of 200 */
	assert_get(txn, 0, "turn", "first");
	assert_int_equal(kv_txn_commit(txn), 0);
	pthread_join(th, NULL);
	assert_int_equal(t.err, 0);
	pthread_mutex_destroy(&t.lock);
	pthread_cond_destroy(&t.cond);
}

struct counter {
	struct kv *kv;
	int err;
};

static void *count_up(void *arg)
{
	struct counter *c = arg;

	for (int i = 0; i < 200 && !c->err; i++) {
		struct kv_txn *txn = NULL;
		struct kv_val k = S("n"), v;
		uint64_t n = 0;
		int r = kv_txn_begin(c->kv, true, &txn);

		if (r == 0) {
			r = kv_get(txn, 0, &k, &v);
			if (r == 0 && v.len == sizeof(n))
				memcpy(&n, v.data, sizeof(n));
			else if (r == -ENOENT)
				r = 0;
			n++;
			v.data = &n;
			v.len = sizeof(n);
			if (r == 0)
				r = kv_put(txn, 0, &k, &v, 0);
			if (r == 0)
				r = kv_txn_commit(txn);
			else
				kv_txn_abort(txn);
		}
		c->err = r;
	}
	return NULL;
}

static void test_kv_four_writers_count_to_800(void **state)
{
	struct fx *f = *state;
	struct counter c[4];
	pthread_t th[4];
	struct kv_txn *txn;
	struct kv_val k = S("n"), v;
	uint64_t n;

	for (int i = 0; i < 4; i++) {
		c[i].kv = f->kv;
		c[i].err = 0;
		assert_int_equal(pthread_create(&th[i], NULL, count_up, &c[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(c[i].err, 0);
	}
	txn = begin(f->kv, false);
	assert_int_equal(kv_get(txn, 0, &k, &v), 0);
	assert_int_equal(v.len, sizeof(n));
	memcpy(&n, v.data, sizeof(n));
	assert_int_equal(n, 800);
	kv_txn_abort(txn);
}

static void test_kv_generation_moves_on_commit(void **state)
{
	struct fx *f = *state;
	uint64_t g0 = kv_generation(f->kv), g1, g2;

	commit_one(f->kv, "k", "1");
	g1 = kv_generation(f->kv);
	assert_true(g1 != 0);
	assert_true(g1 != g0);
	commit_one(f->kv, "k", "2");
	g2 = kv_generation(f->kv);
	assert_true(g2 != g1);
}

/*============================================================ opening */

static void test_kv_reopens_a_database(void **state)
{
	struct fx *f = *state;
	struct kv_txn *txn;

	commit_one(f->kv, "k", "kept");
	kv_close(f->kv);
	f->kv = NULL;
	fx_open(f);
	txn = begin(f->kv, false);
	assert_get(txn, 0, "k", "kept");
	kv_txn_abort(txn);
	assert_string_equal(kv_engine(f->kv), E.pg ? "postgresql" : "lmdb");
	assert_non_null(kv_where(f->kv));
	/* No password, ever: and the name of the database is there. */
	if (E.pg)
		assert_non_null(strstr(kv_where(f->kv), "database db"));
}

static void test_kv_tables_keep_their_names_across_reopens(void **state)
{
	static const char *const again[] = { "gamma", "delta", "alpha", "beta" };
	struct fx *f = *state;
	struct kv_txn *txn = begin(f->kv, true);
	uint64_t n;

	for (int i = 0; i < NT; i++)
		put_s(txn, i, "name", names[i]);
	assert_int_equal(kv_txn_commit(txn), 0);
	kv_close(f->kv);
	f->kv = NULL;
	assert_int_equal(kv_open(f->uri, 0, again, 4, &f->kv), 0);
	txn = begin(f->kv, true);
	assert_get(txn, 0, "name", "gamma");
	assert_get(txn, 1, "name", NULL);
	assert_get(txn, 2, "name", "alpha");
	assert_get(txn, 3, "name", "beta");
	put_s(txn, 1, "name", "delta");
	assert_int_equal(kv_txn_commit(txn), 0);
	kv_close(f->kv);
	f->kv = NULL;
	/* Read-only, with a name never made: it reads as empty. */
	{
		static const char *const ro[] = { "beta", "epsilon", "delta" };

		assert_int_equal(kv_open(f->uri, KV_READONLY, ro, 3, &f->kv), 0);
	}
	txn = begin(f->kv, false);
	assert_get(txn, 0, "name", "beta");
	assert_get(txn, 1, "name", NULL);
	assert_int_equal(kv_count(txn, 1, &n), 0);
	assert_int_equal(n, 0);
	{
		struct kv_cursor *cur;
		struct kv_val k, v;

		assert_int_equal(kv_cursor_open(txn, 1, &cur), 0);
		assert_int_equal(kv_cursor_get(cur, &k, &v, KV_FIRST), -ENOENT);
		kv_cursor_close(cur);
	}
	assert_get(txn, 2, "name", "delta");
	kv_txn_abort(txn);
	assert_int_equal(kv_txn_begin(f->kv, true, &txn), -EROFS);
}

static void test_kv_readonly_needs_a_registry(void **state)
{
	struct fx *f = *state;
	struct fx fresh;
	struct kv *kv = NULL;

	if (!E.pg)
		skip();
	(void)f;
	new_db(&fresh);
	assert_int_equal(kv_open(fresh.uri, KV_READONLY, names, NT, &kv), -ENOENT);
	assert_null(kv);
}

static void test_kv_refuses_a_newer_schema(void **state)
{
	struct fx *f = *state;
	const char *db;

	if (!E.pg)
		skip();
	kv_close(f->kv);
	f->kv = NULL;
	db = strstr(f->uri, "///") + 3;
	assert_int_equal(pg(NULL, 0, "sql '%s' '%.*s' 'UPDATE mfs_schema SET version = version + 1'",
			    E.dir, (int)strcspn(db, "?"), db), 0);
	assert_int_equal(kv_open(f->uri, 0, names, NT, &f->kv), -EPROTO);
	assert_int_equal(kv_open(f->uri, KV_READONLY, names, NT, &f->kv), -EPROTO);
	assert_null(f->kv);
	assert_int_equal(pg(NULL, 0, "sql '%s' '%.*s' 'UPDATE mfs_schema SET version = version - 1'",
			    E.dir, (int)strcspn(db, "?"), db), 0);
	fx_open(f);
}

/* A statement the server refuses (here a CHECK added by hand) fails its
 * transaction, every later call in it too; the abort frees the write lock
 * and the connection serves the next transaction. */
static void test_kv_failed_statement_fails_its_txn(void **state)
{
	struct fx *f = *state;
	struct kv_txn *txn;
	struct kv_val k = S("k"), v = S("far too long a value"), got;
	const char *db;

	if (!E.pg)
		skip();
	db = strstr(f->uri, "///") + 3;
	assert_int_equal(pg(NULL, 0, "sql '%s' '%.*s' 'ALTER TABLE mfs_kv ADD CHECK (length(v) < 10)'",
			    E.dir, (int)strcspn(db, "?"), db), 0);
	for (int i = 0; i < 3; i++) {
		txn = begin(f->kv, true);
		put_s(txn, 0, "short", "ok");
		assert_int_equal(kv_put(txn, 0, &k, &v, 0), -EIO);
		assert_int_equal(kv_get(txn, 0, &k, &got), -EIO);
		assert_int_equal(kv_txn_commit(txn), -EIO);
	}
	txn = begin(f->kv, true);
	assert_get(txn, 0, "short", NULL);
	put_s(txn, 0, "short", "ok");
	assert_int_equal(kv_txn_commit(txn), 0);
	txn = begin(f->kv, false);
	assert_get(txn, 0, "short", "ok");
	kv_txn_abort(txn);
}

/*============================================================ outages */

/* r: what kv_txn_begin(write), or a read txn's first get, says. */
static int try_write(struct kv *kv)
{
	struct kv_txn *txn = NULL;
	int r = kv_txn_begin(kv, true, &txn);

	if (r == 0)
		kv_txn_abort(txn);
	return r;
}

static int try_read(struct kv *kv)
{
	struct kv_txn *txn = NULL;
	struct kv_val k = S("k"), v;
	int r = kv_txn_begin(kv, false, &txn);

	if (r == 0) {
		r = kv_get(txn, 0, &k, &v);
		kv_txn_abort(txn);
	}
	return r;
}

#define DEADLINE_MS 1000

#define FAST_FAIL_MS 1000

static void test_kv_survives_a_database_outage(void **state)
{
	struct fx *f = *state;
	struct kv_txn *txn;
	int64_t t0, took;

	if (!E.pg)
		skip();
	kv_close(f->kv);
	setenv("MODELFS_DB_TIMEOUT_MS", "1000", 1);
	f->kv = NULL;
	fx_open(f);
	unsetenv("MODELFS_DB_TIMEOUT_MS");
	commit_one(f->kv, "k", "before");

	/* Stopped: the socket is gone; no wait at all. */
	assert_int_equal(pg(NULL, 0, "stop '%s'", E.dir), 0);
	t0 = now_ms();
	assert_int_equal(try_write(f->kv), -EIO);
	assert_int_equal(try_read(f->kv), -EIO);
	took = now_ms() - t0;
	assert_true(took < 2 * DEADLINE_MS);
	assert_int_equal(kv_generation(f->kv), 0);
	assert_int_equal(pg(NULL, 0, "restart '%s'", E.dir), 0);
	usleep(FAST_FAIL_MS * 1000);	/* kv.h: calls fail at once that long */
	txn = begin(f->kv, true);
	assert_get(txn, 0, "k", "before");
	put_s(txn, 0, "k", "after restart");
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_true(kv_generation(f->kv) != 0);

	/* Hung (SIGSTOP): a pooled connection and a new one each wait out
	 * the deadline, no longer. */
	assert_int_equal(pg(NULL, 0, "pause '%s'", E.dir), 0);
	t0 = now_ms();
	assert_int_equal(try_write(f->kv), -EIO);
	took = now_ms() - t0;
	assert_true(took >= DEADLINE_MS - 50);
	assert_true(took < 3 * DEADLINE_MS);
	t0 = now_ms();
	assert_int_equal(try_read(f->kv), -EIO);
	took = now_ms() - t0;
	assert_true(took < 3 * DEADLINE_MS);
	assert_int_equal(pg(NULL, 0, "resume '%s'", E.dir), 0);
	usleep(FAST_FAIL_MS * 1000);
	txn = begin(f->kv, false);
	assert_get(txn, 0, "k", "after restart");
	kv_txn_abort(txn);
	commit_one(f->kv, "k", "after resume");
}

/*============================================================ copies */

/* Every key and value of every table, as one string (for comparing). */
static char *dump(struct kv *kv)
{
	struct kv_txn *txn = begin(kv, false);
	size_t len = 0, cap = 1 << 16;
	char *out = malloc(cap);

	assert_non_null(out);
	for (int t = 0; t < NT; t++) {
		struct kv_cursor *cur;
		struct kv_val k, v;

		assert_int_equal(kv_cursor_open(txn, t, &cur), 0);
		while (kv_cursor_get(cur, &k, &v, KV_NEXT) == 0) {
			while (len + k.len + v.len + 32 > cap)
				assert_non_null(out = realloc(out, cap *= 2));
			len += (size_t)sprintf(out + len, "%d:%zu:", t, k.len);
			memcpy(out + len, k.data, k.len);
			len += k.len;
			len += (size_t)sprintf(out + len, ":%zu:", v.len);
			memcpy(out + len, v.data, v.len);
			len += v.len;
		}
		kv_cursor_close(cur);
	}
	kv_txn_abort(txn);
	out[len] = '\0';
	return out;
}

/* kv.h: kv_copy_to() copies every table byte for byte, from either engine
 * into either, and only into an empty database. */
static void test_kv_copies_a_database_between_engines(void **state)
{
	struct fx *f = *state;
	struct kv *lm = NULL, *back = NULL;
	struct kv_txn *txn = begin(f->kv, true);
	struct fx other;
	char dir[128], uri[160], *a, *b, *c;
	uint8_t kb[4], bin[300];

	for (uint32_t i = 0; i < 500; i++) {
		struct kv_val k = key4(kb, i * 7919), v = { sizeof(bin), bin };

		for (size_t j = 0; j < sizeof(bin); j++)
			bin[j] = (uint8_t)(i + j);	/* NULs and high bytes too */
		assert_int_equal(kv_put(txn, (int)(i % NT), &k, &v, 0), 0);
	}
	put_s(txn, 2, "empty", "");
	assert_int_equal(kv_txn_commit(txn), 0);

	snprintf(dir, sizeof(dir), "%s/copy-%d", E.dir, ++E.made);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(uri, sizeof(uri), "lmdb:%s", dir);
	assert_int_equal(kv_open(uri, 0, names, NT, &lm), 0);
	assert_int_equal(kv_copy_to(f->kv, lm), 0);
	new_db(&other);
	assert_int_equal(kv_open(other.uri, 0, names, NT, &back), 0);
	assert_int_equal(kv_copy_to(lm, back), 0);
	a = dump(f->kv);
	b = dump(lm);
	c = dump(back);
	assert_string_equal(a, b);
	assert_string_equal(a, c);
	/* Only into an empty one; a refusal changes nothing. */
	assert_int_equal(kv_copy_to(f->kv, back), -EEXIST);
	free(c);
	c = dump(back);
	assert_string_equal(a, c);
	free(a);
	free(b);
	free(c);
	kv_close(lm);
	kv_close(back);
}

/*============================================================ change notes */

/* What a watcher heard: notes back to back, and how many "anything"s. */
struct heard {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char buf[16384];
	size_t len;
	int calls, anything;
	pthread_t thread;		/* the last caller */
};

static void on_notes(void *ctx, const void *notes, size_t len)
{
	struct heard *h = ctx;

	pthread_mutex_lock(&h->lock);
	h->calls++;
	h->thread = pthread_self();
	if (!notes)
		h->anything++;
	else if (h->len + len <= sizeof(h->buf)) {
		memcpy(h->buf + h->len, notes, len);
		h->len += len;
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static void heard_init(struct heard *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
}

/* Wait up to 20 s (valgrind, a busy machine) for h to have been called
 * calls times. */
static bool heard_wait(struct heard *h, int calls)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&h->lock);
	while (h->calls < calls &&
	       pthread_cond_timedwait(&h->cond, &h->lock, &until) == 0)
		;
	ok = h->calls >= calls;
	pthread_mutex_unlock(&h->lock);
	return ok;
}

static void note_s(struct kv_txn *txn, const char *s)
{
	assert_int_equal(kv_txn_note(txn, s, strlen(s)), 0);
}

/* kv.h: a commit's notes reach this process's watcher before
 * kv_txn_commit() returns, in the committing thread; an abort's and a
 * read transaction's never; too many become "anything"; a write without
 * notes is told with none. */
static void test_kv_notes_reach_the_committer_at_once(void **state)
{
	struct fx *f = *state;
	struct heard h;
	struct kv_txn *txn;
	static char big[KV_NOTES_MAX + 1];

	heard_init(&h);
	assert_int_equal(kv_watch(f->kv, on_notes, &h), 0);
	txn = begin(f->kv, true);
	put_s(txn, 0, "a", "1");
	note_s(txn, "one;");
	note_s(txn, "two;");
	assert_int_equal(h.calls, 0);		/* not before the commit */
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(h.calls, 1);
	assert_true(pthread_equal(h.thread, pthread_self()));
	assert_int_equal(h.len, 8);
	assert_memory_equal(h.buf, "one;two;", 8);

	txn = begin(f->kv, true);
	put_s(txn, 0, "b", "2");
	note_s(txn, "dropped;");
	kv_txn_abort(txn);
	txn = begin(f->kv, false);
	assert_int_equal(kv_txn_note(txn, "x", 1), -EINVAL);
	kv_txn_abort(txn);
	assert_int_equal(h.calls, 1);

	memset(big, 'z', sizeof(big));
	txn = begin(f->kv, true);
	put_s(txn, 0, "c", "3");
	note_s(txn, "small;");
	assert_int_equal(kv_txn_note(txn, big, sizeof(big)), 0);
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(h.calls, 2);
	assert_int_equal(h.anything, 1);
	assert_int_equal(h.len, 8);

	/* A write without notes is told too, without notes. */
	txn = begin(f->kv, true);
	put_s(txn, 0, "d", "4");
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_int_equal(h.calls, 3);
	assert_int_equal(h.anything, 1);
	assert_int_equal(h.len, 8);
	assert_int_equal(kv_watch(f->kv, NULL, NULL), 0);
	pthread_mutex_destroy(&h.lock);
	pthread_cond_destroy(&h.cond);
}

/* PostgreSQL: another process's (here: another open's) commits reach the
 * watcher through LISTEN, in commit order, and only once; after the server
 * went away and came back the watcher hears "anything may have changed". */
static void test_kv_notes_reach_other_hosts(void **state)
{
	struct fx *f = *state;
	struct heard mine, theirs;
	struct kv *other = NULL;
	struct kv_txn *txn;
	char want[64];

	if (!E.pg)
		skip();
	heard_init(&mine);
	heard_init(&theirs);
	assert_int_equal(kv_open(f->uri, 0, names, NT, &other), 0);
	assert_int_equal(kv_watch(f->kv, on_notes, &mine), 0);
	assert_int_equal(kv_watch(other, on_notes, &theirs), 0);
	/* kv_watch() returned listening: the very next commit is heard,
	 * and nobody is told "anything". */
	for (int i = 0; i < 3; i++) {
		char n[16];

		txn = begin(f->kv, true);
		put_s(txn, 0, "k", "v");
		snprintf(n, sizeof(n), "n%d;", i);
		note_s(txn, n);
		assert_int_equal(kv_txn_commit(txn), 0);
	}
	assert_true(heard_wait(&theirs, 3));
	snprintf(want, sizeof(want), "n0;n1;n2;");
	assert_int_equal(theirs.len, strlen(want));
	assert_memory_equal(theirs.buf, want, strlen(want));
	assert_false(pthread_equal(theirs.thread, pthread_self()));
	/* Our own commits: told once, at the commit, not again by LISTEN. */
	usleep(200000);
	assert_int_equal(mine.calls, 3);
	assert_int_equal(mine.anything, 0);

	/* An outage: the listener reconnects and says anything changed. */
	assert_int_equal(pg(NULL, 0, "restart '%s'", E.dir), 0);
	assert_true(heard_wait(&theirs, 4));
	assert_int_equal(theirs.anything, 1);
	txn = begin(f->kv, true);
	put_s(txn, 0, "k", "after");
	note_s(txn, "after;");
	assert_int_equal(kv_txn_commit(txn), 0);
	assert_true(heard_wait(&theirs, 5));
	assert_memory_equal(theirs.buf + theirs.len - 6, "after;", 6);
	{
		/* A commit without notes is told without notes (so the
		 * watcher knows nothing was said of it), and counted: the
		 * generation moves without asking the server. */
		uint64_t g0 = kv_generation(other);
		size_t len0 = theirs.len;
		int64_t t0 = now_ms();

		assert_true(g0 != 0);
		commit_one(f->kv, "plain", "x");
		while (kv_generation(other) == g0 && now_ms() - t0 < 5000)
			usleep(1000);
		assert_true(kv_generation(other) != g0);
		assert_true(heard_wait(&theirs, 6));
		assert_int_equal(theirs.calls, 6);
		assert_int_equal(theirs.anything, 1);
		assert_int_equal(theirs.len, len0);
	}
	kv_close(other);
	assert_int_equal(kv_watch(f->kv, NULL, NULL), 0);
}

/*============================================================ costs */

static void test_kv_costs(void **state)
{
	enum { N = 200, KEYS = 10000 };
	struct fx *f = *state;
	struct kv_txn *txn;
	struct kv_cursor *cur;
	struct kv_val k, v;
	struct timespec a, b;
	double gen_us, get_us, put_us, load_ms, walk_ms;
	uint8_t kb[4];
	int i, r;

	commit_one(f->kv, "k", "v");
	/* PostgreSQL: one round trip on a pooled connection. */
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < N; i++)
		assert_true(kv_generation(f->kv) != 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	gen_us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / N;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < N; i++) {
		txn = begin(f->kv, false);
		assert_get(txn, 0, "k", "v");
		assert_int_equal(kv_txn_commit(txn), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	get_us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / N;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < N; i++)
		commit_one(f->kv, "k", "v");
	clock_gettime(CLOCK_MONOTONIC, &b);
	put_us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / N;

	clock_gettime(CLOCK_MONOTONIC, &a);
	txn = begin(f->kv, true);
	for (i = 0; i < KEYS; i++) {
		k = key4(kb, (uint32_t)i);
		v = S("a value of some thirty bytes..");
		assert_int_equal(kv_put(txn, 1, &k, &v, 0), 0);
	}
	assert_int_equal(kv_txn_commit(txn), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	load_ms = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e6;
	clock_gettime(CLOCK_MONOTONIC, &a);
	txn = begin(f->kv, false);
	assert_int_equal(kv_cursor_open(txn, 1, &cur), 0);
	for (i = 0; (r = kv_cursor_get(cur, &k, &v, i ? KV_NEXT : KV_FIRST)) == 0; i++)
		;
	assert_int_equal(r, -ENOENT);
	assert_int_equal(i, KEYS);
	kv_cursor_close(cur);
	kv_txn_abort(txn);
	clock_gettime(CLOCK_MONOTONIC, &b);
	walk_ms = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e6;
	print_message("%s: kv_generation %.1f us; read txn with one get %.1f us; "
		      "write txn with one put and commit %.1f us; %d puts in one txn %.1f ms; "
		      "walk of %d keys %.1f ms\n",
		      kv_engine(f->kv), gen_us, get_us, put_us, KEYS, load_ms, KEYS, walk_ms);
}

/*============================================================ main */

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

static const struct CMUnitTest tests[] = {
	T(test_kv_gets_puts_and_deletes),
	T(test_kv_refuses_empty_and_long_keys),
	T(test_kv_abort_discards_writes),
	T(test_kv_counts_keys),
	T(test_kv_orders_keys_by_bytes_then_length),
	T(test_kv_cursor_walks_5000_keys),
	T(test_kv_cursor_is_unpositioned_after_enoent),
	T(test_kv_cursor_sees_its_txn_writes),
	T(test_kv_read_txn_is_a_snapshot),
	T(test_kv_one_thread_holds_many_txns),
	T(test_kv_writers_take_turns),
	T(test_kv_writer_waits_past_the_deadline),
	T(test_kv_four_writers_count_to_800),
	T(test_kv_generation_moves_on_commit),
	T(test_kv_reopens_a_database),
	T(test_kv_tables_keep_their_names_across_reopens),
	T(test_kv_readonly_needs_a_registry),
	T(test_kv_refuses_a_newer_schema),
	T(test_kv_failed_statement_fails_its_txn),
	T(test_kv_survives_a_database_outage),
	T(test_kv_copies_a_database_between_engines),
	T(test_kv_notes_reach_the_committer_at_once),
	T(test_kv_notes_reach_other_hosts),
	T(test_kv_costs),
};

/* Is a PostgreSQL server installed (what pg.sh looks for)? */
static bool have_pg(void)
{
	glob_t g;
	bool yes = glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0;

	if (yes)
		globfree(&g);
	return yes || system("pg_config --bindir >/dev/null 2>&1") == 0;
}

int main(void)
{
	const char *want = getenv("MFS_TEST_PG");
	int failed;

	mfs_log_init("test_kv", 0, getenv("MFS_TEST_VERBOSE") ? MFS_LOG_DEBUG : MFS_LOG_ERR);
	failed = cmocka_run_group_tests_name("lmdb", tests, group_lmdb, group_end);
	if (want && !strcmp(want, "0")) {
		print_message("MFS_TEST_PG=0: PostgreSQL skipped\n");
	} else if (!have_pg()) {
		print_message("no PostgreSQL server installed: PostgreSQL skipped\n");
		if (want && !strcmp(want, "1"))
			failed++;
	} else {
		failed += cmocka_run_group_tests_name("postgresql", tests, group_pg, group_end);
	}
	return failed ? 1 : 0;
}
