/* test-progress.c — what a live preview relies on: the progress callback
 * hands over x̂_0 (DDIM eq. 9) of the right shape after every network
 * evaluation, and a cancel — from the callback or from the abort check
 * inside an evaluation — stops the run at once with the caller's buffer
 * untouched.
 *
 * The fixture tests/fixtures/google_f32 is an ε-prediction UNet2DModel (RGB,
 * 16×16, three levels, linear betas 1e-4…0.02 over T = 1000).  Expected
 * values come from closed forms computed here (ᾱ from the betas, eq. 9 from
 * a separate ddim_model_eps call), not from stored outputs. */
#include "ddim.h"

#include <math.h>
#include <string.h>

static DdimModel *model;

/* Two images, so that a batch is covered. */
static const DdimShape batch = {2, 3, 16, 16};

/* ᾱ_t of the linear schedule, as DDPM defines it: Π_{s≤t} (1 − β_s). */
static double alpha_bar(int t) {
  double product = 1.0;
  for (int s = 0; s <= t; s++) product *= 1.0 - (1e-4 + (0.02 - 1e-4) * s / 999.0);
  return product;
}

/* Counts the abort checks, i.e. the work done inside evaluations. */
typedef struct {
  int checks;
  int stop_after_checks; /* 0: never */
} AbortCounter;

static gboolean count_checks(gpointer data) {
  AbortCounter *counter = data;
  counter->checks++;
  return counter->stop_after_checks > 0 && counter->checks >= counter->stop_after_checks;
}

typedef struct {
  int calls;
  int cancel_at; /* 0: never */
  gboolean shapes_ok;
  int timesteps[64];
  float *x_before[64]; /* x_t going into evaluation i (a copy) */
  float *x0[64];       /* x̂_0 reported after evaluation i (a copy) */
  AbortCounter *counter;
  int checks_at_cancel;
} Frames;

static gboolean keep_frame(const DdimProgress *progress, gpointer data) {
  Frames *frames = data;
  size_t values = ddim_shape_elements(progress->shape);
  frames->shapes_ok &= progress->shape.n == batch.n && progress->shape.c == batch.c &&
                       progress->shape.h == batch.h && progress->shape.w == batch.w &&
                       progress->x0_pred != NULL && progress->x_t != NULL &&
                       progress->step == frames->calls + 1;
  int i = frames->calls++;
  g_assert_cmpint(i, <, 63);
  frames->timesteps[i] = progress->timestep;
  frames->x0[i] = g_memdup2(progress->x0_pred, values * sizeof(float));
  /* x_t after this evaluation is what the next one starts from. */
  frames->x_before[i + 1] = g_memdup2(progress->x_t, values * sizeof(float));
  if (frames->cancel_at && frames->calls >= frames->cancel_at) {
    frames->checks_at_cancel = frames->counter ? frames->counter->checks : 0;
    return FALSE;
  }
  return TRUE;
}

static void frames_clear(Frames *frames) {
  for (int i = 0; i < 64; i++) {
    g_free(frames->x_before[i]);
    g_free(frames->x0[i]);
  }
  memset(frames, 0, sizeof *frames);
}

static float *noise(uint64_t seed) {
  float *x = g_new(float, ddim_shape_elements(batch));
  ddim_noise(seed, DDIM_STREAM_INITIAL, batch, x);
  return x;
}

/* Every evaluation reports x̂_0 of the whole batch, equal to eq. 9 on the
 * sample that went into it: x̂_0 = (x_t − √(1 − ᾱ_t)·ε_θ(x_t, t)) / √ᾱ_t. */
static void test_x0_every_step(void) {
  DdimParams params;
  ddim_params_init(&params);
  params.steps = 6;
  params.clip = 0; /* eq. 9 as it is */
  Frames frames = {.shapes_ok = TRUE};
  params.progress = keep_frame;
  params.progress_data = &frames;
  g_autofree float *x = noise(11);
  frames.x_before[0] = g_memdup2(x, ddim_shape_elements(batch) * sizeof(float));
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_sample(model, &params, x, batch, &error));
  g_assert_no_error(error);
  g_assert_cmpint(frames.calls, ==, ddim_params_step_count(model, &params, NULL));
  g_assert_true(frames.shapes_ok);

  size_t values = ddim_shape_elements(batch);
  g_autofree float *eps = g_new(float, values);
  double worst = 0.0;
  for (int i = 0; i < frames.calls; i++) {
    int t = frames.timesteps[i];
    float timesteps[2] = {(float)t, (float)t};
    g_assert_true(ddim_model_eps(model, frames.x_before[i], batch, timesteps, eps, &error));
    double a = alpha_bar(t);
    for (size_t k = 0; k < values; k++) {
      double expected = (frames.x_before[i][k] - sqrt(1.0 - a) * eps[k]) / sqrt(a);
      worst = fmax(worst, fabs(frames.x0[i][k] - expected) / fmax(1.0, fabs(expected)));
    }
  }
  g_test_message("largest deviation from eq. 9: %.3g (relative)", worst);
  g_assert_cmpfloat(worst, <, 1e-4);
  /* The early predictions are far from the result, the last one is it. */
  g_assert_cmpmem(frames.x0[frames.calls - 1], values * sizeof(float), x, values * sizeof(float));
  g_assert_false(memcmp(frames.x0[0], x, values * sizeof(float)) == 0);
  frames_clear(&frames);
}

