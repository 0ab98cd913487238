/* conv-winograd.c — 3×3 stride-1 convolutions by Winograd's minimal
 * filtering F(m×m, 3×3) (Lavin & Gray 2016), m = 2 (the default for layers
 * large layers, unet.c's use_winograd) or m = 4 (the optional fast mode).
 *
 * Every m×m block of outputs comes from an n×n block of input (n = m + 2):
 * with V = Bᵀ d B (input), U = G g Gᵀ (weights) and M = U ⊙ V summed over
 * input channels, Y = Aᵀ M A.  The sum over channels is n² independent
 * matrix products M[ξ] (Cout × tiles) = U[ξ] (Cout × Cin) · V[ξ] (Cin ×
 * tiles), one per position ξ of the transformed block: n² multiplications
 * per m² outputs instead of 9·m² — 2.25× fewer for F(2×2) and 4× fewer for
 * F(4×4).  F(2×2)'s transforms only add and halve, so in float32 it is as
 * close to the exact sum as the direct one; F(4×4)'s use factors up to 8
 * and 1/24 and lose about two decimal digits (tests/test-kernels.c,
 * docs/performance.md).
 *
 * Tiles are processed in bands of whole tile rows so that V and M stay a few
 * MB whatever the image size.  The products go through ddim_gemm (tiled by
 * shape, same bits for any thread count); the transforms run over whole
 * rows of tiles (vectorisable) and are parallel over channels. */
#include "gemm.h"
#include "kernels.h"
#include "parallel.h"

#include <string.h>

/* About 16 MB of V (and of M) per band: wide products, few barriers. */
#define BAND_ELEMENTS ((size_t)1 << 22)
#define MAX_N 6 /* n = m + 2 for m ≤ 4 */

/* The 1-D transforms of one variant, each over `count` tiles at once: n
 * arrays in, n (input, weights: 3 in) or m (output) arrays out. */
typedef void (*Transform1d)(const float *const *in, float *const *out, int count);

typedef struct {
  int m, n;
  Transform1d input;  /* Bᵀ: n → n */
  Transform1d output; /* Aᵀ: n → m */
  Transform1d weight; /* G: 3 → n */
} Variant;

/* ---- F(2×2, 3×3) ---- */

static void input_f2(const float *const *d, float *const *t, int count) {
  for (int i = 0; i < count; i++) {
    const float d0 = d[0][i], d1 = d[1][i], d2 = d[2][i], d3 = d[3][i];
    t[0][i] = d0 - d2;
    t[1][i] = d1 + d2;
    t[2][i] = d2 - d1;
    t[3][i] = d1 - d3;
  }
}

static void output_f2(const float *const *mm, float *const *o, int count) {
  for (int i = 0; i < count; i++) {
    o[0][i] = mm[0][i] + mm[1][i] + mm[2][i];
    o[1][i] = mm[1][i] - mm[2][i] - mm[3][i];
  }
}

static void weight_f2(const float *const *g, float *const *u, int count) {
  for (int i = 0; i < count; i++) {
    const float g0 = g[0][i], g1 = g[1][i], g2 = g[2][i];
    u[0][i] = g0;
    u[1][i] = 0.5f * (g0 + g1 + g2);
    u[2][i] = 0.5f * (g0 - g1 + g2);
    u[3][i] = g2;
  }
}

/* ---- F(4×4, 3×3), the points 0, ±1, ±2 and ∞ ---- */

static void input_f4(const float *const *d, float *const *t, int count) {
  for (int i = 0; i < count; i++) {
    const float d0 = d[0][i], d1 = d[1][i], d2 = d[2][i], d3 = d[3][i], d4 = d[4][i], d5 = d[5][i];
    t[0][i] = 4.0f * d0 - 5.0f * d2 + d4;
    t[1][i] = -4.0f * (d1 + d2) + d3 + d4;
    t[2][i] = 4.0f * (d1 - d2) - d3 + d4;
    t[3][i] = 2.0f * (d3 - d1) - d2 + d4;
    t[4][i] = 2.0f * (d1 - d3) - d2 + d4;
    t[5][i] = 4.0f * d1 - 5.0f * d3 + d5;
  }
}

