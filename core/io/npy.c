/* npy.c — reading and writing NumPy .npy tensors (see ddim-io.h).
 *
 * The header is a Python literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 8, 8), }
 * It is parsed here by a small recursive-descent reader that understands only
 * what a header may hold (strings, True/False, tuples of integers), so a
 * hostile file can at worst produce an error message. */
#include "ddim-io.h"
#include "temp-output.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_BYTES 6
#define NPY_MAX_RANK 32
/* NumPy aligns the start of the data to this many bytes. */
#define NPY_HEADER_ALIGNMENT 64
/* Doubles converted per read when the file holds float64. */
#define NPY_CONVERT_CHUNK 4096

typedef enum {
  NPY_FLOAT32,
  NPY_FLOAT64,
} NpyDtype;

typedef struct {
  NpyDtype dtype;
  gboolean fortran_order;
  int rank;
  guint64 dims[NPY_MAX_RANK];
} NpyHeader;

/* A cursor over the header text. */
typedef struct {
  const char *text;
  gsize length;
  gsize pos;
  const char *path;
} HeaderParser;

static void header_error(HeaderParser *parser, GError **error, const char *what) {
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: malformed .npy header: %s (at byte %zu)",
              parser->path, what, parser->pos);
}

static void skip_space(HeaderParser *parser) {
  while (parser->pos < parser->length && g_ascii_isspace(parser->text[parser->pos])) parser->pos++;
}

/* The next non-space character, or 0 at the end of the header. */
static char peek(HeaderParser *parser) {
  skip_space(parser);
  return parser->pos < parser->length ? parser->text[parser->pos] : 0;
}

static gboolean expect_char(HeaderParser *parser, char wanted, GError **error) {
  if (peek(parser) != wanted) {
    g_autofree char *what = g_strdup_printf("expected '%c'", wanted);
    header_error(parser, error, what);
    return FALSE;
  }
  parser->pos++;
  return TRUE;
}

/* A quoted Python string ('…' or "…", optionally u-prefixed, as Python 2
 * wrote them).  Escapes are kept as the character after the backslash, which
 * is enough for the names and dtype codes a header holds. */
static gboolean parse_string(HeaderParser *parser, char **value, GError **error) {
  char first = peek(parser);
  if (first == 'u' && parser->pos + 1 < parser->length &&
      (parser->text[parser->pos + 1] == '\'' || parser->text[parser->pos + 1] == '"')) {
    parser->pos++;
    first = parser->text[parser->pos];
  }
  if (first != '\'' && first != '"') {
    header_error(parser, error, "expected a quoted string");
    return FALSE;
  }
  parser->pos++;
  g_autoptr(GString) text = g_string_new(NULL);
  while (parser->pos < parser->length) {
    char c = parser->text[parser->pos++];
    if (c == first) {
      *value = g_string_free(g_steal_pointer(&text), FALSE);
      return TRUE;
    }
    if (c == '\\') {
      if (parser->pos >= parser->length) break;
      c = parser->text[parser->pos++];
    }
    g_string_append_c(text, c);
  }
  header_error(parser, error, "unterminated string");
  return FALSE;
}

static gboolean parse_bool(HeaderParser *parser, gboolean *value, GError **error) {
  skip_space(parser);
  const char *rest = parser->text + parser->pos;
  gsize left = parser->length - parser->pos;
  if (left >= 4 && strncmp(rest, "True", 4) == 0) {
    parser->pos += 4;
    *value = TRUE;
  } else if (left >= 5 && strncmp(rest, "False", 5) == 0) {
    parser->pos += 5;
    *value = FALSE;
  } else {
    header_error(parser, error, "expected True or False");
    return FALSE;
  }
  if (parser->pos < parser->length && g_ascii_isalnum(parser->text[parser->pos])) {
    header_error(parser, error, "expected True or False");
    return FALSE;
  }
  return TRUE;
}

