/* test-torch-pickle.c — the restricted unpickler, opcode by opcode.
 *
 * Pickles are written here byte by byte from the opcode table of CPython's
 * Lib/pickletools.py, so the expected values come from the format, not from
 * the reader.  Accepted: what torch.save emits (protocols 2 to 5).  Refused,
 * each with its message: every global outside the allow-list, the opcodes
 * that build arbitrary objects, misuse of the allowed ones, and structural
 * abuse.  A last test mutates a valid pickle at random and only asks that
 * nothing crashes (run it under ASan/UBSan). */
#include "ddim.h"
#include "pickle.h"

#include <string.h>

#define WHERE "/virtual/archive/data.pkl"

/* ---- Writing pickles ------------------------------------------------------ */

static void op(GByteArray *out, const char *bytes, size_t length) {
  g_byte_array_append(out, (const guint8 *)bytes, (guint)length);
}

#define OP(out, literal) op(out, literal, sizeof literal - 1)

static void str(GByteArray *out, const char *text) {
  guint32 length = (guint32)strlen(text);
  guint8 header[5] = {'X', (guint8)length, (guint8)(length >> 8), (guint8)(length >> 16),
                      (guint8)(length >> 24)};
  g_byte_array_append(out, header, 5);
  op(out, text, length);
}

static void global(GByteArray *out, const char *module, const char *name) {
  OP(out, "c");
  op(out, module, strlen(module));
  OP(out, "\n");
  op(out, name, strlen(name));
  OP(out, "\n");
}

static void small_int(GByteArray *out, int value) {
  g_assert_true(value >= 0 && value < 256);
  guint8 bytes[2] = {'K', (guint8)value};
  g_byte_array_append(out, bytes, 2);
}

/* _rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset,
 * size, stride, False, OrderedDict()) as torch.save writes it. */
static void tensor(GByteArray *out, const char *type, const char *key, int numel, int offset,
                   int rank, const int *size, const int *stride) {
  global(out, "torch._utils", "_rebuild_tensor_v2");
  OP(out, "((");
  str(out, "storage");
  global(out, "torch", type);
  str(out, key);
  str(out, "cpu");
  small_int(out, numel);
  OP(out, "tQ");
  small_int(out, offset);
  OP(out, "(");
  for (int i = 0; i < rank; i++) small_int(out, size[i]);
  OP(out, "t(");
  for (int i = 0; i < rank; i++) small_int(out, stride[i]);
  OP(out, "t\x89");
  global(out, "collections", "OrderedDict");
  OP(out, ")RtR");
}

static DdimPickle *parse(GByteArray *bytes, DdimPickleStorageIds ids, GError **error) {
  return ddim_pickle_parse(bytes->data, bytes->len, ids, WHERE, error);
}

static DdimPickle *parse_ok(GByteArray *bytes, DdimPickleStorageIds ids) {
  g_autoptr(GError) error = NULL;
  DdimPickle *pickle = parse(bytes, ids, &error);
  if (!pickle) g_error("%s", error->message);
  return pickle;
}

static void expect_refused(const char *bytes, size_t length, DdimPickleStorageIds ids,
                           const char *expected) {
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimPickle) pickle =
      ddim_pickle_parse((const guint8 *)bytes, length, ids, WHERE, &error);
  if (pickle) g_error("accepted; expected \"%s\"", expected);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  if (!strstr(error->message, expected) || !strstr(error->message, WHERE))
    g_error("message \"%s\" lacks \"%s\"", error->message, expected);
}

#define REFUSED(literal, expected)                                                                 \
  expect_refused(literal, sizeof literal - 1, DDIM_PICKLE_ZIP_STORAGES, expected)

static const DdimPickleObject *item(const DdimPickle *pickle, guint32 id, guint index) {
  return ddim_pickle_object(pickle, ddim_pickle_item(pickle, id, index));
}

/* ---- Accepted ------------------------------------------------------------- */

/* module.state_dict(): OrderedDict, SETITEMS, BUILD of _metadata; two
 * tensors sharing one storage at different offsets; memo references. */
