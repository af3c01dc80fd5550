/* fuzz_format.c - libFuzzer harness: model format detection */

/*
 * mfs_format_detect() gets the first n bytes of a file of size bytes. The
 * input is the head itself when it is shorter than 8 bytes; otherwise its
 * first 8 bytes (little-endian) pick the file size, and the rest is the
 * head: bit 0 clear means the whole file is in the head (size = n, the
 * path JSON detection takes), set means the file goes on for the other 63
 * bits' worth beyond it. The answer must be a known code with a name, and
 * the same when asked twice.
 */
#include "format.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *head = data;
	size_t n = size;
	uint64_t file_size = size, sel = 0;
	enum mfs_format f;

	if (size >= 8) {
		for (int i = 7; i >= 0; i--)
			sel = sel << 8 | data[i];
		head = data + 8;
		n = size - 8;
	}
	/* The contract: n = min(size, MFS_FORMAT_PROBE). */
	if (n > MFS_FORMAT_PROBE)
		n = MFS_FORMAT_PROBE;
	file_size = n;
	if (sel & 1)
		file_size += sel >> 1;
	f = mfs_format_detect(head, n, file_size);
	FUZZ_CHECK((unsigned)f < MFS_FMT_COUNT);
	FUZZ_CHECK(mfs_format_name(f) != NULL && mfs_format_name(f)[0] != '\0');
	FUZZ_CHECK(mfs_format_detect(head, n, file_size) == f);
	return 0;
}
