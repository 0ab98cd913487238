/* test-pixels.c — the channel rules of ddim-pixels.h, with exact values. */
#include "ddim-pixels.h"

#include <math.h>

static void assert_floats(const float *got, const float *expected, int count) {
  for (int i = 0; i < count; i++) g_assert_cmpfloat(got[i], ==, expected[i]);
}

/* Two RGB pixels become planar [-1, 1]: x = 2p − 1. */
static void test_rgb_to_rgb_planar(void) {
  const float pixels[] = {0.0f, 0.5f, 1.0f, 0.25f, 0.75f, 0.5f};
  float tensor[6];
  ddim_pixels_to_tensor(pixels, 2, 1, 3, 3, tensor);
  const float expected[] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 0.0f};
  assert_floats(tensor, expected, 6);
}

static void test_grey_replicated(void) {
  const float grey[] = {0.25f, 1.0f};
  float tensor[8];
  ddim_pixels_to_tensor(grey, 2, 1, 1, 3, tensor);
  const float rgb[] = {-0.5f, 1.0f, -0.5f, 1.0f, -0.5f, 1.0f};
  assert_floats(tensor, rgb, 6);

  /* Grey + alpha into RGBA: replicated, premultiplied. */
  const float grey_alpha[] = {0.5f, 0.5f, 1.0f, 0.0f};
  ddim_pixels_to_tensor(grey_alpha, 2, 1, 2, 4, tensor);
  const float rgba[] = {-0.5f, -1.0f, -0.5f, -1.0f, -0.5f, -1.0f, 0.0f, -1.0f};
  assert_floats(tensor, rgba, 8);
}

static void test_premultiply(void) {
  const float pixels[] = {1.0f, 0.5f, 0.25f, 0.5f, 0.75f, 0.75f, 0.75f, 1.0f};
  float tensor[8];
  ddim_pixels_to_tensor(pixels, 2, 1, 4, 4, tensor);
  /* (1, .5, .25) × .5 = (.5, .25, .125); opaque pixel unchanged. */
  const float expected[] = {0.0f, 0.5f, -0.5f, 0.5f, -0.75f, 0.5f, 0.0f, 1.0f};
  assert_floats(tensor, expected, 8);

  /* Fully transparent pixels all map to one point, whatever their colour. */
  const float transparent[] = {0.3f, 0.9f, 0.1f, 0.0f};
  ddim_pixels_to_tensor(transparent, 1, 1, 4, 4, tensor);
  const float zero[] = {-1.0f, -1.0f, -1.0f, -1.0f};
  assert_floats(tensor, zero, 4);

  /* RGB into an RGBA model: alpha 1. */
  const float rgb[] = {0.5f, 0.25f, 0.0f};
  ddim_pixels_to_tensor(rgb, 1, 1, 3, 4, tensor);
  const float opaque[] = {0.0f, -0.5f, -1.0f, 1.0f};
  assert_floats(tensor, opaque, 4);

  /* RGBA into an RGB model: alpha dropped, colour not premultiplied. */
  ddim_pixels_to_tensor(pixels, 1, 1, 4, 3, tensor);
  const float dropped[] = {1.0f, 0.0f, -0.5f};
  assert_floats(tensor, dropped, 3);
}

