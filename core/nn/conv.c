/* conv.c — convolutions as GEMM.
 *
 * 1×1 stride-1 convolutions are one sgemm.  3×3 convolutions build im2col
 * columns for a band of output rows at a time (so the scratch stays a few MB
 * whatever the image size) and multiply by the weight matrix, which in
 * PyTorch's [out, in, kh, kw] layout already is the (out × in·k·k) matrix. */
#include "gemm.h"
#include "kernels.h"
#include "parallel.h"

#include <stddef.h>
#include <string.h>

/* About 8 MB of columns per band. */
#define CONV_BAND_ELEMENTS ((size_t)2 << 20)

static int band_rows(const DdimConv *conv, int out_h, int out_w) {
  size_t per_row =
      (size_t)conv->in_channels * (size_t)(conv->kernel * conv->kernel) * (size_t)out_w;
  size_t rows = per_row ? CONV_BAND_ELEMENTS / per_row : (size_t)out_h;
  if (rows < 1) rows = 1;
  if (rows > (size_t)out_h) rows = (size_t)out_h;
  return (int)rows;
}

size_t ddim_conv_scratch_elements(const DdimConv *conv, int out_h, int out_w) {
  if (conv->kernel == 1 && conv->stride == 1 && !conv->upsample2x) return 0;
  return (size_t)conv->in_channels * (size_t)(conv->kernel * conv->kernel) *
         (size_t)band_rows(conv, out_h, out_w) * (size_t)out_w;
}

/* One im2col row of a stride-1 3×3 convolution with same-width output:
 * dst[r·w + ox] = plane[first_row + r][ox + shift] (shift −1, 0 or +1), zero
 * outside the plane.  The in-range rows are one contiguous block of the
 * plane shifted by `shift`, so they are copied with a single memcpy and the
 * one column that wrapped around to the neighbouring row is zeroed after;
 * 32-wide rows copied one by one spent more in the calls than in the copy. */
static void copy_shifted_rows(const float *plane, int in_h, int w, int first_row, int rows,
                              int shift, float *dst) {
  int r_begin = first_row < 0 ? -first_row : 0;
  int r_end = in_h - first_row < rows ? in_h - first_row : rows;
  if (r_end < r_begin) r_end = r_begin;
  if (r_begin > 0) memset(dst, 0, sizeof(float) * (size_t)r_begin * (size_t)w);
  if (r_end < rows)
    memset(dst + (size_t)r_end * (size_t)w, 0, sizeof(float) * (size_t)(rows - r_end) * (size_t)w);
  if (r_end == r_begin) return;
  /* Source index of dst[r_begin·w]: (first_row + r_begin)·w + shift.  The
   * block may start one before the plane (shift −1) or end one past it
   * (shift +1); those two values are edge columns, zeroed below. */
  const ptrdiff_t start = (ptrdiff_t)(first_row + r_begin) * w + shift;
  const ptrdiff_t length = (ptrdiff_t)(r_end - r_begin) * w;
  const ptrdiff_t plane_end = (ptrdiff_t)in_h * w;
  ptrdiff_t from = start < 0 ? 0 : start;
  ptrdiff_t to = start + length > plane_end ? plane_end : start + length;
  float *block = dst + (size_t)r_begin * (size_t)w;
  if (to > from) memcpy(block + (from - start), plane + from, sizeof(float) * (size_t)(to - from));
  if (shift < 0) {
    for (int r = r_begin; r < r_end; r++) dst[(size_t)r * (size_t)w] = 0.0f;
  } else if (shift > 0) {
    for (int r = r_begin; r < r_end; r++) dst[(size_t)r * (size_t)w + (size_t)(w - 1)] = 0.0f;
  }
}

/* Columns for output rows [row0, row0 + rows): row (ci, ky, kx), column
 * (oy − row0)·out_w + ox holds x_eff[ci][oy·s + ky − pad_top][ox·s + kx − pad_left]. */
