/* hash.c - XXH3-128 streaming wrapper and hex encoding */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "hash.h"

struct mfs_hash {
	XXH3_state_t *st;
};

int mfs_hash_new(struct mfs_hash **ret)
{
	struct mfs_hash *h = malloc(sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->st = XXH3_createState();
	if (!h->st) {
		free(h);
		return -ENOMEM;
	}
	XXH3_128bits_reset(h->st);
	*ret = h;
	return 0;
}

void mfs_hash_free(struct mfs_hash *h)
{
	if (!h)
		return;
	XXH3_freeState(h->st);
	free(h);
}

void mfs_hash_reset(struct mfs_hash *h)
{
	XXH3_128bits_reset(h->st);
}

void mfs_hash_update(struct mfs_hash *h, const void *buf, size_t n)
{
	XXH3_128bits_update(h->st, buf, n);
}

static void to_digest(XXH128_hash_t v, struct mfs_digest *ret)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, v);
	memcpy(ret->b, c.digest, sizeof(ret->b));
}

void mfs_hash_final(const struct mfs_hash *h, struct mfs_digest *ret)
{
	to_digest(XXH3_128bits_digest(h->st), ret);
}

void mfs_hash_buf(const void *buf, size_t n, struct mfs_digest *ret)
{
	to_digest(XXH3_128bits(buf, n), ret);
}

int mfs_hash_fd(int fd, struct mfs_digest *ret, uint64_t *ret_size)
{
	enum { CHUNK = 1 << 20 };
	struct mfs_hash *h = NULL;
	char *buf = NULL;
	uint64_t off = 0;
	int r;

	buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	r = mfs_hash_new(&h);
	if (r < 0)
		goto out;
	for (;;) {
		ssize_t n = pread(fd, buf, CHUNK, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		mfs_hash_update(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	mfs_hash_final(h, ret);
	if (ret_size)
		*ret_size = off;
	r = 0;
out:
	mfs_hash_free(h);
	free(buf);
	return r;
}

void mfs_digest_hex(const struct mfs_digest *d, char out[MFS_DIGEST_HEX])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[d->b[i] >> 4];
		out[2 * i + 1] = hex[d->b[i] & 15];
	}
	out[32] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mfs_digest_parse(const char *s, struct mfs_digest *ret)
{
	struct mfs_digest d;

	if (strlen(s) != 32)
		return -EINVAL;
	for (int i = 0; i < 16; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		d.b[i] = (uint8_t)(hi << 4 | lo);
	}
	*ret = d;
	return 0;
}
