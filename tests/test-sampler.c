/* test-sampler.c — whole DDIM runs on a tiny model: determinism, batches,
 * progress and cancellation, partial strength, variation, argument checks,
 * slerp and the reconstruction metrics.
 *
 * The fixture tests/fixtures/tiny_sample is a 2-level UNet2DModel with one
 * channel (size multiple 2) and an x_0-prediction ("sample") scheduler with
 * 500 trained betas.  Nothing here compares with stored outputs: every
 * expectation is a property of the API (same seed → same bits, image k ↔
 * seed + k, ...) or a closed form. */
#include "ddim.h"
#include "ddim-step.h"
#include "model.h" /* the model's noise schedule */

#include <math.h>
#include <string.h>

static DdimModel *model;

static const DdimShape one = {1, 1, 8, 8};

static float *noise_for(uint64_t seed, DdimShape shape) {
  float *x = g_new(float, ddim_shape_elements(shape));
  ddim_noise(seed, DDIM_STREAM_INITIAL, shape, x);
  return x;
}

static float *copy_of(const float *x, DdimShape shape) {
  return g_memdup2(x, sizeof(float) * ddim_shape_elements(shape));
}

static gboolean same_bits(const float *a, const float *b, DdimShape shape) {
  return memcmp(a, b, sizeof(float) * ddim_shape_elements(shape)) == 0;
}

/* ---- determinism ------------------------------------------------------- */

static void test_same_seed_same_bits(void) {
  const DdimShape shape = {2, 1, 8, 8};
  DdimParams params;
  ddim_params_init(&params);
  params.steps = 10;
  params.eta = 0.5; /* noise is drawn at every step */
  params.seed = 1234;
  g_autofree float *start = noise_for(99, shape);
  g_autoptr(GError) error = NULL;

  ddim_set_threads(1);
  g_autofree float *a = copy_of(start, shape);
  g_assert_true(ddim_sample(model, &params, a, shape, &error));
  g_assert_no_error(error);
  g_autofree float *b = copy_of(start, shape);
  g_assert_true(ddim_sample(model, &params, b, shape, &error));
  ddim_set_threads(2);
  g_assert_cmpint(ddim_get_threads(), ==, 2);
  g_autofree float *c = copy_of(start, shape);
  g_assert_true(ddim_sample(model, &params, c, shape, &error));
  g_assert_no_error(error);
  ddim_set_threads(0);

  g_assert_true(same_bits(a, b, shape));
  g_assert_true(same_bits(a, c, shape));
  g_assert_false(same_bits(a, start, shape)); /* the run did something */
  for (size_t i = 0; i < ddim_shape_elements(shape); i++) g_assert_true(isfinite(a[i]));

  /* η = 0.5 really uses the noise: another seed, or η = 0, changes the result. */
  params.seed = 1235;
  g_autofree float *d = copy_of(start, shape);
  g_assert_true(ddim_sample(model, &params, d, shape, &error));
  g_assert_false(same_bits(a, d, shape));
  params.seed = 1234;
  params.eta = 0.0;
  g_autofree float *e = copy_of(start, shape);
  g_assert_true(ddim_sample(model, &params, e, shape, &error));
  g_assert_false(same_bits(a, e, shape));
  /* η = 0 is deterministic whatever the seed. */
  params.seed = 777;
  g_autofree float *f = copy_of(start, shape);
  g_assert_true(ddim_sample(model, &params, f, shape, &error));
  g_assert_true(same_bits(e, f, shape));
}

