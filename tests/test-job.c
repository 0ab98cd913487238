/* test-job.c — the job API (ddim-job.h) on the fixture model google_f32
 * (16×16, 3 channels, size multiple 4) and the 1-channel gray_pipeline.
 *
 * Every workflow is compared bit for bit with the direct sampler calls it
 * stands for (ddim_noise + ddim_sample, ddim_invert with
 * ddim_params_for_encode, ddim_sample with ddim_params_for_inverse_decode,
 * ddim_vary, ddim_slerp), run over the same batches (across different batch
 * sizes the network agrees only to float rounding); then batching over
 * DDIM_JOB_MAX_BATCH and under a memory budget, the memory refusal,
 * cancellation (progress and abort hook), invalid jobs, keep_latents, the
 * estimate, ddim_job_fit_size and ddim_frame_alpha.  Runs are 1–5 steps on
 * 8×8 images so the file stays fast. */
#include "ddim-job.h"
#include "ddim.h"

#include <math.h>
#include <string.h>

static DdimModel *model;

#define CHANNELS 3
#define SIZE 8

static const DdimShape one = {1, CHANNELS, SIZE, SIZE};

static DdimShape batch_of(int n) {
  DdimShape shape = one;
  shape.n = n;
  return shape;
}

static size_t per_image(void) {
  return ddim_shape_elements(one);
}

static size_t bytes_of(int n) {
  return sizeof(float) * ddim_shape_elements(batch_of(n));
}

/* n latents: x_T of seed, image k with seed + k. */
static float *latents_for(uint64_t seed, int n) {
  float *x = g_new(float, ddim_shape_elements(batch_of(n)));
  ddim_noise(seed, DDIM_STREAM_INITIAL, batch_of(n), x);
  return x;
}

/* n "images" in [-1, 1] (halved noise, clamped), different per seed. */
static float *images_for(uint64_t seed, int n) {
  float *x = latents_for(seed, n);
  for (size_t i = 0; i < ddim_shape_elements(batch_of(n)); i++)
    x[i] = CLAMP(0.5f * x[i], -1.0f, 1.0f);
  return x;
}

static float *copy_of(const float *x, int n) {
  return g_memdup2(x, bytes_of(n));
}

static gboolean same_bits(const float *a, const float *b, int n) {
  return memcmp(a, b, bytes_of(n)) == 0;
}

static double max_difference(const float *a, const float *b, int n) {
  double most = 0.0;
  for (size_t i = 0; i < ddim_shape_elements(batch_of(n)); i++) most = MAX(most, fabs(a[i] - b[i]));
  return most;
}

/* A job on 8×8 images of `steps` steps, seed 17; the tests set η and clip
 * where they matter (η > 0 makes the per-image seeds visible). */
static DdimJob job_for(DdimWorkflow workflow, int steps) {
  DdimJob job;
  ddim_job_init(&job, workflow, model);
  job.image = one;
  job.params.steps = steps;
  job.params.seed = 17;
  return job;
}

/* Runs the job and checks the result's layout. */
static void run_ok(const DdimJob *job, DdimJobResult *result, int outputs) {
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_job_check(model, job, &error));
  g_assert_no_error(error);
  g_assert_true(ddim_job_run(model, job, result, &error));
  g_assert_no_error(error);
  g_assert_cmpint(result->outputs, ==, outputs);
  g_assert_cmpint(result->shape.n, ==, 1);
  g_assert_cmpint(result->shape.c, ==, job->image.c);
  g_assert_cmpint(result->shape.h, ==, job->image.h);
  g_assert_cmpint(result->shape.w, ==, job->image.w);
}

/* ---- progress recording ------------------------------------------------ */

#define MAX_REPORTS 256

typedef struct {
  int calls;
  int cancel_at_done; /* return FALSE at the report with this done (0: never) */
  int calls_after_cancel;
  gboolean cancelled;
  int done[MAX_REPORTS], total[MAX_REPORTS];
  int batch_first[MAX_REPORTS], batch_count[MAX_REPORTS], images[MAX_REPORTS];
  int first_output[MAX_REPORTS];
  int tiles_done[MAX_REPORTS], tiles_total[MAX_REPORTS];
  DdimPhase phase[MAX_REPORTS];
} Reports;

static gboolean record(const DdimJobProgress *progress, gpointer data) {
  Reports *r = data;
  if (r->cancelled) r->calls_after_cancel++;
  if (r->calls < MAX_REPORTS) {
    r->done[r->calls] = progress->done;
    r->total[r->calls] = progress->total;
    r->batch_first[r->calls] = progress->batch_first;
    r->batch_count[r->calls] = progress->batch_count;
    r->images[r->calls] = progress->images;
    r->first_output[r->calls] = progress->first_output;
    r->phase[r->calls] = progress->step->phase;
    r->tiles_done[r->calls] = progress->step->tiles_done;
    r->tiles_total[r->calls] = progress->step->tiles_total;
  }
  r->calls++;
  if (r->cancel_at_done > 0 && progress->done == r->cancel_at_done) {
    r->cancelled = TRUE;
    return FALSE;
  }
  return TRUE;
}

/* The distinct batches the reports saw, in order: (first, count) pairs. */
static int batches_seen(const Reports *r, int *first, int *count, int most) {
  int seen = 0;
  for (int i = 0; i < MIN(r->calls, MAX_REPORTS); i++) {
    if (seen > 0 && first[seen - 1] == r->batch_first[i] && count[seen - 1] == r->batch_count[i])
      continue;
    g_assert_cmpint(seen, <, most);
    first[seen] = r->batch_first[i];
    count[seen] = r->batch_count[i];
    seen++;
  }
  return seen;
}

/* done rises by one per report (untiled), ends at total, and total is the
 * estimate's evaluations. */
static void check_counts(const Reports *r, const DdimJob *job) {
  DdimJobEstimate estimate;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_job_estimate(model, job, &estimate, &error));
  g_assert_no_error(error);
  g_assert_cmpint(r->calls, >, 0);
  g_assert_cmpint(r->calls, <=, MAX_REPORTS);
  for (int i = 0; i < r->calls; i++) {
    g_assert_cmpint(r->total[i], ==, estimate.evaluations);
    g_assert_cmpint(r->done[i], ==, i + 1);
  }
  g_assert_cmpint(r->done[r->calls - 1], ==, r->total[r->calls - 1]);
}

/* ---- workflows against the direct sampler calls ------------------------- */

static void test_generate_noise(void) {
  DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 3);
  job.params.eta = 0.5; /* noise at every step: seeds matter */
  job.count = 3;
  Reports reports = {0};
  job.progress = record;
  job.progress_data = &reports;
  g_auto(DdimJobResult) result = {0};
  run_ok(&job, &result, 3);
  g_assert_nonnull(result.images);
  g_assert_null(result.latents);

  g_autofree float *direct = latents_for(job.params.seed, 3);
  DdimParams params = job.params;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_sample(model, &params, direct, batch_of(3), &error));
  g_assert_no_error(error);
  g_assert_true(same_bits(result.images, direct, 3));

  /* One batch of three, every evaluation an output step. */
  check_counts(&reports, &job);
  g_assert_cmpint(reports.calls, ==, 3);
  for (int i = 0; i < reports.calls; i++) {
    g_assert_cmpint(reports.batch_first[i], ==, 0);
    g_assert_cmpint(reports.batch_count[i], ==, 3);
    g_assert_cmpint(reports.images[i], ==, 3);
    g_assert_cmpint(reports.first_output[i], ==, 0);
    g_assert_cmpint(reports.phase[i], ==, DDIM_PHASE_DECODE);
  }
}

