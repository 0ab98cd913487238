/* procedures-interpolate.c — plug-in-ddim-interpolate: two layers are
 * inverted to their latents; K in-between frames are decoded from the
 * spherical interpolation of the two (DDIM paper eq. 67) and stacked between
 * them as animation frames: the lower layer is the first frame, frame k sits
 * at α = k/(K+1), and the frames go directly above the lower layer, in
 * order. */
#include "arguments.h"
#include "latent-parasite.h"
#include "run.h"

#include <glib/gi18n.h>
#include <string.h>

static GimpValueArray *interpolate_run(GimpProcedure *procedure, GimpRunMode run_mode,
                                       GimpImage *image, GimpDrawable **drawables,
                                       GimpProcedureConfig *config, gpointer data);

GimpProcedure *plugin_interpolate_new(GimpPlugIn *plug_in) {
  GimpProcedure *procedure = gimp_image_procedure_new(
      plug_in, PROC_INTERPOLATE, GIMP_PDB_PROC_TYPE_PLUGIN, interpolate_run, NULL, NULL);
  gimp_procedure_set_image_types(procedure, "RGB*, GRAY*");
  gimp_procedure_set_sensitivity_mask(procedure, GIMP_PROCEDURE_SENSITIVE_DRAWABLES);
  gimp_procedure_set_menu_label(procedure, _("_Interpolate..."));
  gimp_procedure_add_menu_path(procedure, MENU_PATH);
  gimp_procedure_set_documentation(
      procedure, _("In-between frames of two layers through their DDIM latents"),
      _("Select two layers. Both are inverted to their DDIM latents, and the in-between frames "
        "are decoded from the spherical interpolation of the two latents. The frames go above "
        "the lower of the two layers, in order, so that the layers play as an animation. They "
        "take the size and position of the lower layer, and keep their latents."),
      PROC_INTERPOLATE);
  gimp_procedure_set_attribution(procedure, "ddim for GIMP contributors",
                                 "ddim for GIMP contributors", "2025");

  plugin_add_model_argument(procedure);
  gimp_procedure_add_int_argument(procedure, "frames", _("_Frames"),
                                  _("Number of in-between frames (the two layers are the ends)"), 1,
                                  PLUGIN_MAX_FRAMES, 5, G_PARAM_READWRITE);
  plugin_add_steps_argument(procedure, FALSE);
  plugin_add_eta_argument(procedure);
  plugin_add_schedule_argument(procedure, FALSE);
  plugin_add_seed_argument(procedure);
  plugin_add_scale_argument(procedure);

  gimp_procedure_add_core_object_array_return_value(procedure, "layers", _("Layers"),
                                                    _("The in-between frames, in order"),
                                                    GIMP_TYPE_LAYER, G_PARAM_READWRITE);
  return procedure;
}

/* The two layers, lower one first; NULL-free or an error. */
static gboolean two_layers(GimpProcedure *procedure, GimpImage *image, GimpDrawable **drawables,
                           GimpLayer **first, GimpLayer **last, GError **error) {
  gsize count = drawables ? gimp_core_object_array_get_length((GObject **)drawables) : 0;
  if (count != 2) {
    g_set_error(error, GIMP_PLUG_IN_ERROR, 0,
                _("Procedure '%s' needs two selected layers (the first and the last frame), "
                  "but %d were given"),
                gimp_procedure_get_name(procedure), (int)count);
    return FALSE;
  }
  if (!plugin_check_layer(drawables[0], error) || !plugin_check_layer(drawables[1], error))
    return FALSE;
  plugin_interpolate_ends(image, drawables, first, last);
  return TRUE;
}

