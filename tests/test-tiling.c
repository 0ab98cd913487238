/* test-tiling.c — tiled and masked DDIM on the fixture model google_f32
 * (16×16, 3 channels, size multiple 4): the tile layout and its weights,
 * model-size runs unchanged, no seams, independence from the tile layout,
 * reconstruction against untiled crops, and masked variation.
 *
 * Every bound is a property checked on measured values (printed with
 * --verbose, g_test_message); where a bound is a margin, the comment says
 * why it is that size.  DDIM_TILING_SIZE=512 runs the reconstruction
 * comparison at 512×512 (slow; CI uses 64×64). */
#include "ddim.h"
#include "tiles.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static DdimModel *model;
#define TILE 16
#define CHANNELS 3

static float *noise_image(uint64_t seed, DdimShape shape) {
  float *x = g_new(float, ddim_shape_elements(shape));
  ddim_noise(seed, DDIM_STREAM_INITIAL, shape, x);
  return x;
}

static DdimParams params_for(int steps, int overlap) {
  DdimParams params;
  ddim_params_init(&params);
  params.steps = steps;
  params.overlap = overlap;
  params.clip = 0;
  return params;
}

/* A generated w×h image (η = 0, from x_T of seed 11) with this overlap. */
static float *generate(int w, int h, int overlap) {
  DdimShape shape = {1, CHANNELS, h, w};
  float *x = noise_image(11, shape);
  DdimParams params = params_for(10, overlap);
  params.clip = 1; /* images in [−1, 1], as sampling them normally is */
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_sample(model, &params, x, shape, &error));
  g_assert_no_error(error);
  return x;
}

/* ---- layout -------------------------------------------------------------- */

static void test_layout(void) {
  DdimTiles tiles;
  /* 1024 with tiles of 32 sharing 8: 1 + ⌈992/24⌉ = 43 per axis. */
  g_assert_true(ddim_tiles_init(&tiles, 1024, 1024, 32, 32, 8, 8));
  g_assert_cmpint(tiles.cols, ==, 43);
  g_assert_cmpint(tiles.rows, ==, 43);
  g_assert_cmpint(tiles.col_x[0], ==, 0);
  g_assert_cmpint(tiles.col_x[42], ==, 1024 - 32);
  for (int i = 1; i < 43; i++) {
    int shared = tiles.col_x[i - 1] + 32 - tiles.col_x[i];
    g_assert_cmpint(shared, >=, 8);
    g_assert_cmpint(shared, <=, 9);
  }
  ddim_tiles_clear(&tiles);

  /* 40 = 16 + 2·12: three tiles at 0, 12, 24; the blend of a constant tile
   * is that constant (a partition of unity), and weights stay positive. */
  g_assert_true(ddim_tiles_init(&tiles, 40, 28, 16, 16, 4, 4));
  g_assert_cmpint(tiles.cols, ==, 3);
  g_assert_cmpint(tiles.rows, ==, 2);
  g_assert_cmpint(tiles.col_x[1], ==, 12);
  g_assert_cmpint(tiles.row_y[1], ==, 12);
  float ones[TILE * TILE];
  for (int i = 0; i < TILE * TILE; i++) ones[i] = 1.0f;
  g_autofree float *sum = g_new0(float, 40 * 28);
  for (int t = 0; t < ddim_tiles_count(&tiles); t++) ddim_tiles_accumulate(&tiles, t, ones, 1, sum);
  ddim_tiles_normalise(&tiles, 1, sum);
  for (int i = 0; i < 40 * 28; i++) g_assert_cmpfloat_with_epsilon(sum[i], 1.0f, 1e-6);
  /* Where exactly two tiles share 4 columns, the ramps already sum to 1. */
  for (int d = 0; d < 4; d++) {
    float left = tiles.col_weight[0 * TILE + 12 + d], right = tiles.col_weight[1 * TILE + d];
    g_assert_cmpfloat_with_epsilon(left + right, 1.0f, 1e-6);
    g_assert_cmpfloat(right, >, 0.0f);
  }
  /* Cut then accumulate puts a tile back where it came from. */
  g_autofree float *image = g_new(float, 40 * 28);
  for (int i = 0; i < 40 * 28; i++) image[i] = (float)i;
  float tile[TILE * TILE];
  ddim_tiles_cut(&tiles, 4, image, 1, tile); /* row 1, column 1: origin (12, 12) */
  g_assert_cmpfloat(tile[0], ==, 12.0f * 40 + 12);
  g_assert_cmpfloat(tile[TILE * TILE - 1], ==, 27.0f * 40 + 27);
  ddim_tiles_clear(&tiles);

  /* An image no larger than a tile is one tile. */
  g_assert_true(ddim_tiles_init(&tiles, 16, 8, 32, 32, 8, 8));
  g_assert_cmpint(ddim_tiles_count(&tiles), ==, 1);
  g_assert_cmpint(tiles.tile_w, ==, 16);
  ddim_tiles_clear(&tiles);
}

