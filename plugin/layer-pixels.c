/* layer-pixels.c — GEGL pixel I/O, scaling and compositing (see layer-pixels.h). */
#include "layer-pixels.h"

#include "ddim-pixels.h"

#include <math.h>
#include <string.h>

const Babl *plugin_pixels_format(GimpDrawable *drawable) {
  return babl_format_with_space("R'G'B'A float", gimp_drawable_get_format(drawable));
}

void plugin_pixels_clear(PluginPixels *pixels) {
  g_clear_pointer(&pixels->rgba, g_free);
}

gboolean plugin_pixels_region(GimpDrawable *drawable, gboolean within_selection, int margin, int *x,
                              int *y, int *width, int *height) {
  const int layer_width = gimp_drawable_get_width(drawable),
            layer_height = gimp_drawable_get_height(drawable);
  *x = 0;
  *y = 0;
  *width = layer_width;
  *height = layer_height;
  if (within_selection && !gimp_drawable_mask_intersect(drawable, x, y, width, height))
    return FALSE;
  if (within_selection && margin > 0) {
    /* Context around the selection, within the layer. */
    int right = MIN(*x + *width + margin, layer_width),
        bottom = MIN(*y + *height + margin, layer_height);
    *x = MAX(*x - margin, 0);
    *y = MAX(*y - margin, 0);
    *width = right - *x;
    *height = bottom - *y;
  }
  return TRUE;
}