/* A non-negative integer, with the 'L' suffix Python 2 wrote for longs. */
static gboolean parse_dimension(HeaderParser *parser, guint64 *value, GError **error) {
  skip_space(parser);
  if (parser->pos >= parser->length || !g_ascii_isdigit(parser->text[parser->pos])) {
    header_error(parser, error, "expected a non-negative integer in the shape");
    return FALSE;
  }
  guint64 number = 0;
  while (parser->pos < parser->length && g_ascii_isdigit(parser->text[parser->pos])) {
    guint digit = (guint)(parser->text[parser->pos] - '0');
    if (number > (G_MAXUINT64 - digit) / 10) {
      header_error(parser, error, "shape dimension too large");
      return FALSE;
    }
    number = number * 10 + digit;
    parser->pos++;
  }
  if (parser->pos < parser->length &&
      (parser->text[parser->pos] == 'L' || parser->text[parser->pos] == 'l'))
    parser->pos++;
  *value = number;
  return TRUE;
}

/* A tuple of integers: (), (8,), (2, 3, 8, 8) — a trailing comma is allowed. */
static gboolean parse_shape(HeaderParser *parser, NpyHeader *header, GError **error) {
  if (!expect_char(parser, '(', error)) return FALSE;
  header->rank = 0;
  if (peek(parser) == ')') {
    parser->pos++;
    return TRUE;
  }
  for (;;) {
    if (header->rank == NPY_MAX_RANK) {
      header_error(parser, error, "shape has too many dimensions");
      return FALSE;
    }
    if (!parse_dimension(parser, &header->dims[header->rank], error)) return FALSE;
    header->rank++;
    char next = peek(parser);
    if (next == ')') {
      parser->pos++;
      return TRUE;
    }
    if (next != ',') {
      header_error(parser, error, "expected ',' or ')' in the shape");
      return FALSE;
    }
    parser->pos++;
    if (peek(parser) == ')') {
      parser->pos++;
      return TRUE;
    }
  }
}

/* Only little-endian floats are read; everything else gets a message that
 * says what the file holds and what to save instead. */
static gboolean interpret_descr(const char *path, const char *descr, NpyDtype *dtype,
                                GError **error) {
  if (strcmp(descr, "<f4") == 0) {
    *dtype = NPY_FLOAT32;
    return TRUE;
  }
  if (strcmp(descr, "<f8") == 0) {
    *dtype = NPY_FLOAT64;
    return TRUE;
  }
  /* Keep a hostile descr from flooding the message. */
  g_autofree char *shown = g_strescape(descr, NULL);
  if (strlen(shown) > 32) strcpy(shown + 29, "...");
  if (strcmp(descr, "|O") == 0 || strcmp(descr, "O") == 0)
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: object arrays are not supported (dtype '%s'); save a float32 array", path,
                shown);
  else if (descr[0] == '>' && (strcmp(descr + 1, "f4") == 0 || strcmp(descr + 1, "f8") == 0))
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: big-endian data (dtype '%s') is not supported; save little-endian float32 "
                "('<f4')",
                path, shown);
  else
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: unsupported dtype '%s'; expected float32 ('<f4') or float64 ('<f8')", path,
                shown);
  return FALSE;
}

