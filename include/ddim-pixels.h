/* ddim-pixels.h — how pixels become tensors and back.
 *
 * Pixels are interleaved floats in [0, 1] with straight (non-premultiplied)
 * alpha, as GEGL's "R'G'B'A float" and 8-bit PNG give them.  A model tensor
 * is (C, H, W) in [-1, 1] (x = 2·p − 1, the DDPM data transform).
 *
 * Channel rules:
 *   model C = 1: grey; colour pixels become luma (Rec. 709 weights).
 *   model C = 3: RGB; grey is replicated; alpha is dropped.
 *   model C = 4: RGBA with PREMULTIPLIED alpha (so fully transparent pixels
 *                have one defined colour); grey is replicated; a missing
 *                alpha is 1.
 */
#ifndef DDIM_PIXELS_H
#define DDIM_PIXELS_H

#include <glib.h>
#include <stddef.h>

G_BEGIN_DECLS

/* pixel_channels: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.  model_channels: 1, 3, 4.
 * tensor receives model_channels × height × width floats. */
void ddim_pixels_to_tensor(const float *pixels, int width, int height, int pixel_channels,
                           int model_channels, float *tensor);

/* The pixel layout a model's tensors come back as: 1 → grey, 3 → RGB, 4 → RGBA. */
int ddim_pixels_channels_for_model(int model_channels);

/* tensor: model_channels × height × width.  pixels receives
 * ddim_pixels_channels_for_model(model_channels) interleaved floats per pixel,
 * clamped to [0, 1], alpha un-premultiplied. */
void ddim_tensor_to_pixels(const float *tensor, int width, int height, int model_channels,
                           float *pixels);

G_END_DECLS

#endif /* DDIM_PIXELS_H */
