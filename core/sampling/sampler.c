/* sampler.c — whole DDIM runs: decode (sampling), encode (inversion) and
 * SDEdit variation, over the timesteps of a schedule, plain or tiled, with
 * or without a mask.
 *
 * Plain, tiled and masked runs share one DDIM loop; they differ only in how
 * ε is evaluated (evaluate(): the whole image at once, or tile by tile) and
 * in whether a known image is composited in after every step.
 *
 * Runs work on private buffers and write the caller's tensor only when they
 * finish, so a failed or cancelled run leaves the input as it was. */
#include "ddim-step.h"
#include "model.h"
#include "tiles.h"
#include "timesteps.h"

#include <math.h>
#include <string.h>

void ddim_params_init(DdimParams *params) {
  memset(params, 0, sizeof *params);
  params->steps = 50;
  params->eta = 0.0;
  params->schedule = DDIM_SCHEDULE_UNIFORM;
  params->clip = -1;
  params->seed = 0;
  params->strength = 1.0;
  params->tile = 0;
  params->overlap = -1;
  params->known_count = 1;
  params->mask_keep = DDIM_MASK_KEEP_FORWARD;
}

const char *ddim_mask_keep_name(DdimMaskKeep keep) {
  return keep == DDIM_MASK_KEEP_FORWARD ? "forward" : "inversion";
}

gboolean ddim_mask_keep_from_name(const char *name, DdimMaskKeep *keep) {
  if (g_strcmp0(name, "inversion") == 0)
    *keep = DDIM_MASK_KEEP_INVERSION;
  else if (g_strcmp0(name, "forward") == 0)
    *keep = DDIM_MASK_KEEP_FORWARD;
  else
    return FALSE;
  return TRUE;
}

DdimParams ddim_params_for_encode(const DdimParams *params) {
  DdimParams encode = *params;
  encode.clip = 0;
  encode.eta = 0.0;
  return encode;
}

DdimParams ddim_params_for_inverse_decode(const DdimParams *params) {
  DdimParams decode = *params;
  if (decode.clip < 0) decode.clip = 0;
  return decode;
}

int ddim_model_timesteps(const DdimModel *model, DdimSchedule schedule, int steps, int **timesteps,
                         GError **error) {
  return ddim_timesteps_make(schedule, model->schedule.num_train_timesteps, steps,
                             model->schedule.steps_offset, timesteps, error);
}

/* Network memory a batch of tiles may take (activations; the weights are
 * shared): bounds a tiled run's memory whatever the image size. */
#define TILE_BATCH_BYTES ((uint64_t)384 << 20)
#define MAX_TILE_BATCH 64

typedef struct {
  DdimModel *model;
  const DdimParams *params;
  DdimShape shape;
  size_t count;
  int *timesteps; /* ascending */
  int used;       /* steps this run takes: the lowest `used` timesteps */
  gboolean clip;
  float *x, *model_output, *x0_pred, *eps_pred, *noise, *tvec;
  /* Tiled evaluation (tiles.cols > 0). */
  DdimTiles tiles;
  int tile_batch_max;
  float *tile_x, *tile_out;
  /* Masked runs: the known image's trajectory. */
  float *known_levels; /* KEEP_INVERSION: used × known_count images, x at timesteps[i] */
  float *known_noise;  /* KEEP_FORWARD: z of each image of the batch */
  /* What is being reported (for the reports inside a tiled step). */
  DdimPhase phase;
  int step, total, timestep;
} Run;

static void run_clear(Run *run) {
  g_free(run->timesteps);
  g_free(run->x);
  g_free(run->model_output);
  g_free(run->x0_pred);
  g_free(run->eps_pred);
  g_free(run->noise);
  g_free(run->tvec);
  ddim_tiles_clear(&run->tiles);
  g_free(run->tile_x);
  g_free(run->tile_out);
  g_free(run->known_levels);
  g_free(run->known_noise);
}

