/* pickle.c — how the restricted unpickler runs.
 *
 * Semantics follow CPython's Lib/pickle.py (_Unpickler.load_*): MARK opens a
 * new frame of the stack (items below it are out of reach until the frame is
 * closed), the memo holds references (BINGET of a dict returns the same dict,
 * later SETITEMs included), SETITEMS/APPENDS take the items since the mark.
 * Objects live in one table and are never copied or walked recursively, so
 * memo references and cycles cost nothing.  Limits on objects, stack depth
 * and string sizes bound the memory a hostile pickle can ask for. */
#include "pickle.h"

#include "ddim.h"

#include <string.h>

#define MAX_OBJECTS (1u << 22)
#define MAX_STACK (1u << 16) /* stack entries and open marks; state dicts need ~2000 */
#define MAX_GLOBAL_NAME 256
#define MAX_STORAGE_KEY 64

/* ---- Element types -------------------------------------------------------- */

const char *ddim_torch_dtype_name(DdimTorchDtype dtype) {
  static const char *const names[] = {"F32", "F16", "BF16", "F64", "I64",
                                      "I32", "I16", "I8",   "U8",  "BOOL"};
  return (unsigned)dtype < G_N_ELEMENTS(names) ? names[dtype] : "?";
}

int ddim_torch_dtype_size(DdimTorchDtype dtype) {
  static const int sizes[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};
  return (unsigned)dtype < G_N_ELEMENTS(sizes) ? sizes[dtype] : 0;
}

/* ---- The allow-list ------------------------------------------------------- */

typedef enum {
  ROLE_ORDERED_DICT,
  ROLE_REBUILD_TENSOR_V2,
  ROLE_REBUILD_TENSOR, /* pre-0.4 pickles: (storage, offset, size, stride) */
  ROLE_REBUILD_PARAMETER,
  ROLE_STORAGE_TYPE,
} GlobalRole;

typedef struct {
  const char *module, *name;
  GlobalRole role;
  DdimTorchDtype dtype;
} AllowedGlobal;

/* The globals a state dict of dense CPU tensors needs (torch/storage.py
 * _dtype_to_storage_type_map for the storages).  Nothing else resolves. */
static const AllowedGlobal allowed_globals[] = {
    {"collections", "OrderedDict", ROLE_ORDERED_DICT, 0},
    {"torch._utils", "_rebuild_tensor_v2", ROLE_REBUILD_TENSOR_V2, 0},
    {"torch._utils", "_rebuild_tensor", ROLE_REBUILD_TENSOR, 0},
    {"torch._utils", "_rebuild_parameter", ROLE_REBUILD_PARAMETER, 0},
    {"torch", "FloatStorage", ROLE_STORAGE_TYPE, DDIM_TORCH_F32},
    {"torch", "HalfStorage", ROLE_STORAGE_TYPE, DDIM_TORCH_F16},
    {"torch", "BFloat16Storage", ROLE_STORAGE_TYPE, DDIM_TORCH_BF16},
    {"torch", "DoubleStorage", ROLE_STORAGE_TYPE, DDIM_TORCH_F64},
    {"torch", "LongStorage", ROLE_STORAGE_TYPE, DDIM_TORCH_I64},
    {"torch", "IntStorage", ROLE_STORAGE_TYPE, DDIM_TORCH_I32},
    {"torch", "ShortStorage", ROLE_STORAGE_TYPE, DDIM_TORCH_I16},
    {"torch", "CharStorage", ROLE_STORAGE_TYPE, DDIM_TORCH_I8},
    {"torch", "ByteStorage", ROLE_STORAGE_TYPE, DDIM_TORCH_U8},
    {"torch", "BoolStorage", ROLE_STORAGE_TYPE, DDIM_TORCH_BOOL},
};

/* ---- Opcodes -------------------------------------------------------------- */

enum {
  OP_MARK = '(',
  OP_STOP = '.',
  OP_POP = '0',
  OP_POP_MARK = '1',
  OP_DUP = '2',
  OP_BININT = 'J',
  OP_BININT1 = 'K',
  OP_BININT2 = 'M',
  OP_NONE = 'N',
  OP_BINPERSID = 'Q',
  OP_REDUCE = 'R',
  OP_BINSTRING = 'T',
  OP_SHORT_BINSTRING = 'U',
  OP_BINUNICODE = 'X',
  OP_APPEND = 'a',
  OP_BUILD = 'b',
  OP_GLOBAL = 'c',
  OP_EMPTY_DICT = '}',
  OP_APPENDS = 'e',
  OP_BINGET = 'h',
  OP_LONG_BINGET = 'j',
  OP_EMPTY_LIST = ']',
  OP_BINPUT = 'q',
  OP_LONG_BINPUT = 'r',
  OP_SETITEM = 's',
  OP_TUPLE = 't',
  OP_EMPTY_TUPLE = ')',
  OP_SETITEMS = 'u',
  OP_BINFLOAT = 'G',
  OP_PROTO = 0x80,
  OP_TUPLE1 = 0x85,
  OP_TUPLE2 = 0x86,
  OP_TUPLE3 = 0x87,
  OP_NEWTRUE = 0x88,
  OP_NEWFALSE = 0x89,
  OP_LONG1 = 0x8a,
  OP_SHORT_BINUNICODE = 0x8c,
  OP_BINUNICODE8 = 0x8d,
  OP_STACK_GLOBAL = 0x93,
  OP_MEMOIZE = 0x94,
  OP_FRAME = 0x95,
};

