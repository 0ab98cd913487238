/* dialog-common.c — the model group, its information line and run-time
 * estimate, the seed box and grouping helpers shared by the dialogs.
 *
 * The estimate is ddim_job_estimate's FLOPs for the job the config
 * describes ÷ ddim_model_measure_throughput, measured on the model itself. */
#include "dialog-common.h"

#include <glib/gi18n.h>
#include <stdarg.h>
#include <string.h>

/* What the estimate assumes when the measurement fails. */
#define ASSUMED_FLOPS_PER_SECOND 30e9

void dialog_state_init(DialogState *state, GimpProcedureDialog *dialog, GimpProcedureConfig *config,
                       const DialogContext *context) {
  memset(state, 0, sizeof *state);
  state->dialog = dialog;
  state->config = config;
  state->context = context;
  state->kind = context->workflow;
}

void dialog_state_clear(DialogState *state) {
  if (state->update_source) g_source_remove(state->update_source);
  state->update_source = 0;
  if (state->config) g_signal_handlers_disconnect_by_data(state->config, state);
  if (state->seed_button) g_signal_handlers_disconnect_by_data(state->seed_button, state);
  g_clear_pointer(&state->model, ddim_model_free);
  g_clear_pointer(&state->model_path, g_free);
  g_clear_pointer(&state->model_error, g_free);
}

static void load_model(DialogState *state) {
  g_autoptr(GError) error = NULL;
  g_autofree char *path = state->context->model_path(state->config, &error);
  if (path && state->model_path && strcmp(path, state->model_path) == 0) return;
  g_clear_pointer(&state->model, ddim_model_free);
  g_clear_pointer(&state->model_error, g_free);
  g_free(state->model_path);
  state->model_path = g_strdup(path);
  state->flops_per_second = 0.0;
  if (path) state->model = ddim_model_load(path, &error);
  if (state->model == NULL) {
    state->model_error = g_strdup(error ? error->message : _("The model cannot be loaded"));
    return;
  }
  state->flops_per_second = ddim_model_measure_throughput(state->model);
}

char *dialog_format_duration(double seconds) {
  if (seconds < 1.0) return g_strdup(_("under a second"));
  if (seconds < 90.0) return g_strdup_printf(_("about %d s"), (int)(seconds + 0.5));
  if (seconds < 5400.0) return g_strdup_printf(_("about %d min"), (int)(seconds / 60.0 + 0.5));
  return g_strdup_printf(_("about %.1f h"), seconds / 3600.0);
}

static const char *channels_name(int channels) {
  switch (channels) {
  case 1:
    return _("grayscale");
  case 3:
    return _("RGB");
  case 4:
    return _("RGBA");
  }
  return "?";
}

/* How the images of width × height run: at the model's size, scaled to it
 * and back (the scale-to-model option, or a size the network cannot take),
 * or at their own size, in overlapping tiles of the model's resolution
 * when larger (the default). */
static void describe_size(const DdimModelInfo *info, const DdimJob *job,
                          const DdimJobEstimate *estimate, int width, int height,
                          gboolean generating, GString *text) {
  if (width == info->sample_width && height == info->sample_height) {
    if (generating) {
      g_string_append_c(text, '\n');
      g_string_append_printf(text, _("Images of %d×%d pixels (width and height 0: automatic)."),
                             width, height);
    }
    return;
  }
  g_string_append_c(text, '\n');
  if (job->image.w != width || job->image.h != height) {
    if (generating)
      g_string_append_printf(text, _("Images of %d×%d pixels, scaled from %d×%d."), width, height,
                             job->image.w, job->image.h);
    else
      g_string_append_printf(text, _("The layer (%d×%d) is scaled to %d×%d and back."), width,
                             height, job->image.w, job->image.h);
    return;
  }
  if (estimate->tiles > 1)
    g_string_append_printf(text,
                           generating ? _("Images of %d×%d pixels, made at that size in %d "
                                          "overlapping tiles of %d×%d: a patchwork of "
                                          "pictures (width and height 0 make one picture).")
                                      : _("The layer (%d×%d) runs at its own size, in %d "
                                          "overlapping tiles of %d×%d."),
                           width, height, estimate->tiles, estimate->tile_width,
                           estimate->tile_height);
  else
    g_string_append_printf(text,
                           generating ? _("Images of %d×%d pixels, made at that size.")
                                      : _("The layer (%d×%d) runs at its own size."),
                           width, height);
}

