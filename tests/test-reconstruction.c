/* test-reconstruction.c — DDIM Table 2's property on a fixture model:
 * encode then decode with S steps (η = 0, no clipping) reconstructs the
 * image with an error that falls as S grows. */
#include "ddim.h"

#include <string.h>

static double reconstruct_mse(DdimModel *model, const float *image, DdimShape shape, int steps) {
  DdimParams params;
  ddim_params_init(&params);
  params.steps = steps;
  params.clip = 0;
  size_t count = ddim_shape_elements(shape);
  g_autofree float *x = g_memdup2(image, count * sizeof(float));
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_invert(model, &params, x, shape, &error));
  g_assert_true(ddim_sample(model, &params, x, shape, &error));
  g_assert_no_error(error);
  return ddim_mse_01(image, x, count);
}

static void test_error_falls_with_steps(void) {
  g_autofree char *path = g_build_filename(DDIM_FIXTURES_DIR, "google_f32", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimModel) model = ddim_model_load(path, &error);
  g_assert_no_error(error);
  /* A smooth image in [-1, 1]: a colour gradient with a soft disc. */
  DdimShape shape = {1, 3, 16, 16};
  float image[3 * 16 * 16];
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < 16; y++)
      for (int x = 0; x < 16; x++) {
        float r2 = (float)((x - 8) * (x - 8) + (y - 7) * (y - 7));
        image[(c * 16 + y) * 16 + x] = 0.6f * (float)(x - 8) / 8.0f * (c == 0 ? 1.0f : -0.5f) +
                                       (r2 < 20.0f ? 0.3f * (float)c : -0.2f);
      }
  const int steps[] = {10, 20, 50, 100};
  double previous = 1.0;
  for (size_t i = 0; i < G_N_ELEMENTS(steps); i++) {
    double mse = reconstruct_mse(model, image, shape, steps[i]);
    g_test_message("S=%d mse=%.6g psnr=%.2f", steps[i], mse, ddim_psnr_from_mse(mse));
    g_assert_cmpfloat(mse, <, previous);
    previous = mse;
  }
  g_assert_cmpfloat(previous, <, 1e-3); /* S = 100: better than 30 dB */
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/reconstruction/error-falls-with-steps", test_error_falls_with_steps);
  return g_test_run();
}
