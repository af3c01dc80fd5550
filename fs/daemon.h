/* daemon.h - struct mfsd, inode numbers and the helpers the handlers share */
#ifndef MFSD_DAEMON_H
#define MFSD_DAEMON_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store.h"
#include "hash.h"
#include "version.h"

/*
 * Inode numbers are stable ids from the store with a kind in the top four
 * bits, so almost nothing per inode lives in the daemon. The exceptions are
 * draft files (an O_PATH fd on the real file, like passthrough_ll) and
 * alias symlinks (their name), held in the node table of inode.c while the
 * kernel remembers them.
 */

enum ino_kind {
	K_FIXED = 0,	/* 1 root, 2 models/, 3 audit.jsonl, 4 index.json */
	K_MODEL,	/* models/<m>/ (model id) */
	K_VERSIONS,	/* models/<m>/versions/ (model id) */
	K_MMETA,	/* models/<m>/metadata.json (model id) */
	K_POLICY,	/* models/<m>/policy.json (model id) */
	K_HISTORY,	/* models/<m>/history.jsonl (model id) */
	K_LATEST,	/* models/<m>/latest (model id) */
	K_ALIAS,	/* models/<m>/<alias> (node table) */
	K_VERSION,	/* versions/<v>/ (version id) */
	K_VMETA,	/* versions/<v>/metadata.json (version id) */
	K_VLINEAGE,	/* versions/<v>/lineage.json (version id) */
	K_DISCARD,	/* a created lineage.json in a draft (version id) */
	K_SENTRY,	/* a file or dir of a sealed version (entry id) */
	K_DRAFT,	/* a file or dir inside a draft (backing st_ino) */
	K_VIEW,		/* models/<m>/@<time>/, serving/ and what is in them
			 * (vtab.c table) */
};

#define INO_ROOT 1
#define INO_MODELS 2
#define INO_AUDIT 3
#define INO_INDEX 4
#define INO_SERVING 5	/* serving/: not listed, there when named (serve.c) */
/* MNT/policy.json, the registry's default policy: K_POLICY of model id 0
 * (model ids start at 1). */
#define INO_RPOLICY ino_make(K_POLICY, 0)

static inline uint64_t ino_make(enum ino_kind k, uint64_t id)
{
	return (uint64_t)k << 60 | (id & ((1ULL << 60) - 1));
}

static inline enum ino_kind ino_kind(uint64_t ino)
{
	return ino == FUSE_ROOT_ID ? K_FIXED : (enum ino_kind)(ino >> 60);
}

static inline uint64_t ino_id(uint64_t ino)
{
	return ino & ((1ULL << 60) - 1);
}

/* A draft file or directory, or an alias name, the kernel knows about. */
struct node {
	uint64_t ino;			/* read-only after creation */
	enum ino_kind kind;		/* K_DRAFT or K_ALIAS; read-only */
	uint64_t model_id, vid;		/* read-only after creation */
	char *name;			/* alias name; read-only */
	int fd;				/* K_DRAFT: O_PATH fd; read-only */
	uint64_t nlookup, nopen;	/* protected by d->lock */
	struct node *next;		/* hash chain; protected by d->lock */
	/* Inline hashing of a draft file written in order from offset 0. */
	pthread_mutex_t hlock;
	struct mfs_hash *h;		/* protected by hlock */
	uint64_t h_off;			/* bytes hashed; protected by hlock */
	bool h_valid;			/* protected by hlock */
	bool h_never;			/* a passthrough writer opened it; hlock */
	/* Hashed after its last writer closed it (prehash.c), for the
	 * seal: valid while wgen stays and no writer opens it. */
	uint32_t wopen;			/* open writers; hlock */
	uint32_t wgen;			/* bumped when its bytes may change; hlock */
	bool dg_valid;			/* hlock */
	struct mfs_digest dg;		/* hlock */
	uint64_t dg_size;		/* hlock */
	/* Bumped each time its bytes may have stopped being a blob's (an
	 * instant copy broken): readers of the blob reopen the file. */
	uint32_t unrefs;		/* atomic */
};

/* Per-draft state: writers for the seal's wait, activity for seal_idle. */
struct vstate {
	uint64_t vid;
	int writers;			/* protected by d->lock */
	bool sealing;			/* protected by d->lock */
	int64_t last_ns;		/* protected by d->lock */
	struct vstate *next;		/* protected by d->lock */
};

