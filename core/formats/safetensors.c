/* safetensors.c — how a safetensors file is read.
 *
 * The file is untrusted: the header's length and the number of its entries
 * and values are bounded before it is parsed (the tree costs tens of bytes
 * per header byte), then it is parsed by the strict JSON reader (json-util.h)
 * into a json-glib tree and every field is checked (types, ranks, overflow of
 * shape × dtype size, offsets tiling the buffer exactly) before any tensor
 * byte is touched.  Files are read into memory, never mapped (safetensors.h). */
#include "ddim.h"
#include "json-util.h"
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  const char *name;
  DdimDtype dtype;
  unsigned bits;
} DtypeInfo;

/* All dtype names of the format (safetensors README); bits per element. */
static const DtypeInfo known_dtypes[] = {
    {"F32", DDIM_DTYPE_F32, 32},          {"F16", DDIM_DTYPE_F16, 16},
    {"BF16", DDIM_DTYPE_BF16, 16},        {"F64", DDIM_DTYPE_OTHER, 64},
    {"BOOL", DDIM_DTYPE_OTHER, 8},        {"U8", DDIM_DTYPE_OTHER, 8},
    {"I8", DDIM_DTYPE_OTHER, 8},          {"I16", DDIM_DTYPE_OTHER, 16},
    {"U16", DDIM_DTYPE_OTHER, 16},        {"I32", DDIM_DTYPE_OTHER, 32},
    {"U32", DDIM_DTYPE_OTHER, 32},        {"I64", DDIM_DTYPE_OTHER, 64},
    {"U64", DDIM_DTYPE_OTHER, 64},        {"C64", DDIM_DTYPE_OTHER, 64},
    {"F8_E5M2", DDIM_DTYPE_OTHER, 8},     {"F8_E4M3", DDIM_DTYPE_OTHER, 8},
    {"F8_E8M0", DDIM_DTYPE_OTHER, 8},     {"F8_E4M3FNUZ", DDIM_DTYPE_OTHER, 8},
    {"F8_E5M2FNUZ", DDIM_DTYPE_OTHER, 8}, {"F6_E2M3", DDIM_DTYPE_OTHER, 6},
    {"F6_E3M2", DDIM_DTYPE_OTHER, 6},     {"F4", DDIM_DTYPE_OTHER, 4},
};

static const DtypeInfo *lookup_dtype(const char *name) {
  for (size_t i = 0; i < G_N_ELEMENTS(known_dtypes); i++)
    if (strcmp(known_dtypes[i].name, name) == 0) return &known_dtypes[i];
  return NULL;
}

static void tensor_clear(DdimStTensor *tensor) {
  g_free(tensor->name);
  g_free(tensor->dtype_name);
}

void ddim_safetensors_free(DdimSafetensors *file) {
  if (!file) return;
  for (int i = 0; i < file->n_tensors; i++) tensor_clear(&file->tensors[i]);
  g_free(file->tensors);
  if (file->by_name) g_hash_table_destroy(file->by_name);
  /* Tensor data may live in what is kept: release it after the tensors. */
  if (file->kept) g_ptr_array_unref(file->kept);
  g_free(file->owned);
  g_free(file->path);
  g_free(file);
}

static gboolean fail(GError **error, const char *path, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static gboolean fail(GError **error, const char *path, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  g_autofree char *what = g_strdup_vprintf(fmt, args);
  va_end(args);
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: not a valid safetensors file: %s", path,
              what);
  return FALSE;
}

/* A JSON integer ≥ 0: not 4.0, not -0 (the safetensors crate reads usize). */
static gboolean node_to_count(JsonNode *node, uint64_t *value) {
  gint64 v;
  if (!ddim_json_node_int(node, 0, G_MAXINT64, &v)) return FALSE;
  *value = (uint64_t)v;
  return TRUE;
}

