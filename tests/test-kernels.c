/* test-kernels.c — the network kernels against naive implementations.
 *
 * Each kernel (im2col + sgemm convolution, fused GroupNorm, multi-head
 * attention, linear layers) is compared with a direct double-precision
 * evaluation of its definition written here: PyTorch's Conv2d
 * (cross-correlation, [out, in, kh, kw] weights), nearest ×2 upsampling,
 * GroupNorm with biased variance, softmax attention over row-major tokens
 * (shared/reference/diffusers-unet-ddim-safetensors.md §1.4-1.7). */
#include "kernels.h"

#include <math.h>
#include <string.h>

static GRand *rng;

static float *random_floats(size_t n, double scale) {
  float *v = g_new(float, n);
  for (size_t i = 0; i < n; i++) v[i] = (float)(scale * (2.0 * g_rand_double(rng) - 1.0));
  return v;
}

/* ---- convolution -------------------------------------------------------- */

/* x_eff[c][y][x]: the input, read through nearest ×2 upsampling if asked,
 * zero outside. */
static double input_at(const DdimConv *conv, const float *x, int in_h, int in_w, int c, int y,
                       int xx) {
  const int eff_h = conv->upsample2x ? 2 * in_h : in_h, eff_w = conv->upsample2x ? 2 * in_w : in_w;
  if (y < 0 || y >= eff_h || xx < 0 || xx >= eff_w) return 0.0;
  if (conv->upsample2x) {
    y /= 2;
    xx /= 2;
  }
  return x[((size_t)c * in_h + y) * in_w + xx];
}

typedef struct {
  const char *what;
  int in_channels, out_channels, kernel, stride, pad, upsample;
  int in_h, in_w;
  int pad_left;     /* -1: pad (the same as the top) */
  int out_h, out_w; /* 0: PyTorch's size for symmetric padding */
} ConvCase;

/* PyTorch output size: floor((eff + pad_top + pad_bottom − k)/s) + 1, with
 * pad_bottom = pad_top, except pad 0 + stride 2 which is diffusers' F.pad
 * (0, 1, 0, 1) (one extra row/column at the bottom/right). */
static int output_size(const ConvCase *c, int in) {
  int eff = c->upsample ? 2 * in : in;
  int total_pad = c->pad == 0 && c->stride == 2 ? 1 : 2 * c->pad;
  return (eff + total_pad - c->kernel) / c->stride + 1;
}

/* The three ways a convolution can run: im2col + GEMM (conv.c, one image),
 * the direct AVX2 kernels and Winograd F(2×2, 3×3) (a batch of two images,
 * so per-image offsets are exercised too). */
typedef enum { CONV_GEMM, CONV_DIRECT, CONV_WINOGRAD, CONV_WINOGRAD4 } ConvAlgorithm;
static const char *const algorithm_names[] = {"gemm", "direct", "winograd F(2x2)",
                                              "winograd F(4x4)"};