static void test_generate_latents(void) {
  g_autofree float *latents = latents_for(300, 2);
  g_autofree float *before = copy_of(latents, 2);
  DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 3);
  job.params.eta = 1.0;
  job.inputs = latents;
  job.input_count = 2;
  job.count = 9; /* not used with inputs */
  job.keep_latents = TRUE;
  g_auto(DdimJobResult) result = {0};
  run_ok(&job, &result, 2);
  g_assert_true(same_bits(latents, before, 2)); /* inputs untouched */
  g_assert_nonnull(result.latents);
  g_assert_true(same_bits(result.latents, latents, 2));

  g_autofree float *direct = copy_of(latents, 2);
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_sample(model, &job.params, direct, batch_of(2), &error));
  g_assert_no_error(error);
  g_assert_true(same_bits(result.images, direct, 2));
  g_assert_false(same_bits(result.images, latents, 2));
}

static void test_encode(void) {
  g_autofree float *images = images_for(400, 2);
  g_autofree float *before = copy_of(images, 2);
  DdimJob job = job_for(DDIM_WORKFLOW_ENCODE, 4);
  job.params.clip = 1;  /* encode never clips */
  job.params.eta = 0.8; /* and runs with η = 0 */
  job.inputs = images;
  job.input_count = 2;
  Reports reports = {0};
  job.progress = record;
  job.progress_data = &reports;
  g_auto(DdimJobResult) result = {0};
  run_ok(&job, &result, 2);
  g_assert_true(same_bits(images, before, 2));
  g_assert_null(result.images);
  g_assert_nonnull(result.latents);

  DdimParams encode = ddim_params_for_encode(&job.params);
  g_assert_cmpint(encode.clip, ==, 0);
  g_assert_cmpfloat(encode.eta, ==, 0.0);
  g_autofree float *direct = copy_of(images, 2);
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_invert(model, &encode, direct, batch_of(2), &error));
  g_assert_no_error(error);
  g_assert_true(same_bits(result.latents, direct, 2));
  g_assert_false(same_bits(result.latents, images, 2));
  /* What the latents decode with. */
  g_assert_cmpint(result.latent_params.steps, ==, 4);
  g_assert_cmpint(result.latent_params.clip, ==, 0);
  g_assert_null(result.latent_params.mask);
  g_assert_null(result.latent_params.known);

  /* An encode computes no outputs' images: first_output is -1. */
  check_counts(&reports, &job);
  for (int i = 0; i < reports.calls; i++) {
    g_assert_cmpint(reports.first_output[i], ==, -1);
    g_assert_cmpint(reports.phase[i], ==, DDIM_PHASE_ENCODE);
  }
}

static void test_decode(void) {
  g_autofree float *latents = latents_for(500, 2);
  g_autofree float *before = copy_of(latents, 2);
  g_autoptr(GError) error = NULL;
  g_autofree float *plain = NULL;
  for (int from_inversion = 0; from_inversion <= 1; from_inversion++) {
    DdimJob job = job_for(DDIM_WORKFLOW_DECODE, 2);
    job.params.clip = -1; /* the model's default: clip_sample true */
    job.params.eta = 0.3;
    job.inputs = latents;
    job.input_count = 2;
    job.from_inversion = from_inversion;
    g_auto(DdimJobResult) result = {0};
    run_ok(&job, &result, 2);
    g_assert_true(same_bits(latents, before, 2));
    g_assert_null(result.latents); /* no keep_latents */

    DdimParams params = from_inversion ? ddim_params_for_inverse_decode(&job.params) : job.params;
    g_autofree float *direct = copy_of(latents, 2);
    g_assert_true(ddim_sample(model, &params, direct, batch_of(2), &error));
    g_assert_no_error(error);
    g_assert_true(same_bits(result.images, direct, 2));
    if (!from_inversion) {
      plain = g_steal_pointer(&result.images);
    } else {
      /* Unclipped: x̂_0 of pure noise after 2 steps leaves [-1, 1], so the
       * two decodes differ. */
      g_assert_cmpint(params.clip, ==, 0);
      g_assert_false(same_bits(result.images, plain, 2));
    }
  }
}

static void test_reconstruct(void) {
  g_autofree float *images = images_for(600, 3);
  g_autofree float *before = copy_of(images, 3);
  DdimJob job = job_for(DDIM_WORKFLOW_RECONSTRUCT, 3);
  job.params.eta = 0.0;
  job.inputs = images;
  job.input_count = 3;
  job.keep_latents = TRUE;
  Reports reports = {0};
  job.progress = record;
  job.progress_data = &reports;
  g_auto(DdimJobResult) result = {0};
  run_ok(&job, &result, 3);
  g_assert_true(same_bits(images, before, 3));

  DdimParams encode = ddim_params_for_encode(&job.params);
  DdimParams decode = ddim_params_for_inverse_decode(&job.params);
  g_autoptr(GError) error = NULL;
  g_autofree float *latents = copy_of(images, 3);
  g_assert_true(ddim_invert(model, &encode, latents, batch_of(3), &error));
  g_assert_no_error(error);
  g_autofree float *direct = copy_of(latents, 3);
  g_assert_true(ddim_sample(model, &decode, direct, batch_of(3), &error));
  g_assert_no_error(error);
  g_assert_true(same_bits(result.latents, latents, 3));
  g_assert_true(same_bits(result.images, direct, 3));

  const double mse = ddim_mse_01(images, result.images, ddim_shape_elements(batch_of(3)));
  g_assert_cmpfloat(result.mse, ==, mse);
  g_assert_cmpfloat(result.psnr, ==, ddim_psnr_from_mse(mse));
  g_assert_cmpfloat(result.mse, >, 0.0);
  g_assert_true(isfinite(result.psnr));

  /* Two phases: the encode (no outputs yet), then the decode of outputs. */
  check_counts(&reports, &job);
  g_assert_cmpint(reports.calls, ==, 6);
  for (int i = 0; i < 6; i++) {
    g_assert_cmpint(reports.phase[i], ==, i < 3 ? DDIM_PHASE_ENCODE : DDIM_PHASE_DECODE);
    g_assert_cmpint(reports.first_output[i], ==, i < 3 ? -1 : 0);
    g_assert_cmpint(reports.images[i], ==, 3);
  }

  /* Without keep_latents the latents are not returned. */
  job.keep_latents = FALSE;
  job.progress = NULL;
  g_auto(DdimJobResult) again = {0};
  run_ok(&job, &again, 3);
  g_assert_null(again.latents);
  g_assert_true(same_bits(again.images, direct, 3));
  g_assert_cmpfloat(again.mse, ==, mse);
}

static void test_vary_one(void) {
  g_autofree float *image = images_for(700, 1);
  g_autofree float *before = copy_of(image, 1);
  DdimJob job = job_for(DDIM_WORKFLOW_VARY, 4);
  job.params.strength = 0.6;
  job.params.eta = 0.5;
  job.inputs = image;
  job.input_count = 1;
  job.count = 3;
  g_auto(DdimJobResult) result = {0};
  run_ok(&job, &result, 3);
  g_assert_true(same_bits(image, before, 1));

  g_autofree float *direct = g_new(float, ddim_shape_elements(batch_of(3)));
  for (int k = 0; k < 3; k++) memcpy(direct + k * per_image(), image, bytes_of(1));
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_vary(model, &job.params, direct, batch_of(3), &error));
  g_assert_no_error(error);
  g_assert_true(same_bits(result.images, direct, 3));
  /* Seeds + k: the variations differ from each other. */
  g_assert_false(same_bits(result.images, result.images + per_image(), 1));
}

