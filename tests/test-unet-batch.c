/* test-unet-batch.c — the engine's alternative paths agree: batches of
 * small images run as chunks of the batch on separate threads (core/nn/unet.c)
 * must not change results across thread counts, every image of a batch must
 * be (up to rounding in the batched GEMMs) what the network gives for it
 * alone, and Winograd convolutions (the default on large layers) must give
 * the all-direct ε up to rounding, with the same bits on any thread count. */
#include "ddim.h"

#include <math.h>
#include <string.h>

static DdimModel *model;

static float *eps_of(const float *x, DdimShape shape, float timestep) {
  float *eps = g_new(float, ddim_shape_elements(shape));
  float *timesteps = g_new(float, (gsize)shape.n);
  for (int b = 0; b < shape.n; b++) timesteps[b] = timestep + (float)b; /* per-image t */
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_model_eps(model, x, shape, timesteps, eps, &error));
  g_assert_no_error(error);
  g_free(timesteps);
  return eps;
}

static void check_batch(int batch) {
  const DdimModelInfo *info = ddim_model_get_info(model);
  const DdimShape shape = {batch, info->in_channels, info->sample_height, info->sample_width};
  const size_t per_image = ddim_shape_elements(shape) / (size_t)batch;
  g_autofree float *x = g_new(float, ddim_shape_elements(shape));
  ddim_noise(7, DDIM_STREAM_INITIAL, shape, x);

  ddim_set_threads(1);
  g_autofree float *serial = eps_of(x, shape, 100.0f);
  ddim_set_threads(2);
  g_autofree float *threaded = eps_of(x, shape, 100.0f);
  ddim_set_threads(0);
  g_assert_true(memcmp(serial, threaded, sizeof(float) * ddim_shape_elements(shape)) == 0);

  /* Image b alone, at its own timestep. */
  DdimShape single = shape;
  single.n = 1;
  for (int b = 0; b < batch; b++) {
    g_autofree float *alone = eps_of(x + (size_t)b * per_image, single, 100.0f + (float)b);
    double worst = 0.0, norm = 0.0;
    for (size_t i = 0; i < per_image; i++) {
      worst = fmax(worst, fabs((double)alone[i] - serial[(size_t)b * per_image + i]));
      norm = fmax(norm, fabs((double)alone[i]));
    }
    g_assert_cmpfloat(norm, >, 0.0);
    g_assert_cmpfloat(worst, <=, 1e-5 * norm);
  }
}

/* 9 images: chunks of 4, 4 and 1; 3 images: one image per chunk. */
static void test_batch_of_nine(void) {
  check_batch(9);
}

static void test_batch_of_three(void) {
  check_batch(3);
}

/* An abort asked for during a chunk-parallel batch stops it with
 * DDIM_ERROR_CANCELLED; the model works normally afterwards. */
/* The fixture network at 64×64 (fully convolutional), where its 3×3
 * convolutions with 32 input channels or more take the Winograd paths:
 * F(2×2) (the default) within rounding of all-direct, F(4×4) (fast) within
 * a few digits, each with the same bits on any thread count. */
static float *eps_with(DdimConvolutions convolutions, const float *x, DdimShape shape) {
  ddim_model_set_convolutions(model, convolutions);
  ddim_set_threads(1);
  float *serial = eps_of(x, shape, 300.0f);
  ddim_set_threads(2);
  g_autofree float *threaded = eps_of(x, shape, 300.0f);
  ddim_set_threads(0);
  ddim_model_set_convolutions(model, DDIM_CONVOLUTIONS_DEFAULT);
  g_assert_true(memcmp(serial, threaded, sizeof(float) * ddim_shape_elements(shape)) == 0);
  return serial;
}

static void compare_eps(const char *what, const float *eps, const float *direct, size_t count,
                        double tolerance) {
  double worst = 0.0, norm = 0.0, moved = 0.0;
  for (size_t i = 0; i < count; i++) {
    worst = fmax(worst, fabs((double)eps[i] - direct[i]));
    norm = fmax(norm, fabs((double)direct[i]));
    moved += eps[i] != direct[i];
  }
  g_test_message("%s vs direct at 64×64: max |Δε| %.3g of max |ε| %.3g, %.0f values differ", what,
                 worst, norm, moved);
  g_assert_cmpfloat(norm, >, 0.0);
  g_assert_cmpfloat(worst, <=, tolerance * norm);
  g_assert_cmpfloat(moved, >, 0.0); /* the Winograd path really ran */
}

static void test_winograd(void) {
  const DdimModelInfo *info = ddim_model_get_info(model);
  const DdimShape shape = {2, info->in_channels, 64, 64};
  const size_t count = ddim_shape_elements(shape);
  g_autofree float *x = g_new(float, count);
  ddim_noise(11, DDIM_STREAM_INITIAL, shape, x);
  g_autofree float *direct = eps_with(DDIM_CONVOLUTIONS_DIRECT, x, shape);
  g_autofree float *winograd = eps_with(DDIM_CONVOLUTIONS_DEFAULT, x, shape);
  g_autofree float *fast = eps_with(DDIM_CONVOLUTIONS_FAST, x, shape);
  compare_eps("F(2×2) (default)", winograd, direct, count, 1e-5);
  compare_eps("F(4×4) (fast)", fast, direct, count, 1e-4);
}

static gboolean abort_after(gpointer data) {
  return g_atomic_int_add((gint *)data, 1) >= 5;
}

static void test_abort_in_chunks(void) {
  const DdimModelInfo *info = ddim_model_get_info(model);
  const DdimShape shape = {9, info->in_channels, info->sample_height, info->sample_width};
  g_autofree float *x = g_new(float, ddim_shape_elements(shape));
  g_autofree float *eps = g_new(float, ddim_shape_elements(shape));
  g_autofree float *timesteps = g_new(float, 9);
  for (int b = 0; b < 9; b++) timesteps[b] = 10.0f;
  ddim_noise(3, DDIM_STREAM_INITIAL, shape, x);
  gint asked = 0;
  ddim_set_threads(2);
  ddim_model_set_abort(model, abort_after, &asked);
  g_autoptr(GError) error = NULL;
  g_assert_false(ddim_model_eps(model, x, shape, timesteps, eps, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_CANCELLED);
  g_assert_cmpint(g_atomic_int_get(&asked), >=, 6);
  ddim_model_set_abort(model, NULL, NULL);
  g_clear_error(&error);
  g_assert_true(ddim_model_eps(model, x, shape, timesteps, eps, &error));
  g_assert_no_error(error);
  ddim_set_threads(0);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_autoptr(GError) error = NULL;
  model = ddim_model_load(DDIM_FIXTURES_DIR "/google_f32", &error);
  g_assert_no_error(error);
  g_test_add_func("/unet-batch/nine", test_batch_of_nine);
  g_test_add_func("/unet-batch/three", test_batch_of_three);
  g_test_add_func("/unet-batch/abort", test_abort_in_chunks);
  g_test_add_func("/unet-batch/winograd", test_winograd);
  int status = g_test_run();
  ddim_model_free(model);
  return status;
}