/* The opcodes of Lib/pickletools.py that we refuse, named for messages. */
static const struct {
  guint8 op;
  const char *name;
} refused_opcodes[] = {
    {'F', "FLOAT"},
    {'I', "INT"},
    {'L', "LONG"},
    {'P', "PERSID"},
    {'S', "STRING"},
    {'V', "UNICODE"},
    {'d', "DICT"},
    {'g', "GET"},
    {'i', "INST"},
    {'l', "LIST"},
    {'o', "OBJ"},
    {'p', "PUT"},
    {'B', "BINBYTES"},
    {'C', "SHORT_BINBYTES"},
    {0x81, "NEWOBJ"},
    {0x82, "EXT1"},
    {0x83, "EXT2"},
    {0x84, "EXT4"},
    {0x8b, "LONG4"},
    {0x8e, "BINBYTES8"},
    {0x8f, "EMPTY_SET"},
    {0x90, "ADDITEMS"},
    {0x91, "FROZENSET"},
    {0x92, "NEWOBJ_EX"},
    {0x96, "BYTEARRAY8"},
    {0x97, "NEXT_BUFFER"},
    {0x98, "READONLY_BUFFER"},
};

static const char *opcode_name(guint8 op) {
  for (size_t i = 0; i < G_N_ELEMENTS(refused_opcodes); i++)
    if (refused_opcodes[i].op == op) return refused_opcodes[i].name;
  return NULL;
}

/* ---- The machine ---------------------------------------------------------- */

typedef struct {
  const guint8 *bytes;
  size_t size, pos;
  size_t op_start; /* offset of the opcode being run, for messages */
  const char *where;
  DdimPickleStorageIds ids;
  DdimPickle *result;
  GArray *stack;              /* guint32 object ids */
  GArray *marks;              /* stack lengths at each MARK */
  GHashTable *memo;           /* index → id + 1 */
  GHashTable *storage_by_key; /* key → storage index + 1 */
  GError **error;
} Vm;