/* Image k of a batch is the batch-of-one run with seed + k. */
static void test_batch_matches_single_runs(void) {
  const DdimShape batch = {3, 1, 8, 8};
  const size_t per_image = ddim_shape_elements(one);
  const uint64_t seed = 40;

  g_autofree float *noise = noise_for(seed, batch);
  for (int k = 0; k < 3; k++) {
    g_autofree float *single = noise_for(seed + (uint64_t)k, one);
    g_assert_cmpmem(noise + k * per_image, per_image * sizeof(float), single,
                    per_image * sizeof(float));
  }
  /* Distinct images get distinct noise. */
  g_assert_true(memcmp(noise, noise + per_image, per_image * sizeof(float)) != 0);

  DdimParams params;
  ddim_params_init(&params);
  params.steps = 8;
  params.eta = 1.0;
  params.seed = seed;
  g_autoptr(GError) error = NULL;
  g_autofree float *x = copy_of(noise, batch);
  g_assert_true(ddim_sample(model, &params, x, batch, &error));
  g_assert_no_error(error);
  for (int k = 0; k < 3; k++) {
    g_autofree float *single = copy_of(noise + k * per_image, one);
    DdimParams p = params;
    p.seed = seed + (uint64_t)k;
    g_assert_true(ddim_sample(model, &p, single, one, &error));
    g_assert_no_error(error);
    /* The noise is bit-identical (above); the network may batch small
     * convolutions into one GEMM, whose summation order can differ from a
     * batch of one in the last bit, so the images agree to float rounding. */
    for (size_t i = 0; i < per_image; i++)
      g_assert_cmpfloat_with_epsilon(x[k * per_image + i], single[i], 1e-5);
  }
}

/* ---- progress and cancellation ----------------------------------------- */

typedef struct {
  int calls;
  int cancel_at; /* 0: never */
  DdimPhase phase;
  int steps[64], totals[64], timesteps[64];
  gboolean shapes_ok, pointers_ok;
  float last_x[64], last_x0[64];
} Recorder;

static gboolean record(const DdimProgress *progress, gpointer data) {
  Recorder *r = data;
  if (r->calls < 64) {
    r->steps[r->calls] = progress->step;
    r->totals[r->calls] = progress->total;
    r->timesteps[r->calls] = progress->timestep;
  }
  r->phase = progress->phase;
  r->shapes_ok &= progress->shape.n == 1 && progress->shape.c == 1 && progress->shape.h == 8 &&
                  progress->shape.w == 8;
  r->pointers_ok &= progress->x_t != NULL && progress->x0_pred != NULL;
  if (progress->x_t) memcpy(r->last_x, progress->x_t, sizeof r->last_x);
  if (progress->x0_pred) memcpy(r->last_x0, progress->x0_pred, sizeof r->last_x0);
  r->calls++;
  return r->cancel_at == 0 || r->calls < r->cancel_at;
}

static void recorder_init(Recorder *r, int cancel_at) {
  memset(r, 0, sizeof *r);
  r->cancel_at = cancel_at;
  r->shapes_ok = r->pointers_ok = TRUE;
  r->phase = (DdimPhase)-1;
}

static void test_progress_decode(void) {
  DdimParams params;
  ddim_params_init(&params);
  params.steps = 10;
  params.schedule = DDIM_SCHEDULE_QUADRATIC;
  Recorder r;
  recorder_init(&r, 0);
  params.progress = record;
  params.progress_data = &r;
  g_autoptr(GError) error = NULL;
  g_autofree int *timesteps = NULL;
  int n = ddim_model_timesteps(model, params.schedule, params.steps, &timesteps, &error);
  g_assert_cmpint(n, >, 1);
  g_assert_cmpint(ddim_params_step_count(model, &params, &error), ==, n);

  g_autofree float *x = noise_for(5, one);
  g_assert_true(ddim_sample(model, &params, x, one, &error));
  g_assert_no_error(error);
  g_assert_cmpint(r.calls, ==, n);
  g_assert_cmpint(r.phase, ==, DDIM_PHASE_DECODE);
  g_assert_true(r.shapes_ok);
  g_assert_true(r.pointers_ok);
  for (int i = 0; i < n; i++) {
    g_assert_cmpint(r.steps[i], ==, i + 1);
    g_assert_cmpint(r.totals[i], ==, n);
    g_assert_cmpint(r.timesteps[i], ==, timesteps[n - 1 - i]); /* descending */
  }
  /* The last report shows the result, and (ᾱ_prev = 1) x̂_0 is the result. */
  g_assert_cmpmem(r.last_x, sizeof r.last_x, x, sizeof r.last_x);
  g_assert_cmpmem(r.last_x0, sizeof r.last_x0, x, sizeof r.last_x0);
}