static void test_state_dict(void) {
  g_autoptr(GByteArray) p = g_byte_array_new();
  OP(p, "\x80\x02");
  global(p, "collections", "OrderedDict");
  OP(p, "q\x00)Rq\x01(");
  str(p, "conv.weight");
  const int size[] = {2, 3}, stride[] = {3, 1}, bias_size[] = {2}, bias_stride[] = {1};
  tensor(p, "FloatStorage", "0", 8, 0, 2, size, stride);
  str(p, "conv.bias");
  tensor(p, "FloatStorage", "0", 8, 6, 1, bias_size, bias_stride);
  OP(p, "u}");
  str(p, "_metadata");
  OP(p, "h\x00)R(");
  str(p, "");
  OP(p, "}");
  str(p, "version");
  small_int(p, 1);
  OP(p, "sus"); /* the inner SETITEMS, then _metadata into the state dict */
  OP(p, "b.");
  g_autoptr(DdimPickle) pickle = parse_ok(p, DDIM_PICKLE_ZIP_STORAGES);
  g_assert_cmpuint(pickle->length, ==, p->len);
  const DdimPickleObject *root = ddim_pickle_object(pickle, pickle->root);
  g_assert_cmpint(root->kind, ==, DDIM_PICKLE_DICT);
  g_assert_true(root->ordered);
  g_assert_cmpuint(ddim_pickle_item_count(pickle, pickle->root), ==, 4);
  g_assert_true(
      ddim_pickle_string_is(pickle, ddim_pickle_item(pickle, pickle->root, 0), "conv.weight"));
  g_assert_cmpint(item(pickle, pickle->root, 1)->kind, ==, DDIM_PICKLE_TENSOR);
  g_assert_cmpuint(pickle->storages->len, ==, 1); /* one storage, named twice */
  const DdimPickleStorage *storage = &g_array_index(pickle->storages, DdimPickleStorage, 0);
  g_assert_cmpstr(storage->key, ==, "0");
  g_assert_cmpint(storage->dtype, ==, DDIM_TORCH_F32);
  g_assert_cmpuint(storage->numel, ==, 8);
  g_assert_cmpuint(pickle->tensors->len, ==, 2);
  const DdimPickleTensor *weight = &g_array_index(pickle->tensors, DdimPickleTensor, 0);
  const DdimPickleTensor *bias = &g_array_index(pickle->tensors, DdimPickleTensor, 1);
  g_assert_cmpint(weight->rank, ==, 2);
  g_assert_cmpint(weight->shape[1], ==, 3);
  g_assert_cmpint(weight->stride[0], ==, 3);
  g_assert_cmpuint(weight->numel, ==, 6);
  g_assert_cmpuint(bias->offset, ==, 6);
  g_assert_cmpint(bias->storage, ==, weight->storage);
}

/* The memo holds references: a dict filled after BINPUT is the same dict. */
static void test_memo_references(void) {
  g_autoptr(GByteArray) p = g_byte_array_new();
  OP(p, "\x80\x02]}q\x07"
        "a"
        "h\x07");
  str(p, "k");
  small_int(p, 1);
  OP(p, "s0.");
  g_autoptr(DdimPickle) pickle = parse_ok(p, DDIM_PICKLE_NO_STORAGES);
  const DdimPickleObject *list = ddim_pickle_object(pickle, pickle->root);
  g_assert_cmpint(list->kind, ==, DDIM_PICKLE_LIST);
  guint32 dict = ddim_pickle_item(pickle, pickle->root, 0);
  g_assert_cmpuint(ddim_pickle_item_count(pickle, dict), ==, 2);
  g_assert_cmpint(item(pickle, dict, 1)->integer, ==, 1);
}

