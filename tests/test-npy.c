/* test-npy.c — .npy reading and writing, and refusal of malformed files. */
#include "ddim-io.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static char *temp_dir;

static char *temp_path(const char *name) {
  return g_build_filename(temp_dir, name, NULL);
}

/* A .npy file: magic, version, header length, the dict padded to 64 bytes
 * with a newline, then `data`. */
static GBytes *make_npy(int major, const char *dict, const void *data, gsize data_bytes) {
  gsize prefix = major == 1 ? 10 : 12;
  g_autoptr(GString) header = g_string_new(dict);
  while ((prefix + header->len + 1) % 64 != 0) g_string_append_c(header, ' ');
  g_string_append_c(header, '\n');
  GByteArray *bytes = g_byte_array_new();
  guint8 magic[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (guint8)major, 0};
  guint32 length = header->len;
  for (int i = 0; i < (major == 1 ? 2 : 4); i++) magic[8 + i] = (guint8)(length >> (8 * i));
  g_byte_array_append(bytes, magic, prefix);
  g_byte_array_append(bytes, (const guint8 *)header->str, header->len);
  if (data_bytes) g_byte_array_append(bytes, data, data_bytes);
  return g_byte_array_free_to_bytes(bytes);
}

static char *write_temp(const char *name, GBytes *bytes) {
  char *path = temp_path(name);
  gsize length;
  const char *contents = g_bytes_get_data(bytes, &length);
  g_assert_true(g_file_set_contents(path, contents ? contents : "", length, NULL));
  return path;
}

static void fill_ramp(float *values, size_t count) {
  for (size_t i = 0; i < count; i++) values[i] = (float)i * 0.25f - 3.0f;
}

static void test_round_trip_rank4(void) {
  DdimShape shape = {2, 3, 4, 5};
  size_t count = ddim_shape_elements(shape);
  g_autofree float *values = g_new(float, count);
  fill_ramp(values, count);
  g_autofree char *path = temp_path("rank4.npy");
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_npy_write(path, values, shape, TRUE, &error));
  g_assert_no_error(error);

  /* The header is what NumPy writes, and the data starts 64-aligned. */
  g_autofree char *contents = NULL;
  gsize length;
  g_assert_true(g_file_get_contents(path, &contents, &length, NULL));
  g_assert_cmpuint((length - count * 4) % 64, ==, 0);
  g_assert_cmpmem(contents, 8, "\x93NUMPY\x01\x00", 8);
  const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4, 5), }";
  g_assert_cmpmem(contents + 10, strlen(dict), dict, strlen(dict));
  g_assert_cmpint(contents[length - count * 4 - 1], ==, '\n');

  g_autofree float *read = NULL;
  DdimShape read_shape;
  int rank = 0;
  g_assert_true(ddim_npy_read_with_rank(path, &read, &read_shape, &rank, &error));
  g_assert_no_error(error);
  g_assert_cmpint(rank, ==, 4);
  g_assert_cmpint(read_shape.n, ==, 2);
  g_assert_cmpint(read_shape.c, ==, 3);
  g_assert_cmpint(read_shape.h, ==, 4);
  g_assert_cmpint(read_shape.w, ==, 5);
  g_assert_cmpmem(read, count * 4, values, count * 4);
}

static void test_round_trip_rank3(void) {
  DdimShape shape = {1, 3, 7, 2};
  size_t count = ddim_shape_elements(shape);
  g_autofree float *values = g_new(float, count);
  fill_ramp(values, count);
  g_autofree char *path = temp_path("rank3.npy");
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_npy_write(path, values, shape, FALSE, &error));
  g_assert_no_error(error);
  g_autofree float *read = NULL;
  DdimShape read_shape;
  int rank = 0;
  g_assert_true(ddim_npy_read_with_rank(path, &read, &read_shape, &rank, &error));
  g_assert_cmpint(rank, ==, 3);
  g_assert_cmpint(read_shape.n, ==, 1);
  g_assert_cmpint(read_shape.c, ==, 3);
  g_assert_cmpint(read_shape.h, ==, 7);
  g_assert_cmpint(read_shape.w, ==, 2);
  g_assert_cmpmem(read, count * 4, values, count * 4);

  /* Overwriting replaces the file and leaves no temporary behind. */
  values[0] = 42.0f;
  g_assert_true(ddim_npy_write(path, values, shape, FALSE, &error));
  g_clear_pointer(&read, g_free);
  g_assert_true(ddim_npy_read(path, &read, &read_shape, &error));
  g_assert_cmpfloat(read[0], ==, 42.0f);
  g_autoptr(GDir) dir = g_dir_open(temp_dir, 0, NULL);
  for (const char *name; (name = g_dir_read_name(dir)) != NULL;)
    g_assert_null(strstr(name, "rank3.npy."));
}