static void test_progress_encode(void) {
  DdimParams params;
  ddim_params_init(&params);
  params.steps = 7;
  Recorder r;
  recorder_init(&r, 0);
  params.progress = record;
  params.progress_data = &r;
  g_autoptr(GError) error = NULL;
  g_autofree int *timesteps = NULL;
  int n = ddim_model_timesteps(model, params.schedule, params.steps, &timesteps, &error);
  g_autofree float *x = noise_for(6, one);
  for (int i = 0; i < 64; i++) x[i] *= 0.5f;
  g_assert_true(ddim_invert(model, &params, x, one, &error));
  g_assert_no_error(error);
  g_assert_cmpint(r.calls, ==, n);
  g_assert_cmpint(r.phase, ==, DDIM_PHASE_ENCODE);
  g_assert_true(r.pointers_ok);
  for (int i = 0; i < n; i++) {
    g_assert_cmpint(r.steps[i], ==, i + 1);
    g_assert_cmpint(r.totals[i], ==, n);
    g_assert_cmpint(r.timesteps[i], ==, timesteps[i]); /* ascending */
  }
  g_assert_cmpmem(r.last_x, sizeof r.last_x, x, sizeof r.last_x);
}

static void test_cancel_leaves_buffer(void) {
  DdimParams params;
  ddim_params_init(&params);
  params.steps = 10;
  params.eta = 0.5;
  Recorder r;
  recorder_init(&r, 3);
  params.progress = record;
  params.progress_data = &r;
  g_autofree float *x = noise_for(8, one);
  g_autofree float *before = copy_of(x, one);
  g_autoptr(GError) error = NULL;
  g_assert_false(ddim_sample(model, &params, x, one, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_CANCELLED);
  g_assert_cmpint(r.calls, ==, 3);
  g_assert_true(same_bits(x, before, one));
  g_clear_error(&error);

  recorder_init(&r, 1);
  g_assert_false(ddim_invert(model, &params, x, one, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_CANCELLED);
  g_assert_cmpint(r.calls, ==, 1);
  g_assert_true(same_bits(x, before, one));
  g_clear_error(&error);

  params.strength = 0.6;
  recorder_init(&r, 2);
  g_assert_false(ddim_vary(model, &params, x, one, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_CANCELLED);
  g_assert_true(same_bits(x, before, one));
}

/* ---- the sampler is eqs. 9, 12, 16 over the schedule ----------------------- */

/* Decode written out with the step primitives, as ddim.h documents it:
 * descending over the schedule, ε at t, x̂_0 clipped per the model default,
 * σ from eq. 16 with η, noise of image k from (seed + k, DDIM_STREAM_STEP(t)),
 * the last step to ᾱ(−1). */
static void manual_decode(const DdimParams *params, float *x, DdimShape shape) {
  const DdimNoiseSchedule *schedule = &model->schedule;
  const size_t count = ddim_shape_elements(shape);
  g_autoptr(GError) error = NULL;
  g_autofree int *timesteps = NULL;
  int n = ddim_model_timesteps(model, params->schedule, params->steps, &timesteps, &error);
  g_assert_cmpint(n, >, 0);
  g_autofree float *out = g_new(float, count), *x0 = g_new(float, count),
                   *eps = g_new(float, count);
  g_autofree float *noise = g_new(float, count), *tvec = g_new(float, shape.n);
  for (int i = n - 1; i >= 0; i--) {
    const int t = timesteps[i], prev = i > 0 ? timesteps[i - 1] : -1;
    for (int b = 0; b < shape.n; b++) tvec[b] = (float)t;
    g_assert_true(ddim_model_eps(model, x, shape, tvec, out, &error));
    const double a_t = ddim_noise_schedule_alpha_bar(schedule, t);
    const double a_prev =
        prev >= 0 ? ddim_noise_schedule_alpha_bar(schedule, prev) : schedule->final_alpha_cumprod;
    ddim_predict(schedule->prediction_type, x, out, count, a_t, x0, eps);
    if (params->clip > 0 || (params->clip < 0 && schedule->clip_sample))
      ddim_clip(x0, count, schedule->clip_sample_range);
    ddim_noise(params->seed, DDIM_STREAM_STEP(t), shape, noise);
    ddim_step(a_t, a_prev, params->eta, x0, eps, noise, count, x);
  }
}

/* Encode: ascending, ε at the target t on the current sample (a v-output
 * converted at ᾱ_t), x̂_0 at the current level (ᾱ(−1) for the clean image),
 * never clipped. */
static void manual_encode(const DdimParams *params, float *x, DdimShape shape) {
  const DdimNoiseSchedule *schedule = &model->schedule;
  const size_t count = ddim_shape_elements(shape);
  g_autoptr(GError) error = NULL;
  g_autofree int *timesteps = NULL;
  int n = ddim_model_timesteps(model, params->schedule, params->steps, &timesteps, &error);
  g_autofree float *out = g_new(float, count), *x0 = g_new(float, count),
                   *eps = g_new(float, count);
  g_autofree float *tvec = g_new(float, shape.n);
  for (int i = 0; i < n; i++) {
    const int t = timesteps[i];
    const double a_cur = i > 0 ? ddim_noise_schedule_alpha_bar(schedule, timesteps[i - 1])
                               : schedule->final_alpha_cumprod;
    for (int b = 0; b < shape.n; b++) tvec[b] = (float)t;
    g_assert_true(ddim_model_eps(model, x, shape, tvec, out, &error));
    const double a_t = ddim_noise_schedule_alpha_bar(schedule, t);
    /* the ε the output means at t (where the network was told x is), x̂_0 from it at a_cur */
    ddim_predict(schedule->prediction_type, x, out, count, a_t, x0, eps);
    const float sqrt_one_minus_cur = (float)sqrt(1.0 - a_cur),
                inv_sqrt_cur = (float)(1.0 / sqrt(a_cur));
    for (size_t j = 0; j < count; j++) x0[j] = (x[j] - sqrt_one_minus_cur * eps[j]) * inv_sqrt_cur;
    ddim_step_inverse(a_t, x0, eps, count, x);
  }
}

static void test_matches_manual_loop(void) {
  const DdimShape shape = {2, 1, 8, 8};
  const size_t count = ddim_shape_elements(shape);
  g_assert_true(model->schedule.clip_sample); /* the fixture clips (range 0.75) by default */
  const struct {
    DdimSchedule schedule;
    int steps, clip;
    double eta;
  } cases[] = {{DDIM_SCHEDULE_UNIFORM, 10, -1, 0.5},
               {DDIM_SCHEDULE_QUADRATIC, 12, 0, 1.0},
               {DDIM_SCHEDULE_TRAILING, 7, 1, 0.0},
               {DDIM_SCHEDULE_LINSPACE, 9, -1, 0.2},
               {DDIM_SCHEDULE_UNIFORM, 10, -1, 0.0}}; /* run with the model default off */
  for (size_t k = 0; k < G_N_ELEMENTS(cases); k++) {
    /* The last case: clip = −1 must follow the model's clip_sample when it is off. */
    model->schedule.clip_sample = k != G_N_ELEMENTS(cases) - 1;
    DdimParams params;
    ddim_params_init(&params);
    params.schedule = cases[k].schedule;
    params.steps = cases[k].steps;
    params.clip = cases[k].clip;
    params.eta = cases[k].eta;
    params.seed = 17 + k;
    g_autofree float *start = noise_for(60 + k, shape);
    for (size_t i = 0; i < count; i++) start[i] *= 1.5f; /* so that clipping matters */
    g_autofree float *a = copy_of(start, shape), *b = copy_of(start, shape);
    g_autoptr(GError) error = NULL;
    g_assert_true(ddim_sample(model, &params, a, shape, &error));
    g_assert_no_error(error);
    manual_decode(&params, b, shape);
    for (size_t i = 0; i < count; i++)
      if (!(fabs(a[i] - b[i]) <= 1e-6))
        g_error("decode case %zu: x[%zu] = %.8g, manual %.8g", k, i, a[i], b[i]);

    g_autofree float *c = copy_of(start, shape), *d = copy_of(start, shape);
    for (size_t i = 0; i < count; i++) c[i] = d[i] = tanhf(c[i]);
    g_assert_true(ddim_invert(model, &params, c, shape, &error));
    g_assert_no_error(error);
    manual_encode(&params, d, shape);
    for (size_t i = 0; i < count; i++)
      if (!(fabs(c[i] - d[i]) <= 1e-6))
        g_error("encode case %zu: x[%zu] = %.8g, manual %.8g", k, i, c[i], d[i]);
  }
  model->schedule.clip_sample = TRUE;
}

/* ---- partial strength and variation ------------------------------------ */

static void test_strength(void) {
  DdimParams params;
  ddim_params_init(&params);
  params.steps = 10;
  params.strength = 0.5;
  g_autoptr(GError) error = NULL;
  g_autofree int *timesteps = NULL;
  int n = ddim_model_timesteps(model, params.schedule, params.steps, &timesteps, &error);
  g_assert_cmpint(n, ==, 10);
  /* T = 500, S = 10: uniform timesteps 0, 50, ..., 450; half of them. */
  g_assert_cmpint(timesteps[9], ==, 450);
  g_assert_cmpint(ddim_params_step_count(model, &params, &error), ==, 5);
  g_assert_cmpint(ddim_params_start_timestep(model, &params, &error), ==, 200);
  g_assert_no_error(error);
  params.strength = 1.0;
  g_assert_cmpint(ddim_params_step_count(model, &params, &error), ==, 10);
  g_assert_cmpint(ddim_params_start_timestep(model, &params, &error), ==, 450);
  /* ⌊S·strength⌋ steps, as diffusers' img2img init_timestep. */
  params.strength = 0.55;
  g_assert_cmpint(ddim_params_step_count(model, &params, &error), ==, 5);
  g_assert_cmpint(ddim_params_start_timestep(model, &params, &error), ==, 200);
  params.strength = 0.99;
  g_assert_cmpint(ddim_params_step_count(model, &params, &error), ==, 9);
  g_assert_cmpint(ddim_params_start_timestep(model, &params, &error), ==, 400);
  params.strength = 0.3;
  g_assert_cmpint(ddim_params_step_count(model, &params, &error), ==, 3);
  g_assert_cmpint(ddim_params_start_timestep(model, &params, &error), ==, 100);
  /* A tiny strength still runs one step. */
  params.strength = 0.01;
  g_assert_cmpint(ddim_params_step_count(model, &params, &error), ==, 1);
  g_assert_cmpint(ddim_params_start_timestep(model, &params, &error), ==, 0);

  /* A run at strength 0.5 takes 5 steps, starting at the start timestep. */
  params.strength = 0.5;
  Recorder r;
  recorder_init(&r, 0);
  params.progress = record;
  params.progress_data = &r;
  g_autofree float *x = noise_for(9, one);
  g_assert_true(ddim_vary(model, &params, x, one, &error));
  g_assert_no_error(error);
  g_assert_cmpint(r.calls, ==, 5);
  g_assert_cmpint(r.timesteps[0], ==, 200);
  g_assert_cmpint(r.timesteps[4], ==, 0);
  g_assert_cmpint(r.totals[0], ==, 5);

  recorder_init(&r, 0);
  g_assert_true(ddim_sample(model, &params, x, one, &error));
  g_assert_cmpint(r.calls, ==, 5);
  g_assert_cmpint(r.timesteps[0], ==, 200);
  recorder_init(&r, 0);
  g_assert_true(ddim_invert(model, &params, x, one, &error));
  g_assert_cmpint(r.calls, ==, 5);
  g_assert_cmpint(r.timesteps[4], ==, 200);
}

static void test_vary(void) {
  DdimParams params;
  ddim_params_init(&params);
  params.steps = 10;
  params.strength = 0.6;
  params.seed = 3;
  g_autofree float *image = noise_for(10, one);
  for (int i = 0; i < 64; i++) image[i] = tanhf(image[i]);
  g_autoptr(GError) error = NULL;
  g_autofree float *a = copy_of(image, one), *b = copy_of(image, one), *c = copy_of(image, one);
  g_assert_true(ddim_vary(model, &params, a, one, &error));
  g_assert_true(ddim_vary(model, &params, b, one, &error));
  params.seed = 4;
  g_assert_true(ddim_vary(model, &params, c, one, &error));
  g_assert_no_error(error);
  g_assert_true(same_bits(a, b, one));
  g_assert_false(same_bits(a, c, one));
  g_assert_false(same_bits(a, image, one));

  /* Variation is eq. 4 with the seed's DDIM_STREAM_FORWARD noise at the
   * start timestep, then a partial sample from there. */
  params.seed = 3;
  const int start = ddim_params_start_timestep(model, &params, &error);
  g_assert_cmpint(start, ==, 250); /* ⌊10·0.6⌋ = 6 steps of 0, 50, ..., 250 */
  const double alpha_bar = ddim_noise_schedule_alpha_bar(&model->schedule, start);
  float z[64], manual[64];
  ddim_noise(params.seed, DDIM_STREAM_FORWARD, one, z);
  for (int i = 0; i < 64; i++)
    manual[i] = (float)(sqrt(alpha_bar) * image[i] + sqrt(1.0 - alpha_bar) * z[i]);
  g_assert_true(ddim_sample(model, &params, manual, one, &error));
  g_assert_no_error(error);
  for (int i = 0; i < 64; i++) g_assert_cmpfloat(fabs(manual[i] - a[i]), <=, 1e-5);
}

/* ---- argument checks ----------------------------------------------------- */

static void expect_invalid(const DdimParams *params, DdimShape shape, int code) {
  g_autofree float *x = g_new0(float, ddim_shape_elements(shape));
  for (size_t i = 0; i < ddim_shape_elements(shape); i++) x[i] = 0.25f;
  g_autofree float *before = copy_of(x, shape);
  gboolean (*runs[])(DdimModel *, const DdimParams *, float *, DdimShape,
                     GError **) = {ddim_sample, ddim_invert, ddim_vary};
  for (size_t k = 0; k < G_N_ELEMENTS(runs); k++) {
    g_autoptr(GError) error = NULL;
    g_assert_false(runs[k](model, params, x, shape, &error));
    g_assert_error(error, DDIM_ERROR, code);
    g_assert_true(same_bits(x, before, shape));
  }
}

static void test_invalid_arguments(void) {
  DdimParams params;
  ddim_params_init(&params);
  params.steps = 4;
  params.eta = -1.0;
  expect_invalid(&params, one, DDIM_ERROR_INVALID_ARGUMENT);
  params.eta = 2.0;
  expect_invalid(&params, one, DDIM_ERROR_INVALID_ARGUMENT);
  params.eta = NAN;
  expect_invalid(&params, one, DDIM_ERROR_INVALID_ARGUMENT);
  params.eta = 0.0;
  params.strength = 0.0;
  expect_invalid(&params, one, DDIM_ERROR_INVALID_ARGUMENT);
  params.strength = 1.5;
  expect_invalid(&params, one, DDIM_ERROR_INVALID_ARGUMENT);
  params.strength = -0.5;
  expect_invalid(&params, one, DDIM_ERROR_INVALID_ARGUMENT);
  params.strength = 1.0;
  params.steps = 0;
  expect_invalid(&params, one, DDIM_ERROR_INVALID_ARGUMENT);
  params.steps = 501; /* more than T = 500 */
  expect_invalid(&params, one, DDIM_ERROR_INVALID_ARGUMENT);
  params.steps = 4;
  const DdimShape three_channels = {1, 3, 8, 8};
  expect_invalid(&params, three_channels, DDIM_ERROR_INVALID_ARGUMENT);
  const DdimShape odd = {1, 1, 8, 7};
  expect_invalid(&params, odd, DDIM_ERROR_INVALID_ARGUMENT);
}

static void test_check_shape(void) {
  const DdimModelInfo *info = ddim_model_get_info(model);
  g_assert_cmpint(info->size_multiple, ==, 2); /* two levels: 2^(2−1) */
  g_assert_cmpint(info->in_channels, ==, 1);
  g_autoptr(GError) error = NULL;
  const DdimShape good[] = {{1, 1, 8, 8}, {2, 1, 10, 6}, {1, 1, 2, 2}, {1, 1, 64, 2}};
  for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
    g_assert_true(ddim_model_check_shape(model, good[i], &error));
    g_assert_no_error(error);
  }
  const DdimShape not_multiple[] = {{1, 1, 9, 8}, {1, 1, 8, 7}, {1, 1, 1, 1}};
  for (size_t i = 0; i < G_N_ELEMENTS(not_multiple); i++) {
    g_assert_false(ddim_model_check_shape(model, not_multiple[i], &error));
    g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "multiples of 2"));
    g_clear_error(&error);
  }
  const DdimShape bad[] = {
      {0, 1, 8, 8}, {1, 2, 8, 8}, {1, 1, 0, 8}, {1, 1, -2, 8}, {1, 1, 8, 1 << 20}};
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_assert_false(ddim_model_check_shape(model, bad[i], &error));
    g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
  }
}

