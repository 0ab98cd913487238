/* dialog-procedures.c — the layout of each DDIM procedure's dialog: the model
 * group first, then what the procedure makes, then the sampling settings. */
#include "dialog-common.h"
#include "dialogs.h"

#include <glib/gi18n.h>

static const char *dialog_title(PluginKind kind) {
  switch (kind) {
  case PLUGIN_GENERATE:
    return _("DDIM Generate");
  case PLUGIN_RECONSTRUCT:
    return _("DDIM Reconstruct");
  case PLUGIN_VARY:
    return _("DDIM Vary");
  case PLUGIN_INTERPOLATE:
    return _("DDIM Interpolate");
  case PLUGIN_ENCODE:
    return _("DDIM Encode Latent");
  case PLUGIN_DECODE:
    return _("DDIM Decode Latent");
  }
  return "DDIM";
}

/* The widgets of the numeric arguments, as sliders where a range helps. */
static void sampling_widgets(GimpProcedureDialog *dialog, PluginKind kind) {
  GtkWidget *steps = gimp_procedure_dialog_get_scale_entry(dialog, "steps", 1.0);
  /* The slider covers the useful range; the entry takes up to 1000. */
  gimp_scale_entry_set_bounds(GIMP_SCALE_ENTRY(steps), kind == PLUGIN_DECODE ? 0.0 : 1.0, 200.0,
                              FALSE);
  if (kind != PLUGIN_RECONSTRUCT && kind != PLUGIN_ENCODE)
    gimp_procedure_dialog_get_spin_scale(dialog, "eta", 1.0);
  if (kind == PLUGIN_VARY || kind == PLUGIN_ENCODE)
    gimp_procedure_dialog_get_spin_scale(dialog, "strength", 1.0);
}

static void layout(DialogState *state) {
  GimpProcedureDialog *dialog = state->dialog;
  dialog_model_frame(state);
  sampling_widgets(dialog, state->kind);
  switch (state->kind) {
  case PLUGIN_GENERATE:
    dialog_seed_box(state);
    dialog_frame(state, "images", _("Images"), "count", "width", "height", "output",
                 "scale-to-model", NULL);
    dialog_frame(state, "sampling", _("Sampling"), "steps", "eta", "schedule", "seed-box", NULL);
    gimp_procedure_dialog_fill(dialog, "model-frame", "images-frame", "sampling-frame", NULL);
    break;
  case PLUGIN_RECONSTRUCT:
    dialog_frame(state, "sampling", _("Sampling"), "steps", "schedule", "scale-to-model", NULL);
    gimp_procedure_dialog_fill(dialog, "model-frame", "sampling-frame", NULL);
    break;
  case PLUGIN_VARY:
    dialog_seed_box(state);
    dialog_frame(state, "variations", _("Variations"), "strength", "count", "scale-to-model", NULL);
    dialog_frame(state, "sampling", _("Sampling"), "steps", "eta", "schedule", "seed-box", NULL);
    gimp_procedure_dialog_fill(dialog, "model-frame", "variations-frame", "sampling-frame", NULL);
    break;
  case PLUGIN_INTERPOLATE:
    dialog_seed_box(state);
    dialog_frame(state, "animation", _("Animation"), "frames", "scale-to-model", NULL);
    dialog_frame(state, "sampling", _("Sampling"), "steps", "eta", "schedule", "seed-box", NULL);
    gimp_procedure_dialog_fill(dialog, "model-frame", "animation-frame", "sampling-frame", NULL);
    break;
  case PLUGIN_ENCODE:
    dialog_frame(state, "sampling", _("Inversion"), "steps", "schedule", "strength",
                 "scale-to-model", NULL);
    gimp_procedure_dialog_fill(dialog, "model-frame", "sampling-frame", NULL);
    break;
  case PLUGIN_DECODE:
    dialog_seed_box(state);
    dialog_frame(state, "sampling", _("Sampling"), "steps", "eta", "schedule", "seed-box", NULL);
    gimp_procedure_dialog_fill(dialog, "model-frame", "sampling-frame", NULL);
    break;
  }
}

gboolean plugin_dialog_run(GimpProcedure *procedure, GimpProcedureConfig *config, PluginKind kind,
                           GimpImage *image, GimpDrawable **drawables, GtkWidget **dialog_out) {
  gimp_ui_init(PLUG_IN_BINARY);
  GtkWidget *dialog = gimp_procedure_dialog_new(procedure, config, dialog_title(kind));
  DialogState state;
  dialog_state_init(&state, GIMP_PROCEDURE_DIALOG(dialog), config, kind, image, drawables);
  layout(&state);
  dialog_update_info(&state);
  gboolean ok = gimp_procedure_dialog_run(GIMP_PROCEDURE_DIALOG(dialog));
  dialog_state_clear(&state);
  if (ok) {
    *dialog_out = dialog;
  } else {
    gtk_widget_destroy(dialog);
    *dialog_out = NULL;
  }
  return ok;
}
