/* worker.c — a job on a worker thread (see worker.h). */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>

struct PluginWorker {
  DdimModel *model;
  DdimJob job; /* the caller's, with this worker's progress and abort */
  DdimJobResult *result;
  GCancellable *cancellable;
  GThread *thread;
  int preview_side, strip_side;
  WorkerCallbacks callbacks;
  gpointer data;
  gint64 start_us;
  /* Test hook: DDIM_PLUGIN_TEST_STEP_DELAY_MS slows every evaluation, so
   * that a test driving the dialog from outside (xdotool) acts mid-run. */
  int step_delay_ms;
  int done_atomic;  /* evaluations finished, read by the main thread */
  int cancelled_at; /* done_atomic when cancel was asked; -1 before */

  /* The hand-over slot, under lock. */
  GMutex lock;
  RunViewFrame *pending;
  PreviewImage **finished; /* per output, not yet shown */
  int outputs;
  gboolean idle_queued;
  gboolean thread_done;

  /* The result, read after the join. */
  gboolean ok;
  GError *error;
};

static void frame_free(RunViewFrame *frame) {
  if (frame == NULL) return;
  preview_image_free(frame->image);
  g_free(frame);
}

/* Main thread: shows what the slot holds. */
static gboolean deliver(gpointer data) {
  PluginWorker *worker = data;
  g_mutex_lock(&worker->lock);
  RunViewFrame *frame = g_steal_pointer(&worker->pending);
  PreviewImage **finished = NULL;
  if (worker->finished) {
    finished = g_new0(PreviewImage *, worker->outputs);
    for (int k = 0; k < worker->outputs; k++) finished[k] = g_steal_pointer(&worker->finished[k]);
  }
  gboolean thread_done = worker->thread_done;
  worker->idle_queued = FALSE;
  g_mutex_unlock(&worker->lock);

  if (frame && worker->callbacks.frame) worker->callbacks.frame(frame, worker->data);
  frame_free(frame);
  for (int k = 0; finished && k < worker->outputs; k++) {
    if (finished[k] && worker->callbacks.finished_image)
      worker->callbacks.finished_image(k, finished[k], worker->data);
    preview_image_free(finished[k]);
  }
  g_free(finished);
  if (thread_done && worker->callbacks.done) worker->callbacks.done(worker->data);
  return G_SOURCE_REMOVE;
}

/* Worker thread, lock held. */
static void queue_delivery(PluginWorker *worker) {
  if (worker->idle_queued) return;
  worker->idle_queued = TRUE;
  /* An idle source always queues on the main context (g_main_context_invoke
   * could run the callback here, on the worker).  Default priority, not the
   * idle one: GTK's relayouts and redraws (priority 110–120) must not starve
   * the frames; one delivery at a time leaves them room between frames. */
  g_idle_add_full(G_PRIORITY_DEFAULT, deliver, worker, NULL);
}

/* Worker thread: after every network evaluation. */
static gboolean on_step(const DdimJobProgress *step, gpointer data) {
  PluginWorker *worker = data;
  const DdimProgress *batch = step->step;
  /* Inside a tiled step: only a chance to cancel. */
  if (batch->tiles_done < batch->tiles_total)
    return !g_cancellable_is_cancelled(worker->cancellable);
  g_atomic_int_set(&worker->done_atomic, step->done);
  if (worker->step_delay_ms > 0 && !g_cancellable_is_cancelled(worker->cancellable))
    g_usleep((gulong)worker->step_delay_ms * 1000);

  RunViewFrame *frame = g_new0(RunViewFrame, 1);
  /* Inversion shows x_t rising toward noise; sampling the prediction x̂_0. */
  const float *shown = batch->phase == DDIM_PHASE_ENCODE ? batch->x_t : batch->x0_pred;
  frame->image = preview_image_new(shown, batch->shape, 0, worker->preview_side);
  frame->phase = batch->phase;
  frame->step = batch->step;
  frame->steps = batch->total;
  frame->done = step->done;
  frame->total = step->total;
  frame->seconds = (g_get_monotonic_time() - worker->start_us) / 1e6;

  /* The batch's last step: x_t is the finished images (ᾱ_prev = 1). */
  PreviewImage **finished = NULL;
  int first = step->first_output;
  if (worker->strip_side > 0 && first >= 0 && batch->step == batch->total) {
    finished = g_new0(PreviewImage *, batch->shape.n);
    for (int k = 0; k < batch->shape.n && first + k < worker->outputs; k++)
      finished[k] = preview_image_new(batch->x_t, batch->shape, k, worker->strip_side);
  }

  g_mutex_lock(&worker->lock);
  frame_free(worker->pending); /* a frame never shown: only the newest counts */
  worker->pending = frame;
  for (int k = 0; finished && k < batch->shape.n && first + k < worker->outputs; k++) {
    preview_image_free(worker->finished[first + k]);
    worker->finished[first + k] = finished[k];
  }
  queue_delivery(worker);
  g_mutex_unlock(&worker->lock);
  g_free(finished);
  return !g_cancellable_is_cancelled(worker->cancellable);
}

