/* preview-image.h — one image of a model-space batch as an 8-bit picture
 * for the running dialog's preview (no libgimp, no GTK: the worker thread
 * makes these).
 *
 * Pixels come from ddim_tensor_to_pixels (so alpha is un-premultiplied, as
 * GimpPreviewArea expects for its checkerboard compositing) and are scaled
 * with nearest neighbour to fit a square of `side` pixels: small models are
 * enlarged by a whole factor, so every model pixel stays a sharp block. */
#ifndef DDIM_UI_PREVIEW_IMAGE_H
#define DDIM_UI_PREVIEW_IMAGE_H

#include "ddim.h"

typedef struct {
  int width, height;
  int channels;   /* 1 grey, 3 RGB, 4 RGBA (straight alpha) */
  guint8 *pixels; /* height rows of width × channels bytes */
} PreviewImage;

/* Image `index` of the (N, C, H, W) tensor `batch`, fitted into side × side. */
PreviewImage *preview_image_new(const float *batch, DdimShape shape, int index, int side);
void preview_image_free(PreviewImage *image);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PreviewImage, preview_image_free)

/* The size an image of width × height gets in a side × side square. */
void preview_image_fit(int width, int height, int side, int *out_width, int *out_height);

#endif
