/* attention.c — the self-attention of AttnDownBlock2D / AttnUpBlock2D /
 * UNetMidBlock2D (diffusers Attention with residual_connection), as sgemm.
 *
 * Tokens are pixels in row-major order; channel-major storage makes
 * Q = Wq·X + bq a plain GEMM, and per head S = scale·Q_hᵀK_h, softmax over
 * keys (max-subtracted, so it cannot overflow), O_h = V_h·Sᵀ. */
#include "gemm.h"
#include "kernels.h"
#include "parallel.h"

#include <math.h>
#include <string.h>

size_t ddim_attention_scratch_elements(const DdimAttention *attn, size_t pixels) {
  /* normed, q, k, v, o (C × pixels each) + scores (pixels × pixels). */
  return 5 * (size_t)attn->channels * pixels + pixels * pixels;
}

static void softmax_rows(float *scores, size_t rows, size_t cols) {
  DDIM_PARALLEL_FOR_IF(rows * cols >= DDIM_PARALLEL_MIN_WORK)
  for (size_t i = 0; i < rows; i++) {
    float *row = scores + i * cols;
    float max = row[0];
    for (size_t j = 1; j < cols; j++)
      if (row[j] > max) max = row[j];
    double sum = 0.0;
    for (size_t j = 0; j < cols; j++) {
      row[j] = expf(row[j] - max);
      sum += row[j];
    }
    const float inv = (float)(1.0 / sum);
    for (size_t j = 0; j < cols; j++) row[j] *= inv;
  }
}

void ddim_attention(const DdimAttention *attn, float *x, size_t pixels, float *scratch) {
  const int C = attn->channels;
  const size_t plane = (size_t)C * pixels;
  float *normed = scratch, *q = normed + plane, *k = q + plane, *v = k + plane, *o = v + plane;
  float *scores = o + plane;

  if (attn->has_norm)
    ddim_group_norm(&attn->norm, x, pixels, NULL, NULL, NULL, FALSE, DDIM_ACT_SILU, normed);
  else
    memcpy(normed, x, sizeof(float) * plane);
  ddim_linear_cm(attn->wq, attn->bq, C, C, normed, pixels, q);
  ddim_linear_cm(attn->wk, attn->bk, C, C, normed, pixels, k);
  ddim_linear_cm(attn->wv, attn->bv, C, C, normed, pixels, v);

  const int head_dim = C / attn->heads;
  const float scale = 1.0f / sqrtf((float)head_dim);
  const int n = (int)pixels;
  for (int h = 0; h < attn->heads; h++) {
    const size_t offset = (size_t)h * (size_t)head_dim * pixels;
    /* scores[i][j] = scale · Σ_c q[c][i] k[c][j] */
    ddim_gemm(TRUE, FALSE, n, n, head_dim, q + offset, n, k + offset, n, 0.0f, scores, n);
    const size_t score_count = pixels * pixels;
    DDIM_PARALLEL_FOR_IF(score_count >= DDIM_PARALLEL_MIN_WORK)
    for (size_t i = 0; i < score_count; i++) scores[i] *= scale;
    softmax_rows(scores, pixels, pixels);
    /* o[c][i] = Σ_j v[c][j] scores[i][j] */
    ddim_gemm(FALSE, TRUE, head_dim, n, n, v + offset, n, scores, n, 0.0f, o + offset, n);
  }
  /* x = (to_out(o) + x) / rescale_output_factor */
  ddim_linear_cm(attn->wo, attn->bo, C, C, o, pixels, normed);
  const float inv_rescale = 1.0f / attn->rescale_output_factor;
  DDIM_PARALLEL_FOR_IF(plane >= DDIM_PARALLEL_MIN_WORK)
  for (size_t i = 0; i < plane; i++) x[i] = (normed[i] + x[i]) * inv_rescale;
}
