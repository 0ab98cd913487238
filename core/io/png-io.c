/* png-io.c — PNG reading and writing through libpng (see ddim-io.h).
 *
 * libpng reports errors by longjmp; everything that must be released after
 * such a jump lives in a heap-allocated state struct, so no local variable
 * changes between setjmp and longjmp. */
#include "ddim-io.h"
#include "temp-output.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PNG_SIGNATURE_BYTES 8
/* libpng's error pointer is a message buffer of this size. */
#define PNG_MESSAGE_BYTES 256

gboolean ddim_image_check_size(gint64 width, gint64 height, const char *name, GError **error) {
  if (width < 1 || height < 1) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: the image is empty", name);
    return FALSE;
  }
  if (width > DDIM_IMAGE_MAX_SIDE || height > DDIM_IMAGE_MAX_SIDE ||
      width * height > DDIM_IMAGE_MAX_PIXELS) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: the image is %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
                "; the largest allowed is %d pixels per side and %" G_GINT64_FORMAT
                " pixels in all",
                name, width, height, DDIM_IMAGE_MAX_SIDE, DDIM_IMAGE_MAX_PIXELS);
    return FALSE;
  }
  return TRUE;
}

DdimImage *ddim_image_new(int width, int height, int channels, const char *name, GError **error) {
  g_return_val_if_fail(channels >= 1 && channels <= 4, NULL);
  if (!ddim_image_check_size(width, height, name, error)) return NULL;
  gsize values = 0;
  float *pixels = NULL;
  if (g_size_checked_mul(&values, (gsize)width * (gsize)height, (gsize)channels) &&
      values <= G_MAXSIZE / sizeof(float))
    pixels = g_try_malloc0(values * sizeof(float));
  if (pixels == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "%s: not enough memory for a %dx%d image",
                name, width, height);
    return NULL;
  }
  DdimImage *image = g_new0(DdimImage, 1);
  image->width = width;
  image->height = height;
  image->channels = channels;
  image->pixels = pixels;
  return image;
}

void ddim_image_free(DdimImage *image) {
  if (image == NULL) return;
  g_free(image->pixels);
  g_free(image);
}

/* ---- Reading ------------------------------------------------------------ */

typedef struct {
  FILE *file;
  guint64 file_bytes;
  const char *path;
  png_structp png;
  png_infop info;
  guint8 *bytes;               /* the decoded image, as libpng delivers it */
  png_bytep *rows;             /* row pointers into bytes */
  DdimImage *image;            /* the result being filled */
  gboolean header_only;        /* stop after the checks of the header */
  int width, height, channels; /* what the header promises, once checked */
  char message[PNG_MESSAGE_BYTES];
} PngReader;

static void PNGCBAPI on_png_error(png_structp png, png_const_charp message) {
  char *buffer = png_get_error_ptr(png);
  g_strlcpy(buffer, message, PNG_MESSAGE_BYTES);
  png_longjmp(png, 1);
}

static void PNGCBAPI ignore_png_warning(png_structp png, png_const_charp message) {
  (void)png;
  (void)message;
}

static void PNGCBAPI read_from_file(png_structp png, png_bytep data, size_t length) {
  PngReader *reader = png_get_io_ptr(png);
  if (fread(data, 1, length, reader->file) != length)
    png_error(png, ferror(reader->file) ? "read error" : "unexpected end of file (truncated)");
}

static void free_reader(PngReader *reader) {
  png_destroy_read_struct(&reader->png, &reader->info, NULL);
  g_free(reader->rows);
  g_free(reader->bytes);
  ddim_image_free(reader->image);
  fclose(reader->file);
  g_free(reader);
}

/* libpng's rows (8 or 16 bits per sample, big-endian) to floats in [0, 1]. */
static void convert_to_float(const PngReader *reader, int bit_depth) {
  DdimImage *image = reader->image;
  size_t row_values = (size_t)image->width * (size_t)image->channels;
  for (int y = 0; y < image->height; y++) {
    const guint8 *row = reader->rows[y];
    float *out = image->pixels + (size_t)y * row_values;
    if (bit_depth == 8) {
      for (size_t i = 0; i < row_values; i++) out[i] = row[i] / 255.0f;
    } else {
      for (size_t i = 0; i < row_values; i++)
        out[i] = (float)((row[2 * i] << 8) | row[2 * i + 1]) / 65535.0f;
    }
  }
}

