/* job.c — one procedure's computation on plain memory (see job.h).
 *
 * The conventions are the `ddim` command's: image k of a batch uses seed + k
 * (so a run of K images equals K runs of one), the inversion never clips,
 * and batches are as large as about half the RAM allows. */
#include "job.h"

#include <glib/gi18n.h>
#include <string.h>
#include <unistd.h>

/* Larger batches gain little on a CPU. */
#define MAX_BATCH 64

static size_t image_values(const PluginJob *job) {
  return ddim_shape_elements(job->image);
}

void plugin_job_init(PluginJob *job, PluginKind kind, DdimModel *model) {
  memset(job, 0, sizeof *job);
  job->kind = kind;
  job->model = model;
  job->count = 1;
  ddim_params_init(&job->params);
  const DdimModelInfo *info = ddim_model_get_info(model);
  job->image = (DdimShape){1, info->in_channels, info->sample_height, info->sample_width};
}

void plugin_job_set_size(PluginJob *job, int width, int height, gboolean scale) {
  const DdimModelInfo *info = ddim_model_get_info(job->model);
  DdimShape native = {1, info->in_channels, height, width};
  if (!scale && ddim_params_check_shape(job->model, &job->params, native, NULL))
    job->image = native;
  else
    job->image = (DdimShape){1, info->in_channels, info->sample_height, info->sample_width};
}

void plugin_job_clear(PluginJob *job) {
  g_clear_pointer(&job->input, g_free);
  g_clear_pointer(&job->output, g_free);
  g_clear_pointer(&job->latents, g_free);
}

static guint64 memory_budget(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? (guint64)pages * (guint64)page_size / 2 : 0;
}

/* The largest batch of `n` images that fits in the memory budget. */
static int batch_size(const PluginJob *job, int n) {
  /* A tiled run's network memory is bounded by its batch of tiles. */
  if (ddim_params_tiling(job->model, &job->params, job->image, NULL, NULL, NULL))
    return MIN(n, MAX_BATCH);
  guint64 budget = memory_budget();
  int low = 1, high = MIN(n, MAX_BATCH);
  while (low < high) {
    int middle = low + (high - low + 1) / 2;
    DdimShape part = job->image;
    part.n = middle;
    if (budget == 0 || ddim_model_memory_needed(job->model, part) <= budget)
      low = middle;
    else
      high = middle - 1;
  }
  return MAX(low, 1);
}

static int batches(const PluginJob *job, int n) {
  int size = batch_size(job, n);
  return (n + size - 1) / size;
}

/* Evaluations of one phase over n images. */
static int phase_evaluations(const PluginJob *job, const DdimParams *params, int n,
                             GError **error) {
  int steps = ddim_params_step_count(job->model, params, error);
  return steps > 0 ? steps * batches(job, n) : -1;
}

/* A masked run with the inversion trajectory first encodes the known image
 * (once per batch). */
static gboolean encodes_known(const PluginJob *job) {
  return job->mask && job->params.mask_keep == DDIM_MASK_KEEP_INVERSION;
}

int plugin_job_evaluations(const PluginJob *job, GError **error) {
  DdimParams encode = ddim_params_for_encode(&job->params);
  int a, b;
  switch (job->kind) {
  case PLUGIN_GENERATE:
  case PLUGIN_VARY:
    a = phase_evaluations(job, &job->params, job->count, error);
    return a > 0 && encodes_known(job) ? 2 * a : a;
  case PLUGIN_DECODE:
    return phase_evaluations(job, &job->params, 1, error);
  case PLUGIN_ENCODE:
    return phase_evaluations(job, &encode, 1, error);
  case PLUGIN_RECONSTRUCT:
    a = phase_evaluations(job, &encode, 1, error);
    b = a < 0 ? -1 : phase_evaluations(job, &job->params, 1, error);
    return a < 0 || b < 0 ? -1 : a + b;
  case PLUGIN_INTERPOLATE:
    a = phase_evaluations(job, &encode, 2, error);
    b = a < 0 ? -1 : phase_evaluations(job, &job->params, job->count, error);
    return a < 0 || b < 0 ? -1 : a + b;
  }
  return -1;
}

