/* vfile.c - virtual files: one row per file in a const table */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "alias.h"
#include "promote.h"
#include "audit.h"
#include "doc.h"
#include "model.h"
#include "policy.h"
#include "stream.h"
#include "version.h"

/*
 * A virtual document is rendered whole at open into a byte-stable snapshot
 * (so stat size equals read size) by one function of the store; a log
 * (audit.jsonl, history.jsonl) is opened as a stream of the store, a
 * snapshot read by offset. Writable documents are buffered by file.c and
 * handed back to the store at close.
 */

typedef int (*render_fn)(struct mfsd *d, const struct mfs_caller *c, uint64_t id, char **ret,
			 size_t *ret_len);
typedef int (*stream_fn)(struct mfsd *d, const struct mfs_caller *c, uint64_t id,
			 struct mfs_stream **ret, uint64_t *ret_size);

static int r_mmeta(struct mfsd *d, const struct mfs_caller *c, uint64_t id, char **ret, size_t *len)
{
	return mfs_model_doc_get(d->st, id, MFS_DOC_METADATA, ret, len);
}

static int r_policy(struct mfsd *d, const struct mfs_caller *c, uint64_t id, char **ret, size_t *len)
{
	return mfs_model_doc_get(d->st, id, MFS_DOC_POLICY, ret, len);
}

/* The logs that grow without end are streams: read by offset, never
 * rendered whole (stream.h). */
static int s_history(struct mfsd *d, const struct mfs_caller *c, uint64_t id,
		     struct mfs_stream **ret, uint64_t *size)
{
	return mfs_alias_history_stream_open(d->st, id, ret, size);
}

static int s_audit(struct mfsd *d, const struct mfs_caller *c, uint64_t id,
		   struct mfs_stream **ret, uint64_t *size)
{
	return mfs_audit_stream_open(d->st, c, ret, size);
}

static int r_vmeta(struct mfsd *d, const struct mfs_caller *c, uint64_t id, char **ret, size_t *len)
{
	return mfs_version_render_metadata(d->st, id, ret, len);
}

static int r_lineage(struct mfsd *d, const struct mfs_caller *c, uint64_t id, char **ret, size_t *len)
{
	return mfs_version_render_lineage(d->st, c, id, ret, len);
}

static int r_index(struct mfsd *d, const struct mfs_caller *c, uint64_t id, char **ret, size_t *len)
{
	return mfs_model_index_render(d->st, c, ret, len);
}

static const struct vfile {
	enum ino_kind kind;
	uint64_t fixed;		/* K_FIXED rows: the inode */
	const char *name;
	render_fn render;	/* a document: rendered whole */
	stream_fn stream;	/* or a log: read by offset */
	/* Reading it reads the whole registry, which leaves its pages
	 * mapped: give them back after, so the daemon's size does not grow
	 * with the registry. */
	bool trim;
} vfiles[] = {
	{ K_FIXED, INO_AUDIT, "audit.jsonl", NULL, s_audit, true },
	{ K_FIXED, INO_INDEX, "index.json", r_index, NULL, true },
	{ K_MMETA, 0, "metadata.json", r_mmeta, NULL, false },
	{ K_POLICY, 0, "policy.json", r_policy, NULL, false },
	{ K_HISTORY, 0, "history.jsonl", NULL, s_history, false },
	{ K_VMETA, 0, "metadata.json", r_vmeta, NULL, false },
	{ K_VLINEAGE, 0, "lineage.json", r_lineage, NULL, false },
};

static const struct vfile *vfile_of(uint64_t ino)
{
	enum ino_kind k = ino_kind(ino);

	for (size_t i = 0; i < sizeof(vfiles) / sizeof(vfiles[0]); i++)
		if (vfiles[i].kind == k && (k != K_FIXED || vfiles[i].fixed == ino))
			return &vfiles[i];
	return NULL;
}

bool vfile_is_stream(uint64_t ino)
{
	const struct vfile *v = vfile_of(ino);

	return v && v->stream;
}

void vfile_done(struct mfsd *d, uint64_t ino)
{
	const struct vfile *v = vfile_of(ino);

	if (v && v->trim)
		mfs_store_trim(d->st);
}

int vfile_render(struct mfsd *d, const struct mfs_caller *c, uint64_t ino, char **ret,
		 size_t *ret_len)
{
	const struct vfile *v = vfile_of(ino);
	int r;

	if (!v || !v->render)
		return -ENOENT;
	r = v->render(d, c, ino_id(ino), ret, ret_len);
	vfile_done(d, ino);
	return r;
}

int vfile_stream(struct mfsd *d, const struct mfs_caller *c, uint64_t ino,
		 struct mfs_stream **ret, uint64_t *ret_size)
{
	const struct vfile *v = vfile_of(ino);
	int r;

	if (!v || !v->stream)
		return -ENOENT;
	r = v->stream(d, c, ino_id(ino), ret, ret_size);	/* a pass over it */
	vfile_done(d, ino);
	return r;
}

int vfile_size(struct mfsd *d, uint64_t ino, size_t *ret)
{
	/* Read before rendering: a commit during it makes the entry stale,
	 * never wrong. Renderings depend on the database alone. */
	uint64_t gen = mfs_store_generation(d->st);
	/* Fibonacci hashing: a version's metadata.json and lineage.json
	 * differ only in the kind bits, and must not share a slot. */
	struct vsize *slot = d->vsize ?
		&d->vsize[(ino * 0x9E3779B97F4A7C15ull) >> 48 & (VSIZE_SLOTS - 1)] : NULL;
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (slot && gen) {
		pthread_mutex_lock(&d->lock);
		if (slot->ino == ino && slot->gen == gen) {
			*ret = slot->len;
			pthread_mutex_unlock(&d->lock);
			return 0;
		}
		pthread_mutex_unlock(&d->lock);
	}
	if (vfile_is_stream(ino)) {
		/* A log's size, counted without holding it. */
		struct mfs_stream *s = NULL;
		uint64_t size = 0;

		r = vfile_stream(d, NULL, ino, &s, &size);
		mfs_stream_close(s);
		len = (size_t)size;
	} else {
		r = vfile_render(d, NULL, ino, &buf, &len);
	}
	if (r < 0)
		return r;
	free(buf);
	if (slot) {
		pthread_mutex_lock(&d->lock);
		slot->ino = ino;
		slot->gen = gen;
		slot->len = len;
		pthread_mutex_unlock(&d->lock);
	}
	*ret = len;
	return 0;
}

bool vfile_writable(struct mfsd *d, uint64_t ino)
{
	struct mfs_version_info vi;

	switch (ino_kind(ino)) {
	case K_MMETA:
	case K_POLICY:
		return true;
	case K_VMETA:
		return mfs_version_get(d->st, ino_id(ino), &vi) == 0 &&
		       vi.state == MFS_V_DRAFT;
	default:
		return false;
	}
}

int vfile_store(struct mfsd *d, const struct mfs_caller *c, uint64_t ino,
		const char *buf, size_t len)
{
	switch (ino_kind(ino)) {
	case K_MMETA:
		return mfs_model_doc_set(d->st, c, ino_id(ino), MFS_DOC_METADATA, buf, len);
	case K_POLICY:
		if (ino == INO_RPOLICY)
			return mfs_policy_registry_set(d->st, c, buf, len);
		return mfs_model_doc_set(d->st, c, ino_id(ino), MFS_DOC_POLICY, buf, len);
	case K_VMETA:
		return mfs_version_meta_set(d->st, c, ino_id(ino), buf, len);
	default:
		return -EPERM;
	}
}