static gboolean parse_tensor_entry(const char *path, const char *name, JsonNode *node,
                                   DdimStTensor *tensor, uint64_t *begin, uint64_t *end,
                                   GError **error) {
  if (!JSON_NODE_HOLDS_OBJECT(node))
    return fail(error, path, "entry \"%s\" is not an object", name);
  JsonObject *entry = json_node_get_object(node);

  JsonNode *dtype_node = json_object_get_member(entry, "dtype");
  if (!dtype_node || JSON_NODE_TYPE(dtype_node) != JSON_NODE_VALUE ||
      json_node_get_value_type(dtype_node) != G_TYPE_STRING)
    return fail(error, path, "tensor \"%s\" has no dtype string", name);
  const char *dtype_name = json_node_get_string(dtype_node);
  const DtypeInfo *dtype = lookup_dtype(dtype_name);
  if (!dtype) return fail(error, path, "tensor \"%s\" has unknown dtype \"%s\"", name, dtype_name);

  JsonNode *shape_node = json_object_get_member(entry, "shape");
  if (!shape_node || !JSON_NODE_HOLDS_ARRAY(shape_node))
    return fail(error, path, "tensor \"%s\" has no shape array", name);
  JsonArray *shape = json_node_get_array(shape_node);
  guint rank = json_array_get_length(shape);
  if (rank > DDIM_ST_MAX_RANK)
    return fail(error, path, "tensor \"%s\" has rank %u (at most %d supported)", name, rank,
                DDIM_ST_MAX_RANK);
  uint64_t elements = 1;
  for (guint i = 0; i < rank; i++) {
    uint64_t dim;
    if (!node_to_count(json_array_get_element(shape, i), &dim))
      return fail(error, path, "tensor \"%s\" has a shape entry that is not a count", name);
    if (dim > (uint64_t)INT64_MAX) return fail(error, path, "tensor \"%s\" is too large", name);
    tensor->shape[i] = (int64_t)dim;
    if (dim != 0 && elements > UINT64_MAX / dim)
      return fail(error, path, "tensor \"%s\": shape overflows", name);
    elements *= dim;
  }
  if (elements > UINT64_MAX / dtype->bits)
    return fail(error, path, "tensor \"%s\": byte count overflows", name);
  uint64_t bits = elements * dtype->bits;
  if (bits % 8 != 0)
    return fail(error, path, "tensor \"%s\": %s data does not fill whole bytes", name, dtype_name);

  JsonNode *offsets_node = json_object_get_member(entry, "data_offsets");
  if (!offsets_node || !JSON_NODE_HOLDS_ARRAY(offsets_node) ||
      json_array_get_length(json_node_get_array(offsets_node)) != 2)
    return fail(error, path, "tensor \"%s\" has no [begin, end] data_offsets", name);
  JsonArray *offsets = json_node_get_array(offsets_node);
  if (!node_to_count(json_array_get_element(offsets, 0), begin) ||
      !node_to_count(json_array_get_element(offsets, 1), end) || *end < *begin)
    return fail(error, path, "tensor \"%s\" has invalid data_offsets", name);
  if (*end - *begin != bits / 8)
    return fail(error, path,
                "tensor \"%s\" holds %" G_GUINT64_FORMAT " bytes but its shape and dtype %s need "
                "%" G_GUINT64_FORMAT,
                name, *end - *begin, dtype_name, bits / 8);

  tensor->name = g_strdup(name);
  tensor->dtype_name = g_strdup(dtype_name);
  tensor->dtype = dtype->dtype;
  tensor->rank = (int)rank;
  tensor->elements = elements;
  tensor->nbytes = bits / 8;
  return TRUE;
}

typedef struct {
  uint64_t begin, end;
  int index;
} Extent;

