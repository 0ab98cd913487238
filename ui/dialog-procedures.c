/* dialog-procedures.c — the layout of each DDIM procedure's dialog: the model
 * group first, then what the procedure makes, then the sampling settings. */
#include "dialog-common.h"

#include <glib/gi18n.h>

static const char *dialog_title(DdimWorkflow kind) {
  switch (kind) {
  case DDIM_WORKFLOW_GENERATE:
    return _("DDIM Generate");
  case DDIM_WORKFLOW_RECONSTRUCT:
    return _("DDIM Reconstruct");
  case DDIM_WORKFLOW_VARY:
    return _("DDIM Vary");
  case DDIM_WORKFLOW_INTERPOLATE:
    return _("DDIM Interpolate");
  case DDIM_WORKFLOW_ENCODE:
    return _("DDIM Encode Latent");
  case DDIM_WORKFLOW_DECODE:
    return _("DDIM Decode Latent");
  }
  return "DDIM";
}

/* The widgets of the numeric arguments, as sliders where a range helps. */
static void sampling_widgets(GimpProcedureDialog *dialog, DdimWorkflow kind) {
  GtkWidget *steps = gimp_procedure_dialog_get_scale_entry(dialog, "steps", 1.0);
  /* The slider covers the useful range; the entry takes the argument's
   * whole range (up to 1000): limit_scale TRUE limits the slider only. */
  gimp_scale_entry_set_bounds(GIMP_SCALE_ENTRY(steps), kind == DDIM_WORKFLOW_DECODE ? 0.0 : 1.0,
                              200.0, TRUE);
  if (g_getenv("DDIM_PLUGIN_TEST_REPORT")) {
    /* For the GIMP dialog test: the range the Steps entry accepts. */
    GtkSpinButton *spin = GTK_SPIN_BUTTON(gimp_label_spin_get_spin_button(GIMP_LABEL_SPIN(steps)));
    double lower = 0.0, upper = 0.0;
    gtk_spin_button_get_range(spin, &lower, &upper);
    g_printerr("ddim-plugin-test: %s steps entry %g-%g\n", ddim_workflow_name(kind), lower, upper);
  }
  if (kind != DDIM_WORKFLOW_RECONSTRUCT && kind != DDIM_WORKFLOW_ENCODE)
    gimp_procedure_dialog_get_spin_scale(dialog, "eta", 1.0);
  if (kind == DDIM_WORKFLOW_VARY || kind == DDIM_WORKFLOW_ENCODE)
    gimp_procedure_dialog_get_spin_scale(dialog, "strength", 1.0);
}

static void layout(DialogState *state) {
  GimpProcedureDialog *dialog = state->dialog;
  dialog_model_frame(state);
  sampling_widgets(dialog, state->kind);
  switch (state->kind) {
  case DDIM_WORKFLOW_GENERATE:
    dialog_seed_box(state);
    dialog_frame(state, "images", _("Images"), "count", "width", "height", "output",
                 "scale-to-model", NULL);
    dialog_frame(state, "sampling", _("Sampling"), "steps", "eta", "schedule", "seed-box", NULL);
    gimp_procedure_dialog_fill(dialog, "model-frame", "images-frame", "sampling-frame", NULL);
    break;
  case DDIM_WORKFLOW_RECONSTRUCT:
    dialog_frame(state, "sampling", _("Sampling"), "steps", "schedule", "scale-to-model", NULL);
    gimp_procedure_dialog_fill(dialog, "model-frame", "sampling-frame", NULL);
    break;
  case DDIM_WORKFLOW_VARY:
    dialog_seed_box(state);
    dialog_frame(state, "variations", _("Variations"), "strength", "count", "scale-to-model", NULL);
    dialog_frame(state, "sampling", _("Sampling"), "steps", "eta", "schedule", "seed-box", NULL);
    gimp_procedure_dialog_fill(dialog, "model-frame", "variations-frame", "sampling-frame", NULL);
    break;
  case DDIM_WORKFLOW_INTERPOLATE:
    dialog_seed_box(state);
    dialog_frame(state, "animation", _("Animation"), "frames", "scale-to-model", NULL);
    dialog_frame(state, "sampling", _("Sampling"), "steps", "eta", "schedule", "seed-box", NULL);
    gimp_procedure_dialog_fill(dialog, "model-frame", "animation-frame", "sampling-frame", NULL);
    break;
  case DDIM_WORKFLOW_ENCODE:
    dialog_frame(state, "sampling", _("Inversion"), "steps", "schedule", "strength",
                 "scale-to-model", NULL);
    gimp_procedure_dialog_fill(dialog, "model-frame", "sampling-frame", NULL);
    break;
  case DDIM_WORKFLOW_DECODE:
    dialog_seed_box(state);
    dialog_frame(state, "sampling", _("Sampling"), "steps", "eta", "schedule", "seed-box", NULL);
    gimp_procedure_dialog_fill(dialog, "model-frame", "sampling-frame", NULL);
    break;
  }
}

gboolean dialog_run(GimpProcedure *procedure, GimpProcedureConfig *config,
                    const DialogContext *context, GtkWidget **dialog_out, DdimModel **model_out,
                    char **model_path_out) {
  GtkWidget *dialog = gimp_procedure_dialog_new(procedure, config, dialog_title(context->workflow));
  DialogState state;
  dialog_state_init(&state, GIMP_PROCEDURE_DIALOG(dialog), config, context);
  layout(&state);
  dialog_update_info(&state);
  gboolean ok = gimp_procedure_dialog_run(GIMP_PROCEDURE_DIALOG(dialog));
  *model_out = NULL;
  *model_path_out = NULL;
  if (ok) {
    /* The run uses the model the estimate was measured on. */
    *model_out = g_steal_pointer(&state.model);
    *model_path_out = g_steal_pointer(&state.model_path);
  }
  /* Before the widgets go: the state disconnects its handlers from them. */
  dialog_state_clear(&state);
  if (ok) {
    *dialog_out = dialog;
  } else {
    gtk_widget_destroy(dialog);
    *dialog_out = NULL;
  }
  return ok;
}
