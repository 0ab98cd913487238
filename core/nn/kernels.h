/* kernels.h — the network's compute kernels on one image, channel-major
 * (C, H·W) float32 buffers.  Matrix products go through gemm.c. */
#ifndef DDIM_KERNELS_H
#define DDIM_KERNELS_H

#include <glib.h>
#include <stddef.h>

#include "unet-config.h"

/* ---- conv.c ---- */

typedef struct {
  int in_channels, out_channels;
  int kernel;            /* 1 or 3 */
  int stride;            /* 1 or 2 */
  int pad_top, pad_left; /* bottom/right padding follows from the output size */
  gboolean upsample2x;   /* read the input through nearest ×2 upsampling (Upsample2D) */
  const float *weight;   /* [out, in, k, k] (PyTorch layout, cross-correlation) */
  const float *bias;     /* [out] */
} DdimConv;

/* Elements of im2col scratch a conv needs for an output of out_h × out_w. */
size_t ddim_conv_scratch_elements(const DdimConv *conv, int out_h, int out_w);

/* y (out_channels × out_h·out_w) = conv(x (in_channels × in_h·in_w)). */
void ddim_conv2d(const DdimConv *conv, const float *x, int in_h, int in_w, float *y, int out_h,
                 int out_w, float *scratch);

/* The same for a batch of images (x: batch × in_channels × in_h·in_w, y:
 * batch × out_channels × out_h·out_w) in one GEMM, for small images where a
 * GEMM per image would be too narrow.  Use when ddim_conv_use_batched(). */
gboolean ddim_conv_use_batched(const DdimConv *conv, int batch, int out_h, int out_w);
size_t ddim_conv_batched_scratch_elements(const DdimConv *conv, int batch, int out_h, int out_w);
void ddim_conv2d_batched(const DdimConv *conv, const float *x, int batch, int in_h, int in_w,
                         float *y, int out_h, int out_w, float *scratch);

/* A 3×3, stride-1 convolution with "same" padding whose output is its
 * (possibly ×2 upsampled) input's size: what the direct kernels and
 * Winograd compute. */
gboolean ddim_conv_is_same_3x3(const DdimConv *conv, int in_h, int in_w, int out_h, int out_w);

/* ---- conv-direct.c ---- */

/* 3×3 stride-1 convolutions of thin layers on small images, computed
 * directly (AVX2/FMA) for a whole batch.  Use when ddim_conv_direct_applies(). */
gboolean ddim_conv_direct_applies(const DdimConv *conv, int batch, int in_h, int in_w, int out_h,
                                  int out_w);
size_t ddim_conv_direct_scratch_elements(const DdimConv *conv, int batch, int out_h, int out_w);
void ddim_conv2d_direct(const DdimConv *conv, const float *x, int batch, int in_h, int in_w,
                        float *y, int out_h, int out_w, float *scratch);

/* ---- conv-winograd.c ---- */

/* 3×3 stride-1 convolutions by Winograd F(tile×tile, 3×3), tile 2 (2.25×
 * fewer multiplications, float32 rounding differences only; the default for
 * large layers) or 4 (4× fewer, about two digits less precise; the fast
 * mode) — see ddim_model_set_convolutions.  Any output size. */
size_t ddim_conv_winograd_scratch_elements(const DdimConv *conv, int tile, int batch, int out_h,
                                           int out_w);
void ddim_conv2d_winograd(const DdimConv *conv, int tile, const float *x, int batch, int in_h,
                          int in_w, float *y, int out_h, int out_w, float *scratch);

/* y (out × n) = W (out × in) · x (in × n) + b: a Linear on tokens stored
 * channel-major, or a 1×1 convolution. */
void ddim_linear_cm(const float *weight, const float *bias, int out_features, int in_features,
                    const float *x, size_t n, float *y);

/* y[b] (out) = W x[b] + bias for a batch of row vectors (nn.Linear). */
void ddim_linear_rows(const float *weight, const float *bias, int out_features, int in_features,
                      const float *x, int batch, float *y);

/* ---- groupnorm.c ---- */

typedef struct {
  int channels, groups;
  float eps;
  const float *gamma, *beta; /* [channels] */
} DdimGroupNorm;

/* out = act(GroupNorm(x + add) · (1 + scale) + shift), every extra optional
 * (NULL): add/scale/shift are per-channel vectors (time-embedding
 * projections).  out may equal x.  With add, x itself is left unchanged. */
void ddim_group_norm(const DdimGroupNorm *norm, const float *x, size_t pixels, const float *add,
                     const float *scale, const float *shift, gboolean apply_act, DdimActivation act,
                     float *out);

void ddim_activation(DdimActivation act, float *x, size_t n);
float ddim_silu(float x);

/* ---- attention.c ---- */

typedef struct {
  int channels, heads;
  gboolean has_norm;
  DdimGroupNorm norm;
  const float *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo; /* [C, C] and [C] */
  float rescale_output_factor;
} DdimAttention;

size_t ddim_attention_scratch_elements(const DdimAttention *attn, size_t pixels);

/* x (C × pixels) += attention(x), then divided by rescale_output_factor. */
void ddim_attention(const DdimAttention *attn, float *x, size_t pixels, float *scratch);

#endif