static int compare_extents(const void *a, const void *b) {
  const Extent *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* Counts, without building anything, the members of the header's top-level
 * object (its tensors and "__metadata__") and an upper bound of its JSON
 * values (the root, each value after ':' or ',' and each array's first), so
 * that a header of a million tiny tensors or values is refused before the
 * parser builds a tree of them.  Malformed text is counted as it comes: the
 * parser refuses it afterwards. */
static void count_header(const char *text, size_t length, uint64_t *members, uint64_t *values) {
  uint64_t depth = 0, colons = 0, top_colons = 0, others = 0;
  gboolean in_string = FALSE;
  for (size_t i = 0; i < length; i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        i++; /* an escaped quote does not end the string */
      else if (c == '"')
        in_string = FALSE;
      continue;
    }
    switch (c) {
    case '"':
      in_string = TRUE;
      break;
    case '{':
      depth++;
      break;
    case '[':
      depth++;
      others++;
      break;
    case '}':
    case ']':
      if (depth) depth--;
      break;
    case ':':
      colons++;
      if (depth == 1) top_colons++;
      break;
    case ',':
      others++;
      break;
    default:
      break;
    }
  }
  *members = top_colons;
  *values = 1 + colons + others;
}

DdimSafetensors *ddim_safetensors_parse(const guint8 *bytes, size_t size, const char *path,
                                        GError **error) {
  if (size < 8) {
    fail(error, path, "the file is %zu bytes long, shorter than the 8-byte header length", size);
    return NULL;
  }
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; i--) header_length = (header_length << 8) | bytes[i];
  if (header_length == 0) {
    fail(error, path, "the header length is zero");
    return NULL;
  }
  if (header_length > DDIM_ST_MAX_HEADER) {
    fail(error, path,
         "the header is %" G_GUINT64_FORMAT " bytes long; the limit is %u bytes (16 MiB)",
         header_length, DDIM_ST_MAX_HEADER);
    return NULL;
  }
  if (header_length > size - 8) {
    fail(error, path,
         "the header length %" G_GUINT64_FORMAT " is larger than the rest of the file (%zu bytes)",
         header_length, size - 8);
    return NULL;
  }
  const char *header = (const char *)bytes + 8;
  if (header[0] != '{') {
    fail(error, path, "the header does not start with '{'");
    return NULL;
  }
  uint64_t entries, values;
  count_header(header, (size_t)header_length, &entries, &values);
  /* One more entry than tensors: "__metadata__". */
  if (entries > DDIM_ST_MAX_TENSORS + 1) {
    fail(error, path, "the header lists %" G_GUINT64_FORMAT " entries; the limit is %d tensors",
         entries, DDIM_ST_MAX_TENSORS);
    return NULL;
  }
  if (values > DDIM_ST_MAX_JSON_VALUES) {
    fail(error, path,
         "the header holds about %" G_GUINT64_FORMAT
         " JSON values; the limit is %d (16 per tensor)",
         values, DDIM_ST_MAX_JSON_VALUES);
    return NULL;
  }
  /* The strict reader refuses what the safetensors crate (serde_json)
   * refuses: duplicate names, \u0000 in names or dtypes, integers beyond 64
   * bits, comments, trailing data, ... (json-util.h). */
  g_autoptr(GError) json_error = NULL;
  g_autoptr(JsonNode) root = ddim_json_parse(header, (size_t)header_length, &json_error);
  if (!root) {
    fail(error, path, "header: %s", json_error->message);
    return NULL;
  }
  if (!JSON_NODE_HOLDS_OBJECT(root)) {
    fail(error, path, "the header is not a JSON object");
    return NULL;
  }
  JsonObject *table = json_node_get_object(root);

  g_autoptr(DdimSafetensors) file = g_new0(DdimSafetensors, 1);
  file->path = g_strdup(path);
  file->bytes = bytes;
  file->size = size;
  file->header_length = (size_t)header_length;
  file->by_name = g_hash_table_new(g_str_hash, g_str_equal);

  g_autoptr(GList) members = json_object_get_members(table);
  guint member_count = g_list_length(members);
  file->tensors = g_new0(DdimStTensor, member_count ? member_count : 1);
  g_autofree Extent *extents = g_new0(Extent, member_count ? member_count : 1);

  for (GList *it = members; it; it = it->next) {
    const char *name = it->data;
    JsonNode *node = json_object_get_member(table, name);
    if (strcmp(name, "__metadata__") == 0) {
      if (!JSON_NODE_HOLDS_OBJECT(node)) {
        fail(error, path, "__metadata__ is not an object");
        return NULL;
      }
      continue;
    }
    if (g_hash_table_contains(file->by_name, name)) {
      fail(error, path, "tensor \"%s\" appears twice", name);
      return NULL;
    }
    DdimStTensor *tensor = &file->tensors[file->n_tensors];
    uint64_t begin = 0, end = 0;
    if (!parse_tensor_entry(path, name, node, tensor, &begin, &end, error)) {
      tensor_clear(tensor);
      memset(tensor, 0, sizeof *tensor);
      return NULL;
    }
    extents[file->n_tensors] = (Extent){begin, end, file->n_tensors};
    g_hash_table_insert(file->by_name, tensor->name, tensor);
    file->n_tensors++;
  }

  /* The tensors must tile the buffer: sorted by offset, contiguous from 0,
   * ending exactly at the end of the file. */
  uint64_t buffer_size = (uint64_t)size - 8 - header_length;
  qsort(extents, (size_t)file->n_tensors, sizeof *extents, compare_extents);
  uint64_t expected = 0;
  for (int i = 0; i < file->n_tensors; i++) {
    const DdimStTensor *tensor = &file->tensors[extents[i].index];
    if (extents[i].begin != expected) {
      fail(error, path,
           extents[i].begin < expected ? "tensor \"%s\" overlaps the previous tensor"
                                       : "there is a gap in the data before tensor \"%s\"",
           tensor->name);
      return NULL;
    }
    if (extents[i].end > buffer_size) {
      fail(error, path,
           "tensor \"%s\" ends at byte %" G_GUINT64_FORMAT " of a %" G_GUINT64_FORMAT
           "-byte data buffer (file truncated?)",
           tensor->name, extents[i].end, buffer_size);
      return NULL;
    }
    expected = extents[i].end;
  }
  if (expected != buffer_size) {
    fail(error, path, "the data buffer has %" G_GUINT64_FORMAT " bytes after the last tensor",
         buffer_size - expected);
    return NULL;
  }
  for (int i = 0; i < file->n_tensors; i++) {
    uint64_t begin = extents[i].begin;
    file->tensors[extents[i].index].data = bytes + 8 + header_length + begin;
  }
  return g_steal_pointer(&file);
}

