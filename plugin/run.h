/* run.h — what every procedure's run function does around its job: the
 * dialog in interactive mode, GEGL, the model, progress and naming. */
#ifndef DDIM_PLUGIN_RUN_H
#define DDIM_PLUGIN_RUN_H

#include "job-config.h"
#include "layer-pixels.h"

#include <gtk/gtk.h>

typedef struct {
  GimpProcedure *procedure;
  GimpRunMode run_mode;
  GimpProcedureConfig *config;
  DdimWorkflow kind;
  DdimModel *model;
  char *model_path;
  gboolean gegl_started;
  gboolean cancelled;     /* the user closed the dialog, or cancelled the run */
  GtkWidget *dialog;      /* interactive: the dialog after OK, kept for the running state */
  gboolean calling_error; /* the error is about the arguments (bad layers, …) */
} PluginRun;

void plugin_run_init(PluginRun *run, GimpProcedure *procedure, GimpRunMode run_mode,
                     GimpProcedureConfig *config, DdimWorkflow kind);

/* Fails a run whose arguments are wrong (GIMP_PDB_CALLING_ERROR). */
gboolean plugin_run_calling_error(PluginRun *run);

/* Starts GEGL, shows the dialog when interactive (FALSE without an error
 * when the user cancelled) and loads the model (FALSE with an error); the
 * model the dialog loaded for its estimate is the one the run uses.
 * `latent`: Decode's stored latent, for the dialog (else NULL). */
gboolean plugin_run_begin(PluginRun *run, GimpImage *image, GimpDrawable **drawables,
                          const DdimLatent *latent, GError **error);
void plugin_run_end(PluginRun *run);

/* The job of the run's config (plugin_job_from_config). */
void plugin_run_job_init(PluginRun *run, DdimJob *job, gboolean *schedule_stored);

/* Runs the job into *result.  Interactive: on a worker thread while the
 * dialog shows the image forming, the progress and Cancel (run-view.h); a
 * cancelled run fails with run->cancelled set and the image untouched.
 * Otherwise on this thread with GIMP's progress bar: "DDIM 12/50" after
 * every network evaluation. */
gboolean plugin_run_job(PluginRun *run, const DdimJob *job, DdimJobResult *result, GError **error);

/* " (scaled from 32×32)" when a size differs from the model's, else "". */
char *plugin_scaled_note(const DdimShape *image, int width, int height);

/* The PDB result of a run: SUCCESS, or CANCEL, or the error (taken). */
GimpValueArray *plugin_run_result(PluginRun *run, gboolean ok, GError *error);

#endif
