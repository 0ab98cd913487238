/* run.c — the parts of a procedure run that all procedures share. */
#include "run.h"

#include "arguments.h"
#include "dialogs.h"
#include "run-view.h"
#include "worker.h"

#include <glib/gi18n.h>

void plugin_run_init(PluginRun *run, GimpProcedure *procedure, GimpRunMode run_mode,
                     GimpProcedureConfig *config, DdimWorkflow kind) {
  *run = (PluginRun){.procedure = procedure, .run_mode = run_mode, .config = config, .kind = kind};
  gegl_init(NULL, NULL);
  run->gegl_started = TRUE;
}

gboolean plugin_run_calling_error(PluginRun *run) {
  run->calling_error = TRUE;
  return FALSE;
}

gboolean plugin_run_begin(PluginRun *run, GimpImage *image, GimpDrawable **drawables,
                          const DdimLatent *latent, GError **error) {
  DdimModel *dialog_model = NULL;
  g_autofree char *dialog_model_path = NULL;
  if (run->run_mode == GIMP_RUN_INTERACTIVE) {
    gimp_ui_init(PLUG_IN_BINARY);
    const DialogContext context = {
        .workflow = run->kind,
        .image = image,
        .drawables = drawables,
        .latent = latent,
        .model_path = plugin_model_path,
        .describe = plugin_describe_job,
    };
    if (!dialog_run(run->procedure, run->config, &context, &run->dialog, &dialog_model,
                    &dialog_model_path)) {
      run->cancelled = TRUE;
      return FALSE;
    }
    /* The user may close it at any time; the pointer then becomes NULL. */
    g_object_add_weak_pointer(G_OBJECT(run->dialog), (gpointer *)&run->dialog);
  }
  run->model_path = plugin_model_path(run->config, error);
  if (run->model_path && dialog_model && g_strcmp0(run->model_path, dialog_model_path) == 0)
    run->model = g_steal_pointer(&dialog_model);
  else if (run->model_path)
    run->model = ddim_model_load(run->model_path, error);
  g_clear_pointer(&dialog_model, ddim_model_free);
  /* A model that is missing or malformed is a bad "model" argument. */
  if (run->model == NULL) return plugin_run_calling_error(run);
  return TRUE;
}

void plugin_run_job_init(PluginRun *run, DdimJob *job, gboolean *schedule_stored) {
  plugin_job_from_config(run->config, run->model, run->kind, job, schedule_stored);
}

void plugin_run_end(PluginRun *run) {
  if (run->dialog) {
    g_object_remove_weak_pointer(G_OBJECT(run->dialog), (gpointer *)&run->dialog);
    gtk_widget_destroy(run->dialog);
    run->dialog = NULL;
  }
  g_clear_pointer(&run->model, ddim_model_free);
  g_clear_pointer(&run->model_path, g_free);
  if (run->gegl_started) gegl_exit();
  run->gegl_started = FALSE;
}

static gboolean report_progress(const DdimJobProgress *step, gpointer data) {
  (void)data;
  /* Inside a tiled step: nothing new to show. */
  if (step->step->tiles_done < step->step->tiles_total) return TRUE;
  /* TRANSLATORS: progress text: network evaluations done of all. */
  gimp_progress_set_text_printf(_("DDIM %d/%d"), step->done, step->total);
  gimp_progress_update(step->total > 0 ? (double)step->done / step->total : 1.0);
  return TRUE;
}

/* ---- Interactive: a worker thread and the running dialog ---------------- */

typedef struct {
  RunView *view;
  PluginWorker *worker;
  GMainLoop *loop;
} Running;

static void on_frame(const RunViewFrame *frame, gpointer data) {
  Running *running = data;
  run_view_show_frame(running->view, frame);
}

static void on_finished_image(int output, const PreviewImage *image, gpointer data) {
  Running *running = data;
  run_view_show_finished(running->view, output, image);
}

static void on_done(gpointer data) {
  Running *running = data;
  g_main_loop_quit(running->loop);
}

static void on_cancel(gpointer data) {
  Running *running = data;
  plugin_worker_cancel(running->worker);
}

/* Only plain memory crosses to the worker; every libgimp and GTK call stays
 * here, on the main thread (libgimp is not thread-safe).  GIMP's own
 * progress (gimp_progress_*) is not used: its Cancel kills the plug-in. */
static gboolean run_in_dialog(PluginRun *run, const DdimJob *job, int outputs,
                              DdimJobResult *result, GError **error) {
  Running running = {0};
  running.loop = g_main_loop_new(NULL, FALSE);
  running.view = run_view_new(run->dialog, run->kind, job->image, outputs, on_cancel, &running);
  WorkerCallbacks callbacks = {on_frame, on_finished_image, on_done};
  running.worker =
      plugin_worker_start(run->model, job, result, outputs, run_view_preview_side(running.view),
                          run_view_strip_side(running.view), &callbacks, &running);
  g_main_loop_run(running.loop);
  gboolean cancelled = plugin_worker_cancelled(running.worker);
  GError *job_error = NULL;
  gboolean ok = plugin_worker_join(running.worker, &job_error);
  run_view_free(running.view);
  g_main_loop_unref(running.loop);
  if (cancelled) {
    /* Nothing was written: the image is as it was, with no undo step. */
    g_clear_error(&job_error);
    ddim_job_result_clear(result);
    run->cancelled = TRUE;
    return FALSE;
  }
  if (!ok) g_propagate_error(error, job_error);
  return ok;
}

gboolean plugin_run_job(PluginRun *run, const DdimJob *job, DdimJobResult *result, GError **error) {
  DdimJobEstimate estimate;
  if (!ddim_job_estimate(run->model, job, &estimate, error)) return FALSE;
  if (run->run_mode == GIMP_RUN_INTERACTIVE && run->dialog)
    return run_in_dialog(run, job, estimate.outputs, result, error);
  gimp_progress_init_printf(_("DDIM %d/%d"), 0, estimate.evaluations);
  DdimJob with_progress = *job;
  with_progress.progress = report_progress;
  with_progress.progress_data = NULL;
  gboolean ok = ddim_job_run(run->model, &with_progress, result, error);
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
