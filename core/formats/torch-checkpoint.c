/* torch-checkpoint.c — how torch.save files and shard indexes become a
 * tensor table.
 *
 * Zip format (torch/serialization.py _save): <root>/data.pkl is the pickle,
 * each storage is the stored record <root>/data/<key> of exactly numel ×
 * element size bytes.  Legacy format (_legacy_save): five pickles — magic
 * number, protocol version 1001, sys_info, the object, the sorted storage
 * keys — then, per key in that order, a little-endian u64 element count and
 * the raw data.  Either way tensors point into the caller's bytes unless a
 * tensor is strided, when it is gathered into a buffer the table keeps. */
#include "torch-checkpoint.h"

#include "ddim.h"
#include "json-util.h"
#include "pickle.h"
#include "torch-zip.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define MAX_INDEX_BYTES (64u << 20)
#define MAX_SHARDS 10000

/* The protocol-2 pickle of torch's MAGIC_NUMBER 0x1950a86a20f9469cfc6c. */
static const guint8 legacy_magic_long[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                           0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

/* Length of the magic-number pickle at the start (PROTO 2..5, an optional
 * FRAME, LONG1 of the magic, STOP), or 0 when it is not there. */
static size_t legacy_magic_length(const guint8 *bytes, size_t size) {
  size_t at = 0;
  if (size < 2 || bytes[0] != 0x80 || bytes[1] < 2 || bytes[1] > 5) return 0;
  at = 2;
  if (size > at && bytes[at] == 0x95) at += 9; /* FRAME + u64 */
  if (size < at + sizeof legacy_magic_long + 1) return 0;
  if (memcmp(bytes + at, legacy_magic_long, sizeof legacy_magic_long) != 0) return 0;
  at += sizeof legacy_magic_long;
  return bytes[at] == '.' ? at + 1 : 0;
}

DdimWeightsFormat ddim_weights_sniff(const guint8 *bytes, size_t size) {
  if (size >= 4 && bytes[0] == 'P' && bytes[1] == 'K' &&
      ((bytes[2] == 3 && bytes[3] == 4) || (bytes[2] == 5 && bytes[3] == 6)))
    return DDIM_WEIGHTS_TORCH_ZIP;
  if (legacy_magic_length(bytes, size)) return DDIM_WEIGHTS_TORCH_LEGACY;
  if (size >= 9 && bytes[8] == '{') return DDIM_WEIGHTS_SAFETENSORS;
  for (size_t i = 0; i < size && i < 4096; i++) {
    if (bytes[i] == '{') return DDIM_WEIGHTS_SHARD_INDEX;
    if (!g_ascii_isspace(bytes[i])) break;
  }
  return DDIM_WEIGHTS_UNKNOWN;
}

/* ---- Choosing the state dict ---------------------------------------------- */

static const DdimPickleObject *object(const DdimPickle *pickle, guint32 id) {
  return ddim_pickle_object(pickle, id);
}

/* A dict with at least one item whose keys are strings and values tensors. */
static gboolean is_state_dict(const DdimPickle *pickle, guint32 id) {
  const DdimPickleObject *dict = object(pickle, id);
  if (dict->kind != DDIM_PICKLE_DICT || dict->items->len == 0) return FALSE;
  for (guint i = 0; i < dict->items->len; i += 2) {
    if (object(pickle, ddim_pickle_item(pickle, id, i))->kind != DDIM_PICKLE_STRING ||
        object(pickle, ddim_pickle_item(pickle, id, i + 1))->kind != DDIM_PICKLE_TENSOR)
      return FALSE;
  }
  return TRUE;
}

/* The value of string key `key` in a dict (the last one, as Python keeps). */
static gboolean dict_get(const DdimPickle *pickle, guint32 id, const char *key, guint32 *value) {
  gboolean found = FALSE;
  for (guint i = 0; i + 1 < ddim_pickle_item_count(pickle, id); i += 2) {
    if (ddim_pickle_string_is(pickle, ddim_pickle_item(pickle, id, i), key)) {
      *value = ddim_pickle_item(pickle, id, i + 1);
      found = TRUE;
    }
  }
  return found;
}

static gboolean choose_state_dict(const DdimPickle *pickle, const char *path, guint32 *chosen,
                                  const char **what, GError **error) {
  const DdimPickleObject *root = object(pickle, pickle->root);
  if (root->kind == DDIM_PICKLE_DICT) {
    if (is_state_dict(pickle, pickle->root)) {
      *chosen = pickle->root;
      *what = "state dict";
      return TRUE;
    }
    static const char *const nested[][2] = {
        {"ema", "EMA weights (\"ema\")"}, {"state_dict", "\"state_dict\""}, {"model", "\"model\""}};
    for (size_t i = 0; i < G_N_ELEMENTS(nested); i++) {
      guint32 value;
      if (dict_get(pickle, pickle->root, nested[i][0], &value) && is_state_dict(pickle, value)) {
        *chosen = value;
        *what = nested[i][1];
        return TRUE;
      }
    }
  } else if (root->kind == DDIM_PICKLE_LIST || root->kind == DDIM_PICKLE_TUPLE) {
    guint count = root->items->len;
    if (count >= 5 && is_state_dict(pickle, ddim_pickle_item(pickle, pickle->root, count - 1))) {
      *chosen = ddim_pickle_item(pickle, pickle->root, count - 1);
      *what = "EMA weights of a training checkpoint";
      return TRUE;
    }
    if (count >= 1 && is_state_dict(pickle, ddim_pickle_item(pickle, pickle->root, 0))) {
      *chosen = ddim_pickle_item(pickle, pickle->root, 0);
      *what = "model weights of a training checkpoint";
      return TRUE;
    }
  }
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
              "%s: holds no state dict (a dict of named tensors, at the top, under \"ema\", "
              "\"state_dict\" or \"model\", or in a training checkpoint list)",
              path);
  return FALSE;
}