static void run_conv_algorithm(const ConvCase *c, ConvAlgorithm algorithm) {
  const int pad_left = c->pad_left >= 0 ? c->pad_left : c->pad;
  DdimConv conv = {
      .in_channels = c->in_channels,
      .out_channels = c->out_channels,
      .kernel = c->kernel,
      .stride = c->stride,
      .pad_top = c->pad,
      .pad_left = pad_left,
      .upsample2x = c->upsample,
  };
  const int k = c->kernel;
  const int batch = algorithm == CONV_GEMM ? 1 : 2;
  g_autofree float *weight = random_floats((size_t)c->out_channels * c->in_channels * k * k, 0.5);
  g_autofree float *bias = random_floats((size_t)c->out_channels, 1.0);
  const size_t in_count = (size_t)c->in_channels * c->in_h * c->in_w;
  g_autofree float *x = random_floats(in_count * batch, 1.0);
  conv.weight = weight;
  conv.bias = bias;
  const int out_h = c->out_h ? c->out_h : output_size(c, c->in_h);
  const int out_w = c->out_w ? c->out_w : output_size(c, c->in_w);
  const size_t out_count = (size_t)c->out_channels * out_h * out_w;

  /* Scratch of exactly the advertised size, followed by a guard. */
  size_t scratch_elements = ddim_conv_scratch_elements(&conv, out_h, out_w);
  if (algorithm == CONV_DIRECT)
    scratch_elements = ddim_conv_direct_scratch_elements(&conv, batch, out_h, out_w);
  const int tile = algorithm == CONV_WINOGRAD4 ? 4 : 2;
  if (algorithm == CONV_WINOGRAD || algorithm == CONV_WINOGRAD4)
    scratch_elements = ddim_conv_winograd_scratch_elements(&conv, tile, batch, out_h, out_w);
  const size_t guard = 64;
  g_autofree float *scratch = g_new(float, scratch_elements + guard);
  for (size_t i = 0; i < scratch_elements + guard; i++) scratch[i] = 12345.0f;
  g_autofree float *y = g_new(float, out_count *batch + guard);
  for (size_t i = 0; i < out_count * batch + guard; i++) y[i] = NAN;

  if (algorithm == CONV_GEMM) ddim_conv2d(&conv, x, c->in_h, c->in_w, y, out_h, out_w, scratch);
  if (algorithm == CONV_DIRECT)
    ddim_conv2d_direct(&conv, x, batch, c->in_h, c->in_w, y, out_h, out_w, scratch);
  if (algorithm == CONV_WINOGRAD || algorithm == CONV_WINOGRAD4)
    ddim_conv2d_winograd(&conv, tile, x, batch, c->in_h, c->in_w, y, out_h, out_w, scratch);

  for (size_t i = 0; i < guard; i++) {
    g_assert_true(scratch[scratch_elements + i] == 12345.0f);
    g_assert_true(isnan(y[out_count * batch + i]));
  }
  double worst = 0.0;
  for (int b = 0; b < batch; b++)
    for (int co = 0; co < c->out_channels; co++)
      for (int oy = 0; oy < out_h; oy++)
        for (int ox = 0; ox < out_w; ox++) {
          double sum = bias[co], magnitude = fabs(bias[co]);
          for (int ci = 0; ci < c->in_channels; ci++)
            for (int ky = 0; ky < k; ky++)
              for (int kx = 0; kx < k; kx++) {
                double w = weight[(((size_t)co * c->in_channels + ci) * k + ky) * k + kx];
                double v = input_at(&conv, x + (size_t)b * in_count, c->in_h, c->in_w, ci,
                                    oy * c->stride + ky - c->pad, ox * c->stride + kx - pad_left);
                sum += w * v;
                magnitude += fabs(w * v);
              }
          double got = y[(size_t)b * out_count + ((size_t)co * out_h + oy) * out_w + ox];
          double error = fabs(got - sum) / (magnitude + 1e-30);
          /* F(2×2)'s transforms add a few roundings of the magnitude;
           * F(4×4)'s factors (up to 8 and 1/24) amplify them. */
          const double allowed = algorithm == CONV_WINOGRAD4  ? 2e-5
                                 : algorithm == CONV_WINOGRAD ? 1e-5
                                                              : 2e-6;
          if (!(error <= allowed))
            g_error("%s (%s): y[%d][%d][%d][%d] = %.8g, expected %.8g", c->what,
                    algorithm_names[algorithm], b, co, oy, ox, got, sum);
          worst = fmax(worst, error);
        }
  g_test_message("%s (%s): %d×%d → %d×%d, scratch %zu, worst relative error %.2e", c->what,
                 algorithm_names[algorithm], c->in_h, c->in_w, out_h, out_w, scratch_elements,
                 worst);
}

static void run_conv_case(const ConvCase *c) {
  run_conv_algorithm(c, CONV_GEMM);
}

