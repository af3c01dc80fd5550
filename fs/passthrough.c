/* passthrough.c - kernel passthrough of sealed files (see passthrough.h) */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "passthrough.h"

/*
 * The kernel's FUSE ABI (include/uapi/linux/fuse.h, protocol 7.40), the
 * parts 3.14's headers lack. Offsets are the ABI's; they never move.
 */
#define W_IN_HEADER 40		/* struct fuse_in_header */
#define W_OPCODE 4		/* fuse_in_header.opcode */
#define W_OP_INIT 26
#define W_INIT_IN_FLAGS 12	/* fuse_init_in.flags */
#define W_INIT_IN_FLAGS2 16	/* fuse_init_in.flags2 (7.36) */
#define W_INIT_OUT_FLAGS 12	/* fuse_init_out.flags */
#define W_INIT_OUT_FLAGS2 32	/* fuse_init_out.flags2 (7.36) */
#define W_INIT_OUT_STACK 36	/* fuse_init_out.max_stack_depth (7.40) */
#define W_INIT_EXT (1u << 30)	/* flags: flags2 is meaningful */
#define W_PASSTHROUGH2 (1u << 5) /* flags2: FUSE_PASSTHROUGH, bit 37 */
#define W_OPEN_OUT 16		/* struct fuse_open_out */
#define W_ENTRY_OUT 128		/* struct fuse_entry_out (7.9 and later) */
#define W_OPEN_FLAGS 8		/* fuse_open_out.open_flags */
#define W_OPEN_BACKING 12	/* fuse_open_out.backing_id */
#define W_FOPEN_DIRECT_IO (1u << 0)
#define W_FOPEN_KEEP_CACHE (1u << 1)
#define W_FOPEN_PASSTHROUGH (1u << 7)

struct backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define DEV_IOC_BACKING_OPEN _IOW(229, 1, struct backing_map)
#define DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

struct pt_ent {
	uint64_t ino;
	int id;			/* > 0: shared by refs passthrough opens */
	int refs;
	int cached;		/* opens served cached (BACKING_OPEN failed) */
	struct pt_ent *next;
};

struct pt {
	bool want;		/* read-only */
	int probe_fd;		/* borrowed; read-only */
	int devfd;		/* read-only after pt_install() */
	/* Set by the thread that receives and answers INIT, before any
	 * other request is read; read with __atomic loads elsewhere. */
	bool init_seen, offered, live;
	pthread_mutex_t lock;
	struct pt_ent *tab[1024];	/* protected by lock */
};

static __thread bool armed_init;
static __thread int armed_open;		/* backing id for the next reply */
static __thread size_t armed_len;	/* its length: OPEN or CREATE */

/*============================================================ the wire */

static uint32_t get32(const void *p, size_t off)
{
	uint32_t v;

	memcpy(&v, (const char *)p + off, sizeof(v));
	return v;
}

static void put32(void *p, size_t off, uint32_t v)
{
	memcpy((char *)p + off, &v, sizeof(v));
}

int pt_wire_init_offer(const void *req, size_t len)
{
	uint32_t flags;

	if (len < W_IN_HEADER + 8 || get32(req, W_OPCODE) != W_OP_INIT)
		return -1;
	if (len < W_IN_HEADER + W_INIT_IN_FLAGS2 + 4)
		return 0;	/* a kernel before 7.36 */
	flags = get32(req, W_IN_HEADER + W_INIT_IN_FLAGS);
	return (flags & W_INIT_EXT) &&
	       (get32(req, W_IN_HEADER + W_INIT_IN_FLAGS2) & W_PASSTHROUGH2);
}

int pt_wire_patch_init(void *out, size_t len)
{
	if (len < W_INIT_OUT_STACK + 4)
		return -EINVAL;
	put32(out, W_INIT_OUT_FLAGS, get32(out, W_INIT_OUT_FLAGS) | W_INIT_EXT);
	put32(out, W_INIT_OUT_FLAGS2, get32(out, W_INIT_OUT_FLAGS2) | W_PASSTHROUGH2);
	/* Backing files may not be on a stacked filesystem themselves. */
	put32(out, W_INIT_OUT_STACK, 1);
	return 0;
}