guint8 *ddim_weights_read(const char *path, size_t *size, GError **error) {
  /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused
   * below as not a regular file); reads of regular files ignore the flag. */
  int fd = g_open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) {
    int saved_errno = errno;
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot read: %s", path,
                g_strerror(saved_errno));
    return NULL;
  }
  /* A device has no length and a folder no bytes. */
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: not a regular file", path);
    close(fd);
    return NULL;
  }
  if ((guint64)info.st_size > G_MAXSIZE - 1) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "%s: the file is too large to read", path);
    close(fd);
    return NULL;
  }
  size_t length = (size_t)info.st_size;
  guint8 *bytes = g_try_malloc(length ? length : 1);
  if (bytes == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "%s: not enough memory to read its %zu bytes", path, length);
    close(fd);
    return NULL;
  }
  size_t done = 0;
  while (done < length) {
    ssize_t got = read(fd, bytes + done, MIN(length - done, (size_t)1 << 30));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      int saved_errno = errno;
      if (got < 0)
        g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: read error: %s", path,
                    g_strerror(saved_errno));
      else
        g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO,
                    "%s: the file changed while it was being read (%zu of %zu bytes)", path, done,
                    length);
      g_free(bytes);
      close(fd);
      return NULL;
    }
    done += (size_t)got;
  }
  close(fd);
  *size = length;
  return bytes;
}

DdimSafetensors *ddim_safetensors_open(const char *path, GError **error) {
  size_t size = 0;
  guint8 *bytes = ddim_weights_read(path, &size, error);
  if (!bytes) return NULL;
  DdimSafetensors *file = ddim_safetensors_parse(bytes, size, path, error);
  if (!file) {
    g_free(bytes);
    return NULL;
  }
  file->owned = bytes;
  return file;
}

const DdimStTensor *ddim_safetensors_find(const DdimSafetensors *file, const char *name) {
  return g_hash_table_lookup(file->by_name, name);
}

/* ---- Built tables ---------------------------------------------------------- */

typedef struct {
  gpointer data;
  GDestroyNotify destroy;
} Kept;

static void kept_free(gpointer data) {
  Kept *kept = data;
  if (kept->destroy) kept->destroy(kept->data);
  g_free(kept);
}

DdimSafetensors *ddim_tensor_table_new(const char *path, int capacity) {
  DdimSafetensors *table = g_new0(DdimSafetensors, 1);
  table->path = g_strdup(path);
  table->capacity = MAX(capacity, 0);
  table->tensors = g_new0(DdimStTensor, table->capacity ? table->capacity : 1);
  table->by_name = g_hash_table_new(g_str_hash, g_str_equal);
  table->kept = g_ptr_array_new_with_free_func(kept_free);
  return table;
}

void ddim_tensor_table_keep(DdimSafetensors *table, gpointer data, GDestroyNotify destroy) {
  if (!table->kept) table->kept = g_ptr_array_new_with_free_func(kept_free);
  Kept *kept = g_new(Kept, 1);
  kept->data = data;
  kept->destroy = destroy;
  g_ptr_array_add(table->kept, kept);
}