/* ---- Building the table --------------------------------------------------- */

/* Where each storage's bytes are (resolved by the container). */
typedef struct {
  const guint8 *data;
} StorageBytes;

/* PyTorch's contiguity: strides of size-1 dimensions do not matter. */
static gboolean is_contiguous(const DdimPickleTensor *tensor) {
  int64_t expected = 1;
  for (int i = tensor->rank - 1; i >= 0; i--) {
    if (tensor->shape[i] == 0) return TRUE;
    if (tensor->shape[i] != 1 && tensor->stride[i] != expected) return FALSE;
    expected *= tensor->shape[i];
  }
  return TRUE;
}

/* Copy a strided tensor into C order (elements checked inside the storage). */
static guint8 *gather(const DdimPickleTensor *tensor, const guint8 *base, int element_size) {
  guint8 *out = g_try_malloc(tensor->numel * (uint64_t)element_size);
  if (!out) return NULL;
  int64_t index[DDIM_PICKLE_MAX_RANK] = {0};
  for (uint64_t n = 0; n < tensor->numel; n++) {
    uint64_t element = tensor->offset;
    for (int i = 0; i < tensor->rank; i++)
      element += (uint64_t)index[i] * (uint64_t)tensor->stride[i];
    memcpy(out + n * (uint64_t)element_size, base + element * (uint64_t)element_size,
           (size_t)element_size);
    for (int i = tensor->rank - 1; i >= 0; i--) {
      if (++index[i] < tensor->shape[i]) break;
      index[i] = 0;
    }
  }
  return out;
}

static gboolean valid_name(const DdimPickleObject *key) {
  return key->length > 0 && key->length < 4096 && !memchr(key->text, '\0', key->length) &&
         g_utf8_validate_len(key->text, key->length, NULL);
}