/* Refuses, from the header alone, an image whose decoding costs too much:
 * a 32 KB PNG of 16384×16384 1-bit palette pixels is a 3 GiB float image
 * (libpng expands it to 8-bit RGB, which we then convert), so the size that
 * counts is the decoded one, not the packed bits.  Fills the reader's size. */
static gboolean check_decoded_size(PngReader *reader, GError **error) {
  png_structp png = reader->png;
  png_infop info = reader->info;
  png_uint_32 width = png_get_image_width(png, info);
  png_uint_32 height = png_get_image_height(png, info);
  if (!ddim_image_check_size(width, height, reader->path, error)) return FALSE;
  /* What png_set_expand gives: palettes become RGB, tRNS an alpha channel,
   * grey below 8 bits 8-bit grey; 16-bit samples stay 16-bit. */
  int color_type = png_get_color_type(png, info);
  int channels = (color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
  if ((color_type & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) channels++;
  guint64 float_bytes = (guint64)width * height * (guint64)channels * sizeof(float);
  if (float_bytes > DDIM_IMAGE_MAX_FLOAT_BYTES) {
    /* Rounded up, so that a size just over the limit does not read as it. */
    double gib = ceil((double)float_bytes / (double)(1 << 30) * 100.0) / 100.0;
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: %ux%u pixels of %d channels would take %g GiB as float32; the limit is %d GiB",
                reader->path, (guint)width, (guint)height, channels, gib,
                (int)(DDIM_IMAGE_MAX_FLOAT_BYTES >> 30));
    return FALSE;
  }
  /* Deflate cannot compress better than 1032:1 (RFC 1951: a 258-byte match
   * costs at least 2 bits).  What it compresses is the packed, filtered
   * rows (a filter byte, then the samples at their bit depth; interlacing
   * only adds bytes), so a file too short for them is refused before
   * anything is allocated.  This bound is about deflate: it must count the
   * packed bytes, or a valid 1-bit image would be called truncated; the
   * expansion is bounded by the decoded size above. */
  guint64 row_bits = (guint64)width * png_get_channels(png, info) * png_get_bit_depth(png, info);
  guint64 packed_bytes = (guint64)height * (1 + (row_bits + 7) / 8);
  if (packed_bytes / 1032 > reader->file_bytes) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: cannot read PNG: the file is too short (%" G_GUINT64_FORMAT
                " bytes) for a %ux%u image (truncated?)",
                reader->path, reader->file_bytes, (guint)width, (guint)height);
    return FALSE;
  }
  reader->width = (int)width;
  reader->height = (int)height;
  reader->channels = channels;
  return TRUE;
}

/* Reads past the signature; returns FALSE with *error set, or TRUE with
 * reader->image filled.  Called with the libpng error landing already set. */
static gboolean read_png_body(PngReader *reader, GError **error) {
  png_structp png = reader->png;
  png_infop info = reader->info;
  png_set_read_fn(png, reader, read_from_file);
  png_set_sig_bytes(png, PNG_SIGNATURE_BYTES);
  /* Our own size check below gives the clearer message. */
  png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_read_info(png, info);

  if (!check_decoded_size(reader, error)) return FALSE;
  if (reader->header_only) return TRUE;
  png_uint_32 width = (png_uint_32)reader->width;
  png_uint_32 height = (png_uint_32)reader->height;

  /* Palette → RGB, grey < 8 bits → 8 bits, tRNS → alpha channel. */
  png_set_expand(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  int channels = png_get_channels(png, info);
  int bit_depth = png_get_bit_depth(png, info);
  size_t row_bytes = png_get_rowbytes(png, info);
  if (channels != reader->channels || (bit_depth != 8 && bit_depth != 16) ||
      row_bytes != (size_t)width * (size_t)channels * (size_t)(bit_depth / 8)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: unexpected PNG pixel layout (%d channels of %d bits)", reader->path, channels,
                bit_depth);
    return FALSE;
  }
  reader->image = ddim_image_new((int)width, (int)height, channels, reader->path, error);
  if (reader->image == NULL) return FALSE;
  gsize total_bytes;
  if (g_size_checked_mul(&total_bytes, row_bytes, height))
    reader->bytes = g_try_malloc(total_bytes);
  reader->rows = g_try_new(png_bytep, height);
  if (reader->bytes == NULL || reader->rows == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "%s: not enough memory to decode a %ux%u image", reader->path, (guint)width,
                (guint)height);
    return FALSE;
  }
  for (png_uint_32 y = 0; y < height; y++) reader->rows[y] = reader->bytes + (size_t)y * row_bytes;
  png_read_image(png, reader->rows);
  png_read_end(png, NULL);
  convert_to_float(reader, bit_depth);
  return TRUE;
}

