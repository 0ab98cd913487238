/* conv-bench.c — one 3×3 stride-1 convolution shape through each of the
 * engine's ways to compute it (not a test: it measures time).
 *
 *   conv-bench CIN COUT H W [BATCH]
 *
 * im2col + OpenBLAS GEMM (core/nn/conv.c, one image at a time), the direct
 * AVX2 kernels (core/nn/conv-direct.c), Winograd F(2×2, 3×3) and F(4×4, 3×3)
 * (core/nn/conv-winograd.c) on random data; prints one JSON object with each
 * one's rate in GFLOP/s of the direct convolution's 2·Cout·Cin·9·H·W·BATCH
 * (so Winograd's rate counts the work it avoided) from CPU time, after one
 * warm-up call, and each one's largest difference from the GEMM result
 * relative to its largest value.  Single-threaded unless OMP_NUM_THREADS
 * says otherwise; CPU time is what a loaded machine disturbs least. */
#include "kernels.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_now(void) {
  struct timespec now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

typedef enum { WAY_GEMM, WAY_DIRECT, WAY_WINOGRAD2, WAY_WINOGRAD4, WAYS } Way;
static const char *const way_names[] = {"gemm", "direct", "winograd_f2", "winograd_f4"};

static void run(Way way, const DdimConv *conv, const float *x, int batch, int h, int w, float *y,
                float *scratch) {
  const size_t in_image = (size_t)conv->in_channels * (size_t)h * (size_t)w;
  const size_t out_image = (size_t)conv->out_channels * (size_t)h * (size_t)w;
  switch (way) {
  case WAY_GEMM:
    for (int b = 0; b < batch; b++)
      ddim_conv2d(conv, x + (size_t)b * in_image, h, w, y + (size_t)b * out_image, h, w, scratch);
    break;
  case WAY_DIRECT:
    ddim_conv2d_direct(conv, x, batch, h, w, y, h, w, scratch);
    break;
  case WAY_WINOGRAD2:
  case WAY_WINOGRAD4:
    ddim_conv2d_winograd(conv, way == WAY_WINOGRAD4 ? 4 : 2, x, batch, h, w, y, h, w, scratch);
    break;
  default:
    break;
  }
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: conv-bench CIN COUT H W [BATCH]\n");
    return 2;
  }
  const int cin = atoi(argv[1]), cout = atoi(argv[2]), h = atoi(argv[3]), w = atoi(argv[4]);
  const int batch = argc > 5 ? atoi(argv[5]) : 1;
  if (cin < 1 || cout < 1 || h < 1 || w < 1 || batch < 1) {
    fprintf(stderr, "conv-bench: sizes must be positive\n");
    return 2;
  }
  GRand *rand = g_rand_new_with_seed(1);
  float *weight = g_new(float, (size_t)cout *(size_t)cin * 9);
  float *bias = g_new(float, (size_t)cout);
  for (size_t i = 0; i < (size_t)cout * (size_t)cin * 9; i++)
    weight[i] = (float)g_rand_double_range(rand, -0.1, 0.1);
  for (int i = 0; i < cout; i++) bias[i] = (float)g_rand_double_range(rand, -1, 1);
  const DdimConv conv = {cin, cout, 3, 1, 1, 1, FALSE, weight, bias};
  const size_t in_count = (size_t)batch * (size_t)cin * (size_t)h * (size_t)w;
  const size_t out_count = (size_t)batch * (size_t)cout * (size_t)h * (size_t)w;
  float *x = g_new(float, in_count);
  for (size_t i = 0; i < in_count; i++) x[i] = (float)g_rand_double_range(rand, -1, 1);
  size_t scratch_elements = ddim_conv_scratch_elements(&conv, h, w);
  scratch_elements = MAX(scratch_elements, ddim_conv_direct_scratch_elements(&conv, batch, h, w));
  scratch_elements =
      MAX(scratch_elements, ddim_conv_winograd_scratch_elements(&conv, 2, batch, h, w));
  scratch_elements =
      MAX(scratch_elements, ddim_conv_winograd_scratch_elements(&conv, 4, batch, h, w));
  float *scratch = g_new(float, scratch_elements);
  float *reference = g_new(float, out_count), *y = g_new(float, out_count);
  const double flops = 2.0 * cout * cin * 9.0 * h * w * batch;
  const int repeats = (int)(2e9 / flops) + 1;

  printf("{\"cin\": %d, \"cout\": %d, \"height\": %d, \"width\": %d, \"batch\": %d", cin, cout, h,
         w, batch);
  run(WAY_GEMM, &conv, x, batch, h, w, reference, scratch);
  for (Way way = WAY_GEMM; way < WAYS; way++) {
    const gboolean direct_ok = ddim_conv_direct_applies(&conv, batch, h, w, h, w);
    if (way == WAY_DIRECT && !direct_ok) {
      printf(", \"%s\": null", way_names[way]);
      continue;
    }
    run(way, &conv, x, batch, h, w, y, scratch); /* warm-up: first touch of the buffers */
    const double start = cpu_now();
    for (int r = 0; r < repeats; r++) run(way, &conv, x, batch, h, w, y, scratch);
    const double seconds = (cpu_now() - start) / repeats;
    double worst = 0.0, largest = 0.0;
    for (size_t i = 0; i < out_count; i++) {
      worst = fmax(worst, fabs((double)y[i] - reference[i]));
      largest = fmax(largest, fabs((double)reference[i]));
    }
    printf(", \"%s\": {\"gflops\": %.1f, \"difference\": %.2e}", way_names[way],
           flops / seconds / 1e9, largest > 0 ? worst / largest : worst);
  }
  printf("}\n");
  g_free(x);
  g_free(y);
  g_free(reference);
  g_free(scratch);
  g_free(weight);
  g_free(bias);
  g_rand_free(rand);
  return 0;
}
