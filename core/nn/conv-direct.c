/* conv-direct.c — 3×3 stride-1 convolutions computed directly, without
 * im2col or a GEMM library.
 *
 * For thin layers (16–64 channels: the tiles of a large layer, the default
 * model) an im2col GEMM spends as long writing and packing its columns as
 * multiplying them.  Here the input is copied once into a zero-bordered
 * plane per channel ((H+2) × (W+2), reading through ×2 nearest upsampling
 * for Upsample2D convolutions), the weights are reordered once per call to
 * [block][ci][ky·3+kx][co in block], and an AVX2/FMA micro-kernel keeps a
 * block of 4 output channels × 16 output pixels in 8 registers while it
 * runs over every (ci, ky, kx): two unaligned loads of padded input and one
 * broadcast weight per output channel feed 8 FMAs.  (6 channels × 16 pixels
 * in 12 registers measured 30 % slower: GCC spilled the accumulators every
 * input channel.)  Images narrower than a vector have a second kernel with
 * the output channels in the vector.  Each output value is one fixed-order
 * sum, whatever the thread count.
 *
 * Used only on x86-64 CPUs with AVX2 and FMA and for output widths that are
 * multiples of 8 or below 8; everything else takes conv.c's GEMM path. */
#include "kernels.h"
#include "parallel.h"

#include <stddef.h>
#include <string.h>

#if DDIM_X86_KERNELS
#include <immintrin.h>
#endif

#define BLOCK_CHANNELS 4 /* output channels per micro-tile */
#define TILE_VECTORS 2   /* vectors of 8 output pixels per micro-tile */
/* Images narrower than a vector (the 4×4 level): vectors run over output
 * channels instead, 16 channels × 4 pixels per micro-tile. */
#define NARROW_CHANNELS 16
#define NARROW_PIXELS 4

/* Whether the direct path computes this convolution: a same-size 3×3 one
 * (ddim_conv_is_same_3x3) whose output width is a multiple of 8 (whole
 * vectors) or, with its height, below 8 (the narrow kernel). */
gboolean ddim_conv_direct_applies(const DdimConv *conv, int batch, int in_h, int in_w, int out_h,
                                  int out_w) {
  if (!ddim_cpu_has_avx2_fma() || !ddim_conv_is_same_3x3(conv, in_h, in_w, out_h, out_w))
    return FALSE;
  /* The weights are reordered on every call; below 256 output pixels in
   * all that costs more than OpenBLAS's own packing. */
  if ((size_t)batch * (size_t)out_h * (size_t)out_w < 256) return FALSE;
  if (out_w < 8) return out_h < 8; /* the narrow kernel (4×4, 2×2 levels) */
  return out_w % 8 == 0;
}

static gboolean is_narrow(int out_w) {
  return out_w < 8;
}

/* Elements from one input channel's padded plane to the next.  A large
 * plane is lengthened so that its size in bytes is 2112 modulo 4096 (half a
 * page and one cache line): the same window of 32 consecutive channels then
 * falls in 32 different L1 sets instead of a few (at 256×256 the natural
 * size is 16 bytes past a multiple of 4 KB); about 2 % at 256×256. */
static size_t padded_plane(int out_h, int out_w) {
  size_t elements = (size_t)(out_h + 2) * (size_t)(out_w + 2);
  if (elements * sizeof(float) < 16384) return elements;
  elements = (elements + 15) / 16 * 16;
  while (elements * sizeof(float) % 4096 != 2112) elements += 16;
  return elements;
}

static size_t packed_weight_elements(const DdimConv *conv, int block_channels) {
  const size_t blocks = (size_t)(conv->out_channels + block_channels - 1) / (size_t)block_channels;
  return blocks * (size_t)block_channels * (size_t)conv->in_channels * 9;
}

/* Every vector load stays inside its padded plane: the last one of a row
 * ends at column out_w + 1, the border.  The narrow kernel pads every image
 * of the batch first. */