static void output_f4(const float *const *mm, float *const *o, int count) {
  for (int i = 0; i < count; i++) {
    const float m0 = mm[0][i], m1 = mm[1][i], m2 = mm[2][i], m3 = mm[3][i], m4 = mm[4][i],
                m5 = mm[5][i];
    const float a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4;
    o[0][i] = m0 + a + c;
    o[1][i] = b + 2.0f * e;
    o[2][i] = a + 4.0f * c;
    o[3][i] = b + 8.0f * e + m5;
  }
}

static void weight_f4(const float *const *g, float *const *u, int count) {
  for (int i = 0; i < count; i++) {
    const float g0 = g[0][i], g1 = g[1][i], g2 = g[2][i];
    u[0][i] = g0 / 4.0f;
    u[1][i] = -(g0 + g1 + g2) / 6.0f;
    u[2][i] = -(g0 - g1 + g2) / 6.0f;
    u[3][i] = g0 / 24.0f + g1 / 12.0f + g2 / 6.0f;
    u[4][i] = g0 / 24.0f - g1 / 12.0f + g2 / 6.0f;
    u[5][i] = g2;
  }
}

static const Variant variants[] = {
    {2, 4, input_f2, output_f2, weight_f2},
    {4, 6, input_f4, output_f4, weight_f4},
};

static const Variant *variant_for(int tile) {
  return tile == 4 ? &variants[1] : &variants[0];
}

/* ---- Layout ---- */

static int tiles_along(const Variant *variant, int length) {
  return (length + variant->m - 1) / variant->m;
}

static int band_tile_rows(const Variant *variant, const DdimConv *conv, int tiles_y, int tiles_x) {
  const int channels =
      conv->in_channels > conv->out_channels ? conv->in_channels : conv->out_channels;
  size_t per_row = (size_t)(variant->n * variant->n) * (size_t)channels * (size_t)tiles_x;
  size_t rows = per_row ? BAND_ELEMENTS / per_row : 1;
  if (rows < 1) rows = 1;
  if (rows > (size_t)tiles_y) rows = (size_t)tiles_y;
  return (int)rows;
}

size_t ddim_conv_winograd_scratch_elements(const DdimConv *conv, int tile, int batch, int out_h,
                                           int out_w) {
  const Variant *variant = variant_for(tile);
  const size_t positions = (size_t)(variant->n * variant->n);
  const int tiles_y = tiles_along(variant, out_h), tiles_x = tiles_along(variant, out_w);
  const size_t band_tiles =
      (size_t)band_tile_rows(variant, conv, batch * tiles_y, tiles_x) * (size_t)tiles_x;
  return positions * (size_t)conv->out_channels * (size_t)conv->in_channels +
         positions * band_tiles * (size_t)(conv->in_channels + conv->out_channels);
}

/* U[ξ][co][ci] = (G g Gᵀ)[ξ], over all (co, ci) pairs at once. */
static void transform_weights(const Variant *variant, const DdimConv *conv, float *u) {
  const int n = variant->n;
  const size_t pairs = (size_t)conv->out_channels * (size_t)conv->in_channels;
  float *g_rows = g_new(float, 3 * (size_t)n * pairs); /* (G g)[r][c] */
  const float *g_in[3];
  float *g_out[MAX_N];
  for (int c = 0; c < 3; c++) { /* G down each column c of every kernel */
    float *column = g_new(float, 3 * pairs);
    for (size_t p = 0; p < pairs; p++)
      for (int r = 0; r < 3; r++)
        column[(size_t)r * pairs + p] = conv->weight[p * 9 + (size_t)(r * 3 + c)];
    for (int r = 0; r < 3; r++) g_in[r] = column + (size_t)r * pairs;
    for (int r = 0; r < n; r++) g_out[r] = g_rows + ((size_t)r * 3 + (size_t)c) * pairs;
    variant->weight(g_in, g_out, (int)pairs);
    g_free(column);
  }
  for (int r = 0; r < n; r++) { /* then Gᵀ along each row r */
    for (int c = 0; c < 3; c++) g_in[c] = g_rows + ((size_t)r * 3 + (size_t)c) * pairs;
    for (int c = 0; c < n; c++) g_out[c] = u + (size_t)(r * n + c) * pairs;
    variant->weight(g_in, g_out, (int)pairs);
  }
  g_free(g_rows);
}