static void test_scalars(void) {
  /* [LONG1 -1, LONG1 -32768, LONG1 0, LONG1 2^40, BININT -2, BININT2 65535,
   *  BINFLOAT 1.5, None, True, False, SHORT_BINSTRING 'ab'] */
  static const char bytes[] = "\x80\x02]("
                              "\x8a\x01\xff"
                              "\x8a\x02\x00\x80"
                              "\x8a\x00"
                              "\x8a\x06\x00\x00\x00\x00\x00\x01"
                              "J\xfe\xff\xff\xff"
                              "M\xff\xff"
                              "G\x3f\xf8\x00\x00\x00\x00\x00\x00"
                              "N\x88\x89"
                              "U\x02"
                              "ab"
                              "e.";
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimPickle) pickle = ddim_pickle_parse((const guint8 *)bytes, sizeof bytes - 1,
                                                   DDIM_PICKLE_NO_STORAGES, WHERE, &error);
  g_assert_no_error(error);
  guint32 root = pickle->root;
  g_assert_cmpuint(ddim_pickle_item_count(pickle, root), ==, 11);
  g_assert_cmpint(item(pickle, root, 0)->integer, ==, -1);
  g_assert_cmpint(item(pickle, root, 1)->integer, ==, -32768);
  g_assert_cmpint(item(pickle, root, 2)->integer, ==, 0);
  g_assert_cmpint(item(pickle, root, 3)->integer, ==, (int64_t)1 << 40);
  g_assert_cmpint(item(pickle, root, 4)->integer, ==, -2);
  g_assert_cmpint(item(pickle, root, 5)->integer, ==, 65535);
  g_assert_cmpint(item(pickle, root, 6)->kind, ==, DDIM_PICKLE_FLOAT);
  g_assert_cmpfloat(item(pickle, root, 6)->number, ==, 1.5);
  g_assert_cmpint(item(pickle, root, 7)->kind, ==, DDIM_PICKLE_NONE);
  g_assert_cmpint(item(pickle, root, 8)->integer, ==, 1);
  g_assert_cmpint(item(pickle, root, 9)->kind, ==, DDIM_PICKLE_BOOL);
  g_assert_true(ddim_pickle_string_is(pickle, ddim_pickle_item(pickle, root, 10), "ab"));
}

/* Containers made from nothing: the stack's storage may not exist yet
 * (a fuzzer found UBSan's "zero offset to null pointer" here). */
static void test_empty_containers(void) {
  static const char *const pickles[] = {"(t.", "](e.", "}(u.", "\x80\x02((t0t."};
  for (size_t i = 0; i < G_N_ELEMENTS(pickles); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(DdimPickle) pickle = ddim_pickle_parse((const guint8 *)pickles[i], strlen(pickles[i]),
                                                     DDIM_PICKLE_NO_STORAGES, WHERE, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(ddim_pickle_item_count(pickle, pickle->root), ==, 0);
  }
}

/* Protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL; tuples of
 * every size; POP, POP_MARK and DUP. */
static void test_protocol_4(void) {
  static const char bytes[] = "\x80\x04\x95\x30\x00\x00\x00\x00\x00\x00\x00"
                              "\x8c\x0b"
                              "collections\x94"
                              "\x8c\x0b"
                              "OrderedDict\x94"
                              "\x93\x94)R\x94"
                              "0" /* drop the dict */
                              "(K\x01K\x02"
                              "1"  /* POP_MARK */
                              ")0" /* EMPTY_TUPLE, POP */
                              "K\x01\x85"
                              "0" /* TUPLE1, POP */
                              "K\x01K\x02\x86K\x01K\x02K\x03\x87"
                              "(K\x01K\x02K\x03K\x04t"
                              "2"
                              "0" /* DUP, POP */
                              "\x87.";
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimPickle) pickle = ddim_pickle_parse((const guint8 *)bytes, sizeof bytes - 1,
                                                   DDIM_PICKLE_NO_STORAGES, WHERE, &error);
  g_assert_no_error(error);
  const DdimPickleObject *root = ddim_pickle_object(pickle, pickle->root);
  g_assert_cmpint(root->kind, ==, DDIM_PICKLE_TUPLE);
  g_assert_cmpuint(root->items->len, ==, 3);
  g_assert_cmpuint(ddim_pickle_item_count(pickle, ddim_pickle_item(pickle, pickle->root, 0)), ==,
                   2);
  g_assert_cmpuint(ddim_pickle_item_count(pickle, ddim_pickle_item(pickle, pickle->root, 1)), ==,
                   3);
  g_assert_cmpuint(ddim_pickle_item_count(pickle, ddim_pickle_item(pickle, pickle->root, 2)), ==,
                   4);
}