DdimStTensor *ddim_tensor_table_add(DdimSafetensors *table, const char *name,
                                    const char *dtype_name, int rank, const int64_t *shape,
                                    const guint8 *data, GError **error) {
  const DtypeInfo *dtype = lookup_dtype(dtype_name);
  if (table->n_tensors >= table->capacity) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: more than %d tensors", table->path,
                table->capacity);
    return NULL;
  }
  if (!dtype || rank < 0 || rank > DDIM_ST_MAX_RANK) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: tensor \"%s\" has dtype %s and rank %d, which a tensor table cannot hold",
                table->path, name, dtype_name, rank);
    return NULL;
  }
  if (g_hash_table_contains(table->by_name, name)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: tensor \"%s\" appears twice",
                table->path, name);
    return NULL;
  }
  uint64_t elements = 1;
  for (int i = 0; i < rank; i++) {
    if (shape[i] < 0 || __builtin_mul_overflow(elements, (uint64_t)shape[i], &elements) ||
        elements > UINT64_MAX / dtype->bits) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: tensor \"%s\" is too large",
                  table->path, name);
      return NULL;
    }
  }
  DdimStTensor *tensor = &table->tensors[table->n_tensors++];
  tensor->name = g_strdup(name);
  tensor->dtype_name = g_strdup(dtype->name);
  tensor->dtype = dtype->dtype;
  tensor->rank = rank;
  for (int i = 0; i < rank; i++) tensor->shape[i] = shape[i];
  tensor->elements = elements;
  tensor->nbytes = elements * dtype->bits / 8;
  tensor->data = data;
  g_hash_table_insert(table->by_name, tensor->name, tensor);
  return tensor;
}

gboolean ddim_tensor_table_reindex(DdimSafetensors *table, GError **error) {
  g_hash_table_remove_all(table->by_name);
  for (int i = 0; i < table->n_tensors; i++) {
    DdimStTensor *tensor = &table->tensors[i];
    if (g_hash_table_contains(table->by_name, tensor->name)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: tensor \"%s\" appears twice",
                  table->path, tensor->name);
      return FALSE;
    }
    g_hash_table_insert(table->by_name, tensor->name, tensor);
  }
  return TRUE;
}

float ddim_half_to_float(uint16_t half) {
  uint32_t sign = (uint32_t)(half & 0x8000u) << 16;
  uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t mantissa = half & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else { /* subnormal: renormalise */
      int shift = 0;
      while (!(mantissa & 0x400u)) {
        mantissa <<= 1;
        shift++;
      }
      mantissa &= 0x3ffu;
      bits = sign | ((uint32_t)(127 - 15 + 1 - shift) << 23) | (mantissa << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

float ddim_bf16_to_float(uint16_t bf16) {
  uint32_t bits = (uint32_t)bf16 << 16;
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

gboolean ddim_st_tensor_to_f32(const DdimStTensor *tensor, float *out) {
  const guint8 *data = tensor->data;
  switch (tensor->dtype) {
  case DDIM_DTYPE_F32:
    for (uint64_t i = 0; i < tensor->elements; i++) {
      uint32_t bits = (uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 |
                      (uint32_t)data[4 * i + 2] << 16 | (uint32_t)data[4 * i + 3] << 24;
      memcpy(&out[i], &bits, sizeof bits);
    }
    return TRUE;
  case DDIM_DTYPE_F16:
    for (uint64_t i = 0; i < tensor->elements; i++)
      out[i] = ddim_half_to_float((uint16_t)(data[2 * i] | data[2 * i + 1] << 8));
    return TRUE;
  case DDIM_DTYPE_BF16:
    for (uint64_t i = 0; i < tensor->elements; i++)
      out[i] = ddim_bf16_to_float((uint16_t)(data[2 * i] | data[2 * i + 1] << 8));
    return TRUE;
  case DDIM_DTYPE_OTHER:
  default:
    return FALSE;
  }
}

void ddim_st_release_tensor_pages(const DdimSafetensors *file, const DdimStTensor *tensor) {
  /* The bytes are a private copy on the heap (safetensors.h): madvise would
   * zero them, not refetch them, and ddim convert reads them again. */
  (void)file, (void)tensor;
}