/* Number of timesteps a partial run uses: the lowest ⌊S·strength⌋ (at least
 * one), as diffusers' img2img pipelines choose init_timestep. */
static int steps_for_strength(int available, double strength) {
  int used = (int)floor((double)available * strength + 1e-9);
  if (used < 1) used = 1;
  if (used > available) used = available;
  return used;
}

static gboolean check_params(const DdimModel *model, const DdimParams *params, GError **error) {
  if (!(params->eta >= 0.0 && params->eta <= 1.0)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "eta must be between 0 (DDIM) and 1 (DDPM-like), not %g", params->eta);
    return FALSE;
  }
  if (!(params->strength > 0.0 && params->strength <= 1.0)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "strength must be in (0, 1], not %g", params->strength);
    return FALSE;
  }
  if (params->tile < 0 || params->tile > DDIM_MAX_SIDE) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "the tile size must be 0 (automatic) or 1 to %d pixels, not %d", DDIM_MAX_SIDE,
                params->tile);
    return FALSE;
  }
  if (params->overlap < -1) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "the tile overlap must be at least 0 pixels (or -1: a quarter tile), not %d",
                params->overlap);
    return FALSE;
  }
  if (model->info.out_channels != model->info.in_channels) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: the model outputs %d channels for %d input channels; DDIM sampling needs "
                "an ε of the input's shape (learned-variance models are not supported)",
                model->config_path, model->info.out_channels, model->info.in_channels);
    return FALSE;
  }
  return TRUE;
}

/* The tile of a run: the caller's side, or the model's resolution; a run
 * whose image fits in one tile is not tiled (and is then bit-identical to
 * the plain run it always was). */
gboolean ddim_params_tiling(const DdimModel *model, const DdimParams *params, DdimShape shape,
                            int *tile_w, int *tile_h, int *tiles) {
  int w = params->tile > 0 ? params->tile : model->info.sample_width;
  int h = params->tile > 0 ? params->tile : model->info.sample_height;
  if (shape.w <= w && shape.h <= h) return FALSE;
  w = MIN(w, shape.w);
  h = MIN(h, shape.h);
  if (tile_w) *tile_w = w;
  if (tile_h) *tile_h = h;
  if (tiles) {
    int overlap_w = params->overlap >= 0 ? params->overlap : w / 4;
    int overlap_h = params->overlap >= 0 ? params->overlap : h / 4;
    DdimTiles layout;
    *tiles = 0;
    if (ddim_tiles_init(&layout, shape.w, shape.h, w, h, overlap_w, overlap_h))
      *tiles = ddim_tiles_count(&layout);
    ddim_tiles_clear(&layout);
  }
  return TRUE;
}

gboolean ddim_params_check_shape(const DdimModel *model, const DdimParams *params, DdimShape shape,
                                 GError **error) {
  int tile_w, tile_h;
  if (!ddim_params_tiling(model, params, shape, &tile_w, &tile_h, NULL))
    return ddim_model_check_shape(model, shape, error);
  /* The image itself only has to respect the size limits; the tiles have
   * to fit the network. */
  const int multiple = model->info.size_multiple;
  DdimShape rounded = shape;
  rounded.w = (shape.w + multiple - 1) / multiple * multiple;
  rounded.h = (shape.h + multiple - 1) / multiple * multiple;
  /* The image's own size first, so that a refusal names the size asked for
   * and the limit it exceeds; then the rounded one, saying so when only the
   * rounding passes a limit. */
  if (!ddim_model_check_size(shape, error)) return FALSE;
  GError *rounded_error = NULL;
  if (!ddim_model_check_shape(model, rounded, &rounded_error)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "a %d×%d image is run tiled at %d×%d, rounded up to multiples of %d: %s", shape.w,
                shape.h, rounded.w, rounded.h, multiple, rounded_error->message);
    g_error_free(rounded_error);
    return FALSE;
  }
  DdimShape tile = {1, shape.c, tile_h, tile_w};
  GError *tile_error = NULL;
  if (!ddim_model_check_shape(model, tile, &tile_error)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "tiles of %d×%d for a %d×%d image: %s", tile_w, tile_h, shape.w, shape.h,
                tile_error->message);
    g_error_free(tile_error);
    return FALSE;
  }
  int overlap_w = params->overlap >= 0 ? params->overlap : tile_w / 4;
  int overlap_h = params->overlap >= 0 ? params->overlap : tile_h / 4;
  if ((overlap_w >= tile_w && shape.w > tile_w) || (overlap_h >= tile_h && shape.h > tile_h)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "a tile overlap of %d pixels needs tiles larger than %d×%d", params->overlap,
                tile_w, tile_h);
    return FALSE;
  }
  return TRUE;
}

