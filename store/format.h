/* format.h - model file formats, detected from content */
#ifndef MFS_FORMAT_H
#define MFS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Pure: looks at the first bytes of a file (and its size), never at its
 * name. The seal records one format per file; "unknown" is a valid answer.
 * The codes are stored in LMDB: append new ones, never renumber.
 */

enum mfs_format {
	MFS_FMT_UNKNOWN = 0,
	MFS_FMT_PICKLE = 1,
	MFS_FMT_JOBLIB = 2,
	MFS_FMT_ONNX = 3,
	MFS_FMT_TORCH = 4,		/* torch.save zip archive */
	MFS_FMT_TORCHSCRIPT = 5,	/* torch.jit.save zip archive */
	MFS_FMT_KERAS = 6,		/* .keras zip archive */
	MFS_FMT_HDF5 = 7,
	MFS_FMT_SAFETENSORS = 8,
	MFS_FMT_GGUF = 9,
	MFS_FMT_NUMPY = 10,
	MFS_FMT_SAVEDMODEL = 11,	/* TensorFlow saved_model.pb */
	MFS_FMT_ZIP = 12,
	MFS_FMT_JSON = 13,
	MFS_FMT_TEXT = 14,
	MFS_FMT_COUNT
};

/* How many leading bytes mfs_format_detect wants (it copes with fewer). */
#define MFS_FORMAT_PROBE (64u << 10)

/* The format of a file of size bytes whose first n bytes are head
 * (n = min(size, MFS_FORMAT_PROBE)). This function can't fail. */
enum mfs_format mfs_format_detect(const uint8_t *head, size_t n, uint64_t size);

/* The format's name ("onnx", "safetensors", ... "unknown"). Static. */
const char *mfs_format_name(enum mfs_format f);

#endif
