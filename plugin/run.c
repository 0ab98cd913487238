/* run.c — the parts of a procedure run that all procedures share. */
#include "run.h"

#include "arguments.h"
#include "dialogs.h"

#include <glib/gi18n.h>

void plugin_run_init(PluginRun *run, GimpProcedure *procedure, GimpRunMode run_mode,
                     GimpProcedureConfig *config, PluginKind kind) {
  *run = (PluginRun){.procedure = procedure, .run_mode = run_mode, .config = config, .kind = kind};
  gegl_init(NULL, NULL);
  run->gegl_started = TRUE;
}

gboolean plugin_run_calling_error(PluginRun *run) {
  run->calling_error = TRUE;
  return FALSE;
}

gboolean plugin_run_begin(PluginRun *run, GimpImage *image, GimpDrawable **drawables,
                          GError **error) {
  if (run->run_mode == GIMP_RUN_INTERACTIVE &&
      !plugin_dialog_run(run->procedure, run->config, run->kind, image, drawables)) {
    run->cancelled = TRUE;
    return FALSE;
  }
  run->model_path = plugin_model_path(run->config, error);
  if (run->model_path) run->model = ddim_model_load(run->model_path, error);
  /* A model that is missing or malformed is a bad "model" argument. */
  if (run->model == NULL) return plugin_run_calling_error(run);
  return TRUE;
}

void plugin_run_end(PluginRun *run) {
  g_clear_pointer(&run->model, ddim_model_free);
  g_clear_pointer(&run->model_path, g_free);
  if (run->gegl_started) gegl_exit();
  run->gegl_started = FALSE;
}

static void report_progress(int done, int total, gpointer data) {
  (void)data;
  /* TRANSLATORS: progress text: network evaluations done of all. */
  gimp_progress_set_text_printf(_("DDIM %d/%d"), done, total);
  gimp_progress_update(total > 0 ? (double)done / total : 1.0);
}

gboolean plugin_run_job(PluginRun *run, PluginJob *job, GError **error) {
  (void)run;
  int total = plugin_job_evaluations(job, error);
  if (total < 0) return FALSE;
  gimp_progress_init_printf(_("DDIM %d/%d"), 0, total);
  job->progress = report_progress;
  job->progress_data = NULL;
  gboolean ok = plugin_job_run(job, error);
  gimp_progress_end();
  return ok;
}

char *plugin_scaled_note(const DdimShape *image, int width, int height) {
  if (image->w == width && image->h == height) return g_strdup("");
  return g_strdup_printf(_(" (scaled from %d×%d)"), image->w, image->h);
}

GimpValueArray *plugin_run_result(PluginRun *run, gboolean ok, GError *error) {
  if (run->cancelled) {
    g_clear_error(&error);
    return gimp_procedure_new_return_values(run->procedure, GIMP_PDB_CANCEL, NULL);
  }
  if (!ok)
    return plugin_failure(run->procedure,
                          run->calling_error ? GIMP_PDB_CALLING_ERROR : GIMP_PDB_EXECUTION_ERROR,
                          error);
  return gimp_procedure_new_return_values(run->procedure, GIMP_PDB_SUCCESS, NULL);
}
