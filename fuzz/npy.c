/* npy.c — libFuzzer target: NumPy .npy files (latents and images).
 *
 * Bytes go to ddim_npy_parse (magic, version, the Python-literal header,
 * shape, dtype, data length); an accepted array has every value read.
 * Built and run by tools/fuzz.sh. */
#include "ddim-io.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  GError *error = NULL;
  float *values = NULL;
  DdimShape shape;
  int rank = 0;
  if (ddim_npy_parse(data, size, "fuzz", &values, &shape, &rank, &error)) {
    if ((rank != 3 && rank != 4) || shape.n < 1 || shape.c < 1 || shape.h < 1 || shape.w < 1)
      __builtin_trap();
    volatile float sum = 0.0f;
    for (size_t i = 0; i < ddim_shape_elements(shape); i++) sum += values[i];
    g_free(values);
  }
  g_clear_error(&error);
  return 0;
}
