/* job.c — whole workflows on the sampler: validation, the memory budget,
 * batching, the order of phases and their progress (see ddim-job.h).
 *
 * A job is a list of phases, each one sampler call (ddim_sample, ddim_invert
 * or ddim_vary) over n images in batches.  Batch b of a phase holds images
 * [first, first + size) and runs with seed + first, so image k always uses
 * seed + k (the noise is counter-based: DDIM_STREAM_*), whatever the batch
 * size: one run of K draws the noise of K runs of one. */
#include "ddim-job.h"

#include "model.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

typedef enum {
  PHASE_DECODE, /* ddim_sample */
  PHASE_ENCODE, /* ddim_invert */
  PHASE_VARY,   /* ddim_vary */
} PhaseKind;

/* One sampler call over n images in batches. */
typedef struct {
  PhaseKind kind;
  DdimParams params;
  int images;
  gboolean makes_outputs; /* its images are the job's outputs (progress: first_output) */
} Phase;

/* The phases of a job, in order (at most two), with the images each runs over. */
typedef struct {
  Phase phase[2];
  int count;
  int outputs;
} Plan;

const char *ddim_workflow_name(DdimWorkflow workflow) {
  switch (workflow) {
  case DDIM_WORKFLOW_GENERATE:
    return "generate";
  case DDIM_WORKFLOW_ENCODE:
    return "encode";
  case DDIM_WORKFLOW_DECODE:
    return "decode";
  case DDIM_WORKFLOW_RECONSTRUCT:
    return "reconstruct";
  case DDIM_WORKFLOW_VARY:
    return "vary";
  case DDIM_WORKFLOW_INTERPOLATE:
    return "interpolate";
  }
  return "unknown";
}

uint64_t ddim_job_seed(const DdimJob *job, int output) {
  return job->params.seed + (uint64_t)output;
}

double ddim_frame_alpha(DdimFrameSpacing spacing, int frame, int frames) {
  if (spacing == DDIM_FRAMES_BETWEEN) return (double)(frame + 1) / (frames + 1);
  return frames > 1 ? (double)frame / (frames - 1) : 0.0;
}

void ddim_job_init(DdimJob *job, DdimWorkflow workflow, const DdimModel *model) {
  memset(job, 0, sizeof *job);
  job->workflow = workflow;
  ddim_params_init(&job->params);
  job->count = 1;
  job->frame_spacing = DDIM_FRAMES_WITH_ENDS;
  const DdimModelInfo *info = ddim_model_get_info(model);
  job->image = (DdimShape){1, info->in_channels, info->sample_height, info->sample_width};
}

gboolean ddim_job_fit_size(DdimJob *job, const DdimModel *model, int width, int height,
                           gboolean scale) {
  const DdimModelInfo *info = ddim_model_get_info(model);
  DdimShape own = {1, info->in_channels, height, width};
  if (!scale && ddim_params_check_shape(model, &job->params, own, NULL)) {
    job->image = own;
    return TRUE;
  }
  job->image = (DdimShape){1, info->in_channels, info->sample_height, info->sample_width};
  return width == info->sample_width && height == info->sample_height;
}

void ddim_job_result_clear(DdimJobResult *result) {
  g_clear_pointer(&result->images, g_free);
  g_clear_pointer(&result->latents, g_free);
  memset(result, 0, sizeof *result);
}

/* ---- Validation and the plan -------------------------------------------- */

static gboolean invalid(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);
static gboolean invalid(GError **error, const char *format, ...) {
  va_list args;
  va_start(args, format);
  g_autofree char *message = g_strdup_vprintf(format, args);
  va_end(args);
  g_set_error_literal(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT, message);
  return FALSE;
}

static gboolean need_inputs(const DdimJob *job, int minimum, int exactly, GError **error) {
  const char *name = ddim_workflow_name(job->workflow);
  if (job->input_count < 1)
    return invalid(error, "%s needs input %s", name,
                   job->workflow == DDIM_WORKFLOW_DECODE ? "latents" : "images");
  if (exactly > 0 && job->input_count != exactly)
    return invalid(error, "%s needs %d inputs, not %d", name, exactly, job->input_count);
  if (job->input_count < minimum)
    return invalid(error, "%s needs at least %d inputs, not %d", name, minimum, job->input_count);
  return TRUE;
}