/* The landing for libpng's longjmp; nothing here changes after setjmp. */
static gboolean read_png_guarded(PngReader *reader, GError **error) {
  if (setjmp(png_jmpbuf(reader->png))) {
    g_clear_error(error);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: cannot read PNG: %s", reader->path,
                reader->message);
    return FALSE;
  }
  return read_png_body(reader, error);
}

/* Decodes the PNG that `file` (file_bytes long) holds, or with header_only
 * only checks its header and fills *header (its width, height and channels
 * in a pixel-less image); closes the file. */
static DdimImage *read_png_file(const char *path, FILE *file, guint64 file_bytes,
                                gboolean header_only, DdimImage *header, GError **error) {
  guint8 signature[PNG_SIGNATURE_BYTES];
  if (fread(signature, 1, sizeof signature, file) != sizeof signature ||
      png_sig_cmp(signature, 0, sizeof signature) != 0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: not a PNG file", path);
    fclose(file);
    return NULL;
  }

  PngReader *reader = g_new0(PngReader, 1);
  reader->file = file;
  reader->file_bytes = file_bytes;
  reader->path = path;
  reader->header_only = header_only;
  reader->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, reader->message, on_png_error,
                                       ignore_png_warning);
  if (reader->png != NULL) reader->info = png_create_info_struct(reader->png);
  if (reader->info == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "%s: cannot set up the PNG reader", path);
    free_reader(reader);
    return NULL;
  }
  if (!read_png_guarded(reader, error)) {
    free_reader(reader);
    return NULL;
  }
  if (header_only) *header = (DdimImage){reader->width, reader->height, reader->channels, NULL};
  DdimImage *image = g_steal_pointer(&reader->image);
  free_reader(reader);
  /* A header alone has no image to return; header says it succeeded. */
  return header_only ? header : image;
}

/* Opens path (a regular file) and reads it, or only its header. */
static DdimImage *read_png_path(const char *path, gboolean header_only, DdimImage *header,
                                GError **error) {
  /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused
   * below as not a regular file); reads of regular files ignore the flag. */
  int fd = g_open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
  FILE *file = fd >= 0 ? fdopen(fd, "rb") : NULL;
  if (file == NULL) {
    if (fd >= 0) close(fd);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot open: %s", path, g_strerror(errno));
    return NULL;
  }
  /* The decompression bound below needs the file's length. */
  struct stat info;
  if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: not a regular file", path);
    fclose(file);
    return NULL;
  }
  return read_png_file(path, file, (guint64)info.st_size, header_only, header, error);
}

