/* ddpm-original.h — the original DDPM / DDIM network layout (Ho et al.'s
 * TF U-Net as ported by pesser/pytorch_diffusion and ermongroup/ddim
 * models/diffusion.py) mapped onto diffusers' UNet2DModel.
 *
 * Keys: temb.dense.{0,1}, conv_in, down.L.block.j.{norm1,conv1,temb_proj,
 * norm2,conv2,nin_shortcut}, down.L.attn.j.{norm,q,k,v,proj_out},
 * down.L.downsample.conv, mid.{block_1,attn_1,block_2}, up.L.* (L counted
 * from full resolution, the reverse of up_blocks), up.L.upsample.conv,
 * norm_out, conv_out; q/k/v/proj_out are 1×1 convolutions.
 *
 * The config follows the original conventions: 32 GroupNorm groups with
 * eps 1e-6, [sin | cos] embedding with frequencies exp(−ln(1e4)·i/(half−1))
 * (flip_sin_to_cos false, freq_shift 1), right/bottom padding before the
 * stride-2 downsampling conv (downsample_padding 0), one attention head. */
#ifndef DDIM_DDPM_ORIGINAL_H
#define DDIM_DDPM_ORIGINAL_H

#include "safetensors.h"

#include <glib.h>

/* Whether the table holds the original layout (temb.dense.0.weight). */
gboolean ddim_ddpm_original_detect(const DdimSafetensors *table);

/* Rename every tensor to its diffusers name and squeeze the 1×1 attention
 * convolutions to matrices; refuses a key outside the layout. */
gboolean ddim_ddpm_original_to_diffusers(DdimSafetensors *table, GError **error);

/* The config.json text of a network in diffusers names (after the renaming)
 * inferred from its tensor shapes: channels, levels, residual blocks and
 * attention levels; the native size assumes attention at 16×16 as in every
 * official model.  *description names the official model it matches. */
char *ddim_ddpm_original_infer_config(const DdimSafetensors *table, char **description,
                                      GError **error);

/* The config.json text of an official model: "cifar10" (32×32), "celeba"
 * (64×64), "lsun" (256×256; also "bedroom", "church", "cat", "celebahq");
 * NULL for another name. */
char *ddim_ddpm_official_config(const char *name, char **description);

/* "cifar10, celeba, lsun" for messages. */
const char *ddim_ddpm_official_names(void);

#endif
