/* test-safetensors.c — the safetensors reader on files built in memory.
 *
 * Every buffer is written here byte by byte (u64 little-endian header
 * length, JSON header, data), so the expected layout and values come from
 * the format description (safetensors README), not from the reader.
 * Conversions are checked against an independent decoder of the IEEE
 * binary16 / bfloat16 bit fields written with ldexp. */
#include "ddim.h"
#include "safetensors.h"
#include "torch-checkpoint.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#define TEST_PATH "/virtual/model.safetensors"

/* ---- building files ---------------------------------------------------- */

/* 8-byte little-endian length field (any value), then `header_bytes` bytes
 * of header, then `data_bytes` bytes of data. */
static guint8 *build_raw(uint64_t length_field, const char *header, size_t header_bytes,
                         const void *data, size_t data_bytes, size_t *size) {
  *size = 8 + header_bytes + data_bytes;
  guint8 *bytes = g_malloc0(*size ? *size : 1);
  for (int i = 0; i < 8; i++) bytes[i] = (guint8)(length_field >> (8 * i));
  if (header_bytes) memcpy(bytes + 8, header, header_bytes);
  if (data_bytes) memcpy(bytes + 8 + header_bytes, data, data_bytes);
  return bytes;
}

/* A consistent file: the length field is the header's length. */
static guint8 *build(const char *header, const void *data, size_t data_bytes, size_t *size) {
  return build_raw(strlen(header), header, strlen(header), data, data_bytes, size);
}

static void put_f32(guint8 *dst, float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof bits);
  for (int i = 0; i < 4; i++) dst[i] = (guint8)(bits >> (8 * i));
}

static void put_u16(guint8 *dst, uint16_t value) {
  dst[0] = (guint8)value;
  dst[1] = (guint8)(value >> 8);
}

/* ---- independent decoders ---------------------------------------------- */

/* binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
static double reference_half(uint16_t h) {
  int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double magnitude;
  if (exponent == 0)
    magnitude = ldexp((double)mantissa, -24); /* subnormal: m·2^-24 */
  else if (exponent == 31)
    magnitude = mantissa ? NAN : INFINITY;
  else
    magnitude = ldexp(1.0 + mantissa / 1024.0, exponent - 15);
  return sign ? -magnitude : magnitude;
}

/* bfloat16: 1 sign, 8 exponent (bias 127), 7 mantissa bits. */
static double reference_bf16(uint16_t b) {
  int sign = b >> 15, exponent = (b >> 7) & 0xff, mantissa = b & 0x7f;
  double magnitude;
  if (exponent == 0)
    magnitude = ldexp((double)mantissa, -133); /* m/128 · 2^-126 */
  else if (exponent == 255)
    magnitude = mantissa ? NAN : INFINITY;
  else
    magnitude = ldexp(1.0 + mantissa / 128.0, exponent - 127);
  return sign ? -magnitude : magnitude;
}

static void assert_same_value(float got, double expected) {
  if (isnan(expected)) {
    g_assert_true(isnan(got));
    return;
  }
  g_assert_true((double)got == expected);
  g_assert_cmpint(!!signbit(got), ==, !!signbit(expected)); /* −0 stays −0 */
}

/* ---- valid files ------------------------------------------------------- */

