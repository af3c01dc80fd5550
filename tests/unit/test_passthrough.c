/* test_passthrough.c - unit tests for the wire side of fs/passthrough.c */

/*
 * The hooks amend raw FUSE messages, so these tests build the messages
 * from the kernel's ABI (include/uapi/linux/fuse.h, 7.40) written out here
 * as structs, independently of the offsets passthrough.c uses, and check
 * the amended fields through the struct members.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "passthrough.h"

struct k_in_header {
	uint32_t len, opcode;
	uint64_t unique, nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen, padding;
};

struct k_init_in {
	uint32_t major, minor, max_readahead, flags, flags2;
	uint32_t unused[11];
};

struct k_init_out {
	uint32_t major, minor, max_readahead, flags;
	uint16_t max_background, congestion_threshold;
	uint32_t max_write, time_gran;
	uint16_t max_pages, map_alignment;
	uint32_t flags2, max_stack_depth;
	uint32_t unused[6];
};

struct k_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

#define K_INIT 26
#define K_LOOKUP 1
#define K_INIT_EXT (1u << 30)
#define K_ASYNC_READ (1u << 0)
#define K_PASSTHROUGH (1ull << 37)

struct init_req {
	struct k_in_header h;
	struct k_init_in in;
};

static struct init_req init_req(uint32_t opcode, uint64_t flags)
{
	struct init_req r;

	memset(&r, 0, sizeof(r));
	r.h.len = sizeof(r);
	r.h.opcode = opcode;
	r.h.unique = 2;
	r.in.major = 7;
	r.in.minor = 41;
	r.in.flags = (uint32_t)flags;
	r.in.flags2 = (uint32_t)(flags >> 32);
	return r;
}

static void test_pt_init_offer_is_seen_in_flags2(void **state)
{
	struct init_req r = init_req(K_INIT, K_INIT_EXT | K_ASYNC_READ | K_PASSTHROUGH);

	(void)state;
	assert_int_equal(pt_wire_init_offer(&r, sizeof(r)), 1);
}

static void test_pt_init_without_passthrough_is_not_an_offer(void **state)
{
	struct init_req r = init_req(K_INIT, K_INIT_EXT | K_ASYNC_READ);

	(void)state;
	assert_int_equal(pt_wire_init_offer(&r, sizeof(r)), 0);
}

static void test_pt_flags2_without_init_ext_is_not_an_offer(void **state)
{
	/* flags2 means nothing unless FUSE_INIT_EXT says it is there. */
	struct init_req r = init_req(K_INIT, K_ASYNC_READ | K_PASSTHROUGH);

	(void)state;
	assert_int_equal(pt_wire_init_offer(&r, sizeof(r)), 0);
}

static void test_pt_old_kernel_init_is_not_an_offer(void **state)
{
	/* Before 7.36 fuse_init_in ends after flags: no flags2 to read. */
	struct init_req r = init_req(K_INIT, K_INIT_EXT | K_PASSTHROUGH);

	(void)state;
	assert_int_equal(pt_wire_init_offer(&r, sizeof(r.h) + 16), 0);
}

static void test_pt_other_requests_are_not_init(void **state)
{
	struct init_req r = init_req(K_LOOKUP, K_INIT_EXT | K_PASSTHROUGH);

	(void)state;
	assert_int_equal(pt_wire_init_offer(&r, sizeof(r)), -1);
	r = init_req(K_INIT, 0);
	assert_int_equal(pt_wire_init_offer(&r, 20), -1);	/* truncated */
}

static void test_pt_init_reply_asks_for_passthrough(void **state)
{
	struct k_init_out o;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.major = 7;
	o.minor = 38;
	o.flags = K_ASYNC_READ;
	o.max_write = 1 << 20;
	o.max_pages = 256;
	assert_int_equal(pt_wire_patch_init(&o, sizeof(o)), 0);
	assert_true(o.flags & K_INIT_EXT);
	assert_true(o.flags & K_ASYNC_READ);	/* kept */
	assert_int_equal(o.flags2, (uint32_t)(K_PASSTHROUGH >> 32));
	assert_int_equal(o.max_stack_depth, 1);
	/* nothing else moved */
	assert_int_equal(o.max_write, 1 << 20);
	assert_int_equal(o.max_pages, 256);
	assert_int_equal(o.minor, 38);
}

