/* cli-images.c — image and latent files of the ddim command (see cli-images.h). */
#include "cli-images.h"

#include "cli-args.h"
#include "ddim-pixels.h"
#include "ddim-io.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

gboolean cli_file_format(const char *path, gboolean png_allowed, CliFormat *format,
                         GError **error) {
  g_autofree char *extension = cli_extension(path);
  if (strcmp(extension, "npy") == 0) {
    *format = CLI_FORMAT_NPY;
    return TRUE;
  }
  if (png_allowed && strcmp(extension, "png") == 0) {
    *format = CLI_FORMAT_PNG;
    return TRUE;
  }
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
              png_allowed ? "%s: unknown file type; use a .png or .npy name"
                          : "%s: latents are .npy files; use a .npy name",
              path);
  return FALSE;
}

void cli_tensor_clear(CliTensor *tensor) {
  g_clear_pointer(&tensor->data, g_free);
}

static float *new_floats(size_t count, const char *name, GError **error) {
  float *values = count <= G_MAXSIZE / sizeof(float) ? g_try_new(float, count) : NULL;
  if (values == NULL)
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "%s: not enough memory", name);
  return values;
}

/* The core's shape messages do not name the file; ours do. */
static gboolean check_shape_for(DdimModel *model, const DdimParams *params, const char *path,
                                DdimShape shape, GError **error) {
  GError *local = NULL;
  if (params ? ddim_params_check_shape(model, params, shape, &local)
             : ddim_model_check_shape(model, shape, &local))
    return TRUE;
  g_set_error(error, DDIM_ERROR, local->code, "%s: %s", path, local->message);
  g_error_free(local);
  return FALSE;
}

static gboolean load_png(DdimModel *model, const DdimParams *params, const char *path,
                         gboolean resize, CliTensor *tensor, GError **error) {
  const DdimModelInfo *info = ddim_model_get_info(model);
  int channels = info->in_channels;
  if (channels != 1 && channels != 3 && channels != 4) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: the model takes %d channels, which PNG images cannot give; use a .npy input",
                path, channels);
    return FALSE;
  }
  g_autoptr(DdimImage) image = ddim_png_read(path, error);
  if (image == NULL) return FALSE;
  int width = image->width, height = image->height;
  DdimShape shape = {1, channels, height, width};
  gboolean native = width == info->sample_width && height == info->sample_height;
  if (resize && !native) {
    shape.h = info->sample_height;
    shape.w = info->sample_width;
    g_printerr("ddim: %s: resizing %dx%d to the model's %dx%d\n", path, width, height, shape.w,
               shape.h);
  } else if (!native && !ddim_params_check_shape(model, params, shape, NULL)) {
    /* Larger images are tiled; a smaller one must suit the network. */
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s: the image is %dx%d; this model runs %dx%d, larger images in tiles, or smaller "
                "sizes that are multiples of %d; use --resize to scale it",
                path, width, height, info->sample_width, info->sample_height, info->size_multiple);
    return FALSE;
  }
  if (!check_shape_for(model, params, path, shape, error)) return FALSE;

  g_autofree float *file_tensor = new_floats((size_t)channels * width * height, path, error);
  if (file_tensor == NULL) return FALSE;
  ddim_pixels_to_tensor(image->pixels, width, height, image->channels, channels, file_tensor);
  if (shape.w != width || shape.h != height) {
    tensor->data = new_floats(ddim_shape_elements(shape), path, error);
    if (tensor->data == NULL) return FALSE;
    cli_resample(file_tensor, channels, width, height, tensor->data, shape.w, shape.h);
  } else {
    tensor->data = g_steal_pointer(&file_tensor);
  }
  tensor->shape = shape;
  tensor->rank = 3;
  tensor->file_width = width;
  tensor->file_height = height;
  return TRUE;
}