/* The legacy persistent id carries a sixth item (None); a pickle followed by
 * other data reports where it stopped. */
static void test_legacy_ids(void) {
  g_autoptr(GByteArray) p = g_byte_array_new();
  OP(p, "\x80\x02(");
  str(p, "storage");
  global(p, "torch", "HalfStorage");
  str(p, "94372351290144");
  str(p, "cuda:0");
  small_int(p, 3);
  OP(p, "NtQ.trailing");
  g_autoptr(DdimPickle) pickle = parse_ok(p, DDIM_PICKLE_LEGACY_STORAGES);
  g_assert_cmpuint(pickle->length, ==, p->len - strlen("trailing"));
  g_assert_cmpint(ddim_pickle_object(pickle, pickle->root)->kind, ==, DDIM_PICKLE_STORAGE);
  const DdimPickleStorage *storage = &g_array_index(pickle->storages, DdimPickleStorage, 0);
  g_assert_cmpint(storage->dtype, ==, DDIM_TORCH_F16);
  g_assert_cmpstr(ddim_torch_dtype_name(storage->dtype), ==, "F16");
  g_assert_cmpint(ddim_torch_dtype_size(storage->dtype), ==, 2);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimPickle) as_zip = parse(p, DDIM_PICKLE_ZIP_STORAGES, &error);
  g_assert_null(as_zip);
  g_assert_nonnull(strstr(error->message, "tuple of 5 items"));
  g_clear_error(&error);
  g_autoptr(DdimPickle) none = parse(p, DDIM_PICKLE_NO_STORAGES, &error);
  g_assert_null(none);
  g_assert_nonnull(strstr(error->message, "persistent id"));
}

/* nn.Parameter: _rebuild_parameter(tensor, requires_grad, OrderedDict()). */
static void test_parameter(void) {
  g_autoptr(GByteArray) p = g_byte_array_new();
  OP(p, "\x80\x02");
  global(p, "torch._utils", "_rebuild_parameter");
  OP(p, "(");
  const int size[] = {2}, stride[] = {1};
  tensor(p, "BFloat16Storage", "7", 2, 0, 1, size, stride);
  OP(p, "\x88");
  global(p, "collections", "OrderedDict");
  OP(p, ")RtR.");
  g_autoptr(DdimPickle) pickle = parse_ok(p, DDIM_PICKLE_ZIP_STORAGES);
  g_assert_cmpint(ddim_pickle_object(pickle, pickle->root)->kind, ==, DDIM_PICKLE_TENSOR);
}

/* ---- Refused ---------------------------------------------------------------- */

static void test_refused_globals(void) {
  REFUSED("\x80\x02"
          "cos\nsystem\n.",
          "imports os.system");
  REFUSED("\x80\x02"
          "cposix\nsystem\n.",
          "imports posix.system");
  REFUSED("\x80\x02"
          "c__builtin__\neval\n.",
          "imports __builtin__.eval");
  REFUSED("\x80\x02"
          "cbuiltins\nexec\n.",
          "imports builtins.exec");
  REFUSED("\x80\x02"
          "ctorch\nload\n.",
          "imports torch.load");
  REFUSED("\x80\x02"
          "ctorch._utils\n_rebuild_qtensor\n.",
          "imports torch._utils._rebuild_qtensor");
  REFUSED("\x80\x02"
          "ctorch\nUntypedStorage\n.",
          "imports torch.UntypedStorage");
  REFUSED("\x80\x02"
          "c_codecs\nencode\n.",
          "imports _codecs.encode");
  REFUSED("\x80\x02"
          "ccollections\nOrderedDict \n.",
          "non-printable");
  REFUSED("\x80\x02"
          "ccollections\nOrdered",
          "unterminated");
  REFUSED("\x80\x04\x8c\x02os\x8c\x06system\x93.", "imports os.system");
  REFUSED("\x80\x04K\x01\x8c\x06system\x93.", "STACK_GLOBAL needs two strings");
}