/* Sets up tiled evaluation: the layout, and the largest batch of tiles
 * whose activations fit in TILE_BATCH_BYTES (and in the model's memory
 * limit). */
static gboolean tiling_init(Run *run, GError **error) {
  const DdimParams *params = run->params;
  const DdimShape shape = run->shape;
  int tile_w, tile_h;
  if (!ddim_params_check_shape(run->model, params, shape, error)) return FALSE;
  if (!ddim_params_tiling(run->model, params, shape, &tile_w, &tile_h, NULL)) return TRUE;
  DdimShape tile = {1, shape.c, tile_h, tile_w};
  int overlap_w = params->overlap >= 0 ? params->overlap : tile_w / 4;
  int overlap_h = params->overlap >= 0 ? params->overlap : tile_h / 4;
  if (!ddim_tiles_init(&run->tiles, shape.w, shape.h, tile_w, tile_h, overlap_w, overlap_h)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "not enough memory to tile a %d×%d image",
                shape.w, shape.h);
    return FALSE;
  }
  uint64_t budget = TILE_BATCH_BYTES + run->model->info.weight_bytes;
  if (run->model->memory_limit && run->model->memory_limit < budget)
    budget = run->model->memory_limit;
  int items = shape.n * ddim_tiles_count(&run->tiles);
  int batch = 1;
  for (int b = 2; b <= MIN(items, MAX_TILE_BATCH); b++) {
    tile.n = b;
    if (ddim_model_memory_needed(run->model, tile) > budget) break;
    batch = b;
  }
  run->tile_batch_max = batch;
  size_t tile_values = (size_t)shape.c * tile_h * tile_w * batch;
  run->tile_x = g_try_new(float, tile_values);
  run->tile_out = g_try_new(float, tile_values);
  g_free(run->tvec);
  run->tvec = g_new(float, (gsize)MAX(batch, shape.n));
  if (!run->tile_x || !run->tile_out) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "not enough memory for %d tiles", batch);
    return FALSE;
  }
  return TRUE;
}

static gboolean run_init(Run *run, DdimModel *model, const DdimParams *params, const float *x,
                         DdimShape shape, GError **error) {
  memset(run, 0, sizeof *run);
  run->model = model;
  run->params = params;
  run->shape = shape;
  run->tvec = g_new(float, (gsize)MAX(shape.n, 1));
  if (!check_params(model, params, error) || !tiling_init(run, error)) return FALSE;
  int available =
      ddim_model_timesteps(model, params->schedule, params->steps, &run->timesteps, error);
  if (available == 0) return FALSE;
  run->used = steps_for_strength(available, params->strength);
  run->clip = params->clip < 0 ? model->schedule.clip_sample : params->clip != 0;
  run->count = ddim_shape_elements(shape);
  run->x = g_try_new(float, run->count);
  run->model_output = g_try_new(float, run->count);
  run->x0_pred = g_try_new(float, run->count);
  run->eps_pred = g_try_new(float, run->count);
  run->noise = g_try_new(float, run->count);
  if (!run->x || !run->model_output || !run->x0_pred || !run->eps_pred || !run->noise) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "not enough memory for %zu values",
                run->count);
    return FALSE;
  }
  memcpy(run->x, x, sizeof(float) * run->count);
  return TRUE;
}