/* A masked variation of one input keeps that input (known_count 1): the
 * same as ddim_vary of the copies, each keeping its own. */
static void test_vary_one_masked(void) {
  g_autofree float *image = images_for(710, 1);
  float mask[SIZE * SIZE];
  for (int i = 0; i < SIZE * SIZE; i++) mask[i] = (i % SIZE) < SIZE / 2 ? 0.0f : 1.0f;
  DdimJob job = job_for(DDIM_WORKFLOW_VARY, 3);
  job.params.strength = 0.7;
  job.params.eta = 1.0;
  job.params.mask = mask;
  job.inputs = image;
  job.input_count = 1;
  job.count = 2;
  g_auto(DdimJobResult) result = {0};
  run_ok(&job, &result, 2);

  g_autofree float *direct = g_new(float, ddim_shape_elements(batch_of(2)));
  for (int k = 0; k < 2; k++) memcpy(direct + k * per_image(), image, bytes_of(1));
  DdimParams params = job.params;
  params.known = image;
  params.known_count = 1;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_vary(model, &params, direct, batch_of(2), &error));
  g_assert_no_error(error);
  g_assert_true(same_bits(result.images, direct, 2));
  /* The kept half is the input exactly. */
  for (int k = 0; k < 2; k++)
    for (int c = 0; c < CHANNELS; c++)
      for (int i = 0; i < SIZE * SIZE; i++)
        if (mask[i] == 0.0f)
          g_assert_cmpfloat(result.images[k * per_image() + c * SIZE * SIZE + i], ==,
                            image[c * SIZE * SIZE + i]);
}

/* A masked generate whose kept part follows the known image's inversion:
 * each batch also encodes the known image, reported (phase ENCODE, no
 * outputs) and counted in the estimate as evaluations of their own. */
static void test_generate_masked_inversion(void) {
  g_autofree float *known = images_for(720, 1);
  float mask[SIZE * SIZE];
  for (int i = 0; i < SIZE * SIZE; i++) mask[i] = i < SIZE * SIZE / 2 ? 0.0f : 1.0f;
  DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 3);
  job.params.mask = mask;
  job.params.known = known;
  job.params.known_count = 1;
  job.params.mask_keep = DDIM_MASK_KEEP_INVERSION;
  job.count = 2;
  Reports reports = {0};
  job.progress = record;
  job.progress_data = &reports;
  DdimJobEstimate estimate = {0};
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_job_estimate(model, &job, &estimate, &error));
  g_assert_no_error(error);
  g_assert_cmpint(estimate.evaluations, ==, 2 * 3);
  g_assert_cmpfloat(estimate.image_evaluations, ==, 3 * (2 + 1.0));
  g_auto(DdimJobResult) result = {0};
  run_ok(&job, &result, 2);
  check_counts(&reports, &job);
  int encodes = 0;
  for (int i = 0; i < reports.calls; i++) {
    if (reports.phase[i] == DDIM_PHASE_ENCODE) encodes++;
    g_assert_cmpint(reports.first_output[i], ==, reports.phase[i] == DDIM_PHASE_ENCODE ? -1 : 0);
  }
  g_assert_cmpint(encodes, ==, 3);

  g_autofree float *direct = latents_for(job.params.seed, 2);
  g_assert_true(ddim_sample(model, &job.params, direct, batch_of(2), &error));
  g_assert_no_error(error);
  g_assert_true(same_bits(result.images, direct, 2));
}

static void test_vary_several(void) {
  g_autofree float *images = images_for(800, 3);
  g_autofree float *before = copy_of(images, 3);
  DdimJob job = job_for(DDIM_WORKFLOW_VARY, 4);
  job.params.strength = 0.5;
  job.params.eta = 1.0;
  job.inputs = images;
  job.input_count = 3;
  job.count = 5; /* not used with several inputs */
  g_auto(DdimJobResult) result = {0};
  run_ok(&job, &result, 3);
  g_assert_true(same_bits(images, before, 3));

  g_autofree float *direct = copy_of(images, 3);
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_vary(model, &job.params, direct, batch_of(3), &error));
  g_assert_no_error(error);
  g_assert_true(same_bits(result.images, direct, 3));
  g_assert_false(same_bits(result.images, images, 3));
}

static void check_interpolate(DdimFrameSpacing spacing, int frames) {
  g_autofree float *ends = images_for(900, 2);
  g_autofree float *before = copy_of(ends, 2);
  DdimJob job = job_for(DDIM_WORKFLOW_INTERPOLATE, 3);
  job.params.eta = 0.0;
  job.params.clip = 1; /* encode drops it; the decode keeps an explicit 1 */
  job.inputs = ends;
  job.input_count = 2;
  job.count = frames;
  job.frame_spacing = spacing;
  job.keep_latents = TRUE;
  g_auto(DdimJobResult) result = {0};
  run_ok(&job, &result, frames);
  g_assert_true(same_bits(ends, before, 2));

  DdimParams encode = ddim_params_for_encode(&job.params);
  DdimParams decode = ddim_params_for_inverse_decode(&job.params);
  g_autoptr(GError) error = NULL;
  g_autofree float *z = copy_of(ends, 2);
  g_assert_true(ddim_invert(model, &encode, z, batch_of(2), &error));
  g_assert_no_error(error);
  g_autofree float *latents = g_new(float, ddim_shape_elements(batch_of(frames)));
  for (int k = 0; k < frames; k++) {
    const double alpha = spacing == DDIM_FRAMES_WITH_ENDS ? (double)k / (frames - 1)
                                                          : (double)(k + 1) / (frames + 1);
    ddim_slerp(z, z + per_image(), per_image(), alpha, latents + k * per_image());
  }
  g_assert_true(same_bits(result.latents, latents, frames));
  g_autofree float *direct = copy_of(latents, frames);
  g_assert_true(ddim_sample(model, &decode, direct, batch_of(frames), &error));
  g_assert_no_error(error);
  g_assert_true(same_bits(result.images, direct, frames));
  g_assert_false(same_bits(result.images, result.images + per_image(), 1));
}

static void test_interpolate_with_ends(void) {
  check_interpolate(DDIM_FRAMES_WITH_ENDS, 4);
  check_interpolate(DDIM_FRAMES_WITH_ENDS, 2);
}

static void test_interpolate_between(void) {
  check_interpolate(DDIM_FRAMES_BETWEEN, 3);
}