static void test_conv(void) {
  const ConvCase cases[] = {
      {"3x3 pad 1", 5, 7, 3, 1, 1, 0, 9, 11, -1, 0, 0},
      {"3x3 pad 1, one pixel", 3, 2, 3, 1, 1, 0, 1, 1, -1, 0, 0},
      {"3x3 stride 2 pad 0 (pad bottom/right)", 4, 6, 3, 2, 0, 0, 8, 12, -1, 0, 0},
      {"3x3 stride 2 pad 0, odd size", 4, 6, 3, 2, 0, 0, 7, 9, -1, 0, 0},
      {"3x3 stride 2 pad 1", 4, 5, 3, 2, 1, 0, 8, 10, -1, 0, 0},
      {"3x3 stride 2 pad 1, odd size", 3, 5, 3, 2, 1, 0, 9, 7, -1, 0, 0},
      {"upsample2x + 3x3 pad 1", 6, 4, 3, 1, 1, 1, 5, 6, -1, 0, 0},
      {"upsample2x + 3x3 pad 1, 1x1 input", 2, 3, 3, 1, 1, 1, 1, 1, -1, 0, 0},
      {"1x1", 9, 5, 1, 1, 0, 0, 6, 7, -1, 0, 0},
      {"1x1 odd", 3, 1, 1, 1, 0, 0, 1, 13, -1, 0, 0},
      /* Different top and left padding: no rows padded, one column each side. */
      {"3x3 pad top 0 / left 1", 3, 4, 3, 1, 0, 0, 6, 7, 1, 4, 7},
      {"3x3 pad top 1 / left 0", 3, 4, 3, 1, 1, 0, 5, 8, 0, 5, 6},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) run_conv_case(&cases[i]);
}

/* The im2col scratch holds 2M elements of columns per band: these shapes
 * need several bands (and, for the widest, one output row per band). */
static void test_conv_bands(void) {
  const ConvCase cases[] = {
      /* 512·9·33 = 152064 elements per output row → 13 rows per band, 4 bands. */
      {"banded 3x3 pad 1", 512, 4, 3, 1, 1, 0, 40, 33, -1, 0, 0},
      /* stride 2 pad 0: 20×17 output, 1200·9·17 per row → 11 rows per band, 2 bands. */
      {"banded 3x3 stride 2 pad 0", 1200, 3, 3, 2, 0, 0, 40, 34, -1, 0, 0},
      /* 2400·9·100 > 2M: one row per band. */
      {"one row per band", 2400, 2, 3, 1, 1, 0, 3, 100, -1, 0, 0},
      /* upsample: 24×40 output, 700·9·40 per row → 8 rows per band, 3 bands. */
      {"banded upsample2x", 700, 2, 3, 1, 1, 1, 12, 20, -1, 0, 0},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    DdimConv conv = {.in_channels = cases[i].in_channels,
                     .kernel = 3,
                     .stride = cases[i].stride,
                     .upsample2x = cases[i].upsample};
    const int out_h = output_size(&cases[i], cases[i].in_h),
              out_w = output_size(&cases[i], cases[i].in_w);
    const size_t full = (size_t)cases[i].in_channels * 9 * out_h * out_w;
    g_assert_cmpuint(ddim_conv_scratch_elements(&conv, out_h, out_w), <, full); /* really banded */
    run_conv_case(&cases[i]);
  }
}

/* ---- linear layers ------------------------------------------------------ */

/* The direct kernels against the double-precision sum: vectors of 8 pixels
 * (widths 8–40), the narrow kernel (widths 1–7), output-channel remainders
 * (blocks of 4 and 16), input-channel chunks of 32 with a remainder, bands
 * of rows, ×2 upsampling. */
