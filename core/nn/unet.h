/* unet.h — the UNet2DModel network: weights bound from a safetensors file,
 * and a forward pass over a planned activation arena. */
#ifndef DDIM_UNET_H
#define DDIM_UNET_H

#include "ddim.h"
#include "kernels.h"
#include "safetensors.h"
#include "unet-config.h"

typedef struct DdimUnet DdimUnet;

/* Bind every tensor the config needs (both attention key spellings, 1×1
 * attention convs squeezed); refuse missing, mis-shaped, unconvertible and
 * unexpected tensors.  The file must outlive the network. */
DdimUnet *ddim_unet_new(const DdimUnetConfig *config, const DdimSafetensors *weights,
                        GError **error);
void ddim_unet_free(DdimUnet *net);

uint64_t ddim_unet_parameter_count(const DdimUnet *net);
uint64_t
ddim_unet_weight_bytes(const DdimUnet *net); /* the weights as float32, mapped or converted */
/* Floating-point operations of one forward pass (convolutions, linears, attention). */
double ddim_unet_flops(const DdimUnet *net, DdimShape shape);
uint64_t ddim_unet_arena_bytes(const DdimUnet *net, DdimShape shape);

/* Whether the arena is already planned for this shape. */
gboolean ddim_unet_has_plan(const DdimUnet *net, DdimShape shape);

/* How 3×3 convolutions of large layers run (changing it replans). */
void ddim_unet_set_convolutions(DdimUnet *net, DdimConvolutions convolutions);

/* The check ddim_unet_forward asks between blocks (NULL: none). */
void ddim_unet_set_abort(DdimUnet *net, DdimAbortFunc abort, gpointer data);

/* eps = ε_θ(x, t) for a batch; (re)plans the arena when the shape changes. */
gboolean ddim_unet_forward(DdimUnet *net, const float *x, DdimShape shape, const float *timesteps,
                           float *eps, GError **error);

#endif