/* A 1-channel pipeline: ddim_job_init takes the model's channels and size. */
static void test_gray_pipeline(void) {
  g_autoptr(GError) error = NULL;
  g_autoptr(DdimModel) gray = ddim_model_load(DDIM_FIXTURES_DIR "/gray_pipeline", &error);
  g_assert_no_error(error);
  const DdimModelInfo *info = ddim_model_get_info(gray);
  DdimJob job;
  ddim_job_init(&job, DDIM_WORKFLOW_GENERATE, gray);
  g_assert_cmpint(job.image.c, ==, 1);
  g_assert_cmpint(job.image.h, ==, info->sample_height);
  g_assert_cmpint(job.image.w, ==, info->sample_width);
  g_assert_cmpint(job.count, ==, 1);
  g_assert_cmpint(job.frame_spacing, ==, DDIM_FRAMES_WITH_ENDS);
  job.params.steps = 2;
  job.params.seed = 3;
  job.count = 2;
  g_auto(DdimJobResult) result = {0};
  g_assert_true(ddim_job_run(gray, &job, &result, &error));
  g_assert_no_error(error);
  g_assert_cmpint(result.shape.c, ==, 1);
  DdimShape shape = job.image;
  shape.n = 2;
  g_autofree float *direct = g_new(float, ddim_shape_elements(shape));
  ddim_noise(3, DDIM_STREAM_INITIAL, shape, direct);
  g_assert_true(ddim_sample(gray, &job.params, direct, shape, &error));
  g_assert_no_error(error);
  g_assert_cmpmem(result.images, sizeof(float) * ddim_shape_elements(shape), direct,
                  sizeof(float) * ddim_shape_elements(shape));
}

/* ---- batching ----------------------------------------------------------- */

/* 70 images: batches [0, 64) and [64, 70), image k with seed + k. */
static void test_batch_over_limit(void) {
  const int count = DDIM_JOB_MAX_BATCH + 6;
  DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 2);
  job.params.eta = 0.5;
  job.count = count;
  job.keep_latents = TRUE;
  Reports reports = {0};
  job.progress = record;
  job.progress_data = &reports;
  g_auto(DdimJobResult) result = {0};
  run_ok(&job, &result, count);

  DdimJobEstimate estimate;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_job_estimate(model, &job, &estimate, &error));
  g_assert_no_error(error);
  g_assert_cmpint(estimate.batch_size, ==, DDIM_JOB_MAX_BATCH);
  g_assert_cmpint(estimate.evaluations, ==, 2 * 2);
  check_counts(&reports, &job);
  int first[8], size[8];
  g_assert_cmpint(batches_seen(&reports, first, size, 8), ==, 2);
  g_assert_cmpint(first[0], ==, 0);
  g_assert_cmpint(size[0], ==, DDIM_JOB_MAX_BATCH);
  g_assert_cmpint(first[1], ==, DDIM_JOB_MAX_BATCH);
  g_assert_cmpint(size[1], ==, count - DDIM_JOB_MAX_BATCH);
  for (int i = 0; i < reports.calls; i++) {
    g_assert_cmpint(reports.images[i], ==, count);
    g_assert_cmpint(reports.first_output[i], ==, reports.batch_first[i]);
  }

  /* x_T of all 70 is one draw of seed (image k: seed + k). */
  g_autofree float *noise = latents_for(job.params.seed, count);
  g_assert_true(same_bits(result.latents, noise, count));

  /* The same batches run directly give the same bits. */
  g_autofree float *direct = copy_of(noise, count);
  DdimParams params = job.params;
  g_assert_true(ddim_sample(model, &params, direct, batch_of(DDIM_JOB_MAX_BATCH), &error));
  params.seed = job.params.seed + DDIM_JOB_MAX_BATCH;
  g_assert_true(ddim_sample(model, &params, direct + DDIM_JOB_MAX_BATCH * per_image(),
                            batch_of(count - DDIM_JOB_MAX_BATCH), &error));
  g_assert_no_error(error);
  g_assert_true(same_bits(result.images, direct, count));

  /* Output k is the one-image job with seed + k: the same x_T and step
   * noise bit for bit; the images agree to float rounding only, since the
   * network's GEMMs may sum in another order for another batch size (here,
   * at 8×8, batches of 8 or more differ from a batch of one in the last
   * bits: measured up to 6e-6 after 2 steps; a wrong seed differs by O(1)). */
  const int check[] = {0, 1, 63, 64, 69};
  for (guint i = 0; i < G_N_ELEMENTS(check); i++) {
    const int k = check[i];
    DdimJob single = job_for(DDIM_WORKFLOW_GENERATE, 2);
    single.params.eta = 0.5;
    single.params.seed = job.params.seed + (uint64_t)k;
    single.keep_latents = TRUE;
    g_auto(DdimJobResult) alone = {0};
    run_ok(&single, &alone, 1);
    g_assert_true(same_bits(alone.latents, result.latents + k * per_image(), 1));
    g_assert_cmpfloat(max_difference(alone.images, result.images + k * per_image(), 1), <, 1e-4);
  }
}

/* The largest batch below 16 whose memory is less than one image more
 * (the network's arena grows in steps, so not every n is such a bound). */
static int budget_batch(void) {
  for (int n = 2; n < 16; n++)
    if (ddim_model_memory_needed(model, batch_of(n)) <
        ddim_model_memory_needed(model, batch_of(n + 1)))
      return n;
  g_assert_not_reached();
  return 0;
}

/* A memory budget of b images (b < count / 2): batches of b, b and the
 * rest, each the bits of the direct call on that batch. */
static void test_memory_budget(void) {
  const int b = budget_batch();
  const int count = 2 * b + 2;
  g_test_message("budget of %d images, %d images", b, count);
  DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 2);
  job.params.eta = 1.0;
  job.count = count;
  g_auto(DdimJobResult) whole = {0};
  run_ok(&job, &whole, count);

  const uint64_t budget = ddim_model_memory_needed(model, batch_of(b));
  job.memory_limit = budget;
  DdimJobEstimate estimate;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_job_estimate(model, &job, &estimate, &error));
  g_assert_no_error(error);
  g_assert_cmpint(estimate.batch_size, ==, b);
  g_assert_cmpint(estimate.evaluations, ==, 2 * 3);
  g_assert_cmpuint(estimate.memory_limit, ==, budget);
  g_assert_true(estimate.fits);

  Reports reports = {0};
  job.progress = record;
  job.progress_data = &reports;
  g_auto(DdimJobResult) split = {0};
  run_ok(&job, &split, count);
  check_counts(&reports, &job);
  int first[8], size[8];
  g_assert_cmpint(batches_seen(&reports, first, size, 8), ==, 3);
  g_assert_cmpint(first[0], ==, 0);
  g_assert_cmpint(size[0], ==, b);
  g_assert_cmpint(first[1], ==, b);
  g_assert_cmpint(size[1], ==, b);
  g_assert_cmpint(first[2], ==, 2 * b);
  g_assert_cmpint(size[2], ==, 2);
  /* The same batches run directly: the same bits. */
  g_autofree float *direct = latents_for(job.params.seed, count);
  for (int first_image = 0; first_image < count; first_image += b) {
    DdimParams params = job.params;
    params.seed = job.params.seed + (uint64_t)first_image;
    g_assert_true(ddim_sample(model, &params, direct + first_image * per_image(),
                              batch_of(MIN(b, count - first_image)), &error));
    g_assert_no_error(error);
  }
  g_assert_true(same_bits(split.images, direct, count));
  /* One batch of all: the same up to the network's rounding (see above). */
  g_assert_cmpfloat(max_difference(split.images, whole.images, count), <, 1e-4);
}

