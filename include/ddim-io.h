/* ddim-io.h — the image and tensor files of the front ends: NumPy .npy
 * tensors and PNG pictures (public: the `ddim` command writes and reads its
 * files with these; the GIMP plug-in moves pixels through GEGL instead).
 *
 * .npy — NumPy .npy files holding model-space tensors.
 *
 * Reading accepts format versions 1.0, 2.0 and 3.0, little-endian float32
 * ('<f4') or float64 ('<f8', converted to float32), C order, of shape
 * (C, H, W) or (N, C, H, W).  Everything in the file is validated before use
 * and a problem is reported in the DDIM_ERROR domain with a message that
 * starts with the file name.
 *
 * Writing produces version 1.0 '<f4' files whose header is padded so that the
 * data starts at a multiple of 64 bytes, as NumPy does.  The file is written
 * under a temporary name in the same folder and renamed over the target, so
 * a failed write never leaves a partial file behind (see "Files being
 * written" below).
 *
 * PNG — PNG files as interleaved float pixels.
 *
 * Reading takes any PNG libpng understands (1–16 bits, grey, grey+alpha,
 * palette, RGB, RGBA, tRNS transparency, interlaced) and gives straight-alpha
 * pixels in [0, 1] with 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA)
 * channels; palettes become RGB and tRNS becomes an alpha channel.  16-bit
 * samples keep their precision.  Gamma and colour profiles are ignored: the
 * values are used as stored, like 8-bit sRGB.
 *
 * Writing produces an 8-bit PNG with the image's channel layout, quantising
 * each value as uint8(clamp(p·255 + 0.5)).  The file is written under a
 * temporary name beside the target and renamed into place.
 *
 * Errors are in the DDIM_ERROR domain and the message starts with the file
 * name.  Images are limited to DDIM_IMAGE_MAX_SIDE pixels per side and
 * DDIM_IMAGE_MAX_PIXELS pixels in all; a PNG is also refused, from its
 * header and before anything is decoded, when its decoded float pixels
 * (width × height × the channels it gives × 4 bytes) exceed
 * DDIM_IMAGE_MAX_FLOAT_BYTES.
 */
#ifndef DDIM_IO_H
#define DDIM_IO_H

#include "ddim.h"

G_BEGIN_DECLS

/* ---- NumPy .npy ------------------------------------------------------------- */

/* Largest header (the Python dict) accepted, in bytes; NumPy's own limit is
 * 10000 unless the reader is told otherwise. */
#define DDIM_NPY_MAX_HEADER_BYTES (1 << 20)

/* Largest array read, in values: 2^30, 4 GiB as float32 (a batch of 4096
 * 4×256×256 latents is a quarter of it).  Larger shapes are refused from the
 * header, before anything is allocated or read. */
#define DDIM_NPY_MAX_ELEMENTS ((gint64)1 << 30)

/* Reads and checks only the header (and that the file is exactly as long as
 * the shape says), reading none of the data: a caller can refuse the shape
 * before paying for it.  plane: also take (H, W), as (1, 1, H, W), as
 * ddim_npy_read_plane does.  rank may be NULL. */
gboolean ddim_npy_read_header(const char *path, gboolean plane, DdimShape *shape, int *rank,
                              GError **error);

/* Reads a tensor.  A rank-3 file gives shape->n = 1.  *data receives
 * ddim_shape_elements(*shape) floats (g_free them). */
gboolean ddim_npy_read(const char *path, float **data, DdimShape *shape, GError **error);

/* As ddim_npy_read, and *rank receives 3 or 4 (whether the file had N). */
gboolean ddim_npy_read_with_rank(const char *path, float **data, DdimShape *shape, int *rank,
                                 GError **error);

/* A single plane of values (a mask): (H, W), (1, H, W) or (1, 1, H, W).
 * *data receives width × height floats (g_free them). */
gboolean ddim_npy_read_plane(const char *path, float **data, int *width, int *height,
                             GError **error);

/* As ddim_npy_read_with_rank, from `size` bytes in memory (fuzzing, tests);
 * `name` starts the messages.  rank may be NULL. */
