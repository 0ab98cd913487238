/* conv-winograd.c — 3×3 stride-1 convolutions by Winograd's minimal
 * filtering F(2×2, 3×3) (Lavin & Gray 2016), the default for layers of
 * 64×64 and larger (unet.c).
 *
 * Every 2×2 block of outputs comes from a 4×4 block of input: with
 * V = Bᵀ d B (input), U = G g Gᵀ (weights) and M = U ⊙ V summed over input
 * channels, Y = Aᵀ M A.  The sum over channels is 16 independent matrix
 * products M[ξ] (Cout × tiles) = U[ξ] (Cout × Cin) · V[ξ] (Cin × tiles), one
 * per position ξ of the 4×4 transformed block: 16 multiplications per 4
 * outputs instead of 36, 2.25× fewer than direct convolution.  The
 * transforms only add and halve, so in float32 the result is as close to
 * the exact sum as the direct one (tests/test-kernels.c: ~1e-7 of the sum
 * of magnitudes for both; ε of the 256×256 network within 2.3e-6 of the
 * all-direct one, docs/performance.md).
 *
 * Tiles are processed in bands of whole tile rows so that V and M stay a few
 * MB whatever the image size.  The products go through ddim_gemm (tiled by
 * shape, same bits for any thread count); transforms are parallel over
 * channels. */
#include "gemm.h"
#include "kernels.h"
#include "parallel.h"

#include <string.h>

/* About 16 MB of V (and of M) per band: wide products, few barriers. */
#define BAND_ELEMENTS ((size_t)1 << 22)

static int band_tile_rows(const DdimConv *conv, int tiles_y, int tiles_x) {
  const int channels =
      conv->in_channels > conv->out_channels ? conv->in_channels : conv->out_channels;
  size_t per_row = 16 * (size_t)channels * (size_t)tiles_x;
  size_t rows = per_row ? BAND_ELEMENTS / per_row : 1;
  if (rows < 1) rows = 1;
  if (rows > (size_t)tiles_y) rows = (size_t)tiles_y;
  return (int)rows;
}

gboolean ddim_conv_winograd_applies(const DdimConv *conv, int in_h, int in_w, int out_h,
                                    int out_w) {
  if (conv->kernel != 3 || conv->stride != 1 || conv->pad_top != 1 || conv->pad_left != 1)
    return FALSE;
  const int eff_h = conv->upsample2x ? 2 * in_h : in_h;
  const int eff_w = conv->upsample2x ? 2 * in_w : in_w;
  return out_h == eff_h && out_w == eff_w;
}

static size_t transformed_weight_elements(const DdimConv *conv) {
  return 16 * (size_t)conv->out_channels * (size_t)conv->in_channels;
}

size_t ddim_conv_winograd_scratch_elements(const DdimConv *conv, int out_h, int out_w) {
  const int tiles_y = (out_h + 1) / 2, tiles_x = (out_w + 1) / 2;
  const size_t band_tiles = (size_t)band_tile_rows(conv, tiles_y, tiles_x) * (size_t)tiles_x;
  return transformed_weight_elements(conv) +
         16 * band_tiles * (size_t)(conv->in_channels + conv->out_channels);
}

/* U[ξ][co][ci] = (G g Gᵀ)[ξ] with G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]. */
static void transform_weights(const DdimConv *conv, float *u) {
  const int cin = conv->in_channels, cout = conv->out_channels;
  const size_t plane = (size_t)cout * (size_t)cin;
  DDIM_PARALLEL_FOR_IF(plane * 16 >= DDIM_PARALLEL_MIN_WORK)
  for (int co = 0; co < cout; co++) {
    for (int ci = 0; ci < cin; ci++) {
      const float *g = conv->weight + ((size_t)co * (size_t)cin + (size_t)ci) * 9;
      float t[4][3]; /* G g: 4 × 3 */
      for (int c = 0; c < 3; c++) {
        t[0][c] = g[0 * 3 + c];
        t[1][c] = 0.5f * (g[0 * 3 + c] + g[1 * 3 + c] + g[2 * 3 + c]);
        t[2][c] = 0.5f * (g[0 * 3 + c] - g[1 * 3 + c] + g[2 * 3 + c]);
        t[3][c] = g[2 * 3 + c];
      }
      const size_t at = (size_t)co * (size_t)cin + (size_t)ci;
      for (int r = 0; r < 4; r++) { /* (G g) Gᵀ: 4 × 4 */
        u[(size_t)(r * 4 + 0) * plane + at] = t[r][0];
        u[(size_t)(r * 4 + 1) * plane + at] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
        u[(size_t)(r * 4 + 2) * plane + at] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
        u[(size_t)(r * 4 + 3) * plane + at] = t[r][2];
      }
    }
  }
}

