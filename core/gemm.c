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

/* Tiles of at most 128 output rows × 128 columns: enough work per sgemm call
 * (≥ 2·128·128·K flops) to amortise packing, and enough tiles to balance. */
#define TILE_ROWS 128
#define TILE_COLUMNS 128
/* Below this many multiply-adds a product runs as one call. */
#define SPLIT_MIN_WORK ((double)(1 << 23))

static void tile_gemm(gboolean trans_a, gboolean trans_b, int m0, int rows, int n0, int columns,
                      int k, const float *a, int lda, const float *b, int ldb, float beta, float *c,
                      int ldc) {
  const float *a_tile = trans_a ? a + m0 : a + (size_t)m0 * (size_t)lda;
  const float *b_tile = trans_b ? b + (size_t)n0 * (size_t)ldb : b + n0;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, rows, columns, k, 1.0f, a_tile, lda, b_tile,
              ldb, beta, c + (size_t)m0 * (size_t)ldc + n0, ldc);
}

void ddim_gemm(gboolean trans_a, gboolean trans_b, int m, int n, int k, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc) {
  if (m <= 0 || n <= 0) return;
  const int row_tiles = (m + TILE_ROWS - 1) / TILE_ROWS;
  const int column_tiles = (n + TILE_COLUMNS - 1) / TILE_COLUMNS;
  const int tiles = row_tiles * column_tiles;
  const gboolean split = tiles > 1 && (double)m * n * k >= SPLIT_MIN_WORK;
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
    const int m0 = (tile / column_tiles) * TILE_ROWS, n0 = (tile % column_tiles) * TILE_COLUMNS;
    const int rows = m - m0 < TILE_ROWS ? m - m0 : TILE_ROWS;
    const int columns = n - n0 < TILE_COLUMNS ? n - n0 : TILE_COLUMNS;
    tile_gemm(trans_a, trans_b, m0, rows, n0, columns, k, a, lda, b, ldb, beta, c, ldc);
  }
#ifdef _OPENMP
  if (!split) omp_set_num_threads(threads);
#endif
}