/* The header dict: exactly the keys 'descr', 'fortran_order' and 'shape'. */
static gboolean parse_header(const char *path, const char *text, gsize length, NpyHeader *header,
                             GError **error) {
  HeaderParser parser = {.text = text, .length = length, .pos = 0, .path = path};
  gboolean have_descr = FALSE, have_fortran = FALSE, have_shape = FALSE;
  g_autofree char *descr = NULL;

  if (memchr(text, '\0', length) != NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: malformed .npy header: it contains a NUL byte", path);
    return FALSE;
  }
  if (peek(&parser) != '{') {
    header_error(&parser, error, "expected a dict '{...}'");
    return FALSE;
  }
  parser.pos++;
  while (peek(&parser) != '}') {
    g_autofree char *key = NULL;
    if (!parse_string(&parser, &key, error)) return FALSE;
    if (!expect_char(&parser, ':', error)) return FALSE;
    gboolean duplicate = FALSE;
    if (strcmp(key, "descr") == 0) {
      duplicate = have_descr;
      have_descr = TRUE;
      char next = peek(&parser);
      if (next == '[' || next == '{') {
        g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                    "%s: structured dtypes are not supported; save a plain float32 array", path);
        return FALSE;
      }
      g_clear_pointer(&descr, g_free);
      if (!parse_string(&parser, &descr, error)) return FALSE;
    } else if (strcmp(key, "fortran_order") == 0) {
      duplicate = have_fortran;
      have_fortran = TRUE;
      if (!parse_bool(&parser, &header->fortran_order, error)) return FALSE;
    } else if (strcmp(key, "shape") == 0) {
      duplicate = have_shape;
      have_shape = TRUE;
      if (!parse_shape(&parser, header, error)) return FALSE;
    } else {
      g_autofree char *shown = g_strescape(key, NULL);
      if (strlen(shown) > 32) strcpy(shown + 29, "...");
      g_autofree char *what = g_strdup_printf("unexpected key '%s'", shown);
      header_error(&parser, error, what);
      return FALSE;
    }
    if (duplicate) {
      g_autofree char *what = g_strdup_printf("key '%s' appears twice", key);
      header_error(&parser, error, what);
      return FALSE;
    }
    char next = peek(&parser);
    if (next == ',') {
      parser.pos++;
    } else if (next != '}') {
      header_error(&parser, error, "expected ',' or '}'");
      return FALSE;
    }
  }
  parser.pos++;
  if (peek(&parser) != 0) {
    header_error(&parser, error, "unexpected text after the dict");
    return FALSE;
  }
  if (!have_descr || !have_fortran || !have_shape) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: malformed .npy header: the key '%s' is missing", path,
                !have_descr     ? "descr"
                : !have_fortran ? "fortran_order"
                                : "shape");
    return FALSE;
  }
  return interpret_descr(path, descr, &header->dtype, error);
}

static char *format_shape(const NpyHeader *header) {
  GString *text = g_string_new("(");
  for (int i = 0; i < header->rank; i++)
    g_string_append_printf(text, "%s%" G_GUINT64_FORMAT, i ? ", " : "", header->dims[i]);
  g_string_append(text, header->rank == 1 ? ",)" : ")");
  return g_string_free(text, FALSE);
}

/* Checks rank and dimensions; fills *shape and the byte count of the data.
 * min_rank 2 also takes an (H, W) plane, as (1, 1, H, W). */
static gboolean check_shape(const char *path, const NpyHeader *header, int min_rank,
                            DdimShape *shape, guint64 *data_bytes, GError **error) {
  g_autofree char *shown = format_shape(header);
  if (header->fortran_order) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: Fortran-ordered arrays are not supported; save it in C order "
                "(numpy.ascontiguousarray)",
                path);
    return FALSE;
  }
  if (header->rank < min_rank || header->rank > 4) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                min_rank == 2
                    ? "%s: shape %s has rank %d; expected (H, W), (1, H, W) or (1, 1, H, W)"
                    : "%s: shape %s has rank %d; expected (C, H, W) or (N, C, H, W)",
                path, shown, header->rank);
    return FALSE;
  }
  guint64 elements = 1;
  for (int i = 0; i < header->rank; i++) {
    if (header->dims[i] == 0) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED, "%s: shape %s is empty", path, shown);
      return FALSE;
    }
    if (header->dims[i] > G_MAXINT || !g_uint64_checked_mul(&elements, elements, header->dims[i])) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED, "%s: shape %s is too large", path,
                  shown);
      return FALSE;
    }
  }
  /* Refused before anything is allocated or read (the data must also be
   * exactly as long as the shape says, so a huge shape needs a huge file). */
  if (elements > DDIM_NPY_MAX_ELEMENTS) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: shape %s has %" G_GUINT64_FORMAT
                " values, which would take %.2f GiB as float32; the limit is %" G_GINT64_FORMAT
                " values (4 GiB)",
                path, shown, elements, (double)elements * 4 / (double)(1 << 30),
                (gint64)DDIM_NPY_MAX_ELEMENTS);
    return FALSE;
  }
  guint64 item_bytes = header->dtype == NPY_FLOAT64 ? 8 : 4;
  /* Both the file's bytes and the float32 copy must be addressable. */
  if (!g_uint64_checked_mul(data_bytes, elements, item_bytes) || *data_bytes > G_MAXSIZE) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED, "%s: shape %s is too large", path,
                shown);
    return FALSE;
  }
  const guint64 *dims = header->dims;
  if (header->rank == 4)
    *shape = (DdimShape){(int)dims[0], (int)dims[1], (int)dims[2], (int)dims[3]};
  else if (header->rank == 3)
    *shape = (DdimShape){1, (int)dims[0], (int)dims[1], (int)dims[2]};
  else
    *shape = (DdimShape){1, 1, (int)dims[0], (int)dims[1]};
  return TRUE;
}