/* Row y of the convolution's zero-padded (and possibly ×2 upsampled) input
 * split by column parity around the tiles: even[k] = input(y, 2k − 1),
 * odd[k] = input(y, 2k), k = 0 … tiles_x.  Tile tx then reads its four
 * columns as even[tx], odd[tx], even[tx + 1], odd[tx + 1] — contiguous in
 * tx, so the transforms below vectorise over tiles. */
static void split_row(const DdimConv *conv, const float *plane, int in_w, int out_h, int out_w,
                      int y, int tiles_x, float *even, float *odd) {
  for (int k = 0; k <= tiles_x; k++) {
    even[k] = 0.0f;
    odd[k] = 0.0f;
  }
  if (y < 0 || y >= out_h) return;
  const float *row = plane + (size_t)(conv->upsample2x ? y >> 1 : y) * (size_t)in_w;
  for (int k = 0; k <= tiles_x; k++) {
    const int x_even = 2 * k - 1, x_odd = 2 * k;
    if (x_even >= 0 && x_even < out_w) even[k] = row[conv->upsample2x ? x_even >> 1 : x_even];
    if (x_odd < out_w) odd[k] = row[conv->upsample2x ? x_odd >> 1 : x_odd];
  }
}

/* V[ξ][ci][t] = (Bᵀ d B)[ξ] for the band's tiles, with
 * Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]. */
static void transform_input(const DdimConv *conv, const float *x, int in_h, int in_w, int out_h,
                            int out_w, int tile_row0, int tile_rows, int tiles_x, float *v) {
  const int cin = conv->in_channels;
  const size_t band_tiles = (size_t)tile_rows * (size_t)tiles_x;
  const size_t stride_xi = (size_t)cin * band_tiles;
  const size_t split = (size_t)tiles_x + 1;
  DDIM_PARALLEL_FOR_IF((size_t)cin * band_tiles * 16 >= DDIM_PARALLEL_MIN_WORK)
  for (int ci = 0; ci < cin; ci++) {
    const float *plane = x + (size_t)ci * (size_t)in_h * (size_t)in_w;
    float *columns = g_new(float, 8 * split); /* even/odd of the 4 rows */
    for (int ty = 0; ty < tile_rows; ty++) {
      const int y0 = 2 * (tile_row0 + ty) - 1;
      for (int r = 0; r < 4; r++)
        split_row(conv, plane, in_w, out_h, out_w, y0 + r, tiles_x, columns + (2 * r) * split,
                  columns + (2 * r + 1) * split);
      /* d[r][0..3] = E_r[tx], O_r[tx], E_r[tx + 1], O_r[tx + 1] */
      float *out = v + (size_t)ci * band_tiles + (size_t)ty * (size_t)tiles_x;
      for (int c = 0; c < 4; c++) {
        /* column c of d for rows 0..3, then Bᵀ d down the column */
        const size_t shift = (size_t)(c >> 1);
        const float *d0 = columns + (0 * 2 + (c & 1)) * split + shift;
        const float *d1 = columns + (1 * 2 + (c & 1)) * split + shift;
        const float *d2 = columns + (2 * 2 + (c & 1)) * split + shift;
        const float *d3 = columns + (3 * 2 + (c & 1)) * split + shift;
        /* t[r][c] stored at V positions (r·4 + c) for now; the row pass
         * below combines them in place. */
        float *t0 = out + (size_t)(0 * 4 + c) * stride_xi,
              *t1 = out + (size_t)(1 * 4 + c) * stride_xi;
        float *t2 = out + (size_t)(2 * 4 + c) * stride_xi,
              *t3 = out + (size_t)(3 * 4 + c) * stride_xi;
        for (int tx = 0; tx < tiles_x; tx++) {
          t0[tx] = d0[tx] - d2[tx];
          t1[tx] = d1[tx] + d2[tx];
          t2[tx] = d2[tx] - d1[tx];
          t3[tx] = d1[tx] - d3[tx];
        }
      }
      for (int r = 0; r < 4; r++) { /* (Bᵀ d) B along each row */
        float *p0 = out + (size_t)(r * 4 + 0) * stride_xi,
              *p1 = out + (size_t)(r * 4 + 1) * stride_xi;
        float *p2 = out + (size_t)(r * 4 + 2) * stride_xi,
              *p3 = out + (size_t)(r * 4 + 3) * stride_xi;
        for (int tx = 0; tx < tiles_x; tx++) {
          const float a0 = p0[tx], a1 = p1[tx], a2 = p2[tx], a3 = p3[tx];
          p0[tx] = a0 - a2;
          p1[tx] = a1 + a2;
          p2[tx] = a2 - a1;
          p3[tx] = a1 - a3;
        }
      }
    }
    g_free(columns);
  }
}

/* y = Aᵀ M A + bias for the band's tiles, Aᵀ = [1 1 1 0; 0 1 −1 −1]; the
 * outputs a tile has past an odd-sized image's edge are dropped. */
