/* safetensors.h — reading the safetensors format, validated and read into
 * memory.
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
/* The header's JSON becomes a json-glib tree many times its length, so its
 * length is what bounds the memory the header costs: 16 MiB is far above
 * real headers (the default model's is 33,968 bytes, `head -c 8
 * models/emoji32/diffusion_pytorch_model.safetensors | od -An -tu8`).  The
 * reference implementation allows 100 MB; a 52 MB header cost 1.6–3.8 GB to
 * parse in the trial that found it (issue 22). */
#define DDIM_ST_MAX_HEADER (16u << 20)
/* Tensors in one file, counted before the JSON is parsed (a UNet has about
 * 700; SDXL checkpoints a few thousand). */
#define DDIM_ST_MAX_TENSORS 65536
/* JSON values (objects, arrays, strings, numbers, …) in one header, counted
 * before it is parsed: 16 per tensor at the tensor limit, so that a header
 * of tiny values (a 16 MiB array of zeros) cannot build a tree of millions
 * of nodes either. */
#define DDIM_ST_MAX_JSON_VALUES (DDIM_ST_MAX_TENSORS * 16)

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
  const guint8 *data; /* inside the file's bytes; may be unaligned */
} DdimStTensor;

/* A table of named tensors: what the network binder (unet.h) consumes.  It
 * is read from a safetensors file, or built by the reader of another format
 * (torch-checkpoint.h) with ddim_tensor_table_new/add; tensor data then
 * points into buffers that the table keeps alive.
 *
 * Files are read into memory, not mapped: a mapped file that another process
 * truncates while a run reads it kills the process with SIGBUS, and weights
 * are used for the whole run (aligned F32 tensors in place).  A private copy
 * costs the file's size in memory (which the network would have kept
 * resident anyway) and one read of the file. */
typedef struct {
  char *path;
  guint8 *owned;       /* the file's bytes, read by ddim_safetensors_open or
                          ddim_weights_read; NULL when parsed from caller memory */
  const guint8 *bytes; /* the safetensors file; NULL for a built table */
  size_t size;
  size_t header_length;
  DdimStTensor *tensors;
  int n_tensors;
  GHashTable *by_name; /* name → DdimStTensor* */
  int capacity;        /* built tables: room in tensors[] */
  GPtrArray *kept;     /* built tables: what the tensor data lives in */
} DdimSafetensors;

/* Read (a private copy, see above) and validate a file. */
DdimSafetensors *ddim_safetensors_open(const char *path, GError **error);
/* The whole of a regular file in memory (g_free it); a FIFO, device or
 * folder is refused before anything is read, and a file that shrinks while
 * it is read is an error, not a short buffer.  For the weight readers. */
guint8 *ddim_weights_read(const char *path, size_t *size, GError **error);
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

/* Once a tensor has been converted, its bytes in the file are not needed.
 * The files are private copies now (see above), whose pages cannot be given
 * back without losing them (ddim convert reads them again), so this does
 * nothing: an F16/BF16 model keeps its file's bytes beside the float32
 * copy.  Kept for the callers, should a reader that can refetch pages come
 * back. */
void ddim_st_release_tensor_pages(const DdimSafetensors *file, const DdimStTensor *tensor);

float ddim_half_to_float(uint16_t half);
float ddim_bf16_to_float(uint16_t bf16);

#endif