double plugin_job_image_evaluations(const PluginJob *job, GError **error) {
  DdimParams encode = ddim_params_for_encode(&job->params);
  int decode_steps = ddim_params_step_count(job->model, &job->params, error);
  if (decode_steps <= 0) return -1;
  int encode_steps = ddim_params_step_count(job->model, &encode, error);
  if (encode_steps <= 0) return -1;
  /* A tiled image costs one evaluation per tile. */
  int tiles = 1;
  if (ddim_params_tiling(job->model, &job->params, job->image, NULL, NULL, &tiles)) {
    decode_steps *= tiles;
    encode_steps *= tiles;
  }
  switch (job->kind) {
  case PLUGIN_GENERATE:
  case PLUGIN_VARY:
    return (double)decode_steps * job->count + (encodes_known(job) ? decode_steps : 0);
  case PLUGIN_DECODE:
    return decode_steps;
  case PLUGIN_ENCODE:
    return encode_steps;
  case PLUGIN_RECONSTRUCT:
    return (double)encode_steps + decode_steps;
  case PLUGIN_INTERPOLATE:
    return 2.0 * encode_steps + (double)decode_steps * job->count;
  }
  return -1;
}

static gboolean on_evaluation(const DdimProgress *progress, gpointer data) {
  PluginJob *job = data;
  /* Inside a tiled step: only a chance to cancel. */
  if (progress->tiles_done < progress->tiles_total)
    return job->cancellable == NULL || !g_cancellable_is_cancelled(job->cancellable);
  job->done++;
  PluginJobStep step = {
      .done = MIN(job->done, job->total),
      .total = job->total,
      .batch = progress,
      .first_output = progress->phase == DDIM_PHASE_DECODE ? job->batch_first : -1,
  };
  if (job->progress) job->progress(&step, job->progress_data);
  return job->cancellable == NULL || !g_cancellable_is_cancelled(job->cancellable);
}

typedef gboolean (*CoreRun)(DdimModel *, const DdimParams *, float *, DdimShape, GError **);

/* Runs `run` over n images of x in batches; image k keeps seed + k. */
static gboolean run_batched(PluginJob *job, CoreRun run, const DdimParams *params, float *x, int n,
                            GError **error) {
  int size = batch_size(job, n);
  size_t values = image_values(job);
  for (int first = 0; first < n; first += size) {
    DdimShape part = job->image;
    part.n = MIN(size, n - first);
    DdimParams part_params = *params;
    part_params.seed = params->seed + (guint64)first;
    part_params.progress = on_evaluation;
    part_params.progress_data = job;
    job->batch_first = first;
    if (!run(job->model, &part_params, x + (size_t)first * values, part, error)) return FALSE;
  }
  return TRUE;
}

static float *new_images(const PluginJob *job, int n, GError **error) {
  size_t count = image_values(job) * (size_t)n;
  float *data = count && count <= G_MAXSIZE / sizeof(float) ? g_try_new(float, count) : NULL;
  if (data == NULL)
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                _("%d images of %d×%d need more memory than this machine has"), n, job->image.w,
                job->image.h);
  return data;
}

static float *copy_images(const PluginJob *job, const float *from, int n, GError **error) {
  float *data = new_images(job, n, error);
  if (data) memcpy(data, from, image_values(job) * (size_t)n * sizeof(float));
  return data;
}

static gboolean run_generate(PluginJob *job, GError **error) {
  job->outputs = job->count;
  DdimShape all = job->image;
  all.n = job->count;
  if (!(job->output = new_images(job, job->count, error))) return FALSE;
  ddim_noise(job->params.seed, DDIM_STREAM_INITIAL, all, job->output);
  if (!(job->latents = copy_images(job, job->output, job->count, error))) return FALSE;
  job->latent_params = job->params;
  /* With a mask: inpainting, the input kept outside it (shared by the batch). */
  DdimParams params = job->params;
  if (job->mask && job->input) {
    params.mask = job->mask;
    params.known = job->input;
    params.known_count = 1;
  }
  return run_batched(job, ddim_sample, &params, job->output, job->count, error);
}

