/* dialog-common.c — the model group, its information line and run-time
 * estimate, the seed box and grouping helpers shared by the dialogs.
 *
 * The estimate is ddim_model_flops of one image × the number of network
 * evaluations ÷ a throughput measured on the model itself: the fastest of
 * three evaluations after a warm-up one, at the model's resolution (halved
 * for large models, so that the measurement stays short). */
#include "dialog-common.h"

#include "arguments.h"
#include "job.h"
#include "latent-parasite.h"

#include <glib/gi18n.h>
#include <stdarg.h>
#include <string.h>

/* The calibration evaluation stays below this many FLOPs (about 0.1 s). */
#define CALIBRATION_MAX_FLOPS 1.5e9
/* What the estimate assumes when the measurement fails. */
#define ASSUMED_FLOPS_PER_SECOND 30e9

void dialog_state_init(DialogState *state, GimpProcedureDialog *dialog, GimpProcedureConfig *config,
                       PluginKind kind, GimpImage *image, GimpDrawable **drawables) {
  memset(state, 0, sizeof *state);
  state->dialog = dialog;
  state->config = config;
  state->kind = kind;
  state->image = image;
  if (drawables && drawables[0]) state->drawable = drawables[0];
  if (kind == PLUGIN_DECODE && state->drawable)
    state->latent = plugin_latent_read(GIMP_ITEM(state->drawable), NULL, NULL);
}

void dialog_state_clear(DialogState *state) {
  if (state->update_source) g_source_remove(state->update_source);
  state->update_source = 0;
  if (state->config) g_signal_handlers_disconnect_by_data(state->config, state);
  g_clear_pointer(&state->model, ddim_model_free);
  g_clear_pointer(&state->model_path, g_free);
  g_clear_pointer(&state->model_error, g_free);
  g_clear_pointer(&state->latent, ddim_latent_free);
}

/* Network throughput on this machine, measured on the model. */
static double measure_flops_per_second(DdimModel *model) {
  const DdimModelInfo *info = ddim_model_get_info(model);
  DdimShape shape = {1, info->in_channels, info->sample_height, info->sample_width};
  int multiple = MAX(info->size_multiple, 1);
  while (ddim_model_flops(model, shape) > CALIBRATION_MAX_FLOPS && shape.h / 2 >= multiple &&
         shape.w / 2 >= multiple && (shape.h / 2) % multiple == 0 &&
         (shape.w / 2) % multiple == 0) {
    shape.h /= 2;
    shape.w /= 2;
  }
  double flops = ddim_model_flops(model, shape);
  size_t count = ddim_shape_elements(shape);
  g_autofree float *x = g_new0(float, count);
  g_autofree float *eps = g_new(float, count);
  float timestep = (float)(info->num_train_timesteps / 2);
  /* The first run plans the memory; the fastest of the next three counts. */
  double best = 0.0;
  for (int i = 0; i < 4; i++) {
    gint64 start = g_get_monotonic_time();
    if (!ddim_model_eps(model, x, shape, &timestep, eps, NULL)) return 0.0;
    double seconds = (g_get_monotonic_time() - start) / 1e6;
    if (i > 0 && (best == 0.0 || seconds < best)) best = seconds;
  }
  return best > 0.0 && flops > 0.0 ? flops / best : 0.0;
}