static void test_automatic_tiling(void) {
  DdimParams params = params_for(10, -1);
  int tile_w = 0, tile_h = 0, count = 0;
  DdimShape native = {1, CHANNELS, TILE, TILE}, small = {1, CHANNELS, 8, 12},
            large = {1, CHANNELS, 40, 40};
  g_assert_false(ddim_params_tiling(model, &params, native, NULL, NULL, NULL));
  g_assert_false(ddim_params_tiling(model, &params, small, NULL, NULL, NULL));
  g_assert_true(ddim_params_tiling(model, &params, large, &tile_w, &tile_h, &count));
  g_assert_cmpint(tile_w, ==, TILE);
  g_assert_cmpint(count, ==, 9);
  params.tile = 40; /* one tile holding the whole image: untiled */
  g_assert_false(ddim_params_tiling(model, &params, large, NULL, NULL, NULL));
  /* Tiles the network cannot take, and an overlap as large as the tile. */
  g_autoptr(GError) error = NULL;
  params.tile = 18;
  g_assert_false(ddim_params_check_shape(model, &params, large, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  params.tile = 16;
  params.overlap = 16;
  g_assert_false(ddim_params_check_shape(model, &params, large, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  /* Sides that are not multiples of 4 are fine when tiled. */
  DdimShape odd = {1, CHANNELS, 37, 41};
  params.overlap = -1;
  g_assert_true(ddim_params_check_shape(model, &params, odd, &error));
  g_assert_no_error(error);
}

/* A tiled image too large for a size limit is refused naming that limit and
 * its value, never its tiles (DdimShape is n, c, h, w). */
static void test_size_limits_named(void) {
  DdimParams params = params_for(10, -1);
  params.tile = 16;
  static const struct {
    DdimShape shape;
    const char *expected;
  } cases[] = {
      {{1, CHANNELS, 16, 20000},
       "a 20000×16 image is too large: its width, 20000 pixels, is more than the 16384 pixels a "
       "side allowed"},
      {{1, CHANNELS, 20000, 16}, "its height, 20000 pixels, is more than the 16384 pixels a side"},
      {{1, CHANNELS, 16384, 16384},
       "a 16384×16384 image is too large: its 268435456 pixels are more than the 67108864 "
       "(8192×8192) allowed in all"},
      /* 8194 × 8190 is within the cap; rounded up for tiling it is not. */
      {{1, CHANNELS, 8194, 8190},
       "a 8190×8194 image is run tiled at 8192×8196, rounded up to multiples of 4: a 8192×8196 "
       "image is too large: its 67141632 pixels are more than the 67108864 (8192×8192) allowed"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_false(ddim_params_check_shape(model, &params, cases[i].shape, &error));
    g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
    if (!strstr(error->message, cases[i].expected))
      g_error("message \"%s\" lacks \"%s\"", error->message, cases[i].expected);
    g_assert_null(strstr(error->message, "tiles of"));
  }
}

/* A model-size image is never tiled: an explicit tile of its size gives the
 * same bits as the default. */
static void test_model_size_unchanged(void) {
  DdimShape shape = {2, CHANNELS, TILE, TILE};
  g_autofree float *a = noise_image(5, shape);
  g_autofree float *b = g_memdup2(a, sizeof(float) * ddim_shape_elements(shape));
  DdimParams params = params_for(5, -1);
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_sample(model, &params, a, shape, &error));
  params.tile = TILE;
  params.overlap = 3;
  g_assert_true(ddim_sample(model, &params, b, shape, &error));
  g_assert_no_error(error);
  g_assert_cmpmem(a, sizeof(float) * ddim_shape_elements(shape), b,
                  sizeof(float) * ddim_shape_elements(shape));
}

/* ---- seams ----------------------------------------------------------------- */

/* Mean |x(c+1) − x(c)| over the column pairs (c, c+1) that straddle a tile
 * edge (border) and over all other pairs (inside), all rows and channels. */
static void column_gradients(const float *x, int w, int h, const int *edges, int edge_count,
                             double *border, double *inside) {
  double sum_border = 0, sum_inside = 0;
  long n_border = 0, n_inside = 0;
  for (int c = 0; c + 1 < w; c++) {
    gboolean at_edge = FALSE;
    for (int e = 0; e < edge_count; e++) at_edge |= edges[e] == c;
    for (int ch = 0; ch < CHANNELS; ch++)
      for (int y = 0; y < h; y++) {
        const float *row = x + ((size_t)ch * h + y) * w;
        double g = fabs(row[c + 1] - row[c]);
        if (at_edge)
          sum_border += g, n_border++;
        else
          sum_inside += g, n_inside++;
      }
  }
  *border = sum_border / n_border;
  *inside = sum_inside / n_inside;
}

/* The left column of every pair that crosses a tile's left or right edge. */
static int tile_edges(const DdimTiles *tiles, int *edges) {
  int n = 0;
  for (int i = 0; i < tiles->cols; i++) {
    if (i > 0) edges[n++] = tiles->col_x[i] - 1;
    if (i < tiles->cols - 1) edges[n++] = tiles->col_x[i] + tiles->tile_w - 1;
  }
  return n;
}

static void test_no_seams(void) {
  /* 3×3 tiles of 16 sharing 4: 40×40. */
  g_autofree float *x = generate(40, 40, 4);
  DdimTiles tiles;
  g_assert_true(ddim_tiles_init(&tiles, 40, 40, TILE, TILE, 4, 4));
  g_assert_cmpint(ddim_tiles_count(&tiles), ==, 9);
  int edges[8];
  int edge_count = tile_edges(&tiles, edges);
  double border, inside;
  column_gradients(x, 40, 40, edges, edge_count, &border, &inside);
  ddim_tiles_clear(&tiles);

  /* The same measure detects seams: tiles that share nothing (48 = 3·16,
   * overlap 0) are cut hard at 16 and 32. */
  g_autofree float *hard = generate(48, 48, 0);
  g_assert_true(ddim_tiles_init(&tiles, 48, 48, TILE, TILE, 0, 0));
  g_assert_cmpint(tiles.col_x[1], ==, 16);
  edge_count = tile_edges(&tiles, edges);
  double hard_border, hard_inside;
  column_gradients(hard, 48, 48, edges, edge_count, &hard_border, &hard_inside);
  ddim_tiles_clear(&tiles);
  g_test_message("mean |gradient| across tile edges / inside tiles: blended %.4f / %.4f = %.3f; "
                 "hard-cut %.4f / %.4f = %.3f",
                 border, inside, border / inside, hard_border, hard_inside,
                 hard_border / hard_inside);
  /* Margin 10%: 480 border samples against 5,700 inside; the ratio's
   * sampling spread between seeds of this test is a few percent, while a
   * hard cut shows up as a clear excess (checked just below). */
  g_assert_cmpfloat(border, <=, 1.10 * inside);
  g_assert_cmpfloat(hard_border / hard_inside, >, border / inside);
}

/* ---- tiling invariance ------------------------------------------------------ */

static double mean_abs(const float *a, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += fabs(a[i]);
  return s / n;
}

static double mean_abs_difference(const float *a, const float *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += fabs(a[i] - b[i]);
  return s / n;
}

static void test_invariance(void) {
  /* Two layouts of one image: 3 tiles sharing 4 columns (0, 12, 24) and 4
   * tiles sharing 8 (0, 8, 16, 24).  The noise comes from the global
   * position, so only the network's view of each pixel differs. */
  g_autofree float *a = generate(40, 40, 4);
  g_autofree float *b = generate(40, 40, 8);
  /* Against a different image altogether (another x_T). */
  DdimShape shape = {1, CHANNELS, 40, 40};
  g_autofree float *other = noise_image(12, shape);
  DdimParams params = params_for(10, 4);
  params.clip = 1;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_sample(model, &params, other, shape, &error));
  size_t n = ddim_shape_elements(shape);
  double layouts = mean_abs_difference(a, b, n), seeds = mean_abs_difference(a, other, n);
  double scale = mean_abs(a, n);
  g_test_message("mean |a − b| in model space: overlap 4 vs 8 %.4f, x_T seed 11 vs 12 %.4f "
                 "(mean |a| %.4f)",
                 layouts, seeds, scale);
  /* Bound: the two layouts agree to 0.05 in model space (0.025 on the
   * [0, 1] pixel scale, 6 of 255 levels) and five times more closely than
   * two seeds do. */
  g_assert_cmpfloat(layouts, <, 0.05);
  g_assert_cmpfloat(layouts, <, 0.2 * seeds);
}

/* ---- reconstruction: tiled image against its untiled crops ------------------ */

/* Reconstruction (encode then decode, 10 steps) of one image, tiled with
 * this overlap; returns the MSE on the [0, 1] scale. */
static double reconstruct_mse(const float *image, DdimShape shape, int overlap) {
  size_t n = ddim_shape_elements(shape);
  DdimParams params = params_for(10, overlap);
  DdimParams encode = ddim_params_for_encode(&params);
  DdimParams decode = ddim_params_for_inverse_decode(&params);
  g_autoptr(GError) error = NULL;
  g_autofree float *x = g_memdup2(image, sizeof(float) * n);
  g_assert_true(ddim_invert(model, &encode, x, shape, &error));
  g_assert_true(ddim_sample(model, &decode, x, shape, &error));
  g_assert_no_error(error);
  return ddim_mse_01(image, x, n);
}

static void test_reconstruct_against_crops(void) {
  const char *size_text = g_getenv("DDIM_TILING_SIZE");
  const int size = size_text ? atoi(size_text) : 64;
  g_assert_cmpint(size % TILE, ==, 0);
  DdimShape shape = {1, CHANNELS, size, size};
  size_t n = ddim_shape_elements(shape);
  /* The image: a smooth colour pattern with edges (in [−0.9, 0.9]). */
  g_autofree float *image = g_new(float, n);
  for (int c = 0; c < CHANNELS; c++)
    for (int y = 0; y < size; y++)
      for (int x = 0; x < size; x++) {
        double u = (double)x / size, v = (double)y / size;
        double value = 0.6 * sin(2 * G_PI * ((c + 2) * u + (3 - c) * v)) +
                       0.3 * ((((x / 11) + (y / 7)) % 2) ? 1 : -1);
        image[((size_t)c * size + y) * size + x] = (float)value;
      }

  /* The crops, as one batch of (size/16)² untiled 16×16 images. */
  int per_side = size / TILE, crops = per_side * per_side;
  DdimShape crop_shape = {crops, CHANNELS, TILE, TILE};
  g_autofree float *batch = g_new(float, n);
  for (int k = 0; k < crops; k++)
    for (int c = 0; c < CHANNELS; c++)
      for (int y = 0; y < TILE; y++)
        memcpy(batch + (((size_t)k * CHANNELS + c) * TILE + y) * TILE,
               image + ((size_t)c * size + (k / per_side) * TILE + y) * size +
                   (k % per_side) * TILE,
               sizeof(float) * TILE);
  double crops_mse = reconstruct_mse(batch, crop_shape, 0);
  double hard_mse = reconstruct_mse(image, shape, 0); /* tiles 0, 16, 32, …: the crops */
  double tiled_mse = reconstruct_mse(image, shape, -1);
  g_test_message("reconstruction of %d×%d, 10 steps: %d untiled crops %.2f dB; tiled, overlap 0 "
                 "%.2f dB; tiled, overlap 4 (default) %.2f dB",
                 size, size, crops, ddim_psnr_from_mse(crops_mse), ddim_psnr_from_mse(hard_mse),
                 ddim_psnr_from_mse(tiled_mse));
  /* Tiles that share nothing are the crops: the tiled loop adds no error
   * of its own (same network batches, weights 1). */
  g_assert_cmpfloat(fabs(hard_mse - crops_mse), <=, 1e-6 * crops_mse);
  /* Blended tiles: on this briefly trained fixture the blend costs about
   * 0.7 dB against the crops (18.5 against 19.2 dB at 64×64); the issue's
   * "at least as good" is checked with the emoji model in docs/tiling.md.
   * This bound keeps that cost from growing. */
  g_assert_cmpfloat(ddim_psnr_from_mse(tiled_mse), >=, ddim_psnr_from_mse(crops_mse) - 1.0);
}

/* ---- masked variation ----------------------------------------------------- */

/* A square of 1 with a 4-pixel linear feather, in a w×w mask of 0. */
static float *square_mask(int w, int from, int to, int feather) {
  float *mask = g_new(float, (size_t)w *w);
  for (int y = 0; y < w; y++)
    for (int x = 0; x < w; x++) {
      int d = MIN(MIN(x - from, to - 1 - x), MIN(y - from, to - 1 - y)); /* inside distance */
      mask[y * w + x] = d < 0 ? 0.0f : d >= feather ? 1.0f : (float)(d + 1) / (feather + 1);
    }
  return mask;
}

/* Mean |∇| over the horizontal and vertical neighbour pairs touching the
 * feather band (where 0 < m < 1, or where m jumps), and over pairs away from it. */
static void mask_gradients(const float *x, const float *mask, int w, double *band, double *away) {
  double s_band = 0, s_away = 0;
  long n_band = 0, n_away = 0;
  for (int ch = 0; ch < CHANNELS; ch++)
    for (int y = 0; y < w; y++)
      for (int x0 = 0; x0 < w; x0++)
        for (int dir = 0; dir < 2; dir++) {
          int x1 = x0 + (dir == 0), y1 = y + (dir == 1);
          if (x1 >= w || y1 >= w) continue;
          float m0 = mask[y * w + x0], m1 = mask[y1 * w + x1];
          gboolean in_band = m0 != m1 || (m0 > 0 && m0 < 1);
          double g = fabs(x[((size_t)ch * w + y1) * w + x1] - x[((size_t)ch * w + y) * w + x0]);
          if (in_band)
            s_band += g, n_band++;
          else
            s_away += g, n_away++;
        }
  *band = s_band / n_band;
  *away = s_away / n_away;
}

static void masked_vary(DdimMaskKeep keep, const char *name) {
  const int w = 40;
  DdimShape shape = {2, CHANNELS, w, w};
  size_t image_values = (size_t)CHANNELS * w * w;
  /* The known image: a generated one (the model's own kind of picture). */
  g_autofree float *known = generate(w, w, -1);
  g_autofree float *mask = square_mask(w, 10, 30, 4);
  g_autofree float *x = g_new(float, 2 * image_values);
  memcpy(x, known, sizeof(float) * image_values);
  memcpy(x + image_values, known, sizeof(float) * image_values);
  DdimParams params = params_for(10, -1);
  params.strength = 0.7;
  params.seed = 3;
  params.mask = mask;
  params.mask_keep = keep;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_vary(model, &params, x, shape, &error));
  g_assert_no_error(error);

  for (int k = 0; k < 2; k++) {
    const float *out = x + (size_t)k * image_values;
    long kept = 0, changed = 0;
    for (int c = 0; c < CHANNELS; c++)
      for (int i = 0; i < w * w; i++) {
        float a = out[c * w * w + i], b = known[c * w * w + i];
        if (mask[i] == 0.0f) {
          /* Exactly the known pixel: same bits. */
          g_assert_true(memcmp(&a, &b, sizeof a) == 0);
          kept++;
        } else if (mask[i] == 1.0f && fabsf(a - b) > 1e-3f) {
          changed++;
        }
      }
    g_assert_cmpint(kept, ==, CHANNELS * (w * w - 20 * 20));
    g_assert_cmpint(changed, >, CHANNELS * 12 * 12 / 2); /* the inside was regenerated */
  }
  /* The two variations differ (seed + k). */
  g_assert_true(memcmp(x, x + image_values, sizeof(float) * image_values) != 0);

  /* No step at the border: gradients across the feather band are no larger
   * than away from it.  For reference, the naive composite (an unmasked
   * variation pasted in through the same mask) is measured too. */
  double band, away;
  mask_gradients(x, mask, w, &band, &away);
  DdimParams plain = params;
  plain.mask = NULL;
  g_autofree float *naive = g_memdup2(known, sizeof(float) * image_values);
  DdimShape one = shape;
  one.n = 1;
  g_assert_true(ddim_vary(model, &plain, naive, one, &error));
  for (int c = 0; c < CHANNELS; c++)
    for (int i = 0; i < w * w; i++)
      naive[c * w * w + i] = mask[i] * naive[c * w * w + i] + (1 - mask[i]) * known[c * w * w + i];
  double naive_band, naive_away;
  mask_gradients(naive, mask, w, &naive_band, &naive_away);
  double known_band, known_away;
  mask_gradients(known, mask, w, &known_band, &known_away);
  g_test_message("%s: mean |gradient| in the feather band / away: %.4f / %.4f = %.3f (naive "
                 "composite %.3f, the known image itself %.3f)",
                 name, band, away, band / away, naive_band / naive_away, known_band / known_away);
  /* Margin: the known image's own ratio (its content near the square is
   * not uniform either) plus 10%. */
  g_assert_cmpfloat(band / away, <=, 1.10 * MAX(known_band / known_away, 1.0));
}

static void test_masked_vary_inversion(void) {
  masked_vary(DDIM_MASK_KEEP_INVERSION, "inversion");
}

static void test_masked_vary_forward(void) {
  masked_vary(DDIM_MASK_KEEP_FORWARD, "forward");
}

/* A mask outside [0, 1] and a masked sample without the known image are refused. */
static void test_mask_errors(void) {
  DdimShape shape = {1, CHANNELS, TILE, TILE};
  g_autofree float *x = noise_image(1, shape);
  float mask[TILE * TILE] = {0};
  DdimParams params = params_for(3, -1);
  params.mask = mask;
  g_autoptr(GError) error = NULL;
  g_assert_false(ddim_sample(model, &params, x, shape, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  mask[5] = 1.5f;
  g_assert_false(ddim_vary(model, &params, x, shape, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(error->message, "mask"));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_autoptr(GError) error = NULL;
  model = ddim_model_load(DDIM_FIXTURES_DIR "/google_f32", &error);
  g_assert_no_error(error);
  g_test_add_func("/tiling/layout", test_layout);
  g_test_add_func("/tiling/automatic", test_automatic_tiling);
  g_test_add_func("/tiling/size-limits-named", test_size_limits_named);
  g_test_add_func("/tiling/model-size-unchanged", test_model_size_unchanged);
  g_test_add_func("/tiling/no-seams", test_no_seams);
  g_test_add_func("/tiling/invariance", test_invariance);
  g_test_add_func("/tiling/reconstruct-against-crops", test_reconstruct_against_crops);
  g_test_add_func("/mask/vary-inversion", test_masked_vary_inversion);
  g_test_add_func("/mask/vary-forward", test_masked_vary_forward);
  g_test_add_func("/mask/errors", test_mask_errors);
  int status = g_test_run();
  ddim_model_free(model);
  return status;
}
