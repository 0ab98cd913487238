/* test-png-io.c — PNG round trips, libpng's other layouts, damaged files. */
#include "ddim-io.h"

#include <glib/gstdio.h>
#include <math.h>
#include <png.h>
#include <string.h>
#include <sys/resource.h>

static char *temp_dir;

static char *temp_path(const char *name) {
  return g_build_filename(temp_dir, name, NULL);
}

/* Writes a PNG with libpng directly, for layouts ddim_png_write never makes.
 * rows holds height rows of already-packed bytes. */
static void write_raw_png(const char *path, int width, int height, int bit_depth, int color_type,
                          const guint8 *rows, gsize row_bytes, const png_color *palette,
                          int palette_size, const guint8 *trans_alpha, int trans_count,
                          const png_color_16 *trans_color) {
  FILE *file = g_fopen(path, "wb");
  g_assert_nonnull(file);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  g_assert_nonnull(info);
  if (setjmp(png_jmpbuf(png))) g_assert_not_reached();
  png_init_io(png, file);
  png_set_IHDR(png, info, width, height, bit_depth, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (palette) png_set_PLTE(png, info, palette, palette_size);
  if (trans_alpha || trans_color) png_set_tRNS(png, info, trans_alpha, trans_count, trans_color);
  png_write_info(png, info);
  for (int y = 0; y < height; y++) png_write_row(png, rows + (gsize)y * row_bytes);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  fclose(file);
}

static DdimImage *make_test_image(int width, int height, int channels) {
  g_autoptr(GError) error = NULL;
  DdimImage *image = ddim_image_new(width, height, channels, "test", &error);
  g_assert_no_error(error);
  size_t count = (size_t)width * height * channels;
  /* Exact 8-bit levels, so the round trip must be exact. */
  for (size_t i = 0; i < count; i++) image->pixels[i] = (float)((i * 37) % 256) / 255.0f;
  return image;
}

static void check_round_trip(int channels) {
  g_autoptr(DdimImage) image = make_test_image(7, 5, channels);
  g_autofree char *name = g_strdup_printf("round-trip-%d.png", channels);
  g_autofree char *path = temp_path(name);
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_png_write(path, image, &error));
  g_assert_no_error(error);
  g_autoptr(DdimImage) read = ddim_png_read(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(read->width, ==, 7);
  g_assert_cmpint(read->height, ==, 5);
  g_assert_cmpint(read->channels, ==, channels);
  g_assert_cmpint(ddim_image_has_alpha(read), ==, channels == 2 || channels == 4);
  size_t count = (size_t)7 * 5 * channels;
  g_assert_cmpmem(read->pixels, count * 4, image->pixels, count * 4);
}

static void test_round_trip_grey(void) {
  check_round_trip(1);
}
static void test_round_trip_grey_alpha(void) {
  check_round_trip(2);
}
static void test_round_trip_rgb(void) {
  check_round_trip(3);
}
static void test_round_trip_rgba(void) {
  check_round_trip(4);
}

/* uint8(clamp(p·255 + 0.5)), with out-of-range values and NaN clamped. */
static void test_quantisation(void) {
  const float values[] = {0.0f, 1.0f, 0.5f, 0.498f, -0.2f, 1.7f, NAN, 0.0019f, 0.0021f};
  const int expected[] = {0, 255, 128, 127, 0, 255, 0, 0, 1};
  int count = G_N_ELEMENTS(values);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimImage) image = ddim_image_new(count, 1, 1, "test", &error);
  memcpy(image->pixels, values, sizeof values);
  g_autofree char *path = temp_path("quantise.png");
  g_assert_true(ddim_png_write(path, image, &error));
  g_autoptr(DdimImage) read = ddim_png_read(path, &error);
  g_assert_no_error(error);
  for (int i = 0; i < count; i++)
    g_assert_cmpfloat(read->pixels[i], ==, (float)expected[i] / 255.0f);
}

