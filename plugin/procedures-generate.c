/* procedures-generate.c — plug-in-ddim-generate: images from seeded noise,
 * as a new image or as new layers of the current one; each image on its own
 * layer, seeds seed … seed + count − 1, its x_T kept on the layer.  Images
 * of any size are sampled at that size (in tiles beyond the model's).  New
 * layers over one selected layer with a selection fill the selection
 * (inpainting): the layer is kept outside it. */
#include "arguments.h"
#include "latent-parasite.h"
#include "run.h"

#include <glib/gi18n.h>

static GimpValueArray *generate_run(GimpProcedure *procedure, GimpRunMode run_mode,
                                    GimpImage *image, GimpDrawable **drawables,
                                    GimpProcedureConfig *config, gpointer data);

GimpProcedure *plugin_generate_new(GimpPlugIn *plug_in) {
  GimpProcedure *procedure = gimp_image_procedure_new(
      plug_in, PROC_GENERATE, GIMP_PDB_PROC_TYPE_PLUGIN, generate_run, NULL, NULL);
  gimp_procedure_set_image_types(procedure, "*");
  gimp_procedure_set_sensitivity_mask(procedure, GIMP_PROCEDURE_SENSITIVE_ALWAYS);
  gimp_procedure_set_menu_label(procedure, _("_Generate..."));
  gimp_procedure_add_menu_path(procedure, MENU_PATH);
  gimp_procedure_set_documentation(
      procedure, _("Generate images from noise with a diffusion model (DDIM)"),
      _("Samples images from seeded Gaussian noise with DDIM and a diffusers UNet2DModel. Each "
        "image goes on its own layer (seeds seed to seed + count - 1), in a new image or in the "
        "current one. The starting noise x_T is kept on each layer, so that Decode can render it "
        "again with other settings."),
      PROC_GENERATE);
  gimp_procedure_set_attribution(procedure, "ddim for GIMP contributors",
                                 "ddim for GIMP contributors", "2025");

  plugin_add_model_argument(procedure);
  plugin_add_steps_argument(procedure, FALSE);
  plugin_add_eta_argument(procedure);
  plugin_add_schedule_argument(procedure, FALSE);
  plugin_add_seed_argument(procedure);
  plugin_add_count_argument(procedure);
  gimp_procedure_add_int_argument(procedure, "width", _("_Width"),
                                  _("Width of the images; 0 = the model's resolution (new image) "
                                    "or the image's width (new layers)"),
                                  0, PLUGIN_MAX_SIZE, 0, G_PARAM_READWRITE);
  gimp_procedure_add_int_argument(procedure, "height", _("Hei_ght"),
                                  _("Height of the images; 0 = the model's resolution (new image) "
                                    "or the image's height (new layers)"),
                                  0, PLUGIN_MAX_SIZE, 0, G_PARAM_READWRITE);
  gimp_procedure_add_choice_argument(
      procedure, "output", _("Out_put"), _("Where the images go"),
      gimp_choice_new_with_values("new-image", PLUGIN_OUTPUT_NEW_IMAGE, _("New image"), NULL,
                                  "new-layer", PLUGIN_OUTPUT_NEW_LAYER,
                                  _("New layers in this image"), NULL, NULL),
      "new-image", G_PARAM_READWRITE);
  plugin_add_scale_argument(procedure);

  gimp_procedure_add_image_return_value(procedure, "new-image", _("Image"),
                                        _("The image the layers are in"), TRUE, G_PARAM_READWRITE);
  gimp_procedure_add_core_object_array_return_value(procedure, "layers", _("Layers"),
                                                    _("The new layers, first seed first"),
                                                    GIMP_TYPE_LAYER, G_PARAM_READWRITE);
  return procedure;
}

/* Columns of the grid a new image shows a batch of n in: about square. */
static int grid_columns(int n) {
  int columns = 1;
  while (columns * columns < n) columns++;
  return columns;
}