static void test_valid_mixed_dtypes(void) {
  /* Header order differs from offset order: the reader must not care. */
  const char *header = "{\"c\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[32,36]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                       "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}}";
  guint8 data[36];
  const float a_values[6] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-30f, -65504.0f};
  for (int i = 0; i < 6; i++) put_f32(data + 4 * i, a_values[i]);
  /* F16: 1.0, -2.0, 65504 (largest normal), 2^-24 (smallest subnormal). */
  const uint16_t b_bits[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
  const double b_values[4] = {1.0, -2.0, 65504.0, ldexp(1.0, -24)};
  for (int i = 0; i < 4; i++) put_u16(data + 24 + 2 * i, b_bits[i]);
  /* BF16: 1.0 (0x3f80), -0.15625 (0xbe20). */
  put_u16(data + 32, 0x3f80);
  put_u16(data + 34, 0xbe20);

  size_t size;
  g_autofree guint8 *bytes = build(header, data, sizeof data, &size);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(bytes, size, TEST_PATH, &error);
  g_assert_no_error(error);
  g_assert_nonnull(file);
  g_assert_cmpint(file->n_tensors, ==, 3);
  g_assert_cmpuint(file->header_length, ==, strlen(header));
  g_assert_cmpuint(file->size, ==, size);
  g_assert_null(ddim_safetensors_find(file, "d"));

  const DdimStTensor *a = ddim_safetensors_find(file, "a");
  g_assert_nonnull(a);
  g_assert_cmpstr(a->name, ==, "a");
  g_assert_cmpstr(a->dtype_name, ==, "F32");
  g_assert_cmpint(a->dtype, ==, DDIM_DTYPE_F32);
  g_assert_cmpint(a->rank, ==, 2);
  g_assert_cmpint(a->shape[0], ==, 2);
  g_assert_cmpint(a->shape[1], ==, 3);
  g_assert_cmpuint(a->elements, ==, 6);
  g_assert_cmpuint(a->nbytes, ==, 24);
  g_assert_true(a->data == bytes + 8 + strlen(header));
  float a_out[6];
  g_assert_true(ddim_st_tensor_to_f32(a, a_out));
  for (int i = 0; i < 6; i++) g_assert_true(a_out[i] == a_values[i]);

  const DdimStTensor *b = ddim_safetensors_find(file, "b");
  g_assert_nonnull(b);
  g_assert_cmpint(b->dtype, ==, DDIM_DTYPE_F16);
  g_assert_cmpint(b->rank, ==, 1);
  g_assert_cmpuint(b->elements, ==, 4);
  g_assert_cmpuint(b->nbytes, ==, 8);
  g_assert_true(b->data == bytes + 8 + strlen(header) + 24);
  float b_out[4];
  g_assert_true(ddim_st_tensor_to_f32(b, b_out));
  for (int i = 0; i < 4; i++) g_assert_true((double)b_out[i] == b_values[i]);

  const DdimStTensor *c = ddim_safetensors_find(file, "c");
  g_assert_nonnull(c);
  g_assert_cmpint(c->dtype, ==, DDIM_DTYPE_BF16);
  g_assert_true(c->data == bytes + 8 + strlen(header) + 32);
  float c_out[2];
  g_assert_true(ddim_st_tensor_to_f32(c, c_out));
  g_assert_true(c_out[0] == 1.0f);
  g_assert_true(c_out[1] == -0.15625f);
}

/* Every binary16 pattern: normals, subnormals, ±0, ±inf, NaN. */
static void test_half_all_patterns(void) {
  for (uint32_t h = 0; h <= 0xffff; h++)
    assert_same_value(ddim_half_to_float((uint16_t)h), reference_half((uint16_t)h));
  /* Spot checks written out by hand. */
  g_assert_true(ddim_half_to_float(0x0001) == 5.9604644775390625e-08f); /* 2^-24 */
  g_assert_true(ddim_half_to_float(0x03ff) == 6.097555160522461e-05f);  /* 1023·2^-24 */
  g_assert_true(ddim_half_to_float(0x0400) == 6.103515625e-05f);        /* 2^-14 */
  g_assert_true(ddim_half_to_float(0x0200) == 3.0517578125e-05f);       /* 2^-15 */
  g_assert_true(ddim_half_to_float(0x3555) == 0.333251953125f);
  g_assert_true(isinf(ddim_half_to_float(0x7c00)) && ddim_half_to_float(0x7c00) > 0);
  g_assert_true(isinf(ddim_half_to_float(0xfc00)) && ddim_half_to_float(0xfc00) < 0);
  g_assert_true(isnan(ddim_half_to_float(0x7e00)));
  float negative_zero = ddim_half_to_float(0x8000);
  g_assert_true(negative_zero == 0.0f && signbit(negative_zero));
  g_assert_true(ddim_half_to_float(0x8001) == -5.9604644775390625e-08f);
}

static void test_bf16_all_patterns(void) {
  for (uint32_t b = 0; b <= 0xffff; b++)
    assert_same_value(ddim_bf16_to_float((uint16_t)b), reference_bf16((uint16_t)b));
  g_assert_true(ddim_bf16_to_float(0x4049) == 3.140625f);
  g_assert_true(isinf(ddim_bf16_to_float(0xff80)) && ddim_bf16_to_float(0xff80) < 0);
  g_assert_true(signbit(ddim_bf16_to_float(0x8000)));
}

/* Special F16 values through the whole file path (to_f32 on tensor data). */
static void test_f16_tensor_specials(void) {
  const uint16_t bits[] = {0x0001, 0x03ff, 0x8000, 0x7c00, 0xfc00, 0x0400, 0x8200, 0x7e00};
  const int n = G_N_ELEMENTS(bits);
  guint8 data[2 * G_N_ELEMENTS(bits)];
  for (int i = 0; i < n; i++) put_u16(data + 2 * i, bits[i]);
  g_autofree char *header = g_strdup_printf(
      "{\"h\":{\"dtype\":\"F16\",\"shape\":[%d],\"data_offsets\":[0,%d]}}", n, 2 * n);
  size_t size;
  g_autofree guint8 *bytes = build(header, data, sizeof data, &size);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(bytes, size, TEST_PATH, &error);
  g_assert_no_error(error);
  float out[G_N_ELEMENTS(bits)];
  g_assert_true(ddim_st_tensor_to_f32(ddim_safetensors_find(file, "h"), out));
  for (int i = 0; i < n; i++) assert_same_value(out[i], reference_half(bits[i]));
}