static void test_palette_with_transparency(void) {
  const png_color palette[3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  const guint8 alpha[2] = {0, 128}; /* entry 2 stays opaque */
  /* 4-bit indices, 3×2 pixels: rows (0 1 2) and (2 1 0). */
  const guint8 rows[2][2] = {{0x01, 0x20}, {0x21, 0x00}};
  g_autofree char *path = temp_path("palette.png");
  write_raw_png(path, 3, 2, 4, PNG_COLOR_TYPE_PALETTE, &rows[0][0], 2, palette, 3, alpha, 2, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimImage) image = ddim_png_read(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(image->channels, ==, 4);
  const float expected[6][4] = {{1, 0, 0, 0}, {0, 1, 0, 128 / 255.0f}, {0, 0, 1, 1},
                                {0, 0, 1, 1}, {0, 1, 0, 128 / 255.0f}, {1, 0, 0, 0}};
  g_assert_cmpmem(image->pixels, sizeof expected, expected, sizeof expected);
}

static void test_palette_opaque(void) {
  const png_color palette[2] = {{10, 20, 30}, {200, 100, 50}};
  const guint8 rows[1] = {0x40}; /* 1-bit indices 0 1 0 */
  g_autofree char *path = temp_path("palette-opaque.png");
  write_raw_png(path, 3, 1, 1, PNG_COLOR_TYPE_PALETTE, rows, 1, palette, 2, NULL, 0, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimImage) image = ddim_png_read(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(image->channels, ==, 3);
  g_assert_cmpfloat(image->pixels[3], ==, 200 / 255.0f);
  g_assert_cmpfloat(image->pixels[5], ==, 50 / 255.0f);
  g_assert_cmpfloat(image->pixels[8], ==, 30 / 255.0f);
}

static void test_grey_16bit_with_transparency(void) {
  /* Two 16-bit grey pixels; tRNS marks the value 0x1234 transparent. */
  const guint8 rows[4] = {0x12, 0x34, 0xff, 0xfe};
  png_color_16 transparent = {.gray = 0x1234};
  g_autofree char *path = temp_path("grey16.png");
  write_raw_png(path, 2, 1, 16, PNG_COLOR_TYPE_GRAY, rows, 4, NULL, 0, NULL, 0, &transparent);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimImage) image = ddim_png_read(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(image->channels, ==, 2);
  g_assert_cmpfloat(image->pixels[0], ==, 0x1234 / 65535.0f);
  g_assert_cmpfloat(image->pixels[1], ==, 0.0f);
  g_assert_cmpfloat(image->pixels[2], ==, 0xfffe / 65535.0f);
  g_assert_cmpfloat(image->pixels[3], ==, 1.0f);
}

static void test_grey_2bit(void) {
  const guint8 rows[1] = {0x1b}; /* 2-bit levels 0 1 2 3 */
  g_autofree char *path = temp_path("grey2.png");
  write_raw_png(path, 4, 1, 2, PNG_COLOR_TYPE_GRAY, rows, 1, NULL, 0, NULL, 0, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimImage) image = ddim_png_read(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(image->channels, ==, 1);
  const float expected[4] = {0, 85 / 255.0f, 170 / 255.0f, 1};
  g_assert_cmpmem(image->pixels, sizeof expected, expected, sizeof expected);
}

static GBytes *valid_png_bytes(void) {
  g_autoptr(DdimImage) image = make_test_image(9, 6, 4);
  g_autofree char *path = temp_path("valid.png");
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_png_write(path, image, &error));
  char *contents;
  gsize length;
  g_assert_true(g_file_get_contents(path, &contents, &length, NULL));
  return g_bytes_new_take(contents, length);
}

/* Every strict prefix of a valid file is an error, never a crash. */
static void test_every_truncation(void) {
  g_autoptr(GBytes) whole = valid_png_bytes();
  gsize length;
  const char *contents = g_bytes_get_data(whole, &length);
  g_autofree char *path = temp_path("truncated.png");
  for (gsize cut = 0; cut < length; cut++) {
    g_assert_true(g_file_set_contents(path, contents, cut, NULL));
    g_autoptr(GError) error = NULL;
    g_autoptr(DdimImage) image = ddim_png_read(path, &error);
    g_assert_null(image);
    g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
    g_assert_true(g_str_has_prefix(error->message, path));
  }
}

/* Damaged bytes: whatever happens, no crash and a consistent result. */
static void test_damaged_bytes(void) {
  g_autoptr(GBytes) whole = valid_png_bytes();
  gsize length;
  const guint8 *contents = g_bytes_get_data(whole, &length);
  g_autofree guint8 *damaged = g_memdup2(contents, length);
  g_autofree char *path = temp_path("damaged.png");
  for (gsize at = 8; at < length; at++) {
    damaged[at] ^= 0x5a;
    g_assert_true(g_file_set_contents(path, (const char *)damaged, length, NULL));
    damaged[at] = contents[at];
    g_autoptr(GError) error = NULL;
    g_autoptr(DdimImage) image = ddim_png_read(path, &error);
    g_assert_true((image == NULL) != (error == NULL));
  }
}

static void test_not_png(void) {
  g_autofree char *path = temp_path("not.png");
  g_assert_true(g_file_set_contents(path, "GIF89a garbage garbage garbage", -1, NULL));
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimImage) image = ddim_png_read(path, &error);
  g_assert_null(image);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, "not a PNG"));
  g_clear_error(&error);

  g_autofree char *missing = temp_path("missing.png");
  image = ddim_png_read(missing, &error);
  g_assert_null(image);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_IO);
  g_assert_true(g_str_has_prefix(error->message, missing));
}

