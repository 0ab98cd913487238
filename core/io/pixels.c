/* pixels.c — interleaved [0, 1] pixels ↔ planar [-1, 1] model tensors
 * (the channel rules are in ddim-pixels.h). */
#include "ddim-pixels.h"

#include <math.h>

/* Rec. 709 luma weights. */
#define LUMA_RED 0.2126f
#define LUMA_GREEN 0.7152f
#define LUMA_BLUE 0.0722f

/* Clamps to [0, 1]; NaN becomes 0 (fmaxf returns the non-NaN operand). */
static inline float clamp01(float value) {
  return fminf(fmaxf(value, 0.0f), 1.0f);
}

void ddim_pixels_to_tensor(const float *pixels, int width, int height, int pixel_channels,
                           int model_channels, float *tensor) {
  g_return_if_fail(pixels != NULL && tensor != NULL && width > 0 && height > 0);
  g_return_if_fail(pixel_channels >= 1 && pixel_channels <= 4);
  g_return_if_fail(model_channels == 1 || model_channels == 3 || model_channels == 4);

  size_t plane = (size_t)width * (size_t)height;
  gboolean grey = pixel_channels <= 2;
  gboolean has_alpha = pixel_channels == 2 || pixel_channels == 4;
  for (size_t i = 0; i < plane; i++) {
    const float *pixel = pixels + i * (size_t)pixel_channels;
    float red = clamp01(pixel[0]);
    float green = grey ? red : clamp01(pixel[1]);
    float blue = grey ? red : clamp01(pixel[2]);
    float alpha = has_alpha ? clamp01(pixel[pixel_channels - 1]) : 1.0f;
    switch (model_channels) {
    case 1:
      /* Grey stays exact rather than going through the weights. */
      tensor[i] =
          2.0f * (grey ? red : LUMA_RED * red + LUMA_GREEN * green + LUMA_BLUE * blue) - 1.0f;
      break;
    case 3:
      tensor[i] = 2.0f * red - 1.0f;
      tensor[plane + i] = 2.0f * green - 1.0f;
      tensor[2 * plane + i] = 2.0f * blue - 1.0f;
      break;
    default:
      tensor[i] = 2.0f * red * alpha - 1.0f;
      tensor[plane + i] = 2.0f * green * alpha - 1.0f;
      tensor[2 * plane + i] = 2.0f * blue * alpha - 1.0f;
      tensor[3 * plane + i] = 2.0f * alpha - 1.0f;
      break;
    }
  }
}

int ddim_pixels_channels_for_model(int model_channels) {
  g_return_val_if_fail(model_channels == 1 || model_channels == 3 || model_channels == 4, 3);
  return model_channels;
}

void ddim_tensor_to_pixels(const float *tensor, int width, int height, int model_channels,
                           float *pixels) {
  g_return_if_fail(tensor != NULL && pixels != NULL && width > 0 && height > 0);
  g_return_if_fail(model_channels == 1 || model_channels == 3 || model_channels == 4);

  size_t plane = (size_t)width * (size_t)height;
  for (size_t i = 0; i < plane; i++) {
    float *pixel = pixels + i * (size_t)model_channels;
    if (model_channels == 1) {
      pixel[0] = clamp01(0.5f * (tensor[i] + 1.0f));
      continue;
    }
    float red = clamp01(0.5f * (tensor[i] + 1.0f));
    float green = clamp01(0.5f * (tensor[plane + i] + 1.0f));
    float blue = clamp01(0.5f * (tensor[2 * plane + i] + 1.0f));
    if (model_channels == 4) {
      float alpha = clamp01(0.5f * (tensor[3 * plane + i] + 1.0f));
      /* A fully transparent pixel has no colour; give it black. */
      red = alpha > 0.0f ? clamp01(red / alpha) : 0.0f;
      green = alpha > 0.0f ? clamp01(green / alpha) : 0.0f;
      blue = alpha > 0.0f ? clamp01(blue / alpha) : 0.0f;
      pixel[3] = alpha;
    }
    pixel[0] = red;
    pixel[1] = green;
    pixel[2] = blue;
  }
}