gboolean plugin_pixels_read(GimpDrawable *drawable, gboolean within_selection, int margin,
                            PluginPixels *pixels, GError **error) {
  (void)error;
  memset(pixels, 0, sizeof *pixels);
  int x, y, width, height;
  if (!plugin_pixels_region(drawable, within_selection, margin, &x, &y, &width, &height))
    return FALSE;
  int offset_x = 0, offset_y = 0;
  gimp_drawable_get_offsets(drawable, &offset_x, &offset_y);
  pixels->x = offset_x + x;
  pixels->y = offset_y + y;
  pixels->width = width;
  pixels->height = height;
  pixels->has_alpha = gimp_drawable_has_alpha(drawable);
  pixels->format = plugin_pixels_format(drawable);
  pixels->rgba = g_new(float, (size_t)width *height * 4);
  GeglBuffer *buffer = gimp_drawable_get_buffer(drawable);
  gegl_buffer_get(buffer, GEGL_RECTANGLE(x, y, width, height), 1.0, pixels->format, pixels->rgba,
                  GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
  g_object_unref(buffer);
  return TRUE;
}

float *plugin_pixels_read_selection(GimpImage *image, const PluginPixels *pixels) {
  if (gimp_selection_is_empty(image)) return NULL;
  GimpSelection *selection = gimp_image_get_selection(image);
  GeglBuffer *buffer = gimp_drawable_get_buffer(GIMP_DRAWABLE(selection));
  float *mask = g_new(float, (size_t)pixels->width * pixels->height);
  gegl_buffer_get(buffer, GEGL_RECTANGLE(pixels->x, pixels->y, pixels->width, pixels->height), 1.0,
                  babl_format("Y float"), mask, GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
  g_object_unref(buffer);
  /* The core takes values in [0, 1] only. */
  for (size_t i = 0; i < (size_t)pixels->width * pixels->height; i++)
    mask[i] = isfinite(mask[i]) ? CLAMP(mask[i], 0.0f, 1.0f) : 0.0f;
  return mask;
}

/* Scales width × height RGBA float pixels to new_width × new_height with
 * gegl:scale-size; edges are clamped so that borders do not fade out. */
static float *scale_rgba(const float *rgba, int width, int height, int new_width, int new_height,
                         const Babl *format) {
  float *out = g_new(float, (size_t)new_width *new_height * 4);
  GeglBuffer *source = gegl_buffer_linear_new_from_data(
      (gpointer)rgba, format, GEGL_RECTANGLE(0, 0, width, height), GEGL_AUTO_ROWSTRIDE, NULL, NULL);
  GeglBuffer *target = gegl_buffer_new(GEGL_RECTANGLE(0, 0, new_width, new_height), format);
  GeglNode *graph = gegl_node_new();
  GeglNode *input =
      gegl_node_new_child(graph, "operation", "gegl:buffer-source", "buffer", source, NULL);
  GeglNode *scale =
      gegl_node_new_child(graph, "operation", "gegl:scale-size", "x", (double)new_width, "y",
                          (double)new_height, "sampler", GEGL_SAMPLER_CUBIC, NULL);
  if (gegl_operation_find_property("gegl:scale-size", "abyss-policy"))
    gegl_node_set(scale, "abyss-policy", GEGL_ABYSS_CLAMP, NULL);
  GeglNode *output =
      gegl_node_new_child(graph, "operation", "gegl:write-buffer", "buffer", target, NULL);
  gegl_node_link_many(input, scale, output, NULL);
  gegl_node_process(output);
  gegl_buffer_get(target, GEGL_RECTANGLE(0, 0, new_width, new_height), 1.0, format, out,
                  GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_CLAMP);
  g_object_unref(graph);
  g_object_unref(target);
  g_object_unref(source);
  /* Cubic filtering overshoots a little. */
  for (size_t i = 0; i < (size_t)new_width * new_height * 4; i++)
    out[i] = isfinite(out[i]) ? CLAMP(out[i], 0.0f, 1.0f) : 0.0f;
  return out;
}

float *plugin_pixels_to_tensor(const PluginPixels *pixels, DdimShape image) {
  float *tensor = g_new(float, ddim_shape_elements(image));
  if (pixels->width == image.w && pixels->height == image.h) {
    ddim_pixels_to_tensor(pixels->rgba, image.w, image.h, 4, image.c, tensor);
  } else {
    g_autofree float *scaled =
        scale_rgba(pixels->rgba, pixels->width, pixels->height, image.w, image.h, pixels->format);
    ddim_pixels_to_tensor(scaled, image.w, image.h, 4, image.c, tensor);
  }
  return tensor;
}

float *plugin_tensor_to_rgba(const float *tensor, DdimShape image, int width, int height,
                             const Babl *format) {
  size_t plane = (size_t)image.w * image.h;
  int channels = ddim_pixels_channels_for_model(image.c);
  g_autofree float *model_pixels = g_new(float, plane *channels);
  ddim_tensor_to_pixels(tensor, image.w, image.h, image.c, model_pixels);
  float *rgba = g_new(float, plane * 4);
  for (size_t i = 0; i < plane; i++) {
    const float *p = model_pixels + i * channels;
    float *q = rgba + i * 4;
    q[0] = p[0];
    q[1] = channels >= 3 ? p[1] : p[0];
    q[2] = channels >= 3 ? p[2] : p[0];
    q[3] = channels == 4 ? p[3] : 1.0f;
  }
  if (width == image.w && height == image.h) return rgba;
  float *scaled = scale_rgba(rgba, image.w, image.h, width, height, format);
  g_free(rgba);
  return scaled;
}

void plugin_rgba_copy_alpha(float *rgba, const float *from, size_t pixels) {
  for (size_t i = 0; i < pixels; i++) rgba[i * 4 + 3] = from[i * 4 + 3];
}

void plugin_rgba_result_alpha(float *rgba, const PluginPixels *source, int model_channels) {
  const size_t area = (size_t)source->width * source->height;
  if (model_channels != 4 || plugin_rgba_opaque(source->rgba, area))
    plugin_rgba_copy_alpha(rgba, source->rgba, area);
}

gboolean plugin_result_has_alpha(const PluginPixels *source, int model_channels) {
  return source->has_alpha ||
         (model_channels == 4 &&
          !plugin_rgba_opaque(source->rgba, (size_t)source->width * source->height));
}

double plugin_rgba_mse(const float *a, const float *b, size_t pixels, gboolean with_alpha) {
  const int channels = with_alpha ? 4 : 3;
  double sum = 0.0;
  for (size_t i = 0; i < pixels; i++)
    for (int c = 0; c < channels; c++) {
      const double difference = (double)a[i * 4 + c] - (double)b[i * 4 + c];
      sum += difference * difference;
    }
  return pixels ? sum / ((double)pixels * channels) : 0.0;
}

void plugin_rgba_blend_mask(float *result, const float *source, const float *mask, size_t pixels) {
  for (size_t i = 0; i < pixels; i++) {
    float m = CLAMP(mask[i], 0.0f, 1.0f);
    float *r = result + i * 4;
    const float *s = source + i * 4;
    float alpha = s[3] * (1.0f - m) + r[3] * m;
    for (int c = 0; c < 3; c++) {
      float premultiplied = s[c] * s[3] * (1.0f - m) + r[c] * r[3] * m;
      r[c] = alpha > 0.0f ? CLAMP(premultiplied / alpha, 0.0f, 1.0f) : 0.0f;
    }
    r[3] = alpha;
  }
}

float *plugin_rgba_crop(const float *rgba, int width, int x, int y, int crop_width,
                        int crop_height) {
  float *out = g_new(float, (size_t)crop_width *crop_height * 4);
  for (int row = 0; row < crop_height; row++)
    memcpy(out + (size_t)row * crop_width * 4, rgba + ((size_t)(y + row) * width + x) * 4,
           sizeof(float) * 4 * crop_width);
  return out;
}

gboolean plugin_rgba_opaque(const float *rgba, size_t pixels) {
  for (size_t i = 0; i < pixels; i++)
    if (rgba[i * 4 + 3] < 1.0f) return FALSE;
  return TRUE;
}

GimpLayer *plugin_layer_new(GimpImage *image, const char *name, int width, int height,
                            gboolean alpha) {
  GimpImageType type;
  if (gimp_image_get_base_type(image) == GIMP_GRAY)
    type = alpha ? GIMP_GRAYA_IMAGE : GIMP_GRAY_IMAGE;
  else
    type = alpha ? GIMP_RGBA_IMAGE : GIMP_RGB_IMAGE;
  return gimp_layer_new(image, name, width, height, type, 100.0,
                        gimp_image_get_default_new_layer_mode(image));
}

void plugin_layer_write(GimpLayer *layer, const float *rgba) {
  GimpDrawable *drawable = GIMP_DRAWABLE(layer);
  int width = gimp_drawable_get_width(drawable), height = gimp_drawable_get_height(drawable);
  GeglBuffer *buffer = gimp_drawable_get_buffer(drawable);
  gegl_buffer_set(buffer, GEGL_RECTANGLE(0, 0, width, height), 0, plugin_pixels_format(drawable),
                  rgba, GEGL_AUTO_ROWSTRIDE);
  gegl_buffer_flush(buffer);
  g_object_unref(buffer);
  gimp_drawable_update(drawable, 0, 0, width, height);
}

void plugin_layer_insert_above(GimpImage *image, GimpLayer *layer, GimpLayer *below, int x, int y) {
  GimpItem *parent = gimp_item_get_parent(GIMP_ITEM(below));
  int position = gimp_image_get_item_position(image, GIMP_ITEM(below));
  gimp_image_insert_layer(image, layer, parent ? GIMP_LAYER(parent) : NULL, position);
  gimp_layer_set_offsets(layer, x, y);
}
