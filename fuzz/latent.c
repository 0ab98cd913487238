/* latent.c — libFuzzer target: the latent byte format ("DDIMLAT\0" v1) that
 * the plug-in keeps in layer parasites (and so in XCF files).
 *
 * Bytes go to ddim_latent_parse; an accepted latent has every value read and
 * must serialize back to exactly the input bytes (one encoding per latent).  Built and run by
 * tools/fuzz.sh. */
#include "ddim-latent.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  GError *error = NULL;
  DdimLatent *latent = ddim_latent_parse(data, size, "fuzz", &error);
  if (latent) {
    for (size_t i = 0; i < ddim_shape_elements(latent->shape); i++)
      if (!isfinite(latent->data[i])) __builtin_trap();
    GBytes *again = ddim_latent_serialize(latent);
    gsize length = 0;
    const void *bytes = g_bytes_get_data(again, &length);
    if (length != size || memcmp(bytes, data, size) != 0) __builtin_trap();
    g_bytes_unref(again);
    ddim_latent_free(latent);
  }
  g_clear_error(&error);
  return 0;
}