/* Files written before the 8-byte header padding can start their data at
 * any offset: conversions must not assume alignment. */
static void test_unaligned_data_start(void) {
  for (int pad = 0; pad < 8; pad++) {
    g_autoptr(GString) header =
        g_string_new("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                     "\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[12,14]},"
                     "\"g\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[14,16]}}");
    for (int i = 0; i < pad; i++) g_string_append_c(header, ' '); /* trailing spaces are allowed */
    guint8 data[16];
    const float values[3] = {0.1f, -7.0f, 3.0e38f};
    for (int i = 0; i < 3; i++) put_f32(data + 4 * i, values[i]);
    put_u16(data + 12, 0xbc00); /* -1.0 */
    put_u16(data + 14, 0x4110); /* 9.0 */
    size_t size;
    g_autofree guint8 *bytes = build(header->str, data, sizeof data, &size);
    g_autoptr(GError) error = NULL;
    g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(bytes, size, TEST_PATH, &error);
    g_assert_no_error(error);
    const DdimStTensor *w = ddim_safetensors_find(file, "w");
    g_assert_true(w->data == bytes + 8 + header->len);
    float out[3];
    g_assert_true(ddim_st_tensor_to_f32(w, out));
    for (int i = 0; i < 3; i++) g_assert_true(out[i] == values[i]);
    g_assert_true(ddim_st_tensor_to_f32(ddim_safetensors_find(file, "h"), out));
    g_assert_true(out[0] == -1.0f);
    g_assert_true(ddim_st_tensor_to_f32(ddim_safetensors_find(file, "g"), out));
    g_assert_true(out[0] == 9.0f);
  }
}

static void test_metadata(void) {
  const char *header = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  guint8 data[4];
  put_f32(data, 42.0f);
  size_t size;
  g_autofree guint8 *bytes = build(header, data, sizeof data, &size);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(bytes, size, TEST_PATH, &error);
  g_assert_no_error(error);
  g_assert_cmpint(file->n_tensors, ==, 1);
  g_assert_null(ddim_safetensors_find(file, "__metadata__"));
  float value;
  g_assert_true(ddim_st_tensor_to_f32(ddim_safetensors_find(file, "x"), &value));
  g_assert_true(value == 42.0f);
}

static void test_zero_element_and_scalar(void) {
  /* An empty tensor (a 0 dimension) occupies [8, 8); a scalar (shape []) has
   * one element. */
  const char *header = "{\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
                       "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                       "\"half\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]}}";
  guint8 data[8];
  put_f32(data, -0.5f);
  put_u16(data + 4, 0x3800); /* 0.5 */
  put_u16(data + 6, 0x4200); /* 3.0 */
  size_t size;
  g_autofree guint8 *bytes = build(header, data, sizeof data, &size);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(bytes, size, TEST_PATH, &error);
  g_assert_no_error(error);
  g_assert_cmpint(file->n_tensors, ==, 3);
  const DdimStTensor *empty = ddim_safetensors_find(file, "empty");
  g_assert_cmpint(empty->rank, ==, 2);
  g_assert_cmpint(empty->shape[0], ==, 0);
  g_assert_cmpint(empty->shape[1], ==, 3);
  g_assert_cmpuint(empty->elements, ==, 0);
  g_assert_cmpuint(empty->nbytes, ==, 0);
  float sentinel = 123.0f;
  g_assert_true(ddim_st_tensor_to_f32(empty, &sentinel));
  g_assert_true(sentinel == 123.0f); /* nothing written */
  const DdimStTensor *scalar = ddim_safetensors_find(file, "scalar");
  g_assert_cmpint(scalar->rank, ==, 0);
  g_assert_cmpuint(scalar->elements, ==, 1);
  g_assert_cmpuint(scalar->nbytes, ==, 4);
  float value;
  g_assert_true(ddim_st_tensor_to_f32(scalar, &value));
  g_assert_true(value == -0.5f);
  float halves[2];
  g_assert_true(ddim_st_tensor_to_f32(ddim_safetensors_find(file, "half"), halves));
  g_assert_true(halves[0] == 0.5f && halves[1] == 3.0f);
}

/* "{}" and no data: a valid file with no tensors. */
static void test_no_tensors(void) {
  size_t size;
  g_autofree guint8 *bytes = build("{}", NULL, 0, &size);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(bytes, size, TEST_PATH, &error);
  g_assert_no_error(error);
  g_assert_cmpint(file->n_tensors, ==, 0);
}