static gboolean read_exactly(FILE *file, void *buffer, size_t bytes) {
  return fread(buffer, 1, bytes, file) == bytes;
}

static void read_failed(const char *path, FILE *file, GError **error) {
  if (ferror(file))
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: read error: %s", path, g_strerror(errno));
  else
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: the file changed while it was being read",
                path);
}

static gboolean read_data(const char *path, FILE *file, NpyDtype dtype, float *data,
                          size_t elements, GError **error) {
  if (dtype == NPY_FLOAT32) {
    if (!read_exactly(file, data, elements * sizeof(float))) {
      read_failed(path, file, error);
      return FALSE;
    }
    if (G_BYTE_ORDER != G_LITTLE_ENDIAN) {
      guint32 *words = (guint32 *)data;
      for (size_t i = 0; i < elements; i++) words[i] = GUINT32_FROM_LE(words[i]);
    }
    return TRUE;
  }
  g_autofree guint64 *chunk = g_new(guint64, NPY_CONVERT_CHUNK);
  for (size_t done = 0; done < elements;) {
    size_t count = MIN(elements - done, (size_t)NPY_CONVERT_CHUNK);
    if (!read_exactly(file, chunk, count * sizeof(guint64))) {
      read_failed(path, file, error);
      return FALSE;
    }
    for (size_t i = 0; i < count; i++) {
      guint64 bits = GUINT64_FROM_LE(chunk[i]);
      double value;
      memcpy(&value, &bits, sizeof value);
      data[done + i] = (float)value;
    }
    done += count;
  }
  return TRUE;
}

/* Reads a whole .npy of file_bytes bytes from the start of `file`
 * (min_rank: see check_shape); with data NULL, only its header, checked
 * against the file's length: the data is neither allocated nor read. */