static gboolean need_count(const DdimJob *job, int minimum, GError **error) {
  if (job->count < minimum)
    return invalid(error, "%s needs a count of at least %d, not %d",
                   ddim_workflow_name(job->workflow), minimum, job->count);
  return TRUE;
}

/* Checks the job and lays out its phases.  An estimate needs only the
 * count of inputs; a run needs their data (with_data). */
static gboolean plan_job(const DdimModel *model, const DdimJob *job, gboolean with_data, Plan *plan,
                         GError **error) {
  memset(plan, 0, sizeof *plan);
  if (with_data && job->input_count > 0 && job->inputs == NULL)
    return invalid(error, "%s: %d inputs were announced but none given",
                   ddim_workflow_name(job->workflow), job->input_count);
  const DdimParams *params = &job->params;
  const DdimParams encode = ddim_params_for_encode(params);
  const DdimParams inverse_decode = ddim_params_for_inverse_decode(params);
  const gboolean masked = params->mask != NULL;
  switch (job->workflow) {
  case DDIM_WORKFLOW_GENERATE:
    if (job->input_count > 0) {
      plan->outputs = job->input_count;
    } else {
      if (!need_count(job, 1, error)) return FALSE;
      plan->outputs = job->count;
    }
    plan->phase[plan->count++] = (Phase){PHASE_DECODE, *params, plan->outputs, TRUE};
    break;
  case DDIM_WORKFLOW_DECODE:
    if (!need_inputs(job, 1, 0, error)) return FALSE;
    plan->outputs = job->input_count;
    plan->phase[plan->count++] =
        (Phase){PHASE_DECODE, job->from_inversion ? inverse_decode : *params, plan->outputs, TRUE};
    break;
  case DDIM_WORKFLOW_ENCODE:
    if (!need_inputs(job, 1, 0, error)) return FALSE;
    plan->outputs = job->input_count;
    plan->phase[plan->count++] = (Phase){PHASE_ENCODE, encode, plan->outputs, FALSE};
    break;
  case DDIM_WORKFLOW_RECONSTRUCT:
    if (!need_inputs(job, 1, 0, error)) return FALSE;
    plan->outputs = job->input_count;
    plan->phase[plan->count++] = (Phase){PHASE_ENCODE, encode, plan->outputs, FALSE};
    plan->phase[plan->count++] = (Phase){PHASE_DECODE, inverse_decode, plan->outputs, TRUE};
    break;
  case DDIM_WORKFLOW_VARY:
    if (!need_inputs(job, 1, 0, error)) return FALSE;
    if (job->input_count == 1 && !need_count(job, 1, error)) return FALSE;
    plan->outputs = job->input_count == 1 ? job->count : job->input_count;
    plan->phase[plan->count++] = (Phase){PHASE_VARY, *params, plan->outputs, TRUE};
    /* Every variation of one input keeps that input outside the mask: its
     * trajectory is computed once per batch, not once per image.  Several
     * inputs each keep their own (ddim_vary's default). */
    if (masked && params->known == NULL && job->input_count == 1) {
      plan->phase[0].params.known = job->inputs;
      plan->phase[0].params.known_count = 1;
    }
    break;
  case DDIM_WORKFLOW_INTERPOLATE:
    if (!need_inputs(job, 2, 2, error) ||
        !need_count(job, job->frame_spacing == DDIM_FRAMES_WITH_ENDS ? 2 : 1, error))
      return FALSE;
    plan->outputs = job->count;
    plan->phase[plan->count++] = (Phase){PHASE_ENCODE, encode, 2, FALSE};
    plan->phase[plan->count++] = (Phase){PHASE_DECODE, inverse_decode, plan->outputs, TRUE};
    break;
  default:
    return invalid(error, "unknown workflow %d", (int)job->workflow);
  }
  if (masked && job->workflow != DDIM_WORKFLOW_GENERATE && job->workflow != DDIM_WORKFLOW_DECODE &&
      job->workflow != DDIM_WORKFLOW_VARY)
    return invalid(error, "%s takes no mask (generate, decode and vary do)",
                   ddim_workflow_name(job->workflow));
  if (masked && params->known == NULL &&
      (job->workflow == DDIM_WORKFLOW_GENERATE || job->workflow == DDIM_WORKFLOW_DECODE))
    return invalid(error, "a masked %s needs the image kept outside the mask (params.known)",
                   ddim_workflow_name(job->workflow));
  if (masked && params->known && params->known_count != 1 && params->known_count != plan->outputs)
    return invalid(error, "a masked run needs the known image (1 or %d of them, not %d)",
                   plan->outputs, params->known_count);
  if (ddim_shape_elements(job->image) == 0)
    return invalid(error, "%s: an image of %dx%d with %d channels is empty",
                   ddim_workflow_name(job->workflow), job->image.w, job->image.h, job->image.c);
  DdimShape one = job->image;
  one.n = 1;
  if (!ddim_params_check_shape(model, params, one, error)) return FALSE;
  for (int i = 0; i < plan->count; i++)
    if (ddim_params_step_count(model, &plan->phase[i].params, error) <= 0) return FALSE;
  return TRUE;
}