static void load_model(DialogState *state) {
  g_autoptr(GError) error = NULL;
  g_autofree char *path = plugin_model_path(state->config, &error);
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
  state->flops_per_second = measure_flops_per_second(state->model);
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

/* Generate's image size: width/height, 0 meaning the image's (new layers in
 * an open image) or else the model's. */
static void generate_size(const DialogState *state, int *width, int *height) {
  const DdimModelInfo *info = ddim_model_get_info(state->model);
  *width = 0;
  *height = 0;
  g_object_get(state->config, "width", width, "height", height, NULL);
  const gboolean new_layers =
      gimp_procedure_config_get_choice_id(state->config, "output") == PLUGIN_OUTPUT_NEW_LAYER;
  const gboolean have_image = state->image && gimp_image_is_valid(state->image);
  if (*width == 0)
    *width = new_layers && have_image ? gimp_image_get_width(state->image) : info->sample_width;
  if (*height == 0)
    *height = new_layers && have_image ? gimp_image_get_height(state->image) : info->sample_height;
}

/* The job the dialog's current values describe (no pixels). */
static gboolean describe_job(DialogState *state, PluginJob *job, GError **error) {
  plugin_job_init(job, state->kind, state->model);
  gboolean schedule_stored = FALSE;
  plugin_read_params(state->config, &job->params, &schedule_stored);
  GObjectClass *klass = G_OBJECT_GET_CLASS(state->config);
  if (g_object_class_find_property(klass, "count"))
    g_object_get(state->config, "count", &job->count, NULL);
  if (g_object_class_find_property(klass, "frames"))
    g_object_get(state->config, "frames", &job->count, NULL);
  /* The size it runs at: the layer's (or Generate's width × height), tiled
   * when larger than the model, unless scaled to the model's. */
  const gboolean scale = plugin_read_scale(state->config);
  if (state->kind == PLUGIN_GENERATE) {
    int width, height;
    generate_size(state, &width, &height);
    plugin_job_set_size(job, width, height, scale);
  } else if (state->kind != PLUGIN_DECODE && state->drawable) {
    plugin_job_set_size(job, gimp_drawable_get_width(state->drawable),
                        gimp_drawable_get_height(state->drawable), scale);
  }
  if (state->kind == PLUGIN_DECODE) {
    if (state->latent == NULL) {
      g_set_error(error, GIMP_PLUG_IN_ERROR, 0, _("The layer holds no DDIM latent"));
      return FALSE;
    }
    plugin_job_set_size(job, state->latent->shape.w, state->latent->shape.h, FALSE);
    if (job->params.steps == 0) job->params.steps = state->latent->steps;
    if (schedule_stored) job->params.schedule = state->latent->schedule;
    job->params.strength = state->latent->strength;
  }
  return TRUE;
}

/* How an image of width × height runs: scaled to the model's size (the
 * scale-to-model option), or at its own size, in overlapping tiles of the
 * model's resolution when larger (the default). */
static void describe_size(DialogState *state, const DdimModelInfo *info, int width, int height,
                          gboolean generating, GString *text) {
  const gboolean scale = plugin_read_scale(state->config);
  if (width == info->sample_width && height == info->sample_height) {
    if (generating) {
      g_string_append_c(text, '\n');
      g_string_append_printf(text, _("Images of %d×%d pixels (width and height 0: automatic)."),
                             width, height);
    }
    return;
  }
  g_string_append_c(text, '\n');
  if (scale) {
    if (generating)
      g_string_append_printf(text, _("Images of %d×%d pixels, scaled from %d×%d."), width, height,
                             info->sample_width, info->sample_height);
    else
      g_string_append_printf(text, _("The layer (%d×%d) is scaled to %d×%d and back."), width,
                             height, info->sample_width, info->sample_height);
    return;
  }
  DdimParams params;
  ddim_params_init(&params);
  DdimShape shape = {1, info->in_channels, height, width};
  int tile_w = 0, tile_h = 0, tiles = 0;
  if (ddim_params_tiling(state->model, &params, shape, &tile_w, &tile_h, &tiles) && tiles > 1)
    g_string_append_printf(text,
                           generating ? _("Images of %d×%d pixels, made at that size in %d "
                                          "overlapping tiles of %d×%d.")
                                      : _("The layer (%d×%d) runs at its own size, in %d "
                                          "overlapping tiles of %d×%d."),
                           width, height, tiles, tile_w, tile_h);
  else
    g_string_append_printf(text,
                           generating ? _("Images of %d×%d pixels, made at that size.")
                                      : _("The layer (%d×%d) runs at its own size."),
                           width, height);
}

void dialog_update_info(DialogState *state) {
  if (state->info == NULL) return;
  load_model(state);
  GString *text = g_string_new(NULL);
  if (state->model == NULL) {
    g_string_append_printf(text, _("The model cannot be used: %s"), state->model_error);
    gtk_label_set_text(GTK_LABEL(state->info), text->str);
    g_string_free(text, TRUE);
    return;
  }
  const DdimModelInfo *info = ddim_model_get_info(state->model);
  g_string_append_printf(text, _("Resolution %d×%d, %s, %.1f million parameters."),
                         info->sample_width, info->sample_height, channels_name(info->in_channels),
                         info->parameter_count / 1e6);

  PluginJob job;
  g_autoptr(GError) error = NULL;
  double evaluations = -1.0;
  if (describe_job(state, &job, &error)) evaluations = plugin_job_image_evaluations(&job, &error);
  if (evaluations > 0.0) {
    DdimShape one = {1, info->in_channels, info->sample_height, info->sample_width};
    double rate =
        state->flops_per_second > 0.0 ? state->flops_per_second : ASSUMED_FLOPS_PER_SECOND;
    g_autofree char *duration =
        dialog_format_duration(ddim_model_flops(state->model, one) * evaluations / rate);
    g_string_append_c(text, '\n');
    g_string_append_printf(text,
                           state->flops_per_second > 0.0
                               ? _("Run time: %s (%d network evaluations at %.1f GFLOP/s, "
                                   "measured).")
                               : _("Run time: %s (%d network evaluations at %.1f GFLOP/s, "
                                   "assumed)."),
                           duration, (int)evaluations, rate / 1e9);
  } else if (error) {
    g_string_append_c(text, '\n');
    g_string_append(text, error->message);
  }
  plugin_job_clear(&job);

  if (state->kind == PLUGIN_GENERATE) {
    int width, height;
    generate_size(state, &width, &height);
    describe_size(state, info, width, height, TRUE, text);
  } else if (state->drawable && state->kind != PLUGIN_DECODE) {
    describe_size(state, info, gimp_drawable_get_width(state->drawable),
                  gimp_drawable_get_height(state->drawable), FALSE, text);
  }
  if (state->kind == PLUGIN_DECODE && state->latent) {
    const DdimLatent *latent = state->latent;
    g_autofree char *strength = plugin_format_number(latent->strength);
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

void dialog_model_frame(DialogState *state) {
  GimpProcedureDialog *dialog = state->dialog;
  gimp_procedure_dialog_get_widget(dialog, "model", G_TYPE_NONE);
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
