/* torch-checkpoint.c — libFuzzer target: the whole PyTorch checkpoint reader.
 *
 * Bytes go through format detection, the zip directory or the legacy
 * stream, the restricted unpickler, state-dict selection and the tensor
 * table; a table that comes back has every tensor byte read (so ASan sees a
 * pointer outside the input), and an original-layout table is renamed and
 * has its config inferred.  Built and run by tools/fuzz.sh. */
#include "ddpm-original.h"
#include "torch-checkpoint.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  GError *error = NULL;
  char *description = NULL;
  DdimSafetensors *table = ddim_torch_checkpoint_parse(data, size, "fuzz", &description, &error);
  if (table) {
    volatile guint8 sum = 0;
    for (int i = 0; i < table->n_tensors; i++)
      for (uint64_t b = 0; b < table->tensors[i].nbytes; b++) sum ^= table->tensors[i].data[b];
    if (ddim_ddpm_original_detect(table) && ddim_ddpm_original_to_diffusers(table, NULL)) {
      char *config = ddim_ddpm_original_infer_config(table, NULL, NULL);
      g_free(config);
    }
    ddim_safetensors_free(table);
  }
  g_free(description);
  g_clear_error(&error);
  return 0;
}