/* ---- Memory and batches -------------------------------------------------- */

static uint64_t physical_memory(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size : 0;
}

/* What a batch may use: about half of the RAM, or less when the job or the
 * model is limited; 0 when nothing is known. */
static uint64_t memory_budget(const DdimModel *model, const DdimJob *job) {
  uint64_t budget = physical_memory() / 2;
  const uint64_t limits[] = {model->memory_limit, job->memory_limit};
  for (guint i = 0; i < G_N_ELEMENTS(limits); i++)
    if (limits[i] && (budget == 0 || limits[i] < budget)) budget = limits[i];
  return budget;
}

/* The sampler's own tensors for a batch of n images (x, model output, x̂_0,
 * ε̂, noise). */
static double sampler_bytes(const DdimJob *job, int n) {
  const double image_bytes = (double)ddim_shape_elements(job->image) * sizeof(float);
  double bytes = 5.0 * n * image_bytes;
  /* A masked run that keeps the known image by its inversion holds that
   * image's every level (the sampler's known_init). */
  if (job->params.mask && job->params.mask_keep == DDIM_MASK_KEEP_INVERSION) {
    const int known = job->params.known && job->params.known_count == 1 ? 1 : n;
    bytes += (double)MAX(job->params.steps, 1) * known * image_bytes;
  }
  return bytes;
}

/* The shape the network sees for a batch of n: n images, or one tile. */
static DdimShape network_shape(const DdimModel *model, const DdimJob *job, int n) {
  int tile_w = 0, tile_h = 0;
  if (ddim_params_tiling(model, &job->params, job->image, &tile_w, &tile_h, NULL))
    return (DdimShape){1, job->image.c, tile_h, tile_w};
  DdimShape shape = job->image;
  shape.n = n;
  return shape;
}

/* The largest batch of n images that fits in the budget; at least 1 (the
 * memory check then says no if even that fails).  A tiled run's network
 * memory is bounded by its batch of tiles, which the sampler sizes. */
static int batch_size(const DdimModel *model, const DdimJob *job, int n) {
  const gboolean tiled = ddim_params_tiling(model, &job->params, job->image, NULL, NULL, NULL);
  const uint64_t budget = memory_budget(model, job);
  int low = 1, high = MIN(n, DDIM_JOB_MAX_BATCH);
  while (low < high) {
    int middle = low + (high - low + 1) / 2;
    DdimShape part = job->image;
    part.n = middle;
    /* Tiled: one tile's network memory (the sampler batches tiles within
     * what is left) and the batch's images and sampler state. */
    const double needed =
        tiled ? (double)ddim_model_memory_needed(model, network_shape(model, job, 1)) +
                    sampler_bytes(job, middle)
              : (double)ddim_model_memory_needed(model, part);
    if (budget == 0 || needed <= (double)budget)
      low = middle;
    else
      high = middle - 1;
  }
  return MAX(low, 1);
}

static int largest_phase(const Plan *plan) {
  int most = 0;
  for (int i = 0; i < plan->count; i++) most = MAX(most, plan->phase[i].images);
  return most;
}