static void test_conv_direct(void) {
  const ConvCase cases[] = {
      {"direct 32x32", 16, 16, 3, 1, 1, 0, 32, 32, -1, 0, 0},
      {"direct 8x8, channel remainders", 70, 6, 3, 1, 1, 0, 8, 8, -1, 0, 0},
      {"direct 40x16, 17 outputs", 3, 17, 3, 1, 1, 0, 16, 40, -1, 0, 0},
      {"direct 64x64 (several bands)", 33, 9, 3, 1, 1, 0, 64, 64, -1, 0, 0},
      {"direct upsample2x 8x8 -> 16x16", 5, 4, 3, 1, 1, 1, 8, 8, -1, 0, 0},
      {"narrow 4x4", 40, 19, 3, 1, 1, 0, 4, 4, -1, 0, 0},
      {"narrow 2x3", 7, 33, 3, 1, 1, 0, 2, 3, -1, 0, 0},
      {"narrow upsample2x 2x2 -> 4x4", 9, 16, 3, 1, 1, 1, 2, 2, -1, 0, 0},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    const int out_h = output_size(&cases[i], cases[i].in_h);
    const int out_w = output_size(&cases[i], cases[i].in_w);
    DdimConv conv = {.in_channels = cases[i].in_channels,
                     .out_channels = cases[i].out_channels,
                     .kernel = 3,
                     .stride = 1,
                     .pad_top = 1,
                     .pad_left = 1,
                     .upsample2x = cases[i].upsample};
    /* On a CPU without AVX2/FMA the direct path is never chosen. */
    if (!ddim_conv_direct_applies(&conv, 256, cases[i].in_h, cases[i].in_w, out_h, out_w)) {
      g_test_message("%s: the direct path does not apply on this CPU", cases[i].what);
      continue;
    }
    run_conv_algorithm(&cases[i], CONV_DIRECT);
  }
}

/* Winograd F(2×2, 3×3) and F(4×4, 3×3): sizes that are and are not
 * multiples of the tile (the tile grid overhangs), one pixel, ×2 upsampling,
 * and a size with several bands of tile rows. */
static void test_conv_winograd(void) {
  const ConvCase cases[] = {
      {"winograd 9x11", 5, 7, 3, 1, 1, 0, 9, 11, -1, 0, 0},
      {"winograd 1x1", 3, 2, 3, 1, 1, 0, 1, 1, -1, 0, 0},
      {"winograd 16x16", 32, 8, 3, 1, 1, 0, 16, 16, -1, 0, 0},
      {"winograd upsample2x 5x6 -> 10x12", 6, 4, 3, 1, 1, 1, 5, 6, -1, 0, 0},
      {"winograd 130x258 (3 bands of tile rows)", 64, 3, 3, 1, 1, 0, 130, 258, -1, 0, 0},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    run_conv_algorithm(&cases[i], CONV_WINOGRAD);
    run_conv_algorithm(&cases[i], CONV_WINOGRAD4);
  }
}

static void test_linear(void) {
  const int in = 37, out = 11, n = 23, batch = 3;
  g_autofree float *w = random_floats((size_t)out * in, 0.5), *b = random_floats(out, 1.0);
  g_autofree float *x = random_floats((size_t)in * n, 1.0);
  g_autofree float *y = g_new(float, (size_t)out *n);
  ddim_linear_cm(w, b, out, in, x, n, y);
  for (int o = 0; o < out; o++)
    for (int p = 0; p < n; p++) {
      double s = b[o];
      for (int i = 0; i < in; i++) s += (double)w[o * in + i] * x[i * n + p];
      g_assert_cmpfloat(fabs(y[o * n + p] - s), <=, 1e-5);
    }
  /* Without bias. */
  ddim_linear_cm(w, NULL, out, in, x, n, y);
  for (int p = 0; p < n; p++) {
    double s = 0.0;
    for (int i = 0; i < in; i++) s += (double)w[i] * x[i * n + p];
    g_assert_cmpfloat(fabs(y[p] - s), <=, 1e-5);
  }
  /* Row vectors (nn.Linear on a batch). */
  g_autofree float *rows = random_floats((size_t)batch * in, 1.0);
  g_autofree float *yr = g_new(float, (size_t)batch *out);
  ddim_linear_rows(w, b, out, in, rows, batch, yr);
  for (int r = 0; r < batch; r++)
    for (int o = 0; o < out; o++) {
      double s = b[o];
      for (int i = 0; i < in; i++) s += (double)w[o * in + i] * rows[r * in + i];
      g_assert_cmpfloat(fabs(yr[r * out + o] - s), <=, 1e-5);
    }
}