static DdimSafetensors *build_table(const DdimPickle *pickle, guint32 dict,
                                    const StorageBytes *storages, const char *path,
                                    gboolean *stripped, GError **error) {
  /* Keys in first-seen order, the last value kept (Python dict semantics). */
  g_autoptr(GHashTable) position = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new();
  g_autoptr(GArray) tensors = g_array_new(FALSE, FALSE, sizeof(guint32));
  gboolean all_prefixed = TRUE;
  for (guint i = 0; i < ddim_pickle_item_count(pickle, dict); i += 2) {
    const DdimPickleObject *key = object(pickle, ddim_pickle_item(pickle, dict, i));
    guint32 tensor = (guint32)object(pickle, ddim_pickle_item(pickle, dict, i + 1))->integer;
    if (!valid_name(key)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: a tensor name is empty, too long, or not UTF-8 text", path);
      return NULL;
    }
    char *name = g_strndup(key->text, key->length);
    gpointer found;
    if (g_hash_table_lookup_extended(position, name, NULL, &found)) {
      g_array_index(tensors, guint32, GPOINTER_TO_UINT(found)) = tensor;
      g_free(name);
      continue;
    }
    all_prefixed &= g_str_has_prefix(name, "module.") && name[strlen("module.")] != '\0';
    g_hash_table_insert(position, name, GUINT_TO_POINTER(tensors->len));
    g_ptr_array_add(names, name);
    g_array_append_val(tensors, tensor);
  }
  *stripped = all_prefixed;

  g_autoptr(DdimSafetensors) table = ddim_tensor_table_new(path, (int)tensors->len);
  for (guint i = 0; i < tensors->len; i++) {
    const DdimPickleTensor *tensor =
        &g_array_index(pickle->tensors, DdimPickleTensor, g_array_index(tensors, guint32, i));
    const DdimPickleStorage *storage =
        &g_array_index(pickle->storages, DdimPickleStorage, tensor->storage);
    const char *name = names->pdata[i];
    if (all_prefixed) name += strlen("module.");
    int element_size = ddim_torch_dtype_size(storage->dtype);
    const guint8 *base = storages[tensor->storage].data;
    const guint8 *data = base + tensor->offset * (uint64_t)element_size;
    if (!is_contiguous(tensor)) {
      /* A strided view never needs more elements than its storage holds;
       * more would be a broadcast (stride 0) that only costs memory. */
      guint8 *copy = tensor->numel <= storage->numel ? gather(tensor, base, element_size) : NULL;
      if (!copy) {
        g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                    "%s: tensor \"%s\" is a strided view of %" G_GUINT64_FORMAT
                    " elements that cannot be copied out of its storage",
                    path, name, tensor->numel);
        return NULL;
      }
      ddim_tensor_table_keep(table, copy, g_free);
      data = copy;
    }
    if (!ddim_tensor_table_add(table, name, ddim_torch_dtype_name(storage->dtype), tensor->rank,
                               tensor->shape, data, error))
      return NULL;
  }
  return g_steal_pointer(&table);
}

/* ---- Containers ----------------------------------------------------------- */

static DdimSafetensors *table_from_pickle(const DdimPickle *pickle, const StorageBytes *storages,
                                          const char *path, const char *format, char **description,
                                          GError **error) {
  guint32 chosen;
  const char *what;
  if (!choose_state_dict(pickle, path, &chosen, &what, error)) return NULL;
  gboolean stripped = FALSE;
  DdimSafetensors *table = build_table(pickle, chosen, storages, path, &stripped, error);
  if (table && description)
    *description =
        g_strdup_printf("%s, %s%s", format, what, stripped ? " (\"module.\" prefix removed)" : "");
  return table;
}

static DdimSafetensors *parse_zip(const guint8 *bytes, size_t size, const char *path,
                                  char **description, GError **error) {
  g_autoptr(DdimZip) zip = ddim_zip_parse(bytes, size, path, error);
  if (!zip) return NULL;
  if (ddim_zip_find(zip, "constants.pkl")) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: a TorchScript archive (torch.jit.save), not a torch.save checkpoint", path);
    return NULL;
  }
  const DdimZipEntry *byteorder = ddim_zip_find(zip, "byteorder");
  if (byteorder) {
    const char *text = (const char *)bytes + byteorder->data_offset;
    gboolean little = byteorder->size == 6 && memcmp(text, "little", 6) == 0;
    gboolean big = byteorder->size == 3 && memcmp(text, "big", 3) == 0;
    if (!little) {
      g_set_error(error, DDIM_ERROR, big ? DDIM_ERROR_UNSUPPORTED : DDIM_ERROR_FORMAT,
                  big ? "%s: big-endian tensor data; re-save the file on a little-endian machine"
                      : "%s: the byteorder record is neither \"little\" nor \"big\"",
                  path);
      return NULL;
    }
  }
  const DdimZipEntry *data_pkl = ddim_zip_find(zip, "data.pkl");
  if (!data_pkl) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: no %s/data.pkl in the archive", path,
                zip->root);
    return NULL;
  }
  g_autofree char *where = g_strdup_printf("%s (%s)", path, data_pkl->name);
  g_autoptr(DdimPickle) pickle = ddim_pickle_parse(bytes + data_pkl->data_offset, data_pkl->size,
                                                   DDIM_PICKLE_ZIP_STORAGES, where, error);
  if (!pickle) return NULL;
  if (pickle->length != data_pkl->size) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: data after STOP", where);
    return NULL;
  }
  g_autofree StorageBytes *storages = g_new0(StorageBytes, pickle->storages->len + 1);
  for (guint i = 0; i < pickle->storages->len; i++) {
    const DdimPickleStorage *storage = &g_array_index(pickle->storages, DdimPickleStorage, i);
    g_autofree char *record = g_strdup_printf("data/%s", storage->key);
    const DdimZipEntry *entry = ddim_zip_find(zip, record);
    if (!entry) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: storage \"%s\" has no record %s/%s",
                  path, storage->key, zip->root, record);
      return NULL;
    }
    uint64_t needed = storage->numel * (uint64_t)ddim_torch_dtype_size(storage->dtype);
    if (entry->size != needed) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: refused: storage \"%s\" declares %" G_GUINT64_FORMAT
                  " %s elements (%" G_GUINT64_FORMAT
                  " bytes) but its record holds %" G_GUINT64_FORMAT " bytes",
                  path, storage->key, storage->numel, ddim_torch_dtype_name(storage->dtype), needed,
                  entry->size);
      return NULL;
    }
    storages[i].data = bytes + entry->data_offset;
  }
  return table_from_pickle(pickle, storages, path, "PyTorch zip checkpoint", description, error);
}