/* Whether a masked decode also runs the known image's inversion (reported
 * as evaluations of its own) in every batch. */
static gboolean encodes_known(const Phase *phase) {
  return phase->kind != PHASE_ENCODE && phase->params.mask &&
         phase->params.mask_keep == DDIM_MASK_KEEP_INVERSION;
}

/* Known images per batch whose trajectory a masked phase computes. */
static int known_per_batch(const Phase *phase, int batch) {
  return phase->params.known && phase->params.known_count == 1 ? 1 : batch;
}

/* The job as the functions below read it: image.n is 1 whatever the caller
 * left there (ddim-job.h: "n is ignored"). */
static DdimJob normalised(const DdimJob *job) {
  DdimJob own = *job;
  own.image.n = 1;
  return own;
}

/* The job's own tensors: outputs, latents and input copies, and the
 * sampler's tensors of a batch. */
static double tensor_bytes(const DdimJob *job, const Plan *plan, int batch) {
  const double values = (double)ddim_shape_elements(job->image);
  return values * sizeof(float) * 2.0 * MAX(plan->outputs, largest_phase(plan)) +
         sampler_bytes(job, batch);
}

/* Whether the largest batch and the job's tensors fit: the job's and the
 * model's limits, the available memory (ddim_model_check_memory) and the
 * machine's RAM.  DDIM_ERROR_NO_MEMORY says how much is needed. */
static gboolean check_memory(const DdimModel *model, const DdimJob *job, const Plan *plan,
                             GError **error) {
  const int largest = largest_phase(plan);
  const int batch = batch_size(model, job, largest);
  const DdimShape batch_shape = network_shape(model, job, batch);
  const uint64_t needed = ddim_model_memory_needed(model, batch_shape);
  if (job->memory_limit && needed > job->memory_limit) {
    g_autofree char *needed_text = NULL, *limit_text = NULL;
    ddim_model_format_sizes(needed, job->memory_limit, &needed_text, &limit_text);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "a run of %d image(s) at %dx%d needs %s, more than the job's %s limit",
                batch_shape.n, batch_shape.w, batch_shape.h, needed_text, limit_text);
    return FALSE;
  }
  if (!ddim_model_check_memory(model, batch_shape, error)) return FALSE;
  /* A tiled batch's network memory is one batch of tiles; its images and
   * the sampler's tensors count against a limit the user set all the same. */
  const uint64_t limit = MIN(job->memory_limit ? job->memory_limit : UINT64_MAX,
                             model->memory_limit ? model->memory_limit : UINT64_MAX);
  const double kept = sampler_bytes(job, batch);
  if (limit != UINT64_MAX &&
      ddim_params_tiling(model, &job->params, job->image, NULL, NULL, NULL) &&
      (double)needed + kept > (double)limit) {
    g_autofree char *needed_text = NULL, *limit_text = NULL;
    const double total = (double)needed + kept;
    ddim_model_format_sizes(total >= (double)UINT64_MAX ? UINT64_MAX : (uint64_t)total, limit,
                            &needed_text, &limit_text);
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "a run of %d image(s) at %dx%d needs %s with its tiles and sampler state, more "
                "than the %s limit",
                batch, job->image.w, job->image.h, needed_text, limit_text);
    return FALSE;
  }
  const uint64_t memory = physical_memory();
  if (memory && tensor_bytes(job, plan, batch) > (double)memory) {
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "%d images of %dx%d need more memory than this machine has",
                MAX(plan->outputs, largest), job->image.w, job->image.h);
    return FALSE;
  }
  return TRUE;
}