int pt_wire_patch_open(void *out, size_t len, uint32_t id)
{
	uint32_t f;

	if (len != W_OPEN_OUT || id == 0)
		return -EINVAL;
	/* The kernel reads through the backing file: its page cache, not
	 * the FUSE inode's, so keep_cache and direct_io do not apply. */
	f = get32(out, W_OPEN_FLAGS) & ~(W_FOPEN_DIRECT_IO | W_FOPEN_KEEP_CACHE);
	put32(out, W_OPEN_FLAGS, f | W_FOPEN_PASSTHROUGH);
	put32(out, W_OPEN_BACKING, id);
	return 0;
}

/*============================================================ the hooks */

static struct pt *pt_of(void *userdata)
{
	return ((struct mfsd *)userdata)->pt;
}

static void probe(struct pt *pt)
{
	struct backing_map map = { .fd = pt->probe_fd };
	int id = ioctl(pt->devfd, DEV_IOC_BACKING_OPEN, &map);
	const char *why;

	if (id > 0) {
		uint32_t u = (uint32_t)id;

		ioctl(pt->devfd, DEV_IOC_BACKING_CLOSE, &u);
		__atomic_store_n(&pt->live, true, __ATOMIC_RELEASE);
		mfs_log(MFS_LOG_INFO, "sealed files: kernel passthrough");
		return;
	}
	switch (errno) {
	case ELOOP:
		why = "the store is on a stacked filesystem (overlayfs?)";
		break;
	case EPERM:
		why = "the daemon lacks CAP_SYS_ADMIN";
		break;
	default:
		why = strerror(errno);
	}
	mfs_log(MFS_LOG_INFO, "sealed files: splice and page cache (no passthrough: %s)", why);
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	struct pt *pt = pt_of(userdata);
	ssize_t n = read(fd, buf, len);

	if (n > 0 && !__atomic_load_n(&pt->init_seen, __ATOMIC_ACQUIRE)) {
		int o = pt_wire_init_offer(buf, (size_t)n);

		if (o >= 0) {
			pt->offered = o == 1;
			__atomic_store_n(&pt->init_seen, true, __ATOMIC_RELEASE);
		}
	}
	return n;
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct pt *pt = pt_of(userdata);
	unsigned char init[128], reply[256];
	/* fuse_out_header: len, error, unique */
	int32_t error = (int32_t)get32(iov[0].iov_base, 4);
	bool asked = false;
	ssize_t n;

	if (armed_init) {
		armed_init = false;
		if (!pt->want)
			mfs_log(MFS_LOG_INFO, "sealed files: splice and page cache (-o nopassthrough)");
		else if (!pt->offered)
			mfs_log(MFS_LOG_INFO, "sealed files: splice and page cache (the kernel offers no passthrough)");
		else if (count == 2 && error == 0 && iov[1].iov_len <= sizeof(init)) {
			memcpy(init, iov[1].iov_base, iov[1].iov_len);
			if (pt_wire_patch_init(init, iov[1].iov_len) == 0) {
				iov[1].iov_base = init;
				asked = true;
			}
		}
	}
	if (armed_open > 0 && count == 2 && error == 0 && iov[1].iov_len == armed_len &&
	    armed_len <= sizeof(reply)) {
		/* fuse_open_out ends the reply (after fuse_entry_out in a
		 * CREATE reply) */
		memcpy(reply, iov[1].iov_base, armed_len);
		if (pt_wire_patch_open(reply + armed_len - W_OPEN_OUT, W_OPEN_OUT,
				       (uint32_t)armed_open) == 0)
			iov[1].iov_base = reply;
	}
	n = writev(fd, iov, count);
	/* The kernel applies INIT while the write runs: ask it now. */
	if (asked && n >= 0)
		probe(pt);
	return n;
}