/* ---- group norm --------------------------------------------------------- */

static double activation_reference(DdimActivation act, double v) {
  switch (act) {
  case DDIM_ACT_MISH:
    return v * tanh(log1p(exp(v)));
  case DDIM_ACT_GELU:
    return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
  case DDIM_ACT_RELU:
    return v > 0 ? v : 0.0;
  case DDIM_ACT_SILU:
  default:
    return v / (1.0 + exp(-v));
  }
}

static void naive_group_norm(const DdimGroupNorm *norm, const float *x, size_t pixels,
                             const float *add, const float *scale, const float *shift,
                             gboolean apply_act, DdimActivation act, double *out) {
  const int per = norm->channels / norm->groups;
  for (int g = 0; g < norm->groups; g++) {
    double sum = 0.0, count = (double)per * pixels;
    for (int c = g * per; c < (g + 1) * per; c++)
      for (size_t p = 0; p < pixels; p++) sum += (double)x[c * pixels + p] + (add ? add[c] : 0.0);
    double mean = sum / count, var = 0.0;
    for (int c = g * per; c < (g + 1) * per; c++)
      for (size_t p = 0; p < pixels; p++) {
        double d = (double)x[c * pixels + p] + (add ? add[c] : 0.0) - mean;
        var += d * d;
      }
    var /= count; /* biased */
    for (int c = g * per; c < (g + 1) * per; c++)
      for (size_t p = 0; p < pixels; p++) {
        double v =
            ((double)x[c * pixels + p] + (add ? add[c] : 0.0) - mean) / sqrt(var + norm->eps);
        v = v * norm->gamma[c] + norm->beta[c];
        if (scale) v *= 1.0 + scale[c];
        if (shift) v += shift[c];
        out[c * pixels + p] = apply_act ? activation_reference(act, v) : v;
      }
  }
}

/* Like PyTorch's CPU kernel, the result is formed in float32 as
 * x·a + b (a = γ/σ, b = β − μ·a), so it carries a rounding of the order of
 * |x·a| besides the usual relative one: with inputs far from zero (the
 * offset case) that term dominates.  A single-pass float variance would be
 * off by far more (≈1e-3 here) and still fails. */
static double tolerance(const DdimGroupNorm *norm, const float *x, size_t pixels, const float *add,
                        const float *scale, size_t i, double expected) {
  const int c = (int)(i / pixels);
  const double input = fabs((double)x[i] + (add ? add[c] : 0.0));
  const double gain = fabs(norm->gamma[c]) * (scale ? 1.0 + fabs(scale[c]) : 1.0);
  return 2e-6 * (1.0 + fabs(expected)) + 4e-7 * input * gain;
}