static void test_too_large(void) {
  g_autofree guint8 *row = g_malloc0(20000);
  g_autofree char *path = temp_path("wide.png");
  write_raw_png(path, 20000, 1, 8, PNG_COLOR_TYPE_GRAY, row, 20000, NULL, 0, NULL, 0, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimImage) image = ddim_png_read(path, &error);
  g_assert_null(image);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED);
  g_assert_nonnull(strstr(error->message, "20000x1"));
  g_assert_nonnull(strstr(error->message, "16384"));
  g_clear_error(&error);

  g_assert_false(ddim_image_check_size(16384, 16385, "x", &error));
  g_clear_error(&error);
  g_assert_false(ddim_image_check_size(16384, 16384 + 1, "x", &error));
  g_clear_error(&error);
  g_assert_true(ddim_image_check_size(16384, 16384, "x", &error));
  g_assert_false(ddim_image_check_size(0, 5, "x", &error));
  g_clear_error(&error);
  g_assert_null(ddim_image_new(16385, 1, 3, "x", &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED);
}

/* Peak resident memory of this process so far, in MB. */
static long peak_mb(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

/* An all-zero image of 1-bit samples (palette index 0 or black), written by
 * libpng: 16384×16384 is a file of about 33 KB. */
static void write_bomb(const char *path, int width, int height, int color_type,
                       gboolean with_trns) {
  gsize row_bytes = ((gsize)width + 7) / 8;
  g_autofree guint8 *rows = g_malloc0(row_bytes * (gsize)height);
  png_color palette[2] = {{0, 0, 0}, {255, 255, 255}};
  guint8 alpha[1] = {0};
  png_color_16 black = {0};
  gboolean indexed = color_type == PNG_COLOR_TYPE_PALETTE;
  write_raw_png(path, width, height, 1, color_type, rows, row_bytes, indexed ? palette : NULL,
                indexed ? 2 : 0, with_trns && indexed ? alpha : NULL, with_trns && indexed,
                with_trns && !indexed ? &black : NULL);
}

/* The trial's decompression bomb: a 33 KB PNG of 16384×16384 1-bit palette
 * pixels, 3 GiB as float RGB, cost 5 GB and 11 s before it was refused.  It
 * is refused from its header, before anything is decoded, by the decoded
 * float size; so are smaller images with more channels. */
static void test_decompression_bomb(void) {
  g_autofree char *path = temp_path("bomb.png");
  write_bomb(path, 16384, 16384, PNG_COLOR_TYPE_PALETTE, FALSE);
  GStatBuf info;
  g_assert_cmpint(g_stat(path, &info), ==, 0);
  g_assert_cmpint(info.st_size, <, 64 * 1024);
  long before = peak_mb();
  gint64 start = g_get_monotonic_time();

  g_autoptr(GError) error = NULL;
  g_autoptr(DdimImage) image = ddim_png_read(path, &error);
  g_assert_null(image);
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED);
  g_autofree char *expected = g_strdup_printf(
      "%s: 16384x16384 pixels of 3 channels would take 3 GiB as float32; the limit is 1 GiB", path);
  g_assert_cmpstr(error->message, ==, expected);
  g_clear_error(&error);
  g_assert_false(ddim_png_read_header(path, NULL, NULL, NULL, &error));
  g_assert_cmpstr(error->message, ==, expected);
  g_clear_error(&error);
  g_autofree char *bytes = NULL;
  gsize size;
  g_assert_true(g_file_get_contents(path, &bytes, &size, NULL));
  g_assert_null(ddim_png_read_memory((const guint8 *)bytes, size, "bomb", &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED);
  g_assert_true(g_str_has_prefix(error->message, "bomb: 16384x16384 pixels of 3 channels"));
  g_clear_error(&error);

  /* No pixels were decoded: well under a second and a few MB. */
  g_assert_cmpint(g_get_monotonic_time() - start, <, G_USEC_PER_SEC);
  g_assert_cmpint(peak_mb() - before, <, 64);

  /* Grey with tRNS gives grey + alpha: 2 GiB. */
  write_bomb(path, 16384, 16384, PNG_COLOR_TYPE_GRAY, TRUE);
  g_assert_false(ddim_png_read_header(path, NULL, NULL, NULL, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED);
  g_assert_nonnull(strstr(error->message, "of 2 channels would take 2 GiB as float32"));
  g_clear_error(&error);
  /* Plain 1-bit grey is 1 GiB of floats, at the limit: its header passes
   * (it is not decoded here, which would cost 1.25 GB). */
  write_bomb(path, 16384, 16384, PNG_COLOR_TYPE_GRAY, FALSE);
  int width = 0, height = 0, channels = 0;
  g_assert_true(ddim_png_read_header(path, &width, &height, &channels, &error));
  g_assert_no_error(error);
  g_assert_cmpint(width, ==, 16384);
  g_assert_cmpint(height, ==, 16384);
  g_assert_cmpint(channels, ==, 1);
  /* Palette RGB just over the limit: 9460×9460×3×4 > 2^30. */
  write_bomb(path, 9460, 9460, PNG_COLOR_TYPE_PALETTE, FALSE);
  g_assert_false(ddim_png_read_header(path, NULL, NULL, NULL, &error));
  g_assert_nonnull(strstr(error->message, "9460x9460 pixels of 3 channels would take 1.01 GiB"));
  g_clear_error(&error);
  /* With tRNS the palette gives RGBA. */
  write_bomb(path, 64, 32, PNG_COLOR_TYPE_PALETTE, TRUE);
  g_assert_true(ddim_png_read_header(path, &width, &height, &channels, &error));
  g_assert_cmpint(width, ==, 64);
  g_assert_cmpint(height, ==, 32);
  g_assert_cmpint(channels, ==, 4);
  image = ddim_png_read(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(image->channels, ==, 4);
  g_remove(path);
}

static void test_write_errors(void) {
  g_autoptr(DdimImage) image = make_test_image(2, 2, 3);
  g_autofree char *path = g_build_filename(temp_dir, "no-such-dir", "out.png", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_false(ddim_png_write(path, image, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_IO);
  g_assert_true(g_str_has_prefix(error->message, path));
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

/* A 255-byte name is written (the temporary name is short and of its own),
 * and nothing else is left beside it. */
static void test_write_longest_name(void) {
  g_autoptr(DdimImage) image = make_test_image(3, 2, 3);
  g_autofree char *folder = temp_path("longest");
  g_assert_cmpint(g_mkdir(folder, 0700), ==, 0);
  g_autofree char *name = g_strnfill(251, 'n');
  g_autofree char *base = g_strconcat(name, ".png", NULL);
  g_autofree char *path = g_build_filename(folder, base, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_png_write(path, image, &error));
  g_assert_no_error(error);
  g_autofree char *listing = folder_listing(folder);
  g_assert_cmpstr(listing, ==, base);
  g_autoptr(DdimImage) read = ddim_png_read(path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(read->width, ==, 3);
  g_unlink(path);
  g_rmdir(folder);
}

/* A pending file is one .ddim-XXXXXX file in the target's folder until it is
 * committed (then only the target) or discarded (then nothing). */
static void test_write_pending(void) {
  g_autoptr(DdimImage) image = make_test_image(2, 2, 1);
  g_autofree char *folder = temp_path("pending");
  g_assert_cmpint(g_mkdir(folder, 0700), ==, 0);
  g_autofree char *path = g_build_filename(folder, "out.png", NULL);
  g_autoptr(GError) error = NULL;

  DdimPendingFile *pending = ddim_png_write_pending(path, image, &error);
  g_assert_no_error(error);
  g_assert_nonnull(pending);
  g_autofree char *while_pending = folder_listing(folder);
  g_assert_true(g_str_has_prefix(while_pending, ".ddim-"));
  g_assert_cmpuint(strlen(while_pending), ==, strlen(".ddim-XXXXXX"));
  g_assert_true(ddim_pending_file_commit(pending, &error));
  g_assert_no_error(error);
  g_autofree char *committed = folder_listing(folder);
  g_assert_cmpstr(committed, ==, "out.png");
  g_unlink(path);

  pending = ddim_png_write_pending(path, image, &error);
  g_assert_nonnull(pending);
  ddim_pending_file_discard(pending);
  g_autofree char *discarded = folder_listing(folder);
  g_assert_cmpstr(discarded, ==, "");
  g_rmdir(folder);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_autoptr(GError) error = NULL;
  temp_dir = g_dir_make_tmp("test-png-io-XXXXXX", &error);
  g_assert_no_error(error);

  g_test_add_func("/png/round-trip/grey", test_round_trip_grey);
  g_test_add_func("/png/round-trip/grey-alpha", test_round_trip_grey_alpha);
  g_test_add_func("/png/round-trip/rgb", test_round_trip_rgb);
  g_test_add_func("/png/round-trip/rgba", test_round_trip_rgba);
  g_test_add_func("/png/write/quantisation", test_quantisation);
  g_test_add_func("/png/read/palette-trns", test_palette_with_transparency);
  g_test_add_func("/png/read/palette-opaque", test_palette_opaque);
  g_test_add_func("/png/read/grey16-trns", test_grey_16bit_with_transparency);
  g_test_add_func("/png/read/grey2", test_grey_2bit);
  g_test_add_func("/png/read/every-truncation", test_every_truncation);
  g_test_add_func("/png/read/damaged", test_damaged_bytes);
  g_test_add_func("/png/read/not-png", test_not_png);
  g_test_add_func("/png/read/too-large", test_too_large);
  g_test_add_func("/png/read/decompression-bomb", test_decompression_bomb);
  g_test_add_func("/png/write/errors", test_write_errors);
  g_test_add_func("/png/write/longest-name", test_write_longest_name);
  g_test_add_func("/png/write/pending", test_write_pending);
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
