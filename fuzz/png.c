/* png.c — libFuzzer target: PNG input images.
 *
 * Bytes go to ddim_png_read_memory (libpng with our size limits and error
 * landing); an accepted image has every value read and checked to lie in
 * [0, 1].  Built and run by tools/fuzz.sh. */
#include "ddim-io.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  GError *error = NULL;
  DdimImage *image = ddim_png_read_memory(data, size, "fuzz", &error);
  if (image) {
    if (image->channels < 1 || image->channels > 4) __builtin_trap();
    size_t values = (size_t)image->width * (size_t)image->height * (size_t)image->channels;
    for (size_t i = 0; i < values; i++)
      if (!(image->pixels[i] >= 0.0f && image->pixels[i] <= 1.0f)) __builtin_trap();
    ddim_image_free(image);
  }
  g_clear_error(&error);
  return 0;
}
