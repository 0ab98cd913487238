/* procedures-reconstruct.c — plug-in-ddim-reconstruct: the layer → DDIM
 * inversion → decode → a new layer above it, named with the steps and the
 * PSNR; the inverted latent is kept on the new layer. */
#include "arguments.h"
#include "latent-parasite.h"
#include "run.h"

#include <glib/gi18n.h>

static GimpValueArray *reconstruct_run(GimpProcedure *procedure, GimpRunMode run_mode,
                                       GimpImage *image, GimpDrawable **drawables,
                                       GimpProcedureConfig *config, gpointer data);

GimpProcedure *plugin_reconstruct_new(GimpPlugIn *plug_in) {
  GimpProcedure *procedure = gimp_image_procedure_new(
      plug_in, PROC_RECONSTRUCT, GIMP_PDB_PROC_TYPE_PLUGIN, reconstruct_run, NULL, NULL);
  gimp_procedure_set_image_types(procedure, "RGB*, GRAY*");
  gimp_procedure_set_sensitivity_mask(procedure, GIMP_PROCEDURE_SENSITIVE_DRAWABLE);
  gimp_procedure_set_menu_label(procedure, _("_Reconstruct..."));
  gimp_procedure_add_menu_path(procedure, MENU_PATH);
  gimp_procedure_set_documentation(
      procedure, _("Invert a layer to its DDIM latent and decode it again"),
      _("Encodes the layer to its latent x_T by deterministic DDIM inversion, decodes the latent "
        "again and puts the result on a new layer above, named with the steps and the PSNR of "
        "the reconstruction (measured at the resolution it ran at: the layer's own, unless it is "
        "scaled to the model's). The latent is kept on the new "
        "layer for Decode."),
      PROC_RECONSTRUCT);
  gimp_procedure_set_attribution(procedure, "ddim for GIMP contributors",
                                 "ddim for GIMP contributors", "2025");

  plugin_add_model_argument(procedure);
  plugin_add_steps_argument(procedure, FALSE);
  plugin_add_schedule_argument(procedure, FALSE);
  plugin_add_scale_argument(procedure);

  gimp_procedure_add_layer_return_value(procedure, "layer", _("Layer"), _("The reconstruction"),
                                        TRUE, G_PARAM_READWRITE);
  gimp_procedure_add_double_return_value(procedure, "psnr", _("PSNR"),
                                         _("Peak signal-to-noise ratio of the reconstruction, in "
                                           "dB"),
                                         0.0, G_MAXDOUBLE, 0.0, G_PARAM_READWRITE);
  return procedure;
}

static gboolean reconstruct(PluginRun *run, GimpImage *image, GimpLayer *source,
                            GimpLayer **layer_out, double *psnr_out, GError **error) {
  DdimJob job;
  plugin_run_job_init(run, &job, NULL);

  PluginPixels pixels;
  plugin_pixels_read(GIMP_DRAWABLE(source), FALSE, 0, &pixels, error);
  ddim_job_fit_size(&job, run->model, pixels.width, pixels.height, plugin_read_scale(run->config));
  g_autofree float *input = plugin_pixels_to_tensor(&pixels, job.image);
  job.inputs = input;
  g_auto(DdimJobResult) result = {0};
  gboolean ok = plugin_run_job(run, &job, &result, error);
  if (ok) {
    const DdimModelInfo *info = ddim_model_get_info(run->model);
    float *rgba =
        plugin_tensor_to_rgba(result.images, job.image, pixels.width, pixels.height, pixels.format);
    plugin_rgba_result_alpha(rgba, &pixels, info->in_channels);
    /* Scaled to the model's size and back, the error that counts is the one
     * at the layer's own size (the 32×32 one says nothing of the blur the
     * scaling adds); at its own size, the model-space one of `ddim
     * reconstruct`. */
    double psnr_db = result.psnr;
    if (job.image.w != pixels.width || job.image.h != pixels.height)
      psnr_db = ddim_psnr_from_mse(plugin_rgba_mse(
          pixels.rgba, rgba, (size_t)pixels.width * pixels.height, info->in_channels == 4));
    g_autofree char *scaled = plugin_scaled_note(&job.image, pixels.width, pixels.height);
    char psnr[G_ASCII_DTOSTR_BUF_SIZE];
    g_ascii_formatd(psnr, sizeof psnr, "%.1f", psnr_db);
    /* TRANSLATORS: a new layer's name, what differs first: the PSNR, the
       steps, then nothing or " (scaled from 32×32)". */
    g_autofree char *name =
        g_strdup_printf(_("Reconstruct %s dB · %d steps%s"), psnr, job.params.steps, scaled);
    g_autoptr(DdimLatent) latent =
        ddim_latent_new(info->identity, &result.latent_params, job.image, result.latents);

    gimp_image_undo_group_start(image);
    GimpLayer *layer = plugin_layer_new(image, name, pixels.width, pixels.height,
                                        plugin_result_has_alpha(&pixels, info->in_channels));
    plugin_layer_insert_above(image, layer, source, pixels.x, pixels.y);
    plugin_layer_write(layer, rgba);
    plugin_latent_attach(GIMP_ITEM(layer), latent, TRUE);
    gimp_image_undo_group_end(image);
    g_free(rgba);
    *layer_out = layer;
    *psnr_out = psnr_db;
  }
  plugin_pixels_clear(&pixels);
  return ok;
}

static GimpValueArray *reconstruct_run(GimpProcedure *procedure, GimpRunMode run_mode,
                                       GimpImage *image, GimpDrawable **drawables,
                                       GimpProcedureConfig *config, gpointer data) {
  (void)data;
  PluginRun run;
  GError *error = NULL;
  GimpLayer *layer = NULL;
  double psnr = 0.0;
  plugin_run_init(&run, procedure, run_mode, config, DDIM_WORKFLOW_RECONSTRUCT);
  GimpLayer *source = plugin_single_layer(procedure, drawables, &error);
  gboolean ok = (source || plugin_run_calling_error(&run)) &&
                plugin_run_begin(&run, image, drawables, NULL, &error) &&
                reconstruct(&run, image, source, &layer, &psnr, &error);
  GimpValueArray *result = plugin_run_result(&run, ok, error);
  if (ok) {
    GIMP_VALUES_SET_LAYER(result, 1, layer);
    GIMP_VALUES_SET_DOUBLE(result, 2, psnr);
  }
  plugin_run_end(&run);
  return result;
}
