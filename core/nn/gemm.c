/* gemm.c — how matrix products are split over threads.
 *
 * OpenBLAS's own threading splits a product according to the thread count,
 * and its edge kernels then sum in a different order, so results change in
 * the last bits with --threads.  Instead the output is cut into tiles whose
 * size depends only on the shape; each tile is one single-threaded sgemm
 * (OpenBLAS's OpenMP build runs single-threaded inside a parallel region),
 * and the tiles are shared out over the one OpenMP pool.  Same bits for any
 * thread count, and no second pool. */
#include "gemm.h"
#include "parallel.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Tiles are as wide as possible — single-threaded OpenBLAS is most efficient
 * on wide products — while giving the pool a power-of-two count of equal
 * tiles to share (up to 8), so 2 or 4 threads stay balanced.  The layout is
 * a function of (M, N) only. */
#define MIN_TILE_COLUMNS 256
#define MIN_TILE_ROWS 64
#define MAX_TILES 8

static int floor_power_of_two(int value) {
  int power = 1;
  while (power * 2 <= value) power *= 2;
  return power;
}

static void tile_gemm(gboolean trans_a, gboolean trans_b, int m0, int rows, int n0, int columns,
                      int k, const float *a, int lda, const float *b, int ldb, float beta, float *c,
                      int ldc) {
  const float *a_tile = trans_a ? a + m0 : a + (size_t)m0 * (size_t)lda;
  const float *b_tile = trans_b ? b + (size_t)n0 * (size_t)ldb : b + n0;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, rows, columns, k, 1.0f, a_tile, lda, b_tile, ldb,
              beta, c + (size_t)m0 * (size_t)ldc + n0, ldc);
}

void ddim_gemm(gboolean trans_a, gboolean trans_b, int m, int n, int k, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc) {
  if (m <= 0 || n <= 0) return;
  int column_tiles = floor_power_of_two(n / MIN_TILE_COLUMNS > 0 ? n / MIN_TILE_COLUMNS : 1);
  if (column_tiles > MAX_TILES) column_tiles = MAX_TILES;
  /* Rows are split only when the columns alone give fewer than 4 tiles:
   * narrow row tiles make OpenBLAS repack B for little work. */
  int row_tiles = floor_power_of_two(m / MIN_TILE_ROWS > 0 ? m / MIN_TILE_ROWS : 1);
  if (row_tiles > 4 / column_tiles) row_tiles = column_tiles >= 4 ? 1 : 4 / column_tiles;
  /* Tile sizes rounded up to multiples of 16 (whole micro-kernel panels). */
  const int tile_columns = ((n + column_tiles - 1) / column_tiles + 15) / 16 * 16;
  const int tile_rows = ((m + row_tiles - 1) / row_tiles + 15) / 16 * 16;
  column_tiles = (n + tile_columns - 1) / tile_columns;
  row_tiles = (m + tile_rows - 1) / tile_rows;
  const int tiles = row_tiles * column_tiles;
  const gboolean split = tiles > 1 && (double)m * n * k >= (double)DDIM_PARALLEL_MIN_GEMM_WORK;
  (void)split; /* used only with OpenMP */
#ifdef _OPENMP
  /* OpenBLAS's OpenMP build threads a call made outside a parallel region
   * over omp_get_max_threads(); inside one it runs single-threaded.  Tiles
   * must always be single-threaded, so a serial loop runs with the thread
   * count set to one. */
  const int threads = omp_get_max_threads();
  if (!split) omp_set_num_threads(1);
#endif
  DDIM_PARALLEL_FOR_IF(split)
  for (int tile = 0; tile < tiles; tile++) {
    const int m0 = (tile / column_tiles) * tile_rows, n0 = (tile % column_tiles) * tile_columns;
    const int rows = m - m0 < tile_rows ? m - m0 : tile_rows;
    const int columns = n - n0 < tile_columns ? n - n0 : tile_columns;
    tile_gemm(trans_a, trans_b, m0, rows, n0, columns, k, a, lda, b, ldb, beta, c, ldc);
  }
#ifdef _OPENMP
  if (!split) omp_set_num_threads(threads);
#endif
}
