/* safetensors.c — libFuzzer target: the safetensors header and tensor table.
 *
 * Bytes go to ddim_safetensors_parse (header length, JSON, dtypes, shapes,
 * offsets tiling the buffer); a table that comes back has every tensor byte
 * read and converted to float32, so ASan sees a pointer outside the input.
 * Built and run by tools/fuzz.sh. */
#include "safetensors.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  GError *error = NULL;
  DdimSafetensors *table = ddim_safetensors_parse(data, size, "fuzz", &error);
  if (table) {
    volatile float sum = 0.0f;
    for (int i = 0; i < table->n_tensors; i++) {
      const DdimStTensor *tensor = &table->tensors[i];
      if (ddim_safetensors_find(table, tensor->name) != tensor) __builtin_trap();
      if (tensor->dtype == DDIM_DTYPE_OTHER || tensor->elements > (1u << 20)) {
        volatile guint8 bytes = 0;
        for (uint64_t b = 0; b < tensor->nbytes; b++) bytes ^= tensor->data[b];
        continue;
      }
      float *values = g_new(float, tensor->elements ? tensor->elements : 1);
      if (!ddim_st_tensor_to_f32(tensor, values)) __builtin_trap();
      for (uint64_t e = 0; e < tensor->elements; e++) sum += values[e];
      g_free(values);
    }
    ddim_safetensors_free(table);
  }
  g_clear_error(&error);
  return 0;
}