int ddim_params_step_count(const DdimModel *model, const DdimParams *params, GError **error) {
  int *timesteps = NULL;
  int available = ddim_model_timesteps(model, params->schedule, params->steps, &timesteps, error);
  g_free(timesteps);
  if (available == 0) return 0;
  if (!(params->strength > 0.0 && params->strength <= 1.0)) return available;
  return steps_for_strength(available, params->strength);
}

int ddim_params_start_timestep(const DdimModel *model, const DdimParams *params, GError **error) {
  int *timesteps = NULL;
  int available = ddim_model_timesteps(model, params->schedule, params->steps, &timesteps, error);
  if (available == 0) return -1;
  double strength = params->strength > 0.0 && params->strength <= 1.0 ? params->strength : 1.0;
  int start = timesteps[steps_for_strength(available, strength) - 1];
  g_free(timesteps);
  return start;
}

static gboolean report(Run *run, const float *x, DdimShape shape, int tiles_done, int tiles_total,
                       GError **error) {
  if (!run->params->progress) return TRUE;
  DdimProgress progress = {
      .phase = run->phase,
      .step = run->step,
      .total = run->total,
      .timestep = run->timestep,
      .shape = shape,
      .x_t = x,
      .x0_pred = run->x0_pred,
      .tiles_done = tiles_done,
      .tiles_total = tiles_total,
  };
  if (run->params->progress(&progress, run->params->progress_data)) return TRUE;
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_CANCELLED, "cancelled");
  return FALSE;
}

/* out = the network output for the n images of x at `timestep`.  Tiled:
 * every tile of every image is evaluated (in batches), and the overlaps are
 * averaged with the tiles' weights, normalised to 1 per pixel
 * (MultiDiffusion).  We average the model output rather than the per-tile
 * updates: for a fixed x_t both x̂_0 (eq. 9, or its v-/x_0-forms) and the
 * step x_{t−1} (eq. 12) are affine in it, so the two are the same thing,
 * except that clipping x̂_0 then applies to the blended prediction. */
static gboolean evaluate(Run *run, const float *x, int n, int timestep, float *out,
                         GError **error) {
  DdimShape shape = run->shape;
  shape.n = n;
  run->timestep = timestep;
  if (run->tiles.cols == 0) {
    for (int b = 0; b < n; b++) run->tvec[b] = (float)timestep;
    return ddim_model_eps(run->model, x, shape, run->tvec, out, error);
  }
  const DdimTiles *tiles = &run->tiles;
  const int per_image = ddim_tiles_count(tiles), items = n * per_image;
  /* Equal batches, so that the network plans one shape. */
  const int batches = (items + run->tile_batch_max - 1) / run->tile_batch_max;
  const int batch = (items + batches - 1) / batches;
  const size_t image_values = (size_t)shape.c * shape.h * shape.w;
  const size_t tile_values = (size_t)shape.c * tiles->tile_h * tiles->tile_w;
  DdimShape tile_shape = {batch, shape.c, tiles->tile_h, tiles->tile_w};
  memset(out, 0, sizeof(float) * image_values * n);
  for (int b = 0; b < batch; b++) run->tvec[b] = (float)timestep;
  for (int first = 0; first < items; first += batch) {
    const int filled = MIN(batch, items - first);
    for (int j = 0; j < batch; j++) {
      /* A short last batch repeats its last tile; those outputs are unused. */
      int item = first + MIN(j, filled - 1);
      ddim_tiles_cut(tiles, item % per_image, x + (size_t)(item / per_image) * image_values,
                     shape.c, run->tile_x + (size_t)j * tile_values);
    }
    if (!ddim_model_eps(run->model, run->tile_x, tile_shape, run->tvec, run->tile_out, error))
      return FALSE;
    for (int j = 0; j < filled; j++) {
      int item = first + j;
      ddim_tiles_accumulate(tiles, item % per_image, run->tile_out + (size_t)j * tile_values,
                            shape.c, out + (size_t)(item / per_image) * image_values);
    }
    if (first + filled < items && !report(run, x, shape, first + filled, items, error))
      return FALSE;
  }
  for (int k = 0; k < n; k++) ddim_tiles_normalise(tiles, shape.c, out + (size_t)k * image_values);
  return TRUE;
}