static gboolean interpolate(PluginRun *run, GimpImage *image, GimpLayer *first, GimpLayer *last,
                            GimpLayer ***layers_out, GError **error) {
  PluginPixels ends[2];
  plugin_pixels_read(GIMP_DRAWABLE(first), FALSE, 0, &ends[0], error);
  plugin_pixels_read(GIMP_DRAWABLE(last), FALSE, 0, &ends[1], error);
  DdimJob job;
  plugin_run_job_init(run, &job, NULL);
  /* At the first frame's size; the last is scaled to it if it differs. */
  ddim_job_fit_size(&job, run->model, ends[0].width, ends[0].height,
                    plugin_read_scale(run->config));
  size_t values = ddim_shape_elements(job.image);
  g_autofree float *inputs = g_new(float, 2 * values);
  for (int i = 0; i < 2; i++) {
    g_autofree float *tensor = plugin_pixels_to_tensor(&ends[i], job.image);
    memcpy(inputs + i * values, tensor, values * sizeof(float));
  }
  job.inputs = inputs;
  g_auto(DdimJobResult) result = {0};
  gboolean ok = plugin_run_job(run, &job, &result, error);
  if (ok) {
    const DdimModelInfo *info = ddim_model_get_info(run->model);
    int width = ends[0].width, height = ends[0].height;
    size_t area = (size_t)width * height;
    gboolean same_size = ends[1].width == width && ends[1].height == height;
    /* A model with alpha gives it only over ends that have transparency. */
    const gboolean opaque_ends =
        plugin_rgba_opaque(ends[0].rgba, area) &&
        plugin_rgba_opaque(ends[1].rgba, (size_t)ends[1].width * ends[1].height);
    gboolean alpha =
        ends[0].has_alpha || ends[1].has_alpha || (info->in_channels == 4 && !opaque_ends);
    g_autofree char *scaled = plugin_scaled_note(&job.image, width, height);
    float **frames = g_new0(float *, result.outputs);
    for (int k = 0; k < result.outputs; k++) {
      frames[k] = plugin_tensor_to_rgba(result.images + (size_t)k * values, job.image, width,
                                        height, ends[0].format);
      if (info->in_channels != 4 || opaque_ends) {
        /* The model has no alpha (or the ends none): blend the ends' transparency. */
        float t = (float)ddim_frame_alpha(job.frame_spacing, k, result.outputs);
        for (size_t i = 0; i < area; i++) {
          float from = ends[0].rgba[i * 4 + 3];
          float to = same_size ? ends[1].rgba[i * 4 + 3] : from;
          frames[k][i * 4 + 3] = (1.0f - t) * from + t * to;
        }
      }
    }

    gimp_image_undo_group_start(image);
    GimpLayer **layers = g_new0(GimpLayer *, result.outputs + 1);
    GimpLayer *below = first;
    for (int k = 0; k < result.outputs; k++) {
      g_autofree char *alpha_text =
          plugin_format_number(ddim_frame_alpha(job.frame_spacing, k, result.outputs));
      /* TRANSLATORS: a new layer's name, what differs first: frame k of K, its
         α, then nothing or " (scaled from 32×32)". */
      g_autofree char *name =
          g_strdup_printf(_("Frame %d/%d · α %s%s"), k + 1, result.outputs, alpha_text, scaled);
      GimpLayer *layer = plugin_layer_new(image, name, width, height, alpha);
      plugin_layer_insert_above(image, layer, below, ends[0].x, ends[0].y);
      plugin_layer_write(layer, frames[k]);
      g_autoptr(DdimLatent) latent = ddim_latent_new(
          info->identity, &result.latent_params, job.image, result.latents + (size_t)k * values);
      plugin_latent_attach(GIMP_ITEM(layer), latent, TRUE);
      layers[k] = below = layer;
      g_free(frames[k]);
    }
    gimp_image_undo_group_end(image);
    g_free(frames);
    *layers_out = layers;
  }
  plugin_pixels_clear(&ends[0]);
  plugin_pixels_clear(&ends[1]);
  return ok;
}

static GimpValueArray *interpolate_run(GimpProcedure *procedure, GimpRunMode run_mode,
                                       GimpImage *image, GimpDrawable **drawables,
                                       GimpProcedureConfig *config, gpointer data) {
  (void)data;
  PluginRun run;
  GError *error = NULL;
  GimpLayer **layers = NULL, *first = NULL, *last = NULL;
  plugin_run_init(&run, procedure, run_mode, config, DDIM_WORKFLOW_INTERPOLATE);
  gboolean ok = (two_layers(procedure, image, drawables, &first, &last, &error) ||
                 plugin_run_calling_error(&run)) &&
                plugin_run_begin(&run, image, drawables, NULL, &error) &&
                interpolate(&run, image, first, last, &layers, &error);
  GimpValueArray *result = plugin_run_result(&run, ok, error);
  if (ok) GIMP_VALUES_SET_CORE_OBJECT_ARRAY(result, 1, layers);
  g_free(layers);
  plugin_run_end(&run);
  return result;
}
