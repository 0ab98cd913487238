/* ddim-convert.h — models from PyTorch checkpoints, and their one-time
 * conversion to a diffusers safetensors folder.
 *
 * ddim_model_load (ddim.h) opens .bin/.ckpt/.pt files and folders holding
 * them as well as safetensors: diffusers' diffusion_pytorch_model.bin (also
 * sharded with a .bin.index.json), original DDPM/DDIM checkpoints (plain
 * state dicts and ermongroup/ddim training checkpoints, EMA weights
 * preferred), in the zip format of PyTorch ≥ 1.6 or the legacy one.  They
 * are read by a restricted unpickler that never runs code.  Converting once
 * gives a folder that opens with no unpickling at all. */
#ifndef DDIM_CONVERT_H
#define DDIM_CONVERT_H

#include "ddim.h"

G_BEGIN_DECLS

/* ddim_model_load with the network config forced: `config` is a diffusers
 * config.json file or the name of an official DDPM/DDIM config ("cifar10",
 * "celeba", "lsun"); NULL behaves as ddim_model_load.  Without config.json,
 * an original-layout checkpoint's config is inferred from its shapes; then
 * DdimModelInfo.config_path is NULL. */
DdimModel *ddim_model_load_with_config(const char *path, const char *config, GError **error);

/* What was loaded, for display: the weights format, the part of the
 * checkpoint used and where the config came from, e.g. "PyTorch legacy
 * checkpoint, EMA weights of a training checkpoint; original DDPM layout;
 * official DDPM CIFAR-10 32×32 config, inferred from the tensor shapes". */
const char *ddim_model_get_source(const DdimModel *model);

typedef enum {
  DDIM_CONVERT_F32,          /* every tensor as float32 */
  DDIM_CONVERT_SOURCE_DTYPE, /* each tensor in the dtype it was stored in */
} DdimConvertDtype;

/* Write a diffusers UNet folder: config.json (the config the model was
 * loaded with), diffusion_pytorch_model.safetensors (diffusers key names)
 * and scheduler_config.json (the schedule in use).  out_dir is created if
 * needed; a folder that already holds config.json or the weights is
 * refused.  The result loads to bit-identical outputs. */
gboolean ddim_model_convert(const DdimModel *model, const char *out_dir, DdimConvertDtype dtype,
                            GError **error);

G_END_DECLS

#endif /* DDIM_CONVERT_H */