/* ---- slerp and metrics ------------------------------------------------- */

static double norm(const float *v, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
  return sqrt(s);
}

static void test_slerp(void) {
  enum { n = 192 };
  float z0[n], z1[n], out[n];
  ddim_noise(1, DDIM_STREAM_INITIAL, (DdimShape){1, 3, 8, 8}, z0);
  ddim_noise(2, DDIM_STREAM_INITIAL, (DdimShape){1, 3, 8, 8}, z1);
  ddim_slerp(z0, z1, n, 0.0, out);
  for (int i = 0; i < n; i++) g_assert_cmpfloat(fabs(out[i] - z0[i]), <=, 1e-6);
  ddim_slerp(z0, z1, n, 1.0, out);
  for (int i = 0; i < n; i++) g_assert_cmpfloat(fabs(out[i] - z1[i]), <=, 1e-6);

  /* Orthogonal, equal norms: θ = π/2, x(½) = (z0 + z1)/√2 with the same norm. */
  float a[n], b[n];
  memset(a, 0, sizeof a);
  memset(b, 0, sizeof b);
  for (int i = 0; i < n / 2; i++) {
    a[i] = z0[i];
    b[n / 2 + i] = z0[i];
  }
  ddim_slerp(a, b, n, 0.5, out);
  g_assert_cmpfloat(fabs(norm(out, n) - norm(a, n)) / norm(a, n), <=, 1e-6);
  for (int i = 0; i < n; i++) g_assert_cmpfloat(fabs(out[i] - (a[i] + b[i]) / sqrt(2.0)), <=, 1e-6);
  /* Any α keeps the norm for orthogonal equal-norm inputs: cos² + sin². */
  ddim_slerp(a, b, n, 0.3, out);
  g_assert_cmpfloat(fabs(norm(out, n) - norm(a, n)) / norm(a, n), <=, 1e-6);
  for (int i = 0; i < n / 2; i++)
    g_assert_cmpfloat(fabs(out[i] - cos(0.3 * M_PI / 2) * a[i]), <=, 1e-6);

  /* Parallel inputs: the weights tend to lerp's, no NaN. */
  float twice[n];
  for (int i = 0; i < n; i++) twice[i] = 2.0f * z0[i];
  ddim_slerp(z0, twice, n, 0.5, out);
  for (int i = 0; i < n; i++) g_assert_cmpfloat(fabs(out[i] - 1.5f * z0[i]), <=, 1e-5);
}