static gboolean malformed(Vm *vm, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean malformed(Vm *vm, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  g_autofree char *what = g_strdup_vprintf(fmt, args);
  va_end(args);
  g_set_error(vm->error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: malformed pickle at byte %zu: %s",
              vm->where, vm->op_start, what);
  return FALSE;
}

/* A well-formed pickle asking for something a weights file never needs. */
static gboolean refuse(Vm *vm, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean refuse(Vm *vm, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  g_autofree char *what = g_strdup_vprintf(fmt, args);
  va_end(args);
  g_set_error(vm->error, DDIM_ERROR, DDIM_ERROR_FORMAT,
              "%s: refused: %s (pickle byte %zu; nothing was executed)", vm->where, what,
              vm->op_start);
  return FALSE;
}

static DdimPickleObject *object_at(Vm *vm, guint32 id) {
  return &g_array_index(vm->result->objects, DdimPickleObject, id);
}

static const char *kind_name(DdimPickleKind kind) {
  switch (kind) {
  case DDIM_PICKLE_NONE:
    return "None";
  case DDIM_PICKLE_BOOL:
    return "a bool";
  case DDIM_PICKLE_INT:
    return "an int";
  case DDIM_PICKLE_FLOAT:
    return "a float";
  case DDIM_PICKLE_STRING:
    return "a string";
  case DDIM_PICKLE_TUPLE:
    return "a tuple";
  case DDIM_PICKLE_LIST:
    return "a list";
  case DDIM_PICKLE_DICT:
    return "a dict";
  case DDIM_PICKLE_GLOBAL:
    return "a global";
  case DDIM_PICKLE_STORAGE:
    return "a storage";
  case DDIM_PICKLE_TENSOR:
    return "a tensor";
  }
  return "?";
}

static const char *global_name(const DdimPickleObject *object, char *buffer, size_t size) {
  const AllowedGlobal *global = &allowed_globals[object->integer];
  g_snprintf(buffer, size, "%s.%s", global->module, global->name);
  return buffer;
}

/* A new object; FALSE when the table is full. */
static gboolean new_object(Vm *vm, DdimPickleKind kind, guint32 *id) {
  if (vm->result->objects->len >= MAX_OBJECTS)
    return refuse(vm, "more than %u objects", MAX_OBJECTS);
  DdimPickleObject object = {.kind = kind};
  if (kind == DDIM_PICKLE_TUPLE || kind == DDIM_PICKLE_LIST || kind == DDIM_PICKLE_DICT)
    object.items = g_array_new(FALSE, FALSE, sizeof(guint32));
  *id = vm->result->objects->len;
  g_array_append_val(vm->result->objects, object);
  return TRUE;
}

static guint frame_floor(Vm *vm) {
  return vm->marks->len ? g_array_index(vm->marks, guint, vm->marks->len - 1) : 0;
}

static gboolean push(Vm *vm, guint32 id) {
  if (vm->stack->len + vm->marks->len >= MAX_STACK)
    return refuse(vm, "the stack grows past %u entries", MAX_STACK);
  g_array_append_val(vm->stack, id);
  return TRUE;
}

static gboolean push_new(Vm *vm, DdimPickleKind kind, guint32 *id) {
  guint32 local = 0;
  if (!id) id = &local;
  return new_object(vm, kind, id) && push(vm, *id);
}

static gboolean pop(Vm *vm, guint32 *id) {
  if (vm->stack->len <= frame_floor(vm)) return malformed(vm, "stack underflow");
  *id = g_array_index(vm->stack, guint32, vm->stack->len - 1);
  g_array_set_size(vm->stack, vm->stack->len - 1);
  return TRUE;
}

static gboolean peek(Vm *vm, guint32 *id) {
  if (vm->stack->len <= frame_floor(vm)) return malformed(vm, "stack underflow");
  *id = g_array_index(vm->stack, guint32, vm->stack->len - 1);
  return TRUE;
}

/* Close the innermost MARK: the items above it are *first .. *first+*count
 * of the stack, which the caller consumes before truncating it. */
static gboolean pop_mark(Vm *vm, guint *first, guint *count) {
  if (vm->marks->len == 0) return malformed(vm, "no MARK to close");
  *first = g_array_index(vm->marks, guint, vm->marks->len - 1);
  *count = vm->stack->len - *first;
  g_array_set_size(vm->marks, vm->marks->len - 1);
  return TRUE;
}

static gboolean need(Vm *vm, size_t count) {
  if (count > vm->size - vm->pos)
    return malformed(vm, "the pickle ends inside an argument (%zu bytes needed, %zu left)", count,
                     vm->size - vm->pos);
  return TRUE;
}

static uint64_t read_le(Vm *vm, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; i--) value = (value << 8) | vm->bytes[vm->pos + (size_t)i];
  vm->pos += (size_t)bytes;
  return value;
}

/* ---- Opcode groups -------------------------------------------------------- */

static gboolean push_int(Vm *vm, int64_t value) {
  guint32 id = 0;
  if (!push_new(vm, DDIM_PICKLE_INT, &id)) return FALSE;
  object_at(vm, id)->integer = value;
  return TRUE;
}

static gboolean push_string(Vm *vm, uint64_t length, gboolean utf8) {
  if (!need(vm, length)) return FALSE;
  const char *text = (const char *)vm->bytes + vm->pos;
  if (utf8 && !g_utf8_validate_len(text, (gsize)length, NULL))
    return malformed(vm, "a string is not UTF-8");
  vm->pos += (size_t)length;
  guint32 id = 0;
  if (!push_new(vm, DDIM_PICKLE_STRING, &id)) return FALSE;
  object_at(vm, id)->text = text;
  object_at(vm, id)->length = (size_t)length;
  return TRUE;
}

/* LONG1: n bytes of little-endian two's complement; at most 8 here. */
static gboolean load_long1(Vm *vm) {
  if (!need(vm, 1)) return FALSE;
  int n = vm->bytes[vm->pos++];
  if (n > 8) return refuse(vm, "an integer of %d bytes (at most 8 supported)", n);
  if (!need(vm, (size_t)n)) return FALSE;
  uint64_t bits = n ? read_le(vm, n) : 0;
  if (n > 0 && n < 8 && (bits >> (8 * n - 1)) & 1) bits |= ~(uint64_t)0 << (8 * n);
  int64_t value;
  memcpy(&value, &bits, sizeof value);
  return push_int(vm, value);
}

static gboolean load_binfloat(Vm *vm) {
  if (!need(vm, 8)) return FALSE;
  uint64_t bits = 0;
  for (int i = 0; i < 8; i++) bits = (bits << 8) | vm->bytes[vm->pos++]; /* big-endian */
  guint32 id = 0;
  if (!push_new(vm, DDIM_PICKLE_FLOAT, &id)) return FALSE;
  memcpy(&object_at(vm, id)->number, &bits, sizeof bits);
  return TRUE;
}

static gboolean resolve_global(Vm *vm, const char *module, size_t module_length, const char *name,
                               size_t name_length) {
  for (size_t i = 0; i < G_N_ELEMENTS(allowed_globals); i++) {
    const AllowedGlobal *global = &allowed_globals[i];
    if (strlen(global->module) == module_length && strlen(global->name) == name_length &&
        memcmp(global->module, module, module_length) == 0 &&
        memcmp(global->name, name, name_length) == 0) {
      guint32 id = 0;
      if (!push_new(vm, DDIM_PICKLE_GLOBAL, &id)) return FALSE;
      object_at(vm, id)->integer = (int64_t)i;
      return TRUE;
    }
  }
  g_autofree char *shown_module = g_strndup(module, module_length);
  g_autofree char *shown_name = g_strndup(name, name_length);
  return refuse(vm,
                "the pickle imports %s.%s, which is not one of the PyTorch tensor types a "
                "weights file may use",
                shown_module, shown_name);
}

/* A printable ASCII line ending in '\n' (GLOBAL's arguments). */
static gboolean read_line(Vm *vm, const char **text, size_t *length) {
  const char *start = (const char *)vm->bytes + vm->pos;
  size_t limit = MIN(vm->size - vm->pos, (size_t)MAX_GLOBAL_NAME + 1);
  const char *end = memchr(start, '\n', limit);
  if (!end)
    return malformed(vm, "a GLOBAL name is unterminated or longer than %d bytes", MAX_GLOBAL_NAME);
  for (const char *c = start; c < end; c++)
    if (*c < 0x21 || *c > 0x7e) return malformed(vm, "a GLOBAL name has a non-printable byte");
  *text = start;
  *length = (size_t)(end - start);
  vm->pos += *length + 1;
  return TRUE;
}

static gboolean load_global(Vm *vm) {
  const char *module = NULL, *name = NULL;
  size_t module_length = 0, name_length = 0;
  return read_line(vm, &module, &module_length) && read_line(vm, &name, &name_length) &&
         resolve_global(vm, module, module_length, name, name_length);
}

static gboolean load_stack_global(Vm *vm) {
  guint32 name_id = 0, module_id = 0;
  if (!pop(vm, &name_id) || !pop(vm, &module_id)) return FALSE;
  const DdimPickleObject *name = object_at(vm, name_id), *module = object_at(vm, module_id);
  if (name->kind != DDIM_PICKLE_STRING || module->kind != DDIM_PICKLE_STRING)
    return malformed(vm, "STACK_GLOBAL needs two strings");
  if (name->length > MAX_GLOBAL_NAME || module->length > MAX_GLOBAL_NAME)
    return refuse(vm, "a global name longer than %d bytes", MAX_GLOBAL_NAME);
  return resolve_global(vm, module->text, module->length, name->text, name->length);
}

/* Append stack[first .. first+count) to a container's items. */
static void append_from_stack(Vm *vm, guint32 container, guint first, guint count) {
  if (count == 0) return; /* the stack's storage may not exist yet */
  g_array_append_vals(object_at(vm, container)->items, &g_array_index(vm->stack, guint32, first),
                      count);
}

static gboolean load_tuple_of(Vm *vm, guint count) {
  if (vm->stack->len - frame_floor(vm) < count) return malformed(vm, "stack underflow");
  guint first = vm->stack->len - count;
  guint32 id = 0;
  if (!new_object(vm, DDIM_PICKLE_TUPLE, &id)) return FALSE;
  append_from_stack(vm, id, first, count);
  g_array_set_size(vm->stack, first);
  return push(vm, id);
}

static gboolean load_tuple(Vm *vm) {
  guint first = 0, count = 0;
  if (!pop_mark(vm, &first, &count)) return FALSE;
  guint32 id = 0;
  if (!new_object(vm, DDIM_PICKLE_TUPLE, &id)) return FALSE;
  append_from_stack(vm, id, first, count);
  g_array_set_size(vm->stack, first);
  return push(vm, id);
}

/* Keys Python could hash and a state dict uses: strings and numbers. */
static gboolean check_key(Vm *vm, guint32 key) {
  DdimPickleKind kind = object_at(vm, key)->kind;
  if (kind == DDIM_PICKLE_STRING || kind == DDIM_PICKLE_INT || kind == DDIM_PICKLE_BOOL ||
      kind == DDIM_PICKLE_NONE || kind == DDIM_PICKLE_FLOAT)
    return TRUE;
  return refuse(vm, "a dict key is %s", kind_name(kind));
}

static gboolean target_of_kind(Vm *vm, DdimPickleKind kind, const char *op, guint32 *target) {
  if (!peek(vm, target)) return FALSE;
  DdimPickleKind have = object_at(vm, *target)->kind;
  if (have != kind)
    return refuse(vm, "%s on %s (only a %s takes it)", op, kind_name(have),
                  kind == DDIM_PICKLE_DICT ? "dict" : "list");
  return TRUE;
}

static gboolean load_setitem(Vm *vm) {
  guint32 pair[2] = {0, 0}, target = 0;
  if (!pop(vm, &pair[1]) || !pop(vm, &pair[0])) return FALSE;
  if (!target_of_kind(vm, DDIM_PICKLE_DICT, "SETITEM", &target) || !check_key(vm, pair[0]))
    return FALSE;
  g_array_append_vals(object_at(vm, target)->items, pair, 2);
  return TRUE;
}

/* The object a SETITEMS/APPENDS fills: the one just below the closed mark. */
static gboolean target_below(Vm *vm, guint first, DdimPickleKind kind, const char *op,
                             guint32 *target) {
  if (first <= frame_floor(vm)) return malformed(vm, "stack underflow");
  *target = g_array_index(vm->stack, guint32, first - 1);
  DdimPickleKind have = object_at(vm, *target)->kind;
  if (have != kind)
    return refuse(vm, "%s on %s (only a %s takes it)", op, kind_name(have),
                  kind == DDIM_PICKLE_DICT ? "dict" : "list");
  return TRUE;
}

static gboolean load_setitems(Vm *vm) {
  guint first = 0, count = 0;
  if (!pop_mark(vm, &first, &count)) return FALSE;
  guint32 target = 0;
  if (!target_below(vm, first, DDIM_PICKLE_DICT, "SETITEMS", &target)) return FALSE;
  if (count % 2) return malformed(vm, "SETITEMS with an odd number of items");
  for (guint i = 0; i < count; i += 2)
    if (!check_key(vm, g_array_index(vm->stack, guint32, first + i))) return FALSE;
  append_from_stack(vm, target, first, count);
  g_array_set_size(vm->stack, first);
  return TRUE;
}

static gboolean load_append(Vm *vm) {
  guint32 value = 0, target = 0;
  if (!pop(vm, &value) || !target_of_kind(vm, DDIM_PICKLE_LIST, "APPEND", &target)) return FALSE;
  g_array_append_val(object_at(vm, target)->items, value);
  return TRUE;
}

static gboolean load_appends(Vm *vm) {
  guint first = 0, count = 0;
  if (!pop_mark(vm, &first, &count)) return FALSE;
  guint32 target = 0;
  if (!target_below(vm, first, DDIM_PICKLE_LIST, "APPENDS", &target)) return FALSE;
  append_from_stack(vm, target, first, count);
  g_array_set_size(vm->stack, first);
  return TRUE;
}

static gboolean load_put(Vm *vm, uint64_t index) {
  guint32 id = 0;
  if (!peek(vm, &id)) return FALSE;
  if (g_hash_table_size(vm->memo) >= MAX_OBJECTS &&
      !g_hash_table_contains(vm->memo, GUINT_TO_POINTER(index)))
    return refuse(vm, "more than %u memo entries", MAX_OBJECTS);
  g_hash_table_insert(vm->memo, GUINT_TO_POINTER((guint)index), GUINT_TO_POINTER(id + 1));
  return TRUE;
}

static gboolean load_get(Vm *vm, uint64_t index) {
  gpointer value = g_hash_table_lookup(vm->memo, GUINT_TO_POINTER((guint)index));
  if (!value) return malformed(vm, "memo entry %" G_GUINT64_FORMAT " is not defined", index);
  return push(vm, GPOINTER_TO_UINT(value) - 1);
}

/* ---- Persistent ids and tensors ------------------------------------------ */

static gboolean string_equals(const DdimPickleObject *object, const char *text) {
  return object->kind == DDIM_PICKLE_STRING && object->length == strlen(text) &&
         memcmp(object->text, text, object->length) == 0;
}

static gboolean valid_storage_key(const DdimPickleObject *key) {
  if (key->kind != DDIM_PICKLE_STRING || key->length == 0 || key->length > MAX_STORAGE_KEY)
    return FALSE;
  for (size_t i = 0; i < key->length; i++)
    if (!g_ascii_isalnum(key->text[i]) && key->text[i] != '_') return FALSE;
  return TRUE;
}

/* ('storage', <Type>Storage, key, location, numel[, view_metadata]) */
static gboolean load_binpersid(Vm *vm) {
  guint32 pid_id = 0;
  if (!pop(vm, &pid_id)) return FALSE;
  if (vm->ids == DDIM_PICKLE_NO_STORAGES)
    return refuse(vm, "a persistent id where no storage may appear");
  const DdimPickleObject *pid = object_at(vm, pid_id);
  guint expected = vm->ids == DDIM_PICKLE_ZIP_STORAGES ? 5 : 6;
  if (pid->kind != DDIM_PICKLE_TUPLE || pid->items->len != expected ||
      !string_equals(object_at(vm, g_array_index(pid->items, guint32, 0)), "storage"))
    return refuse(vm, "a persistent id that is not a ('storage', ...) tuple of %u items", expected);
  const guint32 *items = (const guint32 *)(const void *)pid->items->data;
  const DdimPickleObject *type = object_at(vm, items[1]);
  const DdimPickleObject *key = object_at(vm, items[2]);
  const DdimPickleObject *location = object_at(vm, items[3]);
  const DdimPickleObject *numel = object_at(vm, items[4]);
  if (type->kind != DDIM_PICKLE_GLOBAL || allowed_globals[type->integer].role != ROLE_STORAGE_TYPE)
    return refuse(vm, "a persistent id whose storage type is %s, not a torch storage type",
                  kind_name(type->kind));
  if (!valid_storage_key(key))
    return refuse(vm, "a storage key that is not 1 to %d letters, digits or '_'", MAX_STORAGE_KEY);
  if (location->kind != DDIM_PICKLE_STRING)
    return malformed(vm, "a storage location that is not a string");
  if (numel->kind != DDIM_PICKLE_INT || numel->integer < 0)
    return malformed(vm, "a storage size that is not a count");
  if (expected == 6 && object_at(vm, items[5])->kind != DDIM_PICKLE_NONE)
    return refuse(vm, "a storage view (legacy view metadata); re-save the file with torch.save");

  DdimTorchDtype dtype = allowed_globals[type->integer].dtype;
  g_autofree char *key_text = g_strndup(key->text, key->length);
  gpointer found = g_hash_table_lookup(vm->storage_by_key, key_text);
  guint index;
  if (found) {
    index = GPOINTER_TO_UINT(found) - 1;
    const DdimPickleStorage *storage =
        &g_array_index(vm->result->storages, DdimPickleStorage, index);
    if (storage->dtype != dtype || storage->numel != (uint64_t)numel->integer)
      return refuse(vm, "storage \"%s\" is declared twice with different types or sizes", key_text);
  } else {
    if ((uint64_t)numel->integer > G_MAXUINT64 / (uint64_t)ddim_torch_dtype_size(dtype))
      return refuse(vm, "storage \"%s\" declares %" G_GINT64_FORMAT " elements, too many", key_text,
                    numel->integer);
    DdimPickleStorage storage = {g_strdup(key_text), dtype, (uint64_t)numel->integer};
    index = vm->result->storages->len;
    g_array_append_val(vm->result->storages, storage);
    g_hash_table_insert(vm->storage_by_key, g_strdup(key_text), GUINT_TO_POINTER(index + 1));
  }
  guint32 id = 0;
  if (!push_new(vm, DDIM_PICKLE_STORAGE, &id)) return FALSE;
  object_at(vm, id)->integer = index;
  return TRUE;
}

/* A tuple of counts (sizes or strides) → values; FALSE if it is not one. */
static gboolean tuple_of_counts(Vm *vm, guint32 id, int64_t *values, int *count) {
  const DdimPickleObject *tuple = object_at(vm, id);
  if (tuple->kind != DDIM_PICKLE_TUPLE) return FALSE;
  if (tuple->items->len > DDIM_PICKLE_MAX_RANK) return FALSE;
  for (guint i = 0; i < tuple->items->len; i++) {
    const DdimPickleObject *item = object_at(vm, g_array_index(tuple->items, guint32, i));
    if (item->kind != DDIM_PICKLE_INT || item->integer < 0) return FALSE;
    values[i] = item->integer;
  }
  *count = (int)tuple->items->len;
  return TRUE;
}

static gboolean is_empty_dict_or_none(Vm *vm, guint32 id) {
  const DdimPickleObject *object = object_at(vm, id);
  return object->kind == DDIM_PICKLE_NONE ||
         (object->kind == DDIM_PICKLE_DICT && object->items->len == 0);
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata]) or _rebuild_tensor(storage, offset, size,
 * stride): checked so every element lies inside the storage. */
