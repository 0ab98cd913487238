/* gemm.h — every matrix product of the engine, on the OpenMP pool, with
 * results that do not depend on the thread count. */
#ifndef DDIM_GEMM_H
#define DDIM_GEMM_H

#include <glib.h>

/* C (M × N, row-major, ldc) = beta·C + op(A) (M × K) · op(B) (K × N), alpha = 1,
 * beta 0 or 1. */
void ddim_gemm(gboolean trans_a, gboolean trans_b, int m, int n, int k, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc);

#endif