static void test_versions_and_dialects(void) {
  float values[6] = {1, 2, 3, 4, 5, 6};
  const char *dicts[] = {
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }",
      "{\"shape\": (1,2,3), \"descr\": \"<f4\", \"fortran_order\": False}",
      "{'descr':'<f4','fortran_order':False,'shape':(1L, 2L, 3L)}",
      "{u'descr': u'<f4', u'fortran_order': False, u'shape': (1, 1, 2, 3,)}",
  };
  for (int major = 1; major <= 3; major++) {
    for (guint i = 0; i < G_N_ELEMENTS(dicts); i++) {
      g_autoptr(GBytes) bytes = make_npy(major, dicts[i], values, sizeof values);
      g_autofree char *path = write_temp("dialect.npy", bytes);
      g_autofree float *read = NULL;
      DdimShape shape;
      g_autoptr(GError) error = NULL;
      int rank;
      g_assert_true(ddim_npy_read_with_rank(path, &read, &shape, &rank, &error));
      g_assert_no_error(error);
      g_assert_cmpint(rank, ==, i == 3 ? 4 : 3);
      g_assert_cmpint(shape.n, ==, 1);
      g_assert_cmpint(shape.c, ==, 1);
      g_assert_cmpint(shape.h, ==, 2);
      g_assert_cmpint(shape.w, ==, 3);
      g_assert_cmpmem(read, sizeof values, values, sizeof values);
    }
  }
}

static void test_float64_converted(void) {
  double values[4] = {0.5, -1.25, 1e-3, 3.0};
  guint64 little[4];
  for (int i = 0; i < 4; i++) {
    guint64 bits;
    memcpy(&bits, &values[i], 8);
    little[i] = GUINT64_TO_LE(bits);
  }
  g_autoptr(GBytes) bytes =
      make_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 2, 2), }", little, 32);
  g_autofree char *path = write_temp("f8.npy", bytes);
  g_autofree float *read = NULL;
  DdimShape shape;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_npy_read(path, &read, &shape, &error));
  g_assert_no_error(error);
  for (int i = 0; i < 4; i++) g_assert_cmpfloat(read[i], ==, (float)values[i]);
}

typedef struct {
  const char *name;
  const char *dict; /* NULL: `raw` is the whole file */
  gsize data_bytes;
  int code;
  const char *message_part;
  const char *raw;
  gsize raw_bytes;
} BadCase;

