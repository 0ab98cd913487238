/* interpolate.c — spherical interpolation of latents (DDIM paper eq. 67):
 * x(α) = sin((1−α)θ)/sin θ · z0 + sin(αθ)/sin θ · z1, θ = arccos(⟨z0,z1⟩/(‖z0‖‖z1‖)),
 * over the whole tensor, as the official sample_interpolation does. */
#include "ddim.h"

#include <math.h>

void ddim_slerp(const float *z0, const float *z1, size_t n, double alpha, float *out) {
  double dot = 0.0, norm0 = 0.0, norm1 = 0.0;
  for (size_t i = 0; i < n; i++) {
    dot += (double)z0[i] * z1[i];
    norm0 += (double)z0[i] * z0[i];
    norm1 += (double)z1[i] * z1[i];
  }
  double w0 = 1.0 - alpha, w1 = alpha;
  double denominator = sqrt(norm0) * sqrt(norm1);
  if (denominator > 0.0) {
    double cosine = dot / denominator;
    cosine = cosine > 1.0 ? 1.0 : cosine < -1.0 ? -1.0 : cosine;
    double theta = acos(cosine);
    double sin_theta = sin(theta);
    /* Nearly parallel latents: slerp tends to lerp; avoid 0/0. */
    if (sin_theta > 1e-7) {
      w0 = sin((1.0 - alpha) * theta) / sin_theta;
      w1 = sin(alpha * theta) / sin_theta;
    }
  }
  for (size_t i = 0; i < n; i++) out[i] = (float)(w0 * z0[i] + w1 * z1[i]);
}