/* V[ξ][ci][t] = (Bᵀ d B)[ξ] for the band's tiles.  Tile tx of a tile row
 * reads padded columns m·tx … m·tx + n − 1 of rows m·ty … m·ty + n − 1 of
 * the zero-padded (and possibly ×2 upsampled) input; each row is first
 * copied out padded so that those reads need no bounds checks. */
static void transform_input(const Variant *variant, const DdimConv *conv, const float *x, int in_h,
                            int in_w, int out_h, int out_w, int tile_row0, int tile_rows,
                            int tiles_y, int tiles_x, float *v) {
  const int m = variant->m, n = variant->n, cin = conv->in_channels;
  const size_t band_tiles = (size_t)tile_rows * (size_t)tiles_x;
  const size_t stride_xi = (size_t)cin * band_tiles;
  const size_t row_length = (size_t)m * (size_t)tiles_x + 2;
  const size_t tx_count = (size_t)tiles_x;
  const size_t in_image = (size_t)cin * (size_t)in_h * (size_t)in_w;
  DDIM_PARALLEL_FOR_IF((size_t)cin * band_tiles * 16 >= DDIM_PARALLEL_MIN_WORK)
  for (int ci = 0; ci < cin; ci++) {
    float *buffer = g_new(float, row_length + 2 * (size_t)(n * n) * tx_count);
    float *padded_row = buffer;
    float *d = buffer + row_length;            /* d[r][c][tx] */
    float *t = d + (size_t)(n * n) * tx_count; /* (Bᵀ d)[r][c][tx] */
    for (int ty = 0; ty < tile_rows; ty++) {
      /* Band row ty is tile row (tile_row0 + ty) mod tiles_y of image
       * (tile_row0 + ty) / tiles_y: the images of a batch follow each other. */
      const int image = (tile_row0 + ty) / tiles_y, row = (tile_row0 + ty) % tiles_y;
      const float *plane = x + (size_t)image * in_image + (size_t)ci * (size_t)in_h * (size_t)in_w;
      const int y0 = m * row - 1;
      for (int r = 0; r < n; r++) {
        const int y = y0 + r;
        memset(padded_row, 0, sizeof(float) * row_length);
        if (y >= 0 && y < out_h) {
          const float *src = plane + (size_t)(conv->upsample2x ? y >> 1 : y) * (size_t)in_w;
          const int columns = out_w < (int)row_length - 1 ? out_w : (int)row_length - 1;
          if (conv->upsample2x) {
            for (int xx = 0; xx < columns; xx++) padded_row[1 + xx] = src[xx >> 1];
          } else {
            memcpy(padded_row + 1, src, sizeof(float) * (size_t)columns);
          }
        }
        for (int c = 0; c < n; c++) {
          float *dst = d + (size_t)(r * n + c) * tx_count;
          for (int tx = 0; tx < tiles_x; tx++)
            dst[tx] = padded_row[(size_t)m * (size_t)tx + (size_t)c];
        }
      }
      const float *in[MAX_N];
      float *out[MAX_N];
      for (int c = 0; c < n; c++) { /* Bᵀ down each column */
        for (int r = 0; r < n; r++) {
          in[r] = d + (size_t)(r * n + c) * tx_count;
          out[r] = t + (size_t)(r * n + c) * tx_count;
        }
        variant->input(in, out, tiles_x);
      }
      float *band_row = v + (size_t)ci * band_tiles + (size_t)ty * tx_count;
      for (int r = 0; r < n; r++) { /* then B along each row, into V */
        for (int c = 0; c < n; c++) {
          in[c] = t + (size_t)(r * n + c) * tx_count;
          out[c] = band_row + (size_t)(r * n + c) * stride_xi;
        }
        variant->input(in, out, tiles_x);
      }
    }
    g_free(buffer);
  }
}

/* y = Aᵀ M A + bias for the band's tiles; the outputs a tile has past the
 * image's edge (sizes that are not multiples of m) are dropped. */
