/* job.h — the computation of one procedure run, on plain memory.
 *
 * A job is filled on the main thread (model, params, input tensors), run
 * (plugin_job_run: only core calls, no libgimp, no GTK, so it may run on a
 * worker thread), then its results are written to the image on the main
 * thread.  Progress is reported after every network evaluation through a
 * callback that the caller chooses (today: gimp_progress_* on the main
 * thread; with a worker thread: a g_idle_add hand-over). */
#ifndef DDIM_PLUGIN_JOB_H
#define DDIM_PLUGIN_JOB_H

#include "ddim.h"
#include "plugin.h"

/* One network evaluation of a job, as a progress bar and a preview need it. */
typedef struct {
  int done, total;           /* network evaluations over the whole job */
  const DdimProgress *batch; /* this evaluation of the current batch: phase, step of
                                the phase, x_t and x̂_0 (valid during the call only) */
  int first_output;          /* decoding: the output index of the batch's first image;
                                encoding (the job's inputs): -1 */
} PluginJobStep;

/* Called after every network evaluation, on the thread that runs the job. */
typedef void (*PluginJobProgress)(const PluginJobStep *step, gpointer user_data);

typedef struct {
  /* Set by the caller. */
  PluginKind kind;
  DdimModel *model;  /* borrowed */
  DdimParams params; /* sampling (decode) parameters; seed = first image's seed */
  DdimShape image;   /* one image in model space: n = 1 */
  int count;         /* GENERATE, VARY: images; INTERPOLATE: in-between frames */
  /* Input tensors in model space, image-sized each: RECONSTRUCT, VARY,
   * ENCODE: 1 image; INTERPOLATE: 2 images (the ends); DECODE: 1 latent;
   * GENERATE: none. */
  float *input;
  gboolean from_inversion; /* DECODE: the latent came from inversion (decoded without
                              clipping unless the params ask for it) */
  const float *mask;       /* VARY, GENERATE: image.h × image.w values, 0 keep … 1
                              regenerate, or NULL; borrowed.  GENERATE keeps `input`
                              (1 image) outside it. */
  PluginJobProgress progress;
  gpointer progress_data;
  GCancellable *cancellable; /* may be NULL; checked between evaluations */

  /* Results (owned by the job). */
  int outputs;              /* images in output: count, or 1 */
  float *output;            /* outputs × image values: the decoded images (not ENCODE) */
  float *latents;           /* outputs × image values, or NULL: the latent each output
                               came from (GENERATE: x_T; RECONSTRUCT, ENCODE: the
                               inversion; INTERPOLATE: the slerp; DECODE: its input) */
  DdimParams latent_params; /* steps, schedule and strength of those latents
                               (DECODE: set by the caller, from the stored one) */
  double mse, psnr;         /* RECONSTRUCT */

  /* Progress bookkeeping. */
  int done, total;
  int batch_first; /* the first image of the batch being run */
} PluginJob;

void plugin_job_init(PluginJob *job, PluginKind kind, DdimModel *model);

/* Sets the size the job runs at: the region's own width × height (tiled
 * when larger than the model), or the model's resolution when `scale` asks
 * for it or the network cannot take the region (smaller than the model and
 * not a multiple of its size multiple). */
void plugin_job_set_size(PluginJob *job, int width, int height, gboolean scale);
void plugin_job_clear(PluginJob *job);

/* The number of network evaluations the job will take (one per batch). */
int plugin_job_evaluations(const PluginJob *job, GError **error);

/* The number of single-image network evaluations (for time estimates:
 * each costs ddim_model_flops of one image, or, when job->image is tiled,
 * of one tile: then every tile counts). */
double plugin_job_image_evaluations(const PluginJob *job, GError **error);

gboolean plugin_job_run(PluginJob *job, GError **error);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PluginJob, plugin_job_clear)

#endif