/* One of the small header pickles of the legacy format. */
static DdimPickle *legacy_pickle(const guint8 *bytes, size_t size, size_t *at, const char *path,
                                 const char *what, DdimPickleStorageIds ids, GError **error) {
  g_autofree char *where = g_strdup_printf("%s (legacy %s pickle)", path, what);
  DdimPickle *pickle = ddim_pickle_parse(bytes + *at, size - *at, ids, where, error);
  if (pickle) *at += pickle->length;
  return pickle;
}

static DdimSafetensors *parse_legacy(const guint8 *bytes, size_t size, const char *path,
                                     char **description, GError **error) {
  size_t at = legacy_magic_length(bytes, size);
  if (!at) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: no PyTorch magic number", path);
    return NULL;
  }
  g_autoptr(DdimPickle) version =
      legacy_pickle(bytes, size, &at, path, "version", DDIM_PICKLE_NO_STORAGES, error);
  if (!version) return NULL;
  const DdimPickleObject *version_value = object(version, version->root);
  if (version_value->kind != DDIM_PICKLE_INT || version_value->integer != 1001) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: legacy checkpoint of an unknown protocol version (1001 expected)", path);
    return NULL;
  }
  g_autoptr(DdimPickle) sys_info =
      legacy_pickle(bytes, size, &at, path, "sys_info", DDIM_PICKLE_NO_STORAGES, error);
  if (!sys_info) return NULL;
  guint32 little_endian;
  if (object(sys_info, sys_info->root)->kind != DDIM_PICKLE_DICT) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: the legacy sys_info is not a dict",
                path);
    return NULL;
  }
  if (dict_get(sys_info, sys_info->root, "little_endian", &little_endian) &&
      (object(sys_info, little_endian)->kind != DDIM_PICKLE_BOOL ||
       !object(sys_info, little_endian)->integer)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: big-endian tensor data; re-save the file on a little-endian machine", path);
    return NULL;
  }
  g_autoptr(DdimPickle) pickle =
      legacy_pickle(bytes, size, &at, path, "object", DDIM_PICKLE_LEGACY_STORAGES, error);
  if (!pickle) return NULL;
  g_autoptr(DdimPickle) keys =
      legacy_pickle(bytes, size, &at, path, "storage key", DDIM_PICKLE_NO_STORAGES, error);
  if (!keys) return NULL;
  const DdimPickleObject *key_list = object(keys, keys->root);
  if (key_list->kind != DDIM_PICKLE_LIST || key_list->items->len != pickle->storages->len) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: the legacy storage key list does not list the %u storages the object uses",
                path, pickle->storages->len);
    return NULL;
  }
  g_autoptr(GHashTable) index_of = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < pickle->storages->len; i++)
    g_hash_table_insert(index_of, g_array_index(pickle->storages, DdimPickleStorage, i).key,
                        GUINT_TO_POINTER(i + 1));
  g_autofree StorageBytes *storages = g_new0(StorageBytes, pickle->storages->len + 1);
  for (guint k = 0; k < key_list->items->len; k++) {
    const DdimPickleObject *key = object(keys, ddim_pickle_item(keys, keys->root, k));
    g_autofree char *key_text =
        key->kind == DDIM_PICKLE_STRING ? g_strndup(key->text, key->length) : NULL;
    gpointer found = key_text ? g_hash_table_lookup(index_of, key_text) : NULL;
    guint index = GPOINTER_TO_UINT(found) - 1;
    if (!found || storages[index].data) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: the legacy storage key list names a storage the object does not use, "
                  "or one twice",
                  path);
      return NULL;
    }
    const DdimPickleStorage *storage = &g_array_index(pickle->storages, DdimPickleStorage, index);
    uint64_t element_size = (uint64_t)ddim_torch_dtype_size(storage->dtype);
    if (size - at < 8) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: the file ends before storage \"%s\" (truncated?)", path, storage->key);
      return NULL;
    }
    uint64_t numel = 0;
    for (int i = 7; i >= 0; i--) numel = (numel << 8) | bytes[at + (size_t)i];
    at += 8;
    if (numel != storage->numel) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: refused: storage \"%s\" declares %" G_GUINT64_FORMAT
                  " elements but its record holds %" G_GUINT64_FORMAT,
                  path, storage->key, storage->numel, numel);
      return NULL;
    }
    if (numel > (size - at) / element_size) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: storage \"%s\" needs %" G_GUINT64_FORMAT " %s elements but the file ends "
                  "first (truncated?)",
                  path, storage->key, numel, ddim_torch_dtype_name(storage->dtype));
      return NULL;
    }
    storages[index].data = bytes + at;
    at += (size_t)(numel * element_size);
  }
  if (at != size) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: %zu bytes follow the last storage", path,
                size - at);
    return NULL;
  }
  return table_from_pickle(pickle, storages, path, "PyTorch legacy checkpoint", description, error);
}

