/* ddim-job.h — one call runs a whole workflow (the shape of whisper.cpp's
 * whisper_full): generate, encode, decode, reconstruct, vary, interpolate.
 *
 * A front end fills a DdimJob (the workflow, its input tensors in model
 * space, the count, the seed and the sampling parameters), asks
 * ddim_job_estimate what it will cost, and calls ddim_job_run.  The core
 * decides everything between: the batches (at most DDIM_JOB_MAX_BATCH images,
 * as many as fit in the memory budget; image k always uses seed + k, so a
 * run of K images draws the same noise as K runs of one and gives the same
 * images to float rounding: the network's batched products may round
 * differently in the last bits), the tiling of images larger than the
 * model, the memory refusal before anything is allocated, the clipping rules
 * of inversion, and the order of the phases.  Front ends only collect
 * parameters and move pixels (the `ddim` command: files; the GIMP plug-in:
 * layers).
 *
 * Where the two front ends genuinely differ, the job says so in a field:
 * frame_spacing (interpolation frames with or without the two ends) is the
 * only such difference today; output naming stays in the front ends. */
#ifndef DDIM_JOB_H
#define DDIM_JOB_H

#include "ddim.h"

G_BEGIN_DECLS

/* Larger batches gain little on a CPU and only delay the first result. */
#define DDIM_JOB_MAX_BATCH 64

typedef enum {
  /* Images from x_T: fresh Gaussian noise (seed + k, stream
   * DDIM_STREAM_INITIAL) for `count` images, or the given latents. */
  DDIM_WORKFLOW_GENERATE,
  /* Images → latents by deterministic DDIM inversion (never clipped, η 0). */
  DDIM_WORKFLOW_ENCODE,
  /* Latents → images; from_inversion decodes as the inversion's inverse. */
  DDIM_WORKFLOW_DECODE,
  /* Encode then decode; result->mse and psnr say how close it came back. */
  DDIM_WORKFLOW_RECONSTRUCT,
  /* SDEdit variations: noise to params.strength, then denoise with η. */
  DDIM_WORKFLOW_VARY,
  /* Two images → their latents → `count` frames on the slerp between them. */
  DDIM_WORKFLOW_INTERPOLATE,
} DdimWorkflow;

const char *ddim_workflow_name(DdimWorkflow workflow);

/* Where interpolation frames sit on the path from the first end (α = 0) to
 * the second (α = 1). */
typedef enum {
  /* Frame k of K at α = k/(K−1): both ends are frames (the `ddim` command
   * writes a sequence to play; K ≥ 2). */
  DDIM_FRAMES_WITH_ENDS,
  /* Frame k of K at α = (k+1)/(K+1): only what lies between (the plug-in,
   * whose ends are the two layers themselves). */
  DDIM_FRAMES_BETWEEN,
} DdimFrameSpacing;

/* The α of frame k of `frames` (for naming layers and blending alpha). */
double ddim_frame_alpha(DdimFrameSpacing spacing, int frame, int frames);

/* One report of a running job: after every network evaluation, and inside
 * tiled steps after every batch of tiles (step->tiles_done < tiles_total). */
typedef struct {
  int done, total;              /* network evaluations of the job so far and in all (a batch's
                                   evaluation counts once; tile reports do not count) */
  const DdimProgress *step;     /* the sampler's report: phase, step of the phase, x_t,
                                   x̂_0 (valid during the call only) */
  int batch_first, batch_count; /* the images of the batch being run */
  int images;                   /* images the current phase runs over */
  int first_output;             /* when this step computes outputs: the output index of
                                   the batch's first image; else (an encode, or the
                                   known image's trajectory) -1 */
} DdimJobProgress;

/* FALSE cancels the job (no further evaluation starts; it fails with
 * DDIM_ERROR_CANCELLED). */
typedef gboolean (*DdimJobProgressFunc)(const DdimJobProgress *progress, gpointer user_data);

