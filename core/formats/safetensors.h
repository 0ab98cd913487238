/* safetensors.h — reading the safetensors format, validated and mmapped.
 *
 * Format (huggingface/safetensors): u64 little-endian header length N, N
 * bytes of JSON {name: {dtype, shape, data_offsets: [begin, end)}} with an
 * optional "__metadata__", then the byte buffer.  Offsets are relative to the
 * buffer; tensors must tile it exactly, in any order. */
#ifndef DDIM_SAFETENSORS_H
#define DDIM_SAFETENSORS_H

#include <glib.h>
#include <stdint.h>

#define DDIM_ST_MAX_RANK 8
#define DDIM_ST_MAX_HEADER 100000000u /* the reference implementation's limit */

typedef enum {
  DDIM_DTYPE_F32,
  DDIM_DTYPE_F16,
  DDIM_DTYPE_BF16,
  DDIM_DTYPE_OTHER, /* a valid safetensors dtype we do not convert */
} DdimDtype;

typedef struct {
  char *name;
  char *dtype_name;
  DdimDtype dtype;
  int rank;
  int64_t shape[DDIM_ST_MAX_RANK];
  uint64_t elements;
  uint64_t nbytes;
  const guint8 *data; /* inside the mapping; may be unaligned */
} DdimStTensor;

/* A table of named tensors: what the network binder (unet.h) consumes.  It
 * is read from a safetensors file, or built by the reader of another format
 * (torch-checkpoint.h) with ddim_tensor_table_new/add; tensor data then
 * points into mappings or buffers that the table keeps alive. */
typedef struct {
  char *path;
  GMappedFile *mapping; /* NULL when parsed from caller memory */
  const guint8 *bytes;  /* the safetensors file; NULL for a built table */
  size_t size;
  size_t header_length;
  DdimStTensor *tensors;
  int n_tensors;
  GHashTable *by_name; /* name → DdimStTensor* */
  int capacity;        /* built tables: room in tensors[] */
  GPtrArray *kept;     /* built tables: what the tensor data lives in */
} DdimSafetensors;

/* Map and validate a file. */
DdimSafetensors *ddim_safetensors_open(const char *path, GError **error);
/* Validate bytes the caller keeps alive (fuzzing, tests); path is for messages. */
DdimSafetensors *ddim_safetensors_parse(const guint8 *bytes, size_t size, const char *path,
                                        GError **error);
void ddim_safetensors_free(DdimSafetensors *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DdimSafetensors, ddim_safetensors_free)

const DdimStTensor *ddim_safetensors_find(const DdimSafetensors *file, const char *name);

/* ---- Built tables ---------------------------------------------------------- */

/* An empty table with room for `capacity` tensors; path is for messages. */
DdimSafetensors *ddim_tensor_table_new(const char *path, int capacity);
/* Append a tensor whose bytes (little-endian, C order) are at `data`;
 * dtype_name is a safetensors dtype.  Refuses a full table, a duplicate
 * name, an unknown dtype, too high a rank or a size that overflows. */
DdimStTensor *ddim_tensor_table_add(DdimSafetensors *table, const char *name,
                                    const char *dtype_name, int rank, const int64_t *shape,
                                    const guint8 *data, GError **error);
/* Keep `data` alive as long as the table; `destroy` frees it with the table. */
void ddim_tensor_table_keep(DdimSafetensors *table, gpointer data, GDestroyNotify destroy);
/* Rebuild the name index after tensor names were changed in place. */
gboolean ddim_tensor_table_reindex(DdimSafetensors *table, GError **error);

/* Convert F32/F16/BF16 data to float32 (safe for unaligned data). */
gboolean ddim_st_tensor_to_f32(const DdimStTensor *tensor, float *out);

/* Once a tensor has been converted, its bytes in the file mapping are not
 * needed: the whole pages inside it are given back to the kernel (they are
 * read again from the file if anything touches them), so an F16/BF16 model
 * does not keep both copies resident.  Does nothing for built tables. */
void ddim_st_release_tensor_pages(const DdimSafetensors *file, const DdimStTensor *tensor);

float ddim_half_to_float(uint16_t half);
float ddim_bf16_to_float(uint16_t bf16);

#endif