size_t ddim_conv_direct_scratch_elements(const DdimConv *conv, int batch, int out_h, int out_w) {
  const size_t padded = (size_t)conv->in_channels * padded_plane(out_h, out_w);
  if (is_narrow(out_w))
    return packed_weight_elements(conv, NARROW_CHANNELS) + (size_t)batch * padded;
  return packed_weight_elements(conv, BLOCK_CHANNELS) + padded;
}

/* Weights [out][in][3][3] → for each block of `block_channels` outputs,
 * [ci][tap][co − block start], zero for outputs past the last. */
static void pack_weights(const DdimConv *conv, int block_channels, float *packed) {
  const int cin = conv->in_channels, cout = conv->out_channels;
  const int blocks = (cout + block_channels - 1) / block_channels;
  for (int block = 0; block < blocks; block++) {
    float *dst = packed + (size_t)block * (size_t)block_channels * (size_t)cin * 9;
    for (int ci = 0; ci < cin; ci++)
      for (int tap = 0; tap < 9; tap++)
        for (int j = 0; j < block_channels; j++) {
          int co = block * block_channels + j;
          dst[((size_t)ci * 9 + (size_t)tap) * (size_t)block_channels + (size_t)j] =
              co < cout ? conv->weight[((size_t)co * (size_t)cin + (size_t)ci) * 9 + (size_t)tap]
                        : 0.0f;
        }
  }
}

/* Zero-bordered copy of every input channel at the output's size. */
static void pad_input(const DdimConv *conv, const float *x, int in_h, int in_w, int out_h,
                      int out_w, float *padded) {
  const int pw = out_w + 2;
  const size_t plane = padded_plane(out_h, out_w);
  for (int ci = 0; ci < conv->in_channels; ci++) {
    float *dst = padded + (size_t)ci * plane;
    const float *src = x + (size_t)ci * (size_t)in_h * (size_t)in_w;
    memset(dst, 0, sizeof(float) * (size_t)pw);
    memset(dst + (size_t)(out_h + 1) * (size_t)pw, 0, sizeof(float) * (size_t)pw);
    for (int y = 0; y < out_h; y++) {
      float *row = dst + (size_t)(y + 1) * (size_t)pw;
      row[0] = 0.0f;
      row[out_w + 1] = 0.0f;
      if (conv->upsample2x) {
        const float *in_row = src + (size_t)(y >> 1) * (size_t)in_w;
        for (int x_out = 0; x_out < out_w; x_out++) row[1 + x_out] = in_row[x_out >> 1];
      } else {
        memcpy(row + 1, src + (size_t)y * (size_t)in_w, sizeof(float) * (size_t)out_w);
      }
    }
  }
}

#if DDIM_X86_KERNELS
/* One micro-tile: `channels` (≤ BLOCK_CHANNELS) outputs × `vectors` (1 or
 * 2) runs of 8 output pixels whose windows start at window[v] in the
 * padded plane of channel 0 and which go to out[v] in the output plane of
 * the block's first channel.  Inlined with constant channels/vectors so the
 * accumulators stay in registers and every tap is a constant displacement. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
micro_tile(const int channels, const int vectors, const float *const *window, size_t plane, int pw,
           int cin, const float *packed, const float *bias, gboolean accumulate, float *const *out,
           size_t out_plane) {
  __m256 acc[BLOCK_CHANNELS][TILE_VECTORS];
  for (int j = 0; j < channels; j++)
    for (int v = 0; v < vectors; v++)
      acc[j][v] = accumulate ? _mm256_loadu_ps(out[v] + (size_t)j * out_plane)
                             : _mm256_set1_ps(bias ? bias[j] : 0.0f);
  const float *rows[TILE_VECTORS];
  for (int v = 0; v < vectors; v++) rows[v] = window[v];
  for (int ci = 0; ci < cin; ci++) {
    for (int ky = 0; ky < 3; ky++) {
      for (int kx = 0; kx < 3; kx++) {
        __m256 in[TILE_VECTORS];
        for (int v = 0; v < vectors; v++)
          in[v] = _mm256_loadu_ps(rows[v] + (size_t)ky * (size_t)pw + (size_t)kx);
        for (int j = 0; j < channels; j++) {
          const __m256 w = _mm256_broadcast_ss(packed + (ky * 3 + kx) * BLOCK_CHANNELS + j);
          for (int v = 0; v < vectors; v++) acc[j][v] = _mm256_fmadd_ps(w, in[v], acc[j][v]);
        }
      }
    }
    for (int v = 0; v < vectors; v++) rows[v] += plane;
    packed += 9 * BLOCK_CHANNELS;
  }
  for (int j = 0; j < channels; j++)
    for (int v = 0; v < vectors; v++) _mm256_storeu_ps(out[v] + (size_t)j * out_plane, acc[j][v]);
}

#define TILE_CASE(C, V)                                                                            \
  case (C)*4 + (V):                                                                                \
    micro_tile((C), (V), window, plane, pw, cin, packed, bias, accumulate, out, out_plane);        \
    break;

__attribute__((target("avx2,fma"))) static void
dispatch_tile(int channels, int vectors, const float *const *window, size_t plane, int pw, int cin,
              const float *packed, const float *bias, gboolean accumulate, float *const *out,
              size_t out_plane) {
  switch (channels * 4 + vectors) {
    /* clang-format off */
    TILE_CASE(1, 1) TILE_CASE(1, 2) TILE_CASE(2, 1) TILE_CASE(2, 2)
    TILE_CASE(3, 1) TILE_CASE(3, 2) TILE_CASE(4, 1) TILE_CASE(4, 2)
        /* clang-format on */
        default : break;
  }
}