static gboolean should_abort(gpointer data) {
  return g_cancellable_is_cancelled(G_CANCELLABLE(data));
}

static gpointer run_thread(gpointer data) {
  PluginWorker *worker = data;
  GError *error = NULL;
  gboolean ok = ddim_job_run(worker->model, &worker->job, worker->result, &error);
  g_mutex_lock(&worker->lock);
  worker->ok = ok;
  worker->error = error;
  worker->thread_done = TRUE;
  queue_delivery(worker);
  g_mutex_unlock(&worker->lock);
  return NULL;
}

PluginWorker *plugin_worker_start(DdimModel *model, const DdimJob *job, DdimJobResult *result,
                                  int outputs, int preview_side, int strip_side,
                                  const WorkerCallbacks *callbacks, gpointer data) {
  PluginWorker *worker = g_new0(PluginWorker, 1);
  worker->model = model;
  worker->job = *job;
  worker->result = result;
  worker->cancellable = g_cancellable_new();
  worker->preview_side = preview_side;
  worker->strip_side = strip_side;
  worker->callbacks = *callbacks;
  worker->data = data;
  worker->cancelled_at = -1;
  const char *delay = g_getenv("DDIM_PLUGIN_TEST_STEP_DELAY_MS");
  worker->step_delay_ms = delay ? CLAMP(atoi(delay), 0, 10000) : 0;
  worker->outputs = MAX(outputs, 1);
  worker->finished = g_new0(PreviewImage *, worker->outputs);
  g_mutex_init(&worker->lock);
  worker->job.progress = on_step;
  worker->job.progress_data = worker;
  worker->job.abort = should_abort;
  worker->job.abort_data = worker->cancellable;
  worker->start_us = g_get_monotonic_time();
  worker->thread = g_thread_new("ddim-job", run_thread, worker);
  return worker;
}

void plugin_worker_cancel(PluginWorker *worker) {
  if (g_cancellable_is_cancelled(worker->cancellable)) return;
  worker->cancelled_at = g_atomic_int_get(&worker->done_atomic);
  g_cancellable_cancel(worker->cancellable);
}

gboolean plugin_worker_cancelled(PluginWorker *worker) {
  return g_cancellable_is_cancelled(worker->cancellable);
}

gboolean plugin_worker_join(PluginWorker *worker, GError **error) {
  g_thread_join(worker->thread);
  if (worker->step_delay_ms > 0 && worker->cancelled_at >= 0)
    /* For the dialog test: how far the run went after Cancel. */
    fprintf(stderr, "ddim-plugin-test: cancel after evaluation %d, stopped after evaluation %d\n",
            worker->cancelled_at, g_atomic_int_get(&worker->done_atomic));
  /* The main loop has quit: a delivery still queued would outlive us. */
  while (g_idle_remove_by_data(worker)) {
  }
  gboolean ok = worker->ok;
  if (!ok) g_propagate_error(error, g_steal_pointer(&worker->error));
  g_clear_error(&worker->error);
  frame_free(worker->pending);
  for (int k = 0; k < worker->outputs; k++) preview_image_free(worker->finished[k]);
  g_free(worker->finished);
  g_mutex_clear(&worker->lock);
  g_object_unref(worker->cancellable);
  g_free(worker);
  return ok;
}