static void test_metrics(void) {
  /* Model space → [0, 1]: (v + 1)/2, clamped.  By hand:
   * a → 0, 1, 0.5, 0.75, 1 (3 clamps to 1); b → 1, 1, 0.5, 0.5, 1;
   * squared differences 1, 0, 0, 0.0625, 0 → mean 0.2125. */
  const float a[] = {-1.0f, 1.0f, 0.0f, 0.5f, 3.0f};
  const float b[] = {1.0f, 1.0f, 0.0f, 0.0f, 1.0f};
  g_assert_cmpfloat(fabs(ddim_mse_01(a, b, 5) - 0.2125), <=, 1e-12);
  g_assert_cmpfloat(ddim_mse_01(a, a, 5), ==, 0.0);
  g_assert_cmpfloat(fabs(ddim_psnr_from_mse(0.01) - 20.0), <=, 1e-12);
  g_assert_cmpfloat(fabs(ddim_psnr_from_mse(1.0)), <=, 1e-12);
  g_assert_cmpfloat(fabs(ddim_psnr_from_mse(0.2125) - 10.0 * log10(1.0 / 0.2125)), <=, 1e-12);
  g_assert_true(isinf(ddim_psnr_from_mse(0.0)) && ddim_psnr_from_mse(0.0) > 0);
  /* The paper's Table 2 scale: an MSE of 0.0001 is 40 dB. */
  g_assert_cmpfloat(fabs(ddim_psnr_from_mse(1e-4) - 40.0), <=, 1e-9);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  const char *fixtures = g_getenv("DDIM_FIXTURES");
  if (!fixtures) fixtures = DDIM_FIXTURES_DIR;
  g_autofree char *path = g_build_filename(fixtures, "tiny_sample", NULL);
  g_autoptr(GError) error = NULL;
  model = ddim_model_load(path, &error);
  if (!model) g_error("%s", error->message);

  g_test_add_func("/sampler/same-seed-same-bits", test_same_seed_same_bits);
  g_test_add_func("/sampler/batch-matches-single-runs", test_batch_matches_single_runs);
  g_test_add_func("/sampler/matches-manual-loop", test_matches_manual_loop);
  g_test_add_func("/sampler/progress-decode", test_progress_decode);
  g_test_add_func("/sampler/progress-encode", test_progress_encode);
  g_test_add_func("/sampler/cancel-leaves-buffer", test_cancel_leaves_buffer);
  g_test_add_func("/sampler/strength", test_strength);
  g_test_add_func("/sampler/vary", test_vary);
  g_test_add_func("/sampler/invalid-arguments", test_invalid_arguments);
  g_test_add_func("/sampler/check-shape", test_check_shape);
  g_test_add_func("/sampler/slerp", test_slerp);
  g_test_add_func("/sampler/metrics", test_metrics);
  int result = g_test_run();
  ddim_model_free(model);
  return result;
}
