/* test-torch-zip.c — the zip directory reader on archives built here.
 *
 * Archives are assembled byte by byte from PKWARE's APPNOTE.TXT record
 * layouts, with the variations torch.save produces (padding in the local
 * extra field, data descriptors, ZIP64 end records and extra fields) and
 * the ones it never produces, which must be refused.  Every prefix of a
 * valid archive is also parsed: refused, never a crash. */
#include "ddim.h"
#include "torch-zip.h"

#include <string.h>

#define PATH "/virtual/model.bin"

typedef struct {
  const char *name;
  const char *data;
  guint16 method, flags;
  int local_padding;      /* bytes of 'Z' in an "FB" local extra field */
  const char *local_name; /* NULL: the same as name */
  gboolean zip64_extra;   /* sizes and offset as 0xFFFFFFFF + extra field 0x0001 */
  gint64 declared_size;   /* -1: the real size */
} Entry;

typedef struct {
  gboolean zip64_end; /* ZIP64 end record + locator */
  guint16 disk;       /* "number of this disk" in the end record */
  int extra_entries;  /* added to the entry count of the end record */
  const char *comment;
} Options;

static void put16(GByteArray *out, guint16 v) {
  guint8 b[2] = {(guint8)v, (guint8)(v >> 8)};
  g_byte_array_append(out, b, 2);
}

static void put32(GByteArray *out, guint32 v) {
  put16(out, (guint16)v);
  put16(out, (guint16)(v >> 16));
}

static void put64(GByteArray *out, guint64 v) {
  put32(out, (guint32)v);
  put32(out, (guint32)(v >> 32));
}

static void bytes(GByteArray *out, const char *text, size_t length) {
  g_byte_array_append(out, (const guint8 *)text, (guint)length);
}

static GByteArray *build(const Entry *entries, int count, const Options *options) {
  GByteArray *out = g_byte_array_new();
  g_autofree guint64 *offsets = g_new(guint64, count);
  for (int i = 0; i < count; i++) {
    const Entry *e = &entries[i];
    const char *local_name = e->local_name ? e->local_name : e->name;
    offsets[i] = out->len;
    put32(out, 0x04034b50);
    put16(out, 20);
    put16(out, e->flags);
    put16(out, e->method);
    put32(out, 0); /* time, date */
    put32(out, 0); /* crc */
    put32(out, 0); /* sizes: in the data descriptor / central directory */
    put32(out, 0);
    put16(out, (guint16)strlen(local_name));
    put16(out, (guint16)(e->local_padding ? e->local_padding + 4 : 0));
    bytes(out, local_name, strlen(local_name));
    if (e->local_padding) {
      bytes(out, "FB", 2);
      put16(out, (guint16)e->local_padding);
      for (int z = 0; z < e->local_padding; z++) bytes(out, "Z", 1);
    }
    bytes(out, e->data, strlen(e->data));
    if (e->flags & 0x08) {
      put32(out, 0x08074b50);
      put32(out, 0);
      put32(out, (guint32)strlen(e->data));
      put32(out, (guint32)strlen(e->data));
    }
  }
  guint64 cd_offset = out->len;
  for (int i = 0; i < count; i++) {
    const Entry *e = &entries[i];
    guint64 size = e->declared_size >= 0 ? (guint64)e->declared_size : strlen(e->data);
    put32(out, 0x02014b50);
    put16(out, 45);
    put16(out, 45);
    put16(out, e->flags);
    put16(out, e->method);
    put32(out, 0);
    put32(out, 0);
    put32(out, e->zip64_extra ? 0xFFFFFFFFu : (guint32)size);
    put32(out, e->zip64_extra ? 0xFFFFFFFFu : (guint32)size);
    put16(out, (guint16)strlen(e->name));
    put16(out, e->zip64_extra ? 28 : 0);
    put16(out, 0); /* comment */
    put16(out, 0); /* disk */
    put16(out, 0);
    put32(out, 0);
    put32(out, e->zip64_extra ? 0xFFFFFFFFu : (guint32)offsets[i]);
    bytes(out, e->name, strlen(e->name));
    if (e->zip64_extra) {
      put16(out, 0x0001);
      put16(out, 24);
      put64(out, size);
      put64(out, size);
      put64(out, offsets[i]);
    }
  }
  guint64 cd_size = out->len - cd_offset;
  guint64 total = (guint64)count + (guint64)options->extra_entries;
  if (options->zip64_end) {
    guint64 record = out->len;
    put32(out, 0x06064b50);
    put64(out, 44);
    put16(out, 45);
    put16(out, 45);
    put32(out, 0);
    put32(out, 0);
    put64(out, total);
    put64(out, total);
    put64(out, cd_size);
    put64(out, cd_offset);
    put32(out, 0x07064b50);
    put32(out, 0);
    put64(out, record);
    put32(out, 1);
  }
  const char *comment = options->comment ? options->comment : "";
  put32(out, 0x06054b50);
  put16(out, options->disk);
  put16(out, 0);
  put16(out, options->zip64_end ? 0xFFFF : (guint16)total);
  put16(out, options->zip64_end ? 0xFFFF : (guint16)total);
  put32(out, options->zip64_end ? 0xFFFFFFFFu : (guint32)cd_size);
  put32(out, options->zip64_end ? 0xFFFFFFFFu : (guint32)cd_offset);
  put16(out, (guint16)strlen(comment));
  bytes(out, comment, strlen(comment));
  return out;
}