static gboolean rebuild_tensor(Vm *vm, const guint32 *args, guint count, gboolean v2) {
  if (v2 ? count != 6 && count != 7 : count != 4)
    return refuse(vm, "%s with %u arguments", v2 ? "_rebuild_tensor_v2" : "_rebuild_tensor", count);
  const DdimPickleObject *storage = object_at(vm, args[0]);
  const DdimPickleObject *offset = object_at(vm, args[1]);
  if (storage->kind != DDIM_PICKLE_STORAGE)
    return refuse(vm, "a tensor rebuilt from %s instead of a storage", kind_name(storage->kind));
  if (offset->kind != DDIM_PICKLE_INT || offset->integer < 0)
    return refuse(vm, "a tensor whose storage offset is not a count");
  DdimPickleTensor tensor = {.storage = (int)storage->integer, .offset = (uint64_t)offset->integer};
  int stride_rank = 0;
  if (!tuple_of_counts(vm, args[2], tensor.shape, &tensor.rank) ||
      !tuple_of_counts(vm, args[3], tensor.stride, &stride_rank) || stride_rank != tensor.rank)
    return refuse(vm,
                  "a tensor whose size and stride are not two tuples of up to %d counts of "
                  "the same length",
                  DDIM_PICKLE_MAX_RANK);
  if (v2) {
    if (object_at(vm, args[4])->kind != DDIM_PICKLE_BOOL)
      return refuse(vm, "a tensor whose requires_grad is not a bool");
    if (!is_empty_dict_or_none(vm, args[5])) return refuse(vm, "a tensor with backward hooks");
    if (count == 7 && !is_empty_dict_or_none(vm, args[6]))
      return refuse(vm, "a tensor with metadata (conjugate or negative bits)");
  }
  const DdimPickleStorage *record =
      &g_array_index(vm->result->storages, DdimPickleStorage, tensor.storage);
  /* numel, and the index of the last element: offset + Σ (size−1)·stride. */
  uint64_t numel = 1, last = tensor.offset;
  gboolean overflow = FALSE;
  for (int i = 0; i < tensor.rank; i++) {
    uint64_t size = (uint64_t)tensor.shape[i], stride = (uint64_t)tensor.stride[i], step;
    overflow |= __builtin_mul_overflow(numel, size, &numel);
    if (size > 0) {
      overflow |= __builtin_mul_overflow(size - 1, stride, &step);
      overflow |= __builtin_add_overflow(last, step, &last);
    }
  }
  if (overflow || numel > ((uint64_t)1 << 62)) return refuse(vm, "a tensor whose size overflows");
  tensor.numel = numel;
  if (numel == 0 ? tensor.offset > record->numel : last >= record->numel)
    return refuse(vm,
                  "a tensor that reaches element %" G_GUINT64_FORMAT " of storage \"%s\", "
                  "which holds %" G_GUINT64_FORMAT,
                  numel == 0 ? tensor.offset : last, record->key, record->numel);
  guint32 id = 0;
  if (!push_new(vm, DDIM_PICKLE_TENSOR, &id)) return FALSE;
  object_at(vm, id)->integer = vm->result->tensors->len;
  g_array_append_val(vm->result->tensors, tensor);
  return TRUE;
}

