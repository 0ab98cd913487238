/* dialogs.h — the DDIM procedures' dialogs (GimpProcedureDialog).
 *
 * ui/ is a view over a procedure's config: it builds the widgets, shows
 * what the run will cost, and shows a run (run-view.h).  It knows the core's
 * public API and the config's property names, nothing of the plug-in's
 * files: what only the plug-in knows (where the default model is, how the
 * config becomes a job) comes in through DialogContext. */
#ifndef DDIM_UI_DIALOGS_H
#define DDIM_UI_DIALOGS_H

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>

#include "ddim-job.h"
#include "ddim-latent.h"

/* What a dialog is opened on, and the plug-in's answers to its questions. */
typedef struct {
  DdimWorkflow workflow;
  GimpImage *image;
  GimpDrawable **drawables; /* the selected drawables (NULL-terminated), or NULL */
  const DdimLatent *latent; /* DECODE: the layer's latent, or NULL */
  /* The model file the config names (or the default model): a path to
   * g_free, or NULL with an error. */
  char *(*model_path)(GimpProcedureConfig *config, GError **error);
  /* The job the config describes on this image, without pixels: workflow,
   * params, count and the size it runs at (job->image); *width × *height
   * receive the size of what it makes (the layer, or Generate's images).
   * FALSE with an error when it cannot run as set. */
  gboolean (*describe)(GimpProcedureConfig *config, const DdimModel *model, DdimWorkflow workflow,
                       GimpImage *image, GimpDrawable **drawables, const DdimLatent *latent,
                       DdimJob *job, int *width, int *height, GError **error);
} DialogContext;

/* Shows the procedure's dialog; TRUE when the user pressed OK (the config
 * then holds the chosen values, which GIMP keeps as the last values).  After
 * OK the dialog stays open in *dialog_out, for the running state (run-view.h);
 * the caller destroys it.  After Cancel it is gone and *dialog_out is NULL.
 * After OK, *model_out and *model_path_out (caller frees) receive the model
 * the dialog loaded for its estimate, so that the run uses the same one
 * (NULL when it could not be loaded). */
gboolean dialog_run(GimpProcedure *procedure, GimpProcedureConfig *config,
                    const DialogContext *context, GtkWidget **dialog_out, DdimModel **model_out,
                    char **model_path_out);

#endif
