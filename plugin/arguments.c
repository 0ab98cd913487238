/* arguments.c — shared procedure arguments, params and the model. */
#include "arguments.h"

#include <glib/gi18n.h>
#include <string.h>

/* Where meson installs the default model for the plug-in (its own folder),
 * and where it installs it for the `ddim` command. */
#ifndef DDIM_PLUGIN_MODEL_DIR
#define DDIM_PLUGIN_MODEL_DIR "/usr/local/lib/gimp/3.0/plug-ins/ddim/models"
#endif
#ifndef DDIM_MODEL_INSTALL_DIR
#define DDIM_MODEL_INSTALL_DIR "/usr/local/share/ddim/models"
#endif

char *plugin_default_model_path(void) {
  const char *folders[] = {DDIM_PLUGIN_MODEL_DIR, DDIM_MODEL_INSTALL_DIR};
  for (guint i = 0; i < G_N_ELEMENTS(folders); i++) {
    char *path = g_build_filename(folders[i], PLUGIN_DEFAULT_MODEL_NAME, NULL);
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) return path;
    g_free(path);
  }
  return NULL;
}

void plugin_add_model_argument(GimpProcedure *procedure) {
  g_autofree char *path = plugin_default_model_path();
  g_autoptr(GFile) model = path ? g_file_new_for_path(path) : NULL;
  /* ANY: GIMP's own check of a folder argument replaces a path that is not
   * a folder with the default and fails with "out of range", naming neither;
   * the plug-in checks the path itself and says what is wrong with it.  The
   * dialog's chooser still picks folders (plugin_dialog_model_action). */
  gimp_procedure_add_file_argument(
      procedure, "model", _("_Model"),
      _("Folder of a diffusers UNet2DModel (config.json and "
        "diffusion_pytorch_model.safetensors; scripts may also name a weights file); empty for "
        "the model installed with the plug-in"),
      GIMP_FILE_CHOOSER_ACTION_ANY, TRUE, model, G_PARAM_READWRITE);
}

void plugin_add_steps_argument(GimpProcedure *procedure, gboolean allow_stored) {
  if (allow_stored)
    gimp_procedure_add_int_argument(procedure, "steps", _("St_eps"),
                                    _("Number of DDIM steps; 0 uses the steps the latent was "
                                      "encoded with"),
                                    0, PLUGIN_MAX_STEPS, 0, G_PARAM_READWRITE);
  else
    gimp_procedure_add_int_argument(procedure, "steps", _("St_eps"),
                                    _("Number of DDIM steps: more is slower and more faithful"), 1,
                                    PLUGIN_MAX_STEPS, 50, G_PARAM_READWRITE);
}

void plugin_add_eta_argument(GimpProcedure *procedure) {
  gimp_procedure_add_double_argument(procedure, "eta", _("E_ta"),
                                     _("Noise added at each step: 0 is deterministic DDIM, "
                                       "1 is like DDPM"),
                                     0.0, 1.0, 0.0, G_PARAM_READWRITE);
}

void plugin_add_schedule_argument(GimpProcedure *procedure, gboolean allow_stored) {
  GimpChoice *choice = gimp_choice_new();
  if (allow_stored)
    gimp_choice_add(choice, "stored", PLUGIN_SCHEDULE_STORED, _("As encoded"),
                    _("The schedule the latent was encoded with"));
  gimp_choice_add(choice, "uniform", DDIM_SCHEDULE_UNIFORM, _("Uniform"),
                  _("Evenly spaced timesteps (the DDIM paper's default)"));
  gimp_choice_add(choice, "quadratic", DDIM_SCHEDULE_QUADRATIC, _("Quadratic"),
                  _("Timesteps closer together near the end of sampling"));
  gimp_choice_add(choice, "trailing", DDIM_SCHEDULE_TRAILING, _("Trailing"),
                  _("Evenly spaced, ending at the last training timestep"));
  gimp_choice_add(choice, "linspace", DDIM_SCHEDULE_LINSPACE, _("Linspace"),
                  _("Evenly spaced from the first to the last training timestep"));
  gimp_procedure_add_choice_argument(procedure, "schedule", _("Sched_ule"),
                                     _("Which timesteps the DDIM steps visit"), choice,
                                     allow_stored ? "stored" : "uniform", G_PARAM_READWRITE);
}

void plugin_add_seed_argument(GimpProcedure *procedure) {
  gimp_procedure_add_int_argument(procedure, "seed", _("See_d"),
                                  _("Seed of the noise; image k of a run uses seed + k"), 0,
                                  G_MAXINT, 0, G_PARAM_READWRITE);
}

void plugin_add_strength_argument(GimpProcedure *procedure, double default_value) {
  gimp_procedure_add_double_argument(procedure, "strength", _("Stren_gth"),
                                     _("How far into the noise to go: small values keep the "
                                       "image, 1 replaces it entirely"),
                                     0.01, 1.0, default_value, G_PARAM_READWRITE);
}

void plugin_add_count_argument(GimpProcedure *procedure) {
  gimp_procedure_add_int_argument(procedure, "count", _("Cou_nt"),
                                  _("Number of images, each on its own layer"), 1, PLUGIN_MAX_COUNT,
                                  1, G_PARAM_READWRITE);
}

