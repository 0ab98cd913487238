/* worker.h — a job on a worker thread, with its previews handed to the main
 * loop (the interactive runs; Script-Fu runs keep ddim_job_run on the main
 * thread).
 *
 * The worker thread touches only plain memory: the job's tensors and the
 * model.  After every network evaluation it turns the current image into a
 * PreviewImage and puts it in a one-frame slot under a mutex, replacing a
 * frame the main loop has not shown yet (so a slow main loop sees the newest
 * frame, never a queue); one idle source at a time carries the slot to the
 * main thread, where the callbacks run.  Finished images (the last step of a
 * batch) are kept per output, so none is lost to a newer frame.
 *
 * Cancel (any thread) sets a GCancellable, which is an atomic flag: the job
 * sees it after the current evaluation (the progress callback) and the
 * model's abort check sees it between U-Net blocks, so a run stops within a
 * block of the network. */
#ifndef DDIM_PLUGIN_WORKER_H
#define DDIM_PLUGIN_WORKER_H

#include "ddim-job.h"
#include "run-view.h"

typedef struct {
  void (*frame)(const RunViewFrame *frame, gpointer data);
  void (*finished_image)(int output, const PreviewImage *image, gpointer data);
  void (*done)(gpointer data); /* the thread has finished (or stopped) */
} WorkerCallbacks;

typedef struct PluginWorker PluginWorker;

/* Runs ddim_job_run(model, job, result) on a new thread (the job is copied;
 * the model, the job's inputs and the result are borrowed until
 * plugin_worker_join).  `outputs`: the job's outputs (for the strip).  Main
 * previews fit in preview_side², finished images in strip_side² (0: none
 * are made). */
PluginWorker *plugin_worker_start(DdimModel *model, const DdimJob *job, DdimJobResult *result,
                                  int outputs, int preview_side, int strip_side,
                                  const WorkerCallbacks *callbacks, gpointer data);

/* Asks the worker to stop (any thread; idempotent). */
void plugin_worker_cancel(PluginWorker *worker);
gboolean plugin_worker_cancelled(PluginWorker *worker);

/* Waits for the thread (the job removes the model's abort check) and frees
 * the worker; the job's result: TRUE, or FALSE with an error (cancelled runs:
 * DDIM_ERROR_CANCELLED). */
gboolean plugin_worker_join(PluginWorker *worker, GError **error);

#endif