static gboolean load_reduce(Vm *vm) {
  guint32 args_id = 0, callable_id = 0;
  if (!pop(vm, &args_id) || !pop(vm, &callable_id)) return FALSE;
  const DdimPickleObject *callable = object_at(vm, callable_id);
  const DdimPickleObject *args = object_at(vm, args_id);
  if (callable->kind != DDIM_PICKLE_GLOBAL)
    return refuse(vm, "REDUCE calls %s, not an allowed function", kind_name(callable->kind));
  if (args->kind != DDIM_PICKLE_TUPLE)
    return malformed(vm, "REDUCE with arguments that are %s, not a tuple", kind_name(args->kind));
  const guint32 *items = (const guint32 *)(const void *)args->items->data;
  guint count = args->items->len;
  char name[2 * MAX_GLOBAL_NAME];
  switch (allowed_globals[callable->integer].role) {
  case ROLE_ORDERED_DICT: {
    if (count != 0) return refuse(vm, "collections.OrderedDict called with arguments");
    guint32 id = 0;
    if (!push_new(vm, DDIM_PICKLE_DICT, &id)) return FALSE;
    object_at(vm, id)->ordered = TRUE;
    return TRUE;
  }
  case ROLE_REBUILD_TENSOR_V2:
    return rebuild_tensor(vm, items, count, TRUE);
  case ROLE_REBUILD_TENSOR:
    return rebuild_tensor(vm, items, count, FALSE);
  case ROLE_REBUILD_PARAMETER:
    /* nn.Parameter(data, requires_grad, hooks): the data is what we keep. */
    if (count != 3 || object_at(vm, items[0])->kind != DDIM_PICKLE_TENSOR ||
        object_at(vm, items[1])->kind != DDIM_PICKLE_BOOL || !is_empty_dict_or_none(vm, items[2]))
      return refuse(vm, "_rebuild_parameter with arguments other than (tensor, bool, {})");
    return push(vm, items[0]);
  case ROLE_STORAGE_TYPE:
  default:
    return refuse(vm, "REDUCE calls %s, which only names a storage type",
                  global_name(callable, name, sizeof name));
  }
}