DdimSafetensors *ddim_torch_checkpoint_parse(const guint8 *bytes, size_t size, const char *path,
                                             char **description, GError **error) {
  switch (ddim_weights_sniff(bytes, size)) {
  case DDIM_WEIGHTS_TORCH_ZIP:
    return parse_zip(bytes, size, path, description, error);
  case DDIM_WEIGHTS_TORCH_LEGACY:
    return parse_legacy(bytes, size, path, description, error);
  default:
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: not a PyTorch checkpoint (neither a zip nor the legacy magic number)", path);
    return NULL;
  }
}

/* ---- Files ---------------------------------------------------------------- */

static DdimSafetensors *open_single(const char *path, gboolean allow_index, char **description,
                                    GError **error);

/* A shard index: {"weight_map": {tensor name: shard file name}, ...}; the
 * shards lie beside it and must hold exactly the tensors it lists. */
static DdimSafetensors *open_shards(const char *path, const guint8 *bytes, size_t size,
                                    char **description, GError **error) {
  if (size > MAX_INDEX_BYTES) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: too large for a shard index", path);
    return NULL;
  }
  /* The tree owns the names and shard names read below: it lives as long
   * as this function. */
  JsonObject *root = NULL;
  g_autoptr(JsonNode) tree =
      ddim_json_parse_object((const char *)bytes, (gssize)size, path, &root, error);
  if (!tree) return NULL;
  JsonNode *map_node = json_object_get_member(root, "weight_map");
  if (!map_node || !JSON_NODE_HOLDS_OBJECT(map_node)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: a shard index needs a \"weight_map\"",
                path);
    return NULL;
  }
  JsonObject *map = json_node_get_object(map_node);
  g_autoptr(GList) members = json_object_get_members(map);
  g_autoptr(GPtrArray) shard_names = g_ptr_array_new();
  g_autoptr(GHashTable) shard_set = g_hash_table_new(g_str_hash, g_str_equal);
  g_autoptr(GHashTable) shard_of = g_hash_table_new(g_str_hash, g_str_equal);
  for (GList *it = members; it; it = it->next) {
    JsonNode *node = json_object_get_member(map, it->data);
    const char *shard =
        JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING
            ? json_node_get_string(node)
            : NULL;
    if (!shard || !*shard || strchr(shard, '/') || strchr(shard, '\\') || shard[0] == '.') {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: tensor \"%s\" maps to something other than a file name beside the index",
                  path, (const char *)it->data);
      return NULL;
    }
    g_hash_table_insert(shard_of, it->data, (gpointer)shard);
    if (!g_hash_table_contains(shard_set, shard)) {
      if (shard_names->len >= MAX_SHARDS) {
        g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: more than %d shards", path,
                    MAX_SHARDS);
        return NULL;
      }
      g_ptr_array_add(shard_names, (gpointer)shard);
      g_hash_table_add(shard_set, (gpointer)shard);
    }
  }
  if (shard_names->len == 0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: the weight map is empty", path);
    return NULL;
  }
  g_autofree char *folder = g_path_get_dirname(path);
  g_autoptr(GPtrArray) shards =
      g_ptr_array_new_with_free_func((GDestroyNotify)ddim_safetensors_free);
  g_autofree char *first_description = NULL;
  int total = 0;
  for (guint i = 0; i < shard_names->len; i++) {
    g_autofree char *shard_path = g_build_filename(folder, shard_names->pdata[i], NULL);
    DdimSafetensors *shard =
        open_single(shard_path, FALSE, i == 0 ? &first_description : NULL, error);
    if (!shard) return NULL;
    g_ptr_array_add(shards, shard);
    for (int t = 0; t < shard->n_tensors; t++) {
      const char *listed = g_hash_table_lookup(shard_of, shard->tensors[t].name);
      if (!listed || strcmp(listed, shard_names->pdata[i]) != 0) {
        g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                    "%s: tensor \"%s\" is in %s, but the index %s", path, shard->tensors[t].name,
                    (const char *)shard_names->pdata[i],
                    listed ? "puts it in another shard" : "does not list it");
        return NULL;
      }
    }
    total += shard->n_tensors;
  }
  if ((guint)total != g_hash_table_size(shard_of)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: the index lists %u tensors, the shards hold %d", path,
                g_hash_table_size(shard_of), total);
    return NULL;
  }
  g_autoptr(DdimSafetensors) table = ddim_tensor_table_new(path, total);
  for (guint i = 0; i < shards->len; i++) {
    const DdimSafetensors *shard = shards->pdata[i];
    for (int t = 0; t < shard->n_tensors; t++) {
      const DdimStTensor *tensor = &shard->tensors[t];
      if (!ddim_tensor_table_add(table, tensor->name, tensor->dtype_name, tensor->rank,
                                 tensor->shape, tensor->data, error))
        return NULL;
    }
  }
  /* The shards own the bytes the tensors point into. */
  while (shards->len) {
    ddim_tensor_table_keep(table, g_ptr_array_steal_index(shards, shards->len - 1),
                           (GDestroyNotify)ddim_safetensors_free);
  }
  if (description)
    *description = g_strdup_printf("%u shards (%s)", shard_names->len,
                                   first_description ? first_description : "?");
  return g_steal_pointer(&table);
}