static void im2col_band(const DdimConv *conv, const float *x, int in_h, int in_w, int out_w,
                        int row0, int rows, float *columns, size_t row_stride) {
  const int k = conv->kernel, stride = conv->stride;
  const int eff_h = conv->upsample2x ? 2 * in_h : in_h;
  const int eff_w = conv->upsample2x ? 2 * in_w : in_w;
  const size_t values = (size_t)conv->in_channels * (size_t)(k * k) * (size_t)rows * (size_t)out_w;
  (void)values; /* used only by the OpenMP pragma */
  DDIM_PARALLEL_FOR_IF(values >= DDIM_PARALLEL_MIN_WORK)
  for (int ci = 0; ci < conv->in_channels; ci++) {
    const float *plane = x + (size_t)ci * (size_t)in_h * (size_t)in_w;
    for (int ky = 0; ky < k; ky++) {
      for (int kx = 0; kx < k; kx++) {
        float *dst = columns + ((size_t)(ci * k + ky) * (size_t)k + (size_t)kx) * row_stride;
        /* Valid output columns: 0 ≤ ox·s + kx − pad_left < eff_w. */
        int shift = kx - conv->pad_left;
        int ox_begin = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
        int ox_end = (eff_w - shift + stride - 1) / stride;
        if (ox_end > out_w) ox_end = out_w;
        if (ox_end < 0) ox_end = 0;
        if (ox_begin > ox_end) ox_begin = ox_end;
        if (stride == 1 && !conv->upsample2x && out_w == in_w && k == 3 && conv->pad_left == 1) {
          copy_shifted_rows(plane, in_h, in_w, row0 + ky - conv->pad_top, rows, kx - 1, dst);
          continue;
        }
        for (int r = 0; r < rows; r++) {
          float *out_row = dst + (size_t)r * (size_t)out_w;
          int iy = (row0 + r) * stride + ky - conv->pad_top;
          if (iy < 0 || iy >= eff_h) {
            memset(out_row, 0, sizeof(float) * (size_t)out_w);
            continue;
          }
          if (ox_begin > 0) memset(out_row, 0, sizeof(float) * (size_t)ox_begin);
          if (ox_end < out_w) memset(out_row + ox_end, 0, sizeof(float) * (size_t)(out_w - ox_end));
          if (conv->upsample2x) {
            const float *src = plane + (size_t)(iy >> 1) * (size_t)in_w;
            for (int ox = ox_begin; ox < ox_end; ox++) out_row[ox] = src[(ox + shift) >> 1];
          } else {
            const float *src = plane + (size_t)iy * (size_t)in_w;
            if (stride == 1) {
              memcpy(out_row + ox_begin, src + ox_begin + shift,
                     sizeof(float) * (size_t)(ox_end - ox_begin));
            } else {
              for (int ox = ox_begin; ox < ox_end; ox++) out_row[ox] = src[ox * stride + shift];
            }
          }
        }
      }
    }
  }
}

static void fill_bias(const float *bias, int channels, size_t pixels, float *y) {
  DDIM_PARALLEL_FOR_IF((size_t)channels * pixels >= DDIM_PARALLEL_MIN_WORK)
  for (int c = 0; c < channels; c++) {
    float value = bias ? bias[c] : 0.0f;
    float *row = y + (size_t)c * pixels;
    for (size_t p = 0; p < pixels; p++) row[p] = value;
  }
}

gboolean ddim_conv_is_same_3x3(const DdimConv *conv, int in_h, int in_w, int out_h, int out_w) {
  if (conv->kernel != 3 || conv->stride != 1 || conv->pad_top != 1 || conv->pad_left != 1)
    return FALSE;
  const int eff_h = conv->upsample2x ? 2 * in_h : in_h;
  const int eff_w = conv->upsample2x ? 2 * in_w : in_w;
  return out_h == eff_h && out_w == eff_w;
}

void ddim_linear_cm(const float *weight, const float *bias, int out_features, int in_features,
                    const float *x, size_t n, float *y) {
  fill_bias(bias, out_features, n, y);
  ddim_gemm(FALSE, FALSE, out_features, (int)n, in_features, weight, in_features, x, (int)n, 1.0f,
            y, (int)n);
}

void ddim_linear_rows(const float *weight, const float *bias, int out_features, int in_features,
                      const float *x, int batch, float *y) {
  for (int b = 0; b < batch; b++)
    memcpy(y + (size_t)b * (size_t)out_features, bias, sizeof(float) * (size_t)out_features);
  ddim_gemm(FALSE, TRUE, batch, out_features, in_features, x, in_features, weight, in_features,
            1.0f, y, out_features);
}