/* Narrow micro-tile: NARROW_CHANNELS outputs (two vectors) × `pixels`
 * output pixels whose windows start at window[p]; one broadcast input
 * value per pixel and two weight vectors feed 2·pixels FMAs per tap.  The
 * sums go to result[p][channel]. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
narrow_tile(const int pixels, const float *padded, const size_t *window, size_t plane, int pw,
            int cin, const float *packed, const float *bias16,
            float result[NARROW_PIXELS][NARROW_CHANNELS]) {
  __m256 acc[2][NARROW_PIXELS];
  for (int p = 0; p < pixels; p++) {
    acc[0][p] = _mm256_loadu_ps(bias16);
    acc[1][p] = _mm256_loadu_ps(bias16 + 8);
  }
  for (int ci = 0; ci < cin; ci++) {
    const float *base = padded + (size_t)ci * plane;
    for (int ky = 0; ky < 3; ky++) {
      for (int kx = 0; kx < 3; kx++) {
        const float *tap = packed + (ky * 3 + kx) * NARROW_CHANNELS;
        const __m256 w0 = _mm256_loadu_ps(tap), w1 = _mm256_loadu_ps(tap + 8);
        for (int p = 0; p < pixels; p++) {
          const __m256 in =
              _mm256_broadcast_ss(base + window[p] + (size_t)ky * (size_t)pw + (size_t)kx);
          acc[0][p] = _mm256_fmadd_ps(w0, in, acc[0][p]);
          acc[1][p] = _mm256_fmadd_ps(w1, in, acc[1][p]);
        }
      }
    }
    packed += 9 * NARROW_CHANNELS;
  }
  for (int p = 0; p < pixels; p++) {
    _mm256_storeu_ps(result[p], acc[0][p]);
    _mm256_storeu_ps(result[p] + 8, acc[1][p]);
  }
}

__attribute__((target("avx2,fma"))) static void
dispatch_narrow(int pixels, const float *padded, const size_t *window, size_t plane, int pw,
                int cin, const float *packed, const float *bias16,
                float result[NARROW_PIXELS][NARROW_CHANNELS]) {
  switch (pixels) {
  case 1:
    narrow_tile(1, padded, window, plane, pw, cin, packed, bias16, result);
    break;
  case 2:
    narrow_tile(2, padded, window, plane, pw, cin, packed, bias16, result);
    break;
  case 3:
    narrow_tile(3, padded, window, plane, pw, cin, packed, bias16, result);
    break;
  default:
    narrow_tile(4, padded, window, plane, pw, cin, packed, bias16, result);
    break;
  }
}
#endif

/* The whole batch with the narrow kernel: output-channel blocks outermost,
 * so a block's weights stay in cache over every image. */