static gboolean load_npy(DdimModel *model, const DdimParams *params, const char *path,
                         CliTensor *tensor, GError **error) {
  g_autofree float *data = NULL;
  DdimShape shape, header_shape;
  int rank;
  /* The shape is checked against the model and the run from the header,
   * before the data is read: a 1 GB file the run cannot take costs nothing. */
  if (!ddim_npy_read_header(path, FALSE, &header_shape, NULL, error) ||
      !check_shape_for(model, params, path, header_shape, error) ||
      !ddim_npy_read_with_rank(path, &data, &shape, &rank, error))
    return FALSE;
  if (memcmp(&shape, &header_shape, sizeof shape) != 0) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: the file changed while it was being read",
                path);
    return FALSE;
  }
  /* A NaN or infinity would spread through every step to the whole output. */
  size_t count = ddim_shape_elements(shape);
  for (size_t i = 0; i < count; i++)
    if (!isfinite(data[i])) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT,
                  "%s: value %zu is %s; inputs must be finite numbers", path, i,
                  isnan(data[i]) ? "NaN" : "infinite");
      return FALSE;
    }
  tensor->data = g_steal_pointer(&data);
  tensor->shape = shape;
  tensor->rank = rank;
  tensor->file_width = shape.w;
  tensor->file_height = shape.h;
  return TRUE;
}

gboolean cli_load_image(DdimModel *model, const DdimParams *params, const char *path,
                        gboolean resize, CliTensor *tensor, GError **error) {
  memset(tensor, 0, sizeof *tensor);
  CliFormat format;
  if (!cli_file_format(path, TRUE, &format, error)) return FALSE;
  if (format == CLI_FORMAT_PNG) return load_png(model, params, path, resize, tensor, error);
  return load_npy(model, params, path, tensor, error);
}

gboolean cli_load_latent(DdimModel *model, const DdimParams *params, const char *path,
                         CliTensor *tensor, GError **error) {
  memset(tensor, 0, sizeof *tensor);
  CliFormat format;
  if (!cli_file_format(path, FALSE, &format, error)) return FALSE;
  return load_npy(model, params, path, tensor, error);
}

/* Whether one output file can be created: every component of its name
 * within the filesystem's limit, the whole within PATH_MAX, its folder an
 * existing folder we may write in, and the name not a folder.  The write's
 * temporary name (.ddim-XXXXXX) is short and in the same folder, so it fits
 * whenever the name does. */
static gboolean check_output_file(const char *name, GError **error) {
  if (strlen(name) >= PATH_MAX) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s: the name is %zu bytes long; paths may have at most %d", name, strlen(name),
                PATH_MAX - 1);
    return FALSE;
  }
  g_autofree char *folder = g_path_get_dirname(name);
  g_autofree char *base = g_path_get_basename(name);
  /* The folder's components: one too long is as fatal as the folder missing,
   * but ENAMETOOLONG from stat says which problem it is. */
  struct stat info;
  if (stat(folder, &info) != 0) {
    int saved_errno = errno;
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot write in the folder %s: %s", name,
                folder, g_strerror(saved_errno));
    return FALSE;
  }
  if (!S_ISDIR(info.st_mode)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: %s is not a folder", name, folder);
    return FALSE;
  }
  long name_max = pathconf(folder, _PC_NAME_MAX);
  if (name_max <= 0) name_max = NAME_MAX;
  if ((long)strlen(base) > name_max) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s: the file name is %zu bytes long; this filesystem takes at most %ld", name,
                strlen(base), name_max);
    return FALSE;
  }
  if (access(folder, W_OK | X_OK) != 0) {
    int saved_errno = errno;
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO, "%s: cannot write in the folder %s: %s", name,
                folder, g_strerror(saved_errno));
    return FALSE;
  }
  if (stat(name, &info) == 0 && S_ISDIR(info.st_mode)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, "%s: is a folder", name);
    return FALSE;
  }
  return TRUE;
}