static void transform_output(const Variant *variant, const DdimConv *conv, const float *mm,
                             int out_h, int out_w, int tile_row0, int tile_rows, int tiles_y,
                             int tiles_x, float *y) {
  const int m = variant->m, n = variant->n, cout = conv->out_channels;
  const size_t band_tiles = (size_t)tile_rows * (size_t)tiles_x;
  const size_t stride_xi = (size_t)cout * band_tiles;
  const size_t tx_count = (size_t)tiles_x;
  const size_t out_image = (size_t)cout * (size_t)out_h * (size_t)out_w;
  DDIM_PARALLEL_FOR_IF((size_t)cout * band_tiles * 16 >= DDIM_PARALLEL_MIN_WORK)
  for (int co = 0; co < cout; co++) {
    const float bias = conv->bias ? conv->bias[co] : 0.0f;
    float *buffer = g_new(float, (size_t)(m * n + m * m) * tx_count);
    float *t = buffer;                              /* (Aᵀ M)[r][c][tx] */
    float *o = buffer + (size_t)(m * n) * tx_count; /* (Aᵀ M A)[r][c][tx] */
    for (int ty = 0; ty < tile_rows; ty++) {
      const float *band_row = mm + (size_t)co * band_tiles + (size_t)ty * tx_count;
      const float *in[MAX_N];
      float *out[MAX_N];
      for (int c = 0; c < n; c++) { /* Aᵀ down each column */
        for (int r = 0; r < n; r++) in[r] = band_row + (size_t)(r * n + c) * stride_xi;
        for (int r = 0; r < m; r++) out[r] = t + (size_t)(r * n + c) * tx_count;
        variant->output(in, out, tiles_x);
      }
      for (int r = 0; r < m; r++) { /* then A along each row */
        for (int c = 0; c < n; c++) in[c] = t + (size_t)(r * n + c) * tx_count;
        for (int c = 0; c < m; c++) out[c] = o + (size_t)(r * m + c) * tx_count;
        variant->output(in, out, tiles_x);
      }
      const int image = (tile_row0 + ty) / tiles_y, oy0 = m * ((tile_row0 + ty) % tiles_y);
      float *plane = y + (size_t)image * out_image + (size_t)co * (size_t)out_h * (size_t)out_w;
      for (int r = 0; r < m && oy0 + r < out_h; r++) {
        float *row = plane + (size_t)(oy0 + r) * (size_t)out_w;
        for (int c = 0; c < m; c++) {
          const float *values = o + (size_t)(r * m + c) * tx_count;
          for (int tx = 0; tx < tiles_x && m * tx + c < out_w; tx++)
            row[m * tx + c] = values[tx] + bias;
        }
      }
    }
    g_free(buffer);
  }
}

void ddim_conv2d_winograd(const DdimConv *conv, int tile, const float *x, int batch, int in_h,
                          int in_w, float *y, int out_h, int out_w, float *scratch) {
  const Variant *variant = variant_for(tile);
  const int positions = variant->n * variant->n;
  const int cin = conv->in_channels, cout = conv->out_channels;
  const int tiles_y = tiles_along(variant, out_h), tiles_x = tiles_along(variant, out_w);
  /* The tile rows of every image of the batch, one after the other, so that
   * small images still give the products enough columns. */
  const int total_rows = batch * tiles_y;
  const int rows_per_band = band_tile_rows(variant, conv, total_rows, tiles_x);
  const size_t u_plane = (size_t)cout * (size_t)cin;
  float *u = scratch;
  float *v = u + (size_t)positions * u_plane;
  float *m = v + (size_t)positions * (size_t)rows_per_band * (size_t)tiles_x * (size_t)cin;
  transform_weights(variant, conv, u);
  for (int row0 = 0; row0 < total_rows; row0 += rows_per_band) {
    const int rows = total_rows - row0 < rows_per_band ? total_rows - row0 : rows_per_band;
    const int band_tiles = rows * tiles_x;
    transform_input(variant, conv, x, in_h, in_w, out_h, out_w, row0, rows, tiles_y, tiles_x, v);
    for (int xi = 0; xi < positions; xi++)
      ddim_gemm(FALSE, FALSE, cout, band_tiles, cin, u + (size_t)xi * u_plane, cin,
                v + (size_t)xi * (size_t)cin * (size_t)band_tiles, band_tiles, 0.0f,
                m + (size_t)xi * (size_t)cout * (size_t)band_tiles, band_tiles);
    transform_output(variant, conv, m, out_h, out_w, row0, rows, tiles_y, tiles_x, y);
  }
}