typedef struct {
  DdimWorkflow workflow;
  /* Sampling: steps, η, schedule, clip, seed (of output 0), strength, tile,
   * overlap, and for masked runs mask, known, known_count, mask_keep.  Its
   * progress callback is not used: set `progress` below. */
  DdimParams params;
  DdimShape image; /* one image as the model runs it (n is ignored) */
  /* Outputs of GENERATE from noise, VARY from one input and INTERPOLATE
   * (frames).  Otherwise there is one output per input and count is not
   * used (ENCODE, DECODE, RECONSTRUCT, GENERATE from latents, VARY from
   * several inputs). */
  int count;
  /* input_count tensors of `image`'s size in model space (borrowed): images
   * (ENCODE, RECONSTRUCT, VARY; INTERPOLATE: the two ends) or latents
   * (DECODE; GENERATE instead of fresh noise).  GENERATE from noise has
   * none (input_count 0).  ddim_job_estimate needs only input_count. */
  const float *inputs;
  int input_count;
  gboolean from_inversion; /* DECODE: the latents came from ENCODE (decoded without
                              clipping unless params.clip is 1) */
  DdimFrameSpacing frame_spacing;
  gboolean keep_latents; /* result->latents for every workflow but VARY (an SDEdit
                            variation has no latent); ENCODE always */
  /* Bytes a batch may use, a hard limit like the model's own
   * (ddim_model_set_memory_limit), which applies as well; batches are sized
   * to the smallest of these and half the RAM.  0: no limit of the job's. */
  uint64_t memory_limit;
  DdimJobProgressFunc progress;
  gpointer progress_data;
  /* When set, installed as the model's abort check for the run and removed
   * after it (ddim_model_set_abort): a cancel from another thread stops
   * within one U-Net block. */
  DdimAbortFunc abort;
  gpointer abort_data;
} DdimJob;

/* The seed of output k: params.seed + k (DDIM_STREAM_* noise of image k),
 * for front ends that name or store it. */
uint64_t ddim_job_seed(const DdimJob *job, int output);

/* Defaults: ddim_params_init, the model's native size, count 1, frames
 * with ends, no inputs. */
void ddim_job_init(DdimJob *job, DdimWorkflow workflow, const DdimModel *model);

/* Sets job->image for a region of width × height: that size (tiled when
 * larger than the model) when the model can run it with job->params, else
 * — or when `scale` asks for it — the model's native size; then the front
 * end scales the pixels to job->image and back.  TRUE when the size is the
 * region's own. */
gboolean ddim_job_fit_size(DdimJob *job, const DdimModel *model, int width, int height,
                           gboolean scale);

typedef struct {
  int outputs;              /* images the job makes (ENCODE: latents) */
  int evaluations;          /* network evaluations, as DdimJobProgress.total counts them */
  double image_evaluations; /* evaluations of one image, or of one tile when tiled */
  double flops;             /* floating-point operations of the whole job */
  int batch_size;           /* images per batch */
  int tiles;                /* tiles per image, 0 when untiled */
  int tile_width, tile_height;
  uint64_t weight_bytes;     /* the model's weights in memory */
  uint64_t activation_bytes; /* the network's working memory for one batch */
  uint64_t tensor_bytes;     /* the job's own images, latents and sampler state */
  uint64_t memory_limit;     /* the budget the batches were sized to (0: unknown) */
  gboolean fits;             /* ddim_job_check's memory test passes */
} DdimJobEstimate;

/* What the job will cost; FALSE with an error when it cannot run at all
 * (inputs missing, a shape the model cannot take, bad parameters).  A job
 * that does not fit in memory gives TRUE with fits FALSE. */
gboolean ddim_job_estimate(const DdimModel *model, const DdimJob *job, DdimJobEstimate *estimate,
                           GError **error);

typedef struct {
  int outputs;
  DdimShape shape;          /* one output: n = 1 */
  float *images;            /* outputs images (NULL for ENCODE) */
  float *latents;           /* ENCODE, or keep_latents: the latent each output came from
                               (x_T, the inversion, the slerp, the input latent) */
  DdimParams latent_params; /* the parameters the latents were made with: steps,
                               schedule, strength and seed (an inversion's: clip 0,
                               η 0) */
  double mse, psnr;         /* RECONSTRUCT: per dimension on the [0, 1] scale, in model
                               space over every image, before any quantisation */
} DdimJobResult;

void ddim_job_result_clear(DdimJobResult *result);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(DdimJobResult, ddim_job_result_clear)

/* What ddim_job_run checks before it computes anything: the job is valid,
 * its inputs are there, and its largest batch and its tensors fit the job's
 * and the model's limits and the machine (DDIM_ERROR_NO_MEMORY with a
 * message saying how much is needed).  For front ends that refuse early, before they print
 * or write anything. */
gboolean ddim_job_check(const DdimModel *model, const DdimJob *job, GError **error);

/* Runs the job.  Validates it first, refuses (DDIM_ERROR_NO_MEMORY) a batch
 * that cannot fit before anything is computed, then runs the phases batch by
 * batch.  On failure or cancel the result is left empty and the inputs are
 * untouched. */
gboolean ddim_job_run(DdimModel *model, const DdimJob *job, DdimJobResult *result, GError **error);

/* FLOP/s of this model's network on this machine: the fastest of three
 * evaluations after a warm-up one, at the native size (halved while one
 * evaluation would cost over 1.5 GFLOP, so it stays about 0.1 s).  0 when
 * the evaluation fails. */
double ddim_model_measure_throughput(DdimModel *model);

G_END_DECLS

#endif /* DDIM_JOB_H */