static void test_group_norm(void) {
  const struct {
    int channels, groups;
    size_t pixels;
    double offset;
  } shapes[] = {
      {32, 8, 35, 0.0}, {12, 1, 17, 0.0}, {6, 6, 9, 0.0}, {16, 4, 64, 300.0}, {8, 2, 1, 0.0}};
  for (size_t s = 0; s < G_N_ELEMENTS(shapes); s++) {
    const int C = shapes[s].channels;
    const size_t P = shapes[s].pixels, count = (size_t)C * P;
    g_autofree float *x = random_floats(count, 2.0);
    for (size_t i = 0; i < count; i++) x[i] += (float)shapes[s].offset;
    g_autofree float *gamma = random_floats(C, 1.5), *beta = random_floats(C, 1.0);
    g_autofree float *add = random_floats(C, 3.0), *scale = random_floats(C, 0.5),
                     *shift = random_floats(C, 1.0);
    DdimGroupNorm norm = {
        .channels = C, .groups = shapes[s].groups, .eps = 1e-6f, .gamma = gamma, .beta = beta};
    if (s == 1) norm.eps = 1e-5f;
    g_autofree float *x_copy = g_memdup2(x, count * sizeof(float));
    g_autofree float *out = g_new(float, count);
    g_autofree double *expected = g_new(double, count);

    /* All combinations of the optional parts. */
    for (int mask = 0; mask < 16; mask++) {
      const float *a = mask & 1 ? add : NULL, *sc = mask & 2 ? scale : NULL,
                  *sh = mask & 4 ? shift : NULL;
      const gboolean act = (mask & 8) != 0;
      const DdimActivation kinds[] = {DDIM_ACT_SILU, DDIM_ACT_MISH, DDIM_ACT_GELU, DDIM_ACT_RELU};
      for (int kind = 0; kind < (act ? 4 : 1); kind++) {
        ddim_group_norm(&norm, x, P, a, sc, sh, act, kinds[kind], out);
        g_assert_cmpmem(x, count * sizeof(float), x_copy,
                        count * sizeof(float)); /* input untouched */
        naive_group_norm(&norm, x, P, a, sc, sh, act, kinds[kind], expected);
        for (size_t i = 0; i < count; i++)
          if (!(fabs(out[i] - expected[i]) <= tolerance(&norm, x, P, a, sc, i, expected[i])))
            g_error("group norm %zu mask %d act %d: out[%zu] = %.8g, expected %.8g", s, mask, kind,
                    i, out[i], expected[i]);
      }
    }
    /* In place (out == x), without add. */
    naive_group_norm(&norm, x, P, NULL, scale, shift, TRUE, DDIM_ACT_SILU, expected);
    ddim_group_norm(&norm, x, P, NULL, scale, shift, TRUE, DDIM_ACT_SILU, x);
    for (size_t i = 0; i < count; i++)
      g_assert_cmpfloat(fabs(x[i] - expected[i]), <=,
                        tolerance(&norm, x_copy, P, NULL, scale, i, expected[i]));
  }
}

static void test_activations(void) {
  const float values[] = {-20.0f, -3.0f, -1.0f, -0.1f, 0.0f, 0.1f, 1.0f, 3.0f, 20.0f};
  const DdimActivation kinds[] = {DDIM_ACT_SILU, DDIM_ACT_MISH, DDIM_ACT_GELU, DDIM_ACT_RELU};
  for (size_t k = 0; k < G_N_ELEMENTS(kinds); k++) {
    float v[G_N_ELEMENTS(values)];
    memcpy(v, values, sizeof v);
    ddim_activation(kinds[k], v, G_N_ELEMENTS(v));
    for (size_t i = 0; i < G_N_ELEMENTS(v); i++) {
      double expected = activation_reference(kinds[k], values[i]);
      g_assert_cmpfloat(fabs(v[i] - expected), <=, 1e-6 * (1.0 + fabs(expected)));
    }
  }
  g_assert_cmpfloat(fabs(ddim_silu(2.0f) - 2.0 / (1.0 + exp(-2.0))), <=, 1e-6);
}

/* ---- attention ---------------------------------------------------------- */