static const Entry torch_like[] = {
    {"model/data.pkl", "\x80\x02}.", 0, 0x0808, 42, NULL, FALSE, -1},
    {"model/data/0", "0123456789abcdef", 0, 0x0808, 17, NULL, FALSE, -1},
    {"model/version", "3\n", 0, 0x0808, 9, NULL, FALSE, -1},
};

static void test_torch_like(void) {
  Options options = {.zip64_end = TRUE};
  g_autoptr(GByteArray) zip_bytes = build(torch_like, 3, &options);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimZip) zip = ddim_zip_parse(zip_bytes->data, zip_bytes->len, PATH, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(zip->root, ==, "model");
  g_assert_cmpint(zip->n_entries, ==, 3);
  const DdimZipEntry *data = ddim_zip_find(zip, "data/0");
  g_assert_nonnull(data);
  g_assert_cmpuint(data->size, ==, 16);
  g_assert_cmpmem(zip_bytes->data + data->data_offset, 16, "0123456789abcdef", 16);
  const DdimZipEntry *pkl = ddim_zip_find(zip, "data.pkl");
  g_assert_cmpuint(pkl->data_offset, ==, 30 + strlen("model/data.pkl") + 4 + 42);
  g_assert_null(ddim_zip_find(zip, "data/1"));
  g_assert_null(ddim_zip_find(zip, "constants.pkl"));
}

static void test_zip64_extra_and_comment(void) {
  Entry entries[] = {
      {"archive/data.pkl", "\x80\x02}.", 0, 0, 0, NULL, TRUE, -1},
      {"archive/data/0", "abcd", 0, 0, 0, NULL, TRUE, -1},
  };
  Options options = {.comment = "a comment"};
  g_autoptr(GByteArray) zip_bytes = build(entries, 2, &options);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimZip) zip = ddim_zip_parse(zip_bytes->data, zip_bytes->len, PATH, &error);
  g_assert_no_error(error);
  const DdimZipEntry *data = ddim_zip_find(zip, "data/0");
  g_assert_cmpuint(data->size, ==, 4);
  g_assert_cmpmem(zip_bytes->data + data->data_offset, 4, "abcd", 4);
}

static void expect_refused(const Entry *entries, int count, const Options *options,
                           const char *expected, DdimError code) {
  g_autoptr(GByteArray) zip_bytes = build(entries, count, options);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimZip) zip = ddim_zip_parse(zip_bytes->data, zip_bytes->len, PATH, &error);
  if (zip) g_error("accepted; expected \"%s\"", expected);
  g_assert_error(error, DDIM_ERROR, (int)code);
  if (!strstr(error->message, expected) || !strstr(error->message, PATH))
    g_error("message \"%s\" lacks \"%s\"", error->message, expected);
}

