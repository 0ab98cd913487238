/* job-config.c — a procedure's config as a DdimJob (see job-config.h). */
#include "job-config.h"

#include "arguments.h"
#include "layer-pixels.h"

#include <glib/gi18n.h>

/* Inputs each workflow reads from the image (GENERATE: none, or the layer
 * kept outside a selection, which is the mask's known image instead). */
static int workflow_inputs(DdimWorkflow workflow) {
  switch (workflow) {
  case DDIM_WORKFLOW_GENERATE:
    return 0;
  case DDIM_WORKFLOW_INTERPOLATE:
    return 2;
  default:
    return 1;
  }
}

void plugin_job_from_config(GimpProcedureConfig *config, const DdimModel *model,
                            DdimWorkflow workflow, DdimJob *job, gboolean *schedule_stored) {
  ddim_job_init(job, workflow, model);
  plugin_read_params(config, &job->params, schedule_stored);
  GObjectClass *klass = G_OBJECT_GET_CLASS(config);
  if (g_object_class_find_property(klass, "count"))
    g_object_get(config, "count", &job->count, NULL);
  if (g_object_class_find_property(klass, "frames"))
    g_object_get(config, "frames", &job->count, NULL);
  /* The two ends are the layers themselves: the frames lie between them. */
  job->frame_spacing = DDIM_FRAMES_BETWEEN;
  job->input_count = workflow_inputs(workflow);
  /* Every layer a procedure makes keeps its latent (not Vary's, which has none). */
  job->keep_latents = TRUE;
}

void plugin_job_for_latent(DdimJob *job, const DdimLatent *latent, gboolean schedule_stored) {
  if (job->params.steps == 0) job->params.steps = latent->steps;
  if (schedule_stored) job->params.schedule = latent->schedule;
  /* A partial latent (strength < 1) is decoded from the level it was encoded to. */
  job->params.strength = latent->strength;
  job->image = latent->shape;
  job->image.n = 1;
}

gboolean plugin_generate_size(GimpProcedureConfig *config, const DdimModel *model, GimpImage *image,
                              int *width, int *height) {
  const DdimModelInfo *info = ddim_model_get_info(model);
  *width = 0;
  *height = 0;
  g_object_get(config, "width", width, "height", height, NULL);
  const gboolean automatic = *width == 0 && *height == 0;
  const gboolean new_layers =
      gimp_procedure_config_get_choice_id(config, "output") == PLUGIN_OUTPUT_NEW_LAYER;
  const gboolean have_image = image && gimp_image_is_valid(image);
  if (*width == 0)
    *width = new_layers && have_image ? gimp_image_get_width(image) : info->sample_width;
  if (*height == 0)
    *height = new_layers && have_image ? gimp_image_get_height(image) : info->sample_height;
  /* Left to choose, the size of an image larger than the model is one
   * picture at the model's size, scaled: at the image's own size a small
   * model would fill it with a patchwork of model-sized pictures.  A size
   * the user gives is made at that size (the dialog says in how many tiles). */
  return automatic && (*width > info->sample_width || *height > info->sample_height);
}

GimpLayer *plugin_generate_fill_source(GimpImage *image, GimpDrawable **drawables) {
  gsize count = drawables ? gimp_core_object_array_get_length((GObject **)drawables) : 0;
  if (count != 1 || !GIMP_IS_LAYER(drawables[0]) || gimp_item_is_group(GIMP_ITEM(drawables[0])) ||
      gimp_drawable_is_indexed(drawables[0]) || gimp_selection_is_empty(image))
    return NULL;
  return GIMP_LAYER(drawables[0]);
}

int plugin_vary_margin(GimpImage *image, const DdimModel *model, gboolean scale) {
  return scale || gimp_selection_is_empty(image) ? 0 : ddim_model_get_info(model)->sample_width / 2;
}

void plugin_interpolate_ends(GimpImage *image, GimpDrawable **drawables, GimpLayer **first,
                             GimpLayer **last) {
  GimpLayer *a = GIMP_LAYER(drawables[0]), *b = GIMP_LAYER(drawables[1]);
  /* Position 0 is the top of a stack: the larger position is lower. */
  gboolean swap = gimp_item_get_parent(GIMP_ITEM(a)) == gimp_item_get_parent(GIMP_ITEM(b)) &&
                  gimp_image_get_item_position(image, GIMP_ITEM(b)) >
                      gimp_image_get_item_position(image, GIMP_ITEM(a));
  *first = swap ? b : a;
  *last = swap ? a : b;
}

gboolean plugin_describe_job(GimpProcedureConfig *config, const DdimModel *model,
                             DdimWorkflow workflow, GimpImage *image, GimpDrawable **drawables,
                             const DdimLatent *latent, DdimJob *job, int *width, int *height,
                             GError **error) {
  const gsize count = drawables ? gimp_core_object_array_get_length((GObject **)drawables) : 0;
  GimpDrawable *drawable = count > 0 ? drawables[0] : NULL;
  gboolean schedule_stored = FALSE;
  plugin_job_from_config(config, model, workflow, job, &schedule_stored);
  const gboolean scale = plugin_read_scale(config);
  if (workflow == DDIM_WORKFLOW_DECODE) {
    if (latent == NULL) {
      g_set_error(error, GIMP_PLUG_IN_ERROR, 0, _("The layer holds no DDIM latent"));
      return FALSE;
    }
    plugin_job_for_latent(job, latent, schedule_stored);
    *width = latent->shape.w;
    *height = latent->shape.h;
    return TRUE;
  }
  gboolean scale_auto = FALSE;
  GimpLayer *fill = NULL;
  if (workflow == DDIM_WORKFLOW_GENERATE &&
      gimp_procedure_config_get_choice_id(config, "output") == PLUGIN_OUTPUT_NEW_LAYER &&
      (fill = plugin_generate_fill_source(image, drawables)) != NULL) {
    /* Filling a selection: at the layer's own size. */
    *width = gimp_drawable_get_width(GIMP_DRAWABLE(fill));
    *height = gimp_drawable_get_height(GIMP_DRAWABLE(fill));
  } else if (workflow == DDIM_WORKFLOW_GENERATE) {
    scale_auto = plugin_generate_size(config, model, image, width, height);
  } else if (workflow == DDIM_WORKFLOW_VARY && drawable) {
    int x, y;
    if (!plugin_pixels_region(drawable, TRUE, plugin_vary_margin(image, model, scale), &x, &y,
                              width, height)) {
      g_set_error(error, GIMP_PLUG_IN_ERROR, 0,
                  _("The selection does not touch the layer: nothing to vary"));
      return FALSE;
    }
  } else if (workflow == DDIM_WORKFLOW_INTERPOLATE && count == 2 && GIMP_IS_LAYER(drawables[0]) &&
             GIMP_IS_LAYER(drawables[1])) {
    GimpLayer *first, *last;
    plugin_interpolate_ends(image, drawables, &first, &last);
    *width = gimp_drawable_get_width(GIMP_DRAWABLE(first));
    *height = gimp_drawable_get_height(GIMP_DRAWABLE(first));
  } else if (drawable) {
    *width = gimp_drawable_get_width(drawable);
    *height = gimp_drawable_get_height(drawable);
  } else {
    *width = job->image.w;
    *height = job->image.h;
  }
  ddim_job_fit_size(job, model, *width, *height, scale || scale_auto);
  return TRUE;
}