static void narrow_batch(const DdimConv *conv, const float *padded, const float *packed, int batch,
                         int out_h, int out_w, float *y) {
#if DDIM_X86_KERNELS
  const int pw = out_w + 2, cin = conv->in_channels, cout = conv->out_channels;
  const size_t plane = padded_plane(out_h, out_w);
  const size_t padded_image = (size_t)cin * plane;
  const size_t out_plane = (size_t)out_h * (size_t)out_w;
  const size_t out_image = (size_t)cout * out_plane;
  const int pixels_total = out_h * out_w;
  const int blocks = (cout + NARROW_CHANNELS - 1) / NARROW_CHANNELS;
  const double work = (double)cout * cin * 9.0 * (double)out_plane * batch;
  (void)work; /* used only by the OpenMP pragma */
  DDIM_PARALLEL_FOR_IF(work >= (double)DDIM_PARALLEL_MIN_GEMM_WORK)
  for (int block = 0; block < blocks; block++) {
    const int co0 = block * NARROW_CHANNELS;
    const int channels = cout - co0 < NARROW_CHANNELS ? cout - co0 : NARROW_CHANNELS;
    const float *block_weights = packed + (size_t)block * NARROW_CHANNELS * (size_t)cin * 9;
    float bias16[NARROW_CHANNELS] = {0};
    for (int j = 0; j < channels; j++) bias16[j] = conv->bias ? conv->bias[co0 + j] : 0.0f;
    for (int b = 0; b < batch; b++) {
      for (int first = 0; first < pixels_total; first += NARROW_PIXELS) {
        const int pixels =
            pixels_total - first < NARROW_PIXELS ? pixels_total - first : NARROW_PIXELS;
        size_t window[NARROW_PIXELS];
        for (int p = 0; p < pixels; p++)
          window[p] = (size_t)((first + p) / out_w) * (size_t)pw + (size_t)((first + p) % out_w);
        float result[NARROW_PIXELS][NARROW_CHANNELS];
        dispatch_narrow(pixels, padded + (size_t)b * padded_image, window, plane, pw, cin,
                        block_weights, bias16, result);
        float *y_image = y + (size_t)b * out_image + (size_t)co0 * out_plane + (size_t)first;
        for (int j = 0; j < channels; j++)
          for (int p = 0; p < pixels; p++)
            y_image[(size_t)j * out_plane + (size_t)p] = result[p][j];
      }
    }
  }
#else
  (void)conv, (void)padded, (void)packed, (void)batch, (void)out_h, (void)out_w, (void)y;
#endif
}

/* One image: y (out × out_h·out_w) from its padded planes, in bands of
 * output rows whose outputs fit in L2 (128 KB; at least 4 bands per image
 * so that threads have work to share).  In a band the input channels go in
 * chunks of INPUT_CHUNK — the sums continue in y from one chunk to the next,
 * in a fixed order — and inside a chunk pixel tiles are outermost and
 * output-channel blocks inside: a tile's input windows (INPUT_CHUNK channels
 * × three rows of 18 values, 12 KB) stay in L1 while every block uses them,
 * the chunk's weights and the band's outputs stay in L2.  This holds for
 * 256×256 layers of 128 channels as well as for 32×32 tiles.  Bands write
 * disjoint outputs, so they are shared over threads with the same bits. */
