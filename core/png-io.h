/* png-io.h — PNG files as interleaved float pixels.
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
 * DDIM_IMAGE_MAX_PIXELS pixels in all.
 */
#ifndef DDIM_PNG_IO_H
#define DDIM_PNG_IO_H

#include "ddim.h"

G_BEGIN_DECLS

#define DDIM_IMAGE_MAX_SIDE 16384
#define DDIM_IMAGE_MAX_PIXELS ((gint64)1 << 28)

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
/* As ddim_png_read, from `size` bytes in memory (fuzzing, tests); `name`
 * starts the messages. */
DdimImage *ddim_png_read_memory(const guint8 *bytes, size_t size, const char *name, GError **error);
gboolean ddim_png_write(const char *path, const DdimImage *image, GError **error);

G_END_DECLS

#endif /* DDIM_PNG_IO_H */
