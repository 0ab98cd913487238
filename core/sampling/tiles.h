/* tiles.h — how an image is covered by overlapping tiles of the model's
 * resolution, and the smooth weights that blend the tiles' network outputs
 * into one image (MultiDiffusion, Bar-Tal et al. 2023). */
#ifndef DDIM_TILES_H
#define DDIM_TILES_H

#include <glib.h>

typedef struct {
  int image_w, image_h;
  int tile_w, tile_h;
  int cols, rows;
  int *col_x, *row_y; /* origin of each column / row of tiles */
  float *col_weight;  /* cols × tile_w: the horizontal weight profile of each column */
  float *row_weight;  /* rows × tile_h: the vertical profile of each row */
  float *inverse_sum; /* image_h × image_w: 1 / Σ over the tiles of their weights */
} DdimTiles;

/* Lays out tiles of tile_w × tile_h (at most the image's size on each axis)
 * with neighbours overlapping by at least overlap_w / overlap_h pixels; the
 * tiles of an axis are spread evenly from one edge of the image to the
 * other.  Returns FALSE (and leaves *tiles empty) for sizes out of range. */
gboolean ddim_tiles_init(DdimTiles *tiles, int image_w, int image_h, int tile_w, int tile_h,
                         int overlap_w, int overlap_h);
void ddim_tiles_clear(DdimTiles *tiles);

static inline int ddim_tiles_count(const DdimTiles *tiles) {
  return tiles->cols * tiles->rows;
}

/* Copies tile `index` (row-major) of a channels × H × W image into a
 * channels × tile_h × tile_w buffer. */
void ddim_tiles_cut(const DdimTiles *tiles, int index, const float *image, int channels,
                    float *tile);

/* sum += weight · tile over tile `index`'s area. */
void ddim_tiles_accumulate(const DdimTiles *tiles, int index, const float *tile, int channels,
                           float *sum);

/* sum ← sum / Σ weights: the per-pixel weighted average of the tiles. */
void ddim_tiles_normalise(const DdimTiles *tiles, int channels, float *sum);

#endif
