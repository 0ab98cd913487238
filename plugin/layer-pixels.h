/* layer-pixels.h — GIMP layers ↔ model tensors through GEGL.
 *
 * Pixels are read and written as "R'G'B'A float" in the image's colour space
 * (straight alpha), which is what ddim-pixels.h expects; grayscale layers are
 * converted by babl on the way in and out.  Regions run at their own size
 * (the core tiles them); when a procedure scales to the model's resolution
 * instead, the region is scaled with GEGL (gegl:scale-size, cubic) and the
 * result scaled back. */
#ifndef DDIM_PLUGIN_LAYER_PIXELS_H
#define DDIM_PLUGIN_LAYER_PIXELS_H

#include <babl/babl.h>
#include <gegl.h>
#include <libgimp/gimp.h>

#include "ddim.h"

typedef struct {
  int x, y, width, height; /* the region, in image coordinates */
  gboolean has_alpha;      /* the layer has an alpha channel */
  const Babl *format;      /* R'G'B'A float in the layer's colour space */
  float *rgba;             /* width × height × 4, straight alpha */
} PluginPixels;

void plugin_pixels_clear(PluginPixels *pixels);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PluginPixels, plugin_pixels_clear)

/* Reads a layer: the whole layer, or (within_selection) the bounding box of
 * the selection inside it, widened by `margin` pixels on each side (within
 * the layer) as context.  FALSE without an error when the selection does
 * not touch the layer. */
gboolean plugin_pixels_read(GimpDrawable *drawable, gboolean within_selection, int margin,
                            PluginPixels *pixels, GError **error);

/* The region plugin_pixels_read reads, in the layer's coordinates; FALSE
 * when the selection does not touch the layer. */
gboolean plugin_pixels_region(GimpDrawable *drawable, gboolean within_selection, int margin, int *x,
                              int *y, int *width, int *height);

/* Selection mask values (0..1) over the region, or NULL when the image has
 * no selection. */
float *plugin_pixels_read_selection(GimpImage *image, const PluginPixels *pixels);

/* Region → model tensor (C × H × W of `image`), scaled when the sizes differ. */
float *plugin_pixels_to_tensor(const PluginPixels *pixels, DdimShape image);

/* Model tensor → width × height × 4 straight-alpha pixels in `format`,
 * scaled when the sizes differ.  A model without alpha gives alpha 1. */
float *plugin_tensor_to_rgba(const float *tensor, DdimShape image, int width, int height,
                             const Babl *format);

/* Gives result pixels the source's alpha (for models without an alpha
 * channel: the layer's transparency is kept). */
void plugin_rgba_copy_alpha(float *rgba, const float *from, size_t pixels);

/* The alpha a result made from `source` gets: the source's where the model
 * has no alpha channel, and where the source is opaque (a model with alpha
 * would otherwise let what lies below show through a photograph); the
 * model's own alpha only over a source that has transparency. */
void plugin_rgba_result_alpha(float *rgba, const PluginPixels *source, int model_channels);

/* Whether that result needs an alpha channel. */
gboolean plugin_result_has_alpha(const PluginPixels *source, int model_channels);

/* Mean squared error per value of two RGBA buffers on the [0, 1] scale, over
 * R, G, B and (with_alpha) A: a reconstruction's error at the layer's own
 * size when it ran scaled. */
double plugin_rgba_mse(const float *a, const float *b, size_t pixels, gboolean with_alpha);

/* Composites result over source through a mask (0 keeps the source):
 * premultiplied mix, result un-premultiplied again. */
void plugin_rgba_blend_mask(float *result, const float *source, const float *mask, size_t pixels);

/* The crop_width × crop_height pixels at (x, y) of a width-wide RGBA buffer. */
float *plugin_rgba_crop(const float *rgba, int width, int x, int y, int crop_width,
                        int crop_height);

/* Whether the pixels are all opaque. */
gboolean plugin_rgba_opaque(const float *rgba, size_t pixels);

/* A new layer for the image's base type (RGB or gray), with or without alpha;
 * not inserted. */
GimpLayer *plugin_layer_new(GimpImage *image, const char *name, int width, int height,
                            gboolean alpha);

/* Writes width × height × 4 straight-alpha pixels (in the format of
 * plugin_pixels_format) to a layer of that size. */
void plugin_layer_write(GimpLayer *layer, const float *rgba);

/* Inserts layer directly above `below` (same parent), at offsets x, y. */
void plugin_layer_insert_above(GimpImage *image, GimpLayer *layer, GimpLayer *below, int x, int y);

/* R'G'B'A float in a drawable's colour space. */
const Babl *plugin_pixels_format(GimpDrawable *drawable);

#endif
