/* semver.c - Semantic Versioning 2.0.0 parsing and precedence */

/*
 * The parser is a single left-to-right scan of the grammar in the SemVer 2.0.0
 * specification; it records where the pre-release and build parts are rather
 * than copying them, so it never allocates. Character classes are spelt out
 * in ASCII instead of using <ctype.h>, whose answers depend on the locale and
 * would let a non-ASCII letter into a version name.
 *
 * Numeric pre-release identifiers are never converted to integers: the
 * specification bounds their length nowhere, and because the parser rejects
 * leading zeros, a longer digit string is always the larger number, so
 * comparing length and then bytes gives numeric order without overflow.
 */
#include "semver.h"

#include <errno.h>
#include <string.h>

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-';
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
	}
	return true;
}

static int sign(int c)
{
	return (c > 0) - (c < 0);
}

/* ------------------------------------------------------------------------
 * Parsing
 */

/* A core number: "0" or a non-zero digit followed by digits; advances *p. */
static int parse_core_number(const char **p, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;

	if (!is_digit(*s))
		return -EINVAL;
	if (s[0] == '0' && is_digit(s[1]))
		return -EINVAL;
	for (; is_digit(*s); s++) {
		unsigned int d = (unsigned int)(*s - '0');

		/* v * 10 + d must not wrap: a wrapped number would sort wrongly. */
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*p = s;
	*ret = v;
	return 0;
}

/*
 * Dot-separated identifiers starting at s, up to the first character that is
 * neither an identifier character nor a dot; the caller checks what follows.
 * Pre-release identifiers (numeric_rules) may not be all digits with a
 * leading zero; build identifiers may, the specification allowing "+001".
 */
static int parse_idents(const char *s, bool numeric_rules, size_t *ret_len)
{
	const char *p = s;

	for (;;) {
		const char *id = p;

		while (is_ident_char(*p))
			p++;
		if (p == id)
			return -EINVAL;
		if (numeric_rules && p - id > 1 && id[0] == '0' && all_digits(id, (size_t)(p - id)))
			return -EINVAL;
		if (*p != '.')
			break;
		p++;
	}
	*ret_len = (size_t)(p - s);
	return 0;
}

int mfs_semver_parse(const char *s, struct mfs_semver *ret)
{
	struct mfs_semver v = { 0 };
	const char *p = s;
	size_t len;
	int r;

	/* strnlen: a hostile name need not be scanned past the limit. */
	len = strnlen(s, MFS_SEMVER_MAX_LEN + 1);
	if (len == 0 || len > MFS_SEMVER_MAX_LEN)
		return -EINVAL;

	r = parse_core_number(&p, &v.major);
	if (r < 0)
		return r;
	if (*p != '.')
		return -EINVAL;
	p++;
	r = parse_core_number(&p, &v.minor);
	if (r < 0)
		return r;
	if (*p != '.')
		return -EINVAL;
	p++;
	r = parse_core_number(&p, &v.patch);
	if (r < 0)
		return r;

	if (*p == '-') {
		p++;
		r = parse_idents(p, true, &v.pre_len);
		if (r < 0)
			return r;
		v.pre = p;
		p += v.pre_len;
	}
	if (*p == '+') {
		p++;
		r = parse_idents(p, false, &v.build_len);
		if (r < 0)
			return r;
		v.build = p;
		p += v.build_len;
	}
	/* Anything left ("1.2.3.4", "1.2.3 ", a second '+') is not SemVer. */
	if (*p != '\0')
		return -EINVAL;

	*ret = v;
	return 0;
}

/* ------------------------------------------------------------------------
 * Precedence
 */

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

static int cmp_size(size_t a, size_t b)
{
	return (a > b) - (a < b);
}

/* Length of the identifier at p, which ends at the next dot or at end. */
static size_t ident_len(const char *p, const char *end)
{
	const char *dot = memchr(p, '.', (size_t)(end - p));

	return (size_t)((dot ? dot : end) - p);
}

static int cmp_ident(const char *a, size_t alen, const char *b, size_t blen)
{
	bool a_num = all_digits(a, alen);
	bool b_num = all_digits(b, blen);
	int c;

	if (a_num && b_num) {
		/* No leading zeros (the parser saw to that): longer is larger. */
		if (alen != blen)
			return cmp_size(alen, blen);
		return sign(memcmp(a, b, alen));
	}
	if (a_num != b_num)
		return a_num ? -1 : 1;
	/* memcmp compares as unsigned char, which is ASCII order here. */
	c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return sign(c);
	return cmp_size(alen, blen);
}

int mfs_semver_cmp(const struct mfs_semver *a, const struct mfs_semver *b)
{
	const char *pa, *ea, *pb, *eb;
	int c;

	c = cmp_u64(a->major, b->major);
	if (c != 0)
		return c;
	c = cmp_u64(a->minor, b->minor);
	if (c != 0)
		return c;
	c = cmp_u64(a->patch, b->patch);
	if (c != 0)
		return c;

	/* Having no pre-release ranks above having one: 1.0.0-rc.1 < 1.0.0. */
	if (a->pre_len == 0 || b->pre_len == 0)
		return (a->pre_len == 0) - (b->pre_len == 0);

	pa = a->pre;
	ea = a->pre + a->pre_len;
	pb = b->pre;
	eb = b->pre + b->pre_len;
	while (pa < ea && pb < eb) {
		size_t la = ident_len(pa, ea);
		size_t lb = ident_len(pb, eb);

		c = cmp_ident(pa, la, pb, lb);
		if (c != 0)
			return c;
		/* Step over the dot; the parser guarantees an identifier follows. */
		pa += la;
		if (pa < ea)
			pa++;
		pb += lb;
		if (pb < eb)
			pb++;
	}
	/* Equal so far: the one with identifiers left over is higher. */
	return (pa < ea) - (pb < eb);
}

int mfs_semver_cmp_str(const char *a, const char *b, int *ret_cmp)
{
	struct mfs_semver va, vb;
	int r;

	r = mfs_semver_parse(a, &va);
	if (r < 0)
		return r;
	r = mfs_semver_parse(b, &vb);
	if (r < 0)
		return r;
	*ret_cmp = sign(mfs_semver_cmp(&va, &vb));
	return 0;
}
