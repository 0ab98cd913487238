/* arguments.h — the arguments the DDIM procedures share (same names, ranges
 * and defaults everywhere), reading them back into DdimParams, and finding
 * and loading the model. */
#ifndef DDIM_PLUGIN_ARGUMENTS_H
#define DDIM_PLUGIN_ARGUMENTS_H

#include "ddim.h"
#include "plugin.h"

#define PLUGIN_DEFAULT_MODEL_NAME "emoji32"
#define PLUGIN_MAX_COUNT 64
#define PLUGIN_MAX_FRAMES 256
#define PLUGIN_MAX_SIZE 16384
#define PLUGIN_MAX_STEPS 1000
/* Generate's "output" choice. */
enum { PLUGIN_OUTPUT_NEW_IMAGE, PLUGIN_OUTPUT_NEW_LAYER };
/* The decode procedure's schedule choice has one more value: the latent's own. */
#define PLUGIN_SCHEDULE_STORED (-1)

/* model: a diffusers UNet2DModel folder; empty = the default model. */
void plugin_add_model_argument(GimpProcedure *procedure);
/* steps: 1..1000 (default 50); with allow_stored, 0 = "as stored" and the default. */
void plugin_add_steps_argument(GimpProcedure *procedure, gboolean allow_stored);
void plugin_add_eta_argument(GimpProcedure *procedure);
void plugin_add_schedule_argument(GimpProcedure *procedure, gboolean allow_stored);
void plugin_add_seed_argument(GimpProcedure *procedure);
void plugin_add_strength_argument(GimpProcedure *procedure, double default_value);
void plugin_add_count_argument(GimpProcedure *procedure);
/* scale-to-model: FALSE (default) runs at the layer's own size, tiled when
 * larger than the model; TRUE scales to the model's resolution and back. */
void plugin_add_scale_argument(GimpProcedure *procedure);
/* Whether the config asks for scaling (FALSE when it has no such argument). */
gboolean plugin_read_scale(GimpProcedureConfig *config);

/* The arguments a config has (steps, eta, schedule, seed, strength) as
 * DdimParams; the others keep ddim_params_init's values.  *schedule_stored
 * (may be NULL) says whether the schedule is "stored". */
void plugin_read_params(GimpProcedureConfig *config, DdimParams *params, gboolean *schedule_stored);

/* The installed default model's folder, or NULL when none is installed. */
char *plugin_default_model_path(void);

/* The path the "model" argument names, or the default model; NULL and an
 * error when neither is there. */
char *plugin_model_path(GimpProcedureConfig *config, GError **error);

/* The one layer a procedure works on: exactly one drawable, a layer that is
 * not a group, of an RGB or grayscale image. */
GimpLayer *plugin_single_layer(GimpProcedure *procedure, GimpDrawable **drawables, GError **error);
/* A layer DDIM can read: not indexed, not a group. */
gboolean plugin_check_layer(GimpDrawable *drawable, GError **error);

/* The name of an item for messages, e.g. "Background". */
char *plugin_item_name(gpointer item);

/* "%g" in the C locale, short: 0.5, 0.25, 1. */
char *plugin_format_number(double value);

#endif
