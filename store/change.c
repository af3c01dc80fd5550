/* change.c - notes of what a commit changed, and their delivery (change.h) */
#include <errno.h>
#include <string.h>

#include "objects.h"
#include "change.h"

/*
 * A note is kind (1 byte), model id and version id (8 bytes each, big
 * endian), then the name's length (1 byte) and its bytes; a transaction's
 * notes lie back to back in its kv notes (kv_txn_note()).
 */

#define NOTE_HEAD 18

int store_note(struct kv_txn *txn, enum mfs_change_kind kind, uint64_t model_id,
	       uint64_t vid, const char *name)
{
	uint8_t b[NOTE_HEAD + 255];
	size_t len = name ? strlen(name) : 0;

	if (len > 255)
		len = 255;
	b[0] = (uint8_t)kind;
	put_be64(b + 1, model_id);
	put_be64(b + 9, vid);
	b[17] = (uint8_t)len;
	if (len)
		memcpy(b + NOTE_HEAD, name, len);
	return kv_txn_note(txn, b, NOTE_HEAD + len);
}

static void told(void *ctx, const void *notes, size_t len)
{
	struct mfs_store *st = ctx;
	const uint8_t *p = notes, *end = p + len;
	mfs_change_fn fn = __atomic_load_n(&st->change_fn, __ATOMIC_ACQUIRE);
	bool docs_said = false;
	struct mfs_change c;

	if (!fn)
		return;		/* stopped meanwhile */
	if (!notes) {
		memset(&c, 0, sizeof(c));
		fn(st->change_ctx, &c);
		return;
	}
	while (end - p >= NOTE_HEAD && end - p >= NOTE_HEAD + p[17]) {
		memset(&c, 0, sizeof(c));
		c.kind = (enum mfs_change_kind)p[0];
		c.model_id = get_be64(p + 1);
		c.vid = get_be64(p + 9);
		memcpy(c.name, p + NOTE_HEAD, p[17]);
		p += NOTE_HEAD + p[17];
		if (c.kind == MFS_CHANGE_DOCS || c.kind == MFS_CHANGE_NO_DOCS)
			docs_said = true;
		if (c.kind == MFS_CHANGE_NO_DOCS)
			continue;
		if (c.kind >= MFS_CHANGE_DOCS_ALL)
			c.kind = MFS_CHANGE_ANY;	/* a newer binary's: be safe */
		fn(st->change_ctx, &c);
	}
	if (p != end) {
		memset(&c, 0, sizeof(c));	/* cut short: not ours to read */
		fn(st->change_ctx, &c);
		return;
	}
	if (!docs_said) {
		/* A writer that did not say what it changed. */
		memset(&c, 0, sizeof(c));
		c.kind = MFS_CHANGE_DOCS_ALL;
		fn(st->change_ctx, &c);
	}
}

int mfs_store_watch(struct mfs_store *st, mfs_change_fn fn, void *ctx)
{
	int r;

	if (!fn) {
		r = kv_watch(st->kv, NULL, NULL);	/* no one tells after */
		__atomic_store_n(&st->change_fn, NULL, __ATOMIC_RELEASE);
		return r;
	}
	st->change_ctx = ctx;
	__atomic_store_n(&st->change_fn, fn, __ATOMIC_RELEASE);
	r = kv_watch(st->kv, told, st);
	if (r < 0)
		__atomic_store_n(&st->change_fn, NULL, __ATOMIC_RELEASE);
	return r;
}