/* A valid dtype we do not convert is listed, but to_f32 refuses it. */
static void test_other_dtype(void) {
  const char *header = "{\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                       "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[16,19]},"
                       "\"b\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[19,20]}}";
  guint8 data[20] = {0};
  size_t size;
  g_autofree guint8 *bytes = build(header, data, sizeof data, &size);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(bytes, size, TEST_PATH, &error);
  g_assert_no_error(error);
  const DdimStTensor *i = ddim_safetensors_find(file, "i");
  g_assert_cmpint(i->dtype, ==, DDIM_DTYPE_OTHER);
  g_assert_cmpstr(i->dtype_name, ==, "I64");
  g_assert_cmpuint(i->nbytes, ==, 16);
  g_assert_cmpuint(ddim_safetensors_find(file, "u")->nbytes, ==, 3);
  float out[2];
  g_assert_false(ddim_st_tensor_to_f32(i, out));
}

/* ---- malformed files --------------------------------------------------- */

static void expect_format_error(const guint8 *bytes, size_t size, const char *what) {
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(bytes, size, TEST_PATH, &error);
  if (file || !error) g_error("%s: accepted a malformed file", what);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  if (!strstr(error->message, TEST_PATH))
    g_error("%s: the message does not name the file: %s", what, error->message);
  g_test_message("%s: %s", what, error->message);
}

/* A header with data of `data_bytes` zero bytes. */
static void expect_bad_header(const char *header, size_t data_bytes, const char *what) {
  g_autofree guint8 *data = g_malloc0(data_bytes ? data_bytes : 1);
  size_t size;
  g_autofree guint8 *bytes = build(header, data, data_bytes, &size);
  expect_format_error(bytes, size, what);
}

static void test_bad_length_field(void) {
  const char *header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  const size_t header_len = strlen(header);
  guint8 data[4] = {0};
  size_t size;

  /* Shorter than the 8-byte length field (0..7 bytes). */
  guint8 tiny[8] = {2, 0, 0, 0, 0, 0, 0, 0};
  for (size_t n = 0; n < 8; n++) expect_format_error(tiny, n, "file shorter than 8 bytes");

  g_autofree guint8 *zero = build_raw(0, header, header_len, data, 4, &size);
  expect_format_error(zero, size, "header length 0");

  g_autofree guint8 *too_long = build_raw(header_len + 5, header, header_len, NULL, 0, &size);
  expect_format_error(too_long, size, "header length larger than the file");

  g_autofree guint8 *huge = build_raw(100000001ull, header, header_len, data, 4, &size);
  expect_format_error(huge, size, "header length over 100 MB");

  g_autofree guint8 *enormous = build_raw(UINT64_MAX, header, header_len, data, 4, &size);
  expect_format_error(enormous, size, "header length 2^64-1");

  g_autofree guint8 *high_bit =
      build_raw((uint64_t)1 << 63 | header_len, header, header_len, data, 4, &size);
  expect_format_error(high_bit, size, "header length with the top bit set");
}

/* The 100 MB header limit of the reference implementation, on a file that
 * really is that large ("{}" padded with spaces, which the format allows). */
/* Parses bytes that must be refused with a message containing `expected`. */
static void expect_refusal(const guint8 *bytes, size_t size, const char *expected) {
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(bytes, size, TEST_PATH, &error);
  g_assert_null(file);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, TEST_PATH));
  if (!strstr(error->message, expected))
    g_error("expected \"%s\" in: %s", expected, error->message);
}

static void test_header_size_limit(void) {
  const size_t limit = DDIM_ST_MAX_HEADER;
  g_assert_cmpuint(limit, ==, 16u << 20);
  guint8 *bytes = g_malloc(8 + limit + 1);
  memset(bytes + 8, ' ', limit + 1);
  bytes[8] = '{';
  bytes[9] = '}';
  for (int i = 0; i < 8; i++) bytes[i] = (guint8)((uint64_t)(limit + 1) >> (8 * i));
  expect_refusal(bytes, 8 + limit + 1, "the header is 16777217 bytes long; the limit is 16777216");
  /* At the limit it is accepted. */
  for (int i = 0; i < 8; i++) bytes[i] = (guint8)((uint64_t)limit >> (8 * i));
  g_autoptr(GError) error = NULL;
  DdimSafetensors *file = ddim_safetensors_parse(bytes, 8 + limit, TEST_PATH, &error);
  g_assert_no_error(error);
  g_assert_nonnull(file);
  g_assert_cmpint(file->n_tensors, ==, 0);
  g_assert_cmpuint(file->header_length, ==, limit);
  ddim_safetensors_free(file);
  g_free(bytes);
}

/* A header of `count` empty tensors {"tN":{"dtype":"F32","shape":[0],
 * "data_offsets":[0,0]}}: valid, tiny data, a large tree. */
static guint8 *many_tensors(int count, size_t *size) {
  g_autoptr(GString) header = g_string_new("{");
  for (int i = 0; i < count; i++)
    g_string_append_printf(header,
                           "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],"
                           "\"data_offsets\":[0,0]}",
                           i ? "," : "", i);
  g_string_append_c(header, '}');
  return build(header->str, NULL, 0, size);
}