/* With clipping, the reported x̂_0 is the clipped one the step used. */
static void test_x0_clipped(void) {
  DdimParams params;
  ddim_params_init(&params);
  params.steps = 4;
  params.clip = 1;
  Frames frames = {.shapes_ok = TRUE};
  params.progress = keep_frame;
  params.progress_data = &frames;
  g_autofree float *x = noise(12);
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_sample(model, &params, x, batch, &error));
  g_assert_true(frames.shapes_ok);
  size_t values = ddim_shape_elements(batch);
  for (int i = 0; i < frames.calls; i++)
    for (size_t k = 0; k < values; k++) g_assert_cmpfloat(fabsf(frames.x0[i][k]), <=, 1.0f);
  frames_clear(&frames);
}

/* A cancel from the callback: no further network evaluation starts (the
 * abort check, asked inside every evaluation, is never asked again) and the
 * caller's buffer keeps its values; decode and encode alike. */
static void test_cancel_from_callback(void) {
  for (int encode = 0; encode <= 1; encode++) {
    DdimParams params;
    ddim_params_init(&params);
    params.steps = 10;
    AbortCounter counter = {0};
    ddim_model_set_abort(model, count_checks, &counter);
    Frames frames = {.shapes_ok = TRUE, .cancel_at = 3, .counter = &counter};
    params.progress = keep_frame;
    params.progress_data = &frames;
    g_autofree float *x = noise(13);
    g_autofree float *before = g_memdup2(x, ddim_shape_elements(batch) * sizeof(float));
    g_autoptr(GError) error = NULL;
    gboolean ok = encode ? ddim_invert(model, &params, x, batch, &error)
                         : ddim_sample(model, &params, x, batch, &error);
    g_assert_false(ok);
    g_assert_error(error, DDIM_ERROR, DDIM_ERROR_CANCELLED);
    g_assert_cmpint(frames.calls, ==, 3);
    g_assert_cmpint(counter.checks, >, 0);
    g_assert_cmpint(counter.checks, ==, frames.checks_at_cancel);
    g_assert_cmpmem(x, ddim_shape_elements(batch) * sizeof(float), before,
                    ddim_shape_elements(batch) * sizeof(float));
    ddim_model_set_abort(model, NULL, NULL);
    frames_clear(&frames);
  }
}

/* A cancel inside an evaluation: the abort check stops it between blocks,
 * the step is never reported, and the buffer is untouched. */
static void test_abort_inside_evaluation(void) {
  /* How many checks one evaluation asks (one per block boundary). */
  AbortCounter counter = {0};
  ddim_model_set_abort(model, count_checks, &counter);
  size_t values = ddim_shape_elements(batch);
  g_autofree float *x = noise(14);
  g_autofree float *eps = g_new(float, values);
  float timesteps[2] = {500.0f, 500.0f};
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_model_eps(model, x, batch, timesteps, eps, &error));
  int per_evaluation = counter.checks;
  g_assert_cmpint(per_evaluation, >=, 3);

  /* Stop in the middle of the third evaluation. */
  counter = (AbortCounter){.stop_after_checks = 2 * per_evaluation + per_evaluation / 2 + 1};
  DdimParams params;
  ddim_params_init(&params);
  params.steps = 10;
  Frames frames = {.shapes_ok = TRUE};
  params.progress = keep_frame;
  params.progress_data = &frames;
  g_autofree float *before = g_memdup2(x, values * sizeof(float));
  g_assert_false(ddim_sample(model, &params, x, batch, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_CANCELLED);
  g_assert_cmpint(frames.calls, ==, 2);
  g_assert_cmpint(counter.checks, ==, counter.stop_after_checks);
  g_assert_cmpmem(x, values * sizeof(float), before, values * sizeof(float));
  g_clear_error(&error);

  /* Removing the check lets runs finish again. */
  ddim_model_set_abort(model, NULL, NULL);
  frames_clear(&frames);
  frames.shapes_ok = TRUE;
  g_assert_true(ddim_sample(model, &params, x, batch, &error));
  g_assert_no_error(error);
  g_assert_cmpint(frames.calls, ==, 10);
  frames_clear(&frames);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  const char *fixtures = g_getenv("DDIM_FIXTURES");
  if (!fixtures) fixtures = DDIM_FIXTURES_DIR;
  g_autofree char *path = g_build_filename(fixtures, "google_f32", NULL);
  g_autoptr(GError) error = NULL;
  model = ddim_model_load(path, &error);
  if (!model) g_error("%s", error->message);
  ddim_set_threads(1);

  g_test_add_func("/progress/x0-every-step", test_x0_every_step);
  g_test_add_func("/progress/x0-clipped", test_x0_clipped);
  g_test_add_func("/progress/cancel-from-callback", test_cancel_from_callback);
  g_test_add_func("/progress/abort-inside-evaluation", test_abort_inside_evaluation);
  int result = g_test_run();
  ddim_model_free(model);
  return result;
}