DdimImage *ddim_png_read(const char *path, GError **error) {
  g_return_val_if_fail(path != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  return read_png_path(path, FALSE, NULL, error);
}

gboolean ddim_png_read_header(const char *path, int *width, int *height, int *channels,
                              GError **error) {
  g_return_val_if_fail(path != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
  DdimImage header = {0};
  if (read_png_path(path, TRUE, &header, error) == NULL) return FALSE;
  if (width) *width = header.width;
  if (height) *height = header.height;
  if (channels) *channels = header.channels;
  return TRUE;
}

DdimImage *ddim_png_read_memory(const guint8 *bytes, size_t size, const char *name,
                                GError **error) {
  g_return_val_if_fail(name != NULL, NULL);
  /* fmemopen refuses an empty buffer; such a file has no signature anyway. */
  FILE *file = size ? fmemopen((void *)bytes, size, "rb") : NULL;
  if (file == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: not a PNG file", name);
    return NULL;
  }
  return read_png_file(name, file, size, FALSE, NULL, error);
}

/* ---- Writing ------------------------------------------------------------ */

typedef struct {
  FILE *file;
  int write_errno; /* errno of a failed fwrite, 0 if none */
  png_structp png;
  png_infop info;
  guint8 *row;
  char message[PNG_MESSAGE_BYTES];
} PngWriter;

static void PNGCBAPI write_to_file(png_structp png, png_bytep data, size_t length) {
  PngWriter *writer = png_get_io_ptr(png);
  if (fwrite(data, 1, length, writer->file) != length) {
    writer->write_errno = errno ? errno : EIO;
    png_error(png, g_strerror(writer->write_errno));
  }
}

static void PNGCBAPI flush_nothing(png_structp png) {
  (void)png;
}

static guint8 quantize(float value) {
  /* fmaxf first so that NaN becomes 0. */
  return (guint8)fminf(fmaxf(value * 255.0f + 0.5f, 0.0f), 255.0f);
}

static void encode_png(PngWriter *writer, const DdimImage *image) {
  static const int color_types[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                    PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
  png_structp png = writer->png;
  png_set_write_fn(png, writer, write_to_file, flush_nothing);
  png_set_IHDR(png, writer->info, (png_uint_32)image->width, (png_uint_32)image->height, 8,
               color_types[image->channels - 1], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, writer->info);
  size_t row_values = (size_t)image->width * (size_t)image->channels;
  for (int y = 0; y < image->height; y++) {
    const float *in = image->pixels + (size_t)y * row_values;
    for (size_t i = 0; i < row_values; i++) writer->row[i] = quantize(in[i]);
    png_write_row(png, writer->row);
  }
  png_write_end(png, NULL);
}

static gboolean encode_png_guarded(PngWriter *writer, const DdimImage *image) {
  if (setjmp(png_jmpbuf(writer->png))) return FALSE;
  encode_png(writer, image);
  return TRUE;
}

static void write_failed(const char *path, int saved_errno, GError **error) {
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot write: %s", path,
              g_strerror(saved_errno));
}

/* Encodes into a temporary file beside path (temp-output.h), synced, left
 * there for ddim_pending_file_commit. */
DdimPendingFile *ddim_png_write_pending(const char *path, const DdimImage *image, GError **error) {
  g_return_val_if_fail(path != NULL && image != NULL && image->pixels != NULL, NULL);
  g_return_val_if_fail(image->channels >= 1 && image->channels <= 4, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);
  if (!ddim_image_check_size(image->width, image->height, path, error)) return NULL;

  char *temp_path = NULL;
  FILE *file = ddim_temp_output_create(path, &temp_path);
  if (file == NULL) {
    write_failed(path, errno, error);
    return NULL;
  }
  PngWriter *writer = g_new0(PngWriter, 1);
  writer->file = file;
  writer->row = g_try_malloc((size_t)image->width * (size_t)image->channels);
  writer->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, writer->message, on_png_error,
                                        ignore_png_warning);
  if (writer->png != NULL) writer->info = png_create_info_struct(writer->png);

  gboolean ok = FALSE;
  if (writer->info == NULL || writer->row == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "%s: cannot set up the PNG writer", path);
  } else if (encode_png_guarded(writer, image)) {
    ok = TRUE;
  } else if (writer->write_errno != 0) {
    write_failed(path, writer->write_errno, error);
  } else {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot write PNG: %s", path,
                writer->message);
  }
  png_destroy_write_struct(&writer->png, &writer->info);

  if (ok && (fflush(writer->file) != 0 || fsync(fileno(writer->file)) != 0)) {
    write_failed(path, errno, error);
    ok = FALSE;
  }
  if (fclose(writer->file) != 0 && ok) {
    write_failed(path, errno, error);
    ok = FALSE;
  }
  g_free(writer->row);
  g_free(writer);
  if (!ok) {
    ddim_temp_output_discard(temp_path);
    return NULL;
  }
  DdimPendingFile *pending = g_new0(DdimPendingFile, 1);
  pending->path = g_strdup(path);
  pending->temp_path = temp_path;
  return pending;
}

gboolean ddim_png_write(const char *path, const DdimImage *image, GError **error) {
  DdimPendingFile *pending = ddim_png_write_pending(path, image, error);
  return pending != NULL && ddim_pending_file_commit(pending, error);
}
