/* job-config.h — a procedure's config as a DdimJob (ddim-job.h), before any
 * pixel is read: what each procedure fills in before adding its pixels, and
 * what the dialogs estimate (DialogContext.describe). */
#ifndef DDIM_PLUGIN_JOB_CONFIG_H
#define DDIM_PLUGIN_JOB_CONFIG_H

#include "ddim-latent.h"
#include "plugin.h"

/* The job the config's values ask for: ddim_job_init, then the sampling
 * arguments (plugin_read_params), the count (count, or frames: in-between
 * frames, DDIM_FRAMES_BETWEEN) and the number of inputs the workflow reads.
 * *schedule_stored (may be NULL) as in plugin_read_params. */
void plugin_job_from_config(GimpProcedureConfig *config, const DdimModel *model,
                            DdimWorkflow workflow, DdimJob *job, gboolean *schedule_stored);

/* Decode: the latent's own steps (when the config's are 0, "as stored"),
 * schedule (when schedule_stored) and strength, and its size. */
void plugin_job_for_latent(DdimJob *job, const DdimLatent *latent, gboolean schedule_stored);

/* Generate's image size: width and height, 0 meaning the image's (new
 * layers in an open image) or else the model's.  TRUE when that size was
 * left to choose and is larger than the model: then it is made as one
 * picture at the model's size, scaled (not in tiles). */
gboolean plugin_generate_size(GimpProcedureConfig *config, const DdimModel *model, GimpImage *image,
                              int *width, int *height);

/* Generate: the layer whose selection new layers fill (one selected layer
 * of an image with a selection), or NULL. */
GimpLayer *plugin_generate_fill_source(GimpImage *image, GimpDrawable **drawables);

/* Vary: the context, in pixels, read around the selection's bounds (half a
 * tile; none when scaled or without a selection). */
int plugin_vary_margin(GimpImage *image, const DdimModel *model, gboolean scale);

/* Interpolate: the two selected layers (two layers, checked by the caller),
 * the lower one first: the frames go from it to the upper one. */
void plugin_interpolate_ends(GimpImage *image, GimpDrawable **drawables, GimpLayer **first,
                             GimpLayer **last);

/* DialogContext.describe: the job of plugin_job_from_config at the size the
 * procedure will run it (the region it reads: Generate's images or the
 * layer its selection fills, Vary's selection with its context, the lower
 * layer of Interpolate, the latent of Decode). */
gboolean plugin_describe_job(GimpProcedureConfig *config, const DdimModel *model,
                             DdimWorkflow workflow, GimpImage *image, GimpDrawable **drawables,
                             const DdimLatent *latent, DdimJob *job, int *width, int *height,
                             GError **error);

#endif