/* The model's own limit below one image: refused before anything runs. */
static void test_memory_refusal(void) {
  g_autofree float *images = images_for(1000, 2);
  g_autofree float *before = copy_of(images, 2);
  DdimJob job = job_for(DDIM_WORKFLOW_RECONSTRUCT, 2);
  job.inputs = images;
  job.input_count = 2;
  Reports reports = {0};
  job.progress = record;
  job.progress_data = &reports;

  ddim_model_set_memory_limit(model, 4096);
  g_autoptr(GError) error = NULL;
  DdimJobEstimate estimate;
  g_assert_true(ddim_job_estimate(model, &job, &estimate, &error));
  g_assert_no_error(error);
  g_assert_false(estimate.fits);
  g_assert_cmpint(estimate.batch_size, ==, 1);
  g_assert_cmpuint(estimate.memory_limit, ==, 4096);

  g_assert_false(ddim_job_check(model, &job, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY);
  g_clear_error(&error);

  DdimJobResult result;
  memset(&result, 0x5a, sizeof result); /* run must empty it */
  g_assert_false(ddim_job_run(model, &job, &result, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY);
  g_clear_error(&error);
  g_assert_null(result.images);
  g_assert_null(result.latents);
  g_assert_cmpint(result.outputs, ==, 0);
  g_assert_cmpint(reports.calls, ==, 0);
  g_assert_true(same_bits(images, before, 2));

  /* Under a job budget below one image, batches shrink to one image. */
  ddim_model_set_memory_limit(model, 0);
  job.memory_limit = 4096;
  g_assert_true(ddim_job_estimate(model, &job, &estimate, &error));
  g_assert_no_error(error);
  g_assert_cmpint(estimate.batch_size, ==, 1);
  g_assert_cmpuint(estimate.memory_limit, ==, 4096);
  /* … and the job's limit is as hard as the model's: the run is refused. */
  g_assert_false(estimate.fits);
  g_assert_false(ddim_job_check(model, &job, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY);
  g_assert_nonnull(strstr(error->message, "job's"));
  g_clear_error(&error);
  g_assert_false(ddim_job_run(model, &job, &result, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY);
  g_assert_cmpint(reports.calls, ==, 0);
}

static DdimJobEstimate estimate_of(const DdimJob *job);

/* A tiled job's batches are sized by the sampler's tensors of its images
 * (its network memory is a batch of tiles). */
static void test_tiled_budget(void) {
  DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 1);
  job.image.w = 40;
  job.image.h = 28;
  job.count = DDIM_JOB_MAX_BATCH;
  const DdimShape tile = {1, CHANNELS, 16, 16};
  const uint64_t per_image_bytes = 5 * sizeof(float) * (uint64_t)CHANNELS * 40 * 28;
  /* One tile's network memory and the sampler state of 9 images. */
  const int expected = 9;
  const uint64_t limit = ddim_model_memory_needed(model, tile) + expected * per_image_bytes;
  g_assert_cmpint(expected, <, job.count);
  job.memory_limit = limit;
  DdimJobEstimate e = estimate_of(&job);
  g_assert_cmpint(e.batch_size, ==, expected);
  g_assert_true(e.fits);
  g_assert_cmpint(e.evaluations, ==, (job.count + expected - 1) / expected);
}

/* image.n is ignored: a job whose image says 5 runs one image per input. */
static void test_image_n_ignored(void) {
  g_autofree float *images = images_for(77, 2);
  DdimJob job = job_for(DDIM_WORKFLOW_ENCODE, 2);
  job.inputs = images;
  job.input_count = 2;
  g_auto(DdimJobResult) expected = {0};
  run_ok(&job, &expected, 2);
  job.image.n = 5;
  g_auto(DdimJobResult) result = {0};
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_job_run(model, &job, &result, &error));
  g_assert_no_error(error);
  g_assert_cmpint(result.outputs, ==, 2);
  g_assert_cmpint(result.shape.n, ==, 1);
  g_assert_true(same_bits(result.latents, expected.latents, 2));
}

/* Inputs a network cannot take (huge, infinite, NaN: float32 sums would
 * overflow into NaN images) are refused before the run, naming the input. */
static void test_input_values(void) {
  const float bad[] = {3e38f, -2e4f, INFINITY, NAN};
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autofree float *latents = latents_for(5, 2);
    latents[per_image() + 7] = bad[i];
    DdimJob job = job_for(DDIM_WORKFLOW_DECODE, 2);
    job.inputs = latents;
    job.input_count = 2;
    Reports reports = {0};
    job.progress = record;
    job.progress_data = &reports;
    g_auto(DdimJobResult) result = {0};
    g_autoptr(GError) error = NULL;
    g_assert_false(ddim_job_run(model, &job, &result, &error));
    g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull(strstr(error->message, "latent 2"));
    g_assert_null(result.images);
    g_assert_cmpint(reports.calls, ==, 0);
  }
  /* The kept image of a masked run too. */
  g_autofree float *known = images_for(6, 1);
  known[3] = 1e30f;
  g_autofree float *mask = g_new0(float, SIZE *SIZE);
  DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 2);
  job.params.mask = mask;
  job.params.known = known;
  job.params.known_count = 1;
  g_autoptr(GError) error = NULL;
  g_assert_false(ddim_job_check(model, &job, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(error->message, "kept image"));
}

/* An evaluation whose output is not finite fails, naming the image and the
 * timestep (here inputs far outside model space, which the job API refuses
 * up front, given to the network directly). */
static void test_eps_not_finite(void) {
  g_autofree float *x = latents_for(8, 2);
  for (size_t i = 0; i < per_image(); i++) x[per_image() + i] = 3e38f;
  g_autofree float *eps = g_new(float, ddim_shape_elements(batch_of(2)));
  const float timesteps[2] = {500.0f, 500.0f};
  g_autoptr(GError) error = NULL;
  g_assert_false(ddim_model_eps(model, x, batch_of(2), timesteps, eps, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_FORMAT);
  g_assert_nonnull(strstr(error->message, "image 2 at timestep 500 is not finite"));
}

/* A job whose evaluations overflow the progress count is refused, not
 * wrapped. */
static void test_too_many_evaluations(void) {
  DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 1000);
  job.count = G_MAXINT;
  DdimJobEstimate e;
  g_autoptr(GError) error = NULL;
  g_assert_false(ddim_job_estimate(model, &job, &e, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(error->message, "too many"));
}

/* ---- cancellation ------------------------------------------------------- */

static void test_cancel_progress(void) {
  const int count = DDIM_JOB_MAX_BATCH + 6;
  DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 3);
  job.count = count;
  job.keep_latents = TRUE;
  Reports reports = {0};
  reports.cancel_at_done = 5; /* the second step of the second batch */
  job.progress = record;
  job.progress_data = &reports;
  DdimJobResult result = {0};
  g_autoptr(GError) error = NULL;
  g_assert_false(ddim_job_run(model, &job, &result, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_CANCELLED);
  g_assert_true(reports.cancelled);
  g_assert_cmpint(reports.calls, ==, 5);
  g_assert_cmpint(reports.calls_after_cancel, ==, 0);
  g_assert_cmpint(reports.batch_first[4], ==, DDIM_JOB_MAX_BATCH);
  g_assert_cmpint(reports.total[4], ==, 6);
  g_assert_null(result.images);
  g_assert_null(result.latents);
  g_assert_cmpint(result.outputs, ==, 0);
}

typedef struct {
  int calls;
  int abort_after; /* TRUE from this call on */
} Abort;

/* Asked from the threads that run chunks of a batch: atomic. */
static gboolean abort_after(gpointer data) {
  Abort *a = data;
  return g_atomic_int_add(&a->calls, 1) + 1 >= a->abort_after;
}

static void test_cancel_abort(void) {
  g_autofree float *images = images_for(1100, 2);
  g_autofree float *before = copy_of(images, 2);
  DdimJob job = job_for(DDIM_WORKFLOW_VARY, 3);
  job.params.strength = 1.0;
  job.inputs = images;
  job.input_count = 2;
  Abort abort = {0, 5}; /* inside the first evaluation: a few checks per U-Net */
  job.abort = abort_after;
  job.abort_data = &abort;
  Reports reports = {0};
  job.progress = record;
  job.progress_data = &reports;
  DdimJobResult result = {0};
  g_autoptr(GError) error = NULL;
  g_assert_false(ddim_job_run(model, &job, &result, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_CANCELLED);
  g_clear_error(&error);
  /* Stopped within the first evaluation (each of two threads may ask once
   * more before it sees the stop). */
  const int asked = g_atomic_int_get(&abort.calls);
  g_assert_cmpint(asked, >=, 5);
  g_assert_cmpint(asked, <, 10);
  g_assert_cmpint(reports.calls, ==, 0);
  g_assert_null(result.images);
  g_assert_null(result.latents);
  g_assert_true(same_bits(images, before, 2));

  /* The hook is gone after the run: the model evaluates again. */
  g_autofree float *eps = g_new(float, per_image());
  const float timestep = 500.0f;
  g_assert_true(ddim_model_eps(model, images, one, &timestep, eps, &error));
  g_assert_no_error(error);
  g_assert_cmpint(g_atomic_int_get(&abort.calls), ==, asked);
}

/* ---- invalid jobs ------------------------------------------------------- */

static void expect_invalid(const DdimJob *job, const char *what) {
  g_test_message("invalid: %s", what);
  g_autoptr(GError) error = NULL;
  DdimJobEstimate estimate;
  g_assert_false(ddim_job_estimate(model, job, &estimate, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  g_assert_false(ddim_job_check(model, job, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  DdimJobResult result = {0};
  g_assert_false(ddim_job_run(model, job, &result, &error));
  g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
  g_assert_null(result.images);
  g_assert_null(result.latents);
}

static void test_invalid(void) {
  g_autofree float *images = images_for(1200, 3);
  float mask[SIZE * SIZE];
  for (int i = 0; i < SIZE * SIZE; i++) mask[i] = 1.0f;
  /* A masked generate (or decode) needs the image kept outside the mask. */
  {
    DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 2);
    job.count = 3;
    job.params.mask = mask;
    expect_invalid(&job, "masked generate without a kept image");
  }
  const DdimWorkflow need_inputs[] = {DDIM_WORKFLOW_ENCODE, DDIM_WORKFLOW_DECODE,
                                      DDIM_WORKFLOW_RECONSTRUCT, DDIM_WORKFLOW_VARY,
                                      DDIM_WORKFLOW_INTERPOLATE};
  for (guint i = 0; i < G_N_ELEMENTS(need_inputs); i++) {
    DdimJob job = job_for(need_inputs[i], 2);
    job.count = 2;
    expect_invalid(&job, ddim_workflow_name(need_inputs[i]));
    job.inputs = images; /* a pointer but no count */
    job.input_count = 0;
    expect_invalid(&job, "input_count 0");
  }

  /* Inputs announced but not given: an estimate needs only the count, a
   * run refuses. */
  for (guint i = 0; i < G_N_ELEMENTS(need_inputs); i++) {
    DdimJob job = job_for(need_inputs[i], 2);
    job.input_count = 2;
    job.count = 2;
    DdimJobEstimate estimate;
    g_autoptr(GError) error = NULL;
    g_assert_true(ddim_job_estimate(model, &job, &estimate, &error));
    g_assert_no_error(error);
    g_assert_cmpint(estimate.outputs, ==, 2);
    DdimJobResult result = {0};
    g_assert_false(ddim_job_run(model, &job, &result, &error));
    g_assert_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT);
    g_assert_null(result.images);
    g_assert_null(result.latents);
  }

  DdimJob job = job_for(DDIM_WORKFLOW_INTERPOLATE, 2);
  job.inputs = images;
  job.input_count = 1;
  job.count = 3;
  expect_invalid(&job, "interpolate with one input");
  job.input_count = 3;
  expect_invalid(&job, "interpolate with three inputs");
  job.input_count = 2;
  job.count = 1;
  expect_invalid(&job, "interpolate, one frame with ends");
  job.count = 0;
  job.frame_spacing = DDIM_FRAMES_BETWEEN;
  expect_invalid(&job, "interpolate, no frame between");
  /* One frame between the ends is a job. */
  job.count = 1;
  DdimJobEstimate estimate;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_job_estimate(model, &job, &estimate, &error));
  g_assert_no_error(error);
  g_assert_cmpint(estimate.outputs, ==, 1);

  const DdimWorkflow no_mask[] = {DDIM_WORKFLOW_RECONSTRUCT, DDIM_WORKFLOW_ENCODE,
                                  DDIM_WORKFLOW_INTERPOLATE};
  for (guint i = 0; i < G_N_ELEMENTS(no_mask); i++) {
    job = job_for(no_mask[i], 2);
    job.inputs = images;
    job.input_count = 2;
    job.count = 2;
    job.params.mask = mask;
    expect_invalid(&job, "a mask");
  }

  job = job_for(DDIM_WORKFLOW_GENERATE, 2);
  job.image.w = job.image.h = 10; /* not a multiple of 4 */
  expect_invalid(&job, "10x10");
  job = job_for(DDIM_WORKFLOW_GENERATE, 2);
  job.count = 0;
  expect_invalid(&job, "generate count 0");
  job.count = -3;
  expect_invalid(&job, "generate count -3");
  job = job_for(DDIM_WORKFLOW_VARY, 2);
  job.inputs = images;
  job.input_count = 1;
  job.count = 0;
  expect_invalid(&job, "vary one input, count 0");
  job = job_for(DDIM_WORKFLOW_GENERATE, 0);
  expect_invalid(&job, "steps 0");
  job = job_for(DDIM_WORKFLOW_GENERATE, 2);
  job.image.c = 1;
  expect_invalid(&job, "one channel on a 3-channel model");
  job = job_for(DDIM_WORKFLOW_GENERATE, 2);
  job.params.mask = mask;
  job.params.known = images;
  job.params.known_count = 2;
  job.count = 3;
  expect_invalid(&job, "two known images for three outputs");
  job = job_for(DDIM_WORKFLOW_GENERATE, 2);
  job.workflow = (DdimWorkflow)42;
  expect_invalid(&job, "unknown workflow");
}

/* ---- keep_latents ------------------------------------------------------- */

static void test_keep_latents(void) {
  DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 1);
  job.count = 3;
  job.params.seed = 1300;
  g_auto(DdimJobResult) without = {0};
  run_ok(&job, &without, 3);
  g_assert_null(without.latents);

  job.keep_latents = TRUE;
  g_auto(DdimJobResult) with = {0};
  run_ok(&job, &with, 3);
  g_autofree float *noise = latents_for(1300, 3);
  g_assert_nonnull(with.latents);
  g_assert_true(same_bits(with.latents, noise, 3));
  g_assert_true(same_bits(with.images, without.images, 3));
  g_assert_cmpuint(with.latent_params.seed, ==, 1300);
  g_assert_cmpint(with.latent_params.steps, ==, 1);

  /* Encode returns its latents whatever keep_latents says. */
  g_autofree float *images = images_for(1301, 1);
  DdimJob encode = job_for(DDIM_WORKFLOW_ENCODE, 1);
  encode.inputs = images;
  encode.input_count = 1;
  encode.keep_latents = FALSE;
  g_auto(DdimJobResult) encoded = {0};
  run_ok(&encode, &encoded, 1);
  g_assert_nonnull(encoded.latents);
  g_assert_null(encoded.images);

  /* Decode with keep_latents returns its input latents. */
  DdimJob decode = job_for(DDIM_WORKFLOW_DECODE, 1);
  decode.inputs = encoded.latents;
  decode.input_count = 1;
  decode.keep_latents = TRUE;
  g_auto(DdimJobResult) decoded = {0};
  run_ok(&decode, &decoded, 1);
  g_assert_true(same_bits(decoded.latents, encoded.latents, 1));
}

/* ---- estimate ----------------------------------------------------------- */

static DdimJobEstimate estimate_of(const DdimJob *job) {
  DdimJobEstimate estimate;
  g_autoptr(GError) error = NULL;
  g_assert_true(ddim_job_estimate(model, job, &estimate, &error));
  g_assert_no_error(error);
  return estimate;
}

static void test_estimate(void) {
  g_autofree float *images = images_for(1400, 3);
  const double unit = ddim_model_flops(model, one);
  g_assert_cmpfloat(unit, >, 0.0);
  const DdimModelInfo *info = ddim_model_get_info(model);

  /* Generate, 70 images in two batches of 2 steps. */
  DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 2);
  job.count = DDIM_JOB_MAX_BATCH + 6;
  DdimJobEstimate e = estimate_of(&job);
  g_assert_cmpint(e.outputs, ==, DDIM_JOB_MAX_BATCH + 6);
  g_assert_cmpint(e.batch_size, ==, DDIM_JOB_MAX_BATCH);
  g_assert_cmpint(e.evaluations, ==, 2 * 2);
  g_assert_cmpfloat(e.image_evaluations, ==, 2.0 * (DDIM_JOB_MAX_BATCH + 6));
  g_assert_cmpfloat(e.flops, ==, unit * e.image_evaluations);
  g_assert_cmpint(e.tiles, ==, 0);
  g_assert_cmpuint(e.weight_bytes, ==, info->weight_bytes);
  g_assert_cmpuint(e.weight_bytes + e.activation_bytes, ==,
                   ddim_model_memory_needed(model, batch_of(DDIM_JOB_MAX_BATCH)));
  g_assert_cmpuint(e.tensor_bytes, >=, bytes_of(DDIM_JOB_MAX_BATCH + 6));
  g_assert_true(e.fits);

  /* Reconstruct: two phases of 3 steps over one batch of 3. */
  job = job_for(DDIM_WORKFLOW_RECONSTRUCT, 3);
  job.inputs = images;
  job.input_count = 3;
  e = estimate_of(&job);
  g_assert_cmpint(e.outputs, ==, 3);
  g_assert_cmpint(e.evaluations, ==, 2 * 3);
  g_assert_cmpfloat(e.image_evaluations, ==, 2 * 3 * 3.0);
  g_assert_cmpfloat(e.flops, ==, unit * e.image_evaluations);

  /* ... and one image per batch under a budget of one: 3 batches a phase. */
  g_assert_cmpuint(ddim_model_memory_needed(model, batch_of(1)), <,
                   ddim_model_memory_needed(model, batch_of(2)));
  job.memory_limit = ddim_model_memory_needed(model, batch_of(1));
  e = estimate_of(&job);
  g_assert_cmpint(e.batch_size, ==, 1);
  g_assert_cmpint(e.evaluations, ==, 2 * 3 * 3);
  g_assert_cmpfloat(e.image_evaluations, ==, 2 * 3 * 3.0);

  /* Interpolate: the two ends encoded, then 5 frames decoded. */
  job = job_for(DDIM_WORKFLOW_INTERPOLATE, 2);
  job.inputs = images;
  job.input_count = 2;
  job.count = 5;
  e = estimate_of(&job);
  g_assert_cmpint(e.outputs, ==, 5);
  g_assert_cmpint(e.evaluations, ==, 2 + 2);
  g_assert_cmpfloat(e.image_evaluations, ==, 2 * 2 + 2 * 5.0);
  g_assert_cmpfloat(e.flops, ==, unit * e.image_evaluations);

  /* Vary at strength 0.5: the partial step count. */
  job = job_for(DDIM_WORKFLOW_VARY, 10);
  job.params.strength = 0.5;
  job.inputs = images;
  job.input_count = 1;
  job.count = 4;
  const int steps = ddim_params_step_count(model, &job.params, NULL);
  g_assert_cmpint(steps, >, 0);
  g_assert_cmpint(steps, <, 10);
  e = estimate_of(&job);
  g_assert_cmpint(e.evaluations, ==, steps);
  g_assert_cmpfloat(e.image_evaluations, ==, steps * 4.0);

  /* Encode counts as many latents as inputs. */
  job = job_for(DDIM_WORKFLOW_ENCODE, 3);
  job.inputs = images;
  job.input_count = 3;
  e = estimate_of(&job);
  g_assert_cmpint(e.outputs, ==, 3);
  g_assert_cmpint(e.evaluations, ==, 3);
}

/* An image larger than the model is tiled: tiles per image and the flops
 * of one tile.  Under a model limit of one tile, every step reports after
 * each tile; only the report that ends a step counts in done. */
static void test_estimate_tiled(void) {
  DdimJob job = job_for(DDIM_WORKFLOW_GENERATE, 2);
  job.image.w = 40;
  job.image.h = 28;
  job.count = 2;
  DdimJobEstimate e = estimate_of(&job);
  g_assert_cmpint(e.tiles, >, 1);
  g_assert_cmpint(e.tile_width, ==, 16);
  g_assert_cmpint(e.tile_height, ==, 16);
  int tiles = 0;
  g_assert_true(ddim_params_tiling(model, &job.params, job.image, NULL, NULL, &tiles));
  g_assert_cmpint(e.tiles, ==, tiles);
  g_assert_cmpfloat(e.image_evaluations, ==, 2.0 * 2 * tiles);
  const DdimShape tile = {1, CHANNELS, 16, 16};
  g_assert_cmpfloat(e.flops, ==, ddim_model_flops(model, tile) * e.image_evaluations);
  g_assert_cmpint(e.evaluations, ==, 2);

  DdimShape two_tiles = tile;
  two_tiles.n = 2;
  g_assert_cmpuint(ddim_model_memory_needed(model, tile), <,
                   ddim_model_memory_needed(model, two_tiles));
  /* A limit of one tile's network memory plus the job's own images and
   * sampler state (5 tensors of each image): the tiles run one at a time. */
  const uint64_t sampler_state = 5 * sizeof(float) * ddim_shape_elements(job.image) * 2;
  g_assert_cmpuint(ddim_model_memory_needed(model, tile) + sampler_state, <,
                   ddim_model_memory_needed(model, two_tiles));
  ddim_model_set_memory_limit(model, ddim_model_memory_needed(model, tile) + sampler_state);
  Reports reports = {0};
  job.progress = record;
  job.progress_data = &reports;
  g_auto(DdimJobResult) result = {0};
  g_autoptr(GError) error = NULL;
  gboolean ran = ddim_job_run(model, &job, &result, &error);
  DdimShape shape = job.image;
  shape.n = 2;
  g_autofree float *direct = g_new(float, ddim_shape_elements(shape));
  ddim_noise(job.params.seed, DDIM_STREAM_INITIAL, shape, direct);
  gboolean ran_direct = ddim_sample(model, &job.params, direct, shape, NULL);
  ddim_model_set_memory_limit(model, 0);
  g_assert_no_error(error);
  g_assert_true(ran);
  g_assert_true(ran_direct);
  g_assert_cmpint(result.shape.w, ==, 40);
  g_assert_cmpint(result.shape.h, ==, 28);

  /* Two steps of 2 × tiles tiles, one at a time. */
  g_assert_cmpint(reports.calls, ==, 2 * 2 * tiles);
  int ends = 0;
  for (int i = 0; i < reports.calls; i++) {
    g_assert_cmpint(reports.tiles_total[i], ==, 2 * tiles);
    if (reports.tiles_done[i] == reports.tiles_total[i]) ends++;
    g_assert_cmpint(reports.done[i], ==, ends);
    g_assert_cmpint(reports.total[i], ==, e.evaluations);
  }
  g_assert_cmpint(ends, ==, 2);
  g_assert_cmpint(reports.done[reports.calls - 1], ==, e.evaluations);

  /* The same run directly. */
  g_assert_cmpmem(result.images, sizeof(float) * ddim_shape_elements(shape), direct,
                  sizeof(float) * ddim_shape_elements(shape));
}

/* ---- sizes and frames --------------------------------------------------- */

static void check_fit(int width, int height, gboolean scale, gboolean own, int w, int h) {
  DdimJob job;
  ddim_job_init(&job, DDIM_WORKFLOW_GENERATE, model);
  job.image = (DdimShape){1, 0, 0, 0};
  g_assert_cmpint(ddim_job_fit_size(&job, model, width, height, scale), ==, own);
  g_assert_cmpint(job.image.n, ==, 1);
  g_assert_cmpint(job.image.c, ==, CHANNELS);
  g_assert_cmpint(job.image.w, ==, w);
  g_assert_cmpint(job.image.h, ==, h);
}

static void test_fit_size(void) {
  check_fit(8, 8, FALSE, TRUE, 8, 8);
  check_fit(16, 8, FALSE, TRUE, 16, 8);
  check_fit(40, 28, FALSE, TRUE, 40, 28); /* tiled */
  check_fit(8, 8, TRUE, FALSE, 16, 16);   /* scaled to the native size */
  check_fit(40, 28, TRUE, FALSE, 16, 16);
  check_fit(16, 16, TRUE, TRUE, 16, 16);   /* scaling to its own size */
  check_fit(10, 10, FALSE, FALSE, 16, 16); /* cannot run: the native size */
  check_fit(6, 16, FALSE, FALSE, 16, 16);
}

static void test_frame_alpha(void) {
  g_assert_cmpfloat(ddim_frame_alpha(DDIM_FRAMES_WITH_ENDS, 0, 4), ==, 0.0);
  g_assert_cmpfloat(ddim_frame_alpha(DDIM_FRAMES_WITH_ENDS, 1, 4), ==, 1.0 / 3.0);
  g_assert_cmpfloat(ddim_frame_alpha(DDIM_FRAMES_WITH_ENDS, 2, 4), ==, 2.0 / 3.0);
  g_assert_cmpfloat(ddim_frame_alpha(DDIM_FRAMES_WITH_ENDS, 3, 4), ==, 1.0);
  g_assert_cmpfloat(ddim_frame_alpha(DDIM_FRAMES_WITH_ENDS, 0, 2), ==, 0.0);
  g_assert_cmpfloat(ddim_frame_alpha(DDIM_FRAMES_WITH_ENDS, 1, 2), ==, 1.0);
  g_assert_cmpfloat(ddim_frame_alpha(DDIM_FRAMES_WITH_ENDS, 0, 1), ==, 0.0);
  g_assert_cmpfloat(ddim_frame_alpha(DDIM_FRAMES_BETWEEN, 0, 1), ==, 0.5);
  g_assert_cmpfloat(ddim_frame_alpha(DDIM_FRAMES_BETWEEN, 0, 3), ==, 0.25);
  g_assert_cmpfloat(ddim_frame_alpha(DDIM_FRAMES_BETWEEN, 1, 3), ==, 0.5);
  g_assert_cmpfloat(ddim_frame_alpha(DDIM_FRAMES_BETWEEN, 2, 3), ==, 0.75);
}

static void test_workflow_names(void) {
  g_assert_cmpstr(ddim_workflow_name(DDIM_WORKFLOW_GENERATE), ==, "generate");
  g_assert_cmpstr(ddim_workflow_name(DDIM_WORKFLOW_ENCODE), ==, "encode");
  g_assert_cmpstr(ddim_workflow_name(DDIM_WORKFLOW_DECODE), ==, "decode");
  g_assert_cmpstr(ddim_workflow_name(DDIM_WORKFLOW_RECONSTRUCT), ==, "reconstruct");
  g_assert_cmpstr(ddim_workflow_name(DDIM_WORKFLOW_VARY), ==, "vary");
  g_assert_cmpstr(ddim_workflow_name(DDIM_WORKFLOW_INTERPOLATE), ==, "interpolate");
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_autoptr(GError) error = NULL;
  model = ddim_model_load(DDIM_FIXTURES_DIR "/google_f32", &error);
  g_assert_no_error(error);
  g_test_add_func("/job/generate/noise", test_generate_noise);
  g_test_add_func("/job/generate/latents", test_generate_latents);
  g_test_add_func("/job/encode", test_encode);
  g_test_add_func("/job/decode", test_decode);
  g_test_add_func("/job/reconstruct", test_reconstruct);
  g_test_add_func("/job/vary/one", test_vary_one);
  g_test_add_func("/job/vary/one-masked", test_vary_one_masked);
  g_test_add_func("/job/vary/several", test_vary_several);
  g_test_add_func("/job/generate/masked-inversion", test_generate_masked_inversion);
  g_test_add_func("/job/interpolate/with-ends", test_interpolate_with_ends);
  g_test_add_func("/job/interpolate/between", test_interpolate_between);
  g_test_add_func("/job/gray-pipeline", test_gray_pipeline);
  g_test_add_func("/job/batch/over-limit", test_batch_over_limit);
  g_test_add_func("/job/batch/memory-budget", test_memory_budget);
  g_test_add_func("/job/memory-refusal", test_memory_refusal);
  g_test_add_func("/job/batch/tiled-budget", test_tiled_budget);
  g_test_add_func("/job/image-n-ignored", test_image_n_ignored);
  g_test_add_func("/job/too-many-evaluations", test_too_many_evaluations);
  g_test_add_func("/job/input-values", test_input_values);
  g_test_add_func("/job/eps-not-finite", test_eps_not_finite);
  g_test_add_func("/job/cancel/progress", test_cancel_progress);
  g_test_add_func("/job/cancel/abort", test_cancel_abort);
  g_test_add_func("/job/invalid", test_invalid);
  g_test_add_func("/job/keep-latents", test_keep_latents);
  g_test_add_func("/job/estimate", test_estimate);
  g_test_add_func("/job/estimate-tiled", test_estimate_tiled);
  g_test_add_func("/job/fit-size", test_fit_size);
  g_test_add_func("/job/frame-alpha", test_frame_alpha);
  g_test_add_func("/job/workflow-names", test_workflow_names);
  int status = g_test_run();
  ddim_model_free(model);
  return status;
}
