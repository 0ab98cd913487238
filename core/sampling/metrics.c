/* metrics.c — reconstruction error on the paper's scale (DDIM Table 2):
 * per-dimension MSE with pixels in [0, 1], after the output clamp. */
#include "ddim.h"

#include <math.h>

static double to_unit(float v) {
  double p = ((double)v + 1.0) * 0.5;
  return p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
}

double ddim_mse_01(const float *a, const float *b, size_t n) {
  if (n == 0) return 0.0;
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = to_unit(a[i]) - to_unit(b[i]);
    sum += d * d;
  }
  return sum / (double)n;
}

double ddim_psnr_from_mse(double mse) {
  return mse > 0.0 ? 10.0 * log10(1.0 / mse) : INFINITY;
}