/* A count per key (a pid, a version id) in a small hash table of
 * KCOUNT_BUCKETS chains; file.c kcount_add()/kcount_has(). */
struct kcount {
	uint64_t key;
	int n;
	struct kcount *next;
};

#define KCOUNT_BUCKETS 256

struct pt;

struct mfsd {
	struct mfs_store *st;		/* read-only after start */
	struct pt *pt;			/* passthrough.h; read-only after start */
	struct fuse_session *se;	/* read-only after start */
	char *mount;			/* read-only after start */
	char *store_dir;		/* read-only after start */
	int seal_idle;			/* seconds, 0: off; read-only */
	bool daemon_root;		/* euid 0: can chown; read-only */
	uid_t daemon_uid;		/* its euid; read-only */
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* writers dropped; with lock */
	struct node *nodes[4096];	/* protected by lock */
	struct vstate *vs;		/* protected by lock */
	bool stopping;			/* protected by lock */
	int forgetting;			/* forget_*() threads; lock, cond */
	int64_t start_ns;		/* read-only after start */
	/* Sizes of virtual files by store generation (vfile_size): enough
	 * slots for the documents of ~30,000 versions walked by ls -lR (1.5 MiB). */
	struct vsize {
		uint64_t ino, gen;
		size_t len;
	} *vsize;			/* VSIZE_SLOTS; protected by lock */
	/* Processes reading a sealed file (file.c: a copy from it into a
	 * draft may be instant, which a passthrough writer would defeat). */
	struct kcount *rpids[KCOUNT_BUCKETS];	/* pids; protected by lock */
	/* Open handles of sealed files per version (gc.c: gc skips them). */
	struct kcount *vopen[KCOUNT_BUCKETS];	/* vids; protected by lock */
	/* The last gc report of each recent caller (gc.c). */
	struct gcrep {
		pid_t pid;
		uid_t uid;		/* a reused pid is another user's */
		char *json;
		size_t len;
		struct gcrep *next;
	} *gcreps;			/* protected by lock */
	struct vnode *views;		/* view inodes (vtab.c); protected by lock */
	struct dirsnap *snaps;		/* open directories' listings (dir.c); lock */
	uint64_t view_last;		/* last K_VIEW id given; lock */
	struct served *served;		/* versions listed as latest (serve.c); lock */
	/* Virtual documents whose attributes the kernel may hold (attr.c):
	 * an open-addressed set of inode numbers, 0 free. */
	pthread_mutex_t docs_lock;
	uint64_t *docs;			/* docs_cap slots; docs_lock */
	size_t docs_cap, docs_n;	/* docs_lock */
	struct prehash *ph;		/* prehash.h; read-only after start */
};

#define VSIZE_SLOTS 65536

static inline struct mfsd *daemon_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* attr.c: may c access ino for mask (R_OK|W_OK|X_OK, as access(2))?
 * POSIX rules on the recorded owner and mode; W_OK on sealed content is
 * -EROFS for everyone. Returns 0, -EACCES, -EROFS or another -errno. */
int fs_may(struct mfsd *d, const struct mfs_caller *c, uint64_t ino, int mask);
void attr_access(fuse_req_t req, fuse_ino_t ino, int mask);

/* attr.c: the attributes of virtual documents, cached by the kernel and
 * forgotten when a commit changes them (inode.c fs_change()). Forget the
 * documents of version vid (0: none), of model model_id (0: none) and the
 * registry's. Threads: any; takes docs_lock, never d->lock. */
void docs_forget(struct mfsd *d, uint64_t model_id, uint64_t vid);
/* Whether the kernel holds ino's attributes for long (a GETATTR reply):
 * a listing then sends its name alone, which leaves them as they are,
 * instead of attributes with no timeout, which would make the next stat
 * ask again. Threads: any; takes docs_lock. */
bool docs_held(struct mfsd *d, uint64_t ino);
/* Forget every virtual document's attributes. */
void docs_forget_all(struct mfsd *d);
/* Free the set (at unmount). */
void docs_free(struct mfsd *d);

/* The caller of a request, for the store's rules and the audit trail. */
struct mfs_caller caller_of(fuse_req_t req);

/* ---- inode.c: the node table ---- */

/* Find or make the node for a draft file at (dirfd, name); takes one
 * lookup reference. Returns 0, or -errno. Threads: takes d->lock. */