static gboolean has_property(GimpProcedureConfig *config, const char *name) {
  return g_object_class_find_property(G_OBJECT_GET_CLASS(config), name) != NULL;
}

void plugin_add_scale_argument(GimpProcedure *procedure) {
  gimp_procedure_add_boolean_argument(
      procedure, "scale-to-model", _("Scale to the model's si_ze"),
      _("Scale the layer to the model's resolution and the result back, instead of working at "
        "the layer's own resolution (in overlapping tiles when it is larger than the model)"),
      FALSE, G_PARAM_READWRITE);
}

gboolean plugin_read_scale(GimpProcedureConfig *config) {
  gboolean scale = FALSE;
  if (has_property(config, "scale-to-model")) g_object_get(config, "scale-to-model", &scale, NULL);
  return scale;
}

void plugin_read_params(GimpProcedureConfig *config, DdimParams *params,
                        gboolean *schedule_stored) {
  ddim_params_init(params);
  if (schedule_stored) *schedule_stored = FALSE;
  if (has_property(config, "steps")) g_object_get(config, "steps", &params->steps, NULL);
  if (has_property(config, "eta")) g_object_get(config, "eta", &params->eta, NULL);
  if (has_property(config, "strength")) g_object_get(config, "strength", &params->strength, NULL);
  if (has_property(config, "seed")) {
    int seed = 0;
    g_object_get(config, "seed", &seed, NULL);
    params->seed = (uint64_t)MAX(seed, 0);
  }
  if (has_property(config, "schedule")) {
    int id = gimp_procedure_config_get_choice_id(config, "schedule");
    if (id == PLUGIN_SCHEDULE_STORED) {
      if (schedule_stored) *schedule_stored = TRUE;
    } else if (id >= DDIM_SCHEDULE_UNIFORM && id <= DDIM_SCHEDULE_LINSPACE) {
      params->schedule = (DdimSchedule)id;
    }
  }
}

char *plugin_model_path(GimpProcedureConfig *config, GError **error) {
  g_autoptr(GFile) file = NULL;
  g_object_get(config, "model", &file, NULL);
  if (file) {
    char *path = g_file_get_path(file);
    if (path && *path) {
      if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO,
                    _("The model %s does not exist; choose a model folder"), path);
        g_free(path);
        return NULL;
      }
      return path;
    }
    g_free(path);
    /* Script-Fu's "" is a file with no path and no scheme: the default.  A
     * URI of another scheme (http:, sftp:) is not a model on this disk. */
    g_autofree char *scheme = g_file_get_uri_scheme(file);
    if (scheme && *scheme && g_ascii_strcasecmp(scheme, "file") != 0) {
      g_autofree char *uri = g_file_get_uri(file);
      g_set_error(error, DDIM_ERROR, DDIM_ERROR_IO,
                  _("The model %s is not a local file; choose a model folder"), uri);
      return NULL;
    }
  }
  char *path = plugin_default_model_path();
  if (path == NULL)
    g_set_error(error, DDIM_ERROR, DDIM_ERROR_INVALID_ARGUMENT,
                _("No model was chosen and the default model is not installed (%s); choose a "
                  "model folder"),
                DDIM_PLUGIN_MODEL_DIR G_DIR_SEPARATOR_S PLUGIN_DEFAULT_MODEL_NAME);
  return path;
}

char *plugin_item_name(gpointer item) {
  char *name = gimp_item_get_name(GIMP_ITEM(item));
  return name ? name : g_strdup("?");
}

gboolean plugin_check_layer(GimpDrawable *drawable, GError **error) {
  g_autofree char *name = plugin_item_name(drawable);
  if (!GIMP_IS_LAYER(drawable)) {
    g_set_error(error, GIMP_PLUG_IN_ERROR, 0,
                _("'%s' is not a layer: DDIM works on layers (select one in the Layers dialog)"),
                name);
    return FALSE;
  }
  if (gimp_item_is_group(GIMP_ITEM(drawable))) {
    g_set_error(error, GIMP_PLUG_IN_ERROR, 0,
                _("'%s' is a layer group: select one of its layers, or merge it first"), name);
    return FALSE;
  }
  if (gimp_drawable_is_indexed(drawable)) {
    g_set_error(error, GIMP_PLUG_IN_ERROR, 0,
                _("The layer '%s' is indexed: DDIM works on RGB and grayscale layers. Convert "
                  "the image with Image ▸ Mode ▸ RGB first"),
                name);
    return FALSE;
  }
  return TRUE;
}

GimpLayer *plugin_single_layer(GimpProcedure *procedure, GimpDrawable **drawables, GError **error) {
  gsize count = drawables ? gimp_core_object_array_get_length((GObject **)drawables) : 0;
  if (count != 1) {
    g_set_error(error, GIMP_PLUG_IN_ERROR, 0,
                _("Procedure '%s' works on exactly one layer, but %d were given"),
                gimp_procedure_get_name(procedure), (int)count);
    return NULL;
  }
  if (!plugin_check_layer(drawables[0], error)) return NULL;
  return GIMP_LAYER(drawables[0]);
}

char *plugin_format_number(double value) {
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];
  return g_strdup(g_ascii_formatd(buffer, sizeof buffer, "%g", value));
}