#define INPUT_CHUNK 32
#define BAND_OUTPUT_BYTES (128 * 1024)
static void direct_image(const DdimConv *conv, const float *padded, const float *packed, int out_h,
                         int out_w, float *y) {
#if DDIM_X86_KERNELS
  const int pw = out_w + 2, cin = conv->in_channels, cout = conv->out_channels;
  const size_t plane = padded_plane(out_h, out_w);
  const size_t out_plane = (size_t)out_h * (size_t)out_w;
  const int row_vectors = out_w / 8;
  const int blocks = (cout + BLOCK_CHANNELS - 1) / BLOCK_CHANNELS;
  const size_t block_stride = BLOCK_CHANNELS * (size_t)cin * 9;
  int band_rows = (int)(BAND_OUTPUT_BYTES / (sizeof(float) * (size_t)cout * (size_t)out_w));
  const int max_rows = out_h / 4 > 1 ? out_h / 4 : 1;
  if (band_rows > max_rows) band_rows = max_rows;
  if (band_rows < 1) band_rows = 1;
  const int bands = (out_h + band_rows - 1) / band_rows;
  const double work = (double)cout * cin * 9.0 * (double)out_plane;
  (void)work; /* used only by the OpenMP pragma */
  DDIM_PARALLEL_FOR_IF(work >= (double)DDIM_PARALLEL_MIN_GEMM_WORK)
  for (int band = 0; band < bands; band++) {
    const int first_vector = band * band_rows * row_vectors;
    const int end_row = (band + 1) * band_rows < out_h ? (band + 1) * band_rows : out_h;
    const int end_vector = end_row * row_vectors;
    for (int c0 = 0; c0 < cin; c0 += INPUT_CHUNK) {
      const int chunk = cin - c0 < INPUT_CHUNK ? cin - c0 : INPUT_CHUNK;
      const float *chunk_input = padded + (size_t)c0 * plane;
      const float *chunk_weights = packed + (size_t)c0 * 9 * BLOCK_CHANNELS;
      for (int first = first_vector; first < end_vector; first += TILE_VECTORS) {
        const int vectors = end_vector - first < TILE_VECTORS ? end_vector - first : TILE_VECTORS;
        const float *window[TILE_VECTORS];
        size_t out_offset[TILE_VECTORS];
        for (int v = 0; v < vectors; v++) {
          const int oy = (first + v) / row_vectors, ox = (first + v) % row_vectors * 8;
          window[v] = chunk_input + (size_t)oy * (size_t)pw + (size_t)ox;
          out_offset[v] = (size_t)oy * (size_t)out_w + (size_t)ox;
        }
        for (int block = 0; block < blocks; block++) {
          const int co0 = block * BLOCK_CHANNELS;
          const int channels = cout - co0 < BLOCK_CHANNELS ? cout - co0 : BLOCK_CHANNELS;
          const float *bias = conv->bias ? conv->bias + co0 : NULL;
          float *out[TILE_VECTORS];
          for (int v = 0; v < vectors; v++) out[v] = y + (size_t)co0 * out_plane + out_offset[v];
          dispatch_tile(channels, vectors, window, plane, pw, chunk,
                        chunk_weights + (size_t)block * block_stride, bias, c0 > 0, out, out_plane);
        }
      }
    }
  }
#else
  (void)conv, (void)padded, (void)packed, (void)out_h, (void)out_w, (void)y;
#endif
}

void ddim_conv2d_direct(const DdimConv *conv, const float *x, int batch, int in_h, int in_w,
                        float *y, int out_h, int out_w, float *scratch) {
  const size_t in_image = (size_t)conv->in_channels * (size_t)in_h * (size_t)in_w;
  const size_t out_image = (size_t)conv->out_channels * (size_t)out_h * (size_t)out_w;
  float *packed = scratch;
  if (is_narrow(out_w)) {
    float *padded = scratch + packed_weight_elements(conv, NARROW_CHANNELS);
    const size_t padded_image = (size_t)conv->in_channels * padded_plane(out_h, out_w);
    pack_weights(conv, NARROW_CHANNELS, packed);
    for (int b = 0; b < batch; b++)
      pad_input(conv, x + (size_t)b * in_image, in_h, in_w, out_h, out_w,
                padded + (size_t)b * padded_image);
    narrow_batch(conv, padded, packed, batch, out_h, out_w, y);
    return;
  }
  float *padded = scratch + packed_weight_elements(conv, BLOCK_CHANNELS);
  pack_weights(conv, BLOCK_CHANNELS, packed);
  for (int b = 0; b < batch; b++) {
    pad_input(conv, x + (size_t)b * in_image, in_h, in_w, out_h, out_w, padded);
    direct_image(conv, padded, packed, out_h, out_w, y + (size_t)b * out_image);
  }
}