static void test_pt_init_reply_keeps_other_flags2(void **state)
{
	struct k_init_out o;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.flags2 = 1u << 2;
	assert_int_equal(pt_wire_patch_init(&o, sizeof(o)), 0);
	assert_int_equal(o.flags2, (1u << 2) | (uint32_t)(K_PASSTHROUGH >> 32));
}

static void test_pt_short_init_reply_is_left_alone(void **state)
{
	struct k_init_out o, before;

	(void)state;
	memset(&o, 0x5a, sizeof(o));
	before = o;
	/* A protocol before 7.23 has a 24-byte reply. */
	assert_int_equal(pt_wire_patch_init(&o, 24), -EINVAL);
	assert_memory_equal(&o, &before, sizeof(o));
}

static void test_pt_open_reply_carries_backing_id(void **state)
{
	struct k_open_out o = { .fh = 0x1234567890ull,
				.open_flags = (1u << 1) | (1u << 0) | (1u << 3) };

	(void)state;
	assert_int_equal(pt_wire_patch_open(&o, sizeof(o), 7), 0);
	assert_int_equal(o.backing_id, 7);
	assert_true(o.open_flags & (1u << 7));		/* FOPEN_PASSTHROUGH */
	assert_false(o.open_flags & (1u << 1));		/* no KEEP_CACHE */
	assert_false(o.open_flags & (1u << 0));		/* no DIRECT_IO */
	assert_true(o.open_flags & (1u << 3));		/* others kept */
	assert_int_equal(o.fh, 0x1234567890ull);
}

static void test_pt_open_reply_of_wrong_size_is_left_alone(void **state)
{
	unsigned char buf[64], before[64];

	(void)state;
	memset(buf, 0xa5, sizeof(buf));
	memcpy(before, buf, sizeof(buf));
	/* a create reply (entry + open) or any other reply */
	assert_int_equal(pt_wire_patch_open(buf, 144, 3), -EINVAL);
	assert_int_equal(pt_wire_patch_open(buf, 8, 3), -EINVAL);
	assert_int_equal(pt_wire_patch_open(buf, 16, 0), -EINVAL);
	assert_memory_equal(buf, before, sizeof(buf));
}

static void test_pt_not_live_serves_cached(void **state)
{
	struct pt *pt;

	(void)state;
	assert_int_equal(pt_new(true, -1, &pt), 0);
	assert_false(pt_live(pt));
	/* Before INIT, or without passthrough: every open is cached. */
	assert_int_equal(pt_get(pt, 42, 0, true), 0);
	pt_put(pt, 42, 0);
	assert_int_equal(pt_get(NULL, 42, 0, true), 0);
	pt_put(NULL, 42, 0);
	pt_free(pt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pt_init_offer_is_seen_in_flags2),
		cmocka_unit_test(test_pt_init_without_passthrough_is_not_an_offer),
		cmocka_unit_test(test_pt_flags2_without_init_ext_is_not_an_offer),
		cmocka_unit_test(test_pt_old_kernel_init_is_not_an_offer),
		cmocka_unit_test(test_pt_other_requests_are_not_init),
		cmocka_unit_test(test_pt_init_reply_asks_for_passthrough),
		cmocka_unit_test(test_pt_init_reply_keeps_other_flags2),
		cmocka_unit_test(test_pt_short_init_reply_is_left_alone),
		cmocka_unit_test(test_pt_open_reply_carries_backing_id),
		cmocka_unit_test(test_pt_open_reply_of_wrong_size_is_left_alone),
		cmocka_unit_test(test_pt_not_live_serves_cached),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
