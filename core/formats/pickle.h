/* pickle.h — a restricted unpickler for PyTorch state dicts.
 *
 * A small stack machine over Python pickle opcodes (protocols 2 to 5) that
 * builds plain values (None, bools, ints, floats, strings, tuples, lists,
 * dicts) and, through an allow-list of globals, tensor records: storages
 * named by persistent ids and tensors rebuilt by torch._utils._rebuild_*.
 * Nothing is ever imported or called.  Every other global, INST, OBJ,
 * NEWOBJ, EXT*, a REDUCE of anything but the allowed rebuild functions, and
 * any structural abuse (stack underflow, unbalanced marks, undefined memo
 * entries, lengths past the end, sizes that overflow) is refused with a
 * message naming the file, the pickle byte and what it tried to do. */
#ifndef DDIM_PICKLE_H
#define DDIM_PICKLE_H

#include <glib.h>
#include <stdint.h>

#define DDIM_PICKLE_MAX_RANK 8

typedef enum {
  DDIM_PICKLE_NONE,
  DDIM_PICKLE_BOOL,
  DDIM_PICKLE_INT,
  DDIM_PICKLE_FLOAT,
  DDIM_PICKLE_STRING,
  DDIM_PICKLE_TUPLE,
  DDIM_PICKLE_LIST,
  DDIM_PICKLE_DICT,
  DDIM_PICKLE_GLOBAL,  /* an allowed global, before it is used */
  DDIM_PICKLE_STORAGE, /* a persistent id: index into storages */
  DDIM_PICKLE_TENSOR,  /* a rebuilt tensor: index into tensors */
} DdimPickleKind;

/* The element types of torch's typed storages, named like safetensors. */
typedef enum {
  DDIM_TORCH_F32,
  DDIM_TORCH_F16,
  DDIM_TORCH_BF16,
  DDIM_TORCH_F64,
  DDIM_TORCH_I64,
  DDIM_TORCH_I32,
  DDIM_TORCH_I16,
  DDIM_TORCH_I8,
  DDIM_TORCH_U8,
  DDIM_TORCH_BOOL,
} DdimTorchDtype;

const char *ddim_torch_dtype_name(DdimTorchDtype dtype); /* "F32", "F16", ... */
int ddim_torch_dtype_size(DdimTorchDtype dtype);

/* How persistent ids look: none allowed (the small pickles of the legacy
 * header), the zip format's 5-tuple, or the legacy format's 6-tuple. */
typedef enum {
  DDIM_PICKLE_NO_STORAGES,
  DDIM_PICKLE_ZIP_STORAGES,
  DDIM_PICKLE_LEGACY_STORAGES,
} DdimPickleStorageIds;

typedef struct {
  DdimPickleKind kind;
  gboolean ordered; /* a dict made by collections.OrderedDict */
  int64_t integer;  /* INT, BOOL; GLOBAL: its allow-list entry; STORAGE/TENSOR: index */
  double number;
  const char *text; /* STRING: inside the pickle bytes, not NUL-terminated */
  size_t length;
  GArray *items; /* TUPLE, LIST: object ids; DICT: key, value, key, value, ... */
} DdimPickleObject;

typedef struct {
  char *key; /* the record name: data/<key> in a zip, the legacy storage key */
  DdimTorchDtype dtype;
  uint64_t numel; /* elements, as the persistent id declares */
} DdimPickleStorage;

typedef struct {
  int storage;
  uint64_t offset; /* in elements */
  int rank;
  int64_t shape[DDIM_PICKLE_MAX_RANK];
  int64_t stride[DDIM_PICKLE_MAX_RANK];
  uint64_t numel;
} DdimPickleTensor;

typedef struct {
  GArray *objects;  /* DdimPickleObject; ids index it */
  GArray *storages; /* DdimPickleStorage */
  GArray *tensors;  /* DdimPickleTensor */
  guint32 root;     /* the object STOP returned */
  size_t length;    /* bytes up to and including STOP */
} DdimPickle;

/* Run the pickle that starts at bytes[0]; it may be followed by other data
 * (legacy files), so *length tells where STOP was.  `where` names the file
 * (and record) in messages.  The bytes must outlive the result. */
DdimPickle *ddim_pickle_parse(const guint8 *bytes, size_t size, DdimPickleStorageIds ids,
                              const char *where, GError **error);
void ddim_pickle_free(DdimPickle *pickle);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DdimPickle, ddim_pickle_free)

const DdimPickleObject *ddim_pickle_object(const DdimPickle *pickle, guint32 id);
/* Items of a TUPLE/LIST (or key/value pairs of a DICT); 0 for other kinds. */
guint ddim_pickle_item_count(const DdimPickle *pickle, guint32 id);
guint32 ddim_pickle_item(const DdimPickle *pickle, guint32 id, guint index);
/* Whether a STRING object equals `text`. */
gboolean ddim_pickle_string_is(const DdimPickle *pickle, guint32 id, const char *text);

#endif