int node_draft_get(struct mfsd *d, const struct mfs_caller *c, uint64_t model_id,
		   uint64_t vid, int dirfd, const char *name, struct stat *ret_sb,
		   struct node **ret);
/* Find or make the node for alias (model_id, name); takes one lookup ref. */
int node_alias_get(struct mfsd *d, uint64_t model_id, const char *name,
		   struct node **ret);
/* The inode number an alias most likely has (readdir's hint). */
uint64_t node_alias_ino(uint64_t model_id, const char *name);
/* The node of ino, or NULL. Borrowed while the kernel holds a lookup. */
struct node *node_find(struct mfsd *d, uint64_t ino);
void node_forget(struct mfsd *d, uint64_t ino, uint64_t n);
void node_open_ref(struct mfsd *d, struct node *n, int delta);
void node_table_free(struct mfsd *d);
/* Its bytes may change (a truncate, a copy into it, a writer): no digest
 * taken before holds. Takes n->hlock; _locked: the caller holds it. */
void node_bytes_changed(struct node *n);
void node_bytes_changed_locked(struct node *n);
/* The digest hint of seal.h for draft files hashed while written, or
 * after their last writer closed them (prehash.h). */
int node_seal_hint(void *ctx, ino_t bino, uint64_t size, int64_t mtime_ns,
		   struct mfs_digest *ret);

/* ---- seal coordination (inode.c) ---- */

/* Count a writer of draft vid in or out. Returns 0, or -EBUSY while a
 * seal of vid is running. */
int vstate_writer(struct mfsd *d, uint64_t vid, int delta);
/* Note activity in draft vid (seal_idle). */
void vstate_touch(struct mfsd *d, uint64_t vid);
/* Seal vid through the store, waiting up to 2 s for pending releases.
 * Returns 0, or -EBUSY if a writer is still open, or the store's error. */
int fs_seal(struct mfsd *d, const struct mfs_caller *c, uint64_t vid);
/* What a commit of the registry changed (mfs_store_watch(); change.h),
 * on this host or another: make the kernel forget it, from another
 * thread. The one way the daemon learns what to forget. */
struct mfs_change;
void fs_change(void *ctx, const struct mfs_change *c);
/* Wait for those threads (at exit). */
void forget_wait(struct mfsd *d);
/* Start the seal_idle thread (no-op when d->seal_idle is 0). */
int idle_start(struct mfsd *d, pthread_t *ret);

/* ---- deny.c ---- */
/* A refusal that is a registry event: log the reason (mfs_log_errno) and
 * record an audit denial of op for the model/version of ino (version names
 * a version that has no inode yet, e.g. a refused mkdir; may be NULL).
 * Returns err (negative). */
