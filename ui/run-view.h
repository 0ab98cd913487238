/* run-view.h — the running state of a procedure dialog: after OK, the
 * parameters are greyed out and the dialog shows the image forming (x̂_0
 * after every network evaluation, over a checkerboard where the model has
 * alpha), a strip of finished images for runs that make several, a progress
 * bar with the step and the time left, and Cancel.  Closing the window is
 * Cancel too.  Main thread only (GTK). */
#ifndef DDIM_UI_RUN_VIEW_H
#define DDIM_UI_RUN_VIEW_H

#include <libgimp/gimpui.h>

#include "ddim-job.h"
#include "preview-image.h"

/* One network evaluation as the view shows it (made on the worker thread
 * that runs the job, shown on the main thread). */
typedef struct {
  PreviewImage *image; /* the batch's first image: x_t while encoding, x̂_0 while decoding */
  DdimPhase phase;
  int step, steps; /* in this phase of the current batch */
  int done, total; /* network evaluations over the whole job */
  double seconds;  /* since the job started */
} RunViewFrame;

typedef struct RunView RunView;

/* Switches `dialog` (a GimpProcedureDialog after OK) to the running state.
 * `outputs` > 1 adds the strip.  on_cancel runs (once) on Cancel or close. */
RunView *run_view_new(GtkWidget *dialog, DdimWorkflow kind, DdimShape image, int outputs,
                      void (*on_cancel)(gpointer data), gpointer data);

/* The size a preview fits in, and a strip image (0: no strip). */
int run_view_preview_side(const RunView *view);
int run_view_strip_side(const RunView *view);

void run_view_show_frame(RunView *view, const RunViewFrame *frame);
void run_view_show_finished(RunView *view, int output, const PreviewImage *image);

/* Disconnects from the dialog (which stays, in its running look, until the
 * caller destroys it) and frees the view. */
void run_view_free(RunView *view);

#endif