/* BUILD sets an object's state.  Only an OrderedDict's attributes (the
 * _metadata of module.state_dict()) are accepted, and ignored. */
static gboolean load_build(Vm *vm) {
  guint32 state_id = 0, target_id = 0;
  if (!pop(vm, &state_id) || !peek(vm, &target_id)) return FALSE;
  const DdimPickleObject *target = object_at(vm, target_id);
  const DdimPickleObject *state = object_at(vm, state_id);
  if (target->kind != DDIM_PICKLE_DICT || !target->ordered)
    return refuse(vm, "BUILD sets the state of %s (only an OrderedDict's is allowed)",
                  target->kind == DDIM_PICKLE_DICT ? "a plain dict" : kind_name(target->kind));
  if (state->kind != DDIM_PICKLE_DICT && state->kind != DDIM_PICKLE_NONE)
    return refuse(vm, "BUILD with a state that is %s", kind_name(state->kind));
  return TRUE;
}

/* ---- The loop ------------------------------------------------------------- */

static gboolean step(Vm *vm, gboolean *stopped) {
  vm->op_start = vm->pos;
  if (vm->pos >= vm->size) return malformed(vm, "the pickle ends without STOP");
  guint8 op = vm->bytes[vm->pos++];
  guint32 id = 0;
  switch (op) {
  case OP_PROTO: {
    if (!need(vm, 1)) return FALSE;
    int protocol = vm->bytes[vm->pos++];
    if (protocol < 2 || protocol > 5)
      return refuse(vm, "pickle protocol %d (2 to 5 supported)", protocol);
    return TRUE;
  }
  case OP_FRAME: {
    if (!need(vm, 8)) return FALSE;
    uint64_t length = read_le(vm, 8);
    return length <= vm->size - vm->pos || malformed(vm, "a FRAME longer than the pickle");
  }
  case OP_STOP:
    if (vm->marks->len) return malformed(vm, "STOP with an open MARK");
    if (vm->stack->len != 1)
      return malformed(vm, "STOP with %u values on the stack (1 expected)", vm->stack->len);
    vm->result->root = g_array_index(vm->stack, guint32, 0);
    vm->result->length = vm->pos;
    *stopped = TRUE;
    return TRUE;
  case OP_MARK:
    if (vm->stack->len + vm->marks->len >= MAX_STACK)
      return refuse(vm, "more than %u nested MARKs and stack entries", MAX_STACK);
    g_array_append_val(vm->marks, vm->stack->len);
    return TRUE;
  case OP_POP:
    if (vm->stack->len > frame_floor(vm)) return pop(vm, &id);
    /* Lib/pickle.py: POP on an empty frame discards the mark. */
    {
      guint first = 0, count = 0;
      return pop_mark(vm, &first, &count);
    }
  case OP_POP_MARK: {
    guint first = 0, count = 0;
    if (!pop_mark(vm, &first, &count)) return FALSE;
    g_array_set_size(vm->stack, first);
    return TRUE;
  }
  case OP_DUP:
    return peek(vm, &id) && push(vm, id);
  case OP_NONE:
    return push_new(vm, DDIM_PICKLE_NONE, NULL);
  case OP_NEWTRUE:
  case OP_NEWFALSE:
    if (!push_new(vm, DDIM_PICKLE_BOOL, &id)) return FALSE;
    object_at(vm, id)->integer = op == OP_NEWTRUE;
    return TRUE;
  case OP_BININT1:
    return need(vm, 1) && push_int(vm, (int64_t)read_le(vm, 1));
  case OP_BININT2:
    return need(vm, 2) && push_int(vm, (int64_t)read_le(vm, 2));
  case OP_BININT:
    return need(vm, 4) && push_int(vm, (int32_t)(uint32_t)read_le(vm, 4));
  case OP_LONG1:
    return load_long1(vm);
  case OP_BINFLOAT:
    return load_binfloat(vm);
  case OP_SHORT_BINUNICODE:
    return need(vm, 1) && push_string(vm, read_le(vm, 1), TRUE);
  case OP_BINUNICODE:
    return need(vm, 4) && push_string(vm, read_le(vm, 4), TRUE);
  case OP_BINUNICODE8:
    return need(vm, 8) && push_string(vm, read_le(vm, 8), TRUE);
  case OP_SHORT_BINSTRING:
    return need(vm, 1) && push_string(vm, read_le(vm, 1), FALSE);
  case OP_BINSTRING: {
    if (!need(vm, 4)) return FALSE;
    int32_t length = (int32_t)(uint32_t)read_le(vm, 4);
    if (length < 0) return malformed(vm, "BINSTRING with a negative length");
    return push_string(vm, (uint64_t)length, FALSE);
  }
  case OP_EMPTY_DICT:
    return push_new(vm, DDIM_PICKLE_DICT, NULL);
  case OP_EMPTY_LIST:
    return push_new(vm, DDIM_PICKLE_LIST, NULL);
  case OP_EMPTY_TUPLE:
    return push_new(vm, DDIM_PICKLE_TUPLE, NULL);
  case OP_TUPLE:
    return load_tuple(vm);
  case OP_TUPLE1:
  case OP_TUPLE2:
  case OP_TUPLE3:
    return load_tuple_of(vm, (guint)(op - OP_TUPLE1 + 1));
  case OP_SETITEM:
    return load_setitem(vm);
  case OP_SETITEMS:
    return load_setitems(vm);
  case OP_APPEND:
    return load_append(vm);
  case OP_APPENDS:
    return load_appends(vm);
  case OP_BINPUT:
    return need(vm, 1) && load_put(vm, read_le(vm, 1));
  case OP_LONG_BINPUT:
    return need(vm, 4) && load_put(vm, read_le(vm, 4));
  case OP_MEMOIZE:
    return load_put(vm, g_hash_table_size(vm->memo));
  case OP_BINGET:
    return need(vm, 1) && load_get(vm, read_le(vm, 1));
  case OP_LONG_BINGET:
    return need(vm, 4) && load_get(vm, read_le(vm, 4));
  case OP_GLOBAL:
    return load_global(vm);
  case OP_STACK_GLOBAL:
    return load_stack_global(vm);
  case OP_BINPERSID:
    return load_binpersid(vm);
  case OP_REDUCE:
    return load_reduce(vm);
  case OP_BUILD:
    return load_build(vm);
  default: {
    const char *name = opcode_name(op);
    if (name) return refuse(vm, "opcode %s, which a state dict never uses", name);
    return malformed(vm, "unknown opcode 0x%02x", op);
  }
  }
}