static void test_refused(void) {
  Options plain = {0};
  Entry e[3];
  memcpy(e, torch_like, sizeof e);
  e[1].method = 8;
  expect_refused(e, 3, &plain, "compressed (method 8)", DDIM_ERROR_UNSUPPORTED);
  memcpy(e, torch_like, sizeof e);
  e[1].flags |= 1;
  expect_refused(e, 3, &plain, "encrypted", DDIM_ERROR_FORMAT);
  memcpy(e, torch_like, sizeof e);
  e[1].local_name = "model/data/1";
  expect_refused(e, 3, &plain, "different name in its local header", DDIM_ERROR_FORMAT);
  memcpy(e, torch_like, sizeof e);
  e[2].name = "model/data/0";
  e[2].local_name = "model/data/0";
  expect_refused(e, 3, &plain, "appears twice", DDIM_ERROR_FORMAT);
  memcpy(e, torch_like, sizeof e);
  e[0].name = e[0].local_name = "data.pkl";
  expect_refused(e, 3, &plain, "is not inside a folder", DDIM_ERROR_FORMAT);
  memcpy(e, torch_like, sizeof e);
  e[2].name = e[2].local_name = "other/version";
  expect_refused(e, 3, &plain, "outside the archive folder", DDIM_ERROR_FORMAT);
  memcpy(e, torch_like, sizeof e);
  e[2].name = e[2].local_name = "model/../../version";
  expect_refused(e, 3, &plain, "unsafe name", DDIM_ERROR_FORMAT);
  memcpy(e, torch_like, sizeof e);
  e[2].name = e[2].local_name = "/model/version";
  expect_refused(e, 3, &plain, "unsafe name", DDIM_ERROR_FORMAT);
  memcpy(e, torch_like, sizeof e);
  e[0].declared_size = 40; /* runs into the next local header */
  expect_refused(e, 3, &plain, "overlap", DDIM_ERROR_FORMAT);
  memcpy(e, torch_like, sizeof e);
  e[1].declared_size = 0x7FFFFFFF;
  expect_refused(e, 3, &plain, "past the end of the data", DDIM_ERROR_FORMAT);
  e[1].declared_size = -1;
  e[1].zip64_extra = TRUE;
  e[1].declared_size = (gint64)1 << 62;
  expect_refused(e, 3, &plain, "past the end of the data", DDIM_ERROR_FORMAT);
  Options multi_disk = {.disk = 1};
  expect_refused(torch_like, 3, &multi_disk, "multi-disk", DDIM_ERROR_FORMAT);
  Options too_many = {.extra_entries = 1000};
  expect_refused(torch_like, 3, &too_many, "declares 1003 entries", DDIM_ERROR_FORMAT);
  Options zip64_too_many = {.zip64_end = TRUE, .extra_entries = 2000000000};
  expect_refused(torch_like, 3, &zip64_too_many, "entries", DDIM_ERROR_FORMAT);
}

/* Every prefix, and every single-byte corruption of the end records, is
 * refused (or, for corruptions, possibly accepted) without a crash. */
static void test_truncations(void) {
  Options options = {.zip64_end = TRUE};
  g_autoptr(GByteArray) zip_bytes = build(torch_like, 3, &options);
  for (guint length = 0; length < zip_bytes->len; length++) {
    g_autofree guint8 *copy = g_memdup2(zip_bytes->data, length ? length : 1);
    GError *error = NULL;
    DdimZip *zip = ddim_zip_parse(copy, length, PATH, &error);
    g_assert_null(zip);
    g_assert_nonnull(error);
    g_clear_error(&error);
  }
  g_autofree guint8 *copy = g_memdup2(zip_bytes->data, zip_bytes->len);
  for (guint at = 0; at < zip_bytes->len; at++) {
    for (int value = 0; value < 256; value += 51) {
      memcpy(copy, zip_bytes->data, zip_bytes->len);
      copy[at] = (guint8)(copy[at] ^ (value | 1));
      GError *error = NULL;
      DdimZip *zip = ddim_zip_parse(copy, zip_bytes->len, PATH, &error);
      g_assert_true((zip == NULL) == (error != NULL));
      ddim_zip_free(zip);
      g_clear_error(&error);
    }
  }
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/zip/torch-like", test_torch_like);
  g_test_add_func("/zip/zip64-extra-and-comment", test_zip64_extra_and_comment);
  g_test_add_func("/zip/refused", test_refused);
  g_test_add_func("/zip/truncations", test_truncations);
  return g_test_run();
}