/* The run-time line: the job's FLOPs at the measured (or assumed) rate. */
static void describe_run_time(const DialogState *state, const DdimJobEstimate *estimate,
                              GString *text) {
  const double rate =
      state->flops_per_second > 0.0 ? state->flops_per_second : ASSUMED_FLOPS_PER_SECOND;
  g_autofree char *duration = dialog_format_duration(estimate->flops / rate);
  g_string_append_c(text, '\n');
  g_string_append_printf(text,
                         state->flops_per_second > 0.0
                             ? _("Run time: %s (%d network evaluations at %.1f GFLOP/s, "
                                 "measured).")
                             : _("Run time: %s (%d network evaluations at %.1f GFLOP/s, "
                                 "assumed)."),
                         duration, estimate->evaluations, rate / 1e9);
  if (!estimate->fits) {
    /* Weights, the network's working memory and the images, which the
     * estimate gives apart; their sum is what has to fit. */
    const double total = (double)estimate->weight_bytes + (double)estimate->activation_bytes +
                         (double)estimate->tensor_bytes;
    g_autofree char *needed = g_format_size_full(
        total >= (double)G_MAXUINT64 ? G_MAXUINT64 : (guint64)total, G_FORMAT_SIZE_IEC_UNITS);
    g_string_append_c(text, '\n');
    g_string_append_printf(text, _("This run needs %s, more than this machine can give it."),
                           needed);
  }
}