static void test_luma(void) {
  const float pixels[] = {1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  float tensor[4];
  ddim_pixels_to_tensor(pixels, 4, 1, 3, 1, tensor);
  g_assert_cmpfloat_with_epsilon(tensor[0], 2 * 0.2126f - 1, 1e-6);
  g_assert_cmpfloat_with_epsilon(tensor[1], 2 * 0.7152f - 1, 1e-6);
  g_assert_cmpfloat_with_epsilon(tensor[2], 2 * 0.0722f - 1, 1e-6);
  g_assert_cmpfloat_with_epsilon(tensor[3], 1.0f, 1e-6);

  /* Grey stays exactly grey; grey+alpha drops alpha. */
  const float grey_alpha[] = {0.375f, 0.5f};
  ddim_pixels_to_tensor(grey_alpha, 1, 1, 2, 1, tensor);
  g_assert_cmpfloat(tensor[0], ==, -0.25f);
}

static void test_input_clamped(void) {
  const float pixels[] = {-0.5f, 1.5f, NAN};
  float tensor[3];
  ddim_pixels_to_tensor(pixels, 1, 1, 3, 3, tensor);
  const float expected[] = {-1.0f, 1.0f, -1.0f};
  assert_floats(tensor, expected, 3);
}

static void test_channels_for_model(void) {
  g_assert_cmpint(ddim_pixels_channels_for_model(1), ==, 1);
  g_assert_cmpint(ddim_pixels_channels_for_model(3), ==, 3);
  g_assert_cmpint(ddim_pixels_channels_for_model(4), ==, 4);
}

static void test_tensor_to_pixels(void) {
  /* RGB: planar to interleaved, p = (x + 1) / 2, clamped (NaN → 0). */
  const float rgb_tensor[] = {-1.0f, 0.5f, 0.0f, 3.0f, -0.5f, NAN};
  float pixels[8];
  ddim_tensor_to_pixels(rgb_tensor, 2, 1, 3, pixels);
  const float rgb[] = {0.0f, 0.5f, 0.25f, 0.75f, 1.0f, 0.0f};
  assert_floats(pixels, rgb, 6);

  const float grey_tensor[] = {-0.5f, -2.0f};
  ddim_tensor_to_pixels(grey_tensor, 2, 1, 1, pixels);
  const float grey[] = {0.25f, 0.0f};
  assert_floats(pixels, grey, 2);
}

static void test_unpremultiply(void) {
  /* Pixel 0: the premultiplied (.5, .25, .125, .5) → (1, .5, .25, .5).
   * Pixel 1: alpha 0 → black, transparent. */
  const float tensor[] = {0.0f, -1.0f, -0.5f, 0.5f, -0.75f, 0.5f, 0.0f, -1.0f};
  float pixels[8];
  ddim_tensor_to_pixels(tensor, 2, 1, 4, pixels);
  const float expected[] = {1.0f, 0.5f, 0.25f, 0.5f, 0.0f, 0.0f, 0.0f, 0.0f};
  assert_floats(pixels, expected, 8);

  /* Colour above alpha (the network is free to produce it) clamps to 1. */
  const float over[] = {0.0f, -0.5f, -1.0f, -0.5f};
  ddim_tensor_to_pixels(over, 1, 1, 4, pixels);
  const float clamped[] = {1.0f, 1.0f, 0.0f, 0.25f};
  assert_floats(pixels, clamped, 4);
}

static void test_round_trip_rgba(void) {
  const float pixels[] = {0.8f, 0.4f, 0.2f, 0.5f, 0.1f, 0.2f, 0.3f, 1.0f};
  float tensor[8], back[8];
  ddim_pixels_to_tensor(pixels, 2, 1, 4, 4, tensor);
  ddim_tensor_to_pixels(tensor, 2, 1, 4, back);
  for (int i = 0; i < 8; i++) g_assert_cmpfloat_with_epsilon(back[i], pixels[i], 1e-6);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/pixels/to-tensor/rgb-planar", test_rgb_to_rgb_planar);
  g_test_add_func("/pixels/to-tensor/grey-replicated", test_grey_replicated);
  g_test_add_func("/pixels/to-tensor/premultiply", test_premultiply);
  g_test_add_func("/pixels/to-tensor/luma", test_luma);
  g_test_add_func("/pixels/to-tensor/clamped", test_input_clamped);
  g_test_add_func("/pixels/channels-for-model", test_channels_for_model);
  g_test_add_func("/pixels/to-pixels/rgb-grey", test_tensor_to_pixels);
  g_test_add_func("/pixels/to-pixels/unpremultiply", test_unpremultiply);
  g_test_add_func("/pixels/round-trip/rgba", test_round_trip_rgba);
  return g_test_run();
}