static int tiles_total(const Run *run, int n) {
  return run->tiles.cols ? n * ddim_tiles_count(&run->tiles) : 0;
}

/* ---- Masked runs ---------------------------------------------------------- */

static const float *known_image(const Run *run, int k) {
  const size_t image_values = run->count / (size_t)run->shape.n;
  return run->params->known + (run->params->known_count == 1 ? 0 : (size_t)k * image_values);
}

/* x ← m·x + (1 − m)·known_level, where known_level is the known image at
 * the level of timesteps[level] (level −1: the clean image).  Written so that
 * m = 0 gives the known value exactly and m = 1 the generated one. */
static void blend_known(Run *run, int level) {
  const DdimParams *params = run->params;
  const size_t plane = (size_t)run->shape.h * run->shape.w;
  const size_t image_values = plane * run->shape.c;
  const int known_count = params->known_count;
  double alpha_bar = 1.0;
  if (level >= 0)
    alpha_bar = ddim_noise_schedule_alpha_bar(&run->model->schedule, run->timesteps[level]);
  const float coef_x0 = (float)sqrt(alpha_bar), coef_noise = (float)sqrt(1.0 - alpha_bar);
  for (int k = 0; k < run->shape.n; k++) {
    float *x = run->x + (size_t)k * image_values;
    const float *known = known_image(run, k);
    const float *from_inversion = NULL, *noise = NULL;
    if (level >= 0 && params->mask_keep == DDIM_MASK_KEEP_INVERSION)
      from_inversion = run->known_levels +
                       ((size_t)level * known_count + (known_count == 1 ? 0 : k)) * image_values;
    else if (level >= 0)
      noise = run->known_noise + (size_t)k * image_values;
    for (int c = 0; c < run->shape.c; c++)
      for (size_t i = 0; i < plane; i++) {
        const size_t at = (size_t)c * plane + i;
        const float m = params->mask[i];
        float kept = from_inversion ? from_inversion[at]
                     : noise        ? coef_x0 * known[at] + coef_noise * noise[at]
                                    : known[at];
        x[at] = m * x[at] + (1.0f - m) * kept;
      }
  }
}

static gboolean known_no_memory(const Run *run, GError **error) {
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
              "not enough memory for the known image's trajectory (%d levels)", run->used);
  return FALSE;
}

/* Prepares the known image's trajectory: its DDIM inversion, level by level
 * (reported as an encode phase), or the noise of its forward version. */
