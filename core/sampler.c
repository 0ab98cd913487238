/* sampler.c — whole DDIM runs: decode (sampling), encode (inversion) and
 * SDEdit variation, over the timesteps of a schedule.
 *
 * Runs work on private buffers and write the caller's tensor only when they
 * finish, so a failed or cancelled run leaves the input as it was. */
#include "ddim-step.h"
#include "model.h"
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

int ddim_model_timesteps(const DdimModel *model, DdimSchedule schedule, int steps,
                         int **timesteps, GError **error) {
  return ddim_timesteps_make(schedule, model->schedule.num_train_timesteps, steps,
                             model->schedule.steps_offset, timesteps, error);
}

typedef struct {
  DdimModel *model;
  const DdimParams *params;
  DdimShape shape;
  size_t count;
  int *timesteps;  /* ascending */
  int used;        /* steps this run takes: the lowest `used` timesteps */
  gboolean clip;
  float *x, *model_output, *x0_pred, *eps_pred, *noise, *tvec;
} Run;

static void run_clear(Run *run) {
  g_free(run->timesteps);
  g_free(run->x);
  g_free(run->model_output);
  g_free(run->x0_pred);
  g_free(run->eps_pred);
  g_free(run->noise);
  g_free(run->tvec);
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
  if (model->info.out_channels != model->info.in_channels) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_UNSUPPORTED,
                "%s: the model outputs %d channels for %d input channels; DDIM sampling needs "
                "an ε of the input's shape (learned-variance models are not supported)",
                model->config_path, model->info.out_channels, model->info.in_channels);
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
  if (!check_params(model, params, error) || !ddim_model_check_shape(model, shape, error))
    return FALSE;
  int available = ddim_model_timesteps(model, params->schedule, params->steps, &run->timesteps, error);
  if (available == 0) return FALSE;
  run->used = steps_for_strength(available, params->strength);
  run->clip = params->clip < 0 ? model->schedule.clip_sample : params->clip != 0;
  run->count = ddim_shape_elements(shape);
  run->x = g_try_new(float, run->count);
  run->model_output = g_try_new(float, run->count);
  run->x0_pred = g_try_new(float, run->count);
  run->eps_pred = g_try_new(float, run->count);
  run->noise = g_try_new(float, run->count);
  run->tvec = g_new(float, (gsize)shape.n);
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

static gboolean evaluate(Run *run, int timestep, GError **error) {
  for (int b = 0; b < run->shape.n; b++) run->tvec[b] = (float)timestep;
  return ddim_model_eps(run->model, run->x, run->shape, run->tvec, run->model_output, error);
}

static gboolean report(Run *run, DdimPhase phase, int step, int timestep, GError **error) {
  if (!run->params->progress) return TRUE;
  DdimProgress progress = {
      .phase = phase,
      .step = step,
      .total = run->used,
      .timestep = timestep,
      .shape = run->shape,
      .x_t = run->x,
      .x0_pred = run->x0_pred,
  };
  if (run->params->progress(&progress, run->params->progress_data)) return TRUE;
  g_set_error(error, DDIM_ERROR, DDIM_ERROR_CANCELLED, "cancelled");
  return FALSE;
}

/* Walk down from timesteps[used − 1] to x_0 (DDIM eq. 12). */
static gboolean decode(Run *run, GError **error) {
  const DdimNoiseSchedule *schedule = &run->model->schedule;
  const DdimParams *params = run->params;
  for (int i = run->used - 1; i >= 0; i--) {
    const int t = run->timesteps[i];
    const int prev = i > 0 ? run->timesteps[i - 1] : -1;
    const double alpha_bar_t = ddim_noise_schedule_alpha_bar(schedule, t);
    const double alpha_bar_prev = ddim_noise_schedule_alpha_bar(schedule, prev);
    if (!evaluate(run, t, error)) return FALSE;
    ddim_predict(schedule->prediction_type, run->x, run->model_output, run->count, alpha_bar_t,
                 run->x0_pred, run->eps_pred);
    if (run->clip) ddim_clip(run->x0_pred, run->count, schedule->clip_sample_range);
    const gboolean noisy = ddim_sigma(alpha_bar_t, alpha_bar_prev, params->eta) > 0.0;
    if (noisy) ddim_noise(params->seed, DDIM_STREAM_STEP(t), run->shape, run->noise);
    ddim_step(alpha_bar_t, alpha_bar_prev, params->eta, run->x0_pred, run->eps_pred,
              noisy ? run->noise : NULL, run->count, run->x);
    if (!report(run, DDIM_PHASE_DECODE, run->used - i, t, error)) return FALSE;
  }
  return TRUE;
}

gboolean ddim_sample(DdimModel *model, const DdimParams *params, float *x, DdimShape shape,
                     GError **error) {
  Run run;
  gboolean ok = run_init(&run, model, params, x, shape, error) && decode(&run, error);
  if (ok) memcpy(x, run.x, sizeof(float) * run.count);
  run_clear(&run);
  return ok;
}

/* Deterministic inversion, ascending: ε is evaluated at the target timestep
 * on the current sample (diffusers DDIMInverseScheduler, null-text
 * inversion); x̂_0 uses the current level ᾱ_cur (1 for the clean image) and is
 * never clipped, since clipping breaks invertibility (diffusers #6634). */
static gboolean encode(Run *run, GError **error) {
  const DdimNoiseSchedule *schedule = &run->model->schedule;
  for (int i = 0; i < run->used; i++) {
    const int t = run->timesteps[i];
    const int cur = i > 0 ? run->timesteps[i - 1] : -1;
    const double alpha_bar_cur = ddim_noise_schedule_alpha_bar(schedule, cur);
    const double alpha_bar_next = ddim_noise_schedule_alpha_bar(schedule, t);
    if (!evaluate(run, t, error)) return FALSE;
    ddim_predict(schedule->prediction_type, run->x, run->model_output, run->count, alpha_bar_cur,
                 run->x0_pred, run->eps_pred);
    ddim_step_inverse(alpha_bar_next, run->x0_pred, run->eps_pred, run->count, run->x);
    if (!report(run, DDIM_PHASE_ENCODE, i + 1, t, error)) return FALSE;
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
 * eq. 4) at the strength level, then the usual DDIM decode with η. */
gboolean ddim_vary(DdimModel *model, const DdimParams *params, float *x, DdimShape shape,
                   GError **error) {
  Run run;
  gboolean ok = run_init(&run, model, params, x, shape, error);
  if (ok) {
    const int start = run.timesteps[run.used - 1];
    const double alpha_bar = ddim_noise_schedule_alpha_bar(&model->schedule, start);
    const float coef_x0 = (float)sqrt(alpha_bar), coef_noise = (float)sqrt(1.0 - alpha_bar);
    ddim_noise(params->seed, DDIM_STREAM_FORWARD, shape, run.noise);
    for (size_t i = 0; i < run.count; i++) run.x[i] = coef_x0 * run.x[i] + coef_noise * run.noise[i];
    ok = decode(&run, error);
  }
  if (ok) memcpy(x, run.x, sizeof(float) * run.count);
  run_clear(&run);
  return ok;
}