static void object_clear(gpointer data) {
  DdimPickleObject *object = data;
  if (object->items) g_array_free(object->items, TRUE);
}

static void storage_clear(gpointer data) {
  g_free(((DdimPickleStorage *)data)->key);
}

void ddim_pickle_free(DdimPickle *pickle) {
  if (!pickle) return;
  g_array_unref(pickle->objects);
  g_array_unref(pickle->storages);
  g_array_unref(pickle->tensors);
  g_free(pickle);
}

DdimPickle *ddim_pickle_parse(const guint8 *bytes, size_t size, DdimPickleStorageIds ids,
                              const char *where, GError **error) {
  g_autoptr(DdimPickle) result = g_new0(DdimPickle, 1);
  result->objects = g_array_new(FALSE, FALSE, sizeof(DdimPickleObject));
  g_array_set_clear_func(result->objects, object_clear);
  result->storages = g_array_new(FALSE, FALSE, sizeof(DdimPickleStorage));
  g_array_set_clear_func(result->storages, storage_clear);
  result->tensors = g_array_new(FALSE, FALSE, sizeof(DdimPickleTensor));

  g_autoptr(GArray) stack = g_array_new(FALSE, FALSE, sizeof(guint32));
  g_autoptr(GArray) marks = g_array_new(FALSE, FALSE, sizeof(guint));
  g_autoptr(GHashTable) memo = g_hash_table_new(g_direct_hash, g_direct_equal);
  g_autoptr(GHashTable) storage_by_key =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  Vm vm = {.bytes = bytes,
           .size = size,
           .where = where,
           .ids = ids,
           .result = result,
           .stack = stack,
           .marks = marks,
           .memo = memo,
           .storage_by_key = storage_by_key,
           .error = error};
  gboolean stopped = FALSE;
  while (!stopped)
    if (!step(&vm, &stopped)) return NULL;
  return g_steal_pointer(&result);
}

const DdimPickleObject *ddim_pickle_object(const DdimPickle *pickle, guint32 id) {
  g_return_val_if_fail(id < pickle->objects->len, NULL);
  return &g_array_index(pickle->objects, DdimPickleObject, id);
}

guint ddim_pickle_item_count(const DdimPickle *pickle, guint32 id) {
  const DdimPickleObject *object = ddim_pickle_object(pickle, id);
  return object && object->items ? object->items->len : 0;
}

guint32 ddim_pickle_item(const DdimPickle *pickle, guint32 id, guint index) {
  const DdimPickleObject *object = ddim_pickle_object(pickle, id);
  g_return_val_if_fail(object && object->items && index < object->items->len, 0);
  return g_array_index(object->items, guint32, index);
}

gboolean ddim_pickle_string_is(const DdimPickle *pickle, guint32 id, const char *text) {
  return string_equals(ddim_pickle_object(pickle, id), text);
}