static gboolean known_init(Run *run, GError **error) {
  const DdimParams *params = run->params;
  if (params->mask == NULL) return TRUE;
  if (params->known == NULL || (params->known_count != 1 && params->known_count != run->shape.n)) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                "a masked run needs the known image (1 or %d of them, not %d)", run->shape.n,
                params->known_count);
    return FALSE;
  }
  const size_t plane = (size_t)run->shape.h * run->shape.w;
  for (size_t i = 0; i < plane; i++)
    if (!(params->mask[i] >= 0.0f && params->mask[i] <= 1.0f)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                  "mask value %g at pixel %zu is outside [0, 1]", params->mask[i], i);
      return FALSE;
    }
  const size_t image_values = plane * run->shape.c;
  if (params->mask_keep == DDIM_MASK_KEEP_FORWARD) {
    run->known_noise = g_try_new(float, run->count);
    if (run->known_noise == NULL) return known_no_memory(run, error);
    ddim_noise(params->seed, DDIM_STREAM_FORWARD, run->shape, run->known_noise);
    return TRUE;
  }
  const int n = params->known_count;
  const size_t level_values = image_values * (size_t)n;
  if (run->used > 0 && level_values > G_MAXSIZE / sizeof(float) / (size_t)run->used)
    return known_no_memory(run, error);
  run->known_levels = g_try_new(float, level_values *(size_t)run->used);
  if (run->known_levels == NULL) return known_no_memory(run, error);
  /* The inversion of ddim_invert (eq. 12 upwards, ε at the target level,
   * never clipped), keeping every level. */
  const DdimNoiseSchedule *schedule = &run->model->schedule;
  g_autofree float *x = g_memdup2(params->known, sizeof(float) * level_values);
  DdimShape shape = run->shape;
  shape.n = n;
  run->phase = DDIM_PHASE_ENCODE;
  run->total = run->used;
  for (int i = 0; i < run->used; i++) {
    const int t = run->timesteps[i];
    const double alpha_bar_cur =
        ddim_noise_schedule_alpha_bar(schedule, i > 0 ? run->timesteps[i - 1] : -1);
    run->step = i + 1;
    if (!evaluate(run, x, n, t, run->model_output, error)) return FALSE;
    const double alpha_bar_next = ddim_noise_schedule_alpha_bar(schedule, t);
    ddim_predict_inverse(schedule->prediction_type, x, run->model_output, level_values,
                         alpha_bar_cur, alpha_bar_next, run->x0_pred, run->eps_pred);
    ddim_step_inverse(alpha_bar_next, run->x0_pred, run->eps_pred, level_values, x);
    memcpy(run->known_levels + (size_t)i * level_values, x, sizeof(float) * level_values);
    if (!report(run, x, shape, tiles_total(run, n), tiles_total(run, n), error)) return FALSE;
  }
  return TRUE;
}

/* ---- The DDIM loop ---------------------------------------------------------- */

/* Walk down from timesteps[used − 1] to x_0 (DDIM eq. 12); a masked run
 * composites the known image in at the start and after every step. */
static gboolean decode(Run *run, GError **error) {
  const DdimNoiseSchedule *schedule = &run->model->schedule;
  const DdimParams *params = run->params;
  const gboolean masked = params->mask != NULL;
  run->phase = DDIM_PHASE_DECODE;
  run->total = run->used;
  if (masked) blend_known(run, run->used - 1);
  for (int i = run->used - 1; i >= 0; i--) {
    const int t = run->timesteps[i];
    const int prev = i > 0 ? run->timesteps[i - 1] : -1;
    const double alpha_bar_t = ddim_noise_schedule_alpha_bar(schedule, t);
    const double alpha_bar_prev = ddim_noise_schedule_alpha_bar(schedule, prev);
    run->step = run->used - i;
    if (!evaluate(run, run->x, run->shape.n, t, run->model_output, error)) return FALSE;
    ddim_predict(schedule->prediction_type, run->x, run->model_output, run->count, alpha_bar_t,
                 run->x0_pred, run->eps_pred);
    if (run->clip) ddim_clip(run->x0_pred, run->count, schedule->clip_sample_range);
    const gboolean noisy = ddim_sigma(alpha_bar_t, alpha_bar_prev, params->eta) > 0.0;
    if (noisy) ddim_noise(params->seed, DDIM_STREAM_STEP(t), run->shape, run->noise);
    ddim_step(alpha_bar_t, alpha_bar_prev, params->eta, run->x0_pred, run->eps_pred,
              noisy ? run->noise : NULL, run->count, run->x);
    if (masked) blend_known(run, i - 1);
    const int tiles = tiles_total(run, run->shape.n);
    if (!report(run, run->x, run->shape, tiles, tiles, error)) return FALSE;
  }
  return TRUE;
}