void ddim_conv2d(const DdimConv *conv, const float *x, int in_h, int in_w, float *y, int out_h,
                 int out_w, float *scratch) {
  const size_t out_pixels = (size_t)out_h * (size_t)out_w;
  if (conv->kernel == 1 && conv->stride == 1 && !conv->upsample2x) {
    ddim_linear_cm(conv->weight, conv->bias, conv->out_channels, conv->in_channels, x, out_pixels,
                   y);
    return;
  }
  fill_bias(conv->bias, conv->out_channels, out_pixels, y);
  const int depth = conv->in_channels * conv->kernel * conv->kernel;
  const int rows_per_band = band_rows(conv, out_h, out_w);
  for (int row0 = 0; row0 < out_h; row0 += rows_per_band) {
    int rows = out_h - row0 < rows_per_band ? out_h - row0 : rows_per_band;
    int band = rows * out_w;
    im2col_band(conv, x, in_h, in_w, out_w, row0, rows, scratch, (size_t)band);
    ddim_gemm(FALSE, FALSE, conv->out_channels, band, depth, conv->weight, depth, scratch, band,
              1.0f, y + (size_t)row0 * (size_t)out_w, (int)out_pixels);
  }
}

/* ---- Batched convolutions for small images ---------------------------------
 * At low resolutions a GEMM per image has few columns (16 at 4×4) and streams
 * the whole weight matrix for little work; the columns of every image of the
 * batch go into one GEMM instead, and the result is scattered back. */

#define BATCHED_MAX_PIXELS 256   /* per image: 16×16 and below */
#define BATCHED_MAX_COLUMNS 8192 /* batch × pixels of one GEMM */

gboolean ddim_conv_use_batched(const DdimConv *conv, int batch, int out_h, int out_w) {
  (void)conv;
  size_t pixels = (size_t)out_h * (size_t)out_w;
  return batch > 1 && pixels <= BATCHED_MAX_PIXELS && pixels * (size_t)batch <= BATCHED_MAX_COLUMNS;
}

size_t ddim_conv_batched_scratch_elements(const DdimConv *conv, int batch, int out_h, int out_w) {
  if (!ddim_conv_use_batched(conv, batch, out_h, out_w)) return 0;
  size_t columns = (size_t)batch * (size_t)out_h * (size_t)out_w;
  size_t depth = (size_t)conv->in_channels * (size_t)(conv->kernel * conv->kernel);
  return (depth + (size_t)conv->out_channels) * columns;
}

void ddim_conv2d_batched(const DdimConv *conv, const float *x, int batch, int in_h, int in_w,
                         float *y, int out_h, int out_w, float *scratch) {
  const size_t pixels = (size_t)out_h * (size_t)out_w;
  const size_t columns = (size_t)batch * pixels;
  const size_t in_plane = (size_t)conv->in_channels * (size_t)in_h * (size_t)in_w;
  const size_t out_plane = (size_t)conv->out_channels * pixels;
  const int depth = conv->in_channels * conv->kernel * conv->kernel;
  float *gathered = scratch;
  float *product = scratch + (size_t)depth * columns;
  const gboolean direct = conv->kernel == 1 && conv->stride == 1 && !conv->upsample2x;
  for (int b = 0; b < batch; b++) {
    const float *xb = x + (size_t)b * in_plane;
    if (direct) { /* 1×1: the input planes are the columns */
      for (int c = 0; c < conv->in_channels; c++)
        memcpy(gathered + (size_t)c * columns + (size_t)b * pixels, xb + (size_t)c * pixels,
               sizeof(float) * pixels);
    } else {
      im2col_band(conv, xb, in_h, in_w, out_w, 0, out_h, gathered + (size_t)b * pixels, columns);
    }
  }
  fill_bias(conv->bias, conv->out_channels, columns, product);
  ddim_gemm(FALSE, FALSE, conv->out_channels, (int)columns, depth, conv->weight, depth, gathered,
            (int)columns, 1.0f, product, (int)columns);
  for (int b = 0; b < batch; b++)
    for (int c = 0; c < conv->out_channels; c++)
      memcpy(y + (size_t)b * out_plane + (size_t)c * pixels,
             product + (size_t)c * columns + (size_t)b * pixels, sizeof(float) * pixels);
}
