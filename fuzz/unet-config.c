/* unet-config.c — libFuzzer target: a UNet2DModel config.json.
 *
 * Bytes go to ddim_unet_config_parse; an accepted config must hold values
 * the network builder can trust (block count, channels, heads dividing the
 * channels of blocks with attention), which is asserted.  Built and run by tools/fuzz.sh. */
#include "unet-config.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  GError *error = NULL;
  DdimUnetConfig config;
  if (ddim_unet_config_parse((const char *)data, (gssize)size, "fuzz", &config, &error)) {
    if (config.n_blocks < 1 || config.n_blocks > DDIM_MAX_BLOCKS) __builtin_trap();
    if (config.in_channels < 1 || config.out_channels < 1) __builtin_trap();
    if (config.layers_per_block < 1 || config.layers_per_block > DDIM_MAX_LAYERS_PER_BLOCK)
      __builtin_trap();
    if (config.sample_height < 0 || config.sample_height > DDIM_MAX_SIDE) __builtin_trap();
    for (int i = 0; i < config.n_blocks; i++) {
      int channels = config.block_out_channels[i];
      if (channels < 1 || channels > DDIM_MAX_CHANNELS) __builtin_trap();
      gboolean attention = config.down_attention[i] || config.up_attention[config.n_blocks - 1 - i];
      if (attention && (ddim_unet_config_heads(&config, channels) < 1 ||
                        (config.attention_head_dim && channels % config.attention_head_dim)))
        __builtin_trap();
    }
  }
  g_clear_error(&error);
  return 0;
}