static void naive_attention(const DdimAttention *attn, const float *x, size_t pixels, double *out) {
  const int C = attn->channels, heads = attn->heads, dh = C / heads;
  const size_t P = pixels;
  g_autofree double *normed = g_new(double, (size_t)C *P);
  if (attn->has_norm) {
    naive_group_norm(&attn->norm, x, P, NULL, NULL, NULL, FALSE, DDIM_ACT_SILU, normed);
  } else {
    for (size_t i = 0; i < (size_t)C * P; i++) normed[i] = x[i];
  }
  /* Tokens: q[p][c] = Σ_i Wq[c][i] normed[i][p] + bq[c]. */
  g_autofree double *q = g_new(double, P *C), *k = g_new(double, P *C), *v = g_new(double, P *C);
  for (size_t p = 0; p < P; p++)
    for (int c = 0; c < C; c++) {
      double sq = attn->bq[c], sk = attn->bk[c], sv = attn->bv[c];
      for (int i = 0; i < C; i++) {
        double n = normed[(size_t)i * P + p];
        sq += attn->wq[c * C + i] * n;
        sk += attn->wk[c * C + i] * n;
        sv += attn->wv[c * C + i] * n;
      }
      q[p * C + c] = sq;
      k[p * C + c] = sk;
      v[p * C + c] = sv;
    }
  g_autofree double *o = g_new0(double, P *C), *scores = g_new(double, P);
  for (int h = 0; h < heads; h++)
    for (size_t i = 0; i < P; i++) {
      double max = -INFINITY;
      for (size_t j = 0; j < P; j++) {
        double s = 0.0;
        for (int c = h * dh; c < (h + 1) * dh; c++) s += q[i * C + c] * k[j * C + c];
        scores[j] = s / sqrt((double)dh);
        max = fmax(max, scores[j]);
      }
      double total = 0.0;
      for (size_t j = 0; j < P; j++) total += scores[j] = exp(scores[j] - max);
      for (int c = h * dh; c < (h + 1) * dh; c++) {
        double s = 0.0;
        for (size_t j = 0; j < P; j++) s += scores[j] / total * v[j * C + c];
        o[i * C + c] = s;
      }
    }
  for (size_t p = 0; p < P; p++)
    for (int c = 0; c < C; c++) {
      double s = attn->bo[c];
      for (int i = 0; i < C; i++) s += attn->wo[c * C + i] * o[p * C + i];
      out[(size_t)c * P + p] = (s + x[(size_t)c * P + p]) / attn->rescale_output_factor;
    }
}

static void run_attention_case(int channels, int heads, size_t pixels, gboolean has_norm,
                               float rescale, double weight_scale, double tolerance) {
  const int C = channels;
  g_autofree float *wq = random_floats((size_t)C * C, weight_scale),
                   *wk = random_floats((size_t)C * C, weight_scale);
  g_autofree float *wv = random_floats((size_t)C * C, 0.3), *wo = random_floats((size_t)C * C, 0.3);
  g_autofree float *bq = random_floats(C, 0.5), *bk = random_floats(C, 0.5),
                   *bv = random_floats(C, 0.5), *bo = random_floats(C, 0.5);
  g_autofree float *gamma = random_floats(C, 1.0), *beta = random_floats(C, 0.5);
  DdimAttention attn = {
      .channels = C,
      .heads = heads,
      .has_norm = has_norm,
      .norm = {.channels = C, .groups = 4, .eps = 1e-6f, .gamma = gamma, .beta = beta},
      .wq = wq,
      .bq = bq,
      .wk = wk,
      .bk = bk,
      .wv = wv,
      .bv = bv,
      .wo = wo,
      .bo = bo,
      .rescale_output_factor = rescale,
  };
  const size_t count = (size_t)C * pixels;
  g_autofree float *x = random_floats(count, 1.5);
  g_autofree double *expected = g_new(double, count);
  naive_attention(&attn, x, pixels, expected);
  g_autofree float *scratch = g_new(float, ddim_attention_scratch_elements(&attn, pixels));
  ddim_attention(&attn, x, pixels, scratch);
  double worst = 0.0;
  for (size_t i = 0; i < count; i++) {
    double error = fabs(x[i] - expected[i]) / (1.0 + fabs(expected[i]));
    worst = fmax(worst, error);
    if (!(error <= tolerance))
      g_error("attention C=%d heads=%d norm=%d: x[%zu] = %.8g, expected %.8g", C, heads, has_norm,
              i, x[i], expected[i]);
  }
  g_test_message("attention C=%d heads=%d pixels=%zu norm=%d rescale=%g: worst %.2e", C, heads,
                 pixels, has_norm, rescale, worst);
}