static gboolean estimate_job(const DdimModel *model, const DdimJob *job, DdimJobEstimate *estimate,
                             GError **error) {
  memset(estimate, 0, sizeof *estimate);
  Plan plan;
  if (!plan_job(model, job, FALSE, &plan, error)) return FALSE;
  const int largest = largest_phase(&plan);
  int tiles = 0;
  ddim_params_tiling(model, &job->params, job->image, &estimate->tile_width, &estimate->tile_height,
                     &tiles);
  estimate->tiles = tiles;
  estimate->outputs = plan.outputs;
  estimate->batch_size = batch_size(model, job, largest);
  const double per_image = MAX(tiles, 1);
  gint64 evaluations = 0;
  for (int i = 0; i < plan.count; i++) {
    const Phase *phase = &plan.phase[i];
    const gint64 steps = ddim_params_step_count(model, &phase->params, NULL);
    const gint64 batch = batch_size(model, job, phase->images);
    const gint64 batches = ((gint64)phase->images + batch - 1) / batch;
    const gint64 rounds = encodes_known(phase) ? 2 : 1;
    evaluations += steps * batches * rounds;
    double images = phase->images;
    if (encodes_known(phase)) images += (double)known_per_batch(phase, (int)batch) * batches;
    estimate->image_evaluations += steps * images * per_image;
  }
  /* Progress counts in int: a job past that is not one anybody can wait for. */
  if (evaluations > G_MAXINT)
    return invalid(error,
                   "%s of %d images with these steps takes %" G_GINT64_FORMAT
                   " network evaluations; too many for one run",
                   ddim_workflow_name(job->workflow), plan.outputs, evaluations);
  estimate->evaluations = (int)evaluations;
  const DdimModelInfo *info = ddim_model_get_info(model);
  const DdimShape unit = network_shape(model, job, 1);
  estimate->flops = ddim_model_flops(model, unit) * estimate->image_evaluations;
  const DdimShape batch_shape = network_shape(model, job, estimate->batch_size);
  const uint64_t needed = ddim_model_memory_needed(model, batch_shape);
  estimate->weight_bytes = info->weight_bytes;
  estimate->activation_bytes = needed == UINT64_MAX ? UINT64_MAX : needed - info->weight_bytes;
  const double tensors = tensor_bytes(job, &plan, estimate->batch_size);
  estimate->tensor_bytes = tensors >= (double)UINT64_MAX ? UINT64_MAX : (uint64_t)tensors;
  estimate->memory_limit = memory_budget(model, job);
  estimate->fits = check_memory(model, job, &plan, NULL);
  return TRUE;
}

gboolean ddim_job_estimate(const DdimModel *model, const DdimJob *job, DdimJobEstimate *estimate,
                           GError **error) {
  const DdimJob own = normalised(job);
  return estimate_job(model, &own, estimate, error);
}

/* ---- Running ------------------------------------------------------------- */

typedef struct {
  DdimModel *model;
  const DdimJob *job;
  int done, total;
  int batch_first, batch_count, images;
  gboolean makes_outputs;
} Runner;

static gboolean on_step(const DdimProgress *step, gpointer data) {
  Runner *runner = data;
  const DdimJob *job = runner->job;
  /* A step ends with tiles_done == tiles_total; reports inside it do not count. */
  if (step->tiles_done == step->tiles_total) runner->done++;
  if (job->progress == NULL) return TRUE;
  DdimJobProgress progress = {
      .done = MIN(runner->done, runner->total),
      .total = runner->total,
      .step = step,
      .batch_first = runner->batch_first,
      .batch_count = runner->batch_count,
      .images = runner->images,
      .first_output =
          runner->makes_outputs && step->phase == DDIM_PHASE_DECODE ? runner->batch_first : -1,
  };
  return job->progress(&progress, job->progress_data);
}

/* n images of x, one sampler call per batch; image k keeps seed + k. */
static gboolean run_phase(Runner *runner, const Phase *phase, float *x, GError **error) {
  const DdimJob *job = runner->job;
  const int batch = batch_size(runner->model, job, phase->images);
  const size_t values = ddim_shape_elements(job->image);
  runner->images = phase->images;
  runner->makes_outputs = phase->makes_outputs;
  for (int first = 0; first < phase->images; first += batch) {
    DdimShape part = job->image;
    part.n = MIN(batch, phase->images - first);
    DdimParams params = phase->params;
    params.seed = phase->params.seed + (guint64)first;
    params.progress = on_step;
    params.progress_data = runner;
    if (params.known && params.known_count > 1) {
      params.known = phase->params.known + (size_t)first * values;
      params.known_count = part.n;
    }
    runner->batch_first = first;
    runner->batch_count = part.n;
    float *part_x = x + (size_t)first * values;
    gboolean ok = FALSE;
    switch (phase->kind) {
    case PHASE_DECODE:
      ok = ddim_sample(runner->model, &params, part_x, part, error);
      break;
    case PHASE_ENCODE:
      ok = ddim_invert(runner->model, &params, part_x, part, error);
      break;
    case PHASE_VARY:
      ok = ddim_vary(runner->model, &params, part_x, part, error);
      break;
    }
    if (!ok) return FALSE;
  }
  return TRUE;
}