static void test_refused_opcodes(void) {
  REFUSED("\x80\x02(ios\nsystem\n.", "opcode INST");
  REFUSED("\x80\x02(ccollections\nOrderedDict\no.", "opcode OBJ");
  REFUSED("\x80\x02"
          "ccollections\nOrderedDict\n)\x81.",
          "opcode NEWOBJ");
  REFUSED("\x80\x04"
          "ccollections\nOrderedDict\n)}\x92.",
          "opcode NEWOBJ_EX");
  REFUSED("\x80\x02\x82\x01.", "opcode EXT1");
  REFUSED("\x80\x02\x83\x01\x00.", "opcode EXT2");
  REFUSED("\x80\x02\x84\x01\x00\x00\x00.", "opcode EXT4");
  REFUSED("\x80\x02P1\n.", "opcode PERSID");
  REFUSED("\x80\x02I1\n.", "opcode INT");
  REFUSED("\x80\x02S'a'\n.", "opcode STRING");
  REFUSED("\x80\x02"
          "F1.0\n.",
          "opcode FLOAT");
  REFUSED("\x80\x02(l.", "opcode LIST");
  REFUSED("\x80\x02(d.", "opcode DICT");
  REFUSED("\x80\x02"
          "B\x01\x00\x00\x00x.",
          "opcode BINBYTES");
  REFUSED("\x80\x02\x8b\x01\x00\x00\x00\x01.", "opcode LONG4");
  REFUSED("\x80\x05\x97.", "opcode NEXT_BUFFER");
  REFUSED("\x80\x04\x8f.", "opcode EMPTY_SET");
  REFUSED("\x80\x02\xff.", "unknown opcode 0xff");
  REFUSED("\x80\x01}.", "protocol 1");
  REFUSED("\x80\x06}.", "protocol 6");
  REFUSED("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.", "integer of 9 bytes");
}

static void test_refused_uses(void) {
  /* REDUCE of anything but the rebuild functions and OrderedDict(). */
  REFUSED("\x80\x02"
          "ctorch\nFloatStorage\n(K\x04tR.",
          "REDUCE calls torch.FloatStorage");
  REFUSED("\x80\x02X\x01\x00\x00\x00x)R.", "REDUCE calls a string");
  REFUSED("\x80\x02})R.", "REDUCE calls a dict");
  REFUSED("\x80\x02"
          "ccollections\nOrderedDict\n(]tR.",
          "OrderedDict called with arguments");
  REFUSED("\x80\x02"
          "ccollections\nOrderedDict\n]R.",
          "not a tuple");
  REFUSED("\x80\x02"
          "ctorch._utils\n_rebuild_tensor_v2\n(K\x01tR.",
          "with 1 arguments");
  REFUSED("\x80\x02"
          "ctorch._utils\n_rebuild_tensor_v2\n(K\x01K\x02K\x03K\x04K\x05K\x06tR.",
          "rebuilt from an int");
  REFUSED("\x80\x02"
          "ctorch._utils\n_rebuild_parameter\n(K\x01\x89}tR.",
          "_rebuild_parameter");
  /* Containers used as what they are not (CVE-2026-24747). */
  REFUSED("\x80\x02]X\x01\x00\x00\x00"
          "aK\x01s.",
          "SETITEM on a list");
  REFUSED("\x80\x02](X\x01\x00\x00\x00"
          "aK\x01u.",
          "SETITEMS on a list");
  REFUSED("\x80\x02}K\x01"
          "a.",
          "APPEND on a dict");
  REFUSED("\x80\x02)(K\x01"
          "e.",
          "APPENDS on a tuple");
  REFUSED("\x80\x02}]K\x01s.", "a dict key is a list");
  REFUSED("\x80\x02}(K\x01u.", "odd number of items");
  /* BUILD only on an OrderedDict, with a dict state. */
  REFUSED("\x80\x02}}b.", "BUILD sets the state of a plain dict");
  REFUSED("\x80\x02]}b.", "BUILD sets the state of a list");
  REFUSED("\x80\x02"
          "ccollections\nOrderedDict\n}b.",
          "BUILD sets the state of a global");
  REFUSED("\x80\x02"
          "ccollections\nOrderedDict\n)R]b.",
          "BUILD with a state that is a list");
  /* Persistent ids. */
  REFUSED("\x80\x02(X\x06\x00\x00\x00moduleK\x01K\x02K\x03K\x04tQ.", "('storage', ...) tuple");
  REFUSED("\x80\x02(X\x07\x00\x00\x00storage"
          "ccollections\nOrderedDict\n"
          "X\x01\x00\x00\x00"
          "0X\x03\x00\x00\x00"
          "cpuK\x01tQ.",
          "not a torch storage type");
  REFUSED("\x80\x02(X\x07\x00\x00\x00storage"
          "ctorch\nFloatStorage\n"
          "X\x04\x00\x00\x00../0X\x03\x00\x00\x00"
          "cpuK\x01tQ.",
          "storage key");
  REFUSED("\x80\x02(X\x07\x00\x00\x00storage"
          "ctorch\nFloatStorage\n"
          "X\x01\x00\x00\x00"
          "0X\x03\x00\x00\x00"
          "cpu\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40tQ.",
          "too many");
  REFUSED("\x80\x02(X\x07\x00\x00\x00storage"
          "ctorch\nFloatStorage\n"
          "X\x01\x00\x00\x00"
          "0X\x03\x00\x00\x00"
          "cpuK\x01tQ"
          "(X\x07\x00\x00\x00storage"
          "ctorch\nFloatStorage\n"
          "X\x01\x00\x00\x00"
          "0X\x03\x00\x00\x00"
          "cpuK\x02tQ\x86.",
          "declared twice");
}

