/* run.c — the parts of a procedure run that all procedures share. */
#include "run.h"

#include "arguments.h"
#include "dialogs.h"
#include "run-view.h"
#include "worker.h"

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
  if (run->run_mode == GIMP_RUN_INTERACTIVE) {
    if (!plugin_dialog_run(run->procedure, run->config, run->kind, image, drawables,
                           &run->dialog)) {
      run->cancelled = TRUE;
      return FALSE;
    }
    /* The user may close it at any time; the pointer then becomes NULL. */
    g_object_add_weak_pointer(G_OBJECT(run->dialog), (gpointer *)&run->dialog);
  }
  run->model_path = plugin_model_path(run->config, error);
  if (run->model_path) run->model = ddim_model_load(run->model_path, error);
  /* A model that is missing or malformed is a bad "model" argument. */
  if (run->model == NULL) return plugin_run_calling_error(run);
  return TRUE;
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

static void report_progress(const PluginJobStep *step, gpointer data) {
  (void)data;
  /* TRANSLATORS: progress text: network evaluations done of all. */
  gimp_progress_set_text_printf(_("DDIM %d/%d"), step->done, step->total);
  gimp_progress_update(step->total > 0 ? (double)step->done / step->total : 1.0);
}

/* ---- Interactive: a worker thread and the running dialog ---------------- */

typedef struct {
  RunView *view;
  PluginWorker *worker;
  GMainLoop *loop;
} Running;

static void on_frame(const WorkerFrame *frame, gpointer data) {
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
static gboolean run_in_dialog(PluginRun *run, PluginJob *job, GError **error) {
  Running running = {0};
  running.loop = g_main_loop_new(NULL, FALSE);
  running.view = run_view_new(run->dialog, run->kind, job->image, job->count, on_cancel, &running);
  WorkerCallbacks callbacks = {on_frame, on_finished_image, on_done};
  running.worker = plugin_worker_start(job, run_view_preview_side(running.view),
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
    run->cancelled = TRUE;
    return FALSE;
  }
  if (!ok) g_propagate_error(error, job_error);
  return ok;
}

gboolean plugin_run_job(PluginRun *run, PluginJob *job, GError **error) {
  int total = plugin_job_evaluations(job, error);
  if (total < 0) return FALSE;
  if (run->run_mode == GIMP_RUN_INTERACTIVE && run->dialog) return run_in_dialog(run, job, error);
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