/* n images of the job's size, refused up front when they exceed the
 * machine's memory: with overcommit the allocation could succeed and the
 * run be killed later. */
static float *new_images(const DdimJob *job, int n, GError **error) {
  DdimShape shape = job->image;
  shape.n = n;
  const size_t values = ddim_shape_elements(shape);
  const uint64_t memory = physical_memory();
  float *images = NULL;
  if (values && values <= G_MAXSIZE / sizeof(float) &&
      (memory == 0 || values * sizeof(float) <= memory))
    images = g_try_new(float, values);
  if (images == NULL)
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_NO_MEMORY,
                "%d images of %dx%d need more memory than this machine has", n, shape.w, shape.h);
  return images;
}

/* Copies of `from` (n images), or of its one image n times. */
static float *copy_images(const DdimJob *job, const float *from, int from_count, int n,
                          GError **error) {
  float *images = new_images(job, n, error);
  if (images == NULL) return NULL;
  const size_t values = ddim_shape_elements(job->image);
  for (int k = 0; k < n; k++)
    memcpy(images + (size_t)k * values, from + (size_t)(from_count == 1 ? 0 : k) * values,
           values * sizeof(float));
  return images;
}

static gboolean run_plan(Runner *runner, const Plan *plan, DdimJobResult *result, GError **error) {
  const DdimJob *job = runner->job;
  const size_t values = ddim_shape_elements(job->image);
  const int outputs = plan->outputs;
  /* What the latents decode with: the first phase's parameters, without
   * the run's borrowed pointers. */
  result->latent_params = plan->phase[0].params;
  result->latent_params.mask = NULL;
  result->latent_params.known = NULL;
  result->latent_params.known_count = 1;
  switch (job->workflow) {
  case DDIM_WORKFLOW_GENERATE:
    if (job->input_count > 0) {
      result->images = copy_images(job, job->inputs, job->input_count, outputs, error);
    } else if ((result->images = new_images(job, outputs, error))) {
      DdimShape all = job->image;
      all.n = outputs;
      ddim_noise(job->params.seed, DDIM_STREAM_INITIAL, all, result->images);
    }
    if (result->images == NULL) return FALSE;
    if (job->keep_latents &&
        !(result->latents = copy_images(job, result->images, outputs, outputs, error)))
      return FALSE;
    return run_phase(runner, &plan->phase[0], result->images, error);
  case DDIM_WORKFLOW_DECODE:
  case DDIM_WORKFLOW_VARY:
    if (!(result->images = copy_images(job, job->inputs, job->input_count, outputs, error)))
      return FALSE;
    if (job->keep_latents && job->workflow == DDIM_WORKFLOW_DECODE &&
        !(result->latents = copy_images(job, job->inputs, job->input_count, outputs, error)))
      return FALSE;
    return run_phase(runner, &plan->phase[0], result->images, error);
  case DDIM_WORKFLOW_ENCODE:
    return (result->latents = copy_images(job, job->inputs, outputs, outputs, error)) &&
           run_phase(runner, &plan->phase[0], result->latents, error);
  case DDIM_WORKFLOW_RECONSTRUCT:
    if (!(result->latents = copy_images(job, job->inputs, outputs, outputs, error)) ||
        !run_phase(runner, &plan->phase[0], result->latents, error) ||
        !(result->images = copy_images(job, result->latents, outputs, outputs, error)) ||
        !run_phase(runner, &plan->phase[1], result->images, error))
      return FALSE;
    result->mse = ddim_mse_01(job->inputs, result->images, values * (size_t)outputs);
    result->psnr = ddim_psnr_from_mse(result->mse);
    return TRUE;
  case DDIM_WORKFLOW_INTERPOLATE: {
    /* Both ends are encoded in one batch of two. */
    g_autofree float *ends = copy_images(job, job->inputs, 2, 2, error);
    if (ends == NULL || !run_phase(runner, &plan->phase[0], ends, error) ||
        !(result->latents = new_images(job, outputs, error)))
      return FALSE;
    for (int k = 0; k < outputs; k++)
      ddim_slerp(ends, ends + values, values, ddim_frame_alpha(job->frame_spacing, k, outputs),
                 result->latents + (size_t)k * values);
    return (result->images = copy_images(job, result->latents, outputs, outputs, error)) &&
           run_phase(runner, &plan->phase[1], result->images, error);
  }
  }
  return FALSE;
}