static void describe_latent(const DdimLatent *latent, const DdimModelInfo *info, GString *text) {
  char strength[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd(strength, sizeof strength, "%g", latent->strength);
  g_string_append_c(text, '\n');
  g_string_append_printf(text,
                         _("Stored latent: %d×%d, encoded with %d steps (%s), strength %s. "
                           "Steps 0 and the schedule \"As encoded\" decode it the same way."),
                         latent->shape.w, latent->shape.h, latent->steps,
                         ddim_schedule_name(latent->schedule), strength);
  if (g_strcmp0(latent->model_identity, info->identity) != 0) {
    g_string_append_c(text, '\n');
    g_string_append(text, _("This latent was made with another model; choose that model."));
  }
}

/* OK only for a run that can start; the test hook reports it. */
static void set_runnable(DialogState *state, gboolean runnable) {
  gtk_dialog_set_response_sensitive(GTK_DIALOG(state->dialog), GTK_RESPONSE_OK, runnable);
  if (g_getenv("DDIM_PLUGIN_TEST_REPORT"))
    g_printerr("ddim-plugin-test: %s OK %s\n", ddim_workflow_name(state->kind),
               runnable ? "sensitive" : "insensitive");
}

void dialog_update_info(DialogState *state) {
  if (state->info == NULL) return;
  load_model(state);
  GString *text = g_string_new(NULL);
  if (state->model == NULL) {
    g_string_append_printf(text, _("The model cannot be used: %s"), state->model_error);
    gtk_label_set_text(GTK_LABEL(state->info), text->str);
    g_string_free(text, TRUE);
    /* Nothing to run until another model is chosen. */
    set_runnable(state, FALSE);
    return;
  }
  const DdimModelInfo *info = ddim_model_get_info(state->model);
  g_string_append_printf(text, _("Resolution %d×%d, %s, %.1f million parameters."),
                         info->sample_width, info->sample_height, channels_name(info->in_channels),
                         info->parameter_count / 1e6);

  /* The job the config describes, as the plug-in will run it. */
  const DialogContext *context = state->context;
  DdimJob job;
  DdimJobEstimate estimate;
  int width = 0, height = 0;
  g_autoptr(GError) error = NULL;
  const gboolean described =
      context->describe(state->config, state->model, context->workflow, context->image,
                        context->drawables, context->latent, &job, &width, &height, &error) &&
      ddim_job_estimate(state->model, &job, &estimate, &error);
  /* OK only for a run that can start and fit (the line says why not). */
  set_runnable(state, described && estimate.fits);
  if (described) {
    describe_run_time(state, &estimate, text);
    if (state->kind != DDIM_WORKFLOW_DECODE)
      describe_size(info, &job, &estimate, width, height, state->kind == DDIM_WORKFLOW_GENERATE,
                    text);
  } else if (error) {
    g_string_append_c(text, '\n');
    g_string_append(text, error->message);
  }
  if (state->kind == DDIM_WORKFLOW_DECODE && context->latent)
    describe_latent(context->latent, info, text);
  gtk_label_set_text(GTK_LABEL(state->info), text->str);
  g_string_free(text, TRUE);
}

static gboolean update_idle(gpointer data) {
  DialogState *state = data;
  state->update_source = 0;
  dialog_update_info(state);
  return G_SOURCE_REMOVE;
}

static void on_config_notify(GObject *config, GParamSpec *pspec, gpointer data) {
  (void)config;
  (void)pspec;
  DialogState *state = data;
  if (state->update_source == 0) state->update_source = g_idle_add(update_idle, state);
}

/* The model chooser: a folder chooser (the argument itself takes any path,
 * which the plug-in checks), showing the default model by name when the
 * config names none, as a script's `#:model ""` leaves it. */
static void model_chooser(DialogState *state) {
  GParamSpec *pspec = g_object_class_find_property(G_OBJECT_GET_CLASS(state->config), "model");
  if (pspec && GIMP_IS_PARAM_SPEC_FILE(pspec))
    gimp_param_spec_file_set_action(pspec, GIMP_FILE_CHOOSER_ACTION_SELECT_FOLDER);
  g_autoptr(GFile) chosen = NULL;
  g_object_get(state->config, "model", &chosen, NULL);
  g_autofree char *chosen_path = chosen ? g_file_get_path(chosen) : NULL;
  if (chosen_path == NULL || *chosen_path == '\0') {
    g_autofree char *path = state->context->model_path(state->config, NULL);
    g_autoptr(GFile) model = path ? g_file_new_for_path(path) : NULL;
    if (model) g_object_set(state->config, "model", model, NULL);
  }
  gimp_procedure_dialog_get_widget(state->dialog, "model", G_TYPE_NONE);
  if (g_getenv("DDIM_PLUGIN_TEST_REPORT")) {
    /* For the GIMP dialog test: the model the chooser shows. */
    g_autoptr(GFile) shown = NULL;
    g_object_get(state->config, "model", &shown, NULL);
    g_autofree char *name = shown ? g_file_get_basename(shown) : g_strdup("(none)");
    g_printerr("ddim-plugin-test: %s model chooser shows %s\n", ddim_workflow_name(state->kind),
               name);
  }
}

void dialog_model_frame(DialogState *state) {
  GimpProcedureDialog *dialog = state->dialog;
  model_chooser(state);
  state->info = gimp_procedure_dialog_get_label(dialog, "model-info", "", FALSE, FALSE);
  gtk_label_set_xalign(GTK_LABEL(state->info), 0.0f);
  gtk_label_set_line_wrap(GTK_LABEL(state->info), TRUE);
  gtk_label_set_max_width_chars(GTK_LABEL(state->info), 56);
  gtk_label_set_selectable(GTK_LABEL(state->info), TRUE);
  dialog_frame(state, "model", _("Diffusion model"), "model", "model-info", NULL);
  g_signal_connect(state->config, "notify", G_CALLBACK(on_config_notify), state);
}

static void on_new_seed(GtkButton *button, gpointer data) {
  (void)button;
  DialogState *state = data;
  g_object_set(state->config, "seed", g_random_int_range(0, G_MAXINT), NULL);
}

void dialog_seed_box(DialogState *state) {
  GimpProcedureDialog *dialog = state->dialog;
  gimp_procedure_dialog_get_widget(dialog, "seed", GIMP_TYPE_LABEL_SPIN);
  GtkWidget *box = gimp_procedure_dialog_fill_box(dialog, "seed-box", "seed", NULL);
  gtk_orientable_set_orientation(GTK_ORIENTABLE(box), GTK_ORIENTATION_HORIZONTAL);
  gtk_box_set_spacing(GTK_BOX(box), 6);
  GtkWidget *button = gtk_button_new_with_label(_("New seed"));
  gtk_widget_set_tooltip_text(button, _("Draw a random seed"));
  gtk_widget_set_valign(button, GTK_ALIGN_CENTER);
  gtk_box_pack_end(GTK_BOX(box), button, FALSE, FALSE, 0);
  gtk_widget_show(button);
  g_signal_connect(button, "clicked", G_CALLBACK(on_new_seed), state);
  /* After OK the dialog outlives the state: dialog_state_clear disconnects. */
  state->seed_button = button;
}

void dialog_frame(DialogState *state, const char *id, const char *title, ...) {
  g_autofree char *title_id = g_strconcat(id, "-title", NULL);
  g_autofree char *box_id = g_strconcat(id, "-box", NULL);
  g_autofree char *frame_id = g_strconcat(id, "-frame", NULL);
  GList *children = NULL;
  va_list args;
  va_start(args, title);
  for (const char *child = va_arg(args, const char *); child; child = va_arg(args, const char *))
    children = g_list_append(children, (gpointer)child);
  va_end(args);
  gimp_procedure_dialog_get_label(state->dialog, title_id, title, FALSE, FALSE);
  gimp_procedure_dialog_fill_box_list(state->dialog, box_id, children);
  gimp_procedure_dialog_fill_frame(state->dialog, frame_id, title_id, FALSE, box_id);
  g_list_free(children);
}
