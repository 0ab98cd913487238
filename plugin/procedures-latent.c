/* procedures-latent.c — plug-in-ddim-encode stores a layer's DDIM latent
 * x_T on the layer (a persistent parasite, saved in XCF);
 * plug-in-ddim-decode renders a layer back from a stored latent, with the
 * same or other steps, η, schedule or seed, and refuses a latent made with
 * another model. */
#include "arguments.h"
#include "latent-parasite.h"
#include "run.h"

#include <glib/gi18n.h>

static GimpValueArray *encode_run(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                  GimpDrawable **drawables, GimpProcedureConfig *config,
                                  gpointer data);
static GimpValueArray *decode_run(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                  GimpDrawable **drawables, GimpProcedureConfig *config,
                                  gpointer data);

GimpProcedure *plugin_encode_new(GimpPlugIn *plug_in) {
  GimpProcedure *procedure = gimp_image_procedure_new(
      plug_in, PROC_ENCODE, GIMP_PDB_PROC_TYPE_PLUGIN, encode_run, NULL, NULL);
  gimp_procedure_set_image_types(procedure, "RGB*, GRAY*");
  gimp_procedure_set_sensitivity_mask(procedure, GIMP_PROCEDURE_SENSITIVE_DRAWABLE);
  gimp_procedure_set_menu_label(procedure, _("_Encode Latent..."));
  gimp_procedure_add_menu_path(procedure, MENU_PATH);
  gimp_procedure_set_documentation(
      procedure, _("Store the DDIM latent of a layer on the layer"),
      _("Inverts the layer to its DDIM latent x_T (deterministic) and keeps it on the layer, "
        "with the model's identity and the steps and schedule used; it is saved in XCF files. "
        "Decode renders the layer back from it, with the same or other settings."),
      PROC_ENCODE);
  gimp_procedure_set_attribution(procedure, "ddim for GIMP contributors",
                                 "ddim for GIMP contributors", "2025");
  plugin_add_model_argument(procedure);
  plugin_add_steps_argument(procedure, FALSE);
  plugin_add_schedule_argument(procedure, FALSE);
  plugin_add_strength_argument(procedure, 1.0);
  plugin_add_scale_argument(procedure);
  return procedure;
}

GimpProcedure *plugin_decode_new(GimpPlugIn *plug_in) {
  GimpProcedure *procedure = gimp_image_procedure_new(
      plug_in, PROC_DECODE, GIMP_PDB_PROC_TYPE_PLUGIN, decode_run, NULL, NULL);
  gimp_procedure_set_image_types(procedure, "RGB*, GRAY*");
  gimp_procedure_set_sensitivity_mask(procedure, GIMP_PROCEDURE_SENSITIVE_DRAWABLE);
  gimp_procedure_set_menu_label(procedure, _("_Decode Latent..."));
  gimp_procedure_add_menu_path(procedure, MENU_PATH);
  gimp_procedure_set_documentation(
      procedure, _("Render a layer from the DDIM latent stored on it"),
      _("Decodes the latent kept on the layer (by Encode, Generate, Reconstruct or Interpolate) "
        "to a new layer above it, with the steps and schedule it was made with or with others, "
        "and with any eta and seed. A latent made with another model is refused."),
      PROC_DECODE);
  gimp_procedure_set_attribution(procedure, "ddim for GIMP contributors",
                                 "ddim for GIMP contributors", "2025");
  plugin_add_model_argument(procedure);
  plugin_add_steps_argument(procedure, TRUE);
  plugin_add_eta_argument(procedure);
  plugin_add_schedule_argument(procedure, TRUE);
  plugin_add_seed_argument(procedure);
  gimp_procedure_add_layer_return_value(procedure, "layer", _("Layer"), _("The decoded layer"),
                                        TRUE, G_PARAM_READWRITE);
  return procedure;
}

static gboolean encode(PluginRun *run, GimpImage *image, GimpLayer *layer, GError **error) {
  PluginPixels pixels;
  plugin_pixels_read(GIMP_DRAWABLE(layer), FALSE, 0, &pixels, error);
  DdimJob job;
  plugin_run_job_init(run, &job, NULL);
  ddim_job_fit_size(&job, run->model, pixels.width, pixels.height, plugin_read_scale(run->config));
  g_autofree float *input = plugin_pixels_to_tensor(&pixels, job.image);
  job.inputs = input;
  plugin_pixels_clear(&pixels);
  g_auto(DdimJobResult) result = {0};
  if (!plugin_run_job(run, &job, &result, error)) return FALSE;
  const DdimModelInfo *info = ddim_model_get_info(run->model);
  g_autoptr(DdimLatent) latent =
      ddim_latent_new(info->identity, &result.latent_params, job.image, result.latents);
  gimp_image_undo_group_start(image);
  plugin_latent_attach(GIMP_ITEM(layer), latent, TRUE);
  gimp_image_undo_group_end(image);
  return TRUE;
}

