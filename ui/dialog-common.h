/* dialog-common.h — parts every DDIM dialog has: the model group with its
 * information line (resolution, run-time estimate), the sampling group and
 * the seed with its "New seed" button. */
#ifndef DDIM_UI_DIALOG_COMMON_H
#define DDIM_UI_DIALOG_COMMON_H

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>

#include "dialogs.h"

typedef struct {
  GimpProcedureDialog *dialog;
  GimpProcedureConfig *config;
  const DialogContext *context;
  DdimWorkflow kind;
  GtkWidget *info; /* the information line */
  /* The model the line describes, loaded when the "model" argument changes. */
  char *model_path;
  DdimModel *model;
  char *model_error;
  double flops_per_second; /* measured on the model, 0 = not measured */
  guint update_source;
  GtkWidget *seed_button; /* "New seed", whose handler points at this state */
} DialogState;

void dialog_state_init(DialogState *state, GimpProcedureDialog *dialog, GimpProcedureConfig *config,
                       const DialogContext *context);
void dialog_state_clear(DialogState *state);

/* "model-frame": the model chooser and the information line. */
void dialog_model_frame(DialogState *state);

/* "seed-box": the seed and a button that draws a new one. */
void dialog_seed_box(DialogState *state);

/* A frame "<id>-frame" titled `title` around the given widgets (property
 * names or container ids), NULL-terminated. */
void dialog_frame(DialogState *state, const char *id, const char *title,
                  ...) G_GNUC_NULL_TERMINATED;

/* "about 12 s", "about 3 min", … (g_free it). */
char *dialog_format_duration(double seconds);

/* Recomputes the information line (now, and whenever the config changes). */
void dialog_update_info(DialogState *state);

#endif