static const BadCase bad_cases[] = {
    {"empty file", NULL, 0, DDIM_ERROR_FORMAT, "not a .npy file", "", 0},
    {"bad magic", NULL, 0, DDIM_ERROR_FORMAT, "not a .npy file", "\x93NUMPZ\x01\x00\x10\x00", 10},
    {"truncated prefix", NULL, 0, DDIM_ERROR_FORMAT, "truncated", "\x93NUMPY\x01\x00\x10", 9},
    {"header longer than file", NULL, 0, DDIM_ERROR_FORMAT, "truncated",
     "\x93NUMPY\x01\x00\x40\x00{'descr'", 17},
    {"version 4", NULL, 0, DDIM_ERROR_UNSUPPORTED, "version 4.0", "\x93NUMPY\x04\x00\x00\x00", 10},
    {"truncated data", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }", 12,
     DDIM_ERROR_FORMAT, "truncated", NULL, 0},
    {"extra data", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }", 20,
     DDIM_ERROR_FORMAT, "extra data", NULL, 0},
    {"int dtype", "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2, 2), }", 16,
     DDIM_ERROR_UNSUPPORTED, "unsupported dtype '<i4'", NULL, 0},
    {"half dtype", "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 2, 2), }", 8,
     DDIM_ERROR_UNSUPPORTED, "unsupported dtype", NULL, 0},
    {"big-endian", "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2, 2), }", 16,
     DDIM_ERROR_UNSUPPORTED, "big-endian", NULL, 0},
    {"object", "{'descr': '|O', 'fortran_order': False, 'shape': (1, 2, 2), }", 32,
     DDIM_ERROR_UNSUPPORTED, "object arrays", NULL, 0},
    {"structured", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 2, 2), }", 16,
     DDIM_ERROR_UNSUPPORTED, "structured", NULL, 0},
    {"fortran", "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2, 2), }", 16,
     DDIM_ERROR_UNSUPPORTED, "Fortran", NULL, 0},
    {"rank 2", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 16,
     DDIM_ERROR_UNSUPPORTED, "rank 2", NULL, 0},
    {"rank 1", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 16,
     DDIM_ERROR_UNSUPPORTED, "shape (4,) has rank 1", NULL, 0},
    {"rank 5", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 2, 2), }", 16,
     DDIM_ERROR_UNSUPPORTED, "rank 5", NULL, 0},
    {"empty shape", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 0, 2), }", 0,
     DDIM_ERROR_UNSUPPORTED, "empty", NULL, 0},
    {"overflowing shape",
     "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647, "
     "2147483647), }",
     16, DDIM_ERROR_UNSUPPORTED, "too large", NULL, 0},
    {"dimension above int",
     "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 1, 1), }", 16,
     DDIM_ERROR_UNSUPPORTED, "too large", NULL, 0},
    {"dimension above uint64",
     "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 1, 1), }", 16,
     DDIM_ERROR_FORMAT, "too large", NULL, 0},
    {"negative dimension", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2, 2), }", 16,
     DDIM_ERROR_FORMAT, "non-negative integer", NULL, 0},
    {"not a dict", "[1, 2, 3]", 0, DDIM_ERROR_FORMAT, "expected a dict", NULL, 0},
    {"python call", "__import__('os').system('true')", 0, DDIM_ERROR_FORMAT, "expected a dict",
     NULL, 0},
    {"missing key", "{'descr': '<f4', 'shape': (1, 2, 2), }", 16, DDIM_ERROR_FORMAT,
     "'fortran_order' is missing", NULL, 0},
    {"unknown key", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), 'x': 1}", 16,
     DDIM_ERROR_FORMAT, "unexpected key 'x'", NULL, 0},
    {"duplicate key", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,2,2)}",
     16, DDIM_ERROR_FORMAT, "appears twice", NULL, 0},
    {"unterminated string", "{'descr: '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }", 16,
     DDIM_ERROR_FORMAT, "malformed", NULL, 0},
    {"unclosed dict", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), ", 16,
     DDIM_ERROR_FORMAT, "malformed", NULL, 0},
    {"unclosed tuple", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2}", 16,
     DDIM_ERROR_FORMAT, "malformed", NULL, 0},
    {"bad bool", "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (1, 2, 2), }", 16,
     DDIM_ERROR_FORMAT, "True or False", NULL, 0},
    {"trailing text", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), } x", 16,
     DDIM_ERROR_FORMAT, "after the dict", NULL, 0},
    {"NUL in header", NULL, 0, DDIM_ERROR_FORMAT, "NUL", "\x93NUMPY\x01\x00\x04\x00{\0}\n", 14},
};

static void test_malformed(gconstpointer data) {
  const BadCase *bad = data;
  g_autoptr(GBytes) bytes = NULL;
  if (bad->dict != NULL) {
    g_autofree guint8 *zeros = g_malloc0(bad->data_bytes + 1);
    bytes = make_npy(1, bad->dict, zeros, bad->data_bytes);
  } else {
    bytes = g_bytes_new(bad->raw, bad->raw_bytes);
  }
  g_autofree char *path = write_temp("bad.npy", bytes);
  float *read = NULL;
  DdimShape shape = {0};
  g_autoptr(GError) error = NULL;
  g_assert_false(ddim_npy_read(path, &read, &shape, &error));
  g_assert_error(error, DDIM_ERROR, bad->code);
  g_assert_null(read);
  if (g_test_verbose()) g_printerr("%s: %s\n", bad->name, error->message);
  g_assert_true(g_str_has_prefix(error->message, path));
  g_assert_nonnull(strstr(error->message, bad->message_part));
}

