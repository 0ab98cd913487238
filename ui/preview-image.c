/* preview-image.c — a batch image as an 8-bit preview (see preview-image.h). */
#include "preview-image.h"

#include "ddim-pixels.h"

void preview_image_fit(int width, int height, int side, int *out_width, int *out_height) {
  int longest = MAX(MAX(width, height), 1);
  if (longest <= side) {
    /* Enlarge by a whole factor: nearest neighbour keeps pixels square. */
    int factor = side / longest;
    *out_width = width * factor;
    *out_height = height * factor;
  } else {
    *out_width = MAX(1, (int)((gint64)width * side / longest));
    *out_height = MAX(1, (int)((gint64)height * side / longest));
  }
}

PreviewImage *preview_image_new(const float *batch, DdimShape shape, int index, int side) {
  g_return_val_if_fail(index >= 0 && index < shape.n, NULL);
  size_t plane = (size_t)shape.w * (size_t)shape.h;
  int channels = ddim_pixels_channels_for_model(shape.c);
  g_autofree float *pixels = g_new(float, plane *(size_t)channels);
  ddim_tensor_to_pixels(batch + (size_t)index * plane * (size_t)shape.c, shape.w, shape.h, shape.c,
                        pixels);
  PreviewImage *image = g_new0(PreviewImage, 1);
  preview_image_fit(shape.w, shape.h, side, &image->width, &image->height);
  image->channels = channels;
  image->pixels = g_new(guint8, (size_t)image->width * (size_t)image->height * (size_t)channels);
  guint8 *out = image->pixels;
  for (int y = 0; y < image->height; y++) {
    int source_y = (int)((gint64)y * shape.h / image->height);
    for (int x = 0; x < image->width; x++) {
      int source_x = (int)((gint64)x * shape.w / image->width);
      const float *p = pixels + ((size_t)source_y * (size_t)shape.w + (size_t)source_x) * channels;
      /* ddim_tensor_to_pixels clamps to [0, 1]; round like the PNG writer. */
      for (int c = 0; c < channels; c++) *out++ = (guint8)(p[c] * 255.0f + 0.5f);
    }
  }
  return image;
}

void preview_image_free(PreviewImage *image) {
  if (image == NULL) return;
  g_free(image->pixels);
  g_free(image);
}