static void transform_output(const DdimConv *conv, const float *m, int out_h, int out_w,
                             int tile_row0, int tile_rows, int tiles_x, float *y) {
  const int cout = conv->out_channels;
  const size_t band_tiles = (size_t)tile_rows * (size_t)tiles_x;
  const size_t stride_xi = (size_t)cout * band_tiles;
  DDIM_PARALLEL_FOR_IF((size_t)cout * band_tiles * 16 >= DDIM_PARALLEL_MIN_WORK)
  for (int co = 0; co < cout; co++) {
    float *out = y + (size_t)co * (size_t)out_h * (size_t)out_w;
    const float bias = conv->bias ? conv->bias[co] : 0.0f;
    float *pair = g_new(float, 4 * (size_t)tiles_x); /* y[r][0], y[r][1] for r = 0, 1 */
    for (int ty = 0; ty < tile_rows; ty++) {
      const int oy = 2 * (tile_row0 + ty);
      const float *mm = m + (size_t)co * band_tiles + (size_t)ty * (size_t)tiles_x;
#define M_AT(k) (mm + (size_t)(k)*stride_xi)
      const float *m00 = M_AT(0), *m01 = M_AT(1), *m02 = M_AT(2), *m03 = M_AT(3);
      const float *m10 = M_AT(4), *m11 = M_AT(5), *m12 = M_AT(6), *m13 = M_AT(7);
      const float *m20 = M_AT(8), *m21 = M_AT(9), *m22 = M_AT(10), *m23 = M_AT(11);
      const float *m30 = M_AT(12), *m31 = M_AT(13), *m32 = M_AT(14), *m33 = M_AT(15);
#undef M_AT
      for (int tx = 0; tx < tiles_x; tx++) {
        /* Aᵀ M: rows t0 = m0 + m1 + m2, t1 = m1 − m2 − m3 (per column) */
        const float t00 = m00[tx] + m10[tx] + m20[tx], t01 = m01[tx] + m11[tx] + m21[tx];
        const float t02 = m02[tx] + m12[tx] + m22[tx], t03 = m03[tx] + m13[tx] + m23[tx];
        const float t10 = m10[tx] - m20[tx] - m30[tx], t11 = m11[tx] - m21[tx] - m31[tx];
        const float t12 = m12[tx] - m22[tx] - m32[tx], t13 = m13[tx] - m23[tx] - m33[tx];
        pair[tx] = t00 + t01 + t02 + bias;
        pair[(size_t)tiles_x + tx] = t01 - t02 - t03 + bias;
        pair[2 * (size_t)tiles_x + tx] = t10 + t11 + t12 + bias;
        pair[3 * (size_t)tiles_x + tx] = t11 - t12 - t13 + bias;
      }
      for (int r = 0; r < 2 && oy + r < out_h; r++) {
        float *row = out + (size_t)(oy + r) * (size_t)out_w;
        const float *left = pair + (size_t)(2 * r) * (size_t)tiles_x;
        const float *right = left + tiles_x;
        for (int tx = 0; tx < tiles_x; tx++) {
          row[2 * tx] = left[tx];
          if (2 * tx + 1 < out_w) row[2 * tx + 1] = right[tx];
        }
      }
    }
    g_free(pair);
  }
}

void ddim_conv2d_winograd(const DdimConv *conv, const float *x, int batch, int in_h, int in_w,
                          float *y, int out_h, int out_w, float *scratch) {
  const int cin = conv->in_channels, cout = conv->out_channels;
  const int tiles_y = (out_h + 1) / 2, tiles_x = (out_w + 1) / 2;
  const int rows_per_band = band_tile_rows(conv, tiles_y, tiles_x);
  float *u = scratch;
  float *v = u + transformed_weight_elements(conv);
  float *m = v + 16 * (size_t)rows_per_band * (size_t)tiles_x * (size_t)cin;
  transform_weights(conv, u);
  const size_t in_image = (size_t)cin * (size_t)in_h * (size_t)in_w;
  const size_t out_image = (size_t)cout * (size_t)out_h * (size_t)out_w;
  const size_t u_plane = (size_t)cout * (size_t)cin;
  for (int b = 0; b < batch; b++) {
    for (int row0 = 0; row0 < tiles_y; row0 += rows_per_band) {
      const int rows = tiles_y - row0 < rows_per_band ? tiles_y - row0 : rows_per_band;
      const int band_tiles = rows * tiles_x;
      transform_input(conv, x + (size_t)b * in_image, in_h, in_w, out_h, out_w, row0, rows, tiles_x,
                      v);
      for (int xi = 0; xi < 16; xi++)
        ddim_gemm(FALSE, FALSE, cout, band_tiles, cin, u + (size_t)xi * u_plane, cin,
                  v + (size_t)xi * (size_t)cin * (size_t)band_tiles, band_tiles, 0.0f,
                  m + (size_t)xi * (size_t)cout * (size_t)band_tiles, band_tiles);
      transform_output(conv, m, out_h, out_w, row0, rows, tiles_x, y + (size_t)b * out_image);
    }
  }
}
