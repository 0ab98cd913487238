/* tiles.c — the tile layout and the blending weights (see tiles.h).
 *
 * Each tile's weight is separable, w(x, y) = w_col(x)·w_row(y).  Along an
 * axis it is 1 except on an edge shared with a neighbour, where it rises as
 * sin²(π/2·(d + ½)/o) over the o pixels the two tiles share (d: distance from
 * the edge).  Where exactly two tiles overlap the two ramps are sin² and cos²
 * of the same angle and sum to 1, so the blend is a partition of unity with
 * no kink; elsewhere the division by Σw (inverse_sum) makes it one.  Weights
 * never reach 0, so every pixel has a defined average. */
#include "tiles.h"

#include <math.h>
#include <string.h>

/* n tiles of `tile` pixels on an axis of `length`, neighbours sharing at
 * least `overlap`: n = 1 + ⌈(length − tile)/(tile − overlap)⌉, spread evenly. */
static int *axis_origins(int length, int tile, int overlap, int *count) {
  int n = 1;
  if (length > tile) n = 1 + (length - tile + (tile - overlap) - 1) / (tile - overlap);
  int *origins = g_new(int, n);
  for (int i = 0; i < n; i++)
    origins[i] =
        n == 1 ? 0 : (int)(((int64_t)2 * i * (length - tile) + (n - 1)) / (2 * (int64_t)(n - 1)));
  *count = n;
  return origins;
}

static float ramp(int distance, int width) {
  if (width <= 0 || distance >= width) return 1.0f;
  double s = sin(G_PI / 2.0 * (distance + 0.5) / width);
  return (float)(s * s);
}

static float *axis_weights(const int *origins, int n, int tile) {
  float *weights = g_new(float, (size_t)n *tile);
  for (int i = 0; i < n; i++) {
    /* The overlap with each neighbour, at most half a tile so that the two
     * ramps of one tile never meet. */
    int before = i > 0 ? MIN(origins[i - 1] + tile - origins[i], tile / 2) : 0;
    int after = i < n - 1 ? MIN(origins[i] + tile - origins[i + 1], tile / 2) : 0;
    for (int d = 0; d < tile; d++)
      weights[(size_t)i * tile + d] = ramp(d, before) * ramp(tile - 1 - d, after);
  }
  return weights;
}

gboolean ddim_tiles_init(DdimTiles *tiles, int image_w, int image_h, int tile_w, int tile_h,
                         int overlap_w, int overlap_h) {
  memset(tiles, 0, sizeof *tiles);
  if (image_w < 1 || image_h < 1 || tile_w < 1 || tile_h < 1) return FALSE;
  tile_w = MIN(tile_w, image_w);
  tile_h = MIN(tile_h, image_h);
  overlap_w = CLAMP(overlap_w, 0, tile_w - 1);
  overlap_h = CLAMP(overlap_h, 0, tile_h - 1);
  tiles->image_w = image_w;
  tiles->image_h = image_h;
  tiles->tile_w = tile_w;
  tiles->tile_h = tile_h;
  tiles->col_x = axis_origins(image_w, tile_w, overlap_w, &tiles->cols);
  tiles->row_y = axis_origins(image_h, tile_h, overlap_h, &tiles->rows);
  tiles->col_weight = axis_weights(tiles->col_x, tiles->cols, tile_w);
  tiles->row_weight = axis_weights(tiles->row_y, tiles->rows, tile_h);
  size_t plane = (size_t)image_w * image_h;
  tiles->inverse_sum = g_try_new0(float, plane);
  if (tiles->inverse_sum == NULL) {
    ddim_tiles_clear(tiles);
    return FALSE;
  }
  for (int r = 0; r < tiles->rows; r++)
    for (int c = 0; c < tiles->cols; c++)
      for (int y = 0; y < tile_h; y++) {
        float wy = tiles->row_weight[(size_t)r * tile_h + y];
        float *row = tiles->inverse_sum + (size_t)(tiles->row_y[r] + y) * image_w + tiles->col_x[c];
        for (int x = 0; x < tile_w; x++) row[x] += wy * tiles->col_weight[(size_t)c * tile_w + x];
      }
  for (size_t i = 0; i < plane; i++) tiles->inverse_sum[i] = 1.0f / tiles->inverse_sum[i];
  return TRUE;
}

void ddim_tiles_clear(DdimTiles *tiles) {
  g_free(tiles->col_x);
  g_free(tiles->row_y);
  g_free(tiles->col_weight);
  g_free(tiles->row_weight);
  g_free(tiles->inverse_sum);
  memset(tiles, 0, sizeof *tiles);
}

void ddim_tiles_cut(const DdimTiles *tiles, int index, const float *image, int channels,
                    float *tile) {
  const int x0 = tiles->col_x[index % tiles->cols], y0 = tiles->row_y[index / tiles->cols];
  const size_t plane = (size_t)tiles->image_w * tiles->image_h;
  for (int ch = 0; ch < channels; ch++)
    for (int y = 0; y < tiles->tile_h; y++)
      memcpy(tile + ((size_t)ch * tiles->tile_h + y) * tiles->tile_w,
             image + ch * plane + (size_t)(y0 + y) * tiles->image_w + x0,
             sizeof(float) * tiles->tile_w);
}

void ddim_tiles_accumulate(const DdimTiles *tiles, int index, const float *tile, int channels,
                           float *sum) {
  const int col = index % tiles->cols, row = index / tiles->cols;
  const int x0 = tiles->col_x[col], y0 = tiles->row_y[row];
  const float *wx = tiles->col_weight + (size_t)col * tiles->tile_w;
  const float *wy = tiles->row_weight + (size_t)row * tiles->tile_h;
  const size_t plane = (size_t)tiles->image_w * tiles->image_h;
  for (int ch = 0; ch < channels; ch++)
    for (int y = 0; y < tiles->tile_h; y++) {
      const float *in = tile + ((size_t)ch * tiles->tile_h + y) * tiles->tile_w;
      float *out = sum + ch * plane + (size_t)(y0 + y) * tiles->image_w + x0;
      for (int x = 0; x < tiles->tile_w; x++) out[x] += wy[y] * wx[x] * in[x];
    }
}

void ddim_tiles_normalise(const DdimTiles *tiles, int channels, float *sum) {
  const size_t plane = (size_t)tiles->image_w * tiles->image_h;
  for (int ch = 0; ch < channels; ch++)
    for (size_t i = 0; i < plane; i++) sum[ch * plane + i] *= tiles->inverse_sum[i];
}