int fs_deny(struct mfsd *d, const struct mfs_caller *c, uint64_t ino, const char *op,
	    const char *version, int err, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* ---- vfile.c ---- */
struct handle;
struct mfs_stream;
/* Render the virtual document ino as c sees it. Returns 0, or -errno
 * (-ENOENT: ino is no document, or a log: vfile_stream()).
 * Ownership: caller owns *ret; free(). */
int vfile_render(struct mfsd *d, const struct mfs_caller *c, uint64_t ino, char **ret,
		 size_t *ret_len);
/* After reading virtual file ino: give back the store pages a read of a
 * file that spans the whole registry left mapped. */
void vfile_done(struct mfsd *d, uint64_t ino);
/* Is ino a log (audit.jsonl, history.jsonl), read as a stream? */
bool vfile_is_stream(uint64_t ino);
/* Open the log ino as c sees it (audit.jsonl differs per caller; NULL: an
 * admin's view) as a stream (stream.h). Returns 0, or -errno.
 * Ownership: caller owns *ret; mfs_stream_close(). */
int vfile_stream(struct mfsd *d, const struct mfs_caller *c, uint64_t ino,
		 struct mfs_stream **ret, uint64_t *ret_size);
/* Is ino a document users may write (model metadata/policy, draft
 * metadata.json)? */
bool vfile_writable(struct mfsd *d, uint64_t ino);
/* The size vfile_render() or vfile_stream() would give now, counting only
 * if the store changed since the last time (stat of audit.jsonl or
 * index.json must not cost a pass over the registry each time).
 * Files that differ per reader (audit.jsonl, index.json, lineage.json):
 * the size of an admin's view, an upper bound of what others read (fstat
 * of an open handle gives its snapshot's exact size; they are read with
 * direct_io, to their end). Returns 0 or -errno. */
int vfile_size(struct mfsd *d, uint64_t ino, size_t *ret);
/* Store a written document. Returns 0, or -EINVAL (logged) etc. */
int vfile_store(struct mfsd *d, const struct mfs_caller *c, uint64_t ino,
		const char *buf, size_t len);

/* ---- attr.c ---- */
/* stat of any inode. Returns 0, or -ENOENT etc. */
int attr_get(struct mfsd *d, uint64_t ino, struct stat *ret);
/* Entry timeouts for an inode's kind. */
double attr_timeout(struct mfsd *d, uint64_t ino);
double entry_timeout(uint64_t ino);
double absent_timeout(void);

/* ---- vtab.c: inodes of read-only views ---- */

/* What a K_VIEW inode shows. */
enum vt_kind {
	VT_TIME = 1,	/* models/<m>/@<moment>/ */
	VT_TIME_LINK,	/* an alias link in it */
	VT_SERVE_ALIAS,	/* serving/<alias>/ */
	VT_SERVE_MODEL,	/* serving/<alias>/<model>/ */
	VT_SERVE_LINK,	/* serving/<alias>/<model>/<N> */
};

struct vkey {
	enum vt_kind kind;
	uint64_t model_id;		/* all but VT_SERVE_ALIAS */
	int64_t at_ns;			/* VT_TIME*: the moment */
	uint64_t seq;			/* VT_TIME*: its h<N> (0: by time); VT_SERVE_LINK: N */
	uint64_t parent;		/* VT_TIME_LINK: its view's inode */
	char name[MFS_NAME_MAX + 1];	/* the alias; "" for VT_TIME */
};

/* An entry of a view's listing. */
struct view_dent {
	char name[MFS_NAME_MAX + 1];
	uint64_t ino;			/* a hint: ino_make(K_VIEW, 0) for view inodes */
	mode_t type;
};

/* Find or make the K_VIEW inode of key k; takes one lookup reference.
 * Returns 0, or -ENOMEM. Threads: takes d->lock. */
int vtab_ref(struct mfsd *d, const struct vkey *k, uint64_t *ret_ino);
/* The key of K_VIEW inode ino, copied (a FORGET may drop the inode once
 * the lock is released). Returns 0, or -ENOENT. Threads: takes d->lock. */
int vtab_get(struct mfsd *d, uint64_t ino, struct vkey *ret);
/* vtab_ref() and make_entry(), the reference dropped if that fails. */
int vtab_entry(struct mfsd *d, const struct vkey *k, struct fuse_entry_param *e);
/* Drop n lookup references of a K_VIEW inode. */
void vtab_forget(struct mfsd *d, uint64_t ino, uint64_t n);
/* Free the table (at exit). */
void vtab_free(struct mfsd *d);

/* Requests on views, sent to tview.c or serve.c by the key's kind.
 * Lookup in INO_SERVING or a K_VIEW directory (takes one lookup reference
 * on success); stat; readlink; listing (ownership: caller owns *ret;
 * free()). Each returns 0 or -errno (-ENOENT: not there, -ENOTDIR,
 * -EINVAL: readlink of no link). */
int view_lookup(struct mfsd *d, const struct mfs_caller *c, uint64_t parent,
		const char *name, struct fuse_entry_param *e);
int view_attr(struct mfsd *d, uint64_t ino, struct stat *st);
int view_readlink(struct mfsd *d, uint64_t ino, char *buf, size_t n);
int view_list(struct mfsd *d, uint64_t ino, struct view_dent **ret, size_t *ret_n);
/* Append to a listing (a growing array). Returns 0 or -ENOMEM. */
int view_dent_add(struct view_dent **a, size_t *n, size_t *cap, const char *name,
		  uint64_t ino, mode_t type);
/* st's times from nanoseconds since the epoch (negative ones too). */
void view_time(int64_t ns, struct stat *st);
/* For a change (what: "directory", "rename of", ...) of name in directory
 * ino (or of ino itself, name NULL): -EROFS, logged, when it would change
 * a view (serving/, a time-travel view) or name is a valid "@<moment>" in
 * a model directory; else 0. */
int view_refuse(struct mfsd *d, uint64_t ino, const char *name, const char *what);

/* ---- tview.c: time-travel views, models/<m>/@<time>/ (read-only) ---- */
/* Lookup of "@<time>" or "@h<N>" in a model directory (parent K_MODEL), or
 * of an alias name in a view (parent VT_TIME). Takes one lookup reference
 * on success. Returns 0, or -ENOENT (a malformed moment, an alias the view
 * does not have), -ENOTDIR, -ENOMEM. */
int tview_lookup(struct mfsd *d, uint64_t parent, const char *name,
		 struct fuse_entry_param *e);
/* stat of a view (dr-xr-xr-x, the model's owner, mtime the moment) or a
 * link in it (its size that of "../versions/<v>", the uid and time of
 * the move that set it). Returns 0, or -ENOENT. */
int tview_attr(struct mfsd *d, const struct vkey *k, struct stat *st);
/* A view link's target, "../versions/<v>". Returns 0, -ENOENT, -EINVAL. */
int tview_readlink(struct mfsd *d, const struct vkey *k, char *buf, size_t n);
/* The links a view shows. */
int tview_list(struct mfsd *d, const struct vkey *k, struct view_dent **ret, size_t *ret_n);
/* view_refuse() for time-travel views. */
int tview_refuse(struct mfsd *d, uint64_t ino, const char *name, const char *what);

/* ---- serve.c: the serving view, serving/<alias>/<model>/<N> ---- */
/* Lookup in serving/ (k NULL) or in one of its directories (key k).
 * Takes one lookup reference on success (config.pbtxt: the sealed file's
 * own inode, never cached by name). Returns 0, or -ENOENT, -EACCES. */
int serve_lookup(struct mfsd *d, const struct mfs_caller *c, uint64_t parent,
		 const struct vkey *k, const char *name, struct fuse_entry_param *e);
int serve_attr(struct mfsd *d, const struct vkey *k, struct stat *st);
/* A link's target, "../../../models/<m>/versions/<v>". */
int serve_readlink(struct mfsd *d, const struct vkey *k, char *buf, size_t n);
/* The listing of serving/ (k NULL) or of one of its directories. */
int serve_list(struct mfsd *d, const struct vkey *k, struct view_dent **ret, size_t *ret_n);
/* view_refuse() for serving/: -EROFS for any change in it, or of
 * "serving" at the top. */
int serve_refuse(struct mfsd *d, uint64_t ino, const char *name, const char *what);
/* Free what serve.c keeps (at exit). */
void serve_free(struct mfsd *d);

/* ---- gc.c: garbage collection run by the daemon ---- */
/* Count an open handle of a file of sealed version vid in or out. */
void vopen_count(struct mfsd *d, uint64_t vid, int delta);
/* setxattr user.modelfs.gc on the mount root: run gc (value "run") or plan
 * it ("dry-run") as caller c, keeping the JSON report for c's pid.
 * Returns 0, or -EINVAL for another value, -EACCES for non-admins, or
 * the store's error. */
int fs_gc(struct mfsd *d, const struct mfs_caller *c, const char *value, size_t size);
/* The report of c's last gc (its pid and uid). Returns 0, or -ENODATA if
 * it ran none. Ownership: caller owns *ret; free(). */
int fs_gc_report(struct mfsd *d, const struct mfs_caller *c, char **ret, size_t *ret_len);
/* Free what gc left in d (at exit). */
void fs_gc_free(struct mfsd *d);

/* ---- ops tables ---- */
extern const struct fuse_lowlevel_ops mfs_ops;

/* Handlers by file (ops.c assembles the table). */
void dir_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void dir_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void dir_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void dir_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi);
void dir_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* fsync of a directory: every change of the registry so far is durable
 * when it returns (a new alias's commit may not be until then). */
void dir_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void dir_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void dir_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void dir_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void dir_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       dev_t rdev);
void dir_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void dir_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void dir_statfs(fuse_req_t req, fuse_ino_t ino);