gboolean ddim_sample(DdimModel *model, const DdimParams *params, float *x, DdimShape shape,
                     GError **error) {
  Run run;
  gboolean ok = run_init(&run, model, params, x, shape, error) && known_init(&run, error) &&
                decode(&run, error);
  if (ok) memcpy(x, run.x, sizeof(float) * run.count);
  run_clear(&run);
  return ok;
}

/* Deterministic inversion, ascending: ε is evaluated at the target timestep
 * on the current sample (diffusers DDIMInverseScheduler, null-text
 * inversion; a v- or x_0-output is read as the ε it means at that timestep,
 * see ddim_predict_inverse); x̂_0 uses the current level ᾱ_cur (1 for the
 * clean image) and is never clipped, since clipping breaks invertibility
 * (diffusers #6634). */
static gboolean encode(Run *run, GError **error) {
  const DdimNoiseSchedule *schedule = &run->model->schedule;
  run->phase = DDIM_PHASE_ENCODE;
  run->total = run->used;
  for (int i = 0; i < run->used; i++) {
    const int t = run->timesteps[i];
    const int cur = i > 0 ? run->timesteps[i - 1] : -1;
    const double alpha_bar_cur = ddim_noise_schedule_alpha_bar(schedule, cur);
    const double alpha_bar_next = ddim_noise_schedule_alpha_bar(schedule, t);
    run->step = i + 1;
    if (!evaluate(run, run->x, run->shape.n, t, run->model_output, error)) return FALSE;
    ddim_predict_inverse(schedule->prediction_type, run->x, run->model_output, run->count,
                         alpha_bar_cur, alpha_bar_next, run->x0_pred, run->eps_pred);
    ddim_step_inverse(alpha_bar_next, run->x0_pred, run->eps_pred, run->count, run->x);
    const int tiles = tiles_total(run, run->shape.n);
    if (!report(run, run->x, run->shape, tiles, tiles, error)) return FALSE;
  }
  return TRUE;
}

gboolean ddim_invert(DdimModel *model, const DdimParams *params, float *x, DdimShape shape,
                     GError **error) {
  Run run;
  gboolean ok = run_init(&run, model, params, x, shape, error) && encode(&run, error);
  if (ok) memcpy(x, run.x, sizeof(float) * run.count);
  run_clear(&run);
  return ok;
}

/* SDEdit (Meng et al. 2022): x_t = sqrt(ᾱ_t)·x_0 + sqrt(1 − ᾱ_t)·z (DDPM
 * eq. 4) at the strength level, then the usual DDIM decode with η.  With a
 * mask and no known image given, the known image is the input itself. */
gboolean ddim_vary(DdimModel *model, const DdimParams *params, float *x, DdimShape shape,
                   GError **error) {
  Run run;
  DdimParams own = *params;
  g_autofree float *input = NULL;
  if (own.mask && own.known == NULL) {
    input = g_try_new(float, ddim_shape_elements(shape));
    if (input == NULL) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY, "not enough memory for the input");
      return FALSE;
    }
    memcpy(input, x, sizeof(float) * ddim_shape_elements(shape));
    own.known = input;
    own.known_count = shape.n;
  }
  gboolean ok = run_init(&run, model, &own, x, shape, error) && known_init(&run, error);
  if (ok) {
    const int start = run.timesteps[run.used - 1];
    const double alpha_bar = ddim_noise_schedule_alpha_bar(&model->schedule, start);
    const float coef_x0 = (float)sqrt(alpha_bar), coef_noise = (float)sqrt(1.0 - alpha_bar);
    ddim_noise(params->seed, DDIM_STREAM_FORWARD, shape, run.noise);
    for (size_t i = 0; i < run.count; i++)
      run.x[i] = coef_x0 * run.x[i] + coef_noise * run.noise[i];
    ok = decode(&run, error);
  }
  if (ok) memcpy(x, run.x, sizeof(float) * run.count);
  run_clear(&run);
  return ok;
}
