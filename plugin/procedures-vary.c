/* procedures-vary.c — plug-in-ddim-vary: SDEdit variations of a layer (noise
 * up to the strength level, then DDIM back).  With a selection, the model
 * sees the selection's bounding box (with half a tile of context around it)
 * and the selection is the mask of a masked run: outside it the image keeps
 * its own trajectory, so the regenerated part blends in; each variation is
 * then composited over the original through the same mask, so unselected
 * pixels stay exactly as they were. */
#include "arguments.h"
#include "run.h"

#include <glib/gi18n.h>

static GimpValueArray *vary_run(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                GimpDrawable **drawables, GimpProcedureConfig *config,
                                gpointer data);

GimpProcedure *plugin_vary_new(GimpPlugIn *plug_in) {
  GimpProcedure *procedure =
      gimp_image_procedure_new(plug_in, PROC_VARY, GIMP_PDB_PROC_TYPE_PLUGIN, vary_run, NULL, NULL);
  gimp_procedure_set_image_types(procedure, "RGB*, GRAY*");
  gimp_procedure_set_sensitivity_mask(procedure, GIMP_PROCEDURE_SENSITIVE_DRAWABLE);
  gimp_procedure_set_menu_label(procedure, _("_Vary..."));
  gimp_procedure_add_menu_path(procedure, MENU_PATH);
  gimp_procedure_set_documentation(
      procedure, _("Make variations of a layer with a diffusion model (SDEdit)"),
      _("Adds seeded noise to the layer up to the chosen strength and removes it again with "
        "DDIM, which gives a variation that keeps the layout of the original. Each variation "
        "goes on its own layer above (seeds seed to seed + count - 1). With a selection, only "
        "the selected part changes."),
      PROC_VARY);
  gimp_procedure_set_attribution(procedure, "ddim for GIMP contributors",
                                 "ddim for GIMP contributors", "2025");

  plugin_add_model_argument(procedure);
  plugin_add_strength_argument(procedure, 0.5);
  plugin_add_steps_argument(procedure, FALSE);
  plugin_add_eta_argument(procedure);
  plugin_add_schedule_argument(procedure, FALSE);
  plugin_add_seed_argument(procedure);
  plugin_add_count_argument(procedure);
  plugin_add_scale_argument(procedure);

  gimp_procedure_add_core_object_array_return_value(procedure, "layers", _("Layers"),
                                                    _("The new layers, first seed first"),
                                                    GIMP_TYPE_LAYER, G_PARAM_READWRITE);
  return procedure;
}

static gboolean vary(PluginRun *run, GimpImage *image, GimpLayer *source, GimpLayer ***layers_out,
                     GError **error) {
  PluginPixels pixels;
  const DdimModelInfo *info = ddim_model_get_info(run->model);
  const gboolean scale = plugin_read_scale(run->config);
  const int margin = plugin_vary_margin(image, run->model, scale);
  if (!plugin_pixels_read(GIMP_DRAWABLE(source), TRUE, margin, &pixels, error)) {
    g_autofree char *name = plugin_item_name(source);
    g_set_error(error, GIMP_PLUG_IN_ERROR, 0,
                _("The selection does not touch the layer '%s': nothing to vary"), name);
    return plugin_run_calling_error(run);
  }
  g_autofree float *mask = plugin_pixels_read_selection(image, &pixels);
  /* The new layers cover the selection's bounds only: the context around
   * them is unchanged anyway. */
  PluginPixels bounds;
  plugin_pixels_read(GIMP_DRAWABLE(source), TRUE, 0, &bounds, error);
  const int crop_x = bounds.x - pixels.x, crop_y = bounds.y - pixels.y;
  const int out_width = bounds.width, out_height = bounds.height;
  plugin_pixels_clear(&bounds);
  DdimJob job;
  plugin_run_job_init(run, &job, NULL);
  ddim_job_fit_size(&job, run->model, pixels.width, pixels.height, scale);
  g_autofree float *input = plugin_pixels_to_tensor(&pixels, job.image);
  job.inputs = input;
  /* At the region's own size the selection is the run's mask; scaled, it
   * only composites the result. */
  if (mask && job.image.w == pixels.width && job.image.h == pixels.height) job.params.mask = mask;
  g_auto(DdimJobResult) result = {0};
  if (!plugin_run_job(run, &job, &result, error)) {
    plugin_pixels_clear(&pixels);
    return FALSE;
  }

  size_t values = ddim_shape_elements(job.image), area = (size_t)pixels.width * pixels.height;
  g_autofree char *scaled = plugin_scaled_note(&job.image, pixels.width, pixels.height);
  g_autofree char *strength = plugin_format_number(job.params.strength);
  float **results = g_new0(float *, result.outputs);
  for (int k = 0; k < result.outputs; k++) {
    results[k] = plugin_tensor_to_rgba(result.images + (size_t)k * values, job.image, pixels.width,
                                       pixels.height, pixels.format);
    plugin_rgba_result_alpha(results[k], &pixels, info->in_channels);
    if (mask) plugin_rgba_blend_mask(results[k], pixels.rgba, mask, area);
    if (out_width != pixels.width || out_height != pixels.height) {
      float *cropped =
          plugin_rgba_crop(results[k], pixels.width, crop_x, crop_y, out_width, out_height);
      g_free(results[k]);
      results[k] = cropped;
    }
  }

  gimp_image_undo_group_start(image);
  GimpLayer **layers = g_new0(GimpLayer *, result.outputs + 1);
  GimpLayer *below = source;
  for (int k = 0; k < result.outputs; k++) {
    guint64 seed = ddim_job_seed(&job, k);
    g_autofree char *seed_text = g_strdup_printf("%" G_GUINT64_FORMAT, seed);
    /* TRANSLATORS: a new layer's name, what differs first: the seed, the
       strength, then nothing or " (scaled from 32×32)". */
    g_autofree char *name =
        g_strdup_printf(_("Vary seed %s · strength %s%s"), seed_text, strength, scaled);
    GimpLayer *layer = plugin_layer_new(image, name, out_width, out_height,
                                        plugin_result_has_alpha(&pixels, info->in_channels));
    plugin_layer_insert_above(image, layer, below, pixels.x + crop_x, pixels.y + crop_y);
    plugin_layer_write(layer, results[k]);
    layers[k] = below = layer;
    g_free(results[k]);
  }
  gimp_image_undo_group_end(image);
  g_free(results);
  plugin_pixels_clear(&pixels);
  *layers_out = layers;
  return TRUE;
}

static GimpValueArray *vary_run(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                GimpDrawable **drawables, GimpProcedureConfig *config,
                                gpointer data) {
  (void)data;
  PluginRun run;
  GError *error = NULL;
  GimpLayer **layers = NULL;
  plugin_run_init(&run, procedure, run_mode, config, DDIM_WORKFLOW_VARY);
  GimpLayer *source = plugin_single_layer(procedure, drawables, &error);
  gboolean ok = (source || plugin_run_calling_error(&run)) &&
                plugin_run_begin(&run, image, drawables, NULL, &error) &&
                vary(&run, image, source, &layers, &error);
  GimpValueArray *result = plugin_run_result(&run, ok, error);
  if (ok) GIMP_VALUES_SET_CORE_OBJECT_ARRAY(result, 1, layers);
  g_free(layers);
  plugin_run_end(&run);
  return result;
}