/* The bomb of the adversarial trial: a header with 10⁶ tensors cost several
 * GB to parse.  Its entries are counted before the tree is built. */
static void test_tensor_count_limit(void) {
  size_t size;
  g_autofree guint8 *at_limit = many_tensors(DDIM_ST_MAX_TENSORS, &size);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(at_limit, size, TEST_PATH, &error);
  g_assert_no_error(error);
  g_assert_cmpint(file->n_tensors, ==, DDIM_ST_MAX_TENSORS);

  g_autofree guint8 *over = many_tensors(DDIM_ST_MAX_TENSORS + 2, &size);
  expect_refusal(over, size, "the header lists 65538 entries; the limit is 65536 tensors");
  /* The trial's 10⁶ tensors (59 MB) are refused by their header's length. */
  g_autofree guint8 *million = many_tensors(1000000, &size);
  expect_refusal(million, size, "bytes long; the limit is 16777216 bytes");
}

/* Tiny values in one place (a 16 MiB array of zeros in the metadata) are
 * counted too; quoted brackets, colons and escaped quotes are not. */
static void test_json_value_limit(void) {
  g_autoptr(GString) header = g_string_new("{\"__metadata__\":{\"a\":[0");
  for (int i = 0; i < DDIM_ST_MAX_JSON_VALUES; i++) g_string_append(header, ",0");
  g_string_append(header, "]}}");
  size_t size;
  g_autofree guint8 *bytes = build(header->str, NULL, 0, &size);
  expect_refusal(bytes, size, "JSON values; the limit is 1048576");

  const char *quoted = "{\"__metadata__\":{\"k\\\":[,,,{\":\"v:,,[[{\\\"\"}}";
  g_autofree guint8 *fine = build(quoted, NULL, 0, &size);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(fine, size, TEST_PATH, &error);
  g_assert_no_error(error);
  g_assert_cmpint(file->n_tensors, ==, 0);
}

static void test_bad_header_text(void) {
  expect_bad_header(" {\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                    "header not starting with '{'");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4,
                    "truncated JSON");
  expect_bad_header("{not json at all}", 0, "non-JSON header");
  expect_bad_header("[{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}]", 4,
                    "JSON array root");

  /* A NUL byte inside the header (within the declared length). */
  const char with_nul[] = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\0  ";
  guint8 data[4] = {0};
  size_t size;
  g_autofree guint8 *bytes =
      build_raw(sizeof with_nul - 1, with_nul, sizeof with_nul - 1, data, 4, &size);
  expect_format_error(bytes, size, "NUL byte in the header");
  const char nul_in_name[] = "{\"a\0b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  g_autofree guint8 *bytes2 =
      build_raw(sizeof nul_in_name - 1, nul_in_name, sizeof nul_in_name - 1, data, 4, &size);
  expect_format_error(bytes2, size, "NUL byte inside a name");

  expect_bad_header("{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                    "header not UTF-8");
  expect_bad_header("{\"__metadata__\":\"pt\"}", 0, "__metadata__ not an object");
}

static void test_bad_entries(void) {
  expect_bad_header("{\"x\":5}", 0, "entry not an object");
  expect_bad_header("{\"x\":[0,4]}", 4, "entry is an array");
  expect_bad_header("{\"x\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing dtype");
  expect_bad_header("{\"x\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                    "dtype not a string");
  expect_bad_header("{\"x\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                    "unknown dtype");
  expect_bad_header("{\"x\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                    "dtype in lower case");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing shape");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4,
                    "shape not an array");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                    "negative shape entry");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
                    "string shape entry");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
                    "fractional shape entry");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4,
                    "float shape entry");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}}", 4,
                    "null shape entry");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}", 4,
                    "nested shape entry");
  expect_bad_header(
      "{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
      "rank 9");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing data_offsets");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4,
                    "data_offsets of length 1");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}}", 4,
                    "data_offsets of length 3");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4,
                    "data_offsets end < begin");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
                    "negative data_offsets");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.0,4.0]}}", 4,
                    "float data_offsets");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                    "byte count smaller than shape x dtype");
  expect_bad_header("{\"x\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                    "byte count larger than shape x dtype");
  /* 2^32 · 2^32 · 2 elements: the product wraps around 64 bits (to 0). */
  expect_bad_header(
      "{\"x\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,2],\"data_offsets\":[0,0]}}", 0,
      "shape product overflowing 64 bits");
  /* 2^62 elements of 4 bytes: the element count fits, the byte count does not. */
  expect_bad_header(
      "{\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", 0,
      "byte count overflowing 64 bits");
  /* A single dimension beyond int64. */
  expect_bad_header(
      "{\"x\":{\"dtype\":\"U8\",\"shape\":[18446744073709551616],\"data_offsets\":[0,0]}}", 0,
      "shape entry beyond 64 bits");
}