static DdimSafetensors *open_single(const char *path, gboolean allow_index, char **description,
                                    GError **error) {
  /* Read into memory, not mapped: a mapped file truncated under a running
   * model kills it with SIGBUS (safetensors.h). */
  size_t size = 0;
  guint8 *owned = ddim_weights_read(path, &size, error);
  if (!owned) return NULL;
  const guint8 *bytes = owned;
  DdimSafetensors *table = NULL;
  switch (ddim_weights_sniff(bytes, size)) {
  case DDIM_WEIGHTS_SAFETENSORS:
    table = ddim_safetensors_parse(bytes, size, path, error);
    if (table && description) *description = g_strdup("safetensors");
    break;
  case DDIM_WEIGHTS_TORCH_ZIP:
  case DDIM_WEIGHTS_TORCH_LEGACY:
    table = ddim_torch_checkpoint_parse(bytes, size, path, description, error);
    break;
  case DDIM_WEIGHTS_SHARD_INDEX:
    if (allow_index) {
      table = open_shards(path, bytes, size, description, error);
      g_free(owned);
      return table;
    }
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: a shard index cannot name another",
                path);
    break;
  case DDIM_WEIGHTS_UNKNOWN:
  default:
    if (size == 0)
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: the file is empty (neither safetensors nor a PyTorch checkpoint)", path);
    else if (size >= 8 && memcmp(bytes, "PYTORCH1", 8) == 0)
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                  "%s: a PyTorch 1.0 preview-release archive; re-save it with torch.save", path);
    else if (size >= 262 && memcmp(bytes + 257, "ustar", 5) == 0)
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                  "%s: a PyTorch 0.1-era tar checkpoint; re-save it with torch.save", path);
    else
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: neither safetensors nor a PyTorch checkpoint (by its first bytes)", path);
    break;
  }
  if (!table) {
    g_free(owned);
    return NULL;
  }
  table->owned = owned;
  return table;
}

DdimSafetensors *ddim_weights_open(const char *path, char **description, GError **error) {
  return open_single(path, TRUE, description, error);
}