gboolean cli_check_output(const char *out, gboolean png_allowed, int count, GError **error) {
  CliFormat format;
  if (!cli_file_format(out, png_allowed, &format, error)) return FALSE;
  CliNamePattern pattern;
  if (!cli_name_pattern_init(&pattern, out, error)) return FALSE;
  /* A .npy holds the whole series; PNG names grow with the number, so the
   * first and the last name stand for the series (a %d in a folder name
   * makes folders of its own: those two are checked). */
  gboolean ok;
  if (format == CLI_FORMAT_NPY || count <= 1) {
    g_autofree char *name = cli_name_pattern_format(&pattern, 0, 1);
    ok = check_output_file(name, error);
  } else {
    g_autofree char *first = cli_name_pattern_format(&pattern, 0, count);
    g_autofree char *last = cli_name_pattern_format(&pattern, count - 1, count);
    ok = check_output_file(first, error) && check_output_file(last, error);
  }
  cli_name_pattern_clear(&pattern);
  return ok;
}

/* The series is written all or nothing: every image to its temporary file
 * first, then all are renamed into place.  A failed write (a full disk) or
 * rename removes every temporary file and every file of the series already
 * renamed, and the message says that none was written. */
static gboolean save_png_series(const char *out, const float *data, DdimShape shape,
                                GError **error) {
  if (shape.c != 1 && shape.c != 3 && shape.c != 4) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: %d-channel images cannot be written as PNG; use a .npy name", out, shape.c);
    return FALSE;
  }
  CliNamePattern pattern;
  if (!cli_name_pattern_init(&pattern, out, error)) return FALSE;
  gboolean ok = TRUE;
  size_t image_values = (size_t)shape.c * shape.h * shape.w;
  DdimPendingFile **pending = g_new0(DdimPendingFile *, shape.n);
  char **names = g_new0(char *, shape.n + 1);
  for (int k = 0; ok && k < shape.n; k++) {
    names[k] = cli_name_pattern_format(&pattern, k, shape.n);
    g_autoptr(DdimImage) image =
        ddim_image_new(shape.w, shape.h, ddim_pixels_channels_for_model(shape.c), names[k], error);
    ok = image != NULL;
    if (ok) {
      ddim_tensor_to_pixels(data + k * image_values, shape.w, shape.h, shape.c, image->pixels);
      pending[k] = ddim_png_write_pending(names[k], image, error);
      ok = pending[k] != NULL;
    }
  }
  int renamed = 0;
  while (ok && renamed < shape.n) {
    ok = ddim_pending_file_commit(pending[renamed], error);
    pending[renamed] = NULL;
    if (ok) renamed++;
  }
  if (!ok) {
    for (int k = 0; k < shape.n; k++) ddim_pending_file_discard(pending[k]);
    for (int k = 0; k < renamed; k++) g_unlink(names[k]);
    if (shape.n > 1 && error && *error) {
      char *message =
          g_strdup_printf("%s; none of the %d images was written", (*error)->message, shape.n);
      g_free((*error)->message);
      (*error)->message = message;
    }
  }
  g_free(pending);
  g_strfreev(names);
  cli_name_pattern_clear(&pattern);
  return ok;
}

gboolean cli_save_images(const char *out, const float *data, DdimShape shape,
                         gboolean with_batch_dim, int width, int height, GError **error) {
  CliFormat format;
  if (!cli_file_format(out, TRUE, &format, error)) return FALSE;
  g_autofree float *resized = NULL;
  if (width != shape.w || height != shape.h) {
    g_printerr("ddim: %s: resizing the result back from %dx%d to %dx%d\n", out, shape.w, shape.h,
               width, height);
    DdimShape target = {shape.n, shape.c, height, width};
    resized = new_floats(ddim_shape_elements(target), out, error);
    if (resized == NULL) return FALSE;
    for (int k = 0; k < shape.n; k++)
      cli_resample(data + (size_t)k * shape.c * shape.h * shape.w, shape.c, shape.w, shape.h,
                   resized + (size_t)k * shape.c * height * width, width, height);
    data = resized;
    shape = target;
  }
  if (format == CLI_FORMAT_NPY)
    return ddim_npy_write(out, data, shape, with_batch_dim || shape.n > 1, error);
  return save_png_series(out, data, shape, error);
}