gboolean ddim_npy_parse(const guint8 *bytes, size_t size, const char *name, float **data,
                        DdimShape *shape, int *rank, GError **error);

/* Writes shape as (N, C, H, W) when with_batch_dim, else as (C, H, W), which
 * needs shape.n == 1. */
gboolean ddim_npy_write(const char *path, const float *data, DdimShape shape,
                        gboolean with_batch_dim, GError **error);

/* ---- Files being written -------------------------------------------------- */

/* Every file written here goes first to a temporary file named .ddim-XXXXXX
 * in the target's folder (a short name of its own, so it fits wherever the
 * target's name does) and is renamed over the target once complete and
 * synced; a failed write removes it and names the target in its message.
 * While written, the temporary names are kept in a registry. */

/* Installs handlers for SIGINT, SIGTERM and SIGHUP that remove the temporary
 * files being written and then end the process as the signal would have (so
 * each output is complete or absent), and ignores SIGXFSZ, so that a write
 * past a file-size limit (ulimit -f) fails with EFBIG and takes the ordinary
 * error path instead of killing the process with a partial file.  A signal
 * that is ignored when this is called stays ignored (nohup, background jobs).
 * For programs that own their process, like the ddim command: call it once
 * at start. */
void ddim_io_remove_partial_files_on_signals(void);

/* A file written under its temporary name and not yet in place: for a set of
 * files that should appear together or not at all. */
typedef struct DdimPendingFile DdimPendingFile;

/* Renames the file into place and frees `file`; on failure the temporary
 * file is removed, `file` is freed and the message names the target. */
gboolean ddim_pending_file_commit(DdimPendingFile *file, GError **error);
/* Removes the temporary file and frees `file` (NULL is allowed). */
void ddim_pending_file_discard(DdimPendingFile *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DdimPendingFile, ddim_pending_file_discard)

/* ---- PNG ------------------------------------------------------------------ */

#define DDIM_IMAGE_MAX_SIDE 16384
#define DDIM_IMAGE_MAX_PIXELS ((gint64)1 << 28)
/* 1 GiB of float32 values: 16384×16384 grey, 8192×8192 RGBA.  Decoding also
 * holds libpng's rows (a quarter or half of that), so a PNG costs at most
 * 1.5 GiB, whatever its file's size; a 32 KB file of 16384×16384 1-bit
 * palette pixels (3 GiB as RGB floats) is refused from its header. */
#define DDIM_IMAGE_MAX_FLOAT_BYTES ((gint64)1 << 30)

typedef struct {
  int width, height;
  int channels;  /* 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA */
  float *pixels; /* height rows of width × channels values */
} DdimImage;

/* A zero-filled image; fails with a message naming `name` when the size is
 * out of the limits or the memory cannot be had. */
DdimImage *ddim_image_new(int width, int height, int channels, const char *name, GError **error);
void ddim_image_free(DdimImage *image);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DdimImage, ddim_image_free)

static inline gboolean ddim_image_has_alpha(const DdimImage *image) {
  return image->channels == 2 || image->channels == 4;
}

/* Checks width × height against the limits; `name` starts the message. */
gboolean ddim_image_check_size(gint64 width, gint64 height, const char *name, GError **error);

DdimImage *ddim_png_read(const char *path, GError **error);
/* Reads and checks only the header of a PNG (every limit ddim_png_read
 * applies before decoding): its size and the channels ddim_png_read would
 * give, so that a caller can refuse an image before paying for its pixels.
 * Any of the outputs may be NULL. */
gboolean ddim_png_read_header(const char *path, int *width, int *height, int *channels,
                              GError **error);
/* As ddim_png_read, from `size` bytes in memory (fuzzing, tests); `name`
 * starts the messages. */
DdimImage *ddim_png_read_memory(const guint8 *bytes, size_t size, const char *name, GError **error);
gboolean ddim_png_write(const char *path, const DdimImage *image, GError **error);
/* As ddim_png_write, but leaves the file under its temporary name until
 * ddim_pending_file_commit; NULL and an error naming `path` on failure. */
DdimPendingFile *ddim_png_write_pending(const char *path, const DdimImage *image, GError **error);

G_END_DECLS

#endif /* DDIM_IO_H */