/* Model-space values a run can take: images are in [-1, 1] and latents are
 * Gaussian noise of unit scale (an inversion's stay within a few tens);
 * beyond this the network's sums overflow float32 and the run would end in
 * NaN images. */
#define DDIM_JOB_MAX_INPUT_MAGNITUDE 1e4

/* Every value of `count` tensors of the job's size is finite and within
 * DDIM_JOB_MAX_INPUT_MAGNITUDE; `what` names them in the message. */
static gboolean check_values(const DdimJob *job, const float *values, int count, const char *what,
                             GError **error) {
  const size_t per_image = ddim_shape_elements(job->image);
  const size_t total = per_image * (size_t)count;
  for (size_t i = 0; i < total; i++)
    if (!(fabsf(values[i]) <= DDIM_JOB_MAX_INPUT_MAGNITUDE)) {
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                  "%s: %s %zu holds %g at value %zu; model-space values lie within ±%g (images "
                  "in [-1, 1], latents of unit scale)",
                  ddim_workflow_name(job->workflow), what, i / per_image + 1, values[i],
                  i % per_image, DDIM_JOB_MAX_INPUT_MAGNITUDE);
      return FALSE;
    }
  return TRUE;
}

/* The job's tensors: its inputs and, for a masked run, the kept image. */
static gboolean check_inputs(const DdimJob *job, GError **error) {
  const gboolean latents =
      job->workflow == DDIM_WORKFLOW_DECODE || job->workflow == DDIM_WORKFLOW_GENERATE;
  if (job->inputs && job->input_count > 0 &&
      !check_values(job, job->inputs, job->input_count, latents ? "latent" : "image", error))
    return FALSE;
  if (job->params.mask && job->params.known &&
      !check_values(job, job->params.known, MAX(job->params.known_count, 1), "kept image", error))
    return FALSE;
  return TRUE;
}

/* Refuses a job that cannot run or cannot fit, before anything is
 * allocated or drawn. */
static gboolean check_job(const DdimModel *model, const DdimJob *job, DdimJobEstimate *estimate,
                          Plan *plan, GError **error) {
  return estimate_job(model, job, estimate, error) && plan_job(model, job, TRUE, plan, error) &&
         check_inputs(job, error) && check_memory(model, job, plan, error);
}

gboolean ddim_job_check(const DdimModel *model, const DdimJob *job, GError **error) {
  const DdimJob own = normalised(job);
  DdimJobEstimate estimate;
  Plan plan;
  return check_job(model, &own, &estimate, &plan, error);
}

gboolean ddim_job_run(DdimModel *model, const DdimJob *caller_job, DdimJobResult *result,
                      GError **error) {
  memset(result, 0, sizeof *result);
  const DdimJob own = normalised(caller_job);
  const DdimJob *job = &own;
  DdimJobEstimate estimate;
  Plan plan;
  if (!check_job(model, job, &estimate, &plan, error)) return FALSE;
  Runner runner = {.model = model, .job = job, .total = estimate.evaluations};
  if (job->abort) ddim_model_set_abort(model, job->abort, job->abort_data);
  result->outputs = plan.outputs;
  result->shape = job->image;
  result->shape.n = 1;
  gboolean ok = run_plan(&runner, &plan, result, error);
  if (job->abort) ddim_model_set_abort(model, NULL, NULL);
  /* The latents of ENCODE are its output; the others keep them on request. */
  if (ok && !job->keep_latents && job->workflow != DDIM_WORKFLOW_ENCODE)
    g_clear_pointer(&result->latents, g_free);
  if (!ok) ddim_job_result_clear(result);
  return ok;
}
