/* unet-config.h — a diffusers UNet2DModel config.json, with diffusers'
 * defaults for missing keys (configuration_utils: a missing key takes the
 * __init__ default; null attention_head_dim means one head). */
#ifndef DDIM_UNET_CONFIG_H
#define DDIM_UNET_CONFIG_H

#include <glib.h>

#define DDIM_MAX_BLOCKS 8
#define DDIM_MAX_CHANNELS 8192
#define DDIM_MAX_LAYERS_PER_BLOCK 16
#define DDIM_MAX_SIDE 16384
/* The native resolution a config may state: published UNet2DModel
 * checkpoints are 32 to 1024 pixels; a larger "sample_size" is a damaged or
 * hostile config, and would make a default-size run take hours. */
#define DDIM_MAX_SAMPLE_SIZE 4096

typedef enum {
  DDIM_ACT_SILU,
  DDIM_ACT_MISH,
  DDIM_ACT_GELU,
  DDIM_ACT_RELU,
} DdimActivation;

typedef struct {
  int sample_height, sample_width;
  int in_channels, out_channels;
  gboolean center_input_sample;
  gboolean flip_sin_to_cos;
  double freq_shift;
  int time_embedding_dim; /* 4 × block_out_channels[0] unless given */
  int n_blocks;
  int block_out_channels[DDIM_MAX_BLOCKS];
  gboolean down_attention[DDIM_MAX_BLOCKS]; /* AttnDownBlock2D vs DownBlock2D */
  gboolean up_attention[DDIM_MAX_BLOCKS];   /* AttnUpBlock2D vs UpBlock2D, diffusers order */
  int layers_per_block;
  double mid_block_scale_factor;
  int downsample_padding; /* 0: pad right/bottom by one, then stride-2 conv */
  DdimActivation act_fn;  /* resnets only; time embedding and output use SiLU */
  int attention_head_dim; /* 0 = one head of all channels */
  int norm_num_groups;
  int attn_norm_num_groups; /* mid attention; 0 = no group norm there */
  double norm_eps;
  gboolean scale_shift; /* resnet_time_scale_shift == "scale_shift" */
  gboolean has_mid_block;
  gboolean mid_attention; /* add_attention */
} DdimUnetConfig;

/* Parse config.json text; path is used in messages. */
gboolean ddim_unet_config_parse(const char *text, gssize length, const char *path,
                                DdimUnetConfig *config, GError **error);
gboolean ddim_unet_config_load(const char *path, DdimUnetConfig *config, GError **error);

/* Number of attention heads in a block of `channels` channels. */
int ddim_unet_config_heads(const DdimUnetConfig *config, int channels);

#endif