/* Tensor records: sizes and strides checked against the storage. */
static void test_refused_tensors(void) {
  g_autoptr(GByteArray) p = g_byte_array_new();
  const int size[] = {2, 3}, stride[] = {3, 1};
  OP(p, "\x80\x02");
  tensor(p, "FloatStorage", "0", 5, 0, 2, size, stride);
  OP(p, ".");
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimPickle) short_storage = parse(p, DDIM_PICKLE_ZIP_STORAGES, &error);
  g_assert_null(short_storage);
  g_assert_nonnull(strstr(error->message, "reaches element 5 of storage \"0\", which holds 5"));
  g_clear_error(&error);

  g_byte_array_set_size(p, 0);
  const int nine[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  OP(p, "\x80\x02");
  tensor(p, "FloatStorage", "0", 1, 0, 9, nine, nine);
  OP(p, ".");
  g_autoptr(DdimPickle) rank9 = parse(p, DDIM_PICKLE_ZIP_STORAGES, &error);
  g_assert_null(rank9);
  g_assert_nonnull(strstr(error->message, "up to 8 counts"));
  g_clear_error(&error);

  /* A zero-size tensor may sit at the very end of its storage. */
  g_byte_array_set_size(p, 0);
  const int empty[] = {0}, one[] = {1};
  OP(p, "\x80\x02");
  tensor(p, "FloatStorage", "0", 4, 4, 1, empty, one);
  OP(p, ".");
  g_autoptr(DdimPickle) zero = parse_ok(p, DDIM_PICKLE_ZIP_STORAGES);
  g_assert_cmpuint(g_array_index(zero->tensors, DdimPickleTensor, 0).numel, ==, 0);
}