static void test_bad_layout(void) {
  expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                    12, "overlapping offsets");
  expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                    8, "two tensors on the same bytes");
  expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                    12, "gap between tensors");
  expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                    "gap before the first tensor");
  expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12,
                    "tensor past the end of the file");
  expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
                    "trailing bytes after the last tensor");
  expect_bad_header("{}", 4, "data but no tensors");
  expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                    8, "the same name twice (different bytes)");
}

/* The header is one JSON object, optionally padded with spaces (README);
 * the reference parser (serde_json::from_str) rejects anything else after
 * the object. */
static void test_trailing_text_after_header_object(void) {
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} {}", 4,
                    "two JSON values");
  expect_bad_header("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}xyz", 4,
                    "text after the JSON object");
}

/* safetensors forbids duplicate names (tensor.rs).  json-glib keeps only the
 * last member of an object with a repeated key, so this is only detectable
 * if the reader looks at the raw members; two entries on the same bytes
 * would otherwise be accepted as one tensor. */
static void test_duplicate_name_same_bytes(void) {
  expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                    4, "the same name twice (same bytes)");
}

/* ---- files on disk ----------------------------------------------------- */

/* ---- the JSON classes of json-util.c in a header ------------------------- */

/* A header over `data_bytes` zero bytes, refused with a message that names
 * the file and says `message`. */
static void expect_header_message(const char *header, size_t data_bytes, const char *message) {
  g_autofree guint8 *data = g_malloc0(data_bytes ? data_bytes : 1);
  size_t size;
  g_autofree guint8 *bytes = build(header, data, data_bytes, &size);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(bytes, size, TEST_PATH, &error);
  if (file || !error) g_error("accepted: %s", header);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  if (!g_str_has_prefix(error->message, TEST_PATH ": not a valid safetensors file: ") ||
      !strstr(error->message, message))
    g_error("%s: \"%s\" does not name the file or lacks \"%s\"", header, error->message, message);
  g_test_message("%s -> %s", header, error->message);
}

/* Integers beyond 64 bits that json-glib wrapped into valid counts
 * (-18446744073709551615 was 1, 18446744073709551620 was 4), in every
 * integer field; and what is no count (-0, 1.0). */
static void test_json_integers(void) {
  static const char *const beyond_int64[] = {
      "-18446744073709551615", "18446744073709551617", "-18446744073709551612",
      "18446744073709551620",  "9223372036854775808",  "-9223372036854775809",
  };
  /* {field template, its name in the message} */
  static const char *const fields[][2] = {
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[%s],\"data_offsets\":[0,4]}}",
       "an entry of \"shape\""},
      {"{\"x\":{\"dtype\":\"U8\",\"shape\":[2,%s,2],\"data_offsets\":[0,4]}}",
       "an entry of \"shape\""},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%s,4]}}",
       "an entry of \"data_offsets\""},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,%s]}}",
       "an entry of \"data_offsets\""},
  };
  for (size_t f = 0; f < G_N_ELEMENTS(fields); f++)
    for (size_t i = 0; i < G_N_ELEMENTS(beyond_int64); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
      g_autofree char *header = g_strdup_printf(fields[f][0], beyond_int64[i]);
#pragma GCC diagnostic pop
      g_autofree char *message = g_strdup_printf(
          "header: %s is %s, outside the range of a 64-bit integer", fields[f][1], beyond_int64[i]);
      expect_header_message(header, 4, message);
    }
  static const char *const not_counts[] = {"-0", "1.0", "1e0", "-1", "1e400"};
  static const char *const count_messages[] = {"not a count", "not a count", "not a count",
                                               "not a count", "is 1e400, too large"};
  for (size_t i = 0; i < G_N_ELEMENTS(not_counts); i++) {
    g_autofree char *shape = g_strdup_printf(
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[%s],\"data_offsets\":[0,4]}}", not_counts[i]);
    expect_header_message(shape, 4, count_messages[i]);
    g_autofree char *offsets = g_strdup_printf(
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%s,4]}}", not_counts[i]);
    expect_header_message(offsets, 4, i == 4 ? count_messages[i] : "has invalid data_offsets");
  }
  /* The largest int64 is read as itself (not wrapped), then refused for its size. */
  expect_header_message(
      "{\"x\":{\"dtype\":\"U8\",\"shape\":[9223372036854775807],\"data_offsets\":[0,4]}}", 4,
      "tensor \"x\": byte count overflows");
}

/* \u0000 in a name, a dtype or metadata: "F32\u0000" read as F32, and
 * "a\u0000x" and "a\u0000y" as one name "a". */
