/* test_format.c - content sniffing (store/format.c) on hand-built bytes */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "format.h"

static enum mfs_format detect(const void *buf, size_t n)
{
	return mfs_format_detect(buf, n, n);
}

/* A literal's bytes without its terminating NUL. */
#define DETECT(lit) detect(lit, sizeof(lit) - 1)

static void test_format_of_an_empty_file_is_unknown(void **state)
{
	(void)state;
	assert_int_equal(DETECT(""), MFS_FMT_UNKNOWN);
	assert_string_equal(mfs_format_name(MFS_FMT_UNKNOWN), "unknown");
}

static void test_format_magic_numbers_win(void **state)
{
	(void)state;
	assert_int_equal(DETECT("\x89HDF\r\n\x1a\n\0\0"), MFS_FMT_HDF5);
	assert_int_equal(DETECT("GGUF\3\0\0\0"), MFS_FMT_GGUF);
	assert_int_equal(DETECT("\x93NUMPY\1\0"), MFS_FMT_NUMPY);
}

static void test_format_pickle_needs_a_protocol_header(void **state)
{
	(void)state;
	assert_int_equal(DETECT("\x80\x04\x95\x10\0\0\0"), MFS_FMT_PICKLE);
	assert_int_equal(DETECT("\x80\x02}q\0."), MFS_FMT_PICKLE);
	/* protocol 9 does not exist */
	assert_int_equal(DETECT("\x80\x09}q\0."), MFS_FMT_UNKNOWN);
	assert_int_equal(DETECT("\x80\x04\x95joblib.numpy_pickle"), MFS_FMT_JOBLIB);
}

static void test_format_zip_members_tell_the_kind(void **state)
{
	(void)state;
	assert_int_equal(DETECT("PK\3\4....archive/data.pkl"), MFS_FMT_TORCH);
	assert_int_equal(DETECT("PK\3\4....archive/data.pkl..archive/constants.pkl"),
			 MFS_FMT_TORCHSCRIPT);
	assert_int_equal(DETECT("PK\3\4....model.weights.h5"), MFS_FMT_KERAS);
	assert_int_equal(DETECT("PK\3\4....readme.txt"), MFS_FMT_ZIP);
}

static void test_format_safetensors_header_is_validated(void **state)
{
	const char *hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
	uint8_t buf[128] = { 0 };
	size_t hl = strlen(hdr);

	(void)state;
	buf[0] = (uint8_t)hl;
	memcpy(buf + 8, hdr, hl);
	assert_int_equal(mfs_format_detect(buf, 8 + hl + 4, 8 + hl + 4), MFS_FMT_SAFETENSORS);
	/* data beyond the end of the file: not a safetensors file */
	assert_int_equal(mfs_format_detect(buf, 8 + hl + 2, 8 + hl + 2), MFS_FMT_UNKNOWN);
	/* a header length past the file */
	buf[1] = 1;
	assert_int_equal(mfs_format_detect(buf, 8 + hl + 4, 8 + hl + 4), MFS_FMT_UNKNOWN);
}

static void test_format_protobuf_onnx_and_savedmodel(void **state)
{
	(void)state;
	/* ir_version 8, then producer_name */
	assert_int_equal(DETECT("\x08\x08\x12\x04test"), MFS_FMT_ONNX);
	/* saved_model_schema_version 1, then meta_graphs */
	assert_int_equal(DETECT("\x08\x01\x12\x04...."), MFS_FMT_SAVEDMODEL);
}

static void test_format_text_and_json(void **state)
{
	(void)state;
	assert_int_equal(DETECT("{\"a\": 1}\n"), MFS_FMT_JSON);
	assert_int_equal(DETECT("[1, 2"), MFS_FMT_TEXT);	/* whole file, not JSON */
	assert_int_equal(mfs_format_detect((const uint8_t *)"[1, 2", 5, 1000), MFS_FMT_JSON);
	assert_int_equal(DETECT("caf\xc3\xa9 au lait\n"), MFS_FMT_TEXT);
	assert_int_equal(DETECT("caf\xc3 au lait\n"), MFS_FMT_UNKNOWN);	/* bad UTF-8 */
	assert_int_equal(DETECT("a\0b"), MFS_FMT_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_of_an_empty_file_is_unknown),
		cmocka_unit_test(test_format_magic_numbers_win),
		cmocka_unit_test(test_format_pickle_needs_a_protocol_header),
		cmocka_unit_test(test_format_zip_members_tell_the_kind),
		cmocka_unit_test(test_format_safetensors_header_is_validated),
		cmocka_unit_test(test_format_protobuf_onnx_and_savedmodel),
		cmocka_unit_test(test_format_text_and_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