void file_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		 struct fuse_file_info *fi);
void file_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void file_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	       struct fuse_file_info *fi);
void file_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv,
		    off_t off, struct fuse_file_info *fi);
void file_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void file_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void file_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void file_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		    off_t len, struct fuse_file_info *fi);
void file_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		struct fuse_file_info *fi);
void file_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			  struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			  off_t off_out, struct fuse_file_info *fi_out,
			  size_t len, int flags);

void link_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
		  const char *name);
void link_readlink(fuse_req_t req, fuse_ino_t ino);
void link_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		 fuse_ino_t newparent, const char *newname, unsigned int flags);
void link_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	       const char *newname);

void attr_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void attr_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		  struct fuse_file_info *fi);
void attr_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		   const char *value, size_t size, int flags);
void attr_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void attr_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void attr_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* ---- file.c: open handles ---- */
/* Size of an open virtual file's snapshot. Returns 0, or -ENOENT if fh is
 * not a virtual file handle. */
int handle_snapshot_size(uint64_t fh, off_t *ret);
/* ftruncate through an open handle. Returns 0 or -errno. */
int handle_truncate(uint64_t fh, off_t size);
/* Make draft file n an ordinary file if it is an instant copy (ref.h),
 * keeping its bytes if keep, for c, who must be allowed to write it.
 * Returns 0 or -errno (-EACCES: c may not). */