static void test_json_escaped_nul(void) {
  static const char *const cases[][2] = {
      {"{\"x\":{\"dtype\":\"F32\\u0000\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       "header: \"dtype\" holds an escaped NUL character (\\u0000) (line 1, column 19)"},
      {"{\"x\":{\"dtype\":\"F32\\u0000junk\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       "\"dtype\" holds an escaped NUL"},
      {"{\"a\\u0000x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"a\\u0000y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
       "header: a key holds an escaped NUL character (\\u0000) (line 1, column 4)"},
      {"{\"__metadata__\":{\"format\":\"pt\\u0000\"},"
       "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       "\"format\" holds an escaped NUL"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"\\u0000\":1}}",
       "a key holds an escaped NUL"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
    expect_header_message(cases[i][0], 8, cases[i][1]);
}

/* A name twice in one object at every depth of a header: tensors (an entry
 * object replaced by a later one), an entry's fields, metadata. */
static void test_json_duplicates(void) {
  static const char *const cases[][2] = {
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}",
       "header: \"a\" appears twice in one object (line 1, column 55)"},
      {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       "\"dtype\" appears twice"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"shape\":[1],\"data_offsets\":[0,4]}}",
       "\"shape\" appears twice"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"data_offsets\":[0,4]}}",
       "\"data_offsets\" appears twice"},
      {"{\"__metadata__\":{\"format\":\"pt\",\"format\":\"tf\"},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       "\"format\" appears twice"},
      {"{\"__metadata__\":{\"m\":{\"k\":{},\"k\":{}}},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       "\"k\" appears twice"},
      {"{\"__metadata__\":{},\"__metadata__\":{},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       "\"__metadata__\" appears twice"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"\\u0061\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       "\"a\" appears twice"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
    expect_header_message(cases[i][0], 4, cases[i][1]);
}

/* What serde_json (the safetensors crate) refuses and json-glib accepted. */
static void test_json_not_strict(void) {
  static const char *const cases[][2] = {
      {"{\"x\":{\"dtype\":\"F32\",/* c */\"shape\":[1],\"data_offsets\":[0,4]}}", "a comment"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}// c\n}", "a comment"},
      {"{\"x\":{'dtype':'F32',\"shape\":[1],\"data_offsets\":[0,4]}}", "a single-quoted string"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[0x1],\"data_offsets\":[0,4]}}",
       "a hexadecimal number"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", "a leading zero"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,04]}}", "a leading zero"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[+1],\"data_offsets\":[0,4]}}", "a '+' sign"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[NaN],\"data_offsets\":[0,4]}}", "NaN"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[Infinity],\"data_offsets\":[0,4]}}", "Infinity"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1,],\"data_offsets\":[0,4]}}", "a comma before ']'"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],}}", "a comma before '}'"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", "a comma before '}'"},
      {"{\"x\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "lone surrogate"},
      {"{\"x\ty\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
       "a control character (U+0009)"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\xEF\xBB\xBF",
       "text follows the JSON value"},
      {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\v",
       "text follows the JSON value"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
    expect_header_message(cases[i][0], 4, cases[i][1]);
  /* Padding with the four JSON spaces is allowed. */
  static const char padded[] =
      "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} \t\r\n";
  guint8 data[4] = {0};
  size_t size;
  g_autofree guint8 *bytes = build(padded, data, 4, &size);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_parse(bytes, size, TEST_PATH, &error);
  g_assert_no_error(error);
  g_assert_cmpint(file->n_tensors, ==, 1);
}

static void test_open(void) {
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("test-safetensors-XXXXXX", &error);
  g_assert_no_error(error);

  /* A missing file is an I/O error naming the path. */
  g_autofree char *missing = g_build_filename(dir, "missing.safetensors", NULL);
  g_assert_null(ddim_safetensors_open(missing, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_IO);
  g_assert_nonnull(strstr(error->message, missing));
  g_clear_error(&error);

  /* An empty file is malformed, not an I/O problem. */
  g_autofree char *empty = g_build_filename(dir, "empty.safetensors", NULL);
  g_assert_true(g_file_set_contents(empty, "", 0, NULL));
  g_assert_null(ddim_safetensors_open(empty, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, empty));
  g_clear_error(&error);

  /* A directory cannot be read as a file. */
  g_assert_null(ddim_safetensors_open(dir, &error));
  g_assert_nonnull(error);
  g_assert_true(error->domain == DDIM_ERROR);
  g_clear_error(&error);

  /* A valid file is mapped and readable after open returns. */
  const char *header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  guint8 data[8];
  put_f32(data, 1.5f);
  put_f32(data + 4, -4.0f);
  size_t size;
  g_autofree guint8 *bytes = build(header, data, sizeof data, &size);
  g_autofree char *valid = g_build_filename(dir, "valid.safetensors", NULL);
  g_assert_true(g_file_set_contents(valid, (const char *)bytes, (gssize)size, NULL));
  g_autoptr(DdimSafetensors) file = ddim_safetensors_open(valid, &error);
  g_assert_no_error(error);
  g_assert_nonnull(file->owned);
  g_assert_cmpstr(file->path, ==, valid);
  float out[2];
  g_assert_true(ddim_st_tensor_to_f32(ddim_safetensors_find(file, "x"), out));
  g_assert_true(out[0] == 1.5f && out[1] == -4.0f);

  /* The same file truncated by a byte fails with the path in the message. */
  g_autofree char *truncated = g_build_filename(dir, "truncated.safetensors", NULL);
  g_assert_true(g_file_set_contents(truncated, (const char *)bytes, (gssize)size - 1, NULL));
  g_assert_null(ddim_safetensors_open(truncated, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, truncated));
  g_clear_error(&error);

  g_remove(valid);
  g_remove(truncated);
  g_remove(empty);
  g_rmdir(dir);
}

/* A file truncated (or rewritten) by another program after it was opened:
 * the reader holds a private copy, so the tensors read as they were, where a
 * mapping would have killed the process with SIGBUS. */
static void test_truncated_after_open(void) {
  g_autofree char *dir = g_dir_make_tmp("ddim-st-XXXXXX", NULL);
  const char *header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2048],\"data_offsets\":[0,8192]}}";
  guint8 data[8192];
  for (int i = 0; i < 2048; i++) put_f32(data + 4 * i, (float)i - 0.5f);
  size_t size;
  g_autofree guint8 *bytes = build(header, data, sizeof data, &size);
  g_autofree char *path = g_build_filename(dir, "model.safetensors", NULL);
  g_assert_true(g_file_set_contents(path, (const char *)bytes, (gssize)size, NULL));
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimSafetensors) file = ddim_safetensors_open(path, &error);
  g_assert_no_error(error);
  /* The reader the model uses (any weights format) too. */
  g_autoptr(DdimSafetensors) weights = ddim_weights_open(path, NULL, &error);
  g_assert_no_error(error);

  g_assert_cmpint(truncate(path, 0), ==, 0);
  g_autofree float *out = g_new(float, 2048);
  for (int k = 0; k < 2; k++) {
    const DdimStTensor *x = ddim_safetensors_find(k ? weights : file, "x");
    g_assert_true(ddim_st_tensor_to_f32(x, out));
    for (int i = 0; i < 2048; i++) g_assert_cmpfloat(out[i], ==, (float)i - 0.5f);
    ddim_st_release_tensor_pages(file, x);
    g_assert_true(ddim_st_tensor_to_f32(x, out));
    g_assert_cmpfloat(out[2047], ==, 2046.5f);
  }

  g_remove(path);
  g_rmdir(dir);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/safetensors/valid-mixed-dtypes", test_valid_mixed_dtypes);
  g_test_add_func("/safetensors/half-all-patterns", test_half_all_patterns);
  g_test_add_func("/safetensors/bf16-all-patterns", test_bf16_all_patterns);
  g_test_add_func("/safetensors/f16-tensor-specials", test_f16_tensor_specials);
  g_test_add_func("/safetensors/unaligned-data-start", test_unaligned_data_start);
  g_test_add_func("/safetensors/metadata", test_metadata);
  g_test_add_func("/safetensors/zero-element-and-scalar", test_zero_element_and_scalar);
  g_test_add_func("/safetensors/no-tensors", test_no_tensors);
  g_test_add_func("/safetensors/other-dtype", test_other_dtype);
  g_test_add_func("/safetensors/bad-length-field", test_bad_length_field);
  g_test_add_func("/safetensors/header-size-limit", test_header_size_limit);
  g_test_add_func("/safetensors/tensor-count-limit", test_tensor_count_limit);
  g_test_add_func("/safetensors/json-value-limit", test_json_value_limit);
  g_test_add_func("/safetensors/truncated-after-open", test_truncated_after_open);
  g_test_add_func("/safetensors/bad-header-text", test_bad_header_text);
  g_test_add_func("/safetensors/bad-entries", test_bad_entries);
  g_test_add_func("/safetensors/bad-layout", test_bad_layout);
  g_test_add_func("/safetensors/duplicate-name-same-bytes", test_duplicate_name_same_bytes);
  g_test_add_func("/safetensors/trailing-text-after-header-object",
                  test_trailing_text_after_header_object);
  g_test_add_func("/safetensors/json-integers", test_json_integers);
  g_test_add_func("/safetensors/json-escaped-nul", test_json_escaped_nul);
  g_test_add_func("/safetensors/json-duplicates", test_json_duplicates);
  g_test_add_func("/safetensors/json-not-strict", test_json_not_strict);
  g_test_add_func("/safetensors/open", test_open);
  return g_test_run();
}