/* Every truncation of a valid file must fail cleanly. */
static void test_every_truncation(void) {
  float values[4] = {1, 2, 3, 4};
  g_autoptr(GBytes) whole =
      make_npy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2, 2), }", values, 16);
  gsize length;
  const guint8 *contents = g_bytes_get_data(whole, &length);
  for (gsize cut = 0; cut < length; cut++) {
    g_autoptr(GBytes) part = g_bytes_new(contents, cut);
    g_autofree char *path = write_temp("cut.npy", part);
    g_autofree float *read = NULL;
    DdimShape shape;
    g_autoptr(GError) error = NULL;
    g_assert_false(ddim_npy_read(path, &read, &shape, &error));
    g_assert_nonnull(error);
  }
}

static void test_io_errors(void) {
  g_autoptr(GError) error = NULL;
  float *read = NULL;
  DdimShape shape;
  g_autofree char *missing = temp_path("missing.npy");
  g_assert_false(ddim_npy_read(missing, &read, &shape, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_IO);
  g_assert_true(g_str_has_prefix(error->message, missing));
  g_clear_error(&error);

  g_assert_false(ddim_npy_read(temp_dir, &read, &shape, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_IO);
  g_clear_error(&error);

  float values[4] = {0};
  g_autofree char *no_dir = g_build_filename(temp_dir, "no-such-dir", "x.npy", NULL);
  g_assert_false(ddim_npy_write(no_dir, values, (DdimShape){1, 1, 2, 2}, TRUE, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_IO);
  g_assert_true(g_str_has_prefix(error->message, no_dir));
  g_clear_error(&error);

  g_autofree char *path = temp_path("batch.npy");
  g_assert_false(ddim_npy_write(path, values, (DdimShape){2, 1, 1, 2}, FALSE, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
}

static int compare_names(gconstpointer a, gconstpointer b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a folder, sorted, joined by spaces. */
static char *folder_listing(const char *folder) {
  g_autoptr(GDir) dir = g_dir_open(folder, 0, NULL);
  g_assert_nonnull(dir);
  g_autoptr(GPtrArray) names = g_ptr_array_new();
  for (const char *name; (name = g_dir_read_name(dir)) != NULL;)
    g_ptr_array_add(names, (gpointer)name);
  g_ptr_array_sort(names, compare_names);
  g_ptr_array_add(names, NULL);
  return g_strjoinv(" ", (char **)names->pdata);
}

/* The temporary name is not the target's plus a suffix: a 255-byte name
 * (the most a Linux filesystem takes) is written, and nothing else is left. */
static void test_write_longest_name(void) {
  g_autofree char *folder = temp_path("longest");
  g_assert_cmpint(g_mkdir(folder, 0700), ==, 0);
  g_autofree char *name = g_strnfill(251, 'n');
  g_autofree char *base = g_strconcat(name, ".npy", NULL);
  g_assert_cmpuint(strlen(base), ==, 255);
  g_autofree char *path = g_build_filename(folder, base, NULL);
  float values[4] = {1, 2, 3, 4};
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_npy_write(path, values, (DdimShape){1, 1, 2, 2}, TRUE, &error));
  g_assert_no_error(error);
  g_autofree char *listing = folder_listing(folder);
  g_assert_cmpstr(listing, ==, base);
  g_autofree float *read = NULL;
  DdimShape shape;
  g_assert_true(ddim_npy_read(path, &read, &shape, &error));
  g_assert_cmpmem(read, sizeof values, values, sizeof values);
  g_unlink(path);
  g_rmdir(folder);
}

static long peak_mb(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

/* Bombs: a header with a huge shape and little data is refused from the
 * header, before anything is allocated; a 1 GiB array (a sparse file here)
 * has its shape read without its data, so a caller can refuse it first. */
static void test_huge_shapes(void) {
  g_autoptr(GError) error = NULL;
  float *data = NULL;
  DdimShape shape;
  long before = peak_mb();
  g_autoptr(GBytes) over = make_npy(1,
                                    "{'descr': '<f4', 'fortran_order': False, "
                                    "'shape': (2, 4, 16384, 16384), }",
                                    "\0\0\0\0", 4);
  g_autofree char *over_path = write_temp("over.npy", over);
  g_assert_false(ddim_npy_read(over_path, &data, &shape, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED);
  g_autofree char *expected =
      g_strdup_printf("%s: shape (2, 4, 16384, 16384) has 2147483648 values, which would take "
                      "8.00 GiB as float32; the limit is 1073741824 values (4 GiB)",
                      over_path);
  g_assert_cmpstr(error->message, ==, expected);
  g_clear_error(&error);
  g_assert_false(ddim_npy_read_header(over_path, FALSE, &shape, NULL, &error));
  g_assert_cmpstr(error->message, ==, expected);
  g_clear_error(&error);

  /* 1 GiB of data, at the limit's quarter: the header reader says its shape
   * and that the file is as long as it, and reads nothing more. */
  g_autoptr(GBytes) big = make_npy(1,
                                   "{'descr': '<f4', 'fortran_order': False, "
                                   "'shape': (1, 1, 16384, 16384), }",
                                   NULL, 0);
  g_autofree char *big_path = write_temp("big.npy", big);
  g_assert_cmpint(truncate(big_path, (off_t)g_bytes_get_size(big) + ((off_t)1 << 30)), ==, 0);
  int rank = 0;
  g_assert_true(ddim_npy_read_header(big_path, FALSE, &shape, &rank, &error));
  g_assert_no_error(error);
  g_assert_cmpint(rank, ==, 4);
  g_assert_cmpint(shape.n, ==, 1);
  g_assert_cmpint(shape.w, ==, 16384);
  g_assert_true(ddim_npy_read_header(big_path, TRUE, &shape, NULL, &error));
  /* One byte short: refused from the header too. */
  g_assert_cmpint(truncate(big_path, (off_t)g_bytes_get_size(big) + ((off_t)1 << 30) - 1), ==, 0);
  g_assert_false(ddim_npy_read_header(big_path, FALSE, &shape, NULL, &error));
  g_assert_nonnull(strstr(error->message, "truncated"));
  g_clear_error(&error);
  g_assert_cmpint(peak_mb() - before, <, 64);
  g_remove(big_path);
  g_remove(over_path);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_autoptr(GError) error = NULL;
  temp_dir = g_dir_make_tmp("test-npy-XXXXXX", &error);
  g_assert_no_error(error);

  g_test_add_func("/npy/round-trip/rank4", test_round_trip_rank4);
  g_test_add_func("/npy/round-trip/rank3", test_round_trip_rank3);
  g_test_add_func("/npy/read/versions-and-dialects", test_versions_and_dialects);
  g_test_add_func("/npy/read/float64", test_float64_converted);
  g_test_add_func("/npy/read/every-truncation", test_every_truncation);
  g_test_add_func("/npy/io-errors", test_io_errors);
  g_test_add_func("/npy/read/huge-shapes", test_huge_shapes);
  g_test_add_func("/npy/write/longest-name", test_write_longest_name);
  for (guint i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
    g_autofree char *name = g_strdup_printf("/npy/malformed/%s", bad_cases[i].name);
    g_strdelimit(name, " ", '-');
    g_test_add_data_func(name, &bad_cases[i], test_malformed);
  }
  int status = g_test_run();

  g_autoptr(GDir) dir = g_dir_open(temp_dir, 0, NULL);
  for (const char *name; dir && (name = g_dir_read_name(dir)) != NULL;) {
    g_autofree char *path = temp_path(name);
    g_unlink(path);
  }
  g_rmdir(temp_dir);
  g_free(temp_dir);
  return status;
}