int draft_unref(struct mfsd *d, const struct mfs_caller *c, struct node *n, bool keep);
/* Free what open handles left in d (at exit). */
void handles_free(struct mfsd *d);
/* Free the listings of directories still open at unmount: the kernel drops
 * a RELEASEDIR still queued when the connection ends. */
void dirsnaps_free(struct mfsd *d);
/* Count key in or out of table (KCOUNT_BUCKETS chains); an entry goes at
 * 0. Threads: takes d->lock. */
int kcount_add(struct mfsd *d, struct kcount **table, uint64_t key, int delta);
/* Is key counted in table? Threads: takes d->lock. */
bool kcount_has(struct mfsd *d, struct kcount **table, uint64_t key);
/* Free a table's entries (at exit). */
void kcount_free(struct kcount **table);

/* ---- shared helpers (dir.c) ---- */

/* Describe an inode for log lines ("churn@1.2.0/model.bin" or similar). */
void ino_label(struct mfsd *d, uint64_t ino, char *buf, size_t n);
/* The draft version id an inode lives in (K_VERSION of a draft, K_DRAFT),
 * or 0. For K_VERSION of a sealed version, *ret_sealed is set. */
uint64_t ino_vid(struct mfsd *d, uint64_t ino, bool *ret_sealed);
/* An fd (O_PATH) of a draft directory inode (the version root or a draft
 * dir node). Returns 0, -EROFS if sealed, -ENOTDIR, -ENOENT.
 * Ownership: caller owns *ret_fd. */
int draft_dirfd(struct mfsd *d, uint64_t ino, uint64_t *ret_vid, int *ret_fd);
/* For a draft node of a version sealed since it was looked up (a shell's
 * cwd inside the draft): the version and the sealed entry at the same
 * path (0: the version's root). Returns 0, or -ENOENT. */
int sealed_twin(struct mfsd *d, uint64_t ino, uint64_t *ret_vid, uint64_t *ret_eid);
/* draft_dirfd() for an operation that changes the draft: counted as a
 * writer of the version (a seal waits for it, and refuses it with -EBUSY
 * while it walks the draft) until draft_op_end(). */
int draft_dirfd_mut(struct mfsd *d, uint64_t ino, uint64_t *ret_vid, int *ret_fd);
void draft_op_end(struct mfsd *d, uint64_t vid);
/* fuse_reply_entry(), dropping the node reference if the reply failed. */
void reply_entry(struct mfsd *d, fuse_req_t req, const struct fuse_entry_param *e);
/* Fill a fuse_entry_param for ino with attr. */
int make_entry(struct mfsd *d, uint64_t ino, struct fuse_entry_param *e);
/* The path of a draft file's fd below its version root ("" at the root).
 * Returns 0, or -errno, -EIO if fd is not inside a draft. */
int draft_relpath(struct mfsd *d, int fd, char *buf, size_t n);
/* /proc/self/fd/N for an O_PATH fd. */
void fd_path(int fd, char buf[64]);
/* Run the calling thread's file system accesses inside draft vid as the
 * caller (fsuid, fsgid and groups), so the kernel applies POSIX
 * permissions to draft files and new files belong to their creator;
 * as_daemon() switches back (call it whatever this returned). Only
 * syscalls on draft files go between the two: store/ paths are the
 * daemon's. A daemon not run as root cannot take anyone's identity: then
 * only root, the daemon's own user and the version's creator may act
 * inside a draft, and anyone else gets -EACCES (logged). Returns 0,
 * -EACCES, or -ENOENT when the version went meanwhile. */
int as_caller(struct mfsd *d, const struct mfs_caller *c, uint64_t vid);
void as_daemon(struct mfsd *d);

#endif