static void test_attention(void) {
  run_attention_case(32, 1, 35, TRUE, 1.0f, 0.3, 5e-6);
  run_attention_case(32, 4, 35, TRUE, 1.0f, 0.3, 5e-6);
  run_attention_case(32, 4, 35, FALSE, 2.0f, 0.3, 5e-6);
  run_attention_case(16, 1, 1, TRUE, 1.0f, 0.3, 5e-6); /* a single token: softmax = 1 */
  run_attention_case(24, 3, 64, TRUE, 1.0f, 2.0, 5e-6);
  /* Logits in the hundreds: exp() without the max subtracted overflows
   * float32 (> 88.7).  The near-one-hot softmax amplifies the float32
   * rounding of the logits, hence the looser bound. */
  run_attention_case(24, 3, 64, FALSE, 1.0f, 4.0, 2e-3);
}

/* Heads are independent channel slices: scrambling head 1's key weights
 * must not change head 0's output channels before to_out.  Checked through
 * the full block with to_out = identity. */
static void test_attention_heads_are_slices(void) {
  const int C = 8, heads = 2;
  const size_t P = 6;
  float identity[64] = {0}, zero[8] = {0};
  for (int c = 0; c < C; c++) identity[c * C + c] = 1.0f;
  g_autofree float *wq = random_floats(64, 1.0), *wk = random_floats(64, 1.0),
                   *wv = random_floats(64, 1.0);
  DdimAttention attn = {.channels = C,
                        .heads = heads,
                        .has_norm = FALSE,
                        .wq = wq,
                        .bq = zero,
                        .wk = wk,
                        .bk = zero,
                        .wv = wv,
                        .bv = zero,
                        .wo = identity,
                        .bo = zero,
                        .rescale_output_factor = 1.0f};
  g_autofree float *x = random_floats((size_t)C * P, 1.0);
  g_autofree float *a = g_memdup2(x, sizeof(float) * C * P),
                   *b = g_memdup2(x, sizeof(float) * C * P);
  g_autofree float *scratch = g_new(float, ddim_attention_scratch_elements(&attn, P));
  ddim_attention(&attn, a, P, scratch);
  for (int c = 4; c < 8; c++)
    for (int i = 0; i < C; i++) wk[c * C + i] = -3.0f * wk[c * C + i] + 0.5f; /* head 1's keys */
  ddim_attention(&attn, b, P, scratch);
  for (size_t i = 0; i < 4 * P; i++) g_assert_true(a[i] == b[i]); /* head 0: channels 0-3 */
  gboolean changed = FALSE;
  for (size_t i = 4 * P; i < 8 * P; i++) changed |= a[i] != b[i];
  g_assert_true(changed);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  rng = g_rand_new_with_seed(20240601);
  g_test_add_func("/kernels/conv", test_conv);
  g_test_add_func("/kernels/conv-bands", test_conv_bands);
  g_test_add_func("/kernels/conv-direct", test_conv_direct);
  g_test_add_func("/kernels/conv-winograd", test_conv_winograd);
  g_test_add_func("/kernels/linear", test_linear);
  g_test_add_func("/kernels/group-norm", test_group_norm);
  g_test_add_func("/kernels/activations", test_activations);
  g_test_add_func("/kernels/attention", test_attention);
  g_test_add_func("/kernels/attention-heads-are-slices", test_attention_heads_are_slices);
  int result = g_test_run();
  g_rand_free(rng);
  return result;
}