static void test_refused_structure(void) {
  REFUSED("\x80\x02", "ends without STOP");
  REFUSED("", "ends without STOP");
  REFUSED("\x80\x02.", "STOP with 0 values");
  REFUSED("\x80\x02}}.", "STOP with 2 values");
  REFUSED("\x80\x02(}.", "STOP with an open MARK");
  REFUSED("\x80\x02t.", "no MARK to close");
  REFUSED("\x80\x02}(s.", "stack underflow");
  REFUSED("\x80\x02(R.", "stack underflow");
  REFUSED("\x80\x02\x85.", "stack underflow");
  REFUSED("\x80\x02(\x86.", "stack underflow");
  REFUSED("\x80\x02h\x00.", "memo entry 0 is not defined");
  REFUSED("\x80\x02}r\xff\xff\xff\xffj\xfe\xff\xff\xff.", "memo entry 4294967294");
  REFUSED("\x80\x02q\x00.", "stack underflow");
  REFUSED("\x80\x02X\xff\xff\xff\xff", "ends inside an argument");
  REFUSED("\x80\x02\x8d\x00\x00\x00\x00\x00\x00\x00\x80", "ends inside an argument");
  REFUSED("\x80\x02X\x02\x00\x00\x00\xc3\x28.", "not UTF-8");
  REFUSED("\x80\x02T\xff\xff\xff\xff.", "negative length");
  REFUSED("\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00}.", "FRAME longer");
  REFUSED("\x80\x02J\x01\x00", "ends inside an argument");
  /* Depth limits: stack and marks. */
  g_autoptr(GByteArray) deep = g_byte_array_new();
  OP(deep, "\x80\x02");
  for (int i = 0; i < 70000; i++) OP(deep, "]");
  expect_refused((const char *)deep->data, deep->len, DDIM_PICKLE_ZIP_STORAGES, "stack grows past");
  g_byte_array_set_size(deep, 2);
  for (int i = 0; i < 70000; i++) OP(deep, "(");
  expect_refused((const char *)deep->data, deep->len, DDIM_PICKLE_ZIP_STORAGES, "nested MARKs");
}

/* Random mutations of a valid pickle: refused or accepted, never a crash. */
static void test_mutations(void) {
  g_autoptr(GByteArray) p = g_byte_array_new();
  OP(p, "\x80\x02");
  global(p, "collections", "OrderedDict");
  OP(p, "q\x00)Rq\x01(");
  const int size[] = {2, 3}, stride[] = {3, 1};
  str(p, "a");
  tensor(p, "FloatStorage", "0", 6, 0, 2, size, stride);
  str(p, "b");
  OP(p, "h\x00)R");
  OP(p, "u.");
  GRand *rand = g_rand_new_with_seed(20240611);
  g_autofree guint8 *copy = g_malloc(p->len);
  int accepted = 0;
  for (int round = 0; round < 20000; round++) {
    memcpy(copy, p->data, p->len);
    int edits = g_rand_int_range(rand, 1, 4);
    for (int e = 0; e < edits; e++)
      copy[g_rand_int_range(rand, 0, (gint32)p->len)] = (guint8)g_rand_int_range(rand, 0, 256);
    guint length = (guint)g_rand_int_range(rand, 0, (gint32)p->len + 1);
    GError *error = NULL;
    DdimPickle *pickle = ddim_pickle_parse(copy, length, DDIM_PICKLE_ZIP_STORAGES, WHERE, &error);
    g_assert_true((pickle == NULL) == (error != NULL));
    accepted += pickle != NULL;
    ddim_pickle_free(pickle);
    g_clear_error(&error);
  }
  g_rand_free(rand);
  g_test_message("%d of 20000 mutations accepted", accepted);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/pickle/state-dict", test_state_dict);
  g_test_add_func("/pickle/memo-references", test_memo_references);
  g_test_add_func("/pickle/scalars", test_scalars);
  g_test_add_func("/pickle/empty-containers", test_empty_containers);
  g_test_add_func("/pickle/protocol-4", test_protocol_4);
  g_test_add_func("/pickle/legacy-ids", test_legacy_ids);
  g_test_add_func("/pickle/parameter", test_parameter);
  g_test_add_func("/pickle/refused-globals", test_refused_globals);
  g_test_add_func("/pickle/refused-opcodes", test_refused_opcodes);
  g_test_add_func("/pickle/refused-uses", test_refused_uses);
  g_test_add_func("/pickle/refused-tensors", test_refused_tensors);
  g_test_add_func("/pickle/refused-structure", test_refused_structure);
  g_test_add_func("/pickle/mutations", test_mutations);
  return g_test_run();
}