static gboolean read_stream(const char *path, FILE *file, guint64 file_bytes, int min_rank,
                            float **data, DdimShape *shape, int *rank, GError **error) {
  gboolean ok = FALSE;
  g_autofree char *header_text = NULL;
  float *values = NULL;
  guint8 prefix[12];
  if (!read_exactly(file, prefix, 8) || memcmp(prefix, NPY_MAGIC, NPY_MAGIC_BYTES) != 0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: not a .npy file (it does not start with \\x93NUMPY)", path);
    goto out;
  }
  int major = prefix[6], minor = prefix[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: .npy format version %d.%d is not supported (1.0, 2.0 and 3.0 are)", path,
                major, minor);
    goto out;
  }
  guint64 prefix_bytes = major == 1 ? 10 : 12;
  if (!read_exactly(file, prefix + 8, prefix_bytes - 8)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT, "%s: truncated .npy file (no header)", path);
    goto out;
  }
  guint64 header_bytes = major == 1 ? (guint64)prefix[8] | (guint64)prefix[9] << 8
                                    : (guint64)prefix[8] | (guint64)prefix[9] << 8 |
                                          (guint64)prefix[10] << 16 | (guint64)prefix[11] << 24;
  if (header_bytes > DDIM_NPY_MAX_HEADER_BYTES) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: .npy header of %" G_GUINT64_FORMAT " bytes is larger than the %d allowed",
                path, header_bytes, DDIM_NPY_MAX_HEADER_BYTES);
    goto out;
  }
  if (prefix_bytes + header_bytes > file_bytes) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: truncated .npy file (the header needs %" G_GUINT64_FORMAT
                " bytes, the file has %" G_GUINT64_FORMAT " after the prefix)",
                path, header_bytes, file_bytes > prefix_bytes ? file_bytes - prefix_bytes : 0);
    goto out;
  }
  header_text = g_malloc(header_bytes + 1);
  if (!read_exactly(file, header_text, header_bytes)) {
    read_failed(path, file, error);
    goto out;
  }
  header_text[header_bytes] = '\0';

  NpyHeader header = {0};
  DdimShape parsed_shape;
  guint64 data_bytes;
  if (!parse_header(path, header_text, header_bytes, &header, error) ||
      !check_shape(path, &header, min_rank, &parsed_shape, &data_bytes, error))
    goto out;

  guint64 available = file_bytes - prefix_bytes - header_bytes;
  if (available != data_bytes) {
    g_autofree char *shown = format_shape(&header);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: %s: shape %s of %s needs %" G_GUINT64_FORMAT
                " bytes of data, the file has %" G_GUINT64_FORMAT,
                path, available < data_bytes ? "truncated .npy file" : "extra data after the array",
                shown, header.dtype == NPY_FLOAT64 ? "float64" : "float32", data_bytes, available);
    goto out;
  }

  if (data == NULL) {
    *shape = parsed_shape;
    if (rank != NULL) *rank = header.rank;
    ok = TRUE;
    goto out;
  }
  size_t elements = ddim_shape_elements(parsed_shape);
  values = g_try_malloc(elements * sizeof(float));
  if (values == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "%s: not enough memory for %zu values",
                path, elements);
    goto out;
  }
  if (!read_data(path, file, header.dtype, values, elements, error)) goto out;

  *data = g_steal_pointer(&values);
  *shape = parsed_shape;
  if (rank != NULL) *rank = header.rank;
  ok = TRUE;
out:
  g_free(values);
  return ok;
}

/* Opens `path` as a regular file and reads it (min_rank: see check_shape). */
static gboolean read_file(const char *path, int min_rank, float **data, DdimShape *shape, int *rank,
                          GError **error) {
  g_return_val_if_fail(path != NULL && shape != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused
   * below as not a regular file); reads of regular files ignore the flag. */
  int fd = g_open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
  FILE *file = fd >= 0 ? fdopen(fd, "rb") : NULL;
  if (file == NULL) {
    if (fd >= 0) close(fd);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot open: %s", path, g_strerror(errno));
    return FALSE;
  }
  /* Sizes are checked against the file's length: a device or FIFO has none. */
  struct stat info;
  gboolean ok = FALSE;
  if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode))
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: not a regular file", path);
  else
    ok = read_stream(path, file, (guint64)info.st_size, min_rank, data, shape, rank, error);
  fclose(file);
  return ok;
}

gboolean ddim_npy_read_with_rank(const char *path, float **data, DdimShape *shape, int *rank,
                                 GError **error) {
  g_return_val_if_fail(data != NULL, FALSE);
  return read_file(path, 3, data, shape, rank, error);
}

gboolean ddim_npy_read_header(const char *path, gboolean plane, DdimShape *shape, int *rank,
                              GError **error) {
  return read_file(path, plane ? 2 : 3, NULL, shape, rank, error);
}

gboolean ddim_npy_read_plane(const char *path, float **data, int *width, int *height,
                             GError **error) {
  DdimShape shape;
  g_autofree float *values = NULL;
  if (!read_file(path, 2, &values, &shape, NULL, error)) return FALSE;
  if (shape.n != 1 || shape.c != 1) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s: one value per pixel is needed, (H, W) or (1, H, W), not %d×%d planes", path,
                shape.n, shape.c);
    return FALSE;
  }
  *width = shape.w;
  *height = shape.h;
  *data = g_steal_pointer(&values);
  return TRUE;
}