static gboolean run_encode(PluginJob *job, GError **error) {
  DdimParams encode = ddim_params_for_encode(&job->params);
  job->outputs = 1;
  if (!(job->latents = copy_images(job, job->input, 1, error))) return FALSE;
  job->latent_params = encode;
  return run_batched(job, ddim_invert, &encode, job->latents, 1, error);
}

static gboolean run_reconstruct(PluginJob *job, GError **error) {
  if (!run_encode(job, error)) return FALSE;
  DdimParams decode = ddim_params_for_inverse_decode(&job->params);
  if (!(job->output = copy_images(job, job->latents, 1, error))) return FALSE;
  if (!run_batched(job, ddim_sample, &decode, job->output, 1, error)) return FALSE;
  /* Measured in model space, before any quantisation. */
  job->mse = ddim_mse_01(job->input, job->output, image_values(job));
  job->psnr = ddim_psnr_from_mse(job->mse);
  return TRUE;
}

static gboolean run_vary(PluginJob *job, GError **error) {
  size_t values = image_values(job);
  job->outputs = job->count;
  if (!(job->output = new_images(job, job->count, error))) return FALSE;
  for (int k = 0; k < job->count; k++)
    memcpy(job->output + (size_t)k * values, job->input, values * sizeof(float));
  /* With a mask, every variation keeps the one input outside it (its
   * trajectory is computed once per batch, not once per image). */
  DdimParams params = job->params;
  if (job->mask) {
    params.mask = job->mask;
    params.known = job->input;
    params.known_count = 1;
  }
  return run_batched(job, ddim_vary, &params, job->output, job->count, error);
}

static gboolean run_interpolate(PluginJob *job, GError **error) {
  size_t values = image_values(job);
  DdimParams encode = ddim_params_for_encode(&job->params);
  g_autofree float *ends = copy_images(job, job->input, 2, error);
  if (ends == NULL || !run_batched(job, ddim_invert, &encode, ends, 2, error)) return FALSE;
  job->outputs = job->count;
  if (!(job->latents = new_images(job, job->count, error))) return FALSE;
  /* The ends are the two layers themselves; frame k of K sits at k/(K+1). */
  for (int k = 0; k < job->count; k++)
    ddim_slerp(ends, ends + values, values, (double)(k + 1) / (job->count + 1),
               job->latents + (size_t)k * values);
  job->latent_params = encode;
  DdimParams decode = ddim_params_for_inverse_decode(&job->params);
  if (!(job->output = copy_images(job, job->latents, job->count, error))) return FALSE;
  return run_batched(job, ddim_sample, &decode, job->output, job->count, error);
}

static gboolean run_decode(PluginJob *job, GError **error) {
  job->outputs = 1;
  /* latent_params: the caller's (the stored latent's own header). */
  DdimParams decode =
      job->from_inversion ? ddim_params_for_inverse_decode(&job->params) : job->params;
  if (!(job->latents = copy_images(job, job->input, 1, error))) return FALSE;
  if (!(job->output = copy_images(job, job->input, 1, error))) return FALSE;
  return run_batched(job, ddim_sample, &decode, job->output, 1, error);
}

gboolean plugin_job_run(PluginJob *job, GError **error) {
  job->done = 0;
  job->total = plugin_job_evaluations(job, error);
  if (job->total < 0) return FALSE;
  switch (job->kind) {
  case PLUGIN_GENERATE:
    return run_generate(job, error);
  case PLUGIN_RECONSTRUCT:
    return run_reconstruct(job, error);
  case PLUGIN_VARY:
    return run_vary(job, error);
  case PLUGIN_INTERPOLATE:
    return run_interpolate(job, error);
  case PLUGIN_ENCODE:
    return run_encode(job, error);
  case PLUGIN_DECODE:
    return run_decode(job, error);
  }
  return FALSE;
}