static GimpValueArray *encode_run(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                  GimpDrawable **drawables, GimpProcedureConfig *config,
                                  gpointer data) {
  (void)data;
  PluginRun run;
  GError *error = NULL;
  plugin_run_init(&run, procedure, run_mode, config, DDIM_WORKFLOW_ENCODE);
  GimpLayer *layer = plugin_single_layer(procedure, drawables, &error);
  gboolean ok = (layer || plugin_run_calling_error(&run)) &&
                plugin_run_begin(&run, image, drawables, NULL, &error) &&
                encode(&run, image, layer, &error);
  GimpValueArray *result = plugin_run_result(&run, ok, error);
  plugin_run_end(&run);
  return result;
}

static gboolean decode(PluginRun *run, GimpImage *image, GimpLayer *source,
                       const DdimLatent *stored, gboolean from_inversion, GimpLayer **layer_out,
                       GError **error) {
  g_autofree char *name = plugin_item_name(source);
  g_autofree char *where = g_strdup_printf(_("layer '%s'"), name);
  const DdimModelInfo *model_info = ddim_model_get_info(run->model);
  if (g_strcmp0(stored->model_identity, model_info->identity) != 0) {
    g_set_error(error, GIMP_PLUG_IN_ERROR, 0,
                _("The latent on layer '%s' was made with another model than %s; decode it with "
                  "the model it came from (latent: model %s, chosen: model %s)"),
                name, run->model_path, stored->model_identity, model_info->identity);
    return plugin_run_calling_error(run);
  }
  if (!ddim_latent_check_model(stored, run->model, where, error))
    return plugin_run_calling_error(run);
  if (stored->shape.n != 1) {
    g_set_error(error, GIMP_PLUG_IN_ERROR, 0, _("%s: the latent holds %d images, not one"), where,
                stored->shape.n);
    return plugin_run_calling_error(run);
  }

  DdimJob job;
  gboolean schedule_stored = FALSE;
  plugin_run_job_init(run, &job, &schedule_stored);
  plugin_job_for_latent(&job, stored, schedule_stored);
  job.from_inversion = from_inversion;
  job.inputs = stored->data;
  g_auto(DdimJobResult) result = {0};
  if (!plugin_run_job(run, &job, &result, error)) return FALSE;
  /* The new layer keeps the stored latent, as it was encoded. */
  DdimParams latent_params = job.params;
  latent_params.steps = stored->steps;
  latent_params.schedule = stored->schedule;
  latent_params.strength = stored->strength;

  PluginPixels pixels;
  plugin_pixels_read(GIMP_DRAWABLE(source), FALSE, 0, &pixels, error);
  const DdimModelInfo *info = ddim_model_get_info(run->model);
  g_autofree float *rgba =
      plugin_tensor_to_rgba(result.images, job.image, pixels.width, pixels.height, pixels.format);
  plugin_rgba_result_alpha(rgba, &pixels, info->in_channels);
  g_autofree char *scaled = plugin_scaled_note(&job.image, pixels.width, pixels.height);
  g_autofree char *eta = plugin_format_number(job.params.eta);
  g_autofree char *seed_text = g_strdup_printf("%" G_GUINT64_FORMAT, job.params.seed);
  /* TRANSLATORS: a new layer's name, what differs first: the seed, the steps,
     the schedule (not translated), eta, then nothing or " (scaled from 32×32)". */
  g_autofree char *layer_name =
      g_strdup_printf(_("Decode seed %s · %d steps %s η %s%s"), seed_text, job.params.steps,
                      ddim_schedule_name(job.params.schedule), eta, scaled);
  g_autoptr(DdimLatent) latent =
      ddim_latent_new(stored->model_identity, &latent_params, job.image, result.latents);

  gimp_image_undo_group_start(image);
  GimpLayer *layer = plugin_layer_new(image, layer_name, pixels.width, pixels.height,
                                      plugin_result_has_alpha(&pixels, info->in_channels));
  plugin_layer_insert_above(image, layer, source, pixels.x, pixels.y);
  plugin_layer_write(layer, rgba);
  plugin_latent_attach(GIMP_ITEM(layer), latent, from_inversion);
  gimp_image_undo_group_end(image);
  plugin_pixels_clear(&pixels);
  *layer_out = layer;
  return TRUE;
}

static GimpValueArray *decode_run(GimpProcedure *procedure, GimpRunMode run_mode, GimpImage *image,
                                  GimpDrawable **drawables, GimpProcedureConfig *config,
                                  gpointer data) {
  (void)data;
  PluginRun run;
  GError *error = NULL;
  GimpLayer *layer = NULL;
  DdimLatent *stored = NULL;
  gboolean from_inversion = TRUE;
  plugin_run_init(&run, procedure, run_mode, config, DDIM_WORKFLOW_DECODE);
  /* The layer must hold a latent before the dialog is worth showing. */
  GimpLayer *source = plugin_single_layer(procedure, drawables, &error);
  if (source) stored = plugin_latent_read(GIMP_ITEM(source), &from_inversion, &error);
  gboolean ok = (stored || plugin_run_calling_error(&run)) &&
                plugin_run_begin(&run, image, drawables, stored, &error) &&
                decode(&run, image, source, stored, from_inversion, &layer, &error);
  ddim_latent_free(stored);
  GimpValueArray *result = plugin_run_result(&run, ok, error);
  if (ok) GIMP_VALUES_SET_LAYER(result, 1, layer);
  plugin_run_end(&run);
  return result;
}