static gboolean generate(PluginRun *run, GimpImage *image, GimpDrawable **drawables,
                         GimpImage **target_out, GimpLayer ***layers_out, GError **error) {
  GimpProcedureConfig *config = run->config;
  int count = 1, width = 0, height = 0;
  g_object_get(config, "count", &count, "width", &width, "height", &height, NULL);
  int output = gimp_procedure_config_get_choice_id(config, "output");
  const DdimModelInfo *info = ddim_model_get_info(run->model);
  GimpLayer *source = NULL;
  g_auto(PluginPixels) known = {0};
  g_autofree float *mask = NULL;
  if (output == PLUGIN_OUTPUT_NEW_LAYER) {
    if (image == NULL || !gimp_image_is_valid(image)) {
      g_set_error(error, GIMP_PLUG_IN_ERROR, 0,
                  _("New layers need an open image; choose a new image as output instead"));
      return plugin_run_calling_error(run);
    }
    if (gimp_image_get_base_type(image) == GIMP_INDEXED) {
      g_set_error(error, GIMP_PLUG_IN_ERROR, 0,
                  _("The image is indexed: DDIM works on RGB and grayscale images. Convert it "
                    "with Image ▸ Mode ▸ RGB first"));
      return plugin_run_calling_error(run);
    }
    source = plugin_generate_fill_source(image, drawables);
    if (source) {
      /* Inpainting: the new layers take the layer's place and size. */
      plugin_pixels_read(GIMP_DRAWABLE(source), FALSE, 0, &known, error);
      width = known.width;
      height = known.height;
      mask = plugin_pixels_read_selection(image, &known);
    }
  }
  gboolean scale = plugin_read_scale(config);
  if (source == NULL && plugin_generate_size(config, run->model, image, &width, &height))
    scale = TRUE;

  DdimJob job;
  plugin_run_job_init(run, &job, NULL);
  job.count = count;
  ddim_job_fit_size(&job, run->model, width, height, scale);
  /* With a selection: inpainting, the layer kept outside it (shared by the batch). */
  g_autofree float *known_tensor = NULL;
  if (mask && job.image.w == width && job.image.h == height) {
    known_tensor = plugin_pixels_to_tensor(&known, job.image);
    job.params.mask = mask;
    job.params.known = known_tensor;
    job.params.known_count = 1;
  }
  g_auto(DdimJobResult) result = {0};
  if (!plugin_run_job(run, &job, &result, error)) return FALSE;

  /* Everything is computed; now the image changes, in one undo step. */
  gboolean alpha =
      source ? plugin_result_has_alpha(&known, info->in_channels) : info->in_channels == 4;
  GimpImage *target;
  /* A new image holds a batch as a grid, each image on its own layer, so
   * that every one is seen at once. */
  const int columns = output == PLUGIN_OUTPUT_NEW_IMAGE ? grid_columns(result.outputs) : 1;
  const int rows = (result.outputs + columns - 1) / columns;
  if (output == PLUGIN_OUTPUT_NEW_IMAGE) {
    target = gimp_image_new(width * columns, height * rows,
                            info->in_channels == 1 ? GIMP_GRAY : GIMP_RGB);
    gimp_image_undo_disable(target);
  } else {
    target = image;
    gimp_image_undo_group_start(target);
  }
  g_autofree char *scaled = plugin_scaled_note(&job.image, width, height);
  size_t values = ddim_shape_elements(job.image);
  GimpLayer **layers = g_new0(GimpLayer *, result.outputs + 1);
  for (int k = 0; k < result.outputs; k++) {
    guint64 seed = ddim_job_seed(&job, k);
    g_autofree char *seed_text = g_strdup_printf("%" G_GUINT64_FORMAT, seed);
    /* TRANSLATORS: a new layer's name, what differs first: the seed, then
       nothing or " (scaled from 32×32)". */
    g_autofree char *name = g_strdup_printf(_("Seed %s · DDIM generate%s"), seed_text, scaled);
    GimpLayer *layer = plugin_layer_new(target, name, width, height, alpha);
    g_autofree float *rgba =
        plugin_tensor_to_rgba(result.images + (size_t)k * values, job.image, width, height,
                              plugin_pixels_format(GIMP_DRAWABLE(layer)));
    if (source) {
      /* Exactly the layer outside the selection (and its transparency). */
      plugin_rgba_result_alpha(rgba, &known, info->in_channels);
      plugin_rgba_blend_mask(rgba, known.rgba, mask, (size_t)width * height);
      plugin_layer_insert_above(target, layer, source, known.x, known.y);
    } else {
      gimp_image_insert_layer(target, layer, NULL, output == PLUGIN_OUTPUT_NEW_IMAGE ? 0 : -1);
      if (output == PLUGIN_OUTPUT_NEW_IMAGE)
        gimp_layer_set_offsets(layer, (k % columns) * width, (k / columns) * height);
    }
    plugin_layer_write(layer, rgba);
    DdimParams latent_params = result.latent_params;
    latent_params.seed = seed;
    g_autoptr(DdimLatent) latent = ddim_latent_new(info->identity, &latent_params, job.image,
                                                   result.latents + (size_t)k * values);
    plugin_latent_attach(GIMP_ITEM(layer), latent, FALSE);
    layers[k] = layer;
  }
  if (output == PLUGIN_OUTPUT_NEW_IMAGE) {
    gimp_image_undo_enable(target);
    if (run->run_mode != GIMP_RUN_NONINTERACTIVE) gimp_display_new(target);
  } else {
    gimp_image_undo_group_end(target);
  }
  *target_out = target;
  *layers_out = layers;
  return TRUE;
}

static GimpValueArray *generate_run(GimpProcedure *procedure, GimpRunMode run_mode,
                                    GimpImage *image, GimpDrawable **drawables,
                                    GimpProcedureConfig *config, gpointer data) {
  (void)data;
  PluginRun run;
  GError *error = NULL;
  GimpImage *target = NULL;
  GimpLayer **layers = NULL;
  plugin_run_init(&run, procedure, run_mode, config, DDIM_WORKFLOW_GENERATE);
  gboolean ok = plugin_run_begin(&run, image, drawables, NULL, &error) &&
                generate(&run, image, drawables, &target, &layers, &error);
  GimpValueArray *result = plugin_run_result(&run, ok, error);
  if (ok) {
    GIMP_VALUES_SET_IMAGE(result, 1, target);
    GIMP_VALUES_SET_CORE_OBJECT_ARRAY(result, 2, layers);
  }
  g_free(layers);
  plugin_run_end(&run);
  return result;
}