static ssize_t io_splice_receive(int fdin, off_t *offin, int fdout, off_t *offout,
				 size_t len, unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static ssize_t io_splice_send(int fdin, off_t *offin, int fdout, off_t *offout,
			      size_t len, unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

/*============================================================ the state */

int pt_new(bool want, int probe_fd, struct pt **ret)
{
	struct pt *pt = calloc(1, sizeof(*pt));

	if (!pt)
		return -ENOMEM;
	pt->want = want;
	pt->probe_fd = probe_fd;
	pt->devfd = -1;
	pthread_mutex_init(&pt->lock, NULL);
	*ret = pt;
	return 0;
}

void pt_free(struct pt *pt)
{
	if (!pt)
		return;
	for (size_t i = 0; i < sizeof(pt->tab) / sizeof(pt->tab[0]); i++) {
		while (pt->tab[i]) {
			struct pt_ent *e = pt->tab[i];

			pt->tab[i] = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&pt->lock);
	free(pt);
}

int pt_install(struct pt *pt, struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = io_read,
		.writev = io_writev,
		.splice_receive = io_splice_receive,
		.splice_send = io_splice_send,
	};
	int fd = fuse_session_fd(se);
	int r;

	if (fd < 0)
		return -EBADF;
	r = fuse_session_custom_io(se, &io, fd);
	if (r < 0)
		return r;
	pt->devfd = fd;
	return 0;
}

void pt_arm_init(struct pt *pt)
{
	armed_init = pt != NULL;
}

bool pt_live(const struct pt *pt)
{
	return pt && __atomic_load_n(&pt->live, __ATOMIC_ACQUIRE);
}

static struct pt_ent **slot(struct pt *pt, uint64_t ino)
{
	struct pt_ent **p = &pt->tab[(ino ^ ino >> 20) % (sizeof(pt->tab) / sizeof(pt->tab[0]))];

	while (*p && (*p)->ino != ino)
		p = &(*p)->next;
	return p;
}

int pt_get(struct pt *pt, uint64_t ino, int fd, bool may_create)
{
	struct backing_map map = { .fd = fd };
	struct pt_ent **p, *e;
	int id;

	if (!pt_live(pt))
		return 0;
	pthread_mutex_lock(&pt->lock);
	p = slot(pt, ino);
	e = *p;
	if (e) {
		if (e->cached)
			e->cached++;
		else
			e->refs++;
		id = e->cached ? 0 : e->id;
		pthread_mutex_unlock(&pt->lock);
		return id;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		pthread_mutex_unlock(&pt->lock);
		return -ENOMEM;
	}
	e->ino = ino;
	id = may_create ? ioctl(pt->devfd, DEV_IOC_BACKING_OPEN, &map) : 0;
	if (id > 0) {
		e->id = id;
		e->refs = 1;
	} else {
		/* Served by the daemon until its last release: the kernel
		 * refuses passthrough and cached opens of one inode at once. */
		if (may_create)
			mfs_log(MFS_LOG_WARN, "passthrough refused for inode %llx: %s; serving it cached",
				(unsigned long long)ino, strerror(errno));
		e->cached = 1;
		id = 0;
	}
	*p = e;
	pthread_mutex_unlock(&pt->lock);
	return id;
}

void pt_put(struct pt *pt, uint64_t ino, int id)
{
	struct pt_ent **p, *e;

	if (!pt_live(pt))
		return;
	pthread_mutex_lock(&pt->lock);
	p = slot(pt, ino);
	e = *p;
	if (e) {
		if (id > 0)
			e->refs--;
		else
			e->cached--;
		if (e->refs <= 0 && e->cached <= 0) {
			if (e->id > 0) {
				uint32_t u = (uint32_t)e->id;

				if (ioctl(pt->devfd, DEV_IOC_BACKING_CLOSE, &u) < 0)
					mfs_log(MFS_LOG_WARN, "closing backing id %d: %s", e->id,
						strerror(errno));
			}
			*p = e->next;
			free(e);
		}
	}
	pthread_mutex_unlock(&pt->lock);
}

int pt_reply_open(fuse_req_t req, const struct fuse_file_info *fi, int id)
{
	int r;

	armed_open = id;
	armed_len = W_OPEN_OUT;
	r = fuse_reply_open(req, fi);
	armed_open = 0;
	return r;
}

int pt_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
		    const struct fuse_file_info *fi, int id)
{
	int r;

	armed_open = id;
	armed_len = W_ENTRY_OUT + W_OPEN_OUT;
	r = fuse_reply_create(req, e, fi);
	armed_open = 0;
	return r;
}
