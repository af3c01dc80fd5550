/* format.c - content sniffing of model files */
#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "format.h"

/*
 * Each detector checks a signature strong enough not to fire on another
 * format's bytes, from the most specific (magic numbers) to the weakest
 * (text). Containers are looked into only as far as the probe reaches: a
 * zip's local file headers name its first members, which is where
 * torch.save, torch.jit.save and Keras put their telltale entries.
 */

static const char *const names[MFS_FMT_COUNT] = {
	[MFS_FMT_UNKNOWN] = "unknown", [MFS_FMT_PICKLE] = "pickle",
	[MFS_FMT_JOBLIB] = "joblib", [MFS_FMT_ONNX] = "onnx",
	[MFS_FMT_TORCH] = "torch", [MFS_FMT_TORCHSCRIPT] = "torchscript",
	[MFS_FMT_KERAS] = "keras", [MFS_FMT_HDF5] = "hdf5",
	[MFS_FMT_SAFETENSORS] = "safetensors", [MFS_FMT_GGUF] = "gguf",
	[MFS_FMT_NUMPY] = "numpy", [MFS_FMT_SAVEDMODEL] = "tf-savedmodel",
	[MFS_FMT_ZIP] = "zip", [MFS_FMT_JSON] = "json", [MFS_FMT_TEXT] = "text",
};

const char *mfs_format_name(enum mfs_format f)
{
	return (unsigned)f < MFS_FMT_COUNT && names[f] ? names[f] : "unknown";
}

static bool has(const uint8_t *h, size_t n, const char *needle)
{
	size_t l = strlen(needle);

	return h && l <= n && memmem(h, n, needle, l) != NULL;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* safetensors: u64 LE header length, then a JSON object header whose
 * tensors' data_offsets fit in the file. */
static bool is_safetensors(const uint8_t *h, size_t n, uint64_t size)
{
	uint64_t hl;
	cJSON *j, *t;
	bool ok = true;

	if (n < 10)
		return false;
	hl = le64(h);
	if (hl < 2 || hl > 100000000 || 8 + hl > size || h[8] != '{')
		return false;
	if (8 + hl > n)
		return true;	/* header beyond the probe: the shape is enough */
	j = cJSON_ParseWithLength((const char *)h + 8, (size_t)hl);
	if (!j || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return false;
	}
	cJSON_ArrayForEach(t, j) {
		cJSON *off;

		if (!strcmp(t->string, "__metadata__"))
			continue;
		off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
		if (!cJSON_IsObject(t) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "dtype")) ||
		    !cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
		    cJSON_GetArrayItem(off, 1)->valuedouble > (double)(size - 8 - hl)) {
			ok = false;
			break;
		}
	}
	cJSON_Delete(j);
	return ok;
}

/* A zip: tell its kind by the member names in its first local headers. */
static enum mfs_format zip_kind(const uint8_t *h, size_t n)
{
	if (has(h, n, "constants.pkl") || has(h, n, "/code/"))
		return MFS_FMT_TORCHSCRIPT;
	if (has(h, n, "data.pkl"))
		return MFS_FMT_TORCH;
	if (has(h, n, "model.weights.h5") ||
	    (has(h, n, "config.json") && has(h, n, "metadata.json")))
		return MFS_FMT_KERAS;
	return MFS_FMT_ZIP;
}

/* protobuf: ONNX ModelProto starts with ir_version (field 1, varint, 3 and
 * up in practice); SavedModel with saved_model_schema_version 1 followed
 * by meta_graphs (field 2). */
static enum mfs_format protobuf_kind(const uint8_t *h, size_t n)
{
	if (n < 4 || h[0] != 0x08)
		return MFS_FMT_UNKNOWN;
	if (h[1] == 0x01 && h[2] == 0x12)
		return MFS_FMT_SAVEDMODEL;
	if (h[1] >= 3 && h[1] <= 20 &&
	    (h[2] == 0x12 || h[2] == 0x1a || h[2] == 0x22 || h[2] == 0x28 ||
	     h[2] == 0x32 || h[2] == 0x3a || h[2] == 0x42))
		return MFS_FMT_ONNX;
	return MFS_FMT_UNKNOWN;
}

static bool is_text(const uint8_t *h, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = h[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
				      (c & 0xf8) == 0xf0 ? 4 : 0;

		if (!len || (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f'))
			return false;
		if (i + len > n)
			return true;	/* a character cut by the probe */
		for (size_t k = 1; k < len; k++)
			if ((h[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

enum mfs_format mfs_format_detect(const uint8_t *h, size_t n, uint64_t size)
{
	enum mfs_format f;

	if (!h || n == 0)
		return MFS_FMT_UNKNOWN;
	if (n >= 8 && !memcmp(h, "\x89HDF\r\n\x1a\n", 8))
		return MFS_FMT_HDF5;
	if (n >= 4 && !memcmp(h, "GGUF", 4))
		return MFS_FMT_GGUF;
	if (n >= 6 && !memcmp(h, "\x93NUMPY", 6))
		return MFS_FMT_NUMPY;
	if (n >= 4 && !memcmp(h, "PK\x03\x04", 4))
		return zip_kind(h, n);
	if (n >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5)
		return has(h, n, "joblib") ? MFS_FMT_JOBLIB : MFS_FMT_PICKLE;
	if (is_safetensors(h, n, size))
		return MFS_FMT_SAFETENSORS;
	f = protobuf_kind(h, n);
	if (f != MFS_FMT_UNKNOWN)
		return f;
	if (is_text(h, n)) {
		size_t i = 0;

		while (i < n && (h[i] == ' ' || h[i] == '\n' || h[i] == '\t' || h[i] == '\r'))
			i++;
		if (i < n && (h[i] == '{' || h[i] == '[')) {
			cJSON *j = n == size ? cJSON_ParseWithLength((const char *)h, n) : NULL;
			bool json = j != NULL || n < size;

			cJSON_Delete(j);
			if (json)
				return MFS_FMT_JSON;
		}
		return MFS_FMT_TEXT;
	}
	return MFS_FMT_UNKNOWN;
}