gboolean ddim_npy_parse(const guint8 *bytes, size_t size, const char *name, float **data,
                        DdimShape *shape, int *rank, GError **error) {
  g_return_val_if_fail(name != NULL && data != NULL && shape != NULL, FALSE);
  /* fmemopen refuses an empty buffer; such a file has no magic anyway. */
  FILE *file = size ? fmemopen((void *)bytes, size, "rb") : NULL;
  if (file == NULL) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                "%s: not a .npy file (it does not start with \\x93NUMPY)", name);
    return FALSE;
  }
  gboolean ok = read_stream(name, file, size, 3, data, shape, rank, error);
  fclose(file);
  return ok;
}

gboolean ddim_npy_read(const char *path, float **data, DdimShape *shape, GError **error) {
  return ddim_npy_read_with_rank(path, data, shape, NULL, error);
}

static void write_failed(const char *path, int saved_errno, GError **error) {
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot write: %s", path,
              g_strerror(saved_errno));
}

/* Writes header then data under a temporary name beside path and renames it
 * into place, so readers see either the old file or the complete new one. */
static gboolean write_atomically(const char *path, const GString *header, const float *data,
                                 size_t elements, GError **error) {
  char *temp_path = NULL;
  FILE *file = ddim_temp_output_create(path, &temp_path);
  if (file == NULL) {
    write_failed(path, errno, error);
    return FALSE;
  }
  gboolean written = fwrite(header->str, 1, header->len, file) == header->len;
  if (G_BYTE_ORDER == G_LITTLE_ENDIAN) {
    written = written && fwrite(data, sizeof(float), elements, file) == elements;
  } else {
    guint32 chunk[NPY_CONVERT_CHUNK];
    for (size_t done = 0; written && done < elements;) {
      size_t count = MIN(elements - done, (size_t)NPY_CONVERT_CHUNK);
      memcpy(chunk, data + done, count * sizeof(float));
      for (size_t i = 0; i < count; i++) chunk[i] = GUINT32_TO_LE(chunk[i]);
      written = fwrite(chunk, sizeof(guint32), count, file) == count;
      done += count;
    }
  }
  written = written && fflush(file) == 0 && fsync(fileno(file)) == 0;
  int saved_errno = errno;
  if (fclose(file) != 0 && written) {
    written = FALSE;
    saved_errno = errno;
  }
  if (written && !ddim_temp_output_commit(temp_path, path)) {
    written = FALSE;
    saved_errno = errno;
  }
  if (!written) {
    ddim_temp_output_discard(temp_path);
    write_failed(path, saved_errno, error);
  }
  return written;
}

gboolean ddim_npy_write(const char *path, const float *data, DdimShape shape,
                        gboolean with_batch_dim, GError **error) {
  g_return_val_if_fail(path != NULL && data != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  size_t elements = ddim_shape_elements(shape);
  if (elements == 0 || elements > G_MAXSIZE / sizeof(float)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s: cannot write a tensor of shape (%d, %d, %d, %d)", path, shape.n, shape.c,
                shape.h, shape.w);
    return FALSE;
  }
  if (!with_batch_dim && shape.n != 1) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s: %d images need a batch dimension", path, shape.n);
    return FALSE;
  }

  g_autoptr(GString) header = g_string_new(NULL);
  g_string_append_len(header, NPY_MAGIC "\x01\x00\x00\x00", NPY_MAGIC_BYTES + 4);
  g_string_append(header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
  if (with_batch_dim) g_string_append_printf(header, "%d, ", shape.n);
  g_string_append_printf(header, "%d, %d, %d), }", shape.c, shape.h, shape.w);
  /* Pad with spaces and end with a newline so the data is aligned. */
  while ((header->len + 1) % NPY_HEADER_ALIGNMENT != 0) g_string_append_c(header, ' ');
  g_string_append_c(header, '\n');
  gsize header_bytes = header->len - (NPY_MAGIC_BYTES + 4);
  header->str[NPY_MAGIC_BYTES + 2] = (char)(header_bytes & 0xff);
  header->str[NPY_MAGIC_BYTES + 3] = (char)(header_bytes >> 8);

  return write_atomically(path, header, data, elements, error);
}