/* One line of `in_length` samples, `stride` apart, to `out_length`. */
static void resample_line(const float *in, size_t in_stride, int in_length, float *out,
                          size_t out_stride, int out_length) {
  double scale = (double)in_length / out_length;
  for (int o = 0; o < out_length; o++) {
    double value;
    if (scale > 1.0) {
      /* Box: the average over the input span this output pixel covers. */
      double low = o * scale, high = (o + 1) * scale, sum = 0.0;
      int first = (int)floor(low), last = MIN((int)ceil(high), in_length);
      for (int i = first; i < last; i++)
        sum += in[i * in_stride] * (MIN(high, i + 1.0) - MAX(low, (double)i));
      value = sum / scale;
    } else {
      /* Bilinear between pixel centres, edges held. */
      double centre = MAX((o + 0.5) * scale - 0.5, 0.0);
      int left = (int)floor(centre);
      if (left >= in_length - 1) {
        value = in[(size_t)(in_length - 1) * in_stride];
      } else {
        double t = centre - left;
        value = (1.0 - t) * in[left * in_stride] + t * in[(left + 1) * in_stride];
      }
    }
    out[o * out_stride] = (float)value;
  }
}

void cli_resample(const float *in, int channels, int in_width, int in_height, float *out,
                  int out_width, int out_height) {
  g_autofree float *rows = g_new(float, (size_t)out_width *in_height);
  for (int c = 0; c < channels; c++) {
    const float *in_plane = in + (size_t)c * in_width * in_height;
    float *out_plane = out + (size_t)c * out_width * out_height;
    for (int y = 0; y < in_height; y++)
      resample_line(in_plane + (size_t)y * in_width, 1, in_width, rows + (size_t)y * out_width, 1,
                    out_width);
    for (int x = 0; x < out_width; x++)
      resample_line(rows + x, out_width, in_height, out_plane + x, out_width, out_height);
  }
}

gboolean cli_load_mask(const char *path, int width, int height, float **mask, GError **error) {
  *mask = NULL;
  CliFormat format;
  if (!cli_file_format(path, TRUE, &format, error)) return FALSE;
  g_autofree float *values = NULL;
  int mask_width, mask_height;
  /* The mask's size is checked from its header, before its pixels are
   * decoded or read: one that cannot match the image costs nothing (libpng
   * decodes every channel of a PNG, of which the mask keeps one). */
  DdimShape header_shape = {1, 1, 0, 0};
  if (format == CLI_FORMAT_PNG
          ? !ddim_png_read_header(path, &header_shape.w, &header_shape.h, NULL, error)
          : !ddim_npy_read_header(path, TRUE, &header_shape, NULL, error))
    return FALSE;
  if (header_shape.n != 1 || header_shape.c != 1) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s: one value per pixel is needed, (H, W) or (1, H, W), not %d×%d planes", path,
                header_shape.n, header_shape.c);
    return FALSE;
  }
  if (header_shape.w != width || header_shape.h != height) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s: the mask is %dx%d but the image is %dx%d", path, header_shape.w,
                header_shape.h, width, height);
    return FALSE;
  }
  if (format == CLI_FORMAT_PNG) {
    g_autoptr(DdimImage) image = ddim_png_read(path, error);
    if (image == NULL) return FALSE;
    mask_width = image->width;
    mask_height = image->height;
    size_t plane = (size_t)mask_width * mask_height;
    values = new_floats(plane, path, error);
    if (values == NULL) return FALSE;
    /* Grey, or the red channel of a colour mask: one value per pixel. */
    for (size_t i = 0; i < plane; i++) values[i] = image->pixels[i * image->channels];
  } else {
    if (!ddim_npy_read_plane(path, &values, &mask_width, &mask_height, error)) return FALSE;
    for (size_t i = 0; i < (size_t)mask_width * mask_height; i++)
      if (!(values[i] >= 0.0f && values[i] <= 1.0f)) {
        g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                    "%s: mask value %g at (%zu, %zu) is outside [0, 1]", path, values[i],
                    i % (size_t)mask_width, i / (size_t)mask_width);
        return FALSE;
      }
  }
  if (mask_width != width || mask_height != height) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "%s: the mask is %dx%d but the image is %dx%d", path, mask_width, mask_height,
                width, height);
    return FALSE;
  }
  *mask = g_steal_pointer(&values);
  return TRUE;
}
